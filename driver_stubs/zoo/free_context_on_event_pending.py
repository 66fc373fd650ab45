"""Bug class: freeing a socket context when the disable answered STATUS_EVENT_PENDING.

A variation of ``wsk_client``: DriverUnload disables WSK_EVENT_RECEIVE without an IRP and reads
STATUS_EVENT_PENDING as "disabled" - it frees the socket context with ExFreePoolWithTag at once.
But EVENT_PENDING means the opposite: a WskReceiveEvent is still running (on another CPU), and
the callback is disabled only after it returns (CONTRACTS A.4). That callback then updates the
freed context: ``pool.use_after_free`` (on Windows: a corrupted pool, a crash much later).

The race is real: under the fifo schedule the callback always returns before the disable, the
disable answers STATUS_SUCCESS and nothing goes wrong; only a preemptive schedule on 2 CPUs
(random or pct, the right seed) puts the free inside the callback's window. The fix is
``wsk_client``'s: free the context only after WskCloseSocket has completed.
"""

from driver_stubs.wsk_client import *


def DisableEvent(Event):
    """Disable one event without an IRP (whatever ``disable_with_irp`` says)."""
    global Context, bytes_received, context_freed, disable_statuses_pending
    status = WskEventControl(Socket, Event | WSK_EVENT_DISABLE)
    if status == STATUS_EVENT_PENDING:
        disable_statuses_pending += 1
    if NT_SUCCESS(status) and Context is not None:  # BUG: EVENT_PENDING is not "disabled"
        bytes_received = Context.BytesReceived
        ExFreePoolWithTag(Context, CLIENT_TAG)  # ... while WskReceiveEvent still uses it
        Context = None
        context_freed = 1
