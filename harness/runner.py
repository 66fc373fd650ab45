"""Running a scenario: build the machine, load the stub, play the timeline, unload, judge.

The runner is an adapter: everything it checks was recorded by the machine and its verifier;
it only compares that record with the scenario's expectations and renders the verdict.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.actions import get_action
from harness.errors import ScenarioError
from harness.scenario import Scenario
from harness.stubs import load_image
from mock_wsk.kernel.driver import (
    LoadedDriver,
    check_unload_finished,
    load_driver,
    stub_globals,
    unload_driver,
)
from mock_wsk.kernel.faults import AllocationFaults
from mock_wsk.kernel.pool import PoolTracker
from mock_wsk.machine import Machine
from mock_wsk.scheduling import Strategy, make_strategy
from mock_wsk.status import status_name
from mock_wsk.verifier import Policy, Severity, Violation
from mock_wsk.winsock.process import Process, finish_process, is_app, start_process


@dataclass(slots=True)
class Failure:
    """One expectation that did not hold, pointing at the YAML line that stated it."""

    what: str
    message: str
    line: int | None = None
    path: str | None = None  # the base file the expectation came from (extends), if not the file


@dataclass(slots=True)
class ScenarioResult:
    scenario: Scenario
    failures: list[Failure]
    violations: list[Violation]
    bugcheck: str | None
    bugcheck_code: int | None
    metrics: dict[str, float]
    machine: Machine
    driver_entry_status: int | None
    wall_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)
    # An explored schedule's replay file (decisions and seed): what reproduces this result when
    # the scenario's own seed does not.
    replay_file: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"

    @property
    def trace(self) -> list[tuple[Any, ...]] | None:
        return self.machine.trace

    def replay_command(self) -> str:
        """The exact command that re-runs this scenario (and this matrix case) with its seed, or
        the explored schedule's replay file."""
        import shlex

        from harness.compose import display_path
        from harness.stubs import SHIPPED_STUBS

        s = self.scenario
        if self.replay_file is not None:
            return f"python -m harness replay {shlex.quote(self.replay_file)}"
        case = f" --case {shlex.quote(s.case)}" if s.case else ""
        stubs = ""
        if not s.stub_path.is_relative_to(SHIPPED_STUBS.resolve()):
            # The user's own stub: name its root, or the replay would not find it.
            depth = len(Path(s.stub.removesuffix(".py")).parts)
            root = s.stub_path.parents[depth - 1] if depth >= 1 else s.stub_path.parent
            stubs = f" --stubs {shlex.quote(display_path(root))}"
        return f"python -m harness replay {shlex.quote(s.path)}{case}{stubs} --seed {s.seed}"

    def replay_document(self) -> dict[str, Any]:
        """A replay file (``python -m harness replay FILE.json``): the recorded decisions."""
        s = self.scenario
        return {"scenario": s.path, "case": s.case, "seed": s.seed, "strategy": s.strategy,
                "decisions": [[d.kind, d.options, d.choice] for d in self.machine.decisions]}

    def to_dict(self) -> dict[str, Any]:
        s = self.scenario
        return {
            "name": s.name,
            "file": s.path,
            "case": s.case,
            "verdict": self.verdict,
            "seed": s.seed,
            "strategy": s.strategy,
            "virtual_time_ns": self.machine.now,
            "wall_seconds": round(self.wall_seconds, 6),
            "driver_entry": status_name(self.driver_entry_status)
            if self.driver_entry_status is not None else None,
            "bugcheck": self.bugcheck,
            "failures": [{"what": f.what, "message": f.message, "line": f.line,
                          "file": f.path or s.path} for f in self.failures],
            "bugcheck_code": f"0x{self.bugcheck_code:08X}"
            if self.bugcheck_code is not None else None,
            "violations": [v.to_dict() for v in self.violations],
            "metrics": self.metrics,
            "replay": self.replay_command(),
        }


