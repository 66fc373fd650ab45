"""Kernel benchmarks: a timer DPC dispatched through the machine, against bare baselines.

``kernel.dpc_dispatch`` is the performance budget's per-event figure: a driver stub's DPC routine
re-arms a KTIMER with itself as the DPC (``KeSetTimer`` inside the DPC, the commonest periodic
pattern), so each event is a full trip through the machine - timed event, timer expiry, DPC
queued on a CPU, the DPC run in its context at DISPATCH_LEVEL with the verifier's exit checks,
the stub routine, ``KeSetTimer`` with its preemption point and IRQL check - with the verifier on
(it always is) and tracing on. In the same run, and with the same number of events:

* a bare ``heapq`` event loop (pop, call, the handler pushes the next event): the floor;
* SimPy (``env.timeout`` in a process loop): the budget's yardstick, ``ratio`` = machine / SimPy;
* the traced-DPC floor (``baseline.traced_dpc_floor``): only the heap, the queue, the calls and
  the three trace records a traced timer DPC needs, no checks: what the trace alone costs.

Each figure is the best of three runs, in microseconds per event. Run this module alone with
``python -m bench.kernel_bench`` (``--quick``, or ``BENCH_QUICK=1``, for a tenth of the
events).
"""

from __future__ import annotations

import gc
import heapq
import json
import os
import sys
import time
import types
from collections.abc import Callable
from typing import Any

import simpy

from mock_wsk.kernel.dpc import KTIMER, KeInitializeDpc, KeInitializeTimer, KeSetTimer
from mock_wsk.kernel.driver import load_driver
from mock_wsk.machine import KDPC, Machine

EVENTS = 1_000_000
REPEATS = 3
TARGET_RATIO = 1.0  # the budget: a dispatch no slower than SimPy's timeout event


def _events() -> int:
    quick = os.environ.get("BENCH_QUICK") or "--quick" in sys.argv
    return EVENTS // 10 if quick else EVENTS


def machine_dpc_dispatch(n: int, trace: bool = True) -> float:
    """Seconds for ``n`` timer DPCs through a 2-CPU machine (fifo strategy)."""
    m = Machine(cpus=2, trace=trace)
    timer = KTIMER("BenchTimer")
    dpc = KDPC("BenchDpc")
    fired = [0]

    # The driver stub, as a driver writes it: a DPC routine that re-arms its timer.
    def BenchDpc(Dpc: KDPC, DeferredContext: Any, SystemArgument1: Any,
                 SystemArgument2: Any) -> None:
        fired[0] += 1
        if fired[0] < n:
            KeSetTimer(timer, -1, Dpc)  # due in 100 ns (relative)

    def DriverEntry(DriverObject: Any, RegistryPath: Any) -> int:
        KeInitializeTimer(timer)
        KeInitializeDpc(dpc, BenchDpc, None)
        KeSetTimer(timer, -1, dpc)
        return 0

    load_driver(m, types.SimpleNamespace(DriverEntry=DriverEntry), name="Bench")
    start = time.perf_counter()
    m.run()
    elapsed = time.perf_counter() - start
    if fired[0] != n or m.violations or m.halt is not None:
        raise RuntimeError(f"benchmark run went wrong: {fired[0]} DPCs, {m.verifier.rule_ids()}")
    if trace and (m.trace is None or len(m.trace) < 3 * n):  # expire, ctx.start, ctx.end
        raise RuntimeError("tracing was expected to record every DPC")
    return elapsed


def heapq_loop(n: int) -> float:
    """Seconds for ``n`` events through a bare heapq loop shaped like the machine's queue."""
    events: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
    state = [0, 0]  # now, seq

    def handler(count: int) -> None:
        if count < n:
            seq = state[1] = state[1] + 1
            heapq.heappush(events, (state[0] + 100, seq, handler, (count + 1,)))

    heapq.heappush(events, (100, 0, handler, (1,)))
    heappop = heapq.heappop
    start = time.perf_counter()
    while events:
        time_ns, _, fn, args = heappop(events)
        state[0] = time_ns
        fn(*args)
    return time.perf_counter() - start


