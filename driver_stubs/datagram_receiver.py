"""Reference driver: a UDP receiver on WskReceiveFromEvent.

DriverEntry creates a datagram socket, binds it, and only then enables
``WSK_EVENT_RECEIVE_FROM`` (on a datagram socket callbacks are changed only after bind,
CONTRACTS A.2). WskReceiveFromEvent walks the list of WSK_DATAGRAM_INDICATIONs it is handed -
several datagrams may come in one call - and counts each one, a zero-length datagram included
(its Buffer.Length is 0, but it is a datagram all the same). It returns STATUS_SUCCESS: the
indications go back to WSK at once. A NULL list means the socket is dead (B.11): DriverUnload
closes it anyway.

DriverUnload disables the callback with an IRP and waits for that IRP (after it completes the
callback is never entered again, A.4), closes the socket, releases the provider NPI and
deregisters.

Parameters: ``port`` (default 5353).
"""

from driver_stubs._wsk_common import WskDisableEventAndWait, WskEventControl, WskSyncCall
from mock_wsk.wdk import *  # noqa: F403

# ruff: noqa: F405  (WDK names come from the star import, as from a C header)

Registration = WSK_REGISTRATION()
ProviderNpi = WSK_PROVIDER_NPI()
Socket = None
CloseIrp = None

datagrams = 0
zero_length_datagrams = 0
bytes_received = 0
indications = 0
dead_indications = 0


def ReceiveFromEvent(SocketContext, Flags, DataIndication):
    global datagrams, zero_length_datagrams, bytes_received, indications, dead_indications
    if DataIndication is None:
        dead_indications += 1
        return STATUS_SUCCESS
    indications += 1
    Datagram = DataIndication
    while Datagram is not None:
        datagrams += 1
        Length = Datagram.Buffer.Length
        bytes_received += Length
        if Length == 0:
            zero_length_datagrams += 1
        Datagram = Datagram.Next
    return STATUS_SUCCESS


def DriverEntry(DriverObject, RegistryPath):
    global CloseIrp
    port = RegistryPath.Parameters.get("port", 5353)
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
    status = OpenSocket(port)
    if not NT_SUCCESS(status):
        Cleanup()
        return status
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def OpenSocket(port):
    """WskSocket(WSK_FLAG_DATAGRAM_SOCKET), WskBind, then WSK_EVENT_RECEIVE_FROM."""
    global Socket
    DatagramDispatch = WSK_CLIENT_DATAGRAM_DISPATCH(ReceiveFromEvent)
    status, Socket = WskSyncCall(
        ProviderNpi.Dispatch.WskSocket, ProviderNpi.Client, AF_INET, SOCK_DGRAM, IPPROTO_UDP,
        WSK_FLAG_DATAGRAM_SOCKET, None, DatagramDispatch, None, None, None)
    if not NT_SUCCESS(status):
        Socket = None  # Information is not a socket then
    if NT_SUCCESS(status):
        status, _ = WskSyncCall(Socket.Dispatch.WskBind, Socket,
                                SOCKADDR_IN(AF_INET, port, INADDR_ANY), 0)
    if NT_SUCCESS(status):
        status = WskEventControl(Socket, WSK_EVENT_RECEIVE_FROM)  # after bind (A.2)
    return status


def Cleanup():
    global Socket, CloseIrp
    if Socket is not None:
        WskSyncCall(Socket.Dispatch.WskCloseSocket, Socket, Irp=CloseIrp)
        Socket = None
    WskReleaseProviderNPI(Registration)
    WskDeregister(Registration)
    if CloseIrp is not None:
        IoFreeIrp(CloseIrp)
        CloseIrp = None


def DriverUnload(DriverObject):
    WskDisableEventAndWait(Socket, WSK_EVENT_RECEIVE_FROM)
    Cleanup()
