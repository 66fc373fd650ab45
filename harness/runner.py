"""Running a scenario: build the machine, load the stub, play the timeline, unload, judge.

The runner is an adapter: everything it checks was recorded by the machine and its verifier;
it only compares that record with the scenario's expectations and renders the verdict.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from harness.actions import get_action
from harness.scenario import Scenario
from harness.stubs import load_image
from mock_wsk.kernel.driver import LoadedDriver, check_unload_finished, load_driver, unload_driver
from mock_wsk.machine import Machine
from mock_wsk.scheduling import make_strategy
from mock_wsk.status import status_name
from mock_wsk.verifier import Policy, Severity, Violation


@dataclass(slots=True)
class Failure:
    """One expectation that did not hold, pointing at the YAML line that stated it."""

    what: str
    message: str
    line: int | None = None


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
        s = self.scenario
        return f"python -m harness run {s.path} --seed {s.seed}"

    def to_dict(self) -> dict[str, Any]:
        s = self.scenario
        return {
            "name": s.name,
            "file": s.path,
            "verdict": self.verdict,
            "seed": s.seed,
            "strategy": s.strategy,
            "virtual_time_ns": self.machine.now,
            "wall_seconds": round(self.wall_seconds, 6),
            "driver_entry": status_name(self.driver_entry_status)
            if self.driver_entry_status is not None else None,
            "bugcheck": self.bugcheck,
            "failures": [{"what": f.what, "message": f.message, "line": f.line}
                         for f in self.failures],
            "violations": [v.to_dict() for v in self.violations],
            "metrics": self.metrics,
            "replay": self.replay_command(),
        }


class Run:
    """The state of one scenario run, handed to timeline actions."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        strategy = make_strategy(scenario.strategy, scenario.seed,
                                 **({"depth": scenario.pct_depth}
                                    if scenario.strategy == "pct" else {}))
        self.machine = Machine(
            cpus=scenario.cpus,
            arch=scenario.arch,
            strategy=strategy,
            policy=Policy(scenario.policy),
            seed=scenario.seed,
            trace=scenario.trace,
            step_budget=scenario.step_budget,
        )
        self.module = load_image(scenario.stub_path).instantiate()
        self.driver: LoadedDriver | None = None
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
        self.driver = load_driver(m, self.module, s.stub_path.stem, s.parameters)
        for event in s.timeline:
            m.call_at(event.at_ns, self._fire, event.action, event.params)
        m.run(until_ns=s.duration_ns)
        if m.halt is not None or m.stuck is not None:
            return
        if s.unload or self.unload_started:
            self.request_unload()
            m.run(until_ns=m.now + s.unload_timeout_ns)
            check_unload_finished(m, self.driver)


# Areas (the WSK provider, peers, the flow model) attach their scenario sections here.
RUN_SETUP_HOOKS: list[Any] = []


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
    for name, value in vars(run.module).items():
        if not name.startswith("_") and isinstance(value, int | float) and \
                not isinstance(value, type):
            metrics[f"driver.{name}"] = float(value) if isinstance(value, float) else int(value)
    for subsystem in m.subsystems():
        reporter = getattr(subsystem, "metrics", None)
        if callable(reporter):
            metrics.update(reporter())
    return metrics


def judge(run: Run, metrics: dict[str, float]) -> list[Failure]:
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
    for check in expect.metrics:
        try:
            value = check.expr.evaluate(metrics)
        except KeyError as exc:
            failures.append(Failure("metric", f"{check.text}: {exc}", check.line))
            continue
        except ValueError as exc:
            failures.append(Failure("metric", f"{check.text}: {exc}", check.line))
            continue
        if value is not True:
            shown = ", ".join(f"{n} = {metrics[n]}" for n in sorted(check.expr.names))
            failures.append(Failure("metric", f"{check.text} is false ({shown})", check.line))
    return failures


def run_scenario(scenario: Scenario) -> ScenarioResult:
    started = time.perf_counter()
    run = Run(scenario)
    run.execute()
    metrics = collect_metrics(run)
    failures = judge(run, metrics)
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
    )
