"""Systematic exploration of a scenario's schedules (Coyote/P style), over the one decision point.

Every schedule is a fresh machine running the scenario with its own strategy; the strategy answers
every question the machine asks (which context runs at a DDI call, which CPU a DPC or a woken
thread lands on, the IRQL of a callback, inline or pended completion ...). Three strategies:

* ``random`` - a seeded random walk; schedule ``i`` uses the seed ``schedule_seed(seed, i)``.
* ``pct`` - probabilistic concurrency testing with a bug depth (``depth``); same per-index seeds.
* ``dfs`` - bounded exhaustive search: depth-first over decision prefixes, at most ``bound``
  preemptions (answering a schedule question with another context than the one running) per
  schedule; beyond its prefix a schedule never preempts.

Trace is off while exploring (it is the costliest part of a run); a bug's schedule is re-run with
trace on for its story. A bug is a violation the scenario does not expect, de-duplicated by
(rule id, stub file:line). Coverage is the set of distinct (state, event) pairs the runs reached
(see ``Machine.coverage``), so a thin exploration can be told from a thorough one: pairs of the
decision point ("sched"), of the WSK provider ("wsk": callback entries by socket state, IRQL and
calls in flight; enable/disable outcomes; socket state transitions), of the kernel ("kernel":
waits, event sets, IRP completion and cancel, pool frees), of TDI and of Winsock. Each pair's
first item is its area; :func:`coverage_by_area` counts them.

Parallel: schedules are indexed; worker ``w`` of ``W`` takes the indices ``i % W == w`` with the
same per-index seeds, and :func:`merge` orders bugs by (rule, location, first index), so the
merged result does not depend on ``W`` (as long as no worker stops early).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.runner import Run
from harness.scenario import Scenario
from mock_wsk.machine import Machine
from mock_wsk.scheduling import Decision, PctStrategy, RandomStrategy, Strategy

STRATEGIES = ("random", "pct", "dfs")
_MASK64 = (1 << 64) - 1


def schedule_seed(seed: int, index: int) -> int:
    """The seed of schedule ``index`` (splitmix64 of the pair): independent of how the indices
    are split over workers, and uncorrelated between neighbouring indices."""
    z = ((seed & 0xFFFFFFFF) << 32 | (index & 0xFFFFFFFF)) + 0x9E3779B97F4A7C15 & _MASK64
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & _MASK64
    return (z ^ (z >> 31)) & 0x7FFFFFFF


# ---------------------------------------------------------------------- results


BugKey = tuple[str, str]  # (rule id, "file:line")

# The coverage areas, in the order they are shown (a pair's first item; see Machine.coverage).
COVERAGE_AREAS = ("sched", "wsk", "kernel", "tdi", "winsock")


def coverage_by_area(coverage: set[Hashable]) -> dict[str, int]:
    """``{"total": n, "sched": a, "wsk": b, "kernel": c, "tdi": d, "winsock": e}``: the distinct
    pairs per area (every known area listed, zeros included; an unknown area is added)."""
    counts = dict.fromkeys(COVERAGE_AREAS, 0)
    for pair in coverage:
        area = pair[0] if isinstance(pair, tuple) and pair and isinstance(pair[0], str) else "?"
        counts[area] = counts.get(area, 0) + 1
    return {"total": len(coverage), **counts}


@dataclass(slots=True)
class Bug:
    """One distinct bug: the first schedule (lowest index) that showed it, and how often."""

    rule: str
    location: str
    message: str
    index: int
    seed: int
    decisions: tuple[Decision, ...]
    hits: int = 1
    shrunk: tuple[Decision, ...] | None = None
    shrink_runs: int = 0
    story: str = ""
    replay_path: str | None = None

    @property
    def key(self) -> BugKey:
        return (self.rule, self.location)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "location": self.location, "message": self.message,
            "first_index": self.index, "seed": self.seed, "hits": self.hits,
            "decisions": len(self.decisions),
            "shrunk_decisions": len(self.shrunk) if self.shrunk is not None else None,
            "replay": self.replay_path,
        }


@dataclass(slots=True)
class ExploreResult:
    scenario: Scenario
    strategy: str
    seed: int
    iterations: int  # asked for
    schedules: int  # actually run
    bugs: list[Bug]
    coverage: set[Hashable]
    wall_seconds: float
    expect_bug: str | None = None
    exhausted: bool = False  # dfs: the whole bounded space was explored
    stopped_early: bool = False  # a bug stop or the time budget ended it before `iterations`

    @property
    def states(self) -> int:
        return len(self.coverage)

    @property
    def rate(self) -> float:
        return self.schedules / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def coverage_split(self) -> dict[str, int]:
        return coverage_by_area(self.coverage)

    def found(self, rule: str) -> bool:
        return any(b.rule == rule for b in self.bugs)

    @property
    def passed(self) -> bool:
        """Clean when no bug is expected; otherwise the expected bug was found."""
        if self.expect_bug is None:
            return not self.bugs
        return self.found(self.expect_bug)

    def summary(self) -> str:
        s = self.scenario
        head = (f"{s.name}: {self.schedules} schedules ({self.strategy}, seed {self.seed}) in "
                f"{self.wall_seconds:.2f}s = {self.rate:,.0f}/s; {self.states} distinct states; "
                f"{len(self.bugs)} distinct bug(s)")
        if self.exhausted:
            head += "; bounded space exhausted"
        lines = [head]
        if self.coverage:
            split = self.coverage_split()
            lines.append(f"  coverage: {split['total']} distinct (state, event) pairs: "
                         + ", ".join(f"{area} {n}" for area, n in split.items()
                                     if area != "total"))
        for bug in self.bugs:
            shrunk = (f", shrunk {len(bug.decisions)} -> {len(bug.shrunk)} decisions"
                      if bug.shrunk is not None else "")
            lines.append(f"  {bug.rule} at {bug.location}: first at schedule #{bug.index} "
                         f"(seed {bug.seed}), {bug.hits} hit(s){shrunk}")
            if bug.replay_path:
                lines.append(f"    replay: python -m harness replay {bug.replay_path}")
        if self.expect_bug is not None:
            lines.append(f"  expected bug {self.expect_bug}: "
                         + ("found" if self.found(self.expect_bug) else "NOT found"))
        expected = s.expect.violations
        if expected and not self.bugs:
            # A newcomer exploring a zoo scenario would otherwise read "0 bugs" as "no race".
            lines.append(f"  violations the scenario expects ({', '.join(expected)}) are not "
                         "bugs here; remove them from expect.violations to hunt them")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        s = self.scenario
        return {
            "scenario": s.path, "case": s.case or None, "name": s.name,
            "strategy": self.strategy, "seed": self.seed, "iterations": self.iterations,
            "schedules": self.schedules, "wall_seconds": round(self.wall_seconds, 6),
            "schedules_per_second": round(self.rate, 1), "distinct_states": self.states,
            "coverage": self.coverage_split(),
            "exhausted": self.exhausted, "expect_bug": self.expect_bug,
            "passed": self.passed, "bugs": [b.to_dict() for b in self.bugs],
        }


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int
    seconds: float
    states: int
    bugs: int

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (f"{self.done}/{self.total} schedules  {self.rate:,.0f}/s  "
                f"{self.states} states  {self.bugs} bug(s)")


ProgressFn = Callable[[Progress], None]


# ---------------------------------------------------------------------- one schedule


class ScheduleRunner:
    """Runs single schedules of one scenario as cheaply as the harness allows.

    The scenario is parsed once, the stub compiled once (``harness.stubs.load_image`` caches the
    image; each run only executes the module body), and trace is off unless asked for.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.allowed = frozenset(scenario.expect.violations)
        # The scenario is frozen: its fields are read once, each schedule's copy made from them.
        self._fields = tuple((set_, get(scenario)) for get, set_ in _SCENARIO_SLOTS)

    def run(self, strategy: Strategy, seed: int, *, trace: bool = False,
            coverage: set[Hashable] | None = None) -> Run:
        run = Run(self._reseeded(seed, trace), strategy)
        if coverage is not None:
            run.machine.coverage = coverage
        bind = getattr(strategy, "bind", None)
        if bind is not None:
            bind(run.machine)
        run.execute()
        return run

    def _reseeded(self, seed: int, trace: bool) -> Scenario:
        """``dataclasses.replace(scenario, seed=seed, trace=trace)``, in a fifth of the time:
        one per schedule, and ``replace`` re-runs the frozen dataclass's ``__init__`` field by
        field."""
        new = _new_object(Scenario)
        for set_, value in self._fields:
            set_(new, value)
        _SET_SEED(new, seed)
        _SET_TRACE(new, trace)
        return new

    def bugs(self, machine: Machine) -> list[tuple[str, str, str]]:
        """``(rule, "file:line", message)`` of every unexpected violation, first one first."""
        out = []
        seen = set()
        for v in machine.violations:
            rule = v.rule.id
            if rule in self.allowed:
                continue
            where = f"{v.location.file}:{v.location.line}" if v.location else "?"
            if (rule, where) not in seen:
                seen.add((rule, where))
                out.append((rule, where, v.message))
        return out


