"""Exploration benchmarks: schedules per second on the disable-while-in-flight race, and the
median time to the first bug over 20 seeds.

The race: ``scenarios/wsk/zoo_free_context_on_event_pending.yaml`` - WskReceiveEvent runs on one
CPU while the other disables it, gets STATUS_EVENT_PENDING and frees the socket context. Its
expectations are cleared here, so the use after free counts as a bug. Target (DESIGN.md):
>= 5,000 schedules per second per core. ``BENCH_QUICK`` runs fewer schedules.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RACE = ROOT / "scenarios" / "wsk" / "zoo_free_context_on_event_pending.yaml"
KERNEL_RACE = ROOT / "scenarios" / "zoo" / "context_freed_while_dpc_runs.yaml"
QUICK = bool(os.environ.get("BENCH_QUICK"))


def _race(path: Path) -> Any:
    from harness.scenario import Expectations, load_scenario

    scenario = load_scenario(path)
    return dataclasses.replace(scenario, expect=Expectations())  # every violation is the bug


def _rate(path: Path, iterations: int) -> float:
    from harness.explore import explore

    scenario = _race(path)
    explore(scenario, 50, "random", seed=99, coverage=False)  # warm up: imports, stub image
    best = 0.0
    for repeat in range(3):  # best of three: a noisy neighbour only ever slows a run down
        result = explore(scenario, iterations, "random", seed=repeat)
        best = max(best, result.rate)
    return best


def bench_race_schedules() -> list[dict[str, Any]]:
    """explore.race_schedules: schedules/s exploring the WSK disable race (and a kernel race)."""
    n = 300 if QUICK else 2000
    return [
        {"name": "explore.race_schedules", "unit": "schedules/s",
         "value": round(_rate(RACE, n), 1), "target": 5000,
         "scenario": str(RACE.relative_to(ROOT))},
        {"name": "explore.kernel_race_schedules", "unit": "schedules/s",
         "value": round(_rate(KERNEL_RACE, n), 1), "target": 5000,
         "scenario": str(KERNEL_RACE.relative_to(ROOT))},
    ]


def bench_race_time_to_bug() -> dict[str, Any]:
    """explore.race_time_to_bug: median seconds to the first bug over 20 seeds (random)."""
    from harness.explore import explore

    scenario = _race(RACE)
    explore(scenario, 20, "random", seed=99, coverage=False)
    seconds, schedules = [], []
    for seed in range(20):
        started = time.perf_counter()
        result = explore(scenario, 100_000, "random", seed=seed, stop_on_any=True,
                         coverage=False)
        seconds.append(time.perf_counter() - started)
        schedules.append(result.schedules)
        if not result.bugs:
            raise AssertionError(f"seed {seed}: no bug in {result.schedules} schedules")
    return {"name": "explore.race_time_to_bug", "unit": "s",
            "value": round(statistics.median(seconds), 5),
            "median_schedules": statistics.median(schedules), "max_schedules": max(schedules),
            "seeds": 20}
