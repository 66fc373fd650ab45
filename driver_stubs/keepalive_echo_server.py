"""Reference driver: the echo server with the socket options a production server sets.

``echo_server`` plus WSK socket options, each with an IRP (the option pages require one):

* Before WskBind, the listener gets SO_EXCLUSIVEADDRUSE (no other socket may bind the port; the
  option must be set before bind) and SO_KEEPALIVE (keep-alive probes on every connection: a
  listener's SO_KEEPALIVE is inherited by the sockets it accepts). Both are waited for.
* After bind it reads both back with WskGetOption (a ULONG out-parameter and
  ``IoStatus.Information == sizeof(ULONG)``).
* WskAcceptEvent may start WSK requests but never wait (CONTRACTS B.9): it reads the accepted
  socket's SO_KEEPALIVE with an asynchronous WskGetOption whose completion routine counts the
  connections that inherited it. The request holds a reference on the connection context, like
  an echo send.

Parameters: ``port`` (default 7).
"""

from driver_stubs.echo_server import *

SIZEOF_ULONG = 4  # sizeof(ULONG), x86 and x64 alike

# Statistics (see echo_server).
listener_keepalive = -1  # SO_KEEPALIVE read back from the listener (-1: not read)
listener_exclusive = -1  # SO_EXCLUSIVEADDRUSE read back from the listener
keepalive_inherited = 0  # accepted sockets whose SO_KEEPALIVE read 1
option_failures = 0  # option requests that failed


def SetSocketOption(Socket, Level, Option, Value):
    """WskSetOption of a ULONG option, with an IRP, waited for (PASSIVE_LEVEL only)."""
    status, _ = WskSyncCall(Socket.Dispatch.WskControlSocket, Socket, WskSetOption, Option,
                            Level, SIZEOF_ULONG, ULONG(Value), 0, None, None)
    return status


def QuerySocketOption(Socket, Level, Option):
    """WskGetOption of a ULONG option, waited for: (status, value)."""
    Value = ULONG()
    status, information = WskSyncCall(Socket.Dispatch.WskControlSocket, Socket, WskGetOption,
                                      Option, Level, 0, None, SIZEOF_ULONG, Value, None)
    if NT_SUCCESS(status) and information != SIZEOF_ULONG:
        status = STATUS_UNSUCCESSFUL
    return status, Value.value


def CreateListener(port):
    """WskSocket, the before-bind options, WskBind, then the options read back."""
    global listener_keepalive, listener_exclusive, option_failures
    status = OpenListener()  # echo_server's
    if not NT_SUCCESS(status):
        return status
    for Option in (SO_EXCLUSIVEADDRUSE, SO_KEEPALIVE):
        status = SetSocketOption(ListenSocket, SOL_SOCKET, Option, 1)
        if not NT_SUCCESS(status):
            option_failures += 1
            return status
    status, _ = WskSyncCall(ListenSocket.Dispatch.WskBind, ListenSocket,
                            SOCKADDR_IN(AF_INET, port, INADDR_ANY), 0)
    if NT_SUCCESS(status):
        status, listener_keepalive = QuerySocketOption(ListenSocket, SOL_SOCKET, SO_KEEPALIVE)
    if NT_SUCCESS(status):
        status, listener_exclusive = QuerySocketOption(ListenSocket, SOL_SOCKET,
                                                       SO_EXCLUSIVEADDRUSE)
    if not NT_SUCCESS(status):
        option_failures += 1
    return status


EchoServerAcceptEvent = EchoAcceptEvent  # echo_server's: allocates the connection context


def EchoAcceptEvent(SocketContext, Flags, LocalAddress, RemoteAddress, AcceptSocket,
                    AcceptSocketContext, AcceptSocketDispatch):
    status = EchoServerAcceptEvent(SocketContext, Flags, LocalAddress, RemoteAddress,
                                   AcceptSocket, AcceptSocketContext, AcceptSocketDispatch)
    if status == STATUS_SUCCESS:
        StartKeepAliveQuery(AcceptSocketContext.value)
    return status


def StartKeepAliveQuery(Connection):
    """WskGetOption(SO_KEEPALIVE) on an accepted socket, not waited for: safe in a callback."""
    global option_failures
    Irp = IoAllocateIrp(1, FALSE)
    if Irp is None:
        option_failures += 1
        return
    Value = ULONG()
    Irp.Tail.Overlay.DriverContext[0] = Value  # lives until the completion routine
    IoSetCompletionRoutine(Irp, KeepAliveQueryComplete, Connection, TRUE, TRUE, TRUE)
    oldIrql = KIRQL()
    KeAcquireSpinLock(Connection.Lock, oldIrql)
    Connection.References += 1  # released by KeepAliveQueryComplete
    KeReleaseSpinLock(Connection.Lock, oldIrql)
    Socket = Connection.Socket
    Socket.Dispatch.WskControlSocket(Socket, WskGetOption, SO_KEEPALIVE, SOL_SOCKET, 0, None,
                                     SIZEOF_ULONG, Value, None, Irp)


def KeepAliveQueryComplete(DeviceObject, Irp, Context):
    global keepalive_inherited, option_failures
    if NT_SUCCESS(Irp.IoStatus.Status) and Irp.IoStatus.Information == SIZEOF_ULONG:
        if Irp.Tail.Overlay.DriverContext[0].value == 1:
            keepalive_inherited += 1
    else:
        option_failures += 1
    IoFreeIrp(Irp)
    Dereference(Context)
    return STATUS_MORE_PROCESSING_REQUIRED
