"""Bad input on the command line: exit status 2, ``file:line`` in the message, no traceback.

Each error class runs the real CLI in a subprocess (``python -m harness``), as a user or CI
would, so nothing in-process can hide a traceback or a wrong exit status.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = "name: good\ndriver: {stub: timer_counter, parameters: {ticks: 2}}\nrun: {duration: 5ms}\n"

ALIAS_BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 10) if prev else ', '.join(['x'] * 10)}]\n"
    for prev, name in [("", "a"), ("a", "b"), ("b", "c"), ("c", "d"), ("d", "e"), ("e", "f")]
)

CASES: dict[str, tuple[bytes, int, str]] = {
    # class: (file content, line expected in the message, words expected in the message)
    "malformed_yaml": (b"name: x\ndriver: {stub: timer_counter\nrun: {}\n", 3, "expected"),
    "wrong_type": (b"name: x\ndriver: {stub: timer_counter}\nmachine: {cpus: two}\n", 3,
                   "'two' is not of type 'integer'"),
    "unknown_key": (b"name: x\ndriver: {stub: timer_counter}\nmachin: {cpus: 2}\n", 3,
                    "did you mean 'machine'"),
    "unknown_stub": (b"name: x\ndriver: {stub: timer_countr}\n", 2, "did you mean 'timer_counter'"),
    "unknown_rule": (b"name: x\ndriver: {stub: timer_counter}\nexpect:\n"
                     b"  violations: [irql.wait_in_dcp]\n", 4, "did you mean 'irql.wait_in_dpc'"),
    "template_error": (b"name: x\ndriver: {stub: timer_counter}\nmachine: {cpus: {{ cpu }}}\n", 3,
                       "'cpu' is undefined"),
    "alias_bomb": (ALIAS_BOMB.encode(), 0, "aliases expand to more than"),
    "binary_junk": (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4, 1, "binary"),
    "empty_file": (b"", 1, "empty scenario file"),
    "bad_unit": (b"name: x\ndriver: {stub: timer_counter}\nrun: {duration: 64 Kib}\n", 3,
                 "unknown unit 'Kib'"),
    "peer_not_a_name": (b"name: x\ndriver: {stub: wsk_client}\npeers:\n"
                        b"  - {name: server, address: 10.0.0.2, listen: 7000}\ntimeline:\n"
                        b"  - {at: 1ms, action: peer_send, peer: [server], bytes: 10}\n", 6,
                        "expected the name of a peer"),
    "bad_pool_size": (b"name: x\ndriver: {stub: timer_counter}\nmachine:\n"
                      b"  nonpaged_pool: 8 Mib\n", 4, "a size is in bytes"),
    "bad_expression": (b"name: x\ndriver: {stub: timer_counter}\nexpect:\n"
                       b"  metrics: ['driver.ticks >== 3']\n", 4, "does not parse"),
}


def harness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def assert_clean(process: subprocess.CompletedProcess[str], status: int) -> None:
    output = process.stdout + process.stderr
    assert process.returncode == status, output
    assert "Traceback" not in output, output


@pytest.mark.parametrize("kind", sorted(CASES))
def test_bad_input_exits_2_with_file_and_line(kind: str, tmp_path: Path) -> None:
    content, line, words = CASES[kind]
    (tmp_path / "bad.yaml").write_bytes(content)
    process = harness("run", "bad.yaml", cwd=tmp_path)
    assert_clean(process, 2)
    if kind == "alias_bomb":  # the line where the expansion crosses the limit
        assert "bad.yaml:" in process.stderr and process.stderr.split(":")[1].isdigit()
    else:
        assert f"bad.yaml:{line}:" in process.stderr or f"bad.yaml:{line}\n" in \
            process.stderr or process.stderr.startswith(f"ERROR bad.yaml:{line}:")
    assert words in process.stderr


def test_stub_that_does_not_compile_points_at_the_stub(tmp_path: Path) -> None:
    stubs = tmp_path / "my_stubs"
    stubs.mkdir()
    (stubs / "broken.py").write_text("def DriverEntry(DriverObject, RegistryPath):\n"
                                     "    return STATUS_SUCCESS +\n")
    (tmp_path / "s.yaml").write_text("name: x\ndriver: {stub: broken}\n")
    process = harness("run", "s.yaml", "--stubs", "my_stubs", cwd=tmp_path)
    assert_clean(process, 2)
    assert "broken.py:2" in process.stderr and "does not compile" in process.stderr


def test_bad_replay_file(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text('{\n  "scenario": "s.yaml",\n  "decisions": [1, 2\n}\n')
    process = harness("replay", "r.json", cwd=tmp_path)
    assert_clean(process, 2)
    assert "r.json:4:" in process.stderr and "not valid JSON" in process.stderr


def test_replay_file_with_a_negative_setting(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text('{\n  "scenario": "s.yaml",\n  "seed": 1,\n'
                                     '  "fail_allocations": -2,\n  "decisions": []\n}\n')
    process = harness("replay", "r.json", cwd=tmp_path)
    assert_clean(process, 2)
    assert "r.json:4:" in process.stderr and '"fail_allocations" must be a whole number' in \
        process.stderr


def test_usage_error_exits_2(tmp_path: Path) -> None:
    process = harness("run", "--no-such-option", "x.yaml", cwd=tmp_path)
    assert_clean(process, 2)
    assert "harness: error:" in process.stderr


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "a_good.yaml").write_text(GOOD)
    (scenarios / "b_bad.yaml").write_text("name: x\ndriver: {stub: timer_counter}\nrun: [1\n")
    (scenarios / "c_good.yaml").write_text(GOOD.replace("good", "also-good"))
    (scenarios / "_base.yaml").write_text("this is a base: [not collected\n")
    process = harness("run", "scenarios", "--report", "out", cwd=tmp_path)
    assert_clean(process, 2)
    assert "[1/2] PASS" in process.stdout and "[2/2] PASS" in process.stdout
    assert "b_bad.yaml:4" in process.stderr and "_base.yaml" not in process.stderr
    html = (tmp_path / "out" / "index.html").read_text()
    assert "also-good" in html and "b_bad.yaml:4" in html
    assert not [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
