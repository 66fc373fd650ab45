"""Binding a :class:`~mock_wsk.transport.flow.TcpFlow` to the machine's clock.

The flow model is sans-IO: it says *when* its next event is and *what* happened once told the
time. A :class:`FlowDriver` is the small piece every send path (WSK, the TDI transport, the
user-mode Winsock stack) shares to make that happen on a :class:`~mock_wsk.machine.Machine`:

* ``submit(send_id, length)`` hands a send to the flow and (re)arms one timed event at
  ``flow.next_event_time()``;
* when the event fires (in the machine's *system* context) the flow is advanced and each
  ``SendCompleted`` / ``IsbChanged`` goes to the owner's ``on_complete(send_id, length)`` /
  ``on_isb(old, new)``. Owners must not call driver or application code from there: they queue
  a DPC, set an event or queue an APC;
* ``set_params`` / ``loss`` / ``abort`` forward timeline changes;
* it records bounded time series (ISB, outstanding bytes, throughput) for the report and a few
  metrics (throughput, utilization, ISB notifications, time to fill the pipe, bytes acked).

:class:`Links` is the per-machine registry of every flow: it holds the scenario's default link
parameters (the ``network:`` section) and applies timeline changes (``set_link``, ``loss``) to
every flow of the run.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush
from typing import Any, Protocol

from mock_wsk.machine import Machine
from mock_wsk.transport.flow import FlowParams, IsbChanged, SendCompleted, TcpFlow, shared_params

# The link a flow gets when the scenario has no `network:` section: 1 Gb/s x 10 ms (BDP 1.25 MB)
# -- a LAN-to-metro path where keeping the ISB outstanding visibly matters, yet slow start ends
# within a few dozen milliseconds of virtual time.
DEFAULT_LINK: dict[str, Any] = {"bandwidth_bps": 1_000_000_000, "rtt_ns": 10_000_000}

# Each series keeps at most this many points; past it, every other point is dropped and the
# sampling interval doubles (the report's plots need shape, not every event).
SERIES_CAP = 10_000
# A "full pipe": the throughput of one window reaches this share of the link rate.
_FULL_PIPE_PCT = 95

Series = list[tuple[int, float]]
OnComplete = Callable[[Any, int], None]  # (send_id: the owner's opaque token, length)
OnIsb = Callable[[int, int], None]


class _Sampler(list[tuple[int, float]]):
    """One bounded time series, the list of its points itself: appends on events, thins
    itself when it reaches the cap. (A list subclass: an add touches one object, not a
    sampler and the list it holds; with thousands of connections each event's is cold.)"""

    # ``last_v`` is the last point's value (None before the first): the "unchanged" test reads
    # it here instead of the last point, a tuple and a number elsewhere in memory.
    __slots__ = ("last_v", "last_t", "min_gap")

    def __init__(self) -> None:
        # No list.__init__: a new list is already empty (a series is made with no points).
        self.last_v: float | None = None
        self.last_t = -1
        self.min_gap = 0

    @property
    def points(self) -> Series:
        """The points, oldest first (the sampler itself)."""
        return self

    def add(self, t: int, value: float, force: bool = False) -> None:
        if self and not force:
            if self.last_v == value:
                return
            if t - self.last_t < self.min_gap:
                self[-1] = (t, value)  # keep the latest value of a dense burst
                self.last_v = value
                return
        self.append((t, value))
        self.last_v = value
        self.last_t = t
        if len(self) >= SERIES_CAP:
            self.thin(t)

    def thin(self, t: int) -> None:
        """The cap is reached (at time ``t``): drop every other point, double the interval."""
        del self[1:-1:2]
        self.min_gap = max(1, self.min_gap * 2) if self.min_gap else max(1, t // SERIES_CAP)


# The last interned FlowParams seen and the ISB a new flow with it publishes. That ISB depends
# on the parameters only (nothing is acknowledged or read yet), and interned parameters are
# never mutated: flows opened on one link share one int instead of ~32 bytes each.
_INITIAL_ISB: list[Any] = [None, 0]


def initial_isb(params: FlowParams) -> int:
    """The ISB a new flow with the (interned) ``params`` publishes at creation."""
    if _INITIAL_ISB[0] is not params:
        _INITIAL_ISB[:] = [params, TcpFlow(params).isb]
    isb: int = _INITIAL_ISB[1]
    return isb


class FlowDriver:
    """One TCP flow driven by the machine's clock (see the module docstring)."""

    # Slots, and series and the TcpFlow made on first use: a scenario may hold 10,000 idle
    # connections, each within 2 KiB (an instance dict and three empty series were ~900 bytes
    # of it, an untouched TcpFlow ~450). The fields a send or a wake-up touches come first,
    # together (slots are laid out in order: fewer cache lines per event when flows are cold).
    __slots__ = (
        "m", "_flow", "on_complete", "_armed", "_generation", "first_submit_ns", "max_send",
        "_outstanding_s", "_last_acked", "last_ack_ns", "_tp_t", "_tp_window",
        "name", "_params", "_seed", "on_isb",
        "isb_notifications", "full_pipe_ns",
        "_capacity_bits", "_capacity_t", "_bps", "_tp_acked",
        "_created_ns", "_isb_s", "_throughput_s",
    )  # fmt: skip

    def __init__(self, m: Machine, params: FlowParams, name: str,
                 on_complete: OnComplete | None = None, on_isb: OnIsb | None = None,
                 seed: int = 0, created_ns: int | None = None) -> None:
        # created_ns: when the flow was opened, if before now (a lazily built one: it starts
        # exactly as it would have then; nothing can have reached it meanwhile).
        now = m.now if created_ns is None else created_ns
        self.m = m
        self.name = name
        # The TcpFlow is built on first use (:attr:`flow`) as it would have been now: until
        # something reaches it (submit, set_params, loss, abort, a metrics or series read) an
        # eager one would still be in its creation state, so the observables are the same.
        # The parameters are kept as the interned copy the flow would share anyway.
        self._flow: TcpFlow | None = None
        self._params = params = shared_params(params)
        self._seed = seed
        self.on_complete = on_complete
        self.on_isb = on_isb
        self._armed: int | None = None  # time of the live wake-up, if any
        self._generation = 0  # stale wake-ups carry an older generation and do nothing
        self.isb_notifications = 0
        self.first_submit_ns: int | None = None
        self.max_send = 0  # the largest send so far (an owner's allowance for one more)
        self.last_ack_ns: int | None = None
        self.full_pipe_ns: int | None = None
        # Capacity integral (bits) since the first submit: utilization's denominator, so a
        # bandwidth step changes what "full" means from that instant on.
        self._capacity_bits = 0
        self._capacity_t = now
        self._bps = params.bandwidth_bps
        self._tp_window = max(params.rtt_ns, 1_000_000)
        self._tp_t = now
        self._tp_acked = 0
        self._last_acked = 0
        # The three series are made together by _series(), on the first point after the
        # creation one; until then the ISB series is implicitly [(created, initial ISB)], the
        # ISB the flow published at creation (_isb_s holds that int meanwhile).
        self._created_ns = now
        self._isb_s: _Sampler | int = initial_isb(params)
        self._outstanding_s: _Sampler | None = None
        self._throughput_s: _Sampler | None = None

    @property
    def flow(self) -> TcpFlow:
        """The flow, built on first use (see ``__init__``)."""
        flow = self._flow
        if flow is None:
            flow = self._flow = TcpFlow(self._params, self._created_ns, self._seed)
        return flow

    def _series(self) -> _Sampler:
        """Make the three series (the ISB one with its creation point); return outstanding.

        Builds the flow too: while it is unbuilt ``_isb_s`` is the initial ISB (:attr:`isb`)."""
        self.flow  # noqa: B018
        isb = _Sampler()
        initial = self._isb_s
        assert isinstance(initial, int)
        isb.add(self._created_ns, initial)
        self._isb_s = isb
        self._throughput_s = _Sampler()
        outstanding = self._outstanding_s = _Sampler()
        return outstanding

    @property
    def isb_series(self) -> _Sampler:
        series = self._isb_s
        if isinstance(series, int):
            self._series()
            series = self._isb_s
        assert isinstance(series, _Sampler)
        return series

    @property
    def outstanding_series(self) -> _Sampler:
        series = self._outstanding_s
        return series if series is not None else self._series()

    @property
    def throughput_series(self) -> _Sampler:
        series = self._throughput_s
        if series is None:
            self._series()
            series = self._throughput_s
        assert series is not None
        return series

    # ------------------------------------------------------------------ owner API

    @property
    def isb(self) -> int:
        flow = self._flow
        if flow is None:  # unbuilt: still the ISB it was created with (_isb_s, an int)
            isb = self._isb_s
            assert isinstance(isb, int)
            return isb
        return flow.isb

    @property
    def outstanding(self) -> int:
        """Bytes submitted and not yet acknowledged (queued at the sender or in flight)."""
        flow = self._flow
        return flow.outstanding if flow is not None else 0

    @property
    def acknowledged(self) -> int:
        """Bytes cumulatively acknowledged by the peer."""
        flow = self._flow
        return flow.acknowledged if flow is not None else 0

    @property
    def closed(self) -> bool:
        flow = self._flow
        return flow.closed if flow is not None else False

    def submit(self, send_id: Any, length: int) -> None:
        now = self.m.now
        if self.first_submit_ns is None:
            self.first_submit_ns = now
            self._capacity_t = now
            self._tp_t = now
        if length > self.max_send:
            self.max_send = length
        flow = self._flow
        if flow is None:
            flow = self.flow
        outstanding = flow.submit(now, send_id, length)
        series = self._outstanding_s
        if series is None:
            series = self._series()
        series.add(now, outstanding)
        # A send behind others does not move the next event: with a wake-up armed no later
        # than the oldest acknowledgement and nothing else due (next_event_time's other
        # answers), _rearm would do nothing.
        armed = self._armed
        flight = flow._flight
        if armed is None or not flight or flight[0][0] < armed or flow._outbox \
                or flow._wu_time is not None:
            self._rearm(flow)

    def set_params(self, **changes: Any) -> None:
        now = self.m.now
        self._account_capacity(now)
        self.flow.set_params(now, **changes)
        params = self.flow.params
        self._bps = params.bandwidth_bps
        self._tp_window = max(params.rtt_ns, 1_000_000)
        self._arm()

    def loss(self, timeout: bool = False) -> None:
        self.flow.loss(self.m.now, timeout=timeout)
        self._arm()

    def abort(self, at_ns: int | None = None) -> list[int]:
        """The connection is gone (at ``at_ns``, by default now): returns the ids of sends
        that will never complete."""
        now = self.m.now if at_ns is None else at_ns
        ids = self.flow.abort(now)
        self._generation += 1
        self._armed = None
        self.outstanding_series.add(now, 0)
        return ids

    # ------------------------------------------------------------------ the clock

    def _arm(self) -> None:
        self._rearm(self.flow)

    def _fire(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._armed = None
        m = self.m
        now = m.now
        flow = self._flow
        if flow is None:  # not reached: only a built flow arms a wake-up
            flow = self.flow
        events = flow.advance(now)
        if not events:
            if not flow._closed:
                self._rearm(flow)
            return
        on_complete, on_isb = self.on_complete, self.on_isb
        for event in events:
            if type(event) is SendCompleted:
                if on_complete is not None:
                    on_complete(event[1], event[2])  # send_id, length
            elif type(event) is IsbChanged:
                self.isb_notifications += 1
                self.isb_series.add(event.time_ns, event.new)
                if on_isb is not None:
                    on_isb(event.old, event.new)
        # _sample, inlined (once per wake-up with events): the flow's counters are read
        # directly (acknowledged, outstanding, closed: see TcpFlow's slots).
        acked = flow._acked
        if acked != self._last_acked:
            self.last_ack_ns = now
            self._last_acked = acked
        closed = flow._closed
        outstanding = 0 if closed else flow._submitted - acked
        series = self._outstanding_s
        if series is None:
            series = self._series()
        series.add(now, outstanding)
        if now - self._tp_t >= self._tp_window:
            self._sample_throughput(now, acked)
        if not closed:
            self._rearm(flow)

    def _rearm(self, flow: TcpFlow) -> None:
        """Wake up at the flow's next event, unless a live wake-up comes first (it re-arms
        after advancing)."""
        t = flow.next_event_time()
        if t is not None:
            armed = self._armed
            if armed is None or t < armed:
                generation = self._generation = self._generation + 1
                self._armed = t
                # m.call_at(t, self._fire, generation), inlined: once per send and per wake-up
                m = self.m
                now = m.now
                seq = m._seq
                m._seq = seq + 1
                heappush(m._events, (t if t > now else now, seq, self._fire, (generation,)))

    # ------------------------------------------------------------------ observation

    def _account_capacity(self, now: int) -> None:
        self._capacity_bits = self.capacity_bits(now)
        self._capacity_t = max(now, self._capacity_t)

    def capacity_bits(self, at_ns: int) -> int:
        """Bits the link could carry from the first submit to ``at_ns`` (bandwidth steps
        included; read-only). The denominator of a utilization over any window."""
        bits = self._capacity_bits
        if self.first_submit_ns is not None and at_ns > self._capacity_t:
            bits += self._bps * (at_ns - self._capacity_t) // 1_000_000_000
        return bits

    def _sample_throughput(self, now: int, acked: int) -> None:
        """A throughput window is over: its point, and the time to fill the pipe."""
        bps = (acked - self._tp_acked) * 8_000_000_000 // (now - self._tp_t)
        series = self._throughput_s
        if series is None:
            series = self.throughput_series
        series.add(now, bps)
        if self.full_pipe_ns is None and bps * 100 >= _FULL_PIPE_PCT * self._bps \
                and self.first_submit_ns is not None:
            self.full_pipe_ns = now - self.first_submit_ns
        self._tp_t = now
        self._tp_acked = acked

    def metrics(self) -> dict[str, float]:
        acked = self.flow.acknowledged
        start, end = self.first_submit_ns, self.last_ack_ns
        throughput = 0
        utilization = 0.0
        if start is not None and end is not None and end > start:
            throughput = acked * 8_000_000_000 // (end - start)
            capacity = self.capacity_bits(end)
            utilization = round(acked * 8 / capacity, 6) if capacity else 0.0
        return {
            "throughput_bps": throughput,
            "utilization": utilization,
            "isb_notifications": self.isb_notifications,
            "time_to_fill_pipe_ns": self.full_pipe_ns if self.full_pipe_ns is not None else -1,
            "bytes_acked": acked,
            "isb": self.flow.isb,
        }

    def series(self) -> dict[str, Series]:
        return {
            f"{self.name}.isb": self.isb_series.points,
            f"{self.name}.outstanding": self.outstanding_series.points,
            f"{self.name}.throughput_bps": self.throughput_series.points,
        }


class FlowHandle(Protocol):
    """What :class:`Links` needs of a registered flow: a :class:`FlowDriver`, or an owner
    standing for one it builds on first use (``register``)."""

    @property
    def name(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def first_submit_ns(self) -> int | None: ...
    @property
    def last_ack_ns(self) -> int | None: ...
    def set_params(self, **changes: Any) -> None: ...
    def loss(self, timeout: bool = False) -> None: ...
    def metrics(self) -> dict[str, float]: ...
    def series(self) -> dict[str, Series]: ...


class Links:
    """Per-machine registry of flows: default parameters, timeline changes, metrics, series.

    ``m.subsystem(Links)``; owners create their flows with :meth:`open`.
    """

    def __init__(self, m: Machine) -> None:
        self.m = m
        self.defaults: dict[str, Any] = dict(DEFAULT_LINK)
        self.flows: list[FlowHandle] = []

    def params(self, **overrides: Any) -> FlowParams:
        return FlowParams(**{**self.defaults, **overrides})

    def open(self, name: str, on_complete: OnComplete | None = None,
             on_isb: OnIsb | None = None, **overrides: Any) -> FlowDriver:
        """A new flow with the scenario's link parameters (``overrides`` win)."""
        # Each flow gets its own deterministic loss stream, derived from the run's seed.
        seed = self.m.seed * 1_000_003 + len(self.flows)
        driver = FlowDriver(self.m, self.params(**overrides), name, on_complete, on_isb, seed)
        self.flows.append(driver)
        return driver

    def register(self, flow: FlowHandle) -> int:
        """Register an owner that builds its FlowDriver on first use (with the seed returned
        and the time of this call): it takes the place and seed :meth:`open` would give."""
        seed = self.m.seed * 1_000_003 + len(self.flows)
        self.flows.append(flow)
        return seed

    def set_link(self, **changes: Any) -> None:
        """A timeline change of the path: applies to every open flow and to flows opened later."""
        self.defaults.update(changes)
        for driver in self.flows:
            if not driver.closed:
                driver.set_params(**changes)

    def loss(self, timeout: bool = False) -> None:
        for driver in self.flows:
            if not driver.closed:
                driver.loss(timeout)

    def metrics(self) -> dict[str, float]:
        if not self.flows:
            return {}
        out: dict[str, float] = {"link.flows": len(self.flows)}
        totals = {"bytes_acked": 0, "isb_notifications": 0}
        for driver in self.flows:
            per = driver.metrics()
            for key, value in per.items():
                out[f"link.{driver.name}.{key}"] = value
            for key in totals:
                totals[key] += int(per[key])
        for key, value in totals.items():
            out[f"link.{key}"] = value
        # Aggregate throughput over the span from the first send to the last acknowledgement
        # of any flow (flows may run one after the other: a sum of rates would overstate it).
        starts = [d.first_submit_ns for d in self.flows if d.first_submit_ns is not None]
        ends = [d.last_ack_ns for d in self.flows if d.last_ack_ns is not None]
        span = max(ends) - min(starts) if starts and ends else 0
        out["link.throughput_bps"] = totals["bytes_acked"] * 8_000_000_000 // span if span > 0 \
            else 0
        first = self.flows[0].metrics()
        # With one flow (the common case) these read naturally; with several they describe
        # the first one and the per-flow names above describe each.
        out["link.utilization"] = first["utilization"]
        out["link.time_to_fill_pipe_ns"] = first["time_to_fill_pipe_ns"]
        return out

    def series(self) -> dict[str, Series]:
        out: dict[str, Series] = {}
        for driver in self.flows:
            out.update(driver.series())
        return out