class Run:
    """The state of one scenario run, handed to timeline actions."""

    def __init__(self, scenario: Scenario, strategy: Strategy | None = None) -> None:
        self.scenario = scenario
        if strategy is None:  # a replay passes its own (recorded decisions)
            strategy = make_strategy(scenario.strategy, scenario.seed,
                                     **({"depth": scenario.pct_depth}
                                        if scenario.strategy == "pct" else {}))
        self.machine = Machine(
            cpus=scenario.cpus,
            arch=scenario.arch,
            strategy=strategy,
            policy=_POLICIES.get(scenario.policy) or Policy(scenario.policy),
            seed=scenario.seed,
            trace=scenario.trace,
            step_budget=scenario.step_budget,
        )
        if scenario.nonpaged_pool is not None:
            self.machine.subsystem(PoolTracker).nonpaged_limit = scenario.nonpaged_pool
        self.module = _instantiate(scenario)
        self.driver: LoadedDriver | None = None
        self.process: Process | None = None  # a user-mode application stub (main, no DriverEntry)
        self.unload_started = False
        for hook in RUN_SETUP_HOOKS:
            hook(self)

    def request_unload(self) -> None:
        if not self.unload_started and self.driver is not None:
            self.unload_started = True
            unload_driver(self.machine, self.driver)

    def _fire(self, name: str, params: dict[str, Any]) -> None:
        get_action(name).fn(self, params)

    def execute(self) -> None:
        s, m = self.scenario, self.machine
        # A callable DriverEntry makes it a driver whatever else it defines; is_app's lookup of
        # `main` first fails (a formatted AttributeError, ~6k instructions) for every driver.
        explore = s.sections.get("explore")
        if explore is not None and explore.fail_allocations:
            fail_one_allocation(m, explore.fail_allocations)
        if not callable(vars(self.module).get("DriverEntry")) and is_app(self.module):
            self.process = start_process(m, self.module, s.stub_path.stem, s.parameters)
        else:
            self.driver = load_driver(m, self.module, s.stub_path.stem, s.parameters)
        jitter = getattr(explore, "jitter_ns", 0)
        for event in s.timeline:
            at = event.at_ns
            if jitter and get_action(event.action).peer:
                at += peer_delay(m, jitter)
            m.call_at(at, self._fire, event.action, event.params)
        m.run(until_ns=s.duration_ns)
        if m.halt is not None or m.stuck is not None:
            return
        if self.process is not None:  # no DriverUnload: wait for the exit, then the leak checks
            finish_process(m, self.process, s.unload_timeout_ns)
            return
        if (s.unload or self.unload_started) and self.driver is not None:
            self.request_unload()
            if not self.driver.unloaded:  # a timeline `unload` may already have finished it
                m.run(until_ns=m.now + s.unload_timeout_ns)
            check_unload_finished(m, self.driver)


def fail_one_allocation(m: Machine, window: int) -> None:
    """Under ``explore.fail_allocations``: which of the driver's first ``window`` allocations
    (pool blocks, IRPs, MDLs) returns NULL, a decision among none (0, fifo's answer) and
    1..window."""
    options = tuple(range(window + 1))
    m.subsystem(AllocationFaults).fail_nth(options[m.decide("alloc", options)])


def peer_delay(m: Machine, jitter_ns: int) -> int:
    """How much later a peer action fires under ``explore.jitter``: a decision of its own among
    0, J/4, J/2 and J (fifo: 0, the written time)."""
    options = (0, jitter_ns // 4, jitter_ns // 2, jitter_ns)
    return options[m.decide("jitter", options)]


# A scenario's policy by its value, without the enum call's machinery (~0.6 us a schedule when
# exploring); anything else still goes through Policy() and its error.
_POLICIES: dict[str, Policy] = {policy.value: policy for policy in Policy}

# Areas (the WSK provider, peers, the flow model) attach their scenario sections here.
RUN_SETUP_HOOKS: list[Any] = []


def _instantiate(scenario: Scenario) -> Any:
    """Run the stub's module code; an exception there is bad input at the stub's own line."""
    try:
        return load_image(scenario.stub_path).instantiate()
    except Exception as exc:  # the stub's top-level code is the user's, and may raise anything
        import traceback

        stub = str(scenario.stub_path)
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == stub]
        line = frames[-1].lineno if frames else 1
        raise ScenarioError(f"driver stub {scenario.stub!r} failed to load: "
                            f"{type(exc).__name__}: {exc}", path=stub, line=line) from None


def collect_series(run: Run) -> dict[str, list[tuple[int, float]]]:
    """Time series the run's subsystems recorded: ``{name: [(time_ns, value), ...]}``.

    A subsystem offers them with a ``series()`` method (as it offers ``metrics()``); the flow
    model's ISB, outstanding bytes and throughput are plotted in the report from here and
    ``liveness: [{metric: ..., keeps_growing_every: ...}]`` reads them.
    """
    out: dict[str, list[tuple[int, float]]] = {}
    for subsystem in run.machine.subsystems():
        reporter = getattr(subsystem, "series", None)
        if callable(reporter):
            for name, samples in reporter().items():
                out[name] = [(int(t), float(v)) for t, v in samples]
    return out


def collect_metrics(run: Run) -> dict[str, float]:
    m = run.machine
    metrics: dict[str, float] = {
        "machine.time": m.now,
        "machine.violations": len(m.violations),
        "machine.errors": sum(v.severity is Severity.ERROR for v in m.violations),
        "machine.warnings": sum(v.severity is Severity.WARNING for v in m.violations),
        "machine.decisions": len(m.decisions),
        "machine.contexts": m._next_id - 1,
    }
    from mock_wsk import wdk

    # The stub's own numbers, not the WDK constants its `from mock_wsk.wdk import *` brought in
    # (hundreds of them would drown the metrics table and every "available names" hint).
    constants = vars(wdk)
    for name, value in stub_globals(run.module).items():
        if not name.startswith("_") and isinstance(value, int | float) and \
                not isinstance(value, type) and not (
                    name in constants and constants[name] is value):
            metrics[f"driver.{name}"] = float(value) if isinstance(value, float) else int(value)
    for subsystem in m.subsystems():
        reporter = getattr(subsystem, "metrics", None)
        if callable(reporter):
            metrics.update(reporter())
    return metrics


