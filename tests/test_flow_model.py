"""The TCP flow model (mock_wsk.transport.flow) against the numbers of FLOW_MODEL.md.

Every expectation is derived from a formula of the model (``S / (S/C + RTT)``,
``min(C, N*S/RTT)``, ``log2(BDP/IW)`` RTTs of slow start, RFC 5681's halving, the ISB formula),
never from a measured output. The drivers below are the three a WSK client can be: one send at a
time, a fixed number of sends outstanding, and a pump that keeps the ideal send backlog
outstanding. A property test runs random call sequences against the invariants the provider
relies on: conservation of bytes, FIFO completion with non-decreasing times, each send completed
exactly once with its own length, and determinism.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_wsk.transport.flow import (
    ISB_MAX,
    FlowClosedError,
    FlowParams,
    IsbChanged,
    SendCompleted,
    TcpFlow,
)

GBPS = 1_000_000_000
MBPS = 1_000_000
MS = 1_000_000
SEC = 1_000_000_000
KIB = 1024
MIB = 1024 * 1024
S64K = 64 * KIB


def link_bytes_per_s(bps: int) -> float:
    return bps / 8


def quantize_up(value: int, quantum: int) -> int:
    return -(-value // quantum) * quantum


@dataclass
class Driver:
    """A WSK client model: keeps ``window`` sends (or, if ``window`` is None, at least the
    published ISB) outstanding, re-submitting at each completion, and records what it saw."""

    flow: TcpFlow
    size: int
    window: int | None = None
    outstanding: int = 0
    next_id: int = 0
    isb: int = 0
    completions: list[SendCompleted] = field(default_factory=list)
    isb_events: list[IsbChanged] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.isb = self.flow.isb
        self.fill(self.flow.now)

    def pending(self) -> int:
        return self.next_id - len(self.completions)

    def fill(self, t: int) -> None:
        if self.window is None:
            while self.outstanding < self.isb:
                self.submit(t)
        else:
            while self.pending() < self.window:
                self.submit(t)

    def submit(self, t: int) -> None:
        self.flow.submit(t, self.next_id, self.size)
        self.next_id += 1
        self.outstanding += self.size

    def take(self, events: list[SendCompleted | IsbChanged]) -> None:
        for ev in events:
            if isinstance(ev, SendCompleted):
                self.outstanding -= ev.length
                self.completions.append(ev)
            else:
                self.isb = ev.new
                self.isb_events.append(ev)

    def run(self, until: int) -> None:
        flow = self.flow
        while True:
            t = flow.next_event_time()
            if t is None or t > until:
                break
            self.take(flow.advance(t))
            self.fill(t)
        self.take(flow.advance(until))

    def throughput(self, start: int, end: int) -> float:
        """Bytes per second of sends completed in (start, end]."""
        done = sum(ev.length for ev in self.completions if start < ev.time_ns <= end)
        return done / ((end - start) / SEC)


def assert_conserved(flow: TcpFlow) -> None:
    assert flow.inflight >= 0 and flow.queued >= 0
    assert flow.sent_by_driver == (flow.acknowledged + flow.inflight + flow.queued + flow.abandoned)


# ---------------------------------------------------------------------------- throughput


def test_stop_and_wait_throughput_is_s_over_s_by_c_plus_rtt() -> None:
    bps, rtt = GBPS, 40 * MS
    driver = Driver(TcpFlow(FlowParams(bandwidth_bps=bps, rtt_ns=rtt)), S64K, window=1)
    driver.run(4 * SEC)
    done = driver.completions
    assert len(done) > 60
    start, end = done[20].time_ns, done[-1].time_ns  # after slow start
    measured = (len(done) - 21) * S64K / ((end - start) / SEC)
    expected = S64K / (S64K / link_bytes_per_s(bps) + rtt / SEC)
    assert measured == pytest.approx(expected, rel=0.05)
    assert measured / link_bytes_per_s(bps) < 0.02  # ~1.3 % of the link, as documented
    assert_conserved(driver.flow)


@pytest.mark.parametrize("window", [4, 16, 128])
def test_fixed_window_throughput_is_min_of_link_and_window_over_rtt(window: int) -> None:
    bps, rtt = GBPS, 40 * MS
    flow = TcpFlow(FlowParams(bandwidth_bps=bps, rtt_ns=rtt, receive_window=16 * MIB))
    driver = Driver(flow, S64K, window=window)
    driver.run(6 * SEC)
    expected = min(link_bytes_per_s(bps), window * S64K / (rtt / SEC))
    assert driver.throughput(3 * SEC, 6 * SEC) == pytest.approx(expected, rel=0.05)
    assert_conserved(flow)


def test_keeping_isb_outstanding_fills_the_pipe_after_slow_start() -> None:
    bps, rtt, mss = GBPS, 40 * MS, 1460
    params = FlowParams(bandwidth_bps=bps, rtt_ns=rtt, mss=mss, receive_window=16 * MIB)
    flow = TcpFlow(params)
    bdp = bps * rtt // 8_000_000_000
    iw = params.initial_window_segments * mss
    assert flow.bdp == bdp
    assert flow.isb == quantize_up(iw, mss)
    driver = Driver(flow, S64K)
    driver.run(3 * SEC)

    full = [ev for ev in driver.isb_events if ev.new >= bdp]
    assert full, "the ISB never reached the BDP"
    rtts_to_fill = full[0].time_ns / rtt
    # Slow start doubles once per round, so filling takes at least log2(BDP/IW) RTTs.
    assert math.log2(bdp / iw) <= rtts_to_fill <= 15
    assert flow.isb == quantize_up(bdp, mss)
    # A handful of notifications during slow start: about one per doubling.
    assert len(driver.isb_events) <= math.ceil(math.log2(bdp / iw)) + 3

    settled = full[0].time_ns + 3 * rtt
    utilization = driver.throughput(settled, 3 * SEC) / link_bytes_per_s(bps)
    assert utilization >= 0.95
    assert_conserved(flow)


def test_slow_reader_limits_throughput_and_shrinks_rwnd_and_isb() -> None:
    bps, rtt, read_rate = GBPS, 40 * MS, 80 * MBPS
    receive_window = 4 * MIB
    flow = TcpFlow(
        FlowParams(
            bandwidth_bps=bps, rtt_ns=rtt, receive_window=receive_window, read_rate_bps=read_rate
        )
    )
    driver = Driver(flow, S64K)
    driver.run(4 * SEC)
    delivered_at_4s = flow.delivered
    driver.run(10 * SEC)

    reader = link_bytes_per_s(read_rate)
    assert driver.throughput(5 * SEC, 10 * SEC) == pytest.approx(reader, rel=0.05)
    assert (flow.delivered - delivered_at_4s) / 6 == pytest.approx(reader, rel=0.05)
    # The receiver buffer is nearly full: rwnd is about r * RTT, far below R.
    assert flow.rwnd < receive_window // 4
    peak = max(ev.new for ev in driver.isb_events)
    assert flow.isb < peak
    assert flow.isb <= receive_window // 4
    assert any(ev.new < ev.old for ev in driver.isb_events)
    assert_conserved(flow)


# ---------------------------------------------------------------------------- loss


def test_loss_halves_flight_lowers_isb_and_stalls_completions_for_an_rtt() -> None:
    bps, rtt, mss = GBPS, 40 * MS, 1460
    flow = TcpFlow(FlowParams(bandwidth_bps=bps, rtt_ns=rtt, mss=mss, receive_window=16 * MIB))
    driver = Driver(flow, S64K)
    driver.run(2 * SEC)
    inflight, isb_before, seen = flow.inflight, flow.isb, len(driver.isb_events)
    assert inflight > 0

    flow.loss(2 * SEC)
    expected = max(inflight // 2, 2 * mss)
    assert flow.ssthresh == expected
    assert flow.cwnd == expected
    assert not flow.in_slow_start
    events = flow.advance(2 * SEC)
    driver.take(events)
    assert [type(ev) for ev in events] == [IsbChanged]
    assert events[0] == IsbChanged(2 * SEC, isb_before, flow.isb)
    assert flow.isb < isb_before
    assert flow.isb == quantize_up(expected, mss)

    completed = len(driver.completions)
    driver.run(3 * SEC)
    assert driver.completions[completed].time_ns >= 2 * SEC + rtt
    assert len(driver.isb_events) == seen + 1  # congestion avoidance creeps below 25 %
    assert_conserved(flow)


def test_loss_while_cwnd_limited_halves_cwnd() -> None:
    mss = 1460
    flow = TcpFlow(FlowParams(bandwidth_bps=GBPS, rtt_ns=40 * MS, receive_window=16 * MIB))
    flow.submit(0, 1, 100 * MIB)  # a greedy sender: the window, not the driver, limits
    while not (flow.queued > 0 and flow.inflight >= flow.cwnd - mss and flow.cwnd > 20 * mss):
        due = flow.next_event_time()
        assert due is not None
        flow.advance(due)
    before = flow.cwnd
    t = flow.now
    flow.loss(t)
    assert abs(flow.cwnd - before / 2) <= mss
    flow.loss(t, timeout=True)
    assert flow.cwnd == mss and flow.in_slow_start


def test_random_loss_is_seeded_and_deterministic() -> None:
    params = FlowParams(
        bandwidth_bps=GBPS, rtt_ns=20 * MS, receive_window=16 * MIB, loss_rate_ppm=200
    )

    def run(seed: int) -> tuple[list[SendCompleted | IsbChanged], dict[str, int]]:
        flow = TcpFlow(params, seed=seed)
        driver = Driver(flow, S64K)
        driver.run(5 * SEC)
        assert_conserved(flow)
        return driver.completions + driver.isb_events, flow.stats()

    events, stats = run(7)
    assert stats["losses"] > 0
    assert run(7) == (events, stats)
    lossless = TcpFlow(FlowParams(bandwidth_bps=GBPS, rtt_ns=20 * MS, receive_window=16 * MIB))
    clean = Driver(lossless, S64K)
    clean.run(5 * SEC)
    assert stats["acknowledged"] < lossless.acknowledged


# ---------------------------------------------------------------------------- timeline changes


def _steady_driver(bps: int, rtt: int) -> Driver:
    flow = TcpFlow(FlowParams(bandwidth_bps=bps, rtt_ns=rtt, receive_window=16 * MIB))
    driver = Driver(flow, S64K)
    driver.run(3 * SEC)
    assert flow.isb == quantize_up(flow.bdp, 1460)
    return driver


@pytest.mark.parametrize(
    ("change", "value"),
    [("bandwidth_bps", GBPS), ("rtt_ns", 80 * MS)],
)
def test_isb_follows_path_steps_up_and_down(change: str, value: int) -> None:
    driver = _steady_driver(100 * MBPS, 40 * MS)
    flow = driver.flow
    old_isb = flow.isb
    original = getattr(flow.params, change)

    flow.set_params(3 * SEC, **{change: value})
    seen = len(driver.isb_events)
    driver.run(6 * SEC)
    ups = driver.isb_events[seen:]
    assert ups and all(ev.new > ev.old for ev in ups)
    assert ups[0].time_ns == 3 * SEC
    assert flow.isb == quantize_up(flow.bdp, 1460) > old_isb
    assert_conserved(flow)

    flow.set_params(6 * SEC, **{change: original})
    events = flow.advance(6 * SEC)
    driver.take(events)
    assert events == [IsbChanged(6 * SEC, ups[-1].new, quantize_up(flow.bdp, 1460))]
    driver.run(9 * SEC)
    assert flow.isb == old_isb
    assert_conserved(flow)


def test_bandwidth_step_retimes_the_link_queue() -> None:
    flow = TcpFlow(FlowParams(bandwidth_bps=GBPS, rtt_ns=10 * MS))
    flow.submit(0, 1, 10_000)  # fits IW: on the wire at once
    t_fast = flow.next_event_time()
    assert t_fast == -(-10_000 * 8_000_000_000 // GBPS) + 10 * MS
    flow2 = TcpFlow(FlowParams(bandwidth_bps=GBPS, rtt_ns=10 * MS))
    flow2.submit(0, 1, 10_000)
    flow2.set_params(40_000, bandwidth_bps=GBPS // 10)  # half of it sent at 40 us
    sent = 40_000 * GBPS // 8_000_000_000
    expected = 40_000 + -(-(10_000 - sent) * 8_000_000_000 // (GBPS // 10)) + 10 * MS
    assert flow2.next_event_time() == expected
    done = [ev for ev in flow2.advance(expected) if isinstance(ev, SendCompleted)]
    assert done == [SendCompleted(expected, 1, 10_000)]


def test_rtt_decrease_compresses_acks_instead_of_reordering() -> None:
    flow = TcpFlow(FlowParams(bandwidth_bps=GBPS, rtt_ns=100 * MS))
    flow.submit(0, 1, 1000)
    flow.set_params(MS, rtt_ns=10 * MS)
    flow.submit(MS, 2, 1000)  # would be acked at ~11 ms, but the ACK is cumulative
    events: list[SendCompleted | IsbChanged] = []
    while (t := flow.next_event_time()) is not None:
        events += flow.advance(t)
    done = [ev for ev in events if isinstance(ev, SendCompleted)]
    first_ack = -(-1000 * 8_000_000_000 // GBPS) + 100 * MS
    assert done == [SendCompleted(first_ack, 1, 1000), SendCompleted(first_ack, 2, 1000)]


def test_nearly_closed_window_costs_events_per_segment_not_per_byte() -> None:
    """Sender silly-window avoidance: a slow reader behind a small buffer must not turn the
    ack clock into one event per byte the reader frees."""
    mss, total = 1460, 274_776
    flow = TcpFlow(FlowParams(bandwidth_bps=3_714_729, rtt_ns=37 * MS, receive_window=7187))
    flow.submit(0, 0, total)
    flow.set_params(1045, read_rate_bps=2421, receive_window=31_014, rtt_ns=3_347_682)
    calls = 0
    while (t := flow.next_event_time()) is not None:
        flow.advance(t)
        calls += 1
        assert calls <= 4 * total // mss, "per-byte trickle: silly-window avoidance broke"
    assert flow.acknowledged == flow.delivered == total


def test_isb_never_exceeds_16_mib_nor_memory_cap() -> None:
    params = FlowParams(bandwidth_bps=10 * GBPS, rtt_ns=100 * MS, receive_window=64 * MIB)
    flow = TcpFlow(params)
    assert flow.bdp == 125_000_000
    driver = Driver(flow, S64K)
    driver.run(3 * SEC)
    assert all(0 <= ev.new <= ISB_MAX for ev in driver.isb_events)
    assert flow.isb == ISB_MAX

    flow.set_params(3 * SEC, memory_cap=ISB_MAX - MIB)  # a 6 % cut: below the hysteresis
    assert flow.advance(3 * SEC) == [IsbChanged(3 * SEC, ISB_MAX, ISB_MAX - MIB)]
    flow.set_params(3 * SEC, memory_cap=0)
    assert flow.advance(3 * SEC) == [IsbChanged(3 * SEC, ISB_MAX - MIB, 0)]
    flow.set_params(3 * SEC, memory_cap=None)
    assert flow.advance(3 * SEC) == [IsbChanged(3 * SEC, 0, ISB_MAX)]


def test_isb_quantum_and_zero_hysteresis() -> None:
    quantum = 64 * KIB
    params = FlowParams(
        bandwidth_bps=GBPS,
        rtt_ns=40 * MS,
        receive_window=16 * MIB,
        isb_quantum=quantum,
        isb_hysteresis_pct=0,
    )
    flow = TcpFlow(params)
    driver = Driver(flow, S64K)
    driver.run(2 * SEC)
    assert flow.isb % quantum == 0
    assert all(ev.new % quantum == 0 for ev in driver.isb_events)
    assert flow.isb == quantize_up(flow.bdp, quantum)


def test_rwnd_zero_gives_isb_zero_and_the_reader_reopens_it() -> None:
    flow = TcpFlow(FlowParams(bandwidth_bps=GBPS, rtt_ns=10 * MS, receive_window=MIB))
    flow.set_params(0, read_rate_bps=0)  # the peer application stops reading
    flow.submit(0, 1, 2 * MIB)
    driver_events: list[SendCompleted | IsbChanged] = []
    while (t := flow.next_event_time()) is not None:
        driver_events += flow.advance(t)
    assert flow.acknowledged == MIB and flow.rwnd == 0 and flow.isb == 0
    assert flow.queued == MIB
    flow.set_params(flow.now, read_rate_bps=800 * MBPS)  # it reads again
    while (t := flow.next_event_time()) is not None:
        driver_events += flow.advance(t)
    done = [ev for ev in driver_events if isinstance(ev, SendCompleted)]
    assert [(ev.send_id, ev.length) for ev in done] == [(1, 2 * MIB)]
    assert flow.isb > 0
    assert_conserved(flow)


# ---------------------------------------------------------------------------- API edges


def test_zero_length_send_completes_in_fifo_order() -> None:
    flow = TcpFlow(FlowParams(bandwidth_bps=GBPS, rtt_ns=10 * MS))
    flow.submit(0, 1, 50_000)
    flow.submit(0, 2, 0)
    flow.submit(0, 3, 1000)
    events: list[SendCompleted | IsbChanged] = []
    while (t := flow.next_event_time()) is not None:
        events += flow.advance(t)
    done = [ev for ev in events if isinstance(ev, SendCompleted)]
    assert [(ev.send_id, ev.length) for ev in done] == [(1, 50_000), (2, 0), (3, 1000)]
    assert done[0].time_ns <= done[1].time_ns <= done[2].time_ns


def test_abort_returns_pending_sends_in_order_and_closes() -> None:
    flow = TcpFlow(FlowParams(bandwidth_bps=GBPS, rtt_ns=10 * MS))
    for send_id in range(5):
        flow.submit(0, send_id, S64K)
    first = flow.next_event_time()
    assert first is not None
    done = [ev.send_id for ev in flow.advance(first) if isinstance(ev, SendCompleted)]
    assert flow.abort(first) == [i for i in range(5) if i not in done]
    assert flow.inflight == flow.queued == 0
    assert flow.abandoned == flow.sent_by_driver - flow.acknowledged > 0
    assert_conserved(flow)
    assert flow.next_event_time() is None and flow.advance(first + SEC) == []
    with pytest.raises(FlowClosedError):
        flow.submit(first, 99, 1)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        FlowParams(bandwidth_bps=0, rtt_ns=MS)
    with pytest.raises(ValueError):
        FlowParams(bandwidth_bps=GBPS, rtt_ns=MS, loss_rate_ppm=2_000_000)
    flow = TcpFlow(FlowParams(bandwidth_bps=GBPS, rtt_ns=MS), now_ns=SEC)
    with pytest.raises(ValueError):
        flow.submit(SEC - 1, 1, 1)
    with pytest.raises(ValueError):
        flow.submit(SEC, 1, -1)
    with pytest.raises(TypeError):
        flow.set_params(SEC, bandwith_bps=GBPS)
    with pytest.raises(ValueError):
        flow.set_params(SEC, rtt_ns=0)
    assert flow.params.rtt_ns == MS  # a rejected change leaves the flow untouched


# ---------------------------------------------------------------------------- properties

_changes = st.fixed_dictionaries(
    {},
    optional={
        "bandwidth_bps": st.integers(1 * MBPS, 10 * GBPS),
        "rtt_ns": st.integers(50_000, 300 * MS),
        "receive_window": st.integers(2 * 1460, 8 * MIB),
        "read_rate_bps": st.none() | st.integers(0, 2 * GBPS),
        "memory_cap": st.none() | st.integers(0, 4 * MIB),
        "isb_hysteresis_pct": st.integers(0, 60),
    },
)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.integers(0, 5 * MS), st.integers(0, 400_000)),
        st.tuples(st.just("advance"), st.integers(0, 80 * MS)),
        st.tuples(st.just("step"), st.integers(1, 20)),
        st.tuples(st.just("set"), st.integers(0, 20 * MS), _changes),
        st.tuples(st.just("loss"), st.integers(0, 20 * MS), st.booleans()),
        st.tuples(st.just("abort"), st.integers(0, 20 * MS)),
    ),
    max_size=40,
)
_initial = st.builds(
    FlowParams,
    bandwidth_bps=st.integers(1 * MBPS, 10 * GBPS),
    rtt_ns=st.integers(50_000, 300 * MS),
    receive_window=st.integers(2 * 1460, 8 * MIB),
    read_rate_bps=st.none() | st.integers(1 * MBPS, 2 * GBPS),
    loss_rate_ppm=st.sampled_from([0, 0, 1000, 50_000]),
)


class Checker:
    """Runs one op sequence, checking the provider-facing invariants after every call."""

    def __init__(self, params: FlowParams, seed: int) -> None:
        self.flow = TcpFlow(params, seed=seed)
        self.now = 0
        self.lengths: dict[int, int] = {}
        self.submitted_at: dict[int, int] = {}
        self.next_completion = 0
        self.last_time = 0
        self.events: list[SendCompleted | IsbChanged] = []
        self.aborted: list[int] | None = None

    def take(self, events: list[SendCompleted | IsbChanged], now: int) -> None:
        flow = self.flow
        for ev in events:
            assert self.last_time <= ev.time_ns <= now
            self.last_time = ev.time_ns
            if isinstance(ev, SendCompleted):
                assert ev.send_id == self.next_completion, "completions out of FIFO order"
                assert ev.length == self.lengths[ev.send_id]
                assert ev.time_ns >= self.submitted_at[ev.send_id]
                self.next_completion += 1
            else:
                assert 0 <= ev.new <= ISB_MAX and ev.new != ev.old
        isb_events = [ev for ev in events if isinstance(ev, IsbChanged)]
        for before, after in zip(isb_events, isb_events[1:], strict=False):
            assert after.old == before.new
        if isb_events:
            assert isb_events[-1].new == flow.isb
        self.events += events

    def check(self) -> None:
        flow = self.flow
        assert_conserved(flow)
        assert 0 <= flow.isb <= ISB_MAX
        assert flow.acknowledged >= sum(self.lengths[i] for i in range(self.next_completion))
        nxt = flow.next_event_time()
        assert nxt is None or nxt >= self.now

    def apply(self, op: tuple) -> None:
        flow = self.flow
        kind = op[0]
        if kind == "submit":
            self.now += op[1]
            if self.aborted is not None:
                with pytest.raises(FlowClosedError):
                    flow.submit(self.now, len(self.lengths), op[2])
                return
            send_id = len(self.lengths)
            self.lengths[send_id] = op[2]
            self.submitted_at[send_id] = self.now
            flow.submit(self.now, send_id, op[2])
        elif kind == "advance":
            self.now += op[1]
            self.take(flow.advance(self.now), self.now)
        elif kind == "step":
            for _ in range(op[1]):
                t = flow.next_event_time()
                if t is None:
                    break
                self.now = max(self.now, t)
                self.take(flow.advance(self.now), self.now)
        elif kind == "set":
            self.now += op[1]
            flow.set_params(self.now, **op[2])
        elif kind == "loss":
            self.now += op[1]
            flow.loss(self.now, timeout=op[2])
        elif self.aborted is None:
            self.now += op[1]
            self.aborted = flow.abort(self.now)
            self.take(flow.advance(self.now), self.now)  # completions that were already due
            # Every send either completed (a FIFO prefix) or is failed by the abort, once.
            assert self.aborted == list(range(self.next_completion, len(self.lengths)))
            assert flow.next_event_time() is None
        self.check()

    def drain(self, limit: int = 200_000) -> int:
        """Run every remaining event; return how many advance() calls it took."""
        calls = 0
        while (t := self.flow.next_event_time()) is not None and calls < limit:
            self.now = max(self.now, t)
            self.take(self.flow.advance(self.now), self.now)
            calls += 1
        self.check()
        return calls


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=_initial, ops=_ops, seed=st.integers(0, 2**32 - 1))
def test_random_call_sequences_keep_the_invariants(
    params: FlowParams, ops: list[tuple], seed: int
) -> None:
    first = Checker(params, seed)
    for op in ops:
        first.apply(op)
    first.drain()
    final = first.flow.params
    if first.aborted is None and final.read_rate_bps != 0 and final.receive_window > 0:
        # Liveness: with a reading receiver every send completes, exactly once.
        assert first.next_completion == len(first.lengths)
        assert first.flow.queued == first.flow.inflight == 0

    second = Checker(params, seed)
    for op in ops:
        second.apply(op)
    second.drain()
    assert second.events == first.events
    assert second.flow.stats() == first.flow.stats()
