"""The mock WSK provider (Winsock Kernel), CONTRACTS.md sections A-C.

Modules, one job each: ``events`` (the event-callback registry state machine), ``states``
(socket categories and states), ``structs`` (WDK structures), ``core`` (per-machine state,
settings, IRP completion), ``sockets`` (WSK_SOCKET), ``dispatch`` (calling event callbacks),
``requests`` / ``control`` (socket requests, WskControlSocket), ``tables`` (provider dispatch
tables), ``provider`` (registration, NPI, WskSocket...), ``network`` (simulated peers),
``transport`` (the seam to the flow model), ``rules`` (the WSK rule catalog).

Drivers import the WDK names from :mod:`mock_wsk.wdk`; a harness uses :func:`configure_wsk`,
:func:`wsk_state` (settings, stats, network, sockets).
"""

from mock_wsk.wsk import provider as _provider  # noqa: F401  (wires the dispatch tables)
from mock_wsk.wsk.core import WskSettings, configure_wsk, wsk_state

__all__ = ["WskSettings", "configure_wsk", "wsk_state"]
