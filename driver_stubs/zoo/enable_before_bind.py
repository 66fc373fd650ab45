"""Bug class: enabling an event callback before the socket is bound.

A variation of ``datagram_receiver`` that enables WSK_EVENT_RECEIVE_FROM right after WskSocket,
before WskBind - natural-looking, since the socket exists. On a datagram (or listening) socket
callbacks may be changed only after bind (CONTRACTS A.2): the request is refused
(``wsk.event.enable_before_bind``; the status is the mock's choice, fidelity
``wsk.enable_before_bind``), the driver does not check it, and no datagram is ever indicated.
"""

from driver_stubs._wsk_common import SIZEOF_WSK_EVENT_CALLBACK_CONTROL
from driver_stubs.datagram_receiver import *


def OpenSocket(port):
    global Socket
    DatagramDispatch = WSK_CLIENT_DATAGRAM_DISPATCH(ReceiveFromEvent)
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
    return status
