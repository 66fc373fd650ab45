"""Wall-clock benchmarks of the TCP flow model alone (no kernel, no provider, no driver).

Both drive :class:`mock_wsk.transport.flow.TcpFlow` with the cheapest possible pump: keep at
least the published ideal send backlog outstanding in 64 KiB sends, re-submitting at each
completion. They measure what the model costs per ``WskSend`` round trip (submit + the
``advance`` that completes it, plus ``next_event_time``), which bounds how fast any scenario that
moves bulk data can run. Timing lives here, never in tests.

Run directly: ``python -m bench.flow_bench`` from the project root.
"""

from __future__ import annotations

import json
import time

from mock_wsk.transport.flow import FlowParams, SendCompleted, TcpFlow

_SEND = 64 * 1024
_GBPS = 1_000_000_000
_MS = 1_000_000
_S = 1_000_000_000
# Best of a few runs: the machine is shared, and the minimum is the model's cost (as timeit).
_REPEAT = 3


class _PumpState:
    """What the pump remembers between runs: bytes outstanding, next send id, last ISB."""

    __slots__ = ("outstanding", "next_id", "isb")

    def __init__(self, flow: TcpFlow) -> None:
        self.outstanding = 0
        self.next_id = 0
        self.isb = flow.isb


def _pump(flow: TcpFlow, state: _PumpState, send_size: int, until_ns: int) -> tuple[int, int]:
    """Keep at least the published ISB outstanding until ``until_ns``.

    Returns (sends completed, bytes completed) during this call. The loop keeps its state in
    locals: the point is to measure the model, not attribute access in the driver.
    """
    outstanding = state.outstanding
    send_id = state.next_id
    isb = state.isb
    completed = 0
    completed_bytes = 0
    submit = flow.submit
    advance = flow.advance
    next_event_time = flow.next_event_time
    t = flow.now
    while True:
        while outstanding < isb:
            submit(t, send_id, send_size)
            send_id += 1
            outstanding += send_size
        due = next_event_time()
        if due is None or due > until_ns:
            break
        t = due
        for ev in advance(t):
            if type(ev) is SendCompleted:
                outstanding -= ev[2]
                completed += 1
                completed_bytes += ev[2]
            else:
                isb = ev[2]
    state.outstanding = outstanding
    state.next_id = send_id
    state.isb = isb
    return completed, completed_bytes


def bench_wsksend_roundtrip() -> dict:
    """Steady-state cost of one WskSend round trip through the model, in microseconds.

    1 Gb/s x 40 ms with a 16 MiB receive window: slow start and the first second are run
    untimed, then 20 s of virtual time (~38,000 sends of 64 KiB at ~99.6 % of the link) are
    timed. The value includes the pump's own loop (next_event_time, advance, submit, and the
    bookkeeping a driver would do), i.e. everything but the kernel and the provider.
    """
    params = FlowParams(bandwidth_bps=_GBPS, rtt_ns=40 * _MS, receive_window=16 * 1024 * 1024)
    best = float("inf")
    for _ in range(_REPEAT):
        flow = TcpFlow(params)
        state = _PumpState(flow)
        _pump(flow, state, _SEND, 1 * _S)  # warm-up: slow start and a full pipe
        start = time.perf_counter()
        completed, _ = _pump(flow, state, _SEND, 21 * _S)
        best = min(best, (time.perf_counter() - start) / completed)
    return {"name": "flow.model_only_send", "unit": "us", "value": round(best * 1e6, 3)}


def bench_10g_100ms_60s() -> dict:
    """Wall time to simulate 60 s of a 10 Gb/s x 100 ms path with 64 KiB sends, in seconds.

    The receive window is 64 MiB so the ISB, not the receiver, is the limit: the ISB saturates
    at 16 MiB (BDP is 125 MB), so the pump keeps 16 MiB outstanding and moves about
    16 MiB per RTT (~1.3 Gb/s, ~150,000 sends in 60 s) -- the documented ceiling, not the link.
    """
    params = FlowParams(bandwidth_bps=10 * _GBPS, rtt_ns=100 * _MS, receive_window=64 * 1024 * 1024)
    best = float("inf")
    for _ in range(_REPEAT):
        start = time.perf_counter()
        flow = TcpFlow(params)
        completed, completed_bytes = _pump(flow, _PumpState(flow), _SEND, 60 * _S)
        best = min(best, time.perf_counter() - start)
    return {
        "name": "flow.model_only_10g_100ms_60s",
        "unit": "s",
        "value": round(best, 3),
        "sends": completed,
        "throughput_bps": completed_bytes * 8 // 60,
    }


BENCHMARKS = (bench_wsksend_roundtrip, bench_10g_100ms_60s)


if __name__ == "__main__":
    print(json.dumps([bench() for bench in BENCHMARKS], indent=2))
