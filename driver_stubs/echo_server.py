"""Reference driver: a TCP echo server on WSK event callbacks (dynamically enabled).

The shape of Microsoft's echosrv sample, done right:

* DriverEntry registers (WskRegister, WskCaptureProviderNPI), creates a listening socket, binds
  it, then enables ``WSK_EVENT_ACCEPT | WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT`` on it in one
  call: the connection flags are not the listener's own, they are handed to every socket it
  accepts through WskAcceptEvent (CONTRACTS A.6).
* WskAcceptEvent allocates a connection context from pool and hands it back with the
  connection dispatch table; it never blocks and never touches the addresses after returning.
* WskReceiveEvent counts the indicated bytes and echoes as many with WskSend from its own pool
  buffer (the indication itself goes back to WSK at once); the send completes later, in its
  completion routine, which frees what the send used. Nothing waits inside a callback.
* WskDisconnectEvent (or a NULL indication: the socket is dead) marks the connection; it is
  closed once its last echo send has completed. The context is reference-counted (the open
  socket, each pending send): the close completion - after which no callback for that socket
  runs (C.18) - drops the socket's reference, the last reference frees it.
* DriverUnload disables WSK_EVENT_ACCEPT on the listener (an IRP, waited for), closes the
  listener and every open connection, waits until every close has completed, then releases the
  provider NPI and deregisters.

Parameters: ``port`` (default 7).
"""

from driver_stubs._wsk_common import (
    WskDataIndicationLength,
    WskDisableEventAndWait,
    WskEventControl,
    WskSyncCall,
)
from mock_wsk.wdk import *  # noqa: F403

# ruff: noqa: F405  (WDK names come from the star import, as from a C header)

ECHO_TAG = "ohcE"
CONNECTION_SIZE = 64  # sizeof(ECHO_CONNECTION)

Registration = WSK_REGISTRATION()
ProviderNpi = WSK_PROVIDER_NPI()
ListenSocket = None
CloseIrp = None  # the listener's, allocated up front: closing must not depend on an allocation
ConnectionDispatch = None  # WSK_CLIENT_CONNECTION_DISPATCH, filled in by DriverEntry
ConnectionsLock = KSPIN_LOCK("ConnectionsLock")
Connections = []  # ECHO_CONNECTION contexts not yet freed (guarded by ConnectionsLock)
Unloading = FALSE
AllClosed = KEVENT("AllConnectionsClosed")

# Statistics (each update is one statement with no DDI inside: atomic on the simulated machine;
# a C driver uses InterlockedExchangeAdd).
accepted = 0
bytes_received = 0
bytes_echoed = 0
echo_sends = 0
echo_failures = 0
disconnects = 0
connections_closed = 0
listener_closed = 0


# ---------------------------------------------------------------------- connections
#
# An ECHO_CONNECTION is referenced by its open socket (1) and by each pending echo send (+1);
# the last dereference frees it. A send may complete after the close did (its completion was
# already on its way), so neither side alone may free the context.


def EchoAcceptEvent(SocketContext, Flags, LocalAddress, RemoteAddress, AcceptSocket,
                    AcceptSocketContext, AcceptSocketDispatch):
    global accepted
    if AcceptSocket is None:
        return STATUS_REQUEST_NOT_ACCEPTED  # the listener is dead; unload closes it
    Connection = ExAllocatePool2(POOL_FLAG_NON_PAGED, CONNECTION_SIZE, ECHO_TAG)
    if Connection is None:
        return STATUS_REQUEST_NOT_ACCEPTED  # the provider closes the socket
    Connection.CloseIrp = IoAllocateIrp(1, FALSE)  # its close, whatever memory is left then
    if Connection.CloseIrp is None:
        ExFreePoolWithTag(Connection, ECHO_TAG)
        return STATUS_REQUEST_NOT_ACCEPTED
    Connection.Socket = AcceptSocket
    Connection.Lock = KSPIN_LOCK("ConnectionLock")
    KeInitializeSpinLock(Connection.Lock)
    Connection.References = 1  # the open socket
    Connection.SendsPending = 0
    Connection.PeerClosed = FALSE
    Connection.Closing = FALSE
    Connection.BytesReceived = 0
    oldIrql = KIRQL()
    KeAcquireSpinLock(ConnectionsLock, oldIrql)
    Connections.append(Connection)
    KeReleaseSpinLock(ConnectionsLock, oldIrql)
    AcceptSocketContext.value = Connection
    AcceptSocketDispatch.value = ConnectionDispatch
    accepted += 1
    return STATUS_SUCCESS


