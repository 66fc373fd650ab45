"""Bug class: disabling several event callbacks in one SO_WSK_EVENT_CALLBACK call.

A variation of ``wsk_client``: DriverUnload disables WSK_EVENT_RECEIVE and WSK_EVENT_DISCONNECT
with one ``EventMask = WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT | WSK_EVENT_DISABLE``. Enabling
takes any OR of flags, disabling exactly one (CONTRACTS A.4): the request is refused
(``wsk.event.disable_multiple_flags``, STATUS_INVALID_PARAMETER), so neither callback is disabled
and the driver goes on to close a socket whose callbacks are still live, believing they are off.
"""

from driver_stubs._wsk_common import SIZEOF_WSK_EVENT_CALLBACK_CONTROL, SyncIrpCompletion
from driver_stubs.wsk_client import *


def DriverUnload(DriverObject):
    Done = KEVENT("DisableDone")
    KeInitializeEvent(Done, NotificationEvent, FALSE)
    Irp = IoAllocateIrp(1, FALSE)
    IoSetCompletionRoutine(Irp, SyncIrpCompletion, Done, TRUE, TRUE, TRUE)
    control = WSK_EVENT_CALLBACK_CONTROL(NPI_WSK_INTERFACE_ID, WSK_EVENT_RECEIVE |
                                         WSK_EVENT_DISCONNECT | WSK_EVENT_DISABLE)
    Socket.Dispatch.WskControlSocket(  # BUG: a disable names exactly one event
        Socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
        SIZEOF_WSK_EVENT_CALLBACK_CONTROL, control, 0, None, None, Irp)
    KeWaitForSingleObject(Done, Executive, KernelMode, FALSE, None)
    IoFreeIrp(Irp)
    Cleanup()