def expression_constants(run: Run) -> dict[str, float]:
    """Names metric expressions may use besides metrics: every NTSTATUS by name
    (``driver.last_status == STATUS_PENDING``) and the WDK constants the stub sees
    (``driver.STATUS_FILE_FORCED_CLOSED``), which are left out of the metrics table itself."""
    from mock_wsk import wdk
    from mock_wsk.status import NTSTATUS

    out: dict[str, float] = {name: int(member) for name, member in NTSTATUS.__members__.items()}
    constants = vars(wdk)
    for name, value in stub_globals(run.module).items():
        if name in constants and constants[name] is value and isinstance(value, int) and \
                not isinstance(value, bool | type):
            out[f"driver.{name}"] = int(value)
    return out


def judge(run: Run, metrics: dict[str, float],
          series: dict[str, list[tuple[int, float]]] | None = None) -> list[Failure]:
    s, m = run.scenario, run.machine
    expect = s.expect
    failures: list[Failure] = []
    got = sorted({v.rule.id for v in m.violations})
    wanted = sorted(set(expect.violations))
    if got != wanted:
        missing = [r for r in wanted if r not in got]
        unexpected = [r for r in got if r not in wanted]
        parts = []
        if unexpected:
            parts.append("unexpected " + ", ".join(unexpected))
        if missing:
            parts.append("expected but not reported " + ", ".join(missing))
        failures.append(Failure("violations", "; ".join(parts), expect.violations_line))
    halted = m.halt.violation.rule.bugcheck if m.halt is not None else None
    if halted != expect.bugcheck:
        def show(code: int | None) -> str:
            return "none" if code is None else f"0x{code:08X}"

        failures.append(Failure(
            "bugcheck", f"expected bug check {show(expect.bugcheck)}, got {show(halted)}",
            expect.bugcheck_line))
    entry = run.driver.entry_status if run.driver else None
    if m.halt is None and entry is not None and entry != expect.driver_entry:
        failures.append(Failure(
            "driver_entry",
            f"DriverEntry returned {status_name(entry)}, expected "
            f"{status_name(expect.driver_entry)}", expect.driver_entry_line))
    from harness.expr import UnknownNameError

    names = expression_constants(run)
    names.update(metrics)
    for check in expect.metrics:
        try:
            value = check.expr.evaluate(names)
        except UnknownNameError as exc:  # suggest and list the run's metrics, not constants
            shown_error = UnknownNameError(exc.names, sorted(metrics))
            failures.append(Failure("metric", f"{check.text}: {shown_error}", check.line))
            continue
        except KeyError as exc:
            failures.append(Failure("metric", f"{check.text}: {exc}", check.line))
            continue
        except ValueError as exc:
            failures.append(Failure("metric", f"{check.text}: {exc}", check.line))
            continue
        if value is not True:
            shown = ", ".join(f"{n} = {metrics[n]}" for n in sorted(check.expr.names)
                              if n in metrics)
            failures.append(Failure("metric", f"{check.text} is false ({shown})", check.line))
    from harness.expectations import judge_trace

    end_ns = min(m.now, s.duration_ns) if m.halt is None else m.now
    for what, message, line in judge_trace(expect, m.trace, series or {}, end_ns):
        failures.append(Failure(what, message, line))
    for failure in failures:  # an expectation inherited through extends: name the base file
        failure.path = expect.sources.get("metrics" if failure.what == "metric" else failure.what)
    return failures


def run_scenario(scenario: Scenario, strategy: Strategy | None = None) -> ScenarioResult:
    """Run one scenario; ``strategy`` replaces the scenario's own (replays pass one).

    A scenario with an ``explore:`` block is explored instead (many schedules; see
    :func:`harness.explore.explore_as_result`), unless a strategy is given (a replay)."""
    if strategy is None and "explore" in scenario.sections:
        from harness.explore import explore_as_result

        return explore_as_result(scenario)
    started = time.perf_counter()
    run = Run(scenario, strategy)
    run.execute()
    metrics = collect_metrics(run)
    series = collect_series(run)
    failures = judge(run, metrics, series)
    m = run.machine
    halt = m.halt
    return ScenarioResult(
        scenario=scenario,
        failures=failures,
        violations=list(m.violations),
        bugcheck=halt.violation.rule.title if halt else None,
        bugcheck_code=halt.violation.rule.bugcheck if halt else None,
        metrics=metrics,
        machine=m,
        driver_entry_status=run.driver.entry_status if run.driver else None,
        wall_seconds=time.perf_counter() - started,
        extra={"series": series} if series else {},
    )
