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


def _pump(flow: TcpFlow, send_size: int, until_ns: int) -> tuple[int, int]:
    """Keep ``flow.isb`` outstanding until ``until_ns``; return (sends completed, bytes)."""
    outstanding = 0
    send_id = 0
    completed = 0
    completed_bytes = 0
    isb = flow.isb
    submit = flow.submit
    advance = flow.advance
    next_event_time = flow.next_event_time
    now = flow.now
    while outstanding < isb:
        submit(now, send_id, send_size)
        send_id += 1
        outstanding += send_size
    while True:
        t = next_event_time()
        if t is None or t > until_ns:
            break
        for ev in advance(t):
            if type(ev) is SendCompleted:
                outstanding -= ev[2]
                completed += 1
                completed_bytes += ev[2]
            else:
                isb = ev[2]
        while outstanding < isb:
            submit(t, send_id, send_size)
            send_id += 1
            outstanding += send_size
    return completed, completed_bytes


def bench_wsksend_roundtrip() -> dict:
    """Steady-state cost of one WskSend round trip through the model, in microseconds.

    1 Gb/s x 40 ms with a 16 MiB receive window: slow start is run first (untimed), then 20 s
    of virtual time (~38,000 sends of 64 KiB at ~99.6 % of the link) are timed.
    """
    params = FlowParams(bandwidth_bps=_GBPS, rtt_ns=40 * _MS, receive_window=16 * 1024 * 1024)
    flow = TcpFlow(params)
    _pump(flow, _SEND, 1 * _S)  # warm-up: slow start and a full pipe
    # Continue the same flow: the pump re-primes from the flow's current outstanding bytes.
    start = time.perf_counter()
    completed, _ = _pump_continue(flow, _SEND, 21 * _S)
    elapsed = time.perf_counter() - start
    return {
        "name": "flow.model_only_send",
        "unit": "us",
        "value": round(elapsed / completed * 1e6, 3),
    }


def _pump_continue(flow: TcpFlow, send_size: int, until_ns: int) -> tuple[int, int]:
    """Like :func:`_pump` for a flow that already has sends outstanding."""
    outstanding = flow.sent_by_driver - _completed_bytes(flow)
    send_id = flow.stats()["sends_submitted"]
    completed = 0
    completed_bytes = 0
    isb = flow.isb
    submit = flow.submit
    advance = flow.advance
    next_event_time = flow.next_event_time
    while True:
        t = next_event_time()
        if t is None or t > until_ns:
            break
        for ev in advance(t):
            if type(ev) is SendCompleted:
                outstanding -= ev[2]
                completed += 1
                completed_bytes += ev[2]
            else:
                isb = ev[2]
        while outstanding < isb:
            submit(t, send_id, send_size)
            send_id += 1
            outstanding += send_size
    return completed, completed_bytes


def _completed_bytes(flow: TcpFlow) -> int:
    """Bytes of sends completed so far (all sends in these benchmarks have the same size)."""
    return flow.stats()["sends_completed"] * _SEND


def bench_10g_100ms_60s() -> dict:
    """Wall time to simulate 60 s of a 10 Gb/s x 100 ms path with 64 KiB sends, in seconds.

    The receive window is 64 MiB so the ISB, not the receiver, is the limit: the ISB saturates
    at 16 MiB (BDP is 125 MB), so the pump keeps 16 MiB outstanding and moves about
    16 MiB per RTT (~1.3 Gb/s, ~150,000 sends in 60 s) -- the documented ceiling, not the link.
    """
    params = FlowParams(bandwidth_bps=10 * _GBPS, rtt_ns=100 * _MS, receive_window=64 * 1024 * 1024)
    start = time.perf_counter()
    flow = TcpFlow(params)
    completed, completed_bytes = _pump(flow, _SEND, 60 * _S)
    elapsed = time.perf_counter() - start
    return {
        "name": "flow.model_only_10g_100ms_60s",
        "unit": "s",
        "value": round(elapsed, 3),
        "sends": completed,
        "throughput_bps": completed_bytes * 8 // 60,
    }


BENCHMARKS = (bench_wsksend_roundtrip, bench_10g_100ms_60s)


if __name__ == "__main__":
    print(json.dumps([bench() for bench in BENCHMARKS], indent=2))
