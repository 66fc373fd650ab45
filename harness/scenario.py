"""Scenario files: load, validate against the JSON Schema, and turn into typed scenarios.

The schema (``scenario.schema.json``, shipped in the package) is the single source of truth for
the format; this module adds what a schema cannot say (units, rule ids that exist, expressions
that parse, stubs that exist, trace fields that exist) and locates every complaint at a file,
line and column. :mod:`harness.compose` first turns a file into its cases (templating,
``matrix:``, ``extends:``); :func:`load_scenarios` returns one :class:`Scenario` per case.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from harness.compose import CaseDocument, annotate, error_at, expand_file, source_of
from harness.errors import ScenarioError
from harness.expr import Expr, ExprError, compile_expr
from harness.patterns import (
    CountCheck,
    Step,
    event_fields,
    field_key,
    parse_count,
)
from harness.suggest import did_you_mean
from harness.units import parse_duration, parse_size
from harness.yaml_loader import LineDict, position_of

DEFAULT_DURATION_NS = 1_000_000_000
DEFAULT_UNLOAD_TIMEOUT_NS = 10_000_000_000


@cache
def schema() -> dict[str, Any]:
    text = resources.files("harness").joinpath("scenario.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    at_ns: int
    action: str
    params: dict[str, Any]
    line: int


@dataclass(frozen=True, slots=True)
class MetricCheck:
    text: str
    expr: Expr
    line: int


@dataclass(frozen=True, slots=True)
class CallbackCount:
    name: str
    count: CountCheck
    line: int | None


@dataclass(frozen=True, slots=True)
class StatusCheck:
    call: str
    statuses: tuple[int, ...]
    shown: str  # the statuses as written, for messages
    count: CountCheck
    nth: int | None
    every: bool
    line: int | None


@dataclass(frozen=True, slots=True)
class LivenessCheck:
    period_ns: int
    line: int | None
    step: Step | None = None  # event form
    metric: str | None = None  # metric form
    from_ns: int = 0
    until_ns: int | None = None


@dataclass(frozen=True, slots=True)
class Expectations:
    violations: tuple[str, ...] = ()
    violations_line: int | None = None
    bugcheck: int | None = None
    bugcheck_line: int | None = None
    driver_entry: int = 0
    driver_entry_line: int | None = None
    metrics: tuple[MetricCheck, ...] = ()
    callbacks: tuple[CallbackCount, ...] = ()
    order: tuple[Step, ...] = ()
    order_line: int | None = None
    statuses: tuple[StatusCheck, ...] = ()
    liveness: tuple[LivenessCheck, ...] = ()
    # expect key -> the base file it was inherited from (extends); absent: the scenario's file
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def needs_trace(self) -> bool:
        return bool(self.callbacks or self.order or self.statuses or
                    any(c.step is not None for c in self.liveness))


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    path: str
    stub: str
    stub_path: Path
    description: str = ""
    tags: tuple[str, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    cpus: int = 2
    arch: str = "x64"
    strategy: str = "fifo"
    seed: int = 0
    pct_depth: int = 3
    policy: str = "record"
    trace: bool = True
    step_budget: int = 5_000_000
    nonpaged_pool: int | None = None  # bytes the driver may hold at once (None: unlimited)
    wsk: Mapping[str, Any] = field(default_factory=dict)
    peers: Sequence[Mapping[str, Any]] = ()
    timeline: tuple[TimelineEvent, ...] = ()
    duration_ns: int = DEFAULT_DURATION_NS
    unload: bool = True
    unload_timeout_ns: int = DEFAULT_UNLOAD_TIMEOUT_NS
    expect: Expectations = Expectations()
    line: int = 1
    # Area sections (wsk, network, tdi, winsock ...) as their registered loaders built them.
    sections: Mapping[str, Any] = field(default_factory=dict)
    case: str = ""  # the matrix case id ("cpus=2,rtt=40ms"), "" without a matrix
    variables: Mapping[str, Any] = field(default_factory=dict)
    base_name: str = ""  # the name as written, without the case suffix

    def with_seed(self, seed: int) -> Scenario:
        from dataclasses import replace

        return replace(self, seed=seed)

    @property
    def test_id(self) -> str:
        """``file::name[case]``: how the CLI, pytest and reports name this scenario."""
        return f"{self.path}::{self.name}"


# ---------------------------------------------------------------------- area sections

SectionLoader = Callable[[str, Any], Any]
# Top-level section name -> loader(path, section_value) returning the area's typed settings.
# A loader raises ScenarioError located with harness.yaml_loader.error_at for bad values.
SECTION_LOADERS: dict[str, SectionLoader] = {}


def section_loader(name: str) -> Callable[[SectionLoader], SectionLoader]:
    """Register the loader of a top-level scenario section (the schema describes its shape)."""

    def register(fn: SectionLoader) -> SectionLoader:
        SECTION_LOADERS[name] = fn
        return fn

    return register


def _load_sections(path: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    import importlib

    for module in AREA_SECTION_MODULES:
        importlib.import_module(module)
    return {name: loader(path, doc[name]) for name, loader in SECTION_LOADERS.items()
            if name in doc}


# Checks that need the whole scenario (a timeline action naming a peer of the `peers:` section):
# run when the file loads, so `harness validate` reports them; they raise located ScenarioErrors.
SCENARIO_CHECKS: list[Callable[[Scenario], None]] = []


# Modules that register section loaders when imported (areas add themselves here).
AREA_SECTION_MODULES: list[str] = [
    "harness.network_section",
    "harness.tdi_section",
    "harness.winsock_section",
    "harness.explore_section",
    "harness.wsk_section",
]


# ---------------------------------------------------------------------- validation


def _value_type_message(error: jsonschema.ValidationError) -> str | None:
    """For a value of a ``$defs`` type the harness parses itself (a duration, a count), the
    parser's own message ("unknown unit 'Kib'; did you mean 'KiB'?") instead of a regex."""
    from harness.patterns import parse_count

    defs = schema()["$defs"]
    parsers = {"duration": parse_duration, "count": parse_count}
    current: jsonschema.ValidationError | None = error
    while current is not None:  # the failing branch, or the oneOf around it, is the $def
        for name, parse in parsers.items():
            if current.schema == defs[name] and not isinstance(error.instance, bool):
                try:
                    parse(error.instance)
                except ValueError as exc:
                    return str(exc)
                return None
        current = current.parent
    return None


