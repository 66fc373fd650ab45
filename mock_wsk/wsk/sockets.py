"""``WSK_SOCKET``: one socket's provider-side state, and its life-cycle transitions that are not
tied to a single request (dead-socket signal, close completion).

A driver sees only ``Socket.Dispatch`` (the provider table of its category, as in C); every other
attribute belongs to the provider.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from mock_wsk import fidelity
from mock_wsk.kernel.irp import irp_complete
from mock_wsk.kernel.types import Out
from mock_wsk.status import STATUS_SUCCESS
from mock_wsk.wsk.core import Wsk
from mock_wsk.wsk.events import EventRegistry
from mock_wsk.wsk.states import CONNECTION_EVENTS, VALID_EVENTS_BY_NAME, Category, State

NO_EXTENSIONS: Mapping[Any, Any] = MappingProxyType({})

# Provider dispatch tables by category, filled by mock_wsk.wsk.tables at import.
PROVIDER_TABLES: dict[Category, Any] = {}
# By category name: (the table without the tracing layer, PROVIDER_TABLES' own). A socket of a
# machine that traces nothing gets the first: its requests then return to the driver directly,
# not through traced_call's wrapper (the machine's ``trace`` is fixed when it is made).
TABLES_BY_NAME: dict[str, tuple[Any, Any]] = {}


class WSK_SOCKET:
    """A socket object. ``Dispatch`` is the provider dispatch table of its category."""

    # Slots are laid out in this order: what every WskSend and its acknowledgement touch comes
    # first, together (two cache lines of a cold socket instead of six with 10,000 connections).
    __slots__ = (
        # the send path: ``send_submit`` is the transport's submit bound to the socket's
        # completion callback, ``send_cancel`` the IRPs' cancel handler; ``pend`` maps every
        # pending IRP to None, or a send's to its MDL use (cancel on IoCancelIrp /
        # WskCloseSocket; see requests.WskSend)
        "Dispatch", "state", "calls", "dead", "aborted", "category", "transport",
        "send_submit", "send_cancel", "pend", "peer", "home_cpu",
        "id", "client", "context", "client_dispatch", "events", "created_at", "local", "remote",
        # listeners
        "backlog", "accept_irps", "stream_listens",
        # receive path
        "rx", "rx_tail", "rx_bytes", "indicating", "paused", "_retained", "receives",
        "accepted_box", "receive_dpc", "dgrams",
        # basic sockets: extension interfaces registered with SIO_WSK_REGISTER_EXTENSION
        "extensions", "extension_events",
        # life cycle
        "dead_signalled", "close_irp", "closing_ctx", "peer_closed",
    )

    def __init__(self, w: Wsk, client: Any, category: Category, context: Any,
                 client_dispatch: Any, created_at: Any, home_cpu: int) -> None:
        name = category._name_  # not the enum: Enum.__hash__ is a Python call
        self.Dispatch = TABLES_BY_NAME[name][w.m.trace is not None]
        self.id = w.next_socket_id
        w.next_socket_id += 1
        self.category = category
        self.state = State.CREATED
        self.client = client
        self.context = context
        self.client_dispatch = client_dispatch
        valid = VALID_EVENTS_BY_NAME[name]
        if category is Category.LISTEN:
            # A static connection flag is for the sockets the listener accepts (they are created
            # with it), not for the listener, whose dispatch table has no such slot (A.7).
            valid &= ~CONNECTION_EVENTS
        static = client.static_events & valid if client is not None else 0
        self.events = EventRegistry(static)
        self.created_at = created_at
        self.home_cpu = home_cpu
        self.calls = 0  # WSK calls on this socket in progress (CONTRACTS C.18)
        self.local: Any = None
        self.remote: Any = None
        self.peer: Any = None
        self.transport: Any = None
        # The four queues are created on first use (queue_of): four empty deques would cost
        # ~3 KB a socket, and 10,000 idle connections must fit in 2 KiB each.
        self.backlog: deque[WSK_SOCKET] = NO_QUEUE  # accepted sockets waiting for WskAccept
        self.accept_irps: deque[tuple[Any, ...]] = NO_QUEUE  # posted WskAccept requests
        self.stream_listens = False
        self.rx: Any = None  # head of the WSK_DATA_INDICATION chain not yet consumed
        self.rx_tail: Any = None
        self.rx_bytes = 0
        self.indicating = False  # a receive indication is queued or in flight
        self.paused = False  # DATA_NOT_ACCEPTED / partial accept: wait for WskReceive
        # The three dicts below start as the shared, empty NO_DICT (see dict_of): three empty
        # dicts are ~200 bytes, and an idle connection has no request or chain to hold.
        self._retained: dict[int, Any] = NO_DICT  # see the retained property
        self.receives: deque[tuple[Any, ...]] = NO_QUEUE  # posted WskReceive requests
        self.accepted_box: Out | None = None  # BytesAccepted, made at the first indication
        # The DPC of its DISPATCH_LEVEL receive indications (dispatch.queue_receive), made with
        # the first one.
        self.receive_dpc: Any = None
        self.dgrams: deque[Any] = NO_QUEUE
        # made by the first WskSend (requests.py): the transport's submit bound to
        # send_acked, and the IRPs' cancel handler
        self.send_submit: Any = None
        self.send_cancel: Any = None
        # IRPs of requests pending on this socket -> None, or a send's MDL use
        self.pend: dict[Any, Any] = NO_DICT
        # extension NPI id -> client dispatch (read-only and shared until the first one)
        self.extensions: Mapping[Any, Any] = NO_EXTENSIONS
        self.extension_events = 0
        self.dead = False
        self.dead_signalled = False
        self.close_irp: Any = None
        self.closing_ctx: Any = None
        self.aborted = False
        self.peer_closed = False
        w.all_sockets.append(self)

    @property
    def retained(self) -> dict[int, Any]:
        """id(chain head) -> chain the client keeps until WskRelease. A property making the
        socket's own dict on first access: the receive path stores into it directly."""
        retained = self._retained
        if retained is NO_DICT:
            retained = self._retained = {}
        return retained

    @property
    def closing(self) -> bool:
        return self.state is State.CLOSING

    def __repr__(self) -> str:
        return f"<WSK_SOCKET #{self.id} {self.category.value} {self.state.name}>"


