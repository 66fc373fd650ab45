"""Event delivery: how the provider calls a driver's WSK event callbacks.

Each delivery runs in a DPC (DISPATCH_LEVEL, ``WSK_FLAG_AT_DISPATCH_LEVEL`` in Flags) or in a
passive work-item context, on a CPU chosen at the decision point, as the scenario's
``callback_irql`` policy says (CONTRACTS B.8). Around the driver's callback the provider:

1. enters only if the event is enabled at that moment (:meth:`EventRegistry.try_begin`): a
   delivery queued before a disable request never starts after it (A.4);
2. records the callback name in ``ctx.callbacks`` (so a wait inside it is caught: B.9) and counts
   it in flight from entry to return;
3. after return checks the status (B.10) and the IRQL (B.8), then ends the call, completing the
   disables that waited for it - their IRPs complete here, in this context - and, if the socket
   is closing and this was its last call in flight, the close (C.18).

The hot path (one WskReceiveEvent) avoids allocations it can: indications are built when data
arrives, the BytesAccepted box is reused, and tracing costs nothing when off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mock_wsk import fidelity
from mock_wsk.constants import (
    DISPATCH_LEVEL,
    WSK_EVENT_ACCEPT,
    WSK_EVENT_DISCONNECT,
    WSK_EVENT_RECEIVE,
    WSK_EVENT_RECEIVE_FROM,
    WSK_EVENT_SEND_BACKLOG,
    WSK_FLAG_AT_DISPATCH_LEVEL,
)
from mock_wsk.kernel import sync
from mock_wsk.kernel.irp import irp_complete
from mock_wsk.kernel.types import Out
from mock_wsk.machine import KDPC, ContextKind
from mock_wsk.status import (
    STATUS_DATA_NOT_ACCEPTED,
    STATUS_PENDING,
    STATUS_REQUEST_NOT_ACCEPTED,
    STATUS_SUCCESS,
    status_name,
)
from mock_wsk.verifier import code_location
from mock_wsk.wsk import rules as _rules  # noqa: F401  (registers the rules reported here)
from mock_wsk.wsk.core import Wsk
from mock_wsk.wsk.sockets import (
    WSK_SOCKET,
    cover_entry,
    finish_close,
    open_socket,
    signal_dead,
)
from mock_wsk.wsk.states import State
from mock_wsk.wsk.structs import WSK_MOCK_EXTENSION_EVENT_PING

# An event kind: (callback name, event flag, invoke(w, sock, payload, flags) -> the callback's
# status, not_entered(w, sock, payload)). Module-level tuples: building one per delivery would
# be churn.
Kind = tuple[str, int, Callable[..., None], Callable[..., None]]

_IRQL_OPTIONS = ("DISPATCH_LEVEL", "PASSIVE_LEVEL")


class _Delivery(KDPC):
    """One pending callback delivery: a reusable KDPC that also carries what the call needs,
    so queueing one allocates nothing (the socket and the kind ride as the DPC's system
    arguments). A passive delivery uses a fresh one as its work item's argument."""

    __slots__ = ("w", "payload", "flags")

    def __init__(self, w: Wsk) -> None:
        super().__init__()
        self.DeferredRoutine = _call
        self.w = w
        self.payload: Any = None
        self.flags = WSK_FLAG_AT_DISPATCH_LEVEL


def deliver(w: Wsk, sock: WSK_SOCKET, kind: Kind, payload: Any = None) -> None:
    """Schedule one call of ``kind``'s callback on ``sock``."""
    m = w.m
    policy = w.settings.callback_irql
    if m._trivial:
        at_dispatch = policy != "passive"
        cpu = sock.home_cpu
    else:
        at_dispatch = policy == "dispatch" or (
            policy == "any" and m.decide("irql", _IRQL_OPTIONS) == 0)
        cpu = w.pick_cpu(sock.home_cpu)
    if at_dispatch:
        # The hot path of every indication: a pooled delivery DPC, no allocation.
        pool = w._deliveries
        dpc = pool.pop() if pool else _Delivery(w)
        dpc.DeferredContext = pool
        dpc.payload = payload
        dpc.name = kind[0]
        m.queue_dpc(cpu, dpc, sock, kind)
    else:
        delivery = _Delivery(w)
        delivery.payload = payload
        delivery.flags = 0
        m.spawn(ContextKind.WORK_ITEM, kind[0], _call, (delivery, None, sock, kind), cpu=cpu)