def _schema_error(path: str, doc: LineDict, error: jsonschema.ValidationError) -> ScenarioError:
    """Turn a jsonschema error into one located at the offending key or value."""
    container: Any = doc
    parts = list(error.absolute_path)
    for part in parts[:-1]:
        container = container[part]
    key = parts[-1] if parts else None
    where = ".".join(str(p) for p in parts) or "the top level"
    unit_message = _value_type_message(error)
    if unit_message is not None:
        return error_at(path, container, key, f"{where}: {unit_message}")
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        target = error.instance
        extra = [k for k in target if k not in allowed]
        bad = extra[0] if extra else "?"
        hint = did_you_mean(str(bad), allowed)
        return error_at(
            path, target, bad, f"unknown key {bad!r} in {where}",
            hint=f"did you mean {hint!r}?" if hint else f"expected one of: {', '.join(allowed)}",
            at_key=True,
        )
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return error_at(path, container, key, f"missing required key {missing!r} in {where}")
    if error.validator == "enum":
        allowed = error.validator_value
        hint = did_you_mean(str(error.instance), [str(a) for a in allowed])
        return error_at(
            path, container, key,
            f"{where}: {error.instance!r} is not allowed; expected one of "
            + ", ".join(repr(a) for a in allowed),
            hint=f"did you mean {hint!r}?" if hint else None,
        )
    expected = error.schema.get("description") or error.message
    return error_at(path, container, key, f"{where}: {error.message}", hint=expected
                    if expected != error.message else None)


def validate_document(path: str, doc: LineDict) -> None:
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        best = jsonschema.exceptions.best_match(errors) or errors[0]
        raise _schema_error(path, doc, best)


# ---------------------------------------------------------------------- building


def _size_or_none(path: str, container: Any, key: Any) -> int | None:
    if not isinstance(container, Mapping) or key not in container:
        return None
    try:
        return parse_size(container[key])
    except ValueError as exc:
        raise error_at(path, container, key, f"{key}: {exc}") from None


def _duration(path: str, container: Any, key: Any, default: int) -> int:
    if not isinstance(container, Mapping) or key not in container:
        return default
    try:
        return parse_duration(container[key])
    except ValueError as exc:
        raise error_at(path, container, key, str(exc)) from None


def _line(container: Any, key: Any) -> int:
    return position_of(container, key).line or 1  # documents from the loader always know it