def traced_dpc_floor(n: int) -> float:
    """Seconds for ``n`` timer DPCs through the least a traced timer DPC must do, with none of
    the machine's checks: pop the timed event, queue the DPC, run its routine (which re-arms
    the timer: a heap push), and append the machine's three trace records (``timer.expire``,
    ``ctx.start``, ``ctx.end``); the garbage collector off, as during ``Machine.run``. What the
    machine adds is everything else; this shows what no design of this trace can go below."""
    events: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
    trace: list[tuple[Any, ...]] = []
    queued: list[Callable[..., None]] = []
    clock = [0, 0]  # now, seq

    def expire(routine: Callable[..., None]) -> None:
        queued.append(routine)
        trace.append((clock[0], -1, 0, "timer.expire", ("timer", "dpc", 0)))

    def arm(routine: Callable[..., None]) -> None:
        seq = clock[1] = clock[1] + 1
        heapq.heappush(events, (clock[0] + 100, seq, expire, (routine,)))

    def routine(count: list[int]) -> None:
        count[0] += 1
        if count[0] < n:
            arm(routine)

    count = [0]
    arm(routine)
    heappop = heapq.heappop
    gc_was_enabled = gc.isenabled()
    gc.disable()
    start = time.perf_counter()
    try:
        ctx_id = 0
        while events:
            clock[0], _, fn, args = heappop(events)
            fn(*args)
            while queued:
                ctx_id += 1
                trace.append((clock[0], 0, ctx_id, "ctx.start", ("dpc", "dpc")))
                queued.pop()(count)
                trace.append((clock[0], 0, ctx_id, "ctx.end", ()))
        return time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()


def simpy_timeouts(n: int) -> float:
    """Seconds for ``n`` SimPy timeout events (one process yielding ``env.timeout``)."""
    env = simpy.Environment()

    def process(env: simpy.Environment) -> Any:
        for _ in range(n):
            yield env.timeout(100)

    env.process(process(env))
    start = time.perf_counter()
    env.run()
    return time.perf_counter() - start


def bench_dpc_dispatch() -> list[dict[str, Any]]:
    """kernel.dpc_dispatch (traced and untraced) with the heapq and SimPy figures."""
    n = _events()
    # Interleave the repeats so that a noisy neighbour hurts every contender alike.
    samples: dict[str, list[float]] = {"machine": [], "untraced": [], "heapq": [], "simpy": [],
                                       "floor": []}
    for _ in range(REPEATS):
        samples["simpy"].append(simpy_timeouts(n))
        samples["heapq"].append(heapq_loop(n))
        samples["floor"].append(traced_dpc_floor(n))
        samples["machine"].append(machine_dpc_dispatch(n, trace=True))
        samples["untraced"].append(machine_dpc_dispatch(n, trace=False))
    us = {key: round(min(values) / n * 1e6, 3) for key, values in samples.items()}
    simpy_us, heapq_us = us["simpy"], us["heapq"]
    return [
        {
            "name": "kernel.dpc_dispatch",
            "unit": "us",
            "value": us["machine"],
            "baseline": simpy_us,
            "ratio": round(us["machine"] / simpy_us, 2),
            "baseline_name": "simpy.timeout",
            "target_ratio": TARGET_RATIO,
            "events": n,
            "trace": True,
        },
        {
            "name": "kernel.dpc_dispatch_untraced",
            "unit": "us",
            "value": us["untraced"],
            "baseline": simpy_us,
            "ratio": round(us["untraced"] / simpy_us, 2),
            "baseline_name": "simpy.timeout",
            "events": n,
            "trace": False,
        },
        {
            "name": "baseline.traced_dpc_floor",
            "unit": "us",
            "value": us["floor"],
            "baseline": simpy_us,
            "ratio": round(us["floor"] / simpy_us, 2),
            "baseline_name": "simpy.timeout",
            "events": n,
        },
        {"name": "baseline.heapq_event", "unit": "us", "value": heapq_us, "events": n},
        {"name": "baseline.simpy_timeout", "unit": "us", "value": simpy_us, "events": n},
    ]


if __name__ == "__main__":
    print(json.dumps(bench_dpc_dispatch(), indent=2))