def _call(dpc: _Delivery, pool: list[_Delivery] | None, sock: WSK_SOCKET, kind: Kind) -> None:
    """Run one delivery: the DPC routine of a DISPATCH_LEVEL delivery (``pool`` is where the
    DPC goes back), or the work item of a passive one (``pool`` None)."""
    w = dpc.w
    payload = dpc.payload
    flags = dpc.flags
    if pool is not None:
        dpc.payload = None
        pool.append(dpc)  # dequeued already: reusable
    name, flag, invoke, not_entered = kind
    events = sock.events
    if not events.try_begin(flag):
        counts = w.stats.not_entered
        counts[name] = counts.get(name, 0) + 1
        coverage = w.m.coverage
        if coverage is not None:
            coverage.add(("wsk", sock.category.value, sock.state.name, name, "not_entered"))
        not_entered(w, sock, payload)
        return
    m = w.m
    ctx = m.current
    assert ctx is not None
    irql = ctx.irql
    counts = w.stats.callbacks
    counts[name] = counts.get(name, 0) + 1
    coverage = m.coverage
    if coverage is not None:
        cover_entry(coverage, sock, name, flag, irql)
    trace = m.trace
    if trace is not None:
        here = ctx.cpu
        trace.append((m.now, here.index if here is not None else -1, ctx.id,
                      "wsk.callback.enter", (name, sock.id)))
    callbacks = ctx.callbacks
    callbacks.append(name)
    try:
        status = invoke(w, sock, payload, flags)
    finally:
        callbacks.pop()
    if trace is not None:
        cpu = ctx.cpu  # a passive delivery that waited may have moved
        trace.append((m.now, cpu.index if cpu is not None else -1, ctx.id, "wsk.callback.return",
                      (name, sock.id, status)))
    if ctx.irql != irql:
        _irql_changed(m, ctx, irql, sock, name)
    done = events.end(flag)
    if done:
        for irp in done:
            if irp is not None:
                irp_complete(m, irp, STATUS_SUCCESS, 0, pending_returned=True)
    if sock.state is _CLOSING and not events.total_in_flight:
        finish_close(w, sock)


_CLOSING = State.CLOSING


def _irql_changed(m: Any, ctx: Any, irql: int, sock: WSK_SOCKET, name: str) -> None:
    m.report("wsk.callback.irql",
             f"{name} returned at IRQL {ctx.irql}; it was called at IRQL {irql}",
             params=(ctx.irql, irql, 0), location=_callback_location(sock, name))
    ctx.irql = irql  # keep the machine consistent after recording the bug


def _callback_location(sock: WSK_SOCKET, name: str) -> Any:
    fn = getattr(sock.client_dispatch, name, None) if sock.client_dispatch else None
    return code_location(fn)


def _returned(w: Wsk, name: str, status: int) -> None:
    returns = w.stats.returns
    key = (name, status)
    returns[key] = returns.get(key, 0) + 1


def _bad_return(w: Wsk, sock: WSK_SOCKET, name: str, status: Any, allowed: str) -> None:
    w.m.report("wsk.callback.bad_return",
               f"{name} returned {_status_text(status)}; allowed: {allowed}",
               objects={"socket": sock.id,
                        "reaction_chosen_by": fidelity.cite("wsk.bad_callback_return")},
               location=_callback_location(sock, name))


def _status_text(status: Any) -> str:
    return status_name(status) if isinstance(status, int) else repr(status)