def _rule_ids(path: str, expect: Mapping[str, Any]) -> tuple[str, ...]:
    from mock_wsk.rules import all_rule_ids

    known = all_rule_ids()
    listed = expect.get("violations", [])
    for index, rule_id in enumerate(listed):
        if rule_id not in known:
            hint = did_you_mean(rule_id, known)
            raise error_at(
                path, listed, index, f"unknown rule id {rule_id!r}",
                hint=f"did you mean {hint!r}?" if hint else "see `python -m harness rules`",
            )
    return tuple(listed)


def _bugcheck(path: str, expect: Mapping[str, Any]) -> int | None:
    from mock_wsk.constants import BugCheck

    if "bugcheck" not in expect or expect["bugcheck"] is None:
        return None
    value = expect["bugcheck"]
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        return int(text, 0)
    except ValueError:
        pass
    if text in BugCheck.__members__:
        return int(BugCheck[text])
    hint = did_you_mean(text, list(BugCheck.__members__))
    raise error_at(path, expect, "bugcheck", f"unknown bug check {text!r}",
                   hint=f"did you mean {hint!r}?" if hint else "a name like "
                   "DRIVER_VERIFIER_DETECTED_VIOLATION or a number like 0xC4")


def _status(path: str, expect: Mapping[str, Any]) -> int:
    from mock_wsk.status import NTSTATUS

    name = expect.get("driver_entry", "STATUS_SUCCESS")
    if name in NTSTATUS.__members__:
        return int(NTSTATUS[name])
    hint = did_you_mean(name, list(NTSTATUS.__members__))
    raise error_at(path, expect, "driver_entry", f"unknown NTSTATUS {name!r}",
                   hint=f"did you mean {hint!r}?" if hint else None)


def _metrics(path: str, expect: Mapping[str, Any]) -> tuple[MetricCheck, ...]:
    checks = []
    texts = expect.get("metrics", [])
    for index, text in enumerate(texts):
        try:
            expr = compile_expr(text)
        except ExprError as exc:
            pos = position_of(texts, index)
            column = getattr(exc, "column", None)
            raise ScenarioError(
                f"metric expression does not parse: {exc}",
                path=source_of(texts, index) or path, line=pos.line,
                column=(pos.column + column - 1) if column and pos.column else pos.column,
            ) from None
        checks.append(MetricCheck(text, expr, _line(texts, index)))
    return tuple(checks)


def _timeline(path: str, doc: Mapping[str, Any]) -> tuple[TimelineEvent, ...]:
    from harness.actions import known_actions

    events = []
    entries = doc.get("timeline", [])
    actions = known_actions()
    for index, entry in enumerate(entries):
        at_ns = _duration(path, entry, "at", 0)
        action = entry["action"]
        if action not in actions:
            hint = did_you_mean(action, actions)
            raise error_at(path, entry, "action", f"unknown timeline action {action!r}",
                           hint=f"did you mean {hint!r}?" if hint else
                           "expected one of: " + ", ".join(sorted(actions)))
        params = {k: v for k, v in entry.items() if k not in ("at", "action")}
        events.append(TimelineEvent(at_ns, action, params, _line(entries, index)))
    events.sort(key=lambda e: e.at_ns)
    return tuple(events)


def _count(path: str, container: Any, key: Any) -> CountCheck:
    try:
        return parse_count(container[key])
    except ValueError as exc:
        raise error_at(path, container, key, str(exc)) from None


# Callback names the WSK and TDI areas dispatch; other names are accepted (an area may add
# callbacks), but one close to a known name is almost certainly a typo.
KNOWN_CALLBACKS = (
    "WskAcceptEvent", "WskInspectEvent", "WskAbortEvent", "WskReceiveFromEvent",
    "WskReceiveEvent", "WskDisconnectEvent", "WskSendBacklogEvent", "WskClientEvent",
    "ClientEventSendPossible",
)


def _callbacks(path: str, expect: Mapping[str, Any]) -> tuple[CallbackCount, ...]:
    table = expect.get("callbacks", {})
    out = []
    for name in table:
        if name not in KNOWN_CALLBACKS:
            hint = did_you_mean(name, KNOWN_CALLBACKS)
            if hint:
                raise error_at(path, table, name, f"unknown callback {name!r}",
                               hint=f"did you mean {hint!r}?", at_key=True)
        out.append(CallbackCount(name, _count(path, table, name), _line(table, name)))
    return tuple(out)