# A Scenario's fields, as (getter, setter) pairs of its slots: ScheduleRunner._reseeded sets
# them directly.
_SCENARIO_SLOTS = tuple((Scenario.__dict__[f.name].__get__, Scenario.__dict__[f.name].__set__)
                        for f in dataclasses.fields(Scenario))
_SET_SEED = Scenario.__dict__["seed"].__set__
_SET_TRACE = Scenario.__dict__["trace"].__set__
_new_object = object.__new__


# ---------------------------------------------------------------------- strategies


class PrefixStrategy(Strategy):
    """Answers a prefix of choices, then the non-preemptive default: keep the running context.

    It notes, for each answer, the default and whether the question was a preemption point (a
    schedule question asked while a context runs), which the dfs search needs to count
    preemptions. Out-of-range prefix answers (a diverged prefix) fall back to the default.
    """

    name = "dfs"
    preemptive = True

    def __init__(self, prefix: Sequence[int]) -> None:
        self.prefix = prefix
        self.machine: Machine | None = None
        self.defaults: list[int] = []
        self.preemptible: list[bool] = []

    def bind(self, machine: Machine) -> None:
        self.machine = machine

    def choose(self, kind: str, options: Sequence[Hashable]) -> int:
        i = len(self.defaults)
        default = 0
        preemptible = False
        if kind == "schedule" and self.machine is not None:
            ctx = self.machine.current
            if ctx is not None:
                try:
                    default = list(options).index(ctx.id)
                    preemptible = True
                except ValueError:
                    pass
        self.defaults.append(default)
        self.preemptible.append(preemptible)
        if i < len(self.prefix):
            choice = self.prefix[i]
            if 0 <= choice < len(options):
                return choice
        return default


