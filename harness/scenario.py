"""Scenario files: load, validate against the JSON Schema, and turn into a typed :class:`Scenario`.

The schema (``scenario.schema.json``, shipped in the package) is the single source of truth for
the format; this module adds what a schema cannot say (units, rule ids that exist, expressions
that parse, stubs that exist) and locates every complaint at a file, line and column.
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

from harness.errors import ScenarioError
from harness.expr import Expr, ExprError, compile_expr
from harness.suggest import did_you_mean
from harness.units import parse_duration
from harness.yaml_loader import LineDict, error_at, load_yaml_file, position_of

DEFAULT_DURATION_NS = 1_000_000_000
DEFAULT_UNLOAD_TIMEOUT_NS = 10_000_000_000


@cache
def schema() -> dict[str, Any]:
    text = resources.files("harness").joinpath("scenario.schema.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


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
class Expectations:
    violations: tuple[str, ...] = ()
    violations_line: int | None = None
    bugcheck: int | None = None
    bugcheck_line: int | None = None
    driver_entry: int = 0
    driver_entry_line: int | None = None
    metrics: tuple[MetricCheck, ...] = ()


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

    def with_seed(self, seed: int) -> Scenario:
        from dataclasses import replace

        return replace(self, seed=seed)


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


# Modules that register section loaders when imported (areas add themselves here).
AREA_SECTION_MODULES: list[str] = []


# ---------------------------------------------------------------------- validation


def _schema_error(path: str, doc: LineDict, error: jsonschema.ValidationError) -> ScenarioError:
    """Turn a jsonschema error into one located at the offending key or value."""
    container: Any = doc
    parts = list(error.absolute_path)
    for part in parts[:-1]:
        container = container[part]
    key = parts[-1] if parts else None
    where = ".".join(str(p) for p in parts) or "the top level"
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


def _duration(path: str, container: Any, key: Any, default: int) -> int:
    if not isinstance(container, Mapping) or key not in container:
        return default
    try:
        return parse_duration(container[key])
    except ValueError as exc:
        raise error_at(path, container, key, str(exc)) from None


def _line(container: Any, key: Any) -> int:
    return position_of(container, key).line


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
                f"metric expression does not parse: {exc}", path=path, line=pos.line,
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


def build_scenario(path: str, doc: LineDict, stub_roots: Sequence[Path] = ()) -> Scenario:
    from harness.stubs import resolve_stub

    validate_document(path, doc)
    driver = doc["driver"]
    try:
        stub_path = resolve_stub(driver["stub"], Path(path).parent, stub_roots)
    except LookupError as exc:
        raise error_at(path, driver, "stub", str(exc), hint=getattr(exc, "hint", None)) from None
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
    )
    return Scenario(
        name=doc["name"],
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
        wsk=dict(doc.get("wsk", {})),
        peers=list(doc.get("peers", [])),
        timeline=_timeline(path, doc),
        duration_ns=_duration(path, run, "duration", DEFAULT_DURATION_NS),
        unload=run.get("unload", True),
        unload_timeout_ns=_duration(path, run, "unload_timeout", DEFAULT_UNLOAD_TIMEOUT_NS),
        expect=expectations,
        sections=_load_sections(path, doc),
    )


def load_scenario(path: str | Path, stub_roots: Sequence[Path] = ()) -> Scenario:
    """Load one scenario file; every problem is a located :class:`ScenarioError`."""
    text_path = str(path)
    doc = load_yaml_file(text_path)
    return build_scenario(text_path, doc, stub_roots)
