"""Reference driver: the TCP echo server with *static* event callbacks.

The same driver as ``echo_server`` except how its callbacks are enabled: before it creates its
first socket, DriverEntry calls ``WskControlClient(WSK_SET_STATIC_EVENT_CALLBACKS)`` with
``WSK_EVENT_ACCEPT | WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT`` (CONTRACTS A.7). Every socket of
this client then has the callbacks of its category enabled from its creation - the listener
ACCEPT, each accepted socket RECEIVE and DISCONNECT - and no SO_WSK_EVENT_CALLBACK call is made.
A static callback can never be disabled, so DriverUnload does not try: closing the listener is
what stops WskAcceptEvent (close completion is the fence, C.18).

Everything else (accept, echo with WskSend, close when idle, the reference-counted connection
context, unload) is ``echo_server``'s: this file holds only the two functions that differ.
Parameters: ``port`` (default 7).
"""

from driver_stubs._wsk_common import SIZEOF_WSK_EVENT_CALLBACK_CONTROL
from driver_stubs.echo_server import *


def StartListening(port):
    """Static callbacks: only before the client's first socket (A.7). No IRP: it answers at
    once. Then the listener, whose callbacks are on from its creation."""
    control = WSK_EVENT_CALLBACK_CONTROL()
    control.NpiId = NPI_WSK_INTERFACE_ID
    control.EventMask = WSK_EVENT_ACCEPT | WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT
    status = ProviderNpi.Dispatch.WskControlClient(
        ProviderNpi.Client, WSK_SET_STATIC_EVENT_CALLBACKS, SIZEOF_WSK_EVENT_CALLBACK_CONTROL,
        control, 0, None, None, None)
    if NT_SUCCESS(status):
        status = CreateListener(port)
    return status


def StopAccepting():
    """Static WSK_EVENT_ACCEPT cannot be disabled: closing the listener stops new connections
    (its close completes once no WskAcceptEvent is in flight)."""
    global ListenSocket, listener_closed
    WskSyncCall(ListenSocket.Dispatch.WskCloseSocket, ListenSocket, Irp=CloseIrp)
    ListenSocket = None
    listener_closed = 1