def _pct_steps(runner: ScheduleRunner, seed: int) -> int:
    """PCT needs the expected number of steps: one probe run, the same in every worker."""
    probe = runner.run(RandomStrategy(schedule_seed(seed, 0xFFFFFFFF)), seed)
    return max(1, sum(d.kind == "schedule" for d in probe.machine.decisions))


def make_schedule_strategy(name: str, seed: int, depth: int = 3,
                           expected_steps: int = 200) -> Strategy:
    if name == "random":
        return RandomStrategy(seed)
    if name == "pct":
        return PctStrategy(seed, depth=depth, expected_steps=expected_steps)
    raise ValueError(f"unknown exploration strategy {name!r}; expected one of "
                     + ", ".join(STRATEGIES))


# ---------------------------------------------------------------------- exploring


class _Collector:
    """Bugs by key (first index wins) and the coverage set, shared by every strategy."""

    def __init__(self) -> None:
        self.bugs: dict[BugKey, Bug] = {}
        self.coverage: set[Hashable] = set()

    def add(self, found: list[tuple[str, str, str]], index: int, seed: int,
            decisions: Sequence[Decision]) -> list[Bug]:
        new = []
        for rule, where, message in found:
            bug = self.bugs.get((rule, where))
            if bug is None:
                bug = self.bugs[(rule, where)] = Bug(rule, where, message, index, seed,
                                                     tuple(decisions))
                new.append(bug)
            else:
                bug.hits += 1
                if index < bug.index:
                    bug.index, bug.seed, bug.decisions = index, seed, tuple(decisions)
        return new

    def sorted_bugs(self) -> list[Bug]:
        return sorted(self.bugs.values(), key=lambda b: (b.rule, b.location, b.index))


