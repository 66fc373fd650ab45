"""Known-bad driver: a send pump that follows the ideal send backlog up but never down.

A variation of ``send_pump`` with one bug in ``WskSendBacklogEvent``: it keeps the *largest* ISB
it has seen (``Isb = max(Isb, IdealBacklogSize)``), reasoning that "more outstanding data can
only help". After a loss halves the ISB the pump keeps the old backlog outstanding - memory the
stack asked it to release, and a standing queue on a congested path. Caught as
``wsk.backlog.ignores_isb_decrease`` (FLOW_MODEL.md: the pump must lower its outstanding bytes
within one RTT of the notification).

Parameters and counters as ``send_pump``.
"""

from driver_stubs.send_pump import *


def WskSendBacklogEvent(SocketContext, IdealBacklogSize):
    global Isb
    oldIrql = KIRQL()
    KeAcquireSpinLock(Lock, oldIrql)
    Isb = max(Isb, IdealBacklogSize)  # BUG: ignores a decrease (B.12: adjust to each new value)
    CountIsbEvent(IdealBacklogSize)
    KeReleaseSpinLock(Lock, oldIrql.value)
    Pump()
    return STATUS_SUCCESS