def _step(path: str, entry: Mapping[str, Any], *, timing: bool = True) -> Step:
    """A trace step; ``timing`` False for liveness selectors (which have no within/after)."""
    from harness.patterns import EVENT_FIELDS

    event = entry["event"]
    known = list(EVENT_FIELDS)
    if not any(ch in event for ch in "*?[") and event_fields(event) is None:
        hint = did_you_mean(event, known)
        if hint:
            raise error_at(path, entry, "event", f"unknown trace event {event!r}",
                           hint=f"did you mean {hint!r}?")
    match = entry.get("match", {})
    pairs = []
    for key, value in match.items():
        try:
            pairs.append((field_key(event, key), value))
        except ValueError as exc:
            raise error_at(path, match, key, str(exc), at_key=True) from None
    at_ns = _duration(path, entry, "at", -1) if timing else -1
    return Step(
        event=event,
        match=tuple(pairs),
        cpu=entry.get("cpu"),
        within_ns=_duration(path, entry, "within", -1) if "within" in entry else None,
        after_ns=_duration(path, entry, "after", -1) if "after" in entry else None,
        at_ns=at_ns if at_ns >= 0 else None,
        tolerance_ns=_duration(path, entry, "tolerance", 0),
        line=_line_of(entry),
    )


def _line_of(container: Any) -> int | None:
    position = getattr(container, "position", None)
    return position.line if position is not None else None


def _order(path: str, expect: Mapping[str, Any]) -> tuple[Step, ...]:
    return tuple(_step(path, entry) for entry in expect.get("order", []))


def _status_values(path: str, entry: Mapping[str, Any]) -> tuple[tuple[int, ...], str]:
    from harness.patterns import status_names

    known = status_names()
    raw = entry["status"]
    items = raw if isinstance(raw, list) else [raw]
    container: Any = raw if isinstance(raw, list) else entry
    values = []
    for index, item in enumerate(items):
        key = index if isinstance(raw, list) else "status"
        if isinstance(item, int):
            values.append(item & 0xFFFFFFFF)
            continue
        if item in known:
            values.append(known[item] & 0xFFFFFFFF)
            continue
        try:
            values.append(int(item, 0) & 0xFFFFFFFF)
            continue
        except ValueError:
            pass
        hint = did_you_mean(item, list(known))
        raise error_at(path, container, key, f"unknown NTSTATUS or Winsock error {item!r}",
                       hint=f"did you mean {hint!r}?" if hint else None)
    shown = " or ".join(str(i) for i in items)
    return tuple(values), shown


def _statuses(path: str, expect: Mapping[str, Any]) -> tuple[StatusCheck, ...]:
    out = []
    for entry in expect.get("statuses", []):
        values, shown = _status_values(path, entry)
        out.append(StatusCheck(
            call=entry["call"], statuses=values, shown=shown,
            count=_count(path, entry, "count") if "count" in entry else CountCheck(">=", 1),
            nth=entry.get("nth"), every=bool(entry.get("every", False)),
            line=_line_of(entry)))
    return tuple(out)


def _liveness(path: str, expect: Mapping[str, Any]) -> tuple[LivenessCheck, ...]:
    out = []
    for entry in expect.get("liveness", []):
        until = _duration(path, entry, "until", -1)
        line, start = _line_of(entry), _duration(path, entry, "from", 0)
        until_ns = until if until >= 0 else None
        if "event" in entry:
            period = _duration(path, entry, "at_least_every", 0)
            out.append(LivenessCheck(period, line, step=_step(path, entry, timing=False),
                                     from_ns=start, until_ns=until_ns))
        else:
            period = _duration(path, entry, "keeps_growing_every", 0)
            out.append(LivenessCheck(period, line, metric=entry["metric"], from_ns=start,
                                     until_ns=until_ns))
        if period <= 0:
            key = "at_least_every" if "event" in entry else "keeps_growing_every"
            raise error_at(path, entry, key, f"{key} must be longer than 0")
    return tuple(out)


def _compile_stub(path: str, driver: Mapping[str, Any], stub_path: Path) -> None:
    """Compile the stub now, so a syntax error is bad input at the stub's line, not a crash."""
    from harness.stubs import load_image

    try:
        load_image(stub_path)
    except SyntaxError as exc:
        raise ScenarioError(f"driver stub {driver['stub']!r} does not compile: {exc.msg}",
                            path=exc.filename or str(stub_path), line=exc.lineno or 1,
                            column=exc.offset) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise error_at(path, driver, "stub", f"driver stub {driver['stub']!r} cannot be read: "
                       f"{exc}") from None