def explore(
    scenario: Scenario,
    iterations: int,
    strategy: str = "random",
    seed: int = 0,
    *,
    depth: int = 3,
    preemption_bound: int = 2,
    time_budget: float | None = None,
    progress: ProgressFn | None = None,
    progress_every: float = 0.5,
    worker: int = 0,
    workers: int = 1,
    stop_on: str | None = None,
    stop_on_any: bool = False,
    coverage: bool = True,
) -> ExploreResult:
    """Run up to ``iterations`` schedules of ``scenario`` (this worker's share of them).

    ``stop_on`` (a rule id) or ``stop_on_any`` end the exploration at the first such bug, and
    ``time_budget`` (seconds) after that long: both make the result depend on timing or on the
    split, so a merged, W-independent result needs neither.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown exploration strategy {strategy!r}; expected one of "
                         + ", ".join(STRATEGIES))
    if not 0 <= worker < workers:
        raise ValueError(f"worker {worker} is not in 0..{workers - 1}")
    if strategy == "dfs" and workers != 1:
        raise ValueError("dfs explores one tree in order; run it in a single worker")
    runner = ScheduleRunner(scenario)
    collector = _Collector()
    cover = collector.coverage if coverage else None
    started = time.perf_counter()
    deadline = started + time_budget if time_budget is not None else None
    state: dict[str, Any] = {"done": 0, "total": iterations,
                             "next_report": started + progress_every, "stop": False}

    def record(index: int, sched_seed: int, machine: Machine) -> None:
        state["done"] += 1
        found = runner.bugs(machine) if machine.violations else []
        if found:
            collector.add(found, index, sched_seed, machine.decisions)
            if stop_on_any or (stop_on is not None and any(f[0] == stop_on for f in found)):
                state["stop"] = True
        now = time.perf_counter()
        if deadline is not None and now >= deadline:
            state["stop"] = True
        if progress is not None and now >= state["next_report"]:
            state["next_report"] = now + progress_every
            progress(Progress(state["done"], state["total"], now - started,
                              len(collector.coverage),
                              len(collector.bugs)))

    # Every schedule leaves a machine full of reference cycles (contexts, greenlets, IRPs).
    # Left to itself the cyclic GC walks the young generation every few hundred allocations in
    # the middle of runs; collecting the young generation once per batch is far cheaper.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        exhausted = _explore(strategy, runner, iterations, seed, depth, preemption_bound,
                             worker, workers, cover, record, state)
    finally:
        if gc_was_enabled:
            gc.enable()
    total = state["total"]
    wall = time.perf_counter() - started
    if progress is not None:
        progress(Progress(state["done"], total, wall, len(collector.coverage),
                          len(collector.bugs)))
    explore_settings = scenario.sections.get("explore")
    return ExploreResult(
        scenario=scenario, strategy=strategy, seed=seed, iterations=iterations,
        schedules=state["done"], bugs=collector.sorted_bugs(), coverage=collector.coverage,
        wall_seconds=wall,
        expect_bug=getattr(explore_settings, "expect_bug", None),
        exhausted=exhausted, stopped_early=bool(state["stop"]) and not exhausted,
    )


def _collect_schedule() -> None:
    """Free the schedule just run (its machine is a web of reference cycles: contexts,
    greenlets, IRPs, subsystems) with a young-generation collection, the GC being off.

    After every schedule rather than every few: its garbage is still in the CPU caches and the
    allocator hands the same memory to the next schedule at once. Measured on the race
    scenarios, one collection per 25 schedules ran 15-25 % fewer schedules a second (one per
    200, fewer still); a collection has almost no fixed cost (~0.1 us with nothing to collect),
    so there is nothing to amortise."""
    gc.collect(0)


def _explore(strategy: str, runner: ScheduleRunner, iterations: int, seed: int, depth: int,
             bound: int, worker: int, workers: int, cover: set[Hashable] | None,
             record: Callable[[int, int, Machine], None], state: dict[str, Any]) -> bool:
    if strategy == "dfs":
        state["total"] = iterations
        return _explore_dfs(runner, iterations, seed, bound, cover, record, state)
    indices = range(worker, iterations, workers)
    state["total"] = len(indices)
    steps = _pct_steps(runner, seed) if strategy == "pct" else 200
    for index in indices:
        sched_seed = schedule_seed(seed, index)
        strat = make_schedule_strategy(strategy, sched_seed, depth, steps)
        run = runner.run(strat, sched_seed, coverage=cover)
        record(index, sched_seed, run.machine)
        del run
        _collect_schedule()
        if state["stop"]:
            break
    return False


def _explore_dfs(runner: ScheduleRunner, iterations: int, seed: int, bound: int,
                 cover: set[Hashable] | None, record: Callable[[int, int, Machine], None],
                 state: dict[str, Any]) -> bool:
    """Depth-first over decision prefixes; True when the bounded space was exhausted."""
    stack: list[list[int]] = [[]]
    index = 0
    while stack:
        if index >= iterations or state["stop"]:
            return False
        prefix = stack.pop()
        strat = PrefixStrategy(prefix)
        run = runner.run(strat, seed, coverage=cover)
        decisions = run.machine.decisions
        record(index, seed, run.machine)
        index += 1
        strat.machine = None  # unbound, so that the collection below frees the machine
        del run
        _collect_schedule()
        choices = [d.choice for d in decisions]
        used = 0
        children: list[list[int]] = []
        for i, d in enumerate(decisions):
            preemptible, default = strat.preemptible[i], strat.defaults[i]
            if i >= len(prefix):
                for alternative in range(d.options):
                    if alternative == d.choice:
                        continue
                    cost = used + (preemptible and alternative != default)
                    if cost <= bound:
                        children.append(choices[:i] + [alternative])
            used += preemptible and d.choice != default
        stack.extend(reversed(children))  # the earliest deviation is explored first
    return True


def merge(results: Sequence[ExploreResult]) -> ExploreResult:
    """One result from the workers' shares: bugs by (rule, location, first index), coverage
    united - the same whatever the number of workers."""
    if not results:
        raise ValueError("nothing to merge")
    coverage: set[Hashable] = set()
    for result in results:
        coverage |= result.coverage
    first = results[0]
    return ExploreResult(
        scenario=first.scenario, strategy=first.strategy, seed=first.seed,
        iterations=first.iterations, schedules=sum(r.schedules for r in results),
        bugs=merge_bugs([r.bugs for r in results]), coverage=coverage,
        wall_seconds=max(r.wall_seconds for r in results), expect_bug=first.expect_bug,
        exhausted=all(r.exhausted for r in results),
        stopped_early=any(r.stopped_early for r in results),
    )


def merge_bugs(shares: Sequence[Sequence[Bug]]) -> list[Bug]:
    """The shares' bugs as one list: per (rule, location) the lowest first index, hits summed,
    ordered by (rule, location, first index) - the merge of :func:`merge` and of pytest shards."""
    collector = _Collector()
    for bugs in shares:
        for bug in bugs:
            mine = collector.bugs.get(bug.key)
            if mine is None:
                collector.bugs[bug.key] = dataclasses.replace(bug)
            else:
                mine.hits += bug.hits
                if bug.index < mine.index:
                    mine.index, mine.seed, mine.decisions = bug.index, bug.seed, bug.decisions
                    mine.message = bug.message
    return collector.sorted_bugs()


def bug_from_dict(data: dict[str, Any]) -> Bug:
    """A :meth:`Bug.to_dict` back as a Bug (without its decisions): what a pytest shard sends
    the controller is JSON, and the controller merges it with :func:`merge_bugs`."""
    return Bug(rule=data["rule"], location=data["location"], message=data.get("message", ""),
               index=data["first_index"], seed=data["seed"], decisions=(),
               hits=data.get("hits", 1), replay_path=data.get("replay"))


# ---------------------------------------------------------------------- after exploring


def trim(decisions: Sequence[Decision]) -> list[Decision]:
    """Drop trailing 0 answers: a replay answers 0 past the end of its list anyway."""
    out = list(decisions)
    while out and out[-1].choice == 0:
        out.pop()
    return out


def replay_document(scenario: Scenario, bug: Bug, strategy: str) -> dict[str, Any]:
    """The replay file ``python -m harness replay FILE.json`` reads."""
    decisions = bug.shrunk if bug.shrunk is not None else tuple(trim(bug.decisions))
    block = scenario.sections.get("explore")
    return {
        "scenario": scenario.path, "case": scenario.case or None, "seed": bug.seed,
        "strategy": strategy, "rule": bug.rule, "location": bug.location,
        "first_index": bug.index, "original_decisions": len(bug.decisions),
        # The settings that decide which questions a run asks (a command line may have set
        # them): the replay asks the same ones.
        "fail_allocations": getattr(block, "fail_allocations", 0),
        "jitter_ns": getattr(block, "jitter_ns", 0),
        "decisions": [[d.kind, d.options, d.choice] for d in decisions],
    }


def _replay_name(scenario: Scenario, bug: Bug) -> str:
    stem = Path(scenario.path).stem
    case = f"-{scenario.case}" if scenario.case else ""
    line = bug.location.rsplit(":", 1)[-1]
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{stem}{case}")
    return f"{safe}-{bug.rule}-L{line}.json"


def finish_bugs(result: ExploreResult, out_dir: str | Path | None = "explore-out",
                shrink_budget: int = 300, story: bool = True) -> None:
    """Shrink every bug's schedule, tell its story (a trace-on replay) and write replay files."""
    from harness.shrink import shrink, story_of

    runner = ScheduleRunner(result.scenario)
    for bug in result.bugs:
        shrunk = shrink(runner, bug.seed, bug.decisions, bug.key, budget=shrink_budget)
        bug.shrunk = tuple(shrunk.decisions)
        bug.shrink_runs = shrunk.runs
        if story:
            bug.story = story_of(runner, bug.seed, bug.shrunk, bug.key)
        if out_dir is not None:
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            path = out / _replay_name(result.scenario, bug)
            path.write_text(json.dumps(replay_document(result.scenario, bug, result.strategy),
                                       indent=1) + "\n", encoding="utf-8")
            bug.replay_path = str(path)


