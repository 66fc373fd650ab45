"""Known-bad driver: a WskSendBacklogEvent that returns STATUS_PENDING (CONTRACTS B.10).

A variation of ``stop_and_wait_sender`` that also enables ``WSK_EVENT_SEND_BACKLOG``. Its
callback hands the new value to the sender thread and returns ``STATUS_PENDING`` - "I will deal
with it later" - but the documentation says a WskSendBacklogEvent must always return
STATUS_SUCCESS (there is nothing to pend: the value is a hint). Every notification during slow
start is reported as ``wsk.callback.bad_return``.

Parameters and counters as ``stop_and_wait_sender``; ``isb_events`` counts the callbacks.
"""

from driver_stubs.stop_and_wait_sender import *

isb_events = 0
IsbHint = 0


def WskSendBacklogEvent(SocketContext, IdealBacklogSize):
    global isb_events, IsbHint
    isb_events += 1
    IsbHint = IdealBacklogSize  # picked up by the sender thread later
    return STATUS_PENDING  # BUG: WskSendBacklogEvent must always return STATUS_SUCCESS (B.10)


Dispatch = WSK_CLIENT_CONNECTION_DISPATCH(None, None, WskSendBacklogEvent)
Events = WSK_EVENT_SEND_BACKLOG
