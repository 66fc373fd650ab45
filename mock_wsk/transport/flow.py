"""A deterministic, sans-IO fluid model of one TCP connection's send direction.

Why this exists
---------------
WSK keeps no copy of send data: a ``WskSend`` IRP completes only when TCP no longer needs the
caller's buffer, i.e. when the peer has acknowledged its last byte. So the queue of pending
``WskSend`` requests *is* TCP's send buffer, and a driver's throughput depends on how much it keeps
outstanding compared to the ideal send backlog (ISB). This module answers the two questions the
provider needs: *when does each send complete?* and *what is the ISB, and when did it change?*

It has no clock and performs no I/O. The caller owns virtual time (integer nanoseconds) and calls
:meth:`TcpFlow.submit`, :meth:`TcpFlow.advance`, :meth:`TcpFlow.set_params`, :meth:`TcpFlow.loss`
and :meth:`TcpFlow.abort` with non-decreasing ``now`` values; :meth:`TcpFlow.next_event_time`
says when ``advance`` next has something to do. All quantities are integers (bytes,
nanoseconds, bits per second); every rate division is an explicit floor (bytes moved in a time)
or ceiling (time needed for some bytes), so a run is identical on every platform.

The model (the choices below belong in the project's fidelity table)
--------------------------------------------------------------------
*Link and acknowledgements.* Released data is carried by a FIFO link of rate ``C``
(``bandwidth_bps``) in **chunks**; a chunk's last byte leaves the link at ``tx_end`` and the
chunk is acknowledged, as a unit, at ``tx_end + RTT`` (``RTT`` = the value in force when the chunk
was put on the link). Acknowledgements are cumulative, so ack times are forced non-decreasing
(an RTT decrease compresses acks instead of reordering them). There is no bottleneck queue in the
path: data released beyond what the link carries waits at the sender (like a NIC queue), so
``inflight`` (released and not acknowledged) can exceed ``BDP`` and then the effective RTT grows.

*Chunks, not packets.* A chunk is a piece of one send, as large as the window allows but at most
``max(4 * MSS, BDP / 32)``: big enough that work is per send (a 64 KiB send is one chunk on any
fast path), small enough that acknowledging a whole chunk at once costs at most 1/32 of an RTT of
ack-clock precision. A sender-side silly-window rule (RFC 1122) never splits a send into a piece
smaller than ``min(MSS, R / 2)``: with a nearly closed window the sender waits for the next
acknowledgement or window update instead of trickling bytes. A send completes, with its full
length, when its last chunk is acknowledged; completions are strictly FIFO.

*Congestion control* (RFC 5681 Reno, evaluated once per round = once per window of data):
``cwnd`` starts at ``IW = initial_window_segments * MSS`` (RFC 6928). A round starts when data is
released and ends when everything in flight at its start is acknowledged. At a round's end, if
the round was *cwnd-validated* (RFC 7661: the largest flight during the round was at least
``cwnd / 2``), ``cwnd`` grows by the bytes acknowledged in the round while ``cwnd < ssthresh``
(slow start: doubling per round, capped at ``ssthresh``) and by ``MSS * acked / cwnd`` otherwise
(congestion avoidance: about one MSS per RTT, exact integer accumulator). An application-limited
round does not grow ``cwnd``; idle periods do not reset it. **Initial ssthresh is infinite**
(RFC 5681: "arbitrarily high"): slow start lasts until the first loss, and RFC 7661 validation
bounds ``cwnd`` to about twice the largest flight the application or receiver allows. Within a
round the window is ack-clocked (an acknowledged byte lets one new byte go); growth is applied at
the round boundary, which is the coarse but deterministic slow-start approximation.

*Loss.* :meth:`TcpFlow.loss` (scripted) or the random loss process: ``ssthresh = max(FlightSize /
2, 2 * MSS)`` and ``cwnd = ssthresh`` (``cwnd = MSS`` for a retransmission timeout), with
``FlightSize`` the bytes in flight (``cwnd`` if nothing is in flight: a loss while idle hits the
next window). The retransmission is acknowledged ``MSS / C + RTT`` after the loss, and the
cumulative ACK cannot pass the hole before that, so completions stall for about one RTT (no SACK
pipe accounting). No growth in the recovery round. Random loss: ``loss_rate_ppm`` is a
per-segment probability; at each round end one congestion event is drawn with probability
``min(1, segments_in_round * ppm / 10**6)`` from ``random.Random(seed)`` (integer draw), i.e. at
most one congestion event per round, as RFC 5681 counts multiple losses in one window.

*Receiver.* A buffer of ``receive_window`` bytes (``R``); data enters it when it is acknowledged
(the RTT/2 lag of the window advertisement is folded into the ack time) and the application reads
it at ``read_rate_bps`` (unbounded if ``None``). ``rwnd = max(0, R - unread)``. The sender is
limited by ``W = min(cwnd, rwnd)``. While unread data exists, window updates are modelled as
events each time the reader has drained ``max(2 * MSS, R / 32)`` bytes (receiver silly-window
avoidance at chunk granularity), which release blocked data and re-evaluate the ISB. A slow
reader therefore fills the buffer, ``rwnd`` shrinks to about ``r * RTT`` and throughput converges
to the read rate ``r``.

*Ideal send backlog.* ``target = min(BDP, rwnd, max(cwnd, IW))`` with ``BDP = C * RTT`` from the
configured path, rounded **up** to a multiple of ``isb_quantum`` (0 means MSS), then capped at
16 MiB and at ``memory_cap`` (the caps win over the rounding). The published ISB (:attr:`isb`,
what QUERY returns and what notifications carry) moves to the target only when ``|target - isb|
> isb_hysteresis_pct % of isb`` and by more than one quantum (a one-quantum step is rounding
noise when the ISB is a few MSS); any change to or from 0, and any drop forced by a lowered
``memory_cap``, always counts. With ``isb_hysteresis_pct = 0`` every quantized change counts.
Each move is one :class:`IsbChanged`. The target is re-evaluated at round ends, losses,
parameter changes and window updates -- never per byte. **Default hysteresis 25 %**: slow start
doubles per round, so a driver sees one notification per round of slow start (about
``log2(BDP / IW)`` of them), one for a loss (-50 %) or a bandwidth/RTT step, and no chatter from
the receive window's fluctuation or the MSS-per-RTT creep of congestion avoidance (which is
reported each time it adds up to 25 %). Because a send completes only when its last byte is
acknowledged, a driver keeping exactly ``ISB = BDP`` outstanding in sends of ``S`` bytes gets
about ``ceil(ISB / S) * S / (RTT + S / C)``: 99 % of 1 Gb/s x 40 ms with 64 KiB sends, but 93 %
of 100 Mb/s x 40 ms, where one send takes 5 ms on the wire.

*Not modelled.* Nagle and delayed ACKs (``nodelay_supported`` only tells the provider whether
``WSK_FLAG_NODELAY`` is accepted), pacing, SACK recovery, RTO timers of its own, reordering.

Performance: a send that fits the window costs O(1) tuple work on submit and on completion; all
other events are per round, per window update or per parameter change.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, fields, replace
from typing import Any, NamedTuple

__all__ = [
    "ISB_MAX",
    "FlowClosedError",
    "FlowParams",
    "IsbChanged",
    "SendCompleted",
    "TcpFlow",
]

#: The documented ceiling of the ideal send backlog ("0 to a maximum of 16 megabytes").
ISB_MAX = 16 * 1024 * 1024

# bytes = ns * bps // _D and ns = ceil(bytes * _D / bps): 8 bits per byte, 10**9 ns per second.
_D = 8_000_000_000
# "Arbitrarily high" initial ssthresh; an int so comparisons stay integer.
_INFINITE = 1 << 62
# A chunk is at most BDP / _CHUNKS_PER_BDP (and at least _MIN_CHUNK_SEGMENTS * MSS).
_CHUNKS_PER_BDP = 32
_MIN_CHUNK_SEGMENTS = 4
# Receiver window updates every max(2 * MSS, R / _WINDOW_UPDATES_PER_R) bytes read.
_WINDOW_UPDATES_PER_R = 32
_PPM = 1_000_000

_tuple_new = tuple.__new__


class _NoQueue(tuple[Any, ...]):
    """The queue of a flow that has not sent yet: empty, immutable, shared by every flow.

    Reads (truthiness, ``len``, iteration) and ``clear()`` behave as on an empty deque; only
    :meth:`TcpFlow.submit` adds, and it gives the flow its own deque first. Two empty deques
    cost ~1.5 KB, and 10,000 idle connections must stay within 2 KiB each.
    """

    __slots__ = ()

    def clear(self) -> None:
        pass


_NO_QUEUE: Any = _NoQueue()


class FlowClosedError(RuntimeError):
    """Raised by :meth:`TcpFlow.submit` after :meth:`TcpFlow.abort`: the connection is gone."""


@dataclass(slots=True)
class FlowParams:
    """Path, receiver and ISB-policy parameters of one TCP connection (integers only)."""

    bandwidth_bps: int
    """Bottleneck link rate in bits per second."""
    rtt_ns: int
    """Round-trip propagation delay in nanoseconds."""
    mss: int = 1460
    receive_window: int = 4 * 1024 * 1024
    """Receiver buffer ``R``: the largest window the receiver advertises."""
    read_rate_bps: int | None = None
    """Receiving application's read rate in bits per second; ``None`` = reads instantly."""
    initial_window_segments: int = 10
    """``IW`` in MSS (RFC 6928); only used when the flow is created."""
    isb_quantum: int = 0
    """ISB granularity in bytes; 0 means one MSS. The ISB is rounded up to a multiple."""
    isb_hysteresis_pct: int = 25
    """Publish a new ISB only when it differs from the published one by more than this %."""
    memory_cap: int | None = None
    """Memory-pressure ceiling on the ISB (bytes); ``None`` = no pressure."""
    loss_rate_ppm: int = 0
    """Per-segment loss probability in parts per million (drawn once per round)."""
    nodelay_supported: bool = True
    """Whether the transport accepts ``WSK_FLAG_NODELAY`` (no timing effect in the model)."""

    def __post_init__(self) -> None:
        """Reject values the model cannot give a meaning to, at the place they were set."""
        if self.bandwidth_bps <= 0:
            raise ValueError(f"bandwidth_bps must be > 0, got {self.bandwidth_bps}")
        if self.rtt_ns <= 0:
            raise ValueError(f"rtt_ns must be > 0, got {self.rtt_ns}")
        if self.mss <= 0:
            raise ValueError(f"mss must be > 0, got {self.mss}")
        if self.receive_window < 0:
            raise ValueError(f"receive_window must be >= 0, got {self.receive_window}")
        if self.read_rate_bps is not None and self.read_rate_bps < 0:
            raise ValueError(f"read_rate_bps must be >= 0 or None, got {self.read_rate_bps}")
        if self.initial_window_segments <= 0:
            raise ValueError(
                f"initial_window_segments must be > 0, got {self.initial_window_segments}"
            )
        if self.isb_quantum < 0:
            raise ValueError(f"isb_quantum must be >= 0, got {self.isb_quantum}")
        if self.isb_hysteresis_pct < 0:
            raise ValueError(f"isb_hysteresis_pct must be >= 0, got {self.isb_hysteresis_pct}")
        if self.memory_cap is not None and self.memory_cap < 0:
            raise ValueError(f"memory_cap must be >= 0 or None, got {self.memory_cap}")
        if not 0 <= self.loss_rate_ppm <= _PPM:
            raise ValueError(f"loss_rate_ppm must be in 0..{_PPM}, got {self.loss_rate_ppm}")