def build_scenario(path: str, doc: LineDict, stub_roots: Sequence[Path] = (),
                   case: CaseDocument | None = None) -> Scenario:
    from harness.stubs import resolve_stub

    validate_document(path, doc)
    driver = doc["driver"]
    try:
        stub_path = resolve_stub(driver["stub"], Path(path).parent, stub_roots)
    except LookupError as exc:
        raise error_at(path, driver, "stub", str(exc), hint=getattr(exc, "hint", None)) from None
    _compile_stub(path, driver, stub_path)
    machine = doc.get("machine", {})
    run = doc.get("run", {})
    expect = doc.get("expect", {})
    expectations = Expectations(
        violations=_rule_ids(path, expect),
        violations_line=_line(expect, "violations") if "violations" in expect else None,
        bugcheck=_bugcheck(path, expect),
        bugcheck_line=_line(expect, "bugcheck") if "bugcheck" in expect else None,
        driver_entry=_status(path, expect),
        driver_entry_line=_line(expect, "driver_entry") if "driver_entry" in expect else None,
        metrics=_metrics(path, expect),
        callbacks=_callbacks(path, expect),
        order=_order(path, expect),
        order_line=_line(expect, "order") if "order" in expect else None,
        statuses=_statuses(path, expect),
        liveness=_liveness(path, expect),
        sources={key: src for key in expect if (src := source_of(expect, key)) is not None},
    )
    if expectations.needs_trace and machine.get("trace", True) is False:
        raise error_at(path, machine, "trace", "these expectations read the trace "
                       "(callbacks, order, statuses or event liveness), but trace is false",
                       hint="remove 'trace: false'")
    name = doc["name"]
    case_id = case.case if case is not None else ""
    scenario = Scenario(
        name=f"{name}[{case_id}]" if case_id else name,
        path=path,
        stub=driver["stub"],
        stub_path=stub_path,
        description=doc.get("description", ""),
        tags=tuple(doc.get("tags", ())),
        parameters=dict(driver.get("parameters", {})),
        cpus=machine.get("cpus", 2),
        arch=machine.get("arch", "x64"),
        strategy=machine.get("strategy", "fifo"),
        seed=machine.get("seed", 0),
        pct_depth=machine.get("pct_depth", 3),
        policy=machine.get("policy", "record"),
        trace=machine.get("trace", True),
        step_budget=machine.get("step_budget", 5_000_000),
        nonpaged_pool=_size_or_none(path, machine, "nonpaged_pool"),
        wsk=dict(doc.get("wsk", {})),
        peers=list(doc.get("peers", [])),
        timeline=_timeline(path, doc),
        duration_ns=_duration(path, run, "duration", DEFAULT_DURATION_NS),
        unload=run.get("unload", True),
        unload_timeout_ns=_duration(path, run, "unload_timeout", DEFAULT_UNLOAD_TIMEOUT_NS),
        expect=expectations,
        sections=_load_sections(path, doc),
        line=doc.position.line or 1,
        case=case_id,
        variables=dict(case.variables) if case is not None else {},
        base_name=name,
    )
    for check in SCENARIO_CHECKS:  # checks that span sections (e.g. timeline vs peers)
        check(scenario)
    return scenario


def load_scenarios(path: str | Path, stub_roots: Sequence[Path] = (),
                   root: Path | None = None) -> list[Scenario]:
    """Every case of one scenario file (one for a file without ``matrix:``).

    ``root`` bounds where ``extends:`` may reach (default: the working directory when the file
    is inside it, else the file's directory). Every problem is a located :class:`ScenarioError`.
    """
    text_path = str(path)
    scenarios = []
    for case in expand_file(text_path, root):
        try:
            scenarios.append(build_scenario(text_path, case.doc, stub_roots, case))
        except ScenarioError as exc:
            raise annotate(exc, text_path, case.case, case.shifted) from None
    return scenarios


def load_scenario(path: str | Path, stub_roots: Sequence[Path] = ()) -> Scenario:
    """Load one scenario file; with a matrix, its first case. Errors are located."""
    return load_scenarios(path, stub_roots)[0]