class _NoQueue(tuple[Any, ...]):
    """The queue of a socket that never needed one: empty, immutable, shared by every socket.
    Reading, iterating and ``clear()`` work as on a deque; adding goes through
    :func:`queue_of`, which gives the socket its own deque first."""

    __slots__ = ()

    def clear(self) -> None:
        pass


NO_QUEUE: Any = _NoQueue()


def queue_of(sock: WSK_SOCKET, name: str) -> deque[Any]:
    """``sock``'s deque ``name`` (backlog, accept_irps, receives, dgrams), created on first
    use: an empty deque costs ~760 bytes, and a socket needs at most one or two of the four."""
    queue = getattr(sock, name)
    if queue is NO_QUEUE:
        queue = deque()
        setattr(sock, name, queue)
    return queue


class _NoDict(dict[Any, Any]):
    """The ``sends`` / ``pend`` of a socket that never had a request: empty and shared by
    every socket. Reads, ``pop(key, default)`` and ``clear()`` work as on an empty dict;
    storing raises (a bug: go through :func:`dict_of`, which gives the socket its own)."""

    __slots__ = ()

    def _shared(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("NO_DICT is shared by every socket: store through dict_of()")

    __setitem__ = setdefault = update = __ior__ = _shared


NO_DICT: Any = _NoDict()


def dict_of(sock: WSK_SOCKET, name: str) -> dict[Any, Any]:
    """``sock``'s dict ``name`` (sends, pend), created on first use (see NO_DICT)."""
    table = getattr(sock, name)
    if table is NO_DICT:
        table = {}
        setattr(sock, name, table)
    return table


# ---------------------------------------------------------------------- exploration coverage
# Callers test ``m.coverage is not None`` first (ordinary runs pay that test only); noting a pair
# never emits a trace record nor asks the machine a question.


def cover_entry(coverage: set[Any], sock: WSK_SOCKET, name: str, flag: int, irql: int) -> None:
    """A callback is entered: ``("wsk", category, state, callback, in flight, IRQL)``, where
    *in flight* counts this event's calls on the socket including this one, capped at 2 (1: it
    runs alone, 2: it overlaps another call of the same callback)."""
    n = sock.events.calls_in_flight(flag)
    # ``_value_``/``_name_``: the enum's ``value``/``name`` properties cost a descriptor call.
    coverage.add(("wsk", sock.category._value_, sock.state._name_, name, n if n < 2 else 2,
                  irql))


def cover_transition(coverage: set[Any], sock: WSK_SOCKET, old: State, event: str) -> None:
    """A state transition: ``("wsk", category, old state, event, new state)``."""
    coverage.add(("wsk", sock.category._value_, old._name_, event, sock.state._name_))


def open_socket(w: Wsk, sock: WSK_SOCKET) -> None:
    """The socket now belongs to the client (created, or accepted through the event)."""
    w.sockets[sock.id] = sock
    if sock.client is not None:
        sock.client.registration.sockets.add(sock.id)


def signal_dead(w: Wsk, sock: WSK_SOCKET) -> None:
    """The client has been told the socket is dead (NULL indication, NULL accept socket or
    STATUS_FILE_FORCED_CLOSED): it must close it within the deadline (CONTRACTS B.11)."""
    if sock.dead_signalled:
        return
    sock.dead_signalled = True
    m = w.m
    m.call_later(w.settings.dead_socket_close_deadline_ns, _dead_deadline, w, sock, m.now)


def _dead_deadline(w: Wsk, sock: WSK_SOCKET, signalled_at: int) -> None:
    if sock.state >= State.CLOSING:
        return
    deadline = w.settings.dead_socket_close_deadline_ns
    w.m.report(
        "wsk.socket.dead_not_closed",
        f"socket #{sock.id} was signalled dead at t={signalled_at} ns and is still open "
        f"{deadline} ns later",
        objects={"socket": sock.id, "deadline_chosen_by":
                 fidelity.cite("wsk.dead_socket_close_deadline_ns")},
        location=sock.created_at,
    )


def finish_close(w: Wsk, sock: WSK_SOCKET) -> None:
    """Close completes: the fence after which no callback for the socket runs (C.18). Runs in
    the context that saw the last in-flight callback return, or in WskCloseSocket itself."""
    old = sock.state
    sock.state = State.CLOSED
    coverage = w.m.coverage
    if coverage is not None:
        cover_transition(coverage, sock, old, "close_done")
    w.sockets.pop(sock.id, None)
    w.network.forget(sock)
    irp = sock.close_irp
    sock.close_irp = None
    client = sock.client
    if client is not None:
        client.registration.socket_closed(sock.id)
    w.m.emit("wsk.close.done", sock.id)
    if irp is not None:
        irp_complete(w.m, irp, STATUS_SUCCESS, 0, pending_returned=True)