def EchoReceiveEvent(SocketContext, Flags, DataIndication, BytesIndicated, BytesAccepted):
    global bytes_received
    Connection = SocketContext
    if DataIndication is None:  # the socket is dead: close it as soon as possible (B.11)
        MarkPeerClosed(Connection)
        return STATUS_SUCCESS
    Length = WskDataIndicationLength(DataIndication)
    Connection.BytesReceived += Length
    bytes_received += Length
    if Length:
        Echo(Connection, Length)
    BytesAccepted.value = BytesIndicated  # every byte consumed: the chain goes back to WSK
    return STATUS_SUCCESS


def Echo(Connection, Length):
    """Send ``Length`` bytes back from our own buffer; the completion routine cleans up."""
    global echo_sends, echo_failures
    Buffer = ExAllocatePool2(POOL_FLAG_NON_PAGED, Length, ECHO_TAG)
    if Buffer is None:
        echo_failures += 1
        return
    Mdl = IoAllocateMdl(Buffer, Length, FALSE, FALSE, None)
    Irp = IoAllocateIrp(1, FALSE)
    if Mdl is None or Irp is None:
        if Mdl is not None:
            IoFreeMdl(Mdl)
        if Irp is not None:
            IoFreeIrp(Irp)
        ExFreePoolWithTag(Buffer, ECHO_TAG)
        echo_failures += 1
        return
    MmBuildMdlForNonPagedPool(Mdl)
    Irp.Tail.Overlay.DriverContext[0] = Buffer
    Irp.Tail.Overlay.DriverContext[1] = Mdl
    IoSetCompletionRoutine(Irp, EchoSendComplete, Connection, TRUE, TRUE, TRUE)
    oldIrql = KIRQL()
    KeAcquireSpinLock(Connection.Lock, oldIrql)
    Connection.References += 1  # released by EchoSendComplete
    Connection.SendsPending += 1
    KeReleaseSpinLock(Connection.Lock, oldIrql)
    echo_sends += 1
    Socket = Connection.Socket
    # Pended or not, the completion routine runs: cleanup lives there (CONTRACTS C.17).
    Socket.Dispatch.WskSend(Socket, WSK_BUF(Mdl, 0, Length), 0, Irp)


def EchoSendComplete(DeviceObject, Irp, Context):
    global bytes_echoed, echo_failures
    Connection = Context
    if NT_SUCCESS(Irp.IoStatus.Status):
        bytes_echoed += Irp.IoStatus.Information
    else:
        echo_failures += 1  # cancelled by a close, or the connection was reset
    IoFreeMdl(Irp.Tail.Overlay.DriverContext[1])
    ExFreePoolWithTag(Irp.Tail.Overlay.DriverContext[0], ECHO_TAG)
    IoFreeIrp(Irp)
    oldIrql = KIRQL()
    KeAcquireSpinLock(Connection.Lock, oldIrql)
    Connection.SendsPending -= 1
    KeReleaseSpinLock(Connection.Lock, oldIrql)
    CloseIfIdle(Connection)
    Dereference(Connection)
    return STATUS_MORE_PROCESSING_REQUIRED


def EchoDisconnectEvent(SocketContext, Flags):
    global disconnects
    disconnects += 1
    MarkPeerClosed(SocketContext)
    return STATUS_SUCCESS


def MarkPeerClosed(Connection):
    oldIrql = KIRQL()
    KeAcquireSpinLock(Connection.Lock, oldIrql)
    Connection.PeerClosed = TRUE
    KeReleaseSpinLock(Connection.Lock, oldIrql)
    CloseIfIdle(Connection)


def CloseIfIdle(Connection):
    """Close once the peer is gone and every echo has been sent - exactly once."""
    oldIrql = KIRQL()
    KeAcquireSpinLock(Connection.Lock, oldIrql)
    close = Connection.PeerClosed and Connection.SendsPending == 0 and not Connection.Closing
    if close:
        Connection.Closing = TRUE
    KeReleaseSpinLock(Connection.Lock, oldIrql)
    if close:
        CloseConnection(Connection)


def CloseConnection(Connection):
    """WskCloseSocket on the connection's own IRP; its completion drops the socket's
    reference."""
    Irp = Connection.CloseIrp
    IoSetCompletionRoutine(Irp, CloseComplete, Connection, TRUE, TRUE, TRUE)
    Socket = Connection.Socket
    Socket.Dispatch.WskCloseSocket(Socket, Irp)


def CloseComplete(DeviceObject, Irp, Context):
    global connections_closed
    IoFreeIrp(Irp)
    connections_closed += 1
    Dereference(Context)  # no callback for this socket runs any more (C.18)
    return STATUS_MORE_PROCESSING_REQUIRED


