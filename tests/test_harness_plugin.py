"""The pytest plugin in a user's project: collection per matrix case, readable failures,
markers, xdist and JUnit XML (a real pytest run in a subprocess, as CI would do it)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "pytest.ini").write_text("[pytest]\nwsk_scenario_glob = checks/**/*.yaml\n"
                                     "addopts = -p no:cacheprovider\n")
    checks = root / "checks" / "timers"
    checks.mkdir(parents=True)
    (checks / "_base.yaml").write_text(
        "name: base\ndriver: {stub: timer_counter, parameters: {ticks: 3}}\n"
        "run: {duration: 10ms}\ntags: [mine]\n")
    (checks / "matrix.yaml").write_text(
        "extends: _base.yaml\nname: ticks\nmatrix:\n  machine.cpus: [1, 2]\n"
        "expect:\n  metrics: ['driver.ticks == 3']\n")
    (checks / "failing.yaml").write_text(
        "extends: _base.yaml\nname: wrong-count\nexpect:\n  metrics:\n"
        "    - driver.ticks == 4\n")
    (checks / "broken.yaml").write_text("name: broken\ndriver: {stub: timer_counter}\n"
                                        "machine: {cpus: 0}\n")
    (root / "test_python.py").write_text(
        "def test_fixtures(wsk_machine, wsk_load_stub, wsk_run_scenario):\n"
        "    m = wsk_machine(cpus=1)\n"
        "    driver = wsk_load_stub(m, 'timer_counter', ticks=2)\n"
        "    m.run(until_ns=5_000_000)\n"
        "    assert driver.module.ticks == 2\n"
        "    result = wsk_run_scenario('checks/timers/matrix.yaml', case='cpus=2')\n"
        "    assert result.passed and result.scenario.cpus == 2\n")
    return root


def pytest_run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=project,
                          capture_output=True, text=True, timeout=120)


def test_collection_ids_and_markers(project: Path) -> None:
    process = pytest_run(project, "--collect-only", "-q", "-m", "mine", "--strict-markers")
    ids = [line for line in process.stdout.splitlines() if "::" in line]
    assert ids == ["checks/timers/failing.yaml::wrong-count",
                   "checks/timers/matrix.yaml::ticks[cpus=1]",
                   "checks/timers/matrix.yaml::ticks[cpus=2]"], process.stdout + process.stderr


def test_run_under_xdist_with_junit(project: Path) -> None:
    process = pytest_run(project, "-n", "2", "--junitxml=out.xml", "-q")
    output = process.stdout + process.stderr
    assert process.returncode == 1, output
    assert "2 failed, 3 passed" in output, output
    assert "checks/timers/failing.yaml:5: metric: driver.ticks == 4 is false" in output
    assert "replay: python -m harness replay" in output
    assert "bad scenario file:" in output and "broken.yaml:3:" in output
    assert "Traceback" not in output
    suite = ET.parse(project / "out.xml").getroot()
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert {"ticks[cpus=1]", "ticks[cpus=2]", "wrong-count", "test_fixtures"} <= set(cases)
    assert cases["wrong-count"].find("failure") is not None
