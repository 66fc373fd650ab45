"""Bug class: an accepted socket that is never closed.

A variation of ``echo_server`` whose DriverUnload closes only the listening socket: it forgets
that every socket accepted through WskAcceptEvent belongs to the driver too, and must be closed
with WskCloseSocket before WskDeregister (CONTRACTS C.18). WskDeregister waits for every socket
of the client to close - forever: ``wsk.deregister.sockets_open`` names the open socket and where
it was accepted, and the unload never finishes (``driver.unload_hang``).
"""

from driver_stubs.echo_server import *


def DriverUnload(DriverObject):
    StopAccepting()
    # BUG: the sockets accepted through EchoAcceptEvent (in Connections) are never closed.
    Cleanup()  # closes the listener; WskDeregister then waits for the accepted sockets