# ---------------------------------------------------------------------- as a scenario verdict


def explore_as_result(scenario: Scenario, shard: int = 0, shards: int = 1,
                      out_dir: str | Path | None = "explore-out") -> Any:
    """A scenario with an ``explore:`` block, run by ``run``/pytest: explore instead of one run.

    Returns a :class:`harness.runner.ScenarioResult` whose machine is the trace-on replay of the
    (shrunk) schedule that showed the expected bug, or of schedule 0 when clean; its failures
    say what the exploration missed or found.

    With ``shards > 1`` it explores only the indices ``shard mod shards`` (same per-index seeds)
    and fails only on an unexpected bug: whether the expected one was found is a question for
    the merged shards (``extra["explore"]["bugs"]``), answered by the pytest plugin.

    A failing exploration leaves the replay file of the bug it shows in ``out_dir`` (as
    ``python -m harness explore`` does), and the result's replay command names that file: the
    scenario's seed alone would not reproduce an explored schedule. A pass writes nothing.
    """
    from harness.runner import Failure, ScenarioResult, collect_metrics
    from harness.shrink import LenientReplay

    settings = scenario.sections["explore"]
    started = time.perf_counter()
    sharded = shards > 1
    # A shard never stops early: its bugs (first indices, hits) must depend only on its share.
    result = explore(scenario, settings.iterations, settings.strategy, settings.seed,
                     depth=settings.depth, preemption_bound=settings.bound,
                     worker=shard, workers=shards,
                     stop_on=None if sharded else settings.expect_bug, coverage=False)
    failures: list[Failure] = []
    expected = settings.expect_bug
    shown: Bug | None = None
    if sharded:
        unexpected = [b for b in result.bugs if b.rule != expected]
        for bug in unexpected:
            failures.append(Failure("explore", f"{bug.rule} at {bug.location} in schedule "
                                    f"#{bug.index} (shard {shard}/{shards}, seed {bug.seed}): "
                                    f"{bug.message}", settings.line))
        shown = unexpected[0] if unexpected else None
    elif expected is None:
        for bug in result.bugs:
            failures.append(Failure("explore", f"{bug.rule} at {bug.location} in schedule "
                                    f"#{bug.index} of {result.schedules} (seed {bug.seed}): "
                                    f"{bug.message}", settings.line))
        shown = result.bugs[0] if result.bugs else None
    elif not result.found(expected):
        failures.append(Failure("explore", f"exploration of {result.schedules} schedules "
                                f"({result.strategy}, seed {result.seed}) did not find "
                                f"{expected}", settings.line))
    else:
        shown = next(b for b in result.bugs if b.rule == expected)
    runner = ScheduleRunner(scenario)
    if shown is not None:
        finish_bugs(dataclasses.replace(result, bugs=[shown]),
                    out_dir=out_dir if failures else None, story=False)
        decisions: Sequence[Decision] = shown.shrunk or shown.decisions
        replayed = runner.run(LenientReplay(decisions), shown.seed, trace=scenario.trace)
    else:
        replayed = runner.run(LenientReplay(()), scenario.seed, trace=scenario.trace)
    m = replayed.machine
    halt = m.halt
    return ScenarioResult(
        scenario=scenario, failures=failures, violations=list(m.violations),
        bugcheck=halt.violation.rule.title if halt else None,
        bugcheck_code=halt.violation.rule.bugcheck if halt else None,
        metrics=collect_metrics(replayed), machine=m,
        driver_entry_status=replayed.driver.entry_status if replayed.driver else None,
        wall_seconds=time.perf_counter() - started,
        extra={"explore": result.to_dict()},
        replay_file=shown.replay_path if shown is not None else None,
    )


__all__ = [
    "Bug", "COVERAGE_AREAS", "ExploreResult", "Progress", "PrefixStrategy", "ScheduleRunner",
    "STRATEGIES", "bug_from_dict", "coverage_by_area", "explore", "explore_as_result",
    "finish_bugs", "merge", "merge_bugs", "replay_document", "schedule_seed", "trim",
]
