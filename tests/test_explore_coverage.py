"""Exploration coverage: distinct (provider state, event) pairs per area, paid only when asked."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path

from harness.explore import coverage_by_area, explore
from harness.runner import run_scenario
from harness.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
DISABLE_RACE = ROOT / "scenarios" / "wsk" / "disable_race_event_pending.yaml"


def test_thorough_exploration_reaches_more_pairs_than_a_thin_one() -> None:
    scenario = load_scenario(DISABLE_RACE)
    thin = explore(scenario, 5, "random", 0)
    thorough = explore(scenario, 200, "random", 0)
    assert len(thorough.coverage) > len(thin.coverage)
    assert thin.coverage <= thorough.coverage
    wsk = [p for p in thorough.coverage if p[0] == "wsk"]
    # A callback entry, alone in flight: ("wsk", category, state, callback, in flight, IRQL).
    assert any(len(p) == 6 and p[3] == "WskReceiveEvent" and p[4] == 1 for p in wsk)
    # The disable that raced the callback: ("wsk", category, state, "disable", flag, outcome).
    assert ("wsk", "connection", "CONNECTED", "disable", "WskReceiveEvent",
            "EVENT_PENDING") in thorough.coverage
    # State transitions and kernel pairs are there too.
    assert ("wsk", "connection", "CONNECTED", "close", "CLOSING") in thorough.coverage
    split = thorough.coverage_split()
    assert split["total"] == len(thorough.coverage)
    assert split["wsk"] > 0 and split["kernel"] > 0 and split["sched"] > 0
    assert sum(n for area, n in split.items() if area != "total") == split["total"]
    assert thorough.to_dict()["coverage"] == split
    assert "coverage:" in thorough.summary()


def test_normal_run_collects_no_coverage() -> None:
    result = run_scenario(load_scenario(DISABLE_RACE))
    assert result.machine is not None
    assert result.machine.coverage is None
    explored = explore(load_scenario(DISABLE_RACE), 20, "random", 0, coverage=False)
    assert explored.coverage == set()


def test_coverage_is_deterministic() -> None:
    scenario = load_scenario(DISABLE_RACE)
    a = explore(scenario, 100, "random", 7)
    b = explore(scenario, 100, "random", 7)
    assert a.coverage == b.coverage
    assert coverage_by_area(a.coverage) == coverage_by_area(b.coverage)
    pct_a = explore(scenario, 50, "pct", 3)
    pct_b = explore(scenario, 50, "pct", 3)
    assert len(pct_a.coverage) == len(pct_b.coverage)


def test_coverage_by_area_counts_every_area() -> None:
    split = coverage_by_area({("sched", 1), ("wsk", 2), ("wsk", 3), ("winsock", 4)})
    assert split == {"total": 4, "sched": 1, "wsk": 2, "kernel": 0, "tdi": 0, "winsock": 1}


def test_coverage_leaves_trace_and_decisions_unchanged() -> None:
    from harness.explore import ScheduleRunner, schedule_seed
    from mock_wsk.scheduling import RandomStrategy

    runner = ScheduleRunner(load_scenario(DISABLE_RACE))
    for index in range(10):
        seed = schedule_seed(0, index)
        plain = runner.run(RandomStrategy(seed), seed, trace=True).machine
        covered_set: set[Hashable] = set()
        covered = runner.run(RandomStrategy(seed), seed, trace=True,
                             coverage=covered_set).machine
        assert covered_set
        assert repr(covered.trace) == repr(plain.trace)
        assert covered.decisions == plain.decisions