_PARAM_NAMES = frozenset(f.name for f in fields(FlowParams))
_PARAM_ORDER = tuple(f.name for f in fields(FlowParams))

# Interned parameter sets: field values -> (a private FlowParams, the values _load_params
# caches). Flows with equal parameters share one FlowParams and the same derived int objects:
# 10,000 connections on one link would otherwise hold 10,000 copies (~250 bytes each). Safe
# because a flow never mutates its ``_p`` (set_params replaces it) and hands out only copies.
# Bounded: past _SHARED_MAX distinct sets the table starts over (sharing is only a saving).
_SHARED: dict[tuple[object, ...], tuple[FlowParams, tuple[int, ...]]] = {}
_SHARED_MAX = 1024


def _shared_params(params: FlowParams) -> tuple[FlowParams, tuple[int, ...]]:
    """The interned copy of ``params`` and its derived values (see ``_SHARED``)."""
    values = [getattr(params, name) for name in _PARAM_ORDER]
    key = (*values, *map(type, values))  # 1e7 == 10**7 and True == 1: types keep them apart
    entry = _SHARED.get(key)
    if entry is None:
        p = replace(params)  # our own copy: the caller's object may be reused
        bdp = p.bandwidth_bps * p.rtt_ns // _D
        derived = (
            p.initial_window_segments * p.mss,  # iw
            p.isb_quantum or p.mss,  # quantum
            bdp,
            max(_MIN_CHUNK_SEGMENTS * p.mss, bdp // _CHUNKS_PER_BDP),  # max_chunk
            max(2 * p.mss, p.receive_window // _WINDOW_UPDATES_PER_R),  # wu_gran
            max(1, min(p.mss, p.receive_window // 2)),  # sws
        )
        if len(_SHARED) >= _SHARED_MAX:
            _SHARED.clear()
        entry = _SHARED[key] = (p, derived)
    return entry


def shared_params(params: FlowParams) -> FlowParams:
    """The interned copy of ``params`` a flow built from it would share (never mutate it)."""
    return _shared_params(params)[0]


class SendCompleted(NamedTuple):
    """A send's last byte was acknowledged at ``time_ns``: complete its IRP with ``length``."""

    time_ns: int
    send_id: Any  # the owner's token for the send, opaque to the flow (never None)
    length: int


class IsbChanged(NamedTuple):
    """The published ideal send backlog moved from ``old`` to ``new`` at ``time_ns``."""

    time_ns: int
    old: int
    new: int


FlowEvent = SendCompleted | IsbChanged


class TcpFlow:
    """The send direction of one TCP connection; see the module docstring for the model.

    Guarantees: completions are returned in submission order with non-decreasing times, each
    send exactly once with its own length; events come out of :meth:`advance` in time order;
    ``sent_by_driver == acknowledged + inflight + queued + abandoned`` after every call; the same
    parameters, seed and call sequence give the same events.
    """

    # The fields submit, advance and next_event_time read on every send come first, together:
    # slots are laid out in this order, and with thousands of connections each event's flow is
    # cold, so a few adjacent cache lines instead of fields spread over the whole object.
    # FlowDriver (link.py), this model's clock binding, reads ``_acked``, ``_submitted`` and
    # ``_closed`` directly once per wake-up (the acknowledged / outstanding / closed properties
    # would be three calls more per acknowledgement).
    __slots__ = (
        # hot: every send and acknowledgement
        "_now", "_closed", "_outbox", "_flight", "_unsent", "_wu_time", "_r", "_ack_floor",
        "_submitted", "_released", "_acked", "_link_free", "_tail_ack",
        "_round_end", "_round_start_acked", "_round_max", "_round_t",
        "_max_chunk", "_fast_win", "_dur_len", "_dur_val", "_rtt", "_bps", "_n_sends",
        # every round end (with one send in flight, every acknowledgement): growth and the ISB
        "_n_rounds", "_ppm", "_round_growth_ok", "_cwnd", "_ssthresh", "_ca_acc", "_mss",
        "_R", "_iw", "_bdp", "_quantum", "_cap", "_isb", "_hyst",
        # the rest
        "_p", "_wu_gran", "_sws", "_abandoned", "_rd_t", "_rd_b", "_rng", "_seed",
        "_n_general", "_n_chunks", "_n_losses", "_n_isb", "_n_window_updates", "_aborted_sends",
    )  # fmt: skip

    def __init__(self, params: FlowParams, now_ns: int = 0, seed: int = 0) -> None:
        self._dur_len: int = -1
        self._dur_val: int = 0
        self._load_params(params)
        self._now = now_ns
        self._submitted = 0  # sent_by_driver: stream offset after the last submitted byte
        self._released = 0  # snd_nxt: bytes handed to the link
        self._acked = 0  # snd_una: bytes cumulatively acknowledged
        self._abandoned = 0
        self._closed = False
        # Sends not yet fully released: [send_id, bytes not yet released, length].
        # Both queues are the shared _NO_QUEUE (see _NoQueue) until needed - _flight until the
        # first submit, _unsent until the first send that cannot go at once (many flows never
        # queue one: then the "anything queued?" test of every send and acknowledgement reads
        # the shared, cache-hot empty queue) - and again after abort: only submit appends to
        # _unsent, and nothing reaches _flight without a submit (release, retime and
        # zero-length sends all start from one).
        self._unsent: deque[list[Any]] = _NO_QUEUE
        # Released chunks, oldest first: (ack_ns, end_offset, tx_end_ns, send_id|None, length).
        self._flight: deque[tuple[int, int, int, Any, int]] = _NO_QUEUE
        self._link_free = now_ns
        self._tail_ack = now_ns
        self._ack_floor = now_ns
        self._cwnd = self._iw
        self._fast_win = -1
        self._ssthresh = _INFINITE
        self._ca_acc = 0
        self._round_end = 0
        self._round_start_acked = 0
        self._round_max = 0
        self._round_growth_ok = True
        self._round_t = now_ns
        self._rd_t = now_ns  # reader reference point: read(t) = rd_b + (t - rd_t) * r // _D
        self._rd_b = 0
        self._wu_time: int | None = None
        # Events produced outside advance (submit, set_params, loss), returned by the next
        # advance. The shared empty _NO_QUEUE until something is produced (_out): most flows
        # never produce one between advances, and an idle connection must stay small.
        self._outbox: list[FlowEvent] = _NO_QUEUE
        # Created at the first random-loss draw: a Mersenne Twister is ~3 KB, and most flows
        # never draw (10,000 idle connections must stay cheap). Same sequence either way.
        self._rng: random.Random | None = None
        self._seed = seed
        self._n_sends = 0
        self._n_general = 0  # sends that took the general path (the others are one chunk each)
        self._n_chunks = 0  # chunks made by the general path
        self._n_rounds = 0
        self._n_losses = 0
        self._n_isb = 0
        self._n_window_updates = 0
        self._aborted_sends = 0
        self._refresh_fast_win()
        self._isb = self._isb_target(now_ns)  # the initial value is published silently

    # ------------------------------------------------------------------ public API

    def submit(self, now_ns: int, send_id: Any, length: int) -> int:
        """A ``WskSend`` of ``length`` bytes enters the FIFO at ``now_ns``; returns the bytes
        outstanding now (:attr:`outstanding`, which the caller would read next anyway).

        Events due at or before ``now_ns`` are processed first (their outputs wait for the next
        :meth:`advance`), so the send queues behind everything that already happened.
        """
        if now_ns < self._now or length < 0 or self._closed:
            self._reject_submit(now_ns, send_id, length)
        flight = self._flight
        if flight is _NO_QUEUE:  # the first send: the flow gets its own flight queue now
            flight = self._flight = deque()
        wu = self._wu_time
        if (flight and flight[0][0] <= now_ns) or (wu is not None and wu <= now_ns):
            self._process(now_ns, self._out())
        self._now = now_ns
        self._n_sends += 1
        end = self._submitted + length
        self._submitted = end
        acked = self._acked
        if self._unsent or not 0 < length <= self._max_chunk or end - acked > self._fast_win:
            self._n_general += 1
            unsent = self._unsent
            if unsent is _NO_QUEUE:  # the first send that waits: its own queue now
                unsent = self._unsent = deque()
            unsent.append([send_id, length, length])
            self._release(now_ns)
            return end - acked
        # Fast path: nothing queued, the whole send fits the window and is one chunk.
        if length == self._dur_len:
            dur = self._dur_val
        else:
            dur = -(-length * _D // self._bps)
            self._dur_len = length
            self._dur_val = dur
        lf = self._link_free
        tx_end = (now_ns if lf < now_ns else lf) + dur
        ack = tx_end + self._rtt
        if ack < self._tail_ack:
            ack = self._tail_ack
        self._tail_ack = ack
        self._link_free = tx_end
        self._released = end
        flight.append((ack, end, tx_end, send_id, length))
        if self._round_end <= acked:
            self._round_end = end
            self._round_start_acked = acked
            self._round_max = end - acked
            self._round_t = now_ns
        else:
            if now_ns == self._round_t:  # released at the instant the round began: part of it
                self._round_end = end
            if end - acked > self._round_max:
                self._round_max = end - acked
        return end - acked

    def next_event_time(self) -> int | None:
        """When :meth:`advance` next has something to do (``None``: nothing until a call)."""
        if self._outbox:
            return self._now
        flight = self._flight
        wu = self._wu_time
        if flight:
            t = flight[0][0]
            if t < self._ack_floor:
                t = self._ack_floor
            if wu is not None and wu < t:
                return wu
            return t
        return wu

    def advance(self, now_ns: int) -> list[SendCompleted | IsbChanged]:
        """Process everything due at or before ``now_ns``; return the events in time order."""
        if now_ns < self._now:
            raise ValueError(f"time went backwards: {now_ns} < {self._now}")
        out = self._outbox
        if out is _NO_QUEUE:
            out = []
        else:
            self._outbox = _NO_QUEUE
        flight = self._flight
        if flight and flight[0][0] <= now_ns:
            if self._r is None:
                # Hot path, inlined from _process: plain acknowledgements inside a round with
                # nothing queued. Anything else (round end, queued data) goes to _process.
                floor = self._ack_floor
                popleft = flight.popleft
                append = out.append
                while flight:
                    head = flight[0]
                    t = head[0]
                    if t < floor:
                        t = floor
                    if t > now_ns:
                        break
                    end = head[1]
                    if end >= self._round_end or self._unsent:
                        self._process(now_ns, out)
                        break
                    popleft()
                    self._acked = end
                    if head[3] is not None:
                        append(_tuple_new(SendCompleted, (t, head[3], head[4])))
            else:
                self._process(now_ns, out)
        elif self._wu_time is not None and self._wu_time <= now_ns:
            self._process(now_ns, out)
        self._now = now_ns
        return out

    def set_params(self, now_ns: int, **changes: object) -> None:
        """Change the path, receiver or ISB policy at ``now_ns`` (a timeline event).

        Bandwidth and RTT changes apply to every byte not yet fully on the wire (the link queue
        is re-timed); bytes already on the wire keep their acknowledgement time. After creation a
        new ``initial_window_segments`` only moves the ISB's ``IW`` floor. Resulting ISB
        notifications are returned by the next :meth:`advance`.
        """
        unknown = set(changes) - _PARAM_NAMES
        if unknown:
            raise TypeError(f"unknown flow parameter(s): {', '.join(sorted(unknown))}")
        if now_ns < self._now:
            raise ValueError(f"time went backwards: {now_ns} < {self._now}")
        new_params = replace(self._p, **changes)  # type: ignore[arg-type]  # validates
        self._catch_up(now_ns)
        self._now = now_ns
        if self._r is not None:  # freeze the reader's progress under the old rate
            read = self._read_at(now_ns)
            self._rd_t = now_ns
            self._rd_b = read
        elif new_params.read_rate_bps is not None:  # an instant reader has read everything
            self._rd_t = now_ns
            self._rd_b = self._acked
        old_bps = self._bps
        old_rtt = self._rtt
        self._load_params(new_params)
        self._refresh_fast_win()
        if self._closed:
            return
        if self._bps != old_bps or self._rtt != old_rtt:
            self._retime(now_ns, old_bps)
        self._release(now_ns)
        self._publish(now_ns, self._out())
        self._schedule_wu(now_ns)

    def loss(self, now_ns: int, *, timeout: bool = False) -> None:
        """A scripted congestion event at ``now_ns`` (RFC 5681; ``timeout``: an RTO).

        Resulting ISB notifications are returned by the next :meth:`advance`.
        """
        if now_ns < self._now:
            raise ValueError(f"time went backwards: {now_ns} < {self._now}")
        self._catch_up(now_ns)
        self._now = now_ns
        if self._closed:
            return
        self._apply_loss(now_ns, timeout, self._out())

    def abort(self, now_ns: int) -> list[int]:
        """Forced close or reset at ``now_ns``: return the ids of sends still pending, in order.

        The caller fails those IRPs. Completions due at or before ``now_ns`` are not among them;
        they are returned by the next :meth:`advance`. Afterwards the flow produces no events and
        :meth:`submit` raises :class:`FlowClosedError`.
        """
        if now_ns < self._now:
            raise ValueError(f"time went backwards: {now_ns} < {self._now}")
        if self._closed:
            return []
        self._catch_up(now_ns)
        self._now = now_ns
        ids = [entry[3] for entry in self._flight if entry[3] is not None]
        ids.extend(item[0] for item in self._unsent)
        self._abandoned = self._submitted - self._acked
        self._aborted_sends = len(ids)
        self._closed = True
        self._fast_win = -1
        # Back to the shared empty queue: a closed flow never queues again (submit raises).
        self._flight = _NO_QUEUE
        self._unsent = _NO_QUEUE
        self._wu_time = None
        return ids

    # ------------------------------------------------------------------ observation

    @property
    def params(self) -> FlowParams:
        """A copy of the parameters in force."""
        return replace(self._p)

    @property
    def now(self) -> int:
        """The latest time the flow has been told about."""
        return self._now

    @property
    def isb(self) -> int:
        """The published ideal send backlog (what QUERY returns and notifications carry)."""
        return self._isb

    @property
    def isb_target(self) -> int:
        """The quantized ISB formula right now, before hysteresis."""
        return self._isb_target(self._now)

    @property
    def ack_horizon(self) -> int:
        """When everything released so far will have been acknowledged (now, if nothing is in
        flight): the moment a sender that stops releasing has an empty pipe."""
        if self._closed or self._released == self._acked:
            return self._now
        tail = self._tail_ack
        return tail if tail > self._ack_floor else self._ack_floor

    @property
    def bdp(self) -> int:
        """``C * RTT`` of the configured path, in bytes."""
        return self._bdp

    @property
    def cwnd(self) -> int:
        """Congestion window in bytes."""
        return self._cwnd

    @property
    def ssthresh(self) -> int | None:
        """Slow-start threshold in bytes; ``None`` while still infinite (no loss yet)."""
        return None if self._ssthresh == _INFINITE else self._ssthresh

    @property
    def in_slow_start(self) -> bool:
        """Whether ``cwnd < ssthresh``."""
        return self._cwnd < self._ssthresh

    @property
    def rwnd(self) -> int:
        """Receive window the receiver advertises now: ``max(0, R - unread)``."""
        if self._r is None:
            return self._R
        rwnd = self._R - (self._acked - self._read_at(self._now))
        return rwnd if rwnd > 0 else 0

    @property
    def inflight(self) -> int:
        """Bytes released to the link and not yet acknowledged."""
        return 0 if self._closed else self._released - self._acked

    @property
    def queued(self) -> int:
        """Bytes submitted by the driver and not yet released (blocked by the window)."""
        return 0 if self._closed else self._submitted - self._released

    @property
    def outstanding(self) -> int:
        """``queued + inflight`` in one read: bytes submitted and not yet acknowledged."""
        return 0 if self._closed else self._submitted - self._acked

    @property
    def acknowledged(self) -> int:
        """Bytes cumulatively acknowledged by the peer."""
        return self._acked

    @property
    def sent_by_driver(self) -> int:
        """Bytes the driver has submitted, in total."""
        return self._submitted

    @property
    def abandoned(self) -> int:
        """Bytes never acknowledged because the flow was aborted."""
        return self._abandoned

    @property
    def delivered(self) -> int:
        """Bytes the receiving application has read."""
        if self._r is None:
            return self._acked
        return self._read_at(self._now)

    @property
    def closed(self) -> bool:
        """Whether :meth:`abort` was called."""
        return self._closed

    @property
    def pending_sends(self) -> int:
        """Sends submitted and not yet completed (or failed by an abort)."""
        if self._closed:
            return 0
        in_flight = sum(1 for entry in self._flight if entry[3] is not None)
        return in_flight + len(self._unsent)

    def stats(self) -> dict[str, int]:
        """Counters for traces and reports (``ssthresh`` is -1 while infinite)."""
        return {
            "time_ns": self._now,
            "sent_by_driver": self._submitted,
            "acknowledged": self._acked,
            "inflight": self.inflight,
            "queued": self.queued,
            "abandoned": self._abandoned,
            "delivered": self.delivered,
            "cwnd": self._cwnd,
            "ssthresh": -1 if self._ssthresh == _INFINITE else self._ssthresh,
            "rwnd": self.rwnd,
            "bdp": self._bdp,
            "isb": self._isb,
            "isb_target": self.isb_target,
            "sends_submitted": self._n_sends,
            "sends_completed": self._n_sends - self.pending_sends - self._aborted_sends,
            "chunks": self._n_chunks + self._n_sends - self._n_general,
            "rounds": self._n_rounds,
            "losses": self._n_losses,
            "isb_changes": self._n_isb,
            "window_updates": self._n_window_updates,
        }

    # ------------------------------------------------------------------ internals

    def _reject_submit(self, now: int, send_id: Any, length: int) -> None:
        """Raise the error for a submit that :meth:`submit`'s one-line guard refused."""
        if self._closed:
            raise FlowClosedError(f"send {send_id} submitted after the flow was aborted")
        if now < self._now:
            raise ValueError(f"time went backwards: {now} < {self._now}")
        raise ValueError(f"send length must be >= 0, got {length}")

    def _load_params(self, params: FlowParams) -> None:
        """Take ``params`` (as the shared interned copy, see ``_SHARED``) and cache them as
        plain attributes: the hot path reads them per event."""
        p, derived = _shared_params(params)
        self._p = p
        self._bps = p.bandwidth_bps
        self._rtt = p.rtt_ns
        self._mss = p.mss
        self._R = p.receive_window
        self._r = p.read_rate_bps
        self._hyst = p.isb_hysteresis_pct
        self._cap = p.memory_cap
        self._ppm = p.loss_rate_ppm
        self._iw, self._quantum, self._bdp, self._max_chunk, self._wu_gran, self._sws = derived
        self._dur_len = -1  # one-entry cache of the link time of the last send length
        self._dur_val = 0

    def _refresh_fast_win(self) -> None:
        """Window for :meth:`submit`'s fast path: ``min(cwnd, R)``, or -1 to force the general
        path (a rate-limited reader makes ``rwnd`` time-dependent). Call after any change of
        ``cwnd``, ``R`` or the read rate."""
        if self._r is None and not self._closed:
            cwnd = self._cwnd
            self._fast_win = cwnd if cwnd < self._R else self._R
        else:
            self._fast_win = -1

    def _catch_up(self, now: int) -> None:
        """Process events due by ``now`` before an action at ``now`` (outputs go to the outbox)."""
        flight = self._flight
        wu = self._wu_time
        if (flight and flight[0][0] <= now) or (wu is not None and wu <= now):
            self._process(now, self._out())

    def _out(self) -> list[FlowEvent]:
        """The outbox, made a list of the flow's own on first use (see ``_outbox``)."""
        out = self._outbox
        if out is _NO_QUEUE:
            out = self._outbox = []
        return out

    def _process(self, now: int, out: list[FlowEvent]) -> None:
        """Run acknowledgements and window updates due by ``now``, in time order."""
        flight = self._flight
        popleft = flight.popleft
        append = out.append
        while True:
            wu = self._wu_time
            if not flight:
                if wu is None or wu > now:
                    return
                self._on_window_update(wu, out)
                continue
            head = flight[0]
            t = head[0]
            if t < self._ack_floor:
                t = self._ack_floor
            if wu is not None and wu < t:
                if wu > now:
                    return
                self._on_window_update(wu, out)
                continue
            if t > now:
                return
            popleft()
            slow_reader = self._r is not None
            if slow_reader:
                self._reader_arrival(t)
            end = head[1]
            self._acked = end
            send_id = head[3]
            if send_id is not None:
                append(_tuple_new(SendCompleted, (t, send_id, head[4])))
            if end >= self._round_end:
                self._on_round_end(t, out)
            elif self._unsent:
                self._release(t)
            if slow_reader:
                self._schedule_wu(t)

    def _release(self, t: int) -> None:
        """Hand queued data to the link at ``t`` as far as ``min(cwnd, rwnd)`` allows."""
        unsent = self._unsent
        if not unsent:
            return
        acked = self._acked
        released = start = self._released
        cwnd = self._cwnd
        if self._r is None:
            rwnd = self._R
        else:
            rwnd = self._R - (acked - self._read_at(t))
            if rwnd < 0:
                rwnd = 0
        room = acked + (cwnd if cwnd < rwnd else rwnd) - released
        sws = self._sws
        max_chunk = self._max_chunk
        bps = self._bps
        rtt = self._rtt
        lf = self._link_free
        tail = self._tail_ack
        flight = self._flight
        chunks = 0
        while unsent:
            head = unsent[0]
            rem = head[1]
            if rem == 0:  # a zero-length send completes once everything before it has
                unsent.popleft()
                if tail < t:
                    tail = t
                flight.append((tail, released, lf if lf > t else t, head[0], 0))
                continue
            if room <= 0:
                break
            take = rem if rem <= room else room
            if take > max_chunk:
                take = max_chunk
            if take < rem and take < sws:
                break  # sender silly-window avoidance (RFC 1122): wait for a useful window
            lf = (t if lf < t else lf) + (-(-take * _D // bps))
            ack = lf + rtt
            if ack < tail:
                ack = tail
            tail = ack
            released += take
            room -= take
            chunks += 1
            if take == rem:
                unsent.popleft()
                flight.append((ack, released, lf, head[0], head[2]))
            else:
                head[1] = rem - take
                flight.append((ack, released, lf, None, 0))
        self._link_free = lf
        self._tail_ack = tail
        self._n_chunks += chunks
        if released != start:
            self._released = released
            if self._round_end <= acked:
                self._round_end = released
                self._round_start_acked = acked
                self._round_max = released - acked
                self._round_t = t
            else:
                if t == self._round_t:
                    self._round_end = released
                if released - acked > self._round_max:
                    self._round_max = released - acked

    def _on_round_end(self, t: int, out: list[FlowEvent]) -> None:
        """Everything in flight at the round's start is acknowledged: grow, maybe lose, go on."""
        self._n_rounds += 1
        acked = self._acked
        got = acked - self._round_start_acked
        ppm = self._ppm
        if ppm and got > 0:
            segments = -(-got // self._mss)
            rng = self._rng
            if rng is None:
                rng = self._rng = random.Random(self._seed)
            if rng.randrange(_PPM) < segments * ppm:
                self._apply_loss(t, False, out)
                self._release(t)
                return
        if self._round_growth_ok and 2 * self._round_max >= self._cwnd and got > 0:
            cwnd = self._cwnd
            ssthresh = self._ssthresh
            if cwnd < ssthresh:
                cwnd += got
                if cwnd > ssthresh:
                    cwnd = ssthresh
            else:
                acc = self._ca_acc + got * self._mss
                inc = acc // cwnd
                self._ca_acc = acc - inc * cwnd
                cwnd += inc
            self._cwnd = cwnd
            self._refresh_fast_win()
        self._round_growth_ok = True
        self._release(t)
        released = self._released
        self._round_end = released
        self._round_start_acked = acked
        self._round_max = released - acked
        self._round_t = t
        self._publish(t, out)

    def _apply_loss(self, t: int, timeout: bool, out: list[FlowEvent]) -> None:
        """RFC 5681 reaction to a congestion event detected at ``t``."""
        mss = self._mss
        inflight = self._released - self._acked
        flight_size = inflight if inflight > 0 else self._cwnd
        ssthresh = flight_size // 2
        if ssthresh < 2 * mss:
            ssthresh = 2 * mss
        self._ssthresh = ssthresh
        self._cwnd = mss if timeout else ssthresh
        self._refresh_fast_win()
        self._ca_acc = 0
        if inflight > 0:
            floor = t + (-(-mss * _D // self._bps)) + self._rtt
            if floor > self._ack_floor:
                self._ack_floor = floor
        # The recovery round covers what is in flight now and never grows cwnd.
        self._round_end = self._released
        self._round_start_acked = self._acked
        self._round_max = inflight
        self._round_growth_ok = False
        self._round_t = t
        self._n_losses += 1
        self._publish(t, out)

    def _retime(self, now: int, old_bps: int) -> None:
        """Re-time chunks not fully on the wire at ``now`` with the new rate and RTT."""
        flight = self._flight
        suffix = []
        while flight and flight[-1][2] > now:
            suffix.append(flight.pop())
        if not suffix:
            return
        suffix.reverse()
        prev_end = flight[-1][1] if flight else self._acked
        tail = flight[-1][0] if flight else now
        bps = self._bps
        rtt = self._rtt
        lf = now
        first = True
        for _ack, end, tx_end, send_id, length in suffix:
            size = end - prev_end
            prev_end = end
            if first:
                first = False
                started = tx_end - (-(-size * _D // old_bps))
                if started < now:  # partly on the wire: only the rest moves at the new rate
                    size -= (now - started) * old_bps // _D
            lf += -(-size * _D // bps)
            ack = lf + rtt
            if ack < tail:
                ack = tail
            tail = ack
            flight.append((ack, end, lf, send_id, length))
        self._link_free = lf
        self._tail_ack = tail

    def _read_at(self, t: int) -> int:
        """Bytes the (rate-limited) reader has read by ``t``; valid between arrivals."""
        read = self._rd_b + (t - self._rd_t) * self._r // _D  # type: ignore[operator]
        acked = self._acked
        return read if read < acked else acked

    def _reader_arrival(self, t: int) -> None:
        """Data arrives at ``t``: a reader that ran dry restarts from ``t``, not from the past."""
        read = self._rd_b + (t - self._rd_t) * self._r // _D  # type: ignore[operator]
        if read >= self._acked:
            self._rd_t = t
            self._rd_b = self._acked

    def _schedule_wu(self, t: int) -> None:
        """Next receiver window update: when the reader has drained one more update's worth."""
        r = self._r
        if not r or self._closed:
            self._wu_time = None
            return
        read = self._read_at(t)
        unread = self._acked - read
        if unread <= 0:
            self._wu_time = None
            return
        gran = self._wu_gran
        target = read + (unread if unread < gran else gran)
        self._wu_time = self._rd_t + (-(-(target - self._rd_b) * _D // r))

    def _on_window_update(self, t: int, out: list[FlowEvent]) -> None:
        """The receiver advertises the window its reader has opened."""
        self._n_window_updates += 1
        self._wu_time = None
        if self._unsent:
            self._release(t)
        self._publish(t, out)
        self._schedule_wu(t)

    def _isb_target(self, t: int) -> int:
        """``min(BDP, rwnd, max(cwnd, IW))`` rounded up to the quantum, then the hard caps."""
        if self._r is None:
            rwnd = self._R
        else:
            rwnd = self._R - (self._acked - self._read_at(t))
        cwnd = self._cwnd if self._cwnd > self._iw else self._iw
        raw = min(self._bdp, rwnd, cwnd)
        if raw <= 0:
            return 0
        quantum = self._quantum
        value = -(-raw // quantum) * quantum
        if value > ISB_MAX:
            value = ISB_MAX
        cap = self._cap
        if cap is not None and value > cap:
            value = cap
        return value

    def _publish(self, t: int, out: list[FlowEvent]) -> None:
        """Move the published ISB to the target if the change passes the hysteresis."""
        new = self._isb_target(t)
        old = self._isb
        if new == old:
            return
        hyst = self._hyst
        delta = abs(new - old)
        if hyst and old and new and (delta * 100 <= hyst * old or delta <= self._quantum):
            cap = self._cap
            if cap is None or old <= cap:  # a memory cap is hard: never hide going under it
                return
        self._isb = new
        self._n_isb += 1
        out.append(IsbChanged(t, old, new))
