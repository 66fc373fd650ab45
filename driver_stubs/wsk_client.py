"""Reference driver: a WSK client that connects out, receives on event callbacks, and tears
down in the documented order.

* DriverEntry creates a connection socket with WskSocket, binds it, connects it with WskConnect
  to the listening peer, and only *then* enables ``WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT``
  (on a connection-oriented socket callbacks are changed only after connect, CONTRACTS A.2). It
  sends a greeting with WskSend and waits for it at PASSIVE_LEVEL - outside any callback.
* The socket context is a pool block: WskReceiveEvent adds the indicated bytes to it under a
  spin lock, WskDisconnectEvent records the peer's close there.
* DriverUnload disables WSK_EVENT_RECEIVE *with an IRP* and waits for that IRP: once it has
  completed (at once with STATUS_SUCCESS, or later after STATUS_PENDING when a WskReceiveEvent
  was in flight), the callback is never entered again (A.4). Then WSK_EVENT_DISCONNECT the same
  way, then WskCloseSocket (waited for), and only after the close has completed is the context
  freed: close completion is the fence after which no callback for the socket runs (C.18).

  With ``disable_with_irp: false`` the disables pass no IRP and may answer
  STATUS_EVENT_PENDING (a callback is still running). That is legal too, and this driver stays
  correct: it does not free anything on that answer - the close that follows completes only
  after the running callback returned, and the context is freed after the close.
* With ``wait_for_data_ms``, DriverUnload first waits (at most that long) for the server's last
  data; WskReceiveEvent signals it *before* it updates the context, so the disable that follows
  runs on one CPU while that very callback is still running on another: each of the three
  disable answers (SUCCESS, PENDING, EVENT_PENDING) happens under some schedule.

Parameters: ``server_address`` (default 10.0.0.2), ``server_port`` (default 7000),
``greeting`` bytes to send after connecting (default 0), ``disable_with_irp`` (default true),
``wait_for_data_ms`` (default 0: unload does not wait).
"""

from driver_stubs._wsk_common import (
    WskDataIndicationLength,
    WskDisableEventAndWait,
    WskEventControl,
    WskSyncCall,
)
from mock_wsk.wdk import *  # noqa: F403

# ruff: noqa: F405  (WDK names come from the star import, as from a C header)

CLIENT_TAG = "tnlC"

Registration = WSK_REGISTRATION()
ProviderNpi = WSK_PROVIDER_NPI()
Socket = None
CloseIrp = None
Context = None  # CLIENT_CONTEXT, from pool
StatsLock = KSPIN_LOCK("ClientStatsLock")
DataSeen = KEVENT("DataSeen")
DisableWithIrp = TRUE
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
    receive_calls += 1
    if DataIndication is None:
        return STATUS_SUCCESS  # dead socket: unload closes it
    CountReceived(SocketContext, WskDataIndicationLength(DataIndication))
    BytesAccepted.value = BytesIndicated
    return STATUS_SUCCESS


def CountReceived(Ctx, Length):
    """Add one indication to the socket context (any IRQL <= DISPATCH_LEVEL)."""
    KeSetEvent(DataSeen, IO_NO_INCREMENT, FALSE)  # setting an event is fine in a callback
    oldIrql = KIRQL()
    KeAcquireSpinLock(StatsLock, oldIrql)
    Ctx.BytesReceived += Length
    Ctx.Indications += 1
    KeReleaseSpinLock(StatsLock, oldIrql)


def ClientDisconnectEvent(SocketContext, Flags):
    global peer_closed
    Ctx = SocketContext
    oldIrql = KIRQL()
    KeAcquireSpinLock(StatsLock, oldIrql)
    Ctx.PeerClosed = TRUE
    KeReleaseSpinLock(StatsLock, oldIrql)
    peer_closed += 1
    return STATUS_SUCCESS


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
    global Socket, Context, CloseIrp, DisableWithIrp, WaitForDataMs, connected
    server = SOCKADDR_IN(AF_INET, RegistryPath.Parameters.get("server_port", 7000),
                         RegistryPath.Parameters.get("server_address", "10.0.0.2"))
    greeting = RegistryPath.Parameters.get("greeting", 0)
    DisableWithIrp = RegistryPath.Parameters.get("disable_with_irp", TRUE)
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
    CloseIrp = IoAllocateIrp(1, FALSE)  # closing must not wait on an allocation that can fail
    if CloseIrp is None:
        Cleanup()
        return STATUS_INSUFFICIENT_RESOURCES
    Context = ExAllocatePool2(POOL_FLAG_NON_PAGED, 32, CLIENT_TAG)
    if Context is None:
        Cleanup()
        return STATUS_INSUFFICIENT_RESOURCES
    Context.BytesReceived = 0
    Context.Indications = 0
    Context.PeerClosed = FALSE
    ConnectionDispatch = WSK_CLIENT_CONNECTION_DISPATCH(ClientReceiveEvent, ClientDisconnectEvent)
    status, Socket = WskSyncCall(
        ProviderNpi.Dispatch.WskSocket, ProviderNpi.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP,
        WSK_FLAG_CONNECTION_SOCKET, Context, ConnectionDispatch, None, None, None)
    if not NT_SUCCESS(status):
        Socket = None  # Information is not a socket then
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


def DisableEvent(Event):
    """Disable one event (A.4: one flag per call). With an IRP, wait for it to complete."""
    global disable_statuses_pending
    if DisableWithIrp:
        status = WskDisableEventAndWait(Socket, Event)  # PENDING: a callback was in flight
    else:
        # EVENT_PENDING: a call is still in flight, disabled once it returns. Nothing is freed
        # here; the close below waits for that call.
        status = WskEventControl(Socket, Event | WSK_EVENT_DISABLE)
    if status in (STATUS_PENDING, STATUS_EVENT_PENDING):
        disable_statuses_pending += 1


def FreeContext():
    global Context, bytes_received, context_freed
    if Context is not None:
        bytes_received = Context.BytesReceived
        ExFreePoolWithTag(Context, CLIENT_TAG)
        Context = None
        context_freed = 1


def Cleanup():
    global Socket, CloseIrp
    if Socket is not None:
        # Waits for the close completion, on the IRP allocated up front.
        WskSyncCall(Socket.Dispatch.WskCloseSocket, Socket, Irp=CloseIrp)
        Socket = None
    FreeContext()  # after close completed: no callback can run (C.18)
    WskReleaseProviderNPI(Registration)
    WskDeregister(Registration)
    if CloseIrp is not None:
        IoFreeIrp(CloseIrp)
        CloseIrp = None


def DriverUnload(DriverObject):
    if WaitForDataMs:
        KeWaitForSingleObject(DataSeen, Executive, KernelMode, FALSE,
                              LARGE_INTEGER(-10_000 * WaitForDataMs))
    DisableEvent(WSK_EVENT_RECEIVE)
    DisableEvent(WSK_EVENT_DISCONNECT)
    Cleanup()
