"""Socket requests: WskBind, WskConnect, WskAccept, WskSend, WskReceive, WskDisconnect,
WskCloseSocket, WskRelease, WskGetLocalAddress / WskGetRemoteAddress, WskSendTo.

Every request follows one shape (:func:`_request`): a preemption point; the use-after-close
check (C.18); the required IRP taken with ``irp_begin`` (a refused call still completes it:
C.17); the body, counted as a call in progress on the socket; then completion - inline or pended
as the decision point chooses for requests that finish now, later from a DPC for those that wait
(a send waits for the peer's acknowledgement, C.14). Pending IRPs are remembered per socket so
that IoCancelIrp and WskCloseSocket can cancel them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from mock_wsk import fidelity
from mock_wsk import machine as _machine
from mock_wsk.constants import WSK_FLAG_ABORTIVE, WSK_FLAG_NODELAY, WSK_FLAG_WAITALL
from mock_wsk.kernel.irp import (
    irp_begin,
    irp_complete,
    irp_set_cancel_handler,
)
from mock_wsk.kernel.mdl import mdl_chain_acquire
from mock_wsk.status import (
    NT_SUCCESS,
    STATUS_ADDRESS_ALREADY_EXISTS,
    STATUS_CANCELLED,
    STATUS_CONNECTION_ABORTED,
    STATUS_CONNECTION_REFUSED,
    STATUS_CONNECTION_RESET,
    STATUS_FILE_FORCED_CLOSED,
    STATUS_INVALID_PARAMETER,
    STATUS_NOT_SUPPORTED,
    STATUS_PENDING,
    STATUS_SUCCESS,
)
from mock_wsk.verifier import stub_location
from mock_wsk.wsk import rules as _rules  # noqa: F401
from mock_wsk.wsk.core import Wsk
from mock_wsk.wsk.dispatch import consume, pump_receive
from mock_wsk.wsk.flows import open_transport
from mock_wsk.wsk.sockets import (
    NO_DICT,
    WSK_SOCKET,
    cover_transition,
    finish_close,
    open_socket,
    queue_of,
    signal_dead,
)
from mock_wsk.wsk.states import (
    Category,
    State,
    can_bind,
    can_connect,
    can_disconnect,
    can_receive,
    can_send,
)

# A body returns None (the request is pending: it completes later) or (status, information).
Body = Callable[..., tuple[int, Any] | None]


# Module constants for the hot path (an enum member read through its class costs a lookup).
_CLOSING = State.CLOSING
_CONNECTED = State.CONNECTED
_SEND_CATEGORIES = (Category.CONNECTION, Category.STREAM)


def _enter(Socket: Any, ddi: str) -> Wsk | None:
    """Preemption point and the C.18 use-after-close check. None: refuse the call."""
    m = _machine.active or _machine.active_machine()
    m.preemption_point()
    if not isinstance(Socket, WSK_SOCKET):
        raise TypeError(f"{ddi} needs a WSK_SOCKET (from WskSocket's IRP), got {Socket!r}")
    w = m.subsystem(Wsk)
    if Socket.state >= _CLOSING:
        _after_close(m, Socket, ddi)
        return None
    return w


def _after_close(m: Any, Socket: WSK_SOCKET, ddi: str) -> None:
    m.report("wsk.socket.use_after_close",
             f"{ddi} on socket #{Socket.id}, which is {Socket.state.name.lower()}",
             objects={"socket": Socket.id, "status_chosen_by": fidelity.cite("wsk.after_close")})


def _request(Socket: Any, ddi: str, Irp: Any, body: Body, *args: Any) -> int:
    """_enter, then the IRP, the body, completion."""
    w = _enter(Socket, ddi)
    if w is None:
        return int(fidelity.choose("wsk.after_close"))
    if Irp is None:
        return _irp_missing(w, Socket, ddi)
    if not irp_begin(w.m, Irp, ddi):
        return int(fidelity.choose("wsk.bad_irp"))
    Socket.calls += 1
    try:
        outcome = body(w, Socket, Irp, *args)
    finally:
        Socket.calls -= 1
    if outcome is None:
        return STATUS_PENDING
    status, information = outcome
    if not NT_SUCCESS(status):
        return w.fail(Irp, status)
    return w.finish(Irp, status, information)


def _irp_missing(w: Wsk, Socket: WSK_SOCKET, ddi: str) -> int:
    w.m.report("wsk.call.irp_required", f"{ddi} on socket #{Socket.id} without an IRP",
               objects={"socket": Socket.id,
                        "status_chosen_by": fidelity.cite("wsk.irp_required_missing")})
    return int(fidelity.choose("wsk.irp_required_missing"))


def bad_state(w: Wsk, sock: WSK_SOCKET, reason: str) -> tuple[int, Any]:
    w.m.report("wsk.call.bad_state", f"{reason} (socket #{sock.id})",
               objects={"socket": sock.id, "state": sock.state.name,
                        "status_chosen_by": fidelity.cite("wsk.bad_state")})
    return int(fidelity.choose("wsk.bad_state")), 0


def _broken(w: Wsk, sock: WSK_SOCKET) -> tuple[int, Any] | None:
    """A dead or aborted connection answers every data request the same way."""
    if sock.dead:
        signal_dead(w, sock)
        return STATUS_FILE_FORCED_CLOSED, 0
    if sock.aborted:
        return STATUS_CONNECTION_RESET, 0
    return None


# ---------------------------------------------------------------------- pending IRPs


def _pend(w: Wsk, sock: WSK_SOCKET, irp: Any) -> None:
    """Remember a pending IRP so that IoCancelIrp and WskCloseSocket can cancel it."""
    pend = sock.pend
    if pend is NO_DICT:  # the socket's first pending request (dict_of, inlined)
        pend = sock.pend = {}
    pend[irp] = None
    cancel = partial(_cancel, w, sock)  # a C partial: cheaper than a closure per request
    if not irp_set_cancel_handler(irp, cancel):
        cancel(irp)


# What pend.pop answers for an IRP that is not (or no longer) pending on the socket: None is
# the value of a pending request other than a send (a send's is its MDL use: see WskSend).
_NOT_PENDING = object()

# Where a cancelled request completes: a decision (fifo answers the first).
_CANCEL_LANDS = ("inline", "later")


def _cancel(w: Wsk, sock: WSK_SOCKET, cancelled: Any) -> None:
    """IoCancelIrp of a pending request (the provider's cancel handler).

    When the cancellation lands is a decision: inside IoCancelIrp, or later from a DPC, as a
    transport that must first take the request back does. IoCancelIrp only asks; in the second
    case it returns with the IRP still pending, and a driver that frees it then is caught
    (``irp.freed_after_cancel_before_completion``). A plain (fifo) run completes it inline.
    Either way the request is withdrawn at once (out of its queue, its MDL use released)."""
    entry = sock.pend.get(cancelled, _NOT_PENDING)
    if entry is _NOT_PENDING:
        return
    if entry is None:
        _forget(sock, cancelled)
    else:  # a send: its use is released (its acknowledgement, if it comes, finds it so)
        _release(entry)
    m = w.m
    if m.decide("cancel", _CANCEL_LANDS):
        # Still pending (a close or an abort that comes first completes it), nothing left to
        # do but complete it.
        sock.pend[cancelled] = None
        w.run_in_dpc(w.pick_cpu(sock.home_cpu), "WskCancelIrp", _land_cancel,
                     (w, sock, cancelled))
    else:
        del sock.pend[cancelled]
        irp_complete(m, cancelled, STATUS_CANCELLED, 0, pending_returned=True)


def _land_cancel(args: tuple[Wsk, WSK_SOCKET, Any]) -> None:
    w, sock, irp = args
    if sock.pend.pop(irp, _NOT_PENDING) is not _NOT_PENDING:
        irp_complete(w.m, irp, STATUS_CANCELLED, 0, pending_returned=True)


def _forget(sock: WSK_SOCKET, irp: Any) -> None:
    """Drop a cancelled IRP from whichever queue holds it (and its MDL use)."""
    for queue in (sock.receives, sock.accept_irps):
        for entry in list(queue):
            if entry[0] is irp:
                queue.remove(entry)
                _release_use(entry)


def _release_use(entry: tuple[Any, ...]) -> None:
    """Release the MDL use of a queued (irp, use, ...) entry, if it holds one."""
    _release(entry[1] if len(entry) > 1 else None)


def _release(use: Any) -> None:
    if use is not None and hasattr(use, "release") and not use.released:
        use.release(_machine.active_machine())


def _release_all(sock: WSK_SOCKET) -> None:
    """Every MDL use a socket's pending requests hold (receives, sends, accepts in order)."""
    for entry in list(sock.receives):
        _release_use(entry)
    for use in list(sock.pend.values()):  # a pending send's entry is its use (WskSend)
        _release(use)
    for entry in list(sock.accept_irps):
        _release_use(entry)


def complete_pending(w: Wsk, sock: WSK_SOCKET, irp: Any, status: int, information: Any = 0,
                     cpu: int | None = None) -> bool:
    """Complete a pended request from a DPC, unless it was cancelled meanwhile."""
    if sock.pend.pop(irp, _NOT_PENDING) is _NOT_PENDING:
        return False
    irp_set_cancel_handler(irp, None)
    if status == STATUS_FILE_FORCED_CLOSED:
        signal_dead(w, sock)
    w.complete_later(irp, status, information, sock.home_cpu if cpu is None else cpu)
    return True


def abort_requests(w: Wsk, sock: WSK_SOCKET, status: int) -> None:
    """The connection is gone (reset, local abort, dead): every pending request fails."""
    _release_all(sock)
    sock.receives.clear()
    sock.accept_irps.clear()
    for irp in list(sock.pend):
        complete_pending(w, sock, irp, status)
    if status != STATUS_FILE_FORCED_CLOSED:
        sock.aborted = True
        if sock.state < State.CLOSING:
            old = sock.state
            sock.state = State.DISCONNECTED
            coverage = w.m.coverage
            if coverage is not None:
                cover_transition(coverage, sock, old, "abort")
    if sock.transport is not None:
        sock.transport.abort()


# ---------------------------------------------------------------------- bind / connect / accept


def WskBind(Socket: Any, LocalAddress: Any, Flags: int, Irp: Any) -> int:
    return _request(Socket, "WskBind", Irp, _bind, LocalAddress)


def _bind(w: Wsk, sock: WSK_SOCKET, irp: Any, address: Any) -> tuple[int, Any]:
    reason = can_bind(sock.state)
    if reason:
        return bad_state(w, sock, reason)
    if not w.network.bind(sock, address):
        return STATUS_ADDRESS_ALREADY_EXISTS, 0
    old = sock.state
    sock.state = State.BOUND
    port = sock.local.sin_port
    if sock.category is Category.LISTEN:
        sock.state = State.LISTENING  # WSK listening sockets listen once bound
        w.network.listeners[port] = sock
    elif sock.category is Category.DATAGRAM:
        w.network.datagram_ports[port] = sock
    coverage = w.m.coverage
    if coverage is not None:
        cover_transition(coverage, sock, old, "bind")
    return STATUS_SUCCESS, 0


def WskListen(Socket: Any, Irp: Any) -> int:
    return _request(Socket, "WskListen", Irp, _listen)


def _listen(w: Wsk, sock: WSK_SOCKET, irp: Any) -> tuple[int, Any]:
    if sock.state is not State.BOUND:
        return bad_state(w, sock, f"WskListen on a {sock.state.name.lower()} stream socket")
    sock.stream_listens = True
    sock.state = State.LISTENING
    coverage = w.m.coverage
    if coverage is not None:
        cover_transition(coverage, sock, State.BOUND, "listen")
    w.network.listeners[sock.local.sin_port] = sock
    return STATUS_SUCCESS, 0


def connect_socket(w: Wsk, sock: WSK_SOCKET, peer: Any) -> None:
    """Join ``sock`` and ``peer``: connected, with a transport for its sends (whose ISB
    changes reach notify_isb through the connection open_transport registers)."""
    old = sock.state
    sock.state = State.CONNECTED
    coverage = w.m.coverage
    if coverage is not None:
        cover_transition(coverage, sock, old, "connected")
    sock.remote = peer.sockaddr
    sock.peer = peer
    peer.sock = sock
    sock.transport = open_transport(w, sock, peer)
    # sock.send_submit and send_cancel, the send callbacks, are made by the first WskSend: an
    # idle connection never needs them.


def WskConnect(Socket: Any, RemoteAddress: Any, Flags: int, Irp: Any) -> int:
    return _request(Socket, "WskConnect", Irp, _connect, RemoteAddress)


def _connect(w: Wsk, sock: WSK_SOCKET, irp: Any, remote: Any) -> None | tuple[int, Any]:
    reason = can_connect(sock.category, sock.state)
    if reason:
        return bad_state(w, sock, reason)
    old = sock.state
    sock.state = State.CONNECTING
    coverage = w.m.coverage
    if coverage is not None:
        cover_transition(coverage, sock, old, "connect")
    _pend(w, sock, irp)
    # fidelity: wsk.handshake_time
    w.m.call_later(w.settings.rtt_ns, _connect_done, w, sock, irp, w.network.peer_at(remote))
    return None


def _connect_done(w: Wsk, sock: WSK_SOCKET, irp: Any, peer: Any) -> None:
    if sock.state is not State.CONNECTING:
        return  # closed meanwhile (the IRP was cancelled)
    if peer is not None and peer.listen and peer.sock is None:
        connect_socket(w, sock, peer)
        peer._note(f"accepted a connection from socket #{sock.id}")
        complete_pending(w, sock, irp, STATUS_SUCCESS)
    else:
        sock.state = State.BOUND
        coverage = w.m.coverage
        if coverage is not None:
            cover_transition(coverage, sock, State.CONNECTING, "connect_refused")
        w.network.refused += 1
        complete_pending(w, sock, irp, STATUS_CONNECTION_REFUSED)


def WskAccept(ListenSocket: Any, Flags: int, AcceptSocketContext: Any,
              AcceptSocketDispatch: Any, LocalAddress: Any, RemoteAddress: Any,
              Irp: Any) -> int:
    return _request(ListenSocket, "WskAccept", Irp, _accept, AcceptSocketContext,
                    AcceptSocketDispatch, LocalAddress, RemoteAddress, stub_location())


def _accept(w: Wsk, sock: WSK_SOCKET, irp: Any, context: Any, dispatch: Any, local: Any,
            remote: Any, site: Any) -> None | tuple[int, Any]:
    if sock.state is not State.LISTENING:
        return bad_state(w, sock, f"WskAccept on a socket that is {sock.state.name.lower()}")
    entry = (irp, None, context, dispatch, local, remote, site)
    if sock.backlog:
        new = sock.backlog.popleft()
        _hand_over(w, new, entry)
        return STATUS_SUCCESS, new
    queue_of(sock, "accept_irps").append(entry)
    _pend(w, sock, irp)
    return None


def _hand_over(w: Wsk, new: WSK_SOCKET, entry: tuple[Any, ...]) -> None:
    """A connection taken with WskAccept: no callbacks inherited (A.6)."""
    _, _, context, dispatch, local, remote, site = entry
    new.context = context
    new.client_dispatch = dispatch
    new.created_at = site
    if local is not None:
        local.copy_from(new.local)
    if remote is not None:
        remote.copy_from(new.remote)
    open_socket(w, new)


def offer_to_accept(w: Wsk, listener: WSK_SOCKET, new: WSK_SOCKET) -> None:
    """A connection the accept callback did not take: a pending WskAccept, else the backlog."""
    while listener.accept_irps:
        entry = listener.accept_irps.popleft()
        if entry[0] in listener.pend:
            _hand_over(w, new, entry)
            complete_pending(w, listener, entry[0], STATUS_SUCCESS, new)
            return
    queue_of(listener, "backlog").append(new)


# ---------------------------------------------------------------------- send / receive


def WskSend(Socket: Any, Buffer: Any, Flags: int, Irp: Any) -> int:
    # _request's steps and the send body in one function: the hot path of every stream (each
    # call layer less is measurable per send). The dispatch table holds
    # WskSend itself (RECORDS_RETURN): it records call.return as traced_call's wrapper would.
    m = _machine.active
    if m is None or type(Socket) is not WSK_SOCKET:
        _enter(Socket, "WskSend")  # raises: no machine is running, or not a WSK_SOCKET
        raise TypeError(f"WskSend needs a WSK_SOCKET, got {Socket!r}")
    m.preemption_point()
    # The provider (m.subsystem(Wsk)) is looked up only by the paths that need it: a send that
    # goes to the transport does not.
    if Socket.state >= _CLOSING:
        _after_close(m, Socket, "WskSend")
        status = int(fidelity.choose("wsk.after_close"))
    elif Irp is None:
        status = _irp_missing(m.subsystem(Wsk), Socket, "WskSend")
    else:
        if not irp_begin(m, Irp, "WskSend"):
            status = int(fidelity.choose("wsk.bad_irp"))
        else:
            # The body, counted as a call in progress on the socket (C.18). A refused send
            # completes after the count drops (its completion routine may close the socket).
            outcome: tuple[int, Any] | None = None
            use: Any = None
            Socket.calls += 1
            try:
                if Socket.dead or Socket.aborted:
                    outcome = _broken(m.subsystem(Wsk), Socket)
                elif (Socket.state is not _CONNECTED or Socket.category not in _SEND_CATEGORIES) \
                        and (reason := can_send(Socket.category, Socket.state)):
                    outcome = bad_state(m.subsystem(Wsk), Socket, reason)
                elif Flags & WSK_FLAG_NODELAY and not Socket.transport.nodelay_supported:
                    outcome = STATUS_NOT_SUPPORTED, 0  # C.13: the transport refuses the flag
                elif Buffer is None:
                    outcome = STATUS_INVALID_PARAMETER, 0
                else:
                    length = Buffer.Length
                    use = mdl_chain_acquire(m, Buffer.Mdl, Buffer.Offset, length, "WskSend")
                    if use is None:
                        outcome = STATUS_INVALID_PARAMETER, 0
                if use is not None:
                    # Pending until the transport says the peer acknowledged it (send_acked);
                    # cancellable meanwhile. _pend, inlined: a send's entry is its MDL use,
                    # which carries the IRP and is the send's token in the transport (its
                    # acknowledgement comes back with it: no send id -> send table).
                    pend = Socket.pend
                    if pend is NO_DICT:  # the first request (dict_of, inlined: WSK_SOCKET)
                        pend = Socket.pend = {}
                    use.irp = Irp
                    pend[Irp] = use
                    submit = Socket.send_submit
                    if submit is None:  # the socket's first send (see connect_socket)
                        # Made once: the transport's submit bound to this socket's completion,
                        # and the IRPs' cancel handler (a C partial, not one per send).
                        w = m.subsystem(Wsk)
                        submit = Socket.send_submit = Socket.transport.sender(
                            _SendAcks(w, Socket).send_acked)
                        Socket.send_cancel = partial(_cancel, w, Socket)
                    if Irp.Cancel:  # irp_set_cancel_handler refuses: cancelled already
                        Socket.send_cancel(Irp)
                    else:
                        Irp._cancel_handler = Socket.send_cancel
                    submit(use, length)
            finally:
                Socket.calls -= 1
            if outcome is None:
                status = STATUS_PENDING
            else:
                status, information = outcome
                w = m.subsystem(Wsk)
                if not NT_SUCCESS(status):
                    status = w.fail(Irp, status)
                else:
                    status = w.finish(Irp, status, information)
    if m.trace is not None:  # what traced_call's wrapper records
        m.emit("call.return", "WskSend", status)
    return status


WskSend.RECORDS_RETURN = True  # type: ignore[attr-defined]  # see traced_call


class _SendAcks:
    """A socket's send-completion callback, :meth:`send_acked` bound (the transport's
    ``on_complete``): the interpreter runs a bound method's call in its own loop, where a
    ``partial`` of a function is a C call that starts another one (once per send)."""

    __slots__ = ("w", "sock")

    def __init__(self, w: Wsk, sock: WSK_SOCKET) -> None:
        self.w = w
        self.sock = sock

    def send_acked(self, use: Any, length: int) -> None:
        """The transport says the peer acknowledged all of a send (system context): the peer
        checks the stream's content token, and the IRP completes from a DPC with the bytes
        sent in IoStatus.Information (C.14). ``use`` is the send's MDL use (its token: see
        WskSend)."""
        if use.released:
            return  # cancelled or aborted meanwhile (that released the use and forgot the IRP)
        irp = use.irp
        sock = self.sock
        if use.dirty:
            # The bytes on the wire are not the ones the driver passed: the peer sees
            # corruption (fidelity: wsk.send_corruption; the rule was reported at the write or
            # free).
            sock.transport.corrupt_sends += 1
        w = self.w
        m = w.m
        use.release(m)
        peer = sock.peer
        if peer is not None:
            peer.received(length, use.digest)
        # complete_pending, inlined for the one status a send completes with here. The IRP is
        # pending with this use as its entry: whatever forgets it releases the use first.
        del sock.pend[irp]
        irp._cancel_handler = None  # irp_set_cancel_handler(irp, None)
        # Wsk.complete_later on the socket's CPU, inlined (one per send).
        pool = w._completion_dpcs
        m.queue_dpc(sock.home_cpu, pool.pop() if pool else w.new_completion_dpc(), irp,
                    (STATUS_SUCCESS, length))


def WskReceive(Socket: Any, Buffer: Any, Flags: int, Irp: Any) -> int:
    return _request(Socket, "WskReceive", Irp, _receive, Buffer, Flags)


def _receive(w: Wsk, sock: WSK_SOCKET, irp: Any, buf: Any,
             flags: int) -> None | tuple[int, Any]:
    broken = _broken(w, sock)
    if broken:
        return broken
    reason = can_receive(sock.category, sock.state)
    if reason:
        return bad_state(w, sock, reason)
    if buf is None:
        return STATUS_INVALID_PARAMETER, 0
    use = mdl_chain_acquire(w.m, buf.Mdl, buf.Offset, buf.Length, "WskReceive", watch=False)
    if use is None:
        return STATUS_INVALID_PARAMETER, 0
    length = buf.Length
    if not sock.receives and (sock.rx_bytes >= length or (sock.rx_bytes and not
                                                         flags & WSK_FLAG_WAITALL)):
        taken = min(length, sock.rx_bytes)
        consume(sock, taken)
        use.release(w.m)
        _resume_indications(w, sock)
        return STATUS_SUCCESS, taken
    queue_of(sock, "receives").append((irp, use, length, flags))
    _pend(w, sock, irp)
    satisfy_receives(w, sock)
    return None


def satisfy_receives(w: Wsk, sock: WSK_SOCKET) -> None:
    """Fill posted WskReceive requests from buffered data (WSK_FLAG_WAITALL waits for a full
    buffer, the peer's close or an abort)."""
    served = False
    while sock.receives:
        irp, use, length, flags = sock.receives[0]
        available = sock.rx_bytes
        if available:
            if available < length and flags & WSK_FLAG_WAITALL and not sock.peer_closed:
                break
            taken = min(length, available)
            consume(sock, taken)
        elif sock.peer_closed:
            taken = 0  # graceful close: the receive completes with 0 bytes
        else:
            break
        sock.receives.popleft()
        use.release(w.m)
        complete_pending(w, sock, irp, STATUS_SUCCESS, taken)
        served = True
    if served:
        _resume_indications(w, sock)


def _resume_indications(w: Wsk, sock: WSK_SOCKET) -> None:
    """A WskReceive was served: indications stopped by DATA_NOT_ACCEPTED resume (fidelity
    ``wsk.receive_event_reindication``)."""
    if sock.paused:
        sock.paused = False
        if sock.rx is not None and not sock.receives:
            pump_receive(w, sock)


def WskRelease(Socket: Any, DataIndication: Any) -> int:
    w = _enter(Socket, "WskRelease")
    if w is None:
        return int(fidelity.choose("wsk.after_close"))
    if Socket.retained.pop(id(DataIndication), None) is None:
        w.m.report("wsk.release.not_retained",
                   f"WskRelease on socket #{Socket.id} of an indication list it does not retain",
                   objects={"socket": Socket.id})
    return STATUS_SUCCESS


def WskSendTo(Socket: Any, Buffer: Any, Flags: int, RemoteAddress: Any, ControlInfoLength: int,
              ControlInfo: Any, Irp: Any) -> int:
    return _request(Socket, "WskSendTo", Irp, _send_to, Buffer, RemoteAddress)


def _send_to(w: Wsk, sock: WSK_SOCKET, irp: Any, buf: Any, remote: Any) -> tuple[int, Any]:
    if sock.state is not State.BOUND:
        return bad_state(w, sock, "WskSendTo on a datagram socket that is not bound")
    if buf is None or remote is None:
        return STATUS_INVALID_PARAMETER, 0
    use = mdl_chain_acquire(w.m, buf.Mdl, buf.Offset, buf.Length, "WskSendTo", watch=False)
    if use is None:
        return STATUS_INVALID_PARAMETER, 0
    use.release(w.m)  # a datagram leaves at once: UDP keeps no copy and waits for nothing
    peer = w.network.peer_at(remote)
    if peer is not None:
        peer.datagrams_received += 1
        peer.received(buf.Length, use.digest)
    return STATUS_SUCCESS, buf.Length


# ---------------------------------------------------------------------- addresses


def WskGetLocalAddress(Socket: Any, LocalAddress: Any, Irp: Any) -> int:
    return _request(Socket, "WskGetLocalAddress", Irp, _get_address, LocalAddress, "local")


def WskGetRemoteAddress(Socket: Any, RemoteAddress: Any, Irp: Any) -> int:
    return _request(Socket, "WskGetRemoteAddress", Irp, _get_address, RemoteAddress, "remote")


def _get_address(w: Wsk, sock: WSK_SOCKET, irp: Any, out: Any, which: str) -> tuple[int, Any]:
    address = sock.local if which == "local" else sock.remote
    if address is None:
        return bad_state(w, sock, f"WskGet{which.capitalize()}Address on a socket that is "
                         f"{'not bound' if which == 'local' else 'not connected'}")
    if out is None:
        return STATUS_INVALID_PARAMETER, 0
    out.copy_from(address)
    return STATUS_SUCCESS, 0


# ---------------------------------------------------------------------- disconnect / close


def WskDisconnect(Socket: Any, Buffer: Any, Flags: int, Irp: Any) -> int:
    return _request(Socket, "WskDisconnect", Irp, _disconnect, Buffer, Flags)


def _disconnect(w: Wsk, sock: WSK_SOCKET, irp: Any, buf: Any,
                flags: int) -> None | tuple[int, Any]:
    broken = _broken(w, sock)
    if broken:
        return broken
    reason = can_disconnect(sock.state)
    if reason:
        return bad_state(w, sock, reason)
    peer = sock.peer
    if flags & WSK_FLAG_ABORTIVE:
        abort_requests(w, sock, STATUS_CONNECTION_ABORTED)
        if peer is not None:
            peer._note("reset by the driver")
            peer.sock = None
        return STATUS_SUCCESS, 0
    if buf is not None and buf.Length and peer is not None:
        use = mdl_chain_acquire(w.m, buf.Mdl, buf.Offset, buf.Length, "WskDisconnect")
        if use is None:
            return STATUS_INVALID_PARAMETER, 0
        use.release(w.m)
        peer.received(buf.Length, use.digest)
    old = sock.state
    sock.state = State.DISCONNECTED if sock.peer_closed else State.DISCONNECTING
    coverage = w.m.coverage
    if coverage is not None:
        cover_transition(coverage, sock, old, "disconnect")
    if peer is not None:
        peer._note("graceful close by the driver")
    # The FIN is acknowledged one round trip later.
    _pend(w, sock, irp)
    w.m.call_later(w.settings.rtt_ns, complete_pending, w, sock, irp, STATUS_SUCCESS, 0)
    return None


def WskCloseSocket(Socket: Any, Irp: Any) -> int:
    """Cancel pending requests; complete once no callback is in flight (the C.18 fence)."""
    w = _enter(Socket, "WskCloseSocket")
    if w is None:
        return int(fidelity.choose("wsk.after_close"))
    m = w.m
    if Socket.calls:
        m.report("wsk.socket.call_during_close",
                 f"WskCloseSocket on socket #{Socket.id} while {Socket.calls} other call(s) on "
                 "it are in progress", objects={"socket": Socket.id})
    if Irp is None:
        m.report("wsk.call.irp_required", f"WskCloseSocket on socket #{Socket.id} without an IRP",
                 objects={"socket": Socket.id,
                          "status_chosen_by": fidelity.cite("wsk.irp_required_missing")})
        return int(fidelity.choose("wsk.irp_required_missing"))
    if not irp_begin(w.m, Irp, "WskCloseSocket"):
        return int(fidelity.choose("wsk.bad_irp"))
    old = Socket.state
    Socket.state = State.CLOSING
    coverage = m.coverage
    if coverage is not None:
        cover_transition(coverage, Socket, old, "close")
    Socket.events.close()
    m.emit("wsk.close", Socket.id)
    if Socket.receives or Socket.pend or Socket.accept_irps:  # most closes have none
        _release_all(Socket)
        Socket.receives.clear()
        Socket.accept_irps.clear()
        for irp in list(Socket.pend):
            del Socket.pend[irp]
            irp_set_cancel_handler(irp, None)
            irp_complete(m, irp, STATUS_CANCELLED, 0, pending_returned=True)
    if Socket.backlog:
        for waiting in Socket.backlog:
            w.network.reject(waiting)
        Socket.backlog.clear()
    if Socket.events.total_in_flight:
        Socket.close_irp = Irp  # completes when the last callback returns (dispatch._call)
        return STATUS_PENDING
    finish_close(w, Socket)
    return w.finish(Irp, STATUS_SUCCESS, 0)


def unmodelled(name: str) -> Callable[..., int]:
    """A documented member the mock does not model: a definite, honest answer."""

    def call(Socket: Any, *args: Any) -> int:
        irp = args[-1] if args else None
        w = _enter(Socket, name)
        if w is None:
            return int(fidelity.choose("wsk.after_close"))
        status = int(fidelity.choose("wsk.unmodelled_call"))
        if irp is not None and hasattr(irp, "IoStatus") and irp_begin(w.m, irp, name):
            return w.fail(irp, status)
        return status

    call.__name__ = name
    return call