def _ignore(w: Wsk, sock: WSK_SOCKET, payload: Any) -> None:
    """A dropped notification (the callback was disabled meanwhile) needs no follow-up."""


# ---------------------------------------------------------------------- WskReceiveEvent


def pump_receive(w: Wsk, sock: WSK_SOCKET) -> None:
    """Move buffered data on: first to posted WskReceive requests, else to the receive
    callback (one indication at a time per socket), else leave it buffered."""
    if sock.receives:
        from mock_wsk.wsk.requests import satisfy_receives

        satisfy_receives(w, sock)
    if (sock.rx is not None and not sock.indicating and not sock.paused
            and sock.events.enabled & WSK_EVENT_RECEIVE and not sock.receives):
        sock.indicating = True
        queue_receive(w, sock)


def queue_receive(w: Wsk, sock: WSK_SOCKET) -> None:
    """Queue one WskReceiveEvent delivery of the buffered data (``sock.indicating`` is set)."""
    m = w.m
    policy = w.settings.callback_irql
    # deliver(), specialised for the commonest case (one indication per peer send) whenever it
    # runs at DISPATCH_LEVEL without asking (fifo unless "passive"; otherwise "dispatch"): the
    # socket's own DPC, whose routine is the fused receive delivery below, on the CPU deliver()
    # would pick. One per socket is enough: ``indicating`` keeps a second indication from being
    # queued before this one has left the queue (it is cleared only by the delivery itself).
    if m._trivial:
        if policy == "passive":
            deliver(w, sock, RECEIVE, None)
            return
        cpu = sock.home_cpu
    elif policy == "dispatch":
        cpu = w.pick_cpu(sock.home_cpu)
    else:
        deliver(w, sock, RECEIVE, None)  # "any" asks for the IRQL first
        return
    m.queue_dpc(cpu, sock.receive_dpc or _receive_dpc(w, sock), sock)


class _ReceiveDpc(_Delivery):
    """A socket's own DISPATCH_LEVEL WskReceiveEvent delivery (see :func:`queue_receive`),
    with the detail of its ``wsk.callback.enter`` record (the same for every call) and of the
    last ``wsk.callback.return`` one (the same while the status is), made once rather than
    per call."""

    __slots__ = ("entered", "returned")

    def __init__(self, w: Wsk, sock: WSK_SOCKET) -> None:
        super().__init__(w)
        self.DeferredRoutine = _deliver_receive
        self.name = "WskReceiveEvent"
        self.entered = ("WskReceiveEvent", sock.id)
        self.returned: tuple[str, int, Any] = ("WskReceiveEvent", sock.id, None)


def _receive_dpc(w: Wsk, sock: WSK_SOCKET) -> _ReceiveDpc:
    dpc = sock.receive_dpc = _ReceiveDpc(w, sock)
    return dpc


