"""Helpers the WSK driver stubs share - the ``wsk_util.c`` every WSK driver carries.

* :func:`WskSyncCall` - the classic "synchronous" WSK call: an IRP whose completion routine sets
  a KEVENT and returns STATUS_MORE_PROCESSING_REQUIRED, a wait at PASSIVE_LEVEL if the request
  pended, then ``IoFreeIrp``. Only for PASSIVE_LEVEL code (DriverEntry, DriverUnload, threads):
  never inside a WSK callback (CONTRACTS B.9).
* :func:`WskEventControl` - ``WskControlSocket(SO_WSK_EVENT_CALLBACK)`` with a filled
  ``WSK_EVENT_CALLBACK_CONTROL``; :func:`WskDisableEventAndWait` - the same for one disable,
  with an IRP waited for.
* :func:`WskDataIndicationLength` - the bytes of a WSK_DATA_INDICATION chain.

No state lives here: every run of a stub gets fresh globals, and these functions keep none.
"""

from mock_wsk.wdk import *  # noqa: F403

# ruff: noqa: F405  (WDK names come from the star import, as from a C header)

# sizeof(WSK_EVENT_CALLBACK_CONTROL) on x64 (an NPI id pointer + a ULONG, padded): 16.
SIZEOF_WSK_EVENT_CALLBACK_CONTROL = 16


def SyncIrpCompletion(DeviceObject, Irp, Context):
    KeSetEvent(Context, IO_NO_INCREMENT, FALSE)
    return STATUS_MORE_PROCESSING_REQUIRED  # the IRP is ours: IoFreeIrp after the wait


def WskSyncCall(Function, *Arguments, Irp=None):
    """``Function(*Arguments, Irp)``, waiting for the IRP: (final status, Information).

    Without ``Irp`` one is allocated here and freed after the wait; when none can be had the
    call is not made: (STATUS_INSUFFICIENT_RESOURCES, None). A call that must not fail for want
    of memory - closing a socket - passes an IRP the driver allocated up front, reused here and
    left to its owner."""
    Event = KEVENT("WskSyncCall")
    KeInitializeEvent(Event, NotificationEvent, FALSE)
    Owned = Irp is None
    if Owned:
        Irp = IoAllocateIrp(1, FALSE)
        if Irp is None:
            return STATUS_INSUFFICIENT_RESOURCES, None
    else:
        IoReuseIrp(Irp, STATUS_UNSUCCESSFUL)
    IoSetCompletionRoutine(Irp, SyncIrpCompletion, Event, TRUE, TRUE, TRUE)
    status = Function(*Arguments, Irp)
    if status == STATUS_PENDING:
        KeWaitForSingleObject(Event, Executive, KernelMode, FALSE, None)
    status, information = Irp.IoStatus.Status, Irp.IoStatus.Information
    if Owned:
        IoFreeIrp(Irp)
    return status, information


def WskEventControl(Socket, EventMask, Irp=None):
    """Enable the events of ``EventMask``, or disable one (``flag | WSK_EVENT_DISABLE``)."""
    control = WSK_EVENT_CALLBACK_CONTROL()
    control.NpiId = NPI_WSK_INTERFACE_ID
    control.EventMask = EventMask
    return Socket.Dispatch.WskControlSocket(Socket, WskSetOption, SO_WSK_EVENT_CALLBACK,
                                            SOL_SOCKET, SIZEOF_WSK_EVENT_CALLBACK_CONTROL,
                                            control, 0, None, None, Irp)


def WskDisableEventAndWait(Socket, Event):
    """Disable one event with an IRP and wait until the disable has completed: after that the
    callback is never entered again for this socket (CONTRACTS A.4). Returns the status the
    WskControlSocket call itself returned (SUCCESS, or PENDING while calls were in flight)."""
    Done = KEVENT("DisableDone")
    KeInitializeEvent(Done, NotificationEvent, FALSE)
    Irp = IoAllocateIrp(1, FALSE)
    if Irp is None:
        return STATUS_INSUFFICIENT_RESOURCES
    IoSetCompletionRoutine(Irp, SyncIrpCompletion, Done, TRUE, TRUE, TRUE)
    status = WskEventControl(Socket, Event | WSK_EVENT_DISABLE, Irp)
    KeWaitForSingleObject(Done, Executive, KernelMode, FALSE, None)  # completes in every case
    IoFreeIrp(Irp)
    return status


def WskDataIndicationLength(DataIndication):
    """The bytes indicated in a ``WSK_DATA_INDICATION`` chain (a WskReceiveEvent's data)."""
    Length = 0
    Data = DataIndication
    while Data is not None:
        Length += Data.Buffer.Length
        Data = Data.Next
    return Length
