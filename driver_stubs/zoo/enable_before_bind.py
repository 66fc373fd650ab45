"""Bug class: enabling an event callback before the socket is bound.

A variation of ``datagram_receiver`` that enables WSK_EVENT_RECEIVE_FROM right after WskSocket,
before WskBind - natural-looking, since the socket exists. On a datagram (or listening) socket
callbacks may be changed only after bind (CONTRACTS A.2): the request is refused
(``wsk.event.enable_before_bind``; the status is the mock's choice, fidelity
``wsk.enable_before_bind``), the driver does not check it, and no datagram is ever indicated.
"""

from driver_stubs._wsk_common import (
    SIZEOF_WSK_EVENT_CALLBACK_CONTROL,
    WskDisableEventAndWait,
    WskSyncCall,
)
from mock_wsk.wdk import *  # noqa: F403

# ruff: noqa: F405  (WDK names come from the star import, as from a C header)

Registration = WSK_REGISTRATION()
ProviderNpi = WSK_PROVIDER_NPI()
Socket = None

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


DatagramDispatch = WSK_CLIENT_DATAGRAM_DISPATCH(ReceiveFromEvent)


def DriverEntry(DriverObject, RegistryPath):
    global Socket
    port = RegistryPath.Parameters.get("port", 5353)
    status = WskRegister(WSK_CLIENT_NPI(None, WSK_CLIENT_DISPATCH()), Registration)
    if not NT_SUCCESS(status):
        return status
    status = WskCaptureProviderNPI(Registration, WSK_INFINITE_WAIT, ProviderNpi)
    if not NT_SUCCESS(status):
        WskDeregister(Registration)
        return status
    status, Socket = WskSyncCall(
        ProviderNpi.Dispatch.WskSocket, ProviderNpi.Client, AF_INET, SOCK_DGRAM, IPPROTO_UDP,
        WSK_FLAG_DATAGRAM_SOCKET, None, DatagramDispatch, None, None, None)
    if NT_SUCCESS(status):
        control = WSK_EVENT_CALLBACK_CONTROL(NPI_WSK_INTERFACE_ID, WSK_EVENT_RECEIVE_FROM)
        Socket.Dispatch.WskControlSocket(  # BUG: before WskBind, and the status is not checked
            Socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
            SIZEOF_WSK_EVENT_CALLBACK_CONTROL, control, 0, None, None, None)
        status, _ = WskSyncCall(Socket.Dispatch.WskBind, Socket,
                                SOCKADDR_IN(AF_INET, port, INADDR_ANY), 0)
    if not NT_SUCCESS(status):
        Cleanup()
        return status
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def Cleanup():
    global Socket
    if Socket is not None:
        WskSyncCall(Socket.Dispatch.WskCloseSocket, Socket)
        Socket = None
    WskReleaseProviderNPI(Registration)
    WskDeregister(Registration)


def DriverUnload(DriverObject):
    WskDisableEventAndWait(Socket, WSK_EVENT_RECEIVE_FROM)
    Cleanup()