def _deliver_receive(dpc: _ReceiveDpc, _context: None, sock: WSK_SOCKET, _unused: Any) -> None:
    """A DISPATCH_LEVEL WskReceiveEvent delivery: :func:`_call` fused for the hot path (one per
    peer send), with the same checks, order and trace records; the indication itself is
    :func:`_indicate_buffered`, shared with :func:`_invoke_receive`."""
    w = dpc.w
    events = sock.events
    if not events.enabled & WSK_EVENT_RECEIVE:
        counts = w.stats.not_entered
        counts["WskReceiveEvent"] = counts.get("WskReceiveEvent", 0) + 1
        coverage = w.m.coverage
        if coverage is not None:
            coverage.add(("wsk", sock.category.value, sock.state.name, "WskReceiveEvent",
                          "not_entered"))
        sock.indicating = False  # the data stays buffered for WskReceive or a re-enable
        return
    events.receiving += 1  # EventRegistry.try_begin, inlined (the flag is enabled)
    m = w.m
    ctx = m.current
    assert ctx is not None
    irql = ctx.irql
    stats = w.stats
    counts = stats.callbacks
    counts["WskReceiveEvent"] = counts.get("WskReceiveEvent", 0) + 1
    coverage = m.coverage
    if coverage is not None:
        cover_entry(coverage, sock, "WskReceiveEvent", WSK_EVENT_RECEIVE, irql)
    trace = m.trace
    if trace is not None:
        here = ctx.cpu
        trace.append((m.now, here.index if here is not None else -1, ctx.id,
                      "wsk.callback.enter", dpc.entered))
    callbacks = ctx.callbacks
    callbacks.append("WskReceiveEvent")
    try:
        status = _indicate_buffered(w, sock, sock.client_dispatch.WskReceiveEvent,
                                    WSK_FLAG_AT_DISPATCH_LEVEL)
    finally:
        callbacks.pop()
    if trace is not None:
        returned = dpc.returned
        if returned[2] is not status:
            returned = dpc.returned = ("WskReceiveEvent", sock.id, status)
        cpu = ctx.cpu
        trace.append((m.now, cpu.index if cpu is not None else -1, ctx.id, "wsk.callback.return",
                      returned))
    if ctx.irql != irql:
        _irql_changed(m, ctx, irql, sock, "WskReceiveEvent")
    # EventRegistry.end, inlined.
    count = events.receiving = events.receiving - 1
    if not count and events.pending is not None and WSK_EVENT_RECEIVE in events.pending:
        for irp in events.pending.pop(WSK_EVENT_RECEIVE):
            if irp is not None:
                irp_complete(m, irp, STATUS_SUCCESS, 0, pending_returned=True)
    if sock.state is _CLOSING and not events.total_in_flight:
        finish_close(w, sock)


_MAX_FREE_INDICATIONS = 64


def _invoke_receive(w: Wsk, sock: WSK_SOCKET, payload: Any, flags: int) -> Any:
    callback = sock.client_dispatch.WskReceiveEvent
    if payload is _DEAD:
        status = callback(sock.context, flags, None, 0, None)
        _returned(w, "WskReceiveEvent", status)
        if status not in _RECEIVE_OK:
            _bad_return(w, sock, "WskReceiveEvent", status, _RECEIVE_ALLOWED)
        signal_dead(w, sock)
        return status
    return _indicate_buffered(w, sock, callback, flags)


def _indicate_buffered(w: Wsk, sock: WSK_SOCKET, callback: Any, flags: int) -> Any:
    """Indicate the socket's buffered chain to ``callback`` and settle the outcome: shared by
    the fused DISPATCH_LEVEL delivery and :func:`_invoke_receive`. The common outcome
    (STATUS_SUCCESS, every byte taken) is handled here; the rest in :func:`_receive_outcome`."""
    head = sock.rx
    indicated = sock.rx_bytes
    stats = w.stats
    stats.bytes_indicated += indicated
    box = sock.accepted_box
    if box is None:
        box = sock.accepted_box = Out(0)
    box.value = 0
    status = callback(sock.context, flags, head, indicated, box)
    returns = stats.returns
    key = ("WskReceiveEvent", status)
    returns[key] = returns.get(key, 0) + 1
    sock.indicating = False
    if status == STATUS_SUCCESS and box.value == indicated:
        sock.rx = sock.rx_tail = None
        sock.rx_bytes = 0
        # The client accepted every byte and returned STATUS_SUCCESS: the indication list is
        # the provider's again (valid only during the call), so its nodes serve the next sends.
        free = w._free_indications
        while head is not None and len(free) < _MAX_FREE_INDICATIONS:
            node = head
            head = node.Next
            node.Next = None
            free.append(node)
    else:
        _receive_outcome(w, sock, head, indicated, status, box.value)
    return status


