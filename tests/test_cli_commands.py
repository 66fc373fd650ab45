"""The CLI's commands: determinism of traces, --json, replay, new, report, perfetto, crashes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.runner import run_scenario
from harness.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
RANDOM = str(ROOT / "scenarios/kernel/timer_counter_random.yaml")
ZOO = str(ROOT / "scenarios/kernel/wait_in_dpc.yaml")
MATRIX = str(ROOT / "scenarios/kernel/timer_counter_matrix.yaml")


def test_same_seed_same_trace_byte_for_byte(tmp_path: Path) -> None:
    # Two processes with different hash seeds: nothing may depend on set or dict hash order.
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"trace{hash_seed}.jsonl"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        process = subprocess.run(
            [sys.executable, "-m", "harness", "run", RANDOM, "--seed", "5", "--trace", str(out)],
            env=env, capture_output=True, text=True, timeout=60)
        assert process.returncode == 0, process.stdout + process.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] and outputs[0].count(b"\n") > 50
    header = json.loads(outputs[0].splitlines()[0])
    assert header["seed"] == 5 and header["scenario"] == "timer-counter-random-schedule"
    # ... and the seed matters: another one schedules differently.
    other = tmp_path / "other.jsonl"
    assert main(["run", RANDOM, "--seed", "6", "--trace", str(other)]) == 0
    assert other.read_bytes() != outputs[0]


def test_run_json_reports_results_and_progress_on_stderr(
        capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["run", ZOO, MATRIX, "--case", "cpus=1,*", "--json"])
    out, err = capsys.readouterr()
    assert status == 0
    document = json.loads(out)
    names = [r["name"] for r in document["results"]]
    assert names == ["zoo-wait-in-dpc", "timer-counter-matrix[cpus=1,period_ms=1]",
                     "timer-counter-matrix[cpus=1,period_ms=5]"]  # in command-line order
    zoo = document["results"][0]
    assert zoo["verdict"] == "pass" and zoo["file"] == ZOO
    assert {v["rule"] for v in zoo["violations"]} == {"irql.wait_in_dpc"}
    assert zoo["violations"][0]["bugcheck"] == "0x000000B8"
    assert zoo["metrics"]["driver.ticks"] == 3
    assert "[1/3] PASS" in err and "[3/3] PASS" in err


def test_failure_output_has_line_rule_excerpt_and_replay(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "fails.yaml"
    path.write_text("name: fails\ndriver: {stub: zoo/wait_in_dpc}\nrun: {duration: 5ms}\n"
                    "expect:\n  violations: []\n")
    assert main(["run", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:5: violations: unexpected irql.wait_in_dpc" in out
    assert "driver_stubs/zoo/wait_in_dpc.py:20 in TickDpcRoutine" in out
    assert "rule: A DPC runs at DISPATCH_LEVEL" in out
    assert "> " in out and "violation      irql.wait_in_dpc" in out  # the trace excerpt
    assert f"replay: python -m harness replay {path} --seed 0" in out


def test_replay_tells_the_story(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", ZOO]) == 0
    out = capsys.readouterr().out
    assert out.startswith("replay of zoo-wait-in-dpc")
    assert "> dpc#" in out and "starts (DISPATCH)" in out
    assert "!!" in out and "VIOLATION irql.wait_in_dpc" in out
    assert "at driver_stubs/zoo/wait_in_dpc.py:20" in out


def test_replay_file_reproduces_the_recorded_schedule(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_scenario(load_scenario(RANDOM))
    document = result.replay_document()
    assert document["decisions"], "a random schedule records its decisions"
    document["seed"] = 12345  # the decisions, not the seed, drive the replay
    replay = tmp_path / "race.json"
    replay.write_text(json.dumps(document))
    trace = tmp_path / "replayed.jsonl"
    assert main(["replay", str(replay), "--trace", str(trace)]) == 0
    records = [json.loads(line) for line in trace.read_text().splitlines()[1:]]
    assert [r["event"] for r in records] == [r[3] for r in result.trace or []]
    assert [r["cpu"] for r in records] == [r[1] for r in result.trace or []]
    capsys.readouterr()


def test_replay_of_a_matrix_file_needs_a_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", MATRIX]) == 2
    assert "choose one with --case" in capsys.readouterr().err
    assert main(["replay", MATRIX, "--case", "cpus=2,period_ms=1", "--max-lines", "5"]) == 0
    out = capsys.readouterr().out
    assert "records; showing" in out


def test_new_scaffolds_a_scenario_that_runs(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "first", "--stub", "zoo/wait_in_dpc", "--dir", str(tmp_path)]) == 0
    target = tmp_path / "first.yaml"
    text = target.read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    schema_path = (tmp_path / text.splitlines()[0].split("$schema=")[1]).resolve()
    assert schema_path == (ROOT / "harness" / "scenario.schema.json").resolve()
    assert main(["run", str(target)]) == 1  # the zoo stub breaks the `violations: []` default
    assert main(["new", "first", "--dir", str(tmp_path)]) == 2  # no silent overwrite
    assert main(["new", "x", "--stub", "timer_countr", "--dir", str(tmp_path)]) == 2
    assert main(["new", "bad name!", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "did you mean 'timer_counter'" in err


def test_report_rerenders_from_results(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", ZOO, "--report", str(tmp_path / "run"),
                 "--perfetto", str(tmp_path / "trace.json")]) == 0
    perfetto = json.loads((tmp_path / "trace.json").read_text())
    assert {e["ph"] for e in perfetto["traceEvents"]} >= {"M", "b", "e", "i"}
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "again")]) == 0
    html = (tmp_path / "again" / "index.html").read_text()
    assert "zoo-wait-in-dpc" in html and 'class="timeline"' not in html
    assert main(["report", str(tmp_path / "run" / "results.json"), "--out",
                 str(tmp_path / "rerun"), "--rerun"]) == 0
    assert 'class="timeline"' in (tmp_path / "rerun" / "index.html").read_text()
    (tmp_path / "junk.json").write_text("[1, 2")
    assert main(["report", str(tmp_path / "junk.json"), "--out", str(tmp_path / "x")]) == 2
    assert "junk.json:1:" in capsys.readouterr().err


def test_internal_error_is_one_line_not_a_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import harness.runner

    def explode(*args: object) -> None:
        raise RuntimeError("mock bug")

    monkeypatch.setattr(harness.runner, "run_scenario", explode)
    assert main(["run", ZOO]) == 1
    err = capsys.readouterr().err
    assert "INTERNAL ERROR" in err and "RuntimeError: mock bug" in err and "--debug" in err
    assert "Traceback" not in err


def test_schema_and_validate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"matrix", "extends"} <= set(schema["properties"])
    assert main(["validate", str(ROOT / "scenarios" / "kernel")]) == 0
    assert "6 cases" in capsys.readouterr().out


def test_replay_file_that_does_not_match_is_bad_input(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    replay = tmp_path / "stale.json"
    replay.write_text(json.dumps({"scenario": RANDOM, "seed": 7, "strategy": "random",
                                  "decisions": [["irql", 5, 1]]}))
    assert main(["replay", str(replay)]) == 2
    err = capsys.readouterr().err
    assert f"{replay}:1: the replay does not match" in err and "recorded irql/5" in err
