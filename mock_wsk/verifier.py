"""The verifier mechanism: rules, violations, and the policy that turns one into a bug check.

Every contract check in the mock ends in :meth:`Verifier.report`, the one place a violation is
made. A rule is data (id, severity, bug-check code, the sentence of the docs it enforces); the
checks themselves live beside the code they guard (kernel DDIs, the WSK provider, ...), because
the verifier is part of the provider, not a layer on top of it.

Rule catalogs register themselves with :func:`define_rule` at import time; ``mock_wsk.rules``
imports every catalog so that ``python -m harness rules`` can list them all.
"""

from __future__ import annotations

import enum
import functools
import os
import sys
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_GREENLET_HINT = os.sep + "greenlet" + os.sep


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


class Policy(enum.Enum):
    """What the machine does when an error-severity rule is broken."""

    BUGCHECK = "bugcheck"  # stop as Windows would, with a blue-screen summary
    RECORD = "record"  # collect the violation and go on


@dataclass(frozen=True, slots=True)
class Rule:
    """One contract: what is checked, how bad it is, and which sentence of the docs it enforces."""

    id: str
    title: str
    severity: Severity
    bugcheck: int  # the bug-check code Windows (or Driver Verifier) would raise
    doc: str  # the sentence of the documentation the rule enforces
    source: str  # where that sentence comes from (CONTRACTS.md item, seed page, WDK page)
    param1: int = 0  # Driver-Verifier-style first bug-check parameter: identifies the rule


_RULES: dict[str, Rule] = {}


def define_rule(
    id: str,
    title: str,
    severity: Severity,
    bugcheck: int,
    doc: str,
    source: str,
) -> Rule:
    """Register a rule. Ids are unique; param1 is assigned in registration order (stable)."""
    if id in _RULES:
        raise ValueError(f"rule {id!r} defined twice")
    rule = Rule(id, title, severity, int(bugcheck), doc, source, param1=0x1000 + len(_RULES))
    _RULES[id] = rule
    return rule


def get_rule(rule_id: str) -> Rule:
    return _RULES[rule_id]


def all_rules() -> list[Rule]:
    return list(_RULES.values())


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """A place in the driver stub's own code (never the mock's)."""

    file: str
    line: int
    function: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} in {self.function}"


def is_mock_frame(filename: str) -> bool:
    return filename.startswith(_PACKAGE_DIR) or _GREENLET_HINT in filename


# A driver code place as a raw (file, line, function) triple: cheap to take on every allocation
# (no path formatting); turned into a SourceLocation only when something is reported.
Site = tuple[str, int, str]

# id(code object) -> (that code object, instruction offset -> its Site). A Site is an immutable
# tuple shared by everything made at that place: 10,000 IRPs allocated on one line hold one
# triple, not 10,000. Keyed by identity because hashing a code object rehashes its constants every
# time (0.15-0.5 us a stub function); the entry holds the code object, so no other object can take
# its id while it is cached. Keyed by offset because ``f_lineno`` searches the line table, and an
# offset always maps to the same line.
_SITES: dict[int, tuple[types.CodeType, dict[int, Site]]] = {}
# filename -> is_mock_frame(filename), asked for every frame walked.
_MOCK_FILES: dict[str, bool] = {}
# Site -> its SourceLocation, one shared (frozen) object per place.
_LOCATIONS: dict[Site, SourceLocation] = {}


def frame_site(frame: types.FrameType | None, skip_mock: bool = True) -> Site | None:
    """The place of the innermost frame from ``frame`` outward that is driver code (outside
    mock_wsk; any frame with ``skip_mock=False``)."""
    mock_files = _MOCK_FILES
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        if skip_mock:
            is_mock = mock_files.get(filename)
            if is_mock is None:
                is_mock = mock_files[filename] = is_mock_frame(filename)
        else:
            is_mock = False
        if not is_mock:
            entry = _SITES.get(id(code))
            if entry is None:
                if len(_SITES) >= 4096:  # stubs compiled afresh per test: stay bounded
                    _SITES.clear()
                entry = _SITES[id(code)] = (code, {})
            sites = entry[1]
            offset = frame.f_lasti
            site = sites.get(offset)
            if site is None:
                site = sites[offset] = (filename, frame.f_lineno, code.co_name)
            return site
        frame = frame.f_back
    return None