def _receive_outcome(w: Wsk, sock: WSK_SOCKET, head: Any, indicated: int, status: Any,
                     accepted: Any) -> None:
    """What WskReceiveEvent's return means, but for the common 'took everything'."""
    if status == STATUS_SUCCESS:
        if isinstance(accepted, int) and 0 <= accepted < indicated:
            consume(sock, accepted)
            sock.paused = True  # partial accept: no more indications until WskReceive
        else:
            _bad_return(w, sock, "WskReceiveEvent", status,
                        f"*BytesAccepted <= BytesIndicated ({indicated}); got {accepted!r}")
            sock.paused = True
    elif status == STATUS_PENDING:
        sock.retained[id(head)] = head  # the client owns the chain until WskRelease
        sock.rx = sock.rx_tail = None
        sock.rx_bytes = 0
    elif status == STATUS_DATA_NOT_ACCEPTED:
        sock.paused = True
    else:
        _bad_return(w, sock, "WskReceiveEvent", status, _RECEIVE_ALLOWED)
        sock.paused = True
    if sock.rx is not None and not sock.paused:
        pump_receive(w, sock)  # more data arrived during the call


def _receive_not_entered(w: Wsk, sock: WSK_SOCKET, payload: Any) -> None:
    sock.indicating = False  # the data stays buffered for WskReceive or a re-enable


def consume(sock: WSK_SOCKET, nbytes: int) -> None:
    """Drop ``nbytes`` from the front of the receive chain (lengths only, no bytes move)."""
    sock.rx_bytes -= nbytes
    node = sock.rx
    while nbytes and node is not None:
        buf = node.Buffer
        if buf.Length <= nbytes:
            nbytes -= buf.Length
            node = node.Next
        else:
            buf.Offset += nbytes
            buf.Length -= nbytes
            nbytes = 0
    sock.rx = node
    if node is None:
        sock.rx_tail = None


_RECEIVE_OK = (STATUS_SUCCESS, STATUS_PENDING, STATUS_DATA_NOT_ACCEPTED)
_RECEIVE_ALLOWED = "STATUS_SUCCESS, STATUS_PENDING, STATUS_DATA_NOT_ACCEPTED"
_DEAD: Any = object()  # payload: indicate NULL (the socket is dead)

RECEIVE: Kind = ("WskReceiveEvent", WSK_EVENT_RECEIVE, _invoke_receive, _receive_not_entered)


def indicate_dead(w: Wsk, sock: WSK_SOCKET) -> None:
    """Tell the client the socket is dead: a NULL indication through whichever callback the
    socket's category has (CONTRACTS B.11)."""
    events = sock.events.enabled
    if events & WSK_EVENT_RECEIVE:
        deliver(w, sock, RECEIVE, _DEAD)
    elif events & WSK_EVENT_RECEIVE_FROM:
        deliver(w, sock, RECEIVE_FROM, _DEAD)
    elif events & WSK_EVENT_ACCEPT:
        deliver(w, sock, ACCEPT, _DEAD)


# ---------------------------------------------------------------------- WskDisconnectEvent


def _invoke_disconnect(w: Wsk, sock: WSK_SOCKET, payload: int, flags: int) -> Any:
    status = sock.client_dispatch.WskDisconnectEvent(sock.context, flags | payload)
    _returned(w, "WskDisconnectEvent", status)
    if status != STATUS_SUCCESS:
        _bad_return(w, sock, "WskDisconnectEvent", status, "STATUS_SUCCESS")
    return status


DISCONNECT: Kind = ("WskDisconnectEvent", WSK_EVENT_DISCONNECT, _invoke_disconnect, _ignore)


# ---------------------------------------------------------------------- WskSendBacklogEvent


def _invoke_send_backlog(w: Wsk, sock: WSK_SOCKET, isb: int, flags: int) -> Any:
    status = sock.client_dispatch.WskSendBacklogEvent(sock.context, isb)
    _returned(w, "WskSendBacklogEvent", status)
    if status != STATUS_SUCCESS:
        _bad_return(w, sock, "WskSendBacklogEvent", status, "STATUS_SUCCESS")
    from mock_wsk.wsk.flows import backlog_delivered

    backlog_delivered(w, sock, isb)  # counts it; arms wsk.backlog.ignores_isb_decrease
    return status


