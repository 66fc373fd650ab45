"""pytest plugin: scenario files become test items (registered through the ``pytest11`` entry).

* Collects files matching the ``wsk_scenario_glob`` ini option (default
  ``scenarios/**/*.yaml``, relative to the rootdir; several globs separated by spaces) as one
  item per scenario and matrix case, with readable ids
  (``scenarios/kernel/x.yaml::timer-counter[cpus=2]``). Files starting with ``_`` are bases for
  ``extends:`` and are not collected.
* A failure reads like any pytest failure: the expectation with its YAML file:line, each
  violation with its rule, doc sentence and the stub's file:line, a trace excerpt, the replay
  command. Bad input fails the item with ``file:line:col: message`` (no traceback).
* Scenario ``tags`` become markers (``pytest -m kernel``); every item has ``wsk_scenario``.
* Fixtures ``wsk_machine`` (build a machine), ``wsk_load_stub`` (load a driver stub on it) and
  ``wsk_run_scenario`` (run a file) serve Python tests. Works under pytest-xdist (items are
  collected in each worker; only text crosses processes) and with ``--junitxml`` (the verdict
  is a ``user_property``).
* A scenario whose ``explore:`` block has ``shards: K`` (K > 1) is K items
  ``name[shard i/K]``; shard ``i`` explores the schedule indices ``i mod K`` with the same
  per-index seeds, so its result depends on (scenario, K, i) only, not on the xdist workers. A
  shard fails at once on an unexpected bug; the expected bug is judged at session end on the
  shards' merged bugs (sent to the controller as a ``user_property``), with a terminal summary
  line per merged bug and a failed exit status when no shard found it.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

DEFAULT_GLOB = "scenarios/**/*.yaml"
SHARD_PROPERTY = "wsk_explore_shard"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("wsk_scenario_glob", "glob (relative to rootdir) of scenario files",
                  default=DEFAULT_GLOB)
    parser.addini("wsk_stub_roots", "extra directories driver stubs may load from",
                  type="paths", default=[])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "wsk_scenario: a mock WSK harness scenario file")
    for tag in ("kernel", "wsk", "zoo", "flow", "tdi", "winsock"):
        config.addinivalue_line("markers", f"{tag}: scenarios tagged {tag}")
    config.pluginmanager.register(ShardMerger(), "wsk_shard_merger")


def _matches(config: pytest.Config, file_path: Path) -> bool:
    if file_path.suffix not in (".yaml", ".yml") or file_path.name.startswith("_"):
        return False
    try:
        relative = file_path.resolve().relative_to(config.rootpath.resolve()).as_posix()
    except ValueError:
        return False
    patterns = str(config.getini("wsk_scenario_glob")).split()
    return any(fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(
        relative, pattern.replace("**/", "")) for pattern in patterns)


def _register_marker(config: pytest.Config, tag: str) -> None:
    # Tags of the user's own scenarios are markers too, also under --strict-markers.
    known = {line.split(":", 1)[0].strip() for line in config.getini("markers")}
    if tag not in known:
        config.addinivalue_line("markers", f"{tag}: scenarios tagged {tag}")


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if _matches(parent.config, file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from harness.compose import display_path
        from harness.errors import ScenarioError
        from harness.scenario import load_scenarios

        roots = [Path(p) for p in self.config.getini("wsk_stub_roots")]
        try:
            # Shown relative to where pytest runs, so failures read "checks/x.yaml:5".
            scenarios = load_scenarios(display_path(self.path), roots, self.config.rootpath)
        except ScenarioError as error:
            yield BadScenarioItem.from_parent(self, name=self.path.stem, error=error)
            return
        for scenario in scenarios:
            settings = scenario.sections.get("explore")
            shards = getattr(settings, "shards", 1)
            items: list[ScenarioItem]
            if shards > 1:
                items = [ShardItem.from_parent(self, name=f"{scenario.name}[shard {i}/{shards}]",
                                               scenario=scenario, shard=i, shards=shards)
                         for i in range(shards)]
            else:
                items = [ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)]
            for item in items:
                item.add_marker("wsk_scenario")
                for tag in scenario.tags:
                    _register_marker(self.config, tag)
                    item.add_marker(tag)
                yield item


class ScenarioFailed(Exception):
    def __init__(self, result: Any) -> None:
        super().__init__(result.scenario.name)
        self.result = result


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        from harness.runner import run_scenario

        result = run_scenario(self.scenario)
        self.user_properties.append(("verdict", result.verdict))
        if not result.passed:
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        if isinstance(excinfo.value, ScenarioFailed):
            from harness.render import failure_report

            return failure_report(excinfo.value.result)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.scenario.line - 1, f"scenario: {self.scenario.name}"


class ShardItem(ScenarioItem):
    """One shard of a sharded ``explore:`` block: the schedule indices ``shard mod shards``."""

    def __init__(self, *, shard: int, shards: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shard = shard
        self.shards = shards

    def runtest(self) -> None:
        from harness.explore import explore_as_result

        result = explore_as_result(self.scenario, self.shard, self.shards)
        explored = result.extra["explore"]
        settings = self.scenario.sections["explore"]
        record = {
            "scenario": self.scenario.test_id, "shard": self.shard, "shards": self.shards,
            "iterations": settings.iterations, "expect_bug": settings.expect_bug,
            "schedules": explored["schedules"],
            "bugs": [{key: bug[key] for key in
                      ("rule", "location", "message", "first_index", "seed", "hits", "replay")}
                     for bug in explored["bugs"]],
        }
        # JSON text: it crosses the xdist channel and lands in --junitxml unchanged.
        self.user_properties.append((SHARD_PROPERTY, json.dumps(record, sort_keys=True)))
        self.user_properties.append(("verdict", result.verdict))
        if not result.passed:
            raise ScenarioFailed(result)


def merge_shard_records(records: dict[int, dict[str, Any]]) -> tuple[list[str], str | None]:
    """The merged bugs of one sharded scenario as summary lines, and the failure message when the
    expected bug is in no shard. Deterministic: the lines depend on the merged bugs only."""
    from harness.explore import bug_from_dict, merge_bugs

    first = records[min(records)]
    scenario, shards, expected = first["scenario"], first["shards"], first["expect_bug"]
    if len(records) < shards:
        return ([f"explore {scenario}: {len(records)} of {shards} shards ran; "
                 "merged expectation not judged"], None)
    shares = [[bug_from_dict(b) for b in records[i]["bugs"]] for i in sorted(records)]
    bugs = merge_bugs(shares)
    lines = [f"explore merged: {scenario}: {bug.rule} at {bug.location} first at schedule "
             f"{bug.index}" for bug in bugs]
    if not bugs:
        lines.append(f"explore merged: {scenario}: no bugs in {first['iterations']} schedules "
                     f"over {shards} shards")
    failure = None
    if expected is not None and not any(bug.rule == expected for bug in bugs):
        failure = (f"explore {scenario}: expected {expected} in {first['iterations']} schedules "
                   f"over {shards} shards; found in none")
    return lines, failure


class ShardMerger:
    """Gathers the shards' records from the reports and judges the merged bugs at session end.

    One per session, registered in ``pytest_configure``. Under xdist the controller sees every
    worker's reports (with their ``user_properties``) through ``pytest_runtest_logreport``, so
    only the controller merges; a worker's own instance stays silent.
    """

    def __init__(self) -> None:
        # scenario id -> {shard index -> the shard's JSON record}
        self.records: dict[str, dict[int, dict[str, Any]]] = {}
        self.lines: list[str] = []
        self.failures: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == SHARD_PROPERTY:
                record = json.loads(str(value))
                self.records.setdefault(record["scenario"], {})[record["shard"]] = record

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(session.config, "workerinput"):
            return  # an xdist worker: the controller merges what every worker reported
        for scenario in sorted(self.records):
            merged, failure = merge_shard_records(self.records[scenario])
            self.lines.extend(merged)
            if failure is not None:
                self.failures.append(failure)
        if self.failures and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.lines and not self.failures:
            return
        terminalreporter.write_sep("=", "sharded exploration")
        for line in self.lines:
            terminalreporter.write_line(line)
        for failure in self.failures:
            terminalreporter.write_line(failure, red=True, bold=True)


class BadScenarioItem(pytest.Item):
    """Stands for a scenario file that does not load: fails with the located error."""

    def __init__(self, *, error: Exception, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        return f"bad scenario file: {excinfo.value}"

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = getattr(self.error, "line", None)
        return self.path, (line - 1) if line else 0, f"scenario file: {self.path.name}"


@pytest.fixture
def wsk_machine() -> Callable[..., Any]:
    """Build a machine: ``m = wsk_machine(cpus=2, strategy="random", seed=1)``."""
    from mock_wsk.machine import Machine
    from mock_wsk.scheduling import make_strategy
    from mock_wsk.verifier import Policy

    def build(cpus: int = 2, arch: str = "x64", strategy: str = "fifo", seed: int = 0,
              policy: str = "record", trace: bool = True) -> Machine:
        return Machine(cpus=cpus, arch=arch, strategy=make_strategy(strategy, seed),
                       policy=Policy(policy), seed=seed, trace=trace)

    return build


@pytest.fixture
def wsk_load_stub(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Load a driver stub on a machine (DriverEntry runs at the machine's next ``run()``)::

        m = wsk_machine()
        driver = wsk_load_stub(m, "timer_counter", ticks=3)
        m.run(until_ns=10_000_000)
    """
    from harness.stubs import load_image, resolve_stub
    from mock_wsk.kernel.driver import load_driver

    roots = [Path(p) for p in request.config.getini("wsk_stub_roots")]

    def load(machine: Any, stub: str, **parameters: Any) -> Any:
        path = resolve_stub(stub, Path.cwd(), roots)
        module = load_image(path).instantiate()
        return load_driver(machine, module, path.stem, parameters)

    return load


@pytest.fixture
def wsk_run_scenario(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Run a scenario file from a Python test: ``result = wsk_run_scenario(path, seed=3)``.

    A file with a matrix needs ``case="cpus=2"`` (or gets its first case)."""
    from harness.runner import run_scenario
    from harness.scenario import load_scenarios

    roots = [Path(p) for p in request.config.getini("wsk_stub_roots")]

    def run(path: str | Path, seed: int | None = None, case: str | None = None) -> Any:
        cases = load_scenarios(path, roots)
        chosen = [s for s in cases if case is None or s.case == case]
        if not chosen:
            raise LookupError(f"{path}: no matrix case {case!r}; cases: "
                              + ", ".join(s.case for s in cases))
        scenario = chosen[0]
        return run_scenario(scenario if seed is None else scenario.with_seed(seed))

    return run
