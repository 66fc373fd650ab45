"""Bug class: freeing a socket context when the disable answered STATUS_EVENT_PENDING.

A variation of ``wsk_client``: DriverUnload disables WSK_EVENT_RECEIVE without an IRP and reads
STATUS_EVENT_PENDING as "disabled" - it frees the socket context with ExFreePoolWithTag at once.
But EVENT_PENDING means the opposite: a WskReceiveEvent is still running (on another CPU), and
the callback is disabled only after it returns (CONTRACTS A.4). That callback then updates the
freed context: ``pool.use_after_free`` (on Windows: a corrupted pool, a crash much later).

The race is real: under the fifo schedule the callback always returns before the disable, the
disable answers STATUS_SUCCESS and nothing goes wrong; only a preemptive schedule on 2 CPUs
(random or pct, the right seed) puts the free inside the callback's window. The fix is
``wsk_client``'s: free the context only after WskCloseSocket has completed.
"""

from driver_stubs._wsk_common import WskEventControl, WskSyncCall
from mock_wsk.wdk import *  # noqa: F403

# ruff: noqa: F405  (WDK names come from the star import, as from a C header)

CLIENT_TAG = "tnlC"

Registration = WSK_REGISTRATION()
ProviderNpi = WSK_PROVIDER_NPI()
Socket = None
Context = None  # CLIENT_CONTEXT, from pool
StatsLock = KSPIN_LOCK("ClientStatsLock")
DataSeen = KEVENT("DataSeen")
DisableWithIrp = FALSE
WaitForDataMs = 0

connected = 0
greeting_sent = 0
receive_calls = 0
bytes_received = 0  # copied from the context when it is freed
peer_closed = 0
disable_statuses_pending = 0  # disables answered STATUS_PENDING or STATUS_EVENT_PENDING
context_freed = 0


def ClientReceiveEvent(SocketContext, Flags, DataIndication, BytesIndicated, BytesAccepted):
    global receive_calls
    Ctx = SocketContext
    receive_calls += 1
    if DataIndication is None:
        return STATUS_SUCCESS  # dead socket: unload closes it
    Length = 0
    Data = DataIndication
    while Data is not None:
        Length += Data.Buffer.Length
        Data = Data.Next
    KeSetEvent(DataSeen, IO_NO_INCREMENT, FALSE)  # setting an event is fine in a callback
    oldIrql = KIRQL()
    KeAcquireSpinLock(StatsLock, oldIrql)
    Ctx.BytesReceived += Length
    Ctx.Indications += 1
    KeReleaseSpinLock(StatsLock, oldIrql)
    BytesAccepted.value = BytesIndicated
    return STATUS_SUCCESS


def ClientDisconnectEvent(SocketContext, Flags):
    global peer_closed
    Ctx = SocketContext
    oldIrql = KIRQL()
    KeAcquireSpinLock(StatsLock, oldIrql)
    Ctx.PeerClosed = TRUE
    KeReleaseSpinLock(StatsLock, oldIrql)
    peer_closed += 1
    return STATUS_SUCCESS


ConnectionDispatch = WSK_CLIENT_CONNECTION_DISPATCH(ClientReceiveEvent, ClientDisconnectEvent)


def SendGreeting(Length):
    """One WskSend from a pool buffer, waited for (PASSIVE_LEVEL, not in a callback)."""
    global greeting_sent
    Buffer = ExAllocatePool2(POOL_FLAG_NON_PAGED, Length, CLIENT_TAG)
    if Buffer is None:
        return STATUS_INSUFFICIENT_RESOURCES
    Mdl = IoAllocateMdl(Buffer, Length, FALSE, FALSE, None)
    if Mdl is None:
        ExFreePoolWithTag(Buffer, CLIENT_TAG)
        return STATUS_INSUFFICIENT_RESOURCES
    MmBuildMdlForNonPagedPool(Mdl)
    status, sent = WskSyncCall(Socket.Dispatch.WskSend, Socket, WSK_BUF(Mdl, 0, Length), 0)
    IoFreeMdl(Mdl)
    ExFreePoolWithTag(Buffer, CLIENT_TAG)
    if NT_SUCCESS(status):
        greeting_sent = sent
    return status