SEND_BACKLOG: Kind = ("WskSendBacklogEvent", WSK_EVENT_SEND_BACKLOG, _invoke_send_backlog,
                      _ignore)


def notify_isb(w: Wsk, sock: WSK_SOCKET, isb: int) -> None:
    """The transport's ideal send backlog changed (the Transport seam's on_isb_change)."""
    if sock.events.enabled & WSK_EVENT_SEND_BACKLOG and sock.state is State.CONNECTED:
        deliver(w, sock, SEND_BACKLOG, isb)


# ---------------------------------------------------------------------- WskAcceptEvent


def _invoke_accept(w: Wsk, listener: WSK_SOCKET, new: Any, flags: int) -> Any:
    from mock_wsk.wsk.structs import SOCKADDR_IN

    callback = listener.client_dispatch.WskAcceptEvent
    context_box: Any = _OutBox()
    dispatch_box: Any = _OutBox()
    if new is _DEAD:
        status = callback(listener.context, flags, None, None, None, context_box, dispatch_box)
        _returned(w, "WskAcceptEvent", status)
        signal_dead(w, listener)
        return status
    # Addresses are valid only during the call (B.11): fresh copies, not the socket's own.
    local = SOCKADDR_IN()
    local.copy_from(new.local)
    remote = SOCKADDR_IN()
    remote.copy_from(new.remote)
    status = callback(listener.context, flags, local, remote, new, context_box, dispatch_box)
    _returned(w, "WskAcceptEvent", status)
    if status == STATUS_SUCCESS:
        new.context = context_box.value
        new.client_dispatch = dispatch_box.value
        new.events.inherit_from(listener.events)  # A.6: only through WskAcceptEvent
        _drop_null_inherited(w, new)
        open_socket(w, new)
        pump_receive(w, new)
        return status
    if status != STATUS_REQUEST_NOT_ACCEPTED:
        _bad_return(w, listener, "WskAcceptEvent", status,
                    "STATUS_SUCCESS, STATUS_REQUEST_NOT_ACCEPTED")
    w.network.reject(new)  # the provider closes the refused socket
    return status


def _drop_null_inherited(w: Wsk, sock: WSK_SOCKET) -> None:
    from mock_wsk.wsk.states import CALLBACK_OF_EVENT

    events = sock.events
    mask = events.enabled
    for flag, slot in CALLBACK_OF_EVENT.items():
        if mask & flag and getattr(sock.client_dispatch, slot, None) is None:
            w.m.report("wsk.event.null_callback",
                       f"socket #{sock.id} inherits {slot} from its listener but the accept "
                       f"socket's dispatch table has no {slot}",
                       objects={"socket": sock.id})
            events.enabled &= ~flag


def _accept_not_entered(w: Wsk, listener: WSK_SOCKET, new: Any) -> None:
    if new is not _DEAD:
        from mock_wsk.wsk.requests import offer_to_accept

        offer_to_accept(w, listener, new)  # ACCEPT disabled meanwhile: WskAccept takes it


