"""Known-bad driver: a WskSendBacklogEvent that returns STATUS_PENDING (CONTRACTS B.10).

A copy of ``stop_and_wait_sender`` that also enables ``WSK_EVENT_SEND_BACKLOG``. Its callback
hands the new value to the sender thread and returns ``STATUS_PENDING`` - "I will deal with it
later" - but the documentation says a WskSendBacklogEvent must always return STATUS_SUCCESS
(there is nothing to pend: the value is a hint). Every notification during slow start is
reported as ``wsk.callback.bad_return``.

Parameters and counters as ``stop_and_wait_sender``; ``isb_events`` counts the callbacks.
"""

from mock_wsk.abi import sizeof as _abi_sizeof
from mock_wsk.machine import active_machine as _active_machine
from mock_wsk.wdk import *  # noqa: F403

TAG = b"SnW "

Registration = WSK_REGISTRATION()
ProviderNpi = WSK_PROVIDER_NPI()
Socket = None
SendDone = KEVENT("SendDone")
Thread = None
Stopping = False
SendSize = 65536
StopAt = 0

sends_completed = 0
isb_events = 0
IsbHint = 0
bytes_completed = 0
send_failures = 0
connect_status = 0


def WskSendBacklogEvent(SocketContext, IdealBacklogSize):
    global isb_events, IsbHint
    isb_events += 1
    IsbHint = IdealBacklogSize  # picked up by the sender thread later
    return STATUS_PENDING  # BUG: WskSendBacklogEvent must always return STATUS_SUCCESS (B.10)


Dispatch = WSK_CLIENT_CONNECTION_DISPATCH(None, None, WskSendBacklogEvent)


def SyncComplete(DeviceObject, Irp, Context):
    KeSetEvent(Context, IO_NO_INCREMENT, FALSE)
    return STATUS_MORE_PROCESSING_REQUIRED


def CallAndWait(irp, call, *args):
    """PASSIVE_LEVEL: ``call(*args, irp)`` on a reused IRP and wait for its completion."""
    IoReuseIrp(irp, STATUS_UNSUCCESSFUL)
    KeClearEvent(SendDone)
    IoSetCompletionRoutine(irp, SyncComplete, SendDone, TRUE, TRUE, TRUE)
    status = call(*args, irp)
    if status == STATUS_PENDING:
        KeWaitForSingleObject(SendDone, Executive, KernelMode, FALSE, None)
    return irp.IoStatus.Status, irp.IoStatus.Information


def SenderThread(StartContext):
    global sends_completed, bytes_completed, send_failures, Socket
    irp = IoAllocateIrp(1, FALSE)
    buffer = ExAllocatePool2(POOL_FLAG_NON_PAGED, SendSize, TAG)
    mdl = IoAllocateMdl(buffer, SendSize, FALSE, FALSE, None)
    MmBuildMdlForNonPagedPool(mdl)
    wskbuf = WSK_BUF(mdl, 0, SendSize)
    while not Stopping and (not StopAt or KeQueryInterruptTime() < StopAt):
        status, sent = CallAndWait(irp, Socket.Dispatch.WskSend, Socket, wskbuf, 0)
        if not NT_SUCCESS(status):
            send_failures += 1
            break
        sends_completed += 1
        bytes_completed += sent
    CallAndWait(irp, Socket.Dispatch.WskCloseSocket, Socket)  # done, or dead: close now
    Socket = None
    IoFreeMdl(mdl)
    ExFreePool(buffer)
    IoFreeIrp(irp)
    PsTerminateSystemThread(STATUS_SUCCESS)


def DriverEntry(DriverObject, RegistryPath):
    global Socket, SendSize, StopAt, Thread, connect_status
    params = RegistryPath.Parameters
    SendSize = params.get("send_size", 65536)
    KeInitializeEvent(SendDone, NotificationEvent, FALSE)
    DriverObject.DriverUnload = DriverUnload
    status = WskRegister(WSK_CLIENT_NPI(None, WSK_CLIENT_DISPATCH()), Registration)
    if not NT_SUCCESS(status):
        return status
    status = WskCaptureProviderNPI(Registration, WSK_INFINITE_WAIT, ProviderNpi)
    if not NT_SUCCESS(status):
        WskDeregister(Registration)
        return status
    irp = IoAllocateIrp(1, FALSE)
    remote = SOCKADDR_IN(AF_INET, params.get("port", 7000), params.get("address", "10.0.0.2"))
    status, sock = CallAndWait(irp, ProviderNpi.Dispatch.WskSocketConnect, ProviderNpi.Client,
                               SOCK_STREAM, IPPROTO_TCP, SOCKADDR_IN(AF_INET, 0, 0), remote, 0,
                               None, Dispatch, None, None, None)
    IoFreeIrp(irp)
    connect_status = status
    if not NT_SUCCESS(status):
        return STATUS_SUCCESS
    Socket = sock
    control = WSK_EVENT_CALLBACK_CONTROL(NPI_WSK_INTERFACE_ID, WSK_EVENT_SEND_BACKLOG)
    Socket.Dispatch.WskControlSocket(Socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                     sizeof("WSK_EVENT_CALLBACK_CONTROL"), control, 0, None,
                                     None, None)
    stop_ms = params.get("stop_ms", 0)
    StopAt = KeQueryInterruptTime() + stop_ms * 10_000 if stop_ms else 0  # 100 ns units
    handle = HANDLE()
    PsCreateSystemThread(handle, THREAD_ALL_ACCESS, None, None, None, SenderThread, None)
    ObReferenceObjectByHandle(handle.value, THREAD_ALL_ACCESS, None, KernelMode,
                              thread := PVOID(), None)
    Thread = thread.value
    ZwClose(handle.value)
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    global Stopping
    Stopping = True
    if Thread is not None:
        KeWaitForSingleObject(Thread, Executive, KernelMode, FALSE, None)
        ObDereferenceObject(Thread)
    WskReleaseProviderNPI(Registration)
    WskDeregister(Registration)


def sizeof(type_name):
    """C's ``sizeof(type_name)`` for the machine's architecture."""
    return _abi_sizeof(type_name, _active_machine().arch)