def DriverEntry(DriverObject, RegistryPath):
    global Socket, Context, DisableWithIrp, WaitForDataMs, connected
    server = SOCKADDR_IN(AF_INET, RegistryPath.Parameters.get("server_port", 7000),
                         RegistryPath.Parameters.get("server_address", "10.0.0.2"))
    greeting = RegistryPath.Parameters.get("greeting", 0)
    DisableWithIrp = RegistryPath.Parameters.get("disable_with_irp", FALSE)
    WaitForDataMs = RegistryPath.Parameters.get("wait_for_data_ms", 0)
    KeInitializeSpinLock(StatsLock)
    KeInitializeEvent(DataSeen, NotificationEvent, FALSE)
    status = WskRegister(WSK_CLIENT_NPI(None, WSK_CLIENT_DISPATCH()), Registration)
    if not NT_SUCCESS(status):
        return status
    status = WskCaptureProviderNPI(Registration, WSK_INFINITE_WAIT, ProviderNpi)
    if not NT_SUCCESS(status):
        WskDeregister(Registration)
        return status
    Context = ExAllocatePool2(POOL_FLAG_NON_PAGED, 32, CLIENT_TAG)
    if Context is None:
        Cleanup()
        return STATUS_INSUFFICIENT_RESOURCES
    Context.BytesReceived = 0
    Context.Indications = 0
    Context.PeerClosed = FALSE
    status, Socket = WskSyncCall(
        ProviderNpi.Dispatch.WskSocket, ProviderNpi.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP,
        WSK_FLAG_CONNECTION_SOCKET, Context, ConnectionDispatch, None, None, None)
    if NT_SUCCESS(status):
        status, _ = WskSyncCall(Socket.Dispatch.WskBind, Socket,
                                SOCKADDR_IN(AF_INET, 0, INADDR_ANY), 0)
    if NT_SUCCESS(status):
        status, _ = WskSyncCall(Socket.Dispatch.WskConnect, Socket, server, 0)
    if NT_SUCCESS(status):
        connected = 1
        status = WskEventControl(Socket, WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT)  # after connect
    if NT_SUCCESS(status) and greeting:
        status = SendGreeting(greeting)
    if not NT_SUCCESS(status):
        Cleanup()
        return status
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def DisableDone(DeviceObject, Irp, Context):
    KeSetEvent(Context, IO_NO_INCREMENT, FALSE)
    return STATUS_MORE_PROCESSING_REQUIRED


def DisableEvent(Event):
    """Disable one event (A.4: one flag per call). With an IRP, wait for it to complete."""
    global disable_statuses_pending
    if not DisableWithIrp:
        status = WskEventControl(Socket, Event | WSK_EVENT_DISABLE)
        if status == STATUS_EVENT_PENDING:
            disable_statuses_pending += 1
        if NT_SUCCESS(status):  # BUG: EVENT_PENDING is a success code, not "done"
            FreeContext()  # ... while the pending WskReceiveEvent still uses the context
        return
    Done = KEVENT("DisableDone")
    KeInitializeEvent(Done, NotificationEvent, FALSE)
    Irp = IoAllocateIrp(1, FALSE)
    IoSetCompletionRoutine(Irp, DisableDone, Done, TRUE, TRUE, TRUE)
    status = WskEventControl(Socket, Event | WSK_EVENT_DISABLE, Irp)
    if status == STATUS_PENDING:
        disable_statuses_pending += 1
    KeWaitForSingleObject(Done, Executive, KernelMode, FALSE, None)
    IoFreeIrp(Irp)


def FreeContext():
    global Context, bytes_received, context_freed
    if Context is not None:
        bytes_received = Context.BytesReceived
        ExFreePoolWithTag(Context, CLIENT_TAG)
        Context = None
        context_freed = 1


def Cleanup():
    global Socket
    if Socket is not None:
        WskSyncCall(Socket.Dispatch.WskCloseSocket, Socket)
        Socket = None
    FreeContext()
    WskReleaseProviderNPI(Registration)
    WskDeregister(Registration)


def DriverUnload(DriverObject):
    if WaitForDataMs:
        KeWaitForSingleObject(DataSeen, Executive, KernelMode, FALSE,
                              LARGE_INTEGER(-10_000 * WaitForDataMs))
    DisableEvent(WSK_EVENT_RECEIVE)
    DisableEvent(WSK_EVENT_DISCONNECT)
    Cleanup()