class _OutBox:
    """``PVOID *AcceptSocketContext`` / ``const WSK_CLIENT_CONNECTION_DISPATCH **``."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: Any = None


ACCEPT: Kind = ("WskAcceptEvent", WSK_EVENT_ACCEPT, _invoke_accept, _accept_not_entered)


# ---------------------------------------------------------------------- WskReceiveFromEvent


def pump_datagrams(w: Wsk, sock: WSK_SOCKET) -> None:
    if sock.dgrams and not sock.indicating and not sock.paused and \
            sock.events.enabled & WSK_EVENT_RECEIVE_FROM:
        sock.indicating = True
        deliver(w, sock, RECEIVE_FROM, None)


def _invoke_receive_from(w: Wsk, sock: WSK_SOCKET, payload: Any, flags: int) -> Any:
    callback = sock.client_dispatch.WskReceiveFromEvent
    if payload is _DEAD:
        status = callback(sock.context, flags, None)
        _returned(w, "WskReceiveFromEvent", status)
        if status not in _RECEIVE_OK:
            _bad_return(w, sock, "WskReceiveFromEvent", status, _RECEIVE_ALLOWED)
        signal_dead(w, sock)
        return status
    dgrams = sock.dgrams
    w.stats.datagrams_indicated += len(dgrams)
    head = dgrams[0]
    for prev, nxt in zip(dgrams, list(dgrams)[1:], strict=False):
        prev.Next = nxt
    status = callback(sock.context, flags, head)
    _returned(w, "WskReceiveFromEvent", status)
    sock.indicating = False
    if status == STATUS_SUCCESS:
        dgrams.clear()
    elif status == STATUS_PENDING:
        sock.retained[id(head)] = head
        dgrams.clear()
    else:
        if status != STATUS_DATA_NOT_ACCEPTED:
            _bad_return(w, sock, "WskReceiveFromEvent", status, _RECEIVE_ALLOWED)
        for dg in dgrams:
            dg.Next = None
        if sock.events.static & WSK_EVENT_RECEIVE_FROM:
            sock.paused = True
        else:
            # B.10: a dynamically enabled receive-from callback is disabled until re-enabled.
            sock.events.enabled &= ~WSK_EVENT_RECEIVE_FROM
    if dgrams and not sock.paused:
        pump_datagrams(w, sock)
    return status


def _receive_from_not_entered(w: Wsk, sock: WSK_SOCKET, payload: Any) -> None:
    sock.indicating = False


RECEIVE_FROM: Kind = ("WskReceiveFromEvent", WSK_EVENT_RECEIVE_FROM, _invoke_receive_from,
                      _receive_from_not_entered)


# ---------------------------------------------------------------------- the mock extension


def _invoke_ping(w: Wsk, sock: WSK_SOCKET, payload: Any, flags: int) -> Any:
    from mock_wsk.wsk.structs import NPI_MOCK_WSK_EXTENSION_ID

    dispatch = sock.extensions[NPI_MOCK_WSK_EXTENSION_ID]
    status = dispatch.WskMockPingEvent(sock.context, flags)
    _returned(w, "WskMockPingEvent", status)
    if status != STATUS_SUCCESS:
        _bad_return(w, sock, "WskMockPingEvent", status, "STATUS_SUCCESS")
    return status


PING: Kind = ("WskMockPingEvent", WSK_MOCK_EXTENSION_EVENT_PING, _invoke_ping, _ignore)

# Every kind by event flag (standard events; the extension's flag is separate: it overlaps).
KIND_OF_EVENT: dict[int, Kind] = {
    WSK_EVENT_RECEIVE: RECEIVE,
    WSK_EVENT_DISCONNECT: DISCONNECT,
    WSK_EVENT_SEND_BACKLOG: SEND_BACKLOG,
    WSK_EVENT_ACCEPT: ACCEPT,
    WSK_EVENT_RECEIVE_FROM: RECEIVE_FROM,
}


# ---------------------------------------------------------------------- B.9: no waits inside


def _wait_hook(m: Any, ctx: Any, objects: Any, ddi: str) -> None:
    if ctx.callbacks:
        names = ", ".join(getattr(o, "name", "?") for o in objects)
        m.report("wsk.callback.wait",
                 f"{ddi} inside {ctx.callbacks[-1]} at IRQL {ctx.irql} "
                 f"({'DPC' if ctx.irql >= DISPATCH_LEVEL else 'passive'} delivery)",
                 objects={"callback": ctx.callbacks[-1], "waits_for": names})


sync.add_wait_hook(_wait_hook)