def stub_location(skip_mock: bool = True) -> SourceLocation | None:
    """The innermost frame outside mock_wsk: the driver code that made the offending call."""
    site = frame_site(sys._getframe(1), skip_mock)
    if site is None:
        return None
    location = _LOCATIONS.get(site)
    if location is None:
        if len(_LOCATIONS) >= 4096:
            _LOCATIONS.clear()
        location = _LOCATIONS[site] = SourceLocation(short_path(site[0]), site[1], site[2])
    return location


def code_location(fn: Any) -> SourceLocation | None:
    """Where a driver function is defined: the best location once it has already returned."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    return SourceLocation(short_path(code.co_filename), code.co_firstlineno, code.co_name)


@functools.lru_cache(maxsize=1024)
def short_path(filename: str) -> str:
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # a different drive on Windows
        return filename
    return filename if relative.startswith("..") else relative


@dataclass(slots=True)
class Violation:
    """A broken rule, with everything needed to find and replay it."""

    rule: Rule
    message: str
    time_ns: int
    cpu: int | None
    irql: int | None
    context: str  # e.g. "dpc#7 (EchoReceiveDpc)"
    location: SourceLocation | None
    objects: dict[str, str] = field(default_factory=dict)
    params: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def severity(self) -> Severity:
        return self.rule.severity

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.id,
            "severity": self.rule.severity.value,
            "bugcheck": f"0x{self.rule.bugcheck:08X}",
            "params": [f"0x{p:X}" for p in self.params],
            "message": self.message,
            "doc": self.rule.doc,
            "source": self.rule.source,
            "time_ns": self.time_ns,
            "cpu": self.cpu,
            "irql": self.irql,
            "context": self.context,
            "location": str(self.location) if self.location else None,
            "objects": dict(self.objects),
        }

    def render(self) -> str:
        """Several lines a person reads: what broke, where in their code, and why it is a rule."""
        where = str(self.location) if self.location else "(no driver frame)"
        lines = [
            f"{self.rule.id} [{self.rule.severity.value}] {self.message}",
            f"  at {where}",
            f"  t={self.time_ns} ns  cpu={self.cpu}  irql={self.irql}  context={self.context}",
            f"  rule: {self.rule.doc}  ({self.rule.source})",
        ]
        if self.objects:
            lines.append("  objects: " + ", ".join(f"{k}={v}" for k, v in self.objects.items()))
        return "\n".join(lines)


class BugCheckHalt(BaseException):
    """Raised through the driver's code when the policy is BUGCHECK: the machine stops here.

    A BaseException, so a driver's ``except Exception`` cannot swallow a bug check.
    """

    def __init__(self, violation: Violation) -> None:
        super().__init__(violation.message)
        self.violation = violation

    def blue_screen(self) -> str:
        v = self.violation
        p = ", ".join(f"0x{x:X}" for x in v.params)
        return (
            "*** STOP: 0x{:08X} ({})\n*** {}\n{}".format(
                v.rule.bugcheck, p, v.rule.title.upper().replace(" ", "_"), v.render()
            )
        )


class Verifier:
    """Collects violations for one machine and applies the policy."""

    def __init__(
        self,
        policy: Policy = Policy.RECORD,
        disabled: Iterable[str] = (),
        severity_overrides: Mapping[str, Severity] | None = None,
    ) -> None:
        self.policy = policy
        self.disabled = frozenset(disabled)
        self.severity_overrides = dict(severity_overrides or {})
        self.violations: list[Violation] = []

    def make(
        self,
        rule_id: str,
        message: str,
        *,
        time_ns: int,
        cpu: int | None,
        irql: int | None,
        context: str,
        location: SourceLocation | None,
        objects: Mapping[str, object] | None = None,
        params: tuple[int, int, int] = (0, 0, 0),
    ) -> Violation | None:
        """Record a violation; raise BugCheckHalt when the policy says the machine stops."""
        if rule_id in self.disabled:
            return None
        rule = _RULES[rule_id]
        override = self.severity_overrides.get(rule_id)
        if override is not None and override is not rule.severity:
            rule = Rule(rule.id, rule.title, override, rule.bugcheck, rule.doc, rule.source,
                        rule.param1)
        violation = Violation(
            rule=rule,
            message=message,
            time_ns=time_ns,
            cpu=cpu,
            irql=irql,
            context=context,
            location=location,
            objects={k: str(v) for k, v in (objects or {}).items()},
            params=(rule.param1, *params),
        )
        self.violations.append(violation)
        if self.policy is Policy.BUGCHECK and rule.severity is Severity.ERROR:
            raise BugCheckHalt(violation)
        return violation

    def rule_ids(self) -> list[str]:
        return [v.rule.id for v in self.violations]
