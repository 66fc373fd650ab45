"""Sharded exploration (``explore: {shards: K}``): the merged result does not depend on the split.

In-process, K shards run one after another merge to the bugs of one unsharded run over the same
iterations; as real pytest sessions (``-n 0`` and ``-n 2``), the shard items pass, the
controller's merged summary line is the same, and an expected bug that no shard finds fails the
session with a clear message.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.explore import bug_from_dict, explore, explore_as_result, merge_bugs
from harness.scenario import load_scenarios

RACE = """\
name: race
driver:
  stub: zoo/context_freed_while_dpc_runs
  parameters: {{ticks: 2}}
machine: {{cpus: 2}}
run: {{duration: 10ms}}
expect:
  violations: []
explore:
  iterations: 300
  seed: 1
  shards: {shards}
  expect_bug: {expect_bug}
"""


def _write(directory: Path, shards: int = 3, expect_bug: str = "pool.use_after_free") -> Path:
    (directory / "pytest.ini").write_text("[pytest]\nwsk_scenario_glob = *.yaml\n",
                                          encoding="utf-8")
    path = directory / "race.yaml"
    path.write_text(RACE.format(shards=shards, expect_bug=expect_bug), encoding="utf-8")
    return path


def _keys(bugs: list) -> list[tuple[str, str, int]]:
    return [(b.rule, b.location, b.index) for b in bugs]


@pytest.mark.parametrize("shards", [2, 3, 4])
def test_shards_merge_to_the_unsharded_bugs(tmp_path: Path, shards: int) -> None:
    scenario = load_scenarios(_write(tmp_path, shards=shards), root=tmp_path)[0]
    whole = explore(scenario, 300, "random", 1, coverage=False)
    assert whole.found("pool.use_after_free")
    # Through the same path a pytest shard item takes (explore_as_result -> JSON dicts).
    shares = []
    for shard in range(shards):
        result = explore_as_result(scenario, shard, shards)
        assert result.passed, result.failures
        shares.append([bug_from_dict(b) for b in result.extra["explore"]["bugs"]])
    merged = merge_bugs(shares)
    assert _keys(merged) == _keys(whole.bugs)
    # No shard stops early, so even the hit counts add up to the unsharded run's.
    assert [b.hits for b in merged] == [b.hits for b in whole.bugs]


def test_dfs_cannot_be_sharded(tmp_path: Path) -> None:
    path = _write(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("seed: 1", "strategy: dfs"),
                    encoding="utf-8")
    with pytest.raises(ScenarioError, match="dfs exploration cannot be sharded"):
        load_scenarios(path, root=tmp_path)


def _pytest(directory: Path, workers: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", str(workers),
         str(directory)],
        cwd=directory, capture_output=True, text=True, timeout=120, check=False)


def _merged_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("explore merged:")]


def test_pytest_sessions_merge_alike_under_any_worker_count(tmp_path: Path) -> None:
    _write(tmp_path)
    runs = {workers: _pytest(tmp_path, workers) for workers in (0, 2)}
    for workers, run in runs.items():
        assert run.returncode == 0, f"-n {workers}:\n{run.stdout}\n{run.stderr}"
        assert re.search(r"\b3 passed\b", run.stdout), run.stdout
    lines = _merged_lines(runs[0].stdout)
    assert len(lines) == 1
    assert re.fullmatch(r"explore merged: race\.yaml::race: pool\.use_after_free at "
                        r"\S+context_freed_while_dpc_runs\.py:\d+ first at schedule \d+",
                        lines[0]), lines
    assert _merged_lines(runs[2].stdout) == lines


def test_expected_bug_in_no_shard_fails_the_session(tmp_path: Path) -> None:
    _write(tmp_path, expect_bug="irp.double_completion")
    run = _pytest(tmp_path, 2)
    assert run.returncode == 1, run.stdout
    assert ("explore race.yaml::race: expected irp.double_completion in 300 schedules over 3 "
            "shards; found in none") in run.stdout
    # The use-after-free is an unexpected bug: each shard that met it failed on its own, naming
    # the replay file it left (the scenario's seed alone would not reproduce the schedule).
    assert "FAILED race.yaml::race[shard" in run.stdout
    files = re.findall(r"replay: python -m harness replay (explore-out/\S+\.json)", run.stdout)
    assert files, run.stdout
    replay = subprocess.run([sys.executable, "-m", "harness", "replay", files[0]], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert "pool.use_after_free" in replay.stdout


def test_clean_shards_pass_but_the_merged_expectation_fails(tmp_path: Path) -> None:
    # A clean driver: every shard item passes, only the merged verdict can fail the session.
    path = _write(tmp_path, expect_bug="irp.double_completion")
    text = path.read_text(encoding="utf-8")
    text = text.replace("zoo/context_freed_while_dpc_runs", "timer_counter")
    path.write_text(text.replace("iterations: 300", "iterations: 30"), encoding="utf-8")
    run = _pytest(tmp_path, 0)
    assert run.returncode == 1, run.stdout
    assert re.search(r"\b3 passed\b", run.stdout), run.stdout
    assert ("explore race.yaml::race: expected irp.double_completion in 30 schedules over 3 "
            "shards; found in none") in run.stdout
