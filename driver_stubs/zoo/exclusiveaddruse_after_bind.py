"""Bug class: an address-sharing socket option set after bind.

A variation of ``keepalive_echo_server`` that binds the listener first and only then sets
SO_EXCLUSIVEADDRUSE - the order a Winsock habit (socket, bind, then setsockopt) suggests. The WSK
page says the option must be set before the socket is bound to a local transport address: the
request is refused (``wsk.option.set_after_bind``; the status is the mock's choice, fidelity
``wsk.option_after_bind``), the driver ignores the status, and the port stays shareable.
"""

from driver_stubs.keepalive_echo_server import *


def CreateListener(port):
    global ListenSocket, listener_keepalive, listener_exclusive
    ListenDispatch = WSK_CLIENT_LISTEN_DISPATCH(EchoAcceptEvent)
    status, ListenSocket = WskSyncCall(
        ProviderNpi.Dispatch.WskSocket, ProviderNpi.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP,
        WSK_FLAG_LISTEN_SOCKET, None, ListenDispatch, None, None, None)
    if not NT_SUCCESS(status):
        return status
    SetSocketOption(ListenSocket, SOL_SOCKET, SO_KEEPALIVE, 1)
    status, _ = WskSyncCall(ListenSocket.Dispatch.WskBind, ListenSocket,
                            SOCKADDR_IN(AF_INET, port, INADDR_ANY), 0)
    if NT_SUCCESS(status):
        SetSocketOption(ListenSocket, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, 1)  # BUG: after bind
        _, listener_keepalive = QuerySocketOption(ListenSocket, SOL_SOCKET, SO_KEEPALIVE)
        _, listener_exclusive = QuerySocketOption(ListenSocket, SOL_SOCKET,
                                                  SO_EXCLUSIVEADDRUSE)
    return status
