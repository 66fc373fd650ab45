"""Exploration: the zoo races are found (and only by exploring), replays reproduce them byte for
byte, shrinking keeps them, reference drivers explore clean, and worker splits do not matter."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ScenarioError
from harness.explore import (
    ScheduleRunner,
    explore,
    finish_bugs,
    merge,
    schedule_seed,
    trim,
)
from harness.runner import Run, run_scenario
from harness.scenario import load_scenario
from harness.shrink import LenientReplay, shrink
from mock_wsk.scheduling import Decision, FifoStrategy, RandomStrategy, ReplayStrategy

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "scenarios" / "zoo"
RACES = {
    "context_freed_while_dpc_runs": ("pool.use_after_free",
                                     "driver_stubs/zoo/context_freed_while_dpc_runs.py"),
    "irp_freed_after_cancel": ("irp.freed_after_cancel_before_completion",
                               "driver_stubs/zoo/irp_freed_after_cancel.py"),
    "double_free_race": ("pool.double_free", "driver_stubs/zoo/double_free_race.py"),
    "leak_on_failed_entry": ("pool.leak", "driver_stubs/zoo/leak_on_failed_entry.py"),
}
BUDGET = 2000  # the explore: blocks' budget


def _scenario(name: str):  # type: ignore[no-untyped-def]
    return load_scenario(ZOO / f"{name}.yaml")


@pytest.mark.parametrize("name", sorted(RACES))
@pytest.mark.parametrize("strategy", ["random", "pct"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exploration_finds_each_zoo_race(name: str, strategy: str, seed: int) -> None:
    rule, stub = RACES[name]
    result = explore(_scenario(name), BUDGET, strategy, seed, stop_on=rule)
    bug = next((b for b in result.bugs if b.rule == rule), None)
    assert bug is not None, f"{rule} not found in {result.schedules} schedules"
    assert bug.location.startswith(stub + ":")


@pytest.mark.parametrize("name", sorted(RACES))
def test_dfs_finds_each_zoo_race_within_two_preemptions(name: str) -> None:
    result = explore(_scenario(name), BUDGET, "dfs", preemption_bound=2, stop_on=RACES[name][0])
    assert result.found(RACES[name][0])


@pytest.mark.parametrize("name", sorted(RACES))
def test_a_plain_fifo_run_does_not_show_the_race(name: str) -> None:
    run = Run(_scenario(name), FifoStrategy())
    run.execute()
    assert run.machine.violations == []


def test_the_explore_block_makes_the_scenario_item_pass_by_finding_its_race() -> None:
    result = run_scenario(_scenario("context_freed_while_dpc_runs"))
    assert result.passed
    assert "pool.use_after_free" in {v.rule.id for v in result.violations}
    assert result.extra["explore"]["passed"]


def test_replay_file_reproduces_the_bug_exactly(tmp_path: Path) -> None:
    scenario = _scenario("context_freed_while_dpc_runs")
    result = explore(scenario, 500, "random", 1, stop_on="pool.use_after_free")
    finish_bugs(result, out_dir=tmp_path)
    bug = next(b for b in result.bugs if b.rule == "pool.use_after_free")
    doc = json.loads(Path(bug.replay_path or "").read_text())
    assert doc["rule"] == bug.rule and doc["location"] == bug.location
    decisions = [Decision(k, n, c) for k, n, c in doc["decisions"]]
    runner = ScheduleRunner(scenario)
    traces = []
    for _ in range(2):  # strict replay: a diverging question would raise
        run = runner.run(ReplayStrategy(decisions), doc["seed"], trace=True)
        assert (bug.rule, bug.location) in {(r, w) for r, w, _ in runner.bugs(run.machine)}
        traces.append(json.dumps(run.machine.trace, default=str).encode())
    assert traces[0] == traces[1]
    # ... and so does the CLI's replay command (exit 1: the scenario fails again).
    assert main(["replay", bug.replay_path or ""]) == 1


def test_a_failing_explore_block_leaves_a_replay_file_its_report_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.render import failure_report

    text = (ZOO / "double_free_race.yaml").read_text(encoding="utf-8")
    path = tmp_path / "race.yaml"  # the race, not expected: an exploration that fails
    path.write_text(text.replace("  expect_bug: pool.double_free\n", ""), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = run_scenario(load_scenario(path))
    assert not result.passed
    assert result.replay_file is not None and result.replay_file.startswith("explore-out/")
    doc = json.loads((tmp_path / result.replay_file).read_text(encoding="utf-8"))
    assert doc["rule"] == "pool.double_free"
    assert f"replay: python -m harness replay {result.replay_file}" in failure_report(result)
    assert main(["replay", result.replay_file]) == 1


def test_the_unshrunk_schedule_replays_too() -> None:
    scenario = _scenario("double_free_race")
    result = explore(scenario, 500, "random", 2, stop_on="pool.double_free")
    bug = result.bugs[0]
    run = ScheduleRunner(scenario).run(ReplayStrategy(bug.decisions), bug.seed)
    assert bug.key in {(r, w) for r, w, _ in ScheduleRunner(scenario).bugs(run.machine)}


@pytest.mark.parametrize("name", sorted(RACES))
def test_shrinking_keeps_the_failure_and_gets_no_bigger(name: str) -> None:
    scenario = _scenario(name)
    rule = RACES[name][0]
    result = explore(scenario, BUDGET, "random", 5, stop_on=rule)
    bug = next(b for b in result.bugs if b.rule == rule)
    runner = ScheduleRunner(scenario)
    shrunk = shrink(runner, bug.seed, bug.decisions, bug.key, budget=200)
    assert shrunk.reproduced
    original = trim(bug.decisions)
    assert len(shrunk.decisions) <= len(original)
    assert sum(d.choice != 0 for d in shrunk.decisions) <= sum(d.choice != 0 for d in original)
    run = runner.run(LenientReplay(shrunk.decisions), bug.seed)
    assert bug.key in {(r, w) for r, w, _ in runner.bugs(run.machine)}
    strict = runner.run(ReplayStrategy(shrunk.decisions), bug.seed)
    assert bug.key in {(r, w) for r, w, _ in runner.bugs(strict.machine)}


def test_the_shrunk_story_tells_who_ran_what() -> None:
    scenario = _scenario("context_freed_while_dpc_runs")
    result = explore(scenario, 500, "random", 1, stop_on="pool.use_after_free")
    finish_bugs(result, out_dir=None)
    story = result.bugs[0].story
    assert "dpc#" in story and "(TickDpc) DISPATCH" in story
    assert "(Worker) PASSIVE: frees pool block" in story
    assert story.splitlines()[-1].split(": !! ")[1].startswith(
        "pool.use_after_free at driver_stubs/zoo/context_freed_while_dpc_runs.py:")


@pytest.mark.parametrize("strategy", ["random", "pct", "dfs"])
def test_the_reference_timer_driver_explores_clean(strategy: str) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "kernel" / "timer_counter.yaml")
    result = explore(scenario, BUDGET if strategy != "dfs" else 500, strategy, 1)
    assert result.bugs == [], result.summary()
    assert result.states > 0


@pytest.mark.parametrize("path", ["scenarios/wsk/disable_race_event_pending.yaml",
                                  "scenarios/wsk/disable_race_pending.yaml"])
def test_the_reference_wsk_client_explores_clean(path: str) -> None:
    result = explore(load_scenario(ROOT / path), 300, "random", 1)
    assert result.bugs == [], result.summary()


def test_the_merged_result_does_not_depend_on_the_number_of_workers() -> None:
    scenario = _scenario("irp_freed_after_cancel")

    def digest(workers: int) -> object:
        merged = merge([explore(scenario, 300, "random", 4, worker=w, workers=workers)
                        for w in range(workers)])
        return (merged.schedules, sorted(map(repr, merged.coverage)),
                [(b.rule, b.location, b.index, b.seed, b.hits, b.decisions)
                 for b in merged.bugs])

    one = digest(1)
    assert one[2], "the race should be found in 300 schedules"
    assert digest(3) == one


def test_schedule_seeds_are_stable_and_distinct() -> None:
    seeds = [schedule_seed(7, i) for i in range(1000)]
    assert len(set(seeds)) == 1000
    assert schedule_seed(7, 3) == seeds[3]


def test_cli_explore_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    race = ZOO / "double_free_race.yaml"
    assert main(["explore", str(race), "-n", "300", "--out", str(tmp_path)]) == 0  # expected
    assert list(tmp_path.glob("*.json"))
    # The same race without an explore block expecting it: a bug, exit 1, and --json output.
    text = race.read_text().split("explore:")[0]
    plain = tmp_path / "plain.yaml"
    plain.write_text(text.replace("../../harness", str(ROOT / "harness")))
    capsys.readouterr()
    assert main(["explore", str(plain), "-n", "300", "--json", "--out", str(tmp_path)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["bugs"][0]["rule"] == "pool.double_free"
    timer = ROOT / "scenarios" / "kernel" / "timer_counter.yaml"
    assert main(["explore", str(timer), "-n", "100", "--out", str(tmp_path)]) == 0
    assert main(["explore", str(tmp_path / "missing.yaml")]) == 2
    assert main(["explore", str(timer), "--strategy", "dfs", "--workers", "2"]) == 2


def test_explore_block_rejects_an_unknown_rule(tmp_path: Path) -> None:
    text = (ZOO / "double_free_race.yaml").read_text().replace(
        "expect_bug: pool.double_free", "expect_bug: pool.doubel_free")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ScenarioError, match="unknown rule id 'pool.doubel_free'"):
        load_scenario(bad)


# ---------------------------------------------------------------------- peer timing jitter

IDLE_TIMER = ROOT / "scenarios" / "wsk" / "zoo_context_freed_on_idle_timer.yaml"


def _receive_times(run: Run) -> list[int]:
    return [r[0] for r in run.machine.trace or [] if r[3] == "wsk.callback.enter"
            and r[4][0] == "WskReceiveEvent"]


def test_a_plain_run_keeps_the_peers_written_times() -> None:
    run = Run(load_scenario(IDLE_TIMER), FifoStrategy())
    run.execute()
    assert run.machine.violations == []
    assert _receive_times(run) == [5_000_000, 7_990_000]
    assert [d.kind for d in run.machine.decisions] == []  # fifo is never asked


@pytest.mark.parametrize("strategy", ["random", "pct"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_peer_jitter_finds_a_race_no_interleaving_shows(strategy: str, seed: int) -> None:
    scenario = load_scenario(IDLE_TIMER)
    found = explore(scenario, 200, strategy, seed, stop_on="pool.use_after_free")
    assert found.found("pool.use_after_free")
    bug = next(b for b in found.bugs if b.rule == "pool.use_after_free")
    assert bug.location.startswith("driver_stubs/wsk_client.py:")  # CountReceived's update
    assert "jitter" in {d.kind for d in bug.decisions}
    # Without jitter the peer's send always lands before the idle timer: every schedule clean.
    explore_block = scenario.sections["explore"]
    still = dataclasses.replace(scenario, sections={
        **scenario.sections, "explore": dataclasses.replace(explore_block, jitter_ns=0)})
    assert explore(still, 200, strategy, seed).bugs == []


def test_jitter_delays_are_the_four_options_and_replay_exactly(tmp_path: Path) -> None:
    scenario = load_scenario(IDLE_TIMER)
    runner = ScheduleRunner(scenario)
    seen: set[int] = set()
    for seed in range(12):
        run = runner.run(RandomStrategy(seed), seed, trace=True)
        times = _receive_times(run)
        seen.add(times[0] - 5_000_000)
        replayed = runner.run(ReplayStrategy(run.machine.decisions), seed, trace=True)
        assert json.dumps(replayed.machine.trace, default=str) == \
            json.dumps(run.machine.trace, default=str)
    assert seen == {0, 10_000, 20_000, 40_000}  # 0, J/4, J/2, J of jitter: 40us
    result = explore(scenario, 200, "random", 1, stop_on="pool.use_after_free")
    finish_bugs(result, out_dir=tmp_path)
    assert main(["replay", result.bugs[0].replay_path or ""]) == 1


# ---------------------------------------------------------------------- when a cancel lands

CANCEL = ROOT / "scenarios" / "wsk" / "zoo_receive_irp_freed_after_cancel.yaml"


def test_a_plain_run_completes_a_cancelled_wsk_request_inside_iocancelirp() -> None:
    run = Run(load_scenario(CANCEL), FifoStrategy())
    run.execute()
    assert run.machine.violations == []
    trace = run.machine.trace or []
    cancel = next(i for i, r in enumerate(trace) if r[3] == "irp.cancel")
    complete = next(i for i, r in enumerate(trace) if r[3] == "irp.complete" and i > cancel)
    free = next(i for i, r in enumerate(trace) if r[3] == "irp.free" and i > cancel)
    assert complete < free  # completed (STATUS_CANCELLED) before IoCancelIrp returned


@pytest.mark.parametrize("strategy", ["random", "pct"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exploration_lands_a_cancel_later_and_catches_the_early_free(strategy: str,
                                                                     seed: int) -> None:
    result = explore(load_scenario(CANCEL), 200, strategy, seed,
                     stop_on="irp.freed_after_cancel_before_completion")
    bug = next(b for b in result.bugs if b.rule == "irp.freed_after_cancel_before_completion")
    assert bug.location.startswith("driver_stubs/zoo/receive_irp_freed_after_cancel.py:")
    cancels = [d for d in bug.decisions if d.kind == "cancel"]
    assert cancels and cancels[-1].choice == 1  # "later"


def test_the_summary_says_when_expected_violations_hide_bugs() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "wsk" / "zoo_free_context_on_event_pending.yaml")
    assert scenario.expect.violations == ("pool.use_after_free",)
    summary = explore(scenario, 30, "random", 1).summary()
    assert "0 distinct bug(s)" in summary
    assert "violations the scenario expects (pool.use_after_free) are not bugs here" in summary
    clean = explore(load_scenario(ROOT / "scenarios" / "kernel" / "timer_counter.yaml"), 30,
                    "random", 1).summary()
    assert "the scenario expects" not in clean


# ---------------------------------------------------------------------- low resources


def _with_fail_allocations(scenario, window: int):  # type: ignore[no-untyped-def]
    explore_block = scenario.sections["explore"]
    return dataclasses.replace(scenario, sections={
        **scenario.sections,
        "explore": dataclasses.replace(explore_block, fail_allocations=window)})


def test_fail_allocations_is_one_decision_over_none_and_each_of_the_first_n() -> None:
    scenario = _scenario("leak_on_failed_entry")
    runner = ScheduleRunner(scenario)
    outcomes = {}
    for nth in range(5):  # fail_allocations: 4 - none, or the 1st..4th allocation
        asked = Decision("alloc", 5, nth)
        run = runner.run(ReplayStrategy([asked]), 1, trace=True)
        assert [d for d in run.machine.decisions if d.kind == "alloc"] == [asked]
        failed = [r[4] for r in run.machine.trace if r[3] == "pool.fail"]
        allocated = [r[4][2] for r in run.machine.trace if r[3] == "pool.alloc"]
        outcomes[nth] = (allocated, [size for _, size in failed],
                         sorted({v.rule.id for v in run.machine.violations}))
    assert outcomes == {
        0: ([16, 64], [], []),             # fifo's answer: nothing fails
        1: ([], [16], []),                 # the context: DriverEntry fails cleanly
        2: ([16], [64], ["pool.leak"]),    # the history: the context leaks (the bug)
        3: ([16, 64], [], []),             # the driver makes only two allocations
        4: ([16, 64], [], []),
    }


def test_without_fail_allocations_no_allocation_is_asked_about() -> None:
    scenario = _with_fail_allocations(_scenario("leak_on_failed_entry"), 0)
    result = explore(scenario, 200, "random", 1)
    assert result.bugs == [], result.summary()
    run = ScheduleRunner(scenario).run(RandomStrategy(3), 3)
    assert "alloc" not in {d.kind for d in run.machine.decisions}


def test_a_failed_allocation_replays_and_reads_in_the_story(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = _scenario("leak_on_failed_entry")
    result = explore(scenario, 200, "random", 1, stop_on="pool.leak")
    finish_bugs(result, out_dir=tmp_path)
    bug = result.bugs[0]
    assert trim(bug.decisions) == [Decision("alloc", 5, 2)]
    assert "allocation of 64 bytes ('FLtx') fails: NULL" in bug.story
    capsys.readouterr()
    assert main(["replay", bug.replay_path or ""]) == 1
    replayed = capsys.readouterr().out
    header = replayed.splitlines()[0]
    assert header.endswith(", 1 recorded decision(s), 2 CPUs"), header  # not "strategy fifo"
    assert "pool.fail 'FLtx' 64" in replayed  # the tag as pool tools show it, not an integer


@pytest.mark.parametrize("nth", [1, 2, 3, 4, 5])
def test_the_nth_driver_allocation_fails_pool_irps_and_mdls_counted_together(nth: int) -> None:
    from mock_wsk.kernel.faults import AllocationFaults
    from mock_wsk.wdk import (
        FALSE,
        POOL_FLAG_NON_PAGED,
        ExAllocatePool2,
        ExFreePool,
        IoAllocateIrp,
        IoAllocateMdl,
        IoFreeIrp,
        IoFreeMdl,
    )
    from tests.kernel_helpers import run_driver

    got: list[object] = []

    def entry(DriverObject: object, RegistryPath: object) -> None:
        block = ExAllocatePool2(POOL_FLAG_NON_PAGED, 64, b"Test")
        irp = IoAllocateIrp(1, FALSE)
        mdl = IoAllocateMdl(block, 64, FALSE, FALSE, None) if block is not None else None
        second = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, b"Test")
        got.extend([block, irp, mdl, second])
        for obj, free in ((mdl, IoFreeMdl), (irp, IoFreeIrp), (second, ExFreePool),
                          (block, ExFreePool)):
            if obj is not None:
                free(obj)

    m = run_driver(entry, setup=lambda m: m.subsystem(AllocationFaults).fail_nth(nth))
    expected = [True] * 4
    if nth <= 4:
        expected[nth - 1] = False
    if nth == 1:
        expected[2] = False  # no block, no MDL asked for: the 4th allocation is the 3rd made
    assert [obj is not None for obj in got] == expected
    assert m.violations == []
    assert [r[3] for r in m.trace or () if r[3].endswith(".fail")] == \
        ([] if nth == 5 else [["pool.fail", "irp.fail", "mdl.fail", "pool.fail"][nth - 1]])


def test_the_command_line_explores_with_failing_allocations_and_its_replay_keeps_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ZOO / "leak_on_failed_entry.yaml").read_text(encoding="utf-8")
    path = tmp_path / "plain.yaml"  # the zoo scenario without the setting in its file
    path.write_text(text.replace("  fail_allocations: 4\n", "").replace(
        "  expect_bug: pool.leak\n", ""), encoding="utf-8")
    monkeypatch.chdir(ROOT)  # the stub resolves from the project
    out = tmp_path / "out"
    assert main(["explore", str(path), "-n", "100", "--out", str(out)]) == 0  # never fails
    assert main(["explore", str(path), "-n", "100", "--out", str(out),
                 "--fail-allocations", "4"]) == 1
    (replay_file,) = out.glob("*pool.leak*.json")
    doc = json.loads(replay_file.read_text(encoding="utf-8"))
    assert doc["fail_allocations"] == 4 and doc["jitter_ns"] == 0
    capsys.readouterr()
    assert main(["replay", str(replay_file)]) == 1  # the leak again, not a divergence (2)
    assert "VIOLATION pool.leak" in capsys.readouterr().out