def Dereference(Connection):
    oldIrql = KIRQL()
    KeAcquireSpinLock(Connection.Lock, oldIrql)
    Connection.References -= 1
    last_reference = Connection.References == 0
    KeReleaseSpinLock(Connection.Lock, oldIrql)
    if not last_reference:
        return
    KeAcquireSpinLock(ConnectionsLock, oldIrql)
    Connections.remove(Connection)
    all_gone = Unloading and not Connections
    KeReleaseSpinLock(ConnectionsLock, oldIrql)
    ExFreePoolWithTag(Connection, ECHO_TAG)
    if all_gone:
        KeSetEvent(AllClosed, IO_NO_INCREMENT, FALSE)


# ---------------------------------------------------------------------- load / unload


def DriverEntry(DriverObject, RegistryPath):
    global ConnectionDispatch, CloseIrp
    port = RegistryPath.Parameters.get("port", 7)
    KeInitializeSpinLock(ConnectionsLock)
    KeInitializeEvent(AllClosed, NotificationEvent, FALSE)
    ConnectionDispatch = WSK_CLIENT_CONNECTION_DISPATCH(EchoReceiveEvent, EchoDisconnectEvent)
    status = WskRegister(WSK_CLIENT_NPI(None, WSK_CLIENT_DISPATCH()), Registration)
    if not NT_SUCCESS(status):
        return status
    status = WskCaptureProviderNPI(Registration, WSK_INFINITE_WAIT, ProviderNpi)
    if not NT_SUCCESS(status):
        WskDeregister(Registration)
        return status
    CloseIrp = IoAllocateIrp(1, FALSE)
    if CloseIrp is None:
        Cleanup()
        return STATUS_INSUFFICIENT_RESOURCES
    status = StartListening(port)
    if not NT_SUCCESS(status):
        Cleanup()
        return status
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def StartListening(port):
    """The listener, then its callbacks: changed only after bind (A.2), in one enable call -
    ACCEPT for the listener, RECEIVE and DISCONNECT for the sockets it accepts (enabling takes
    any OR of valid flags, and no IRP)."""
    status = CreateListener(port)
    if NT_SUCCESS(status):
        status = WskEventControl(ListenSocket,
                                 WSK_EVENT_ACCEPT | WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT)
    return status


def OpenListener():
    """WskSocket(WSK_FLAG_LISTEN_SOCKET), waited for: ListenSocket, or None when it failed."""
    global ListenSocket
    ListenDispatch = WSK_CLIENT_LISTEN_DISPATCH(EchoAcceptEvent)
    status, ListenSocket = WskSyncCall(
        ProviderNpi.Dispatch.WskSocket, ProviderNpi.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP,
        WSK_FLAG_LISTEN_SOCKET, None, ListenDispatch, None, None, None)
    if not NT_SUCCESS(status):
        ListenSocket = None  # Information is not a socket then
    return status


def CreateListener(port):
    """The listener (OpenListener) and WskBind, both waited for."""
    status = OpenListener()
    if NT_SUCCESS(status):
        status, _ = WskSyncCall(ListenSocket.Dispatch.WskBind, ListenSocket,
                                SOCKADDR_IN(AF_INET, port, INADDR_ANY), 0)
    return status


def StopAccepting():
    """No new connection from here on: the IRP completes once no WskAcceptEvent is in flight."""
    WskDisableEventAndWait(ListenSocket, WSK_EVENT_ACCEPT)


def Cleanup():
    global ListenSocket, listener_closed, CloseIrp
    if ListenSocket is not None:
        WskSyncCall(ListenSocket.Dispatch.WskCloseSocket, ListenSocket, Irp=CloseIrp)
        ListenSocket = None
        listener_closed = 1
    WskReleaseProviderNPI(Registration)
    WskDeregister(Registration)
    if CloseIrp is not None:
        IoFreeIrp(CloseIrp)
        CloseIrp = None


def DriverUnload(DriverObject):
    global Unloading
    StopAccepting()
    oldIrql = KIRQL()
    KeAcquireSpinLock(ConnectionsLock, oldIrql)
    Unloading = TRUE
    closing = []
    for Connection in Connections:
        connectionIrql = KIRQL()
        KeAcquireSpinLock(Connection.Lock, connectionIrql)  # lock order: list, then connection
        if not Connection.Closing:
            Connection.Closing = TRUE
            closing.append(Connection)
        KeReleaseSpinLock(Connection.Lock, connectionIrql)
    wait = bool(Connections)
    KeReleaseSpinLock(ConnectionsLock, oldIrql)
    for Connection in closing:
        CloseConnection(Connection)  # pending echo sends are cancelled; their routines clean up
    if wait:
        KeWaitForSingleObject(AllClosed, Executive, KernelMode, FALSE, None)
    Cleanup()
