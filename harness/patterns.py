"""Trace patterns: ordered, time-tolerant matching of trace records, in packetdrill's spirit.

A trace record is ``(time_ns, cpu, ctx_id, event, detail)`` (see :mod:`mock_wsk.machine`). A
*step* names an event (a glob such as ``wsk.callback.*`` is allowed) and optionally constrains
its detail fields, its CPU and its time::

    - {event: wsk.callback.enter, match: {name: WskReceiveEvent}}
    - {event: call.return, match: {name: WskControlSocket, status: STATUS_EVENT_PENDING},
       within: 10ms}

Detail fields are named per event (:data:`EVENT_FIELDS`, extended by areas through
:func:`register_event_fields`) or addressed by position (``match: {0: WskReceiveEvent}``). A
pattern value matches a field when it is equal to it, when it is an NTSTATUS name and the field
holds that status, or when it is a glob (``Wsk*Event``) that the field's text matches.

An ordered pattern matches when there are records ``r0, r1, ...`` in trace order, one per step,
each satisfying its step; time constraints are relative to the previous step's record (``within``:
at most that long after, ``after``: at least that long after) or absolute (``at`` give or take
``tolerance``). The search is exact, not greedy: if *any* assignment satisfies every constraint
the pattern matches (a dynamic program over the candidates of each step, O(n log n)).
"""

from __future__ import annotations

import bisect
import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.units import format_duration

__all__ = [
    "CALLBACK_EVENTS",
    "CALL_RETURN_EVENT",
    "EVENT_FIELDS",
    "CountCheck",
    "OrderResult",
    "Step",
    "event_fields",
    "match_order",
    "parse_count",
    "record_fields",
    "register_event_fields",
]

Record = tuple[Any, ...]

# Events whose first detail field is the name of a driver callback being entered. The WSK
# provider emits ``wsk.callback.enter``; other areas (TDI) may use the generic name.
CALLBACK_EVENTS = ("wsk.callback.enter", "callback.enter")

# The event a provider emits when a DDI returns to the driver: detail (name, status).
CALL_RETURN_EVENT = "call.return"

EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "ctx.create": ("ctx", "kind", "name"),
    "ctx.start": ("kind", "name"),  # the context's id is the record's own ctx field
    "ctx.end": (),
    "ctx.block": ("ctx",),
    "ctx.wake": ("ctx", "status"),
    "ctx.spin": ("ctx", "lock"),
    "ctx.stall": ("ctx", "ns"),  # a thread busy-waits (KeStallExecutionProcessor) that long
    "dpc.queue": ("name", "cpu"),  # KeInsertQueueDpc and the providers (a timer: timer.expire)
    "event.set": ("name",),
    "timer.expire": ("name", "dpc", "cpu"),  # the DPC it queued and where; None, -1 if none
    "violation": ("rule", "message"),
    "bugcheck": ("rule",),
    "driver.entry": ("name", "status"),
    "driver.unload": ("name",),
    "pool.alloc": ("serial", "tag", "size"),
    "pool.free": ("serial",),
    "pool.fail": ("tag", "size"),
    "irp.alloc": ("irp", "stack_size"),
    "irp.free": ("irp",),
    "irp.complete": ("irp", "status", "information"),
    "irp.cancel": ("irp", "state"),
    "irp.begin": ("irp", "owner"),
    "irp.fail": (),
    "mdl.fail": (),
    "pool.refused": ("reason",),
    "rundown.wait": ("name", "count"),
    "wsk.register": (),
    "wsk.socket": ("socket", "category"),
    "wsk.callback.enter": ("name", "socket"),
    "callback.enter": ("name", "socket"),
    "call.return": ("name", "status"),
    "wsk.event.enable": ("socket", "flags"),
    "wsk.event.disable": ("socket", "flags", "outcome"),
    "wsk.peer.close": ("socket",),
    "wsk.close": ("socket",),
    "wsk.close.done": ("socket",),
    "tdi.open": ("connection",),
    "tdi.send.blocked": ("connection", "length"),
    "tdi.send_possible": ("connection", "bytes_available"),
    "winsock.connect": ("socket",),
    "winsock.change.abort": ("socket", "why"),
    "process.exit": ("name", "exit_code"),
}
"""Field names of each event's detail tuple, in order. Positions always work as well."""

# Fields that hold an NTSTATUS (so ``STATUS_PENDING`` in a pattern compares as a number).
_STATUS_FIELDS = frozenset({"status"})


def register_event_fields(event: str, fields: Sequence[str]) -> None:
    """Name the detail fields of an area's trace event (call at import time)."""
    EVENT_FIELDS[event] = tuple(fields)


def event_fields(event: str) -> tuple[str, ...] | None:
    return EVENT_FIELDS.get(event)


def record_fields(record: Record) -> tuple[Any, ...]:
    """A record's detail fields, in the order :data:`EVENT_FIELDS` names them."""
    return tuple(record[4])


# ---------------------------------------------------------------------- value matching


def status_names() -> dict[str, int]:
    """Every status a ``call.return`` record can carry, by name: the NTSTATUS values (WSK and
    TDI requests) and the Winsock errors (WSAGetLastError after a failed Winsock call)."""
    global _STATUS_NAMES
    if _STATUS_NAMES is None:
        from mock_wsk import constants
        from mock_wsk.status import NTSTATUS

        names = {name: int(member) for name, member in NTSTATUS.__members__.items()}
        names.update((name, value) for name, value in vars(constants).items()
                     if name.startswith("WSA") and name[3:4] in ("E", "_")
                     and isinstance(value, int))
        _STATUS_NAMES = names
    return _STATUS_NAMES


_STATUS_NAMES: dict[str, int] | None = None


def _status_value(text: str) -> int | None:
    return status_names().get(text)


def status_label(value: int) -> str:
    """A ``call.return`` status by name: the NTSTATUS name, else the Winsock error's (their
    values do not overlap), else ``0x%08X``."""
    from mock_wsk.status import status_name

    label = status_name(value)
    if label.startswith("0x"):
        unsigned = int(value) & 0xFFFFFFFF
        label = next((name for name, known in status_names().items()
                      if name.startswith("WSA") and known == unsigned), label)
    return label


def value_matches(pattern: Any, value: Any) -> bool:
    if isinstance(pattern, bool) or isinstance(value, bool):  # True is not 1 here
        return isinstance(pattern, bool) and isinstance(value, bool) and pattern == value
    if pattern == value:
        return True
    if isinstance(pattern, str):
        if isinstance(value, int) and not isinstance(value, bool):
            status = _status_value(pattern)
            if status is not None:
                return (value & 0xFFFFFFFF) == status
        text = value if isinstance(value, str) else str(value)
        if any(ch in pattern for ch in "*?["):
            return fnmatch.fnmatchcase(text, pattern)
        return text == pattern
    return False


# ---------------------------------------------------------------------- steps


@dataclass(frozen=True, slots=True)
class Step:
    """One step of an ordered pattern (or the selector of a liveness check)."""

    event: str
    match: tuple[tuple[int | str, Any], ...] = ()
    cpu: int | None = None
    within_ns: int | None = None
    after_ns: int | None = None
    at_ns: int | None = None
    tolerance_ns: int = 0
    line: int | None = None

    def describe(self) -> str:
        parts = [self.event]
        parts += [f"{k}={v}" for k, v in self.match]
        if self.cpu is not None:
            parts.append(f"cpu={self.cpu}")
        return " ".join(parts)

    def selects(self, record: Record) -> bool:
        """Whether ``record`` satisfies this step's event, fields and CPU (not its timing)."""
        event = record[3]
        if event != self.event and not (
                any(ch in self.event for ch in "*?[") and fnmatch.fnmatchcase(event, self.event)):
            return False
        if self.cpu is not None and record[1] != self.cpu:
            return False
        if not self.match:
            return True
        fields = record_fields(record)
        names = EVENT_FIELDS.get(event, ())
        for key, pattern in self.match:
            if isinstance(key, int):
                index = key
            elif key.isdigit():
                index = int(key)
            else:
                index = names.index(key) if key in names else -1
            if not 0 <= index < len(fields) or not value_matches(pattern, fields[index]):
                return False
        return True


def field_key(event: str, key: Any) -> int | str:
    """A match key as given in YAML (``name``, ``0``, ``"1"``) checked against the event.

    Raises :class:`ValueError` with a helpful message for a field the event does not have.
    """
    if isinstance(key, int) and not isinstance(key, bool):
        if key < 0:
            raise ValueError(f"field position {key} is negative")
        return key
    text = str(key)
    if text.isdigit():
        return int(text)
    names = EVENT_FIELDS.get(event)
    if names is None:
        if any(ch in event for ch in "*?["):
            return text  # a glob over events: names are checked per record
        raise ValueError(f"the fields of event {event!r} have no names; match them by "
                         "position (0, 1, ...)")
    if text not in names:
        from harness.suggest import did_you_mean

        hint = did_you_mean(text, names)
        raise ValueError(f"event {event!r} has no field {text!r}"
                         + (f" (did you mean {hint!r}?)" if hint else "")
                         + "; its fields are: " + (", ".join(names) or "none"))
    return text


# ---------------------------------------------------------------------- counts


_COUNT_RE = re.compile(r"^\s*(==|!=|>=|<=|>|<)?\s*([0-9][0-9_]*)\s*$")
_OPS = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
}


@dataclass(frozen=True, slots=True)
class CountCheck:
    """``3`` (exactly), or a comparison such as ``">= 3"`` or ``"< 10"``."""

    op: str
    value: int

    def holds(self, count: int) -> bool:
        return bool(_OPS[self.op](count, self.value))

    def __str__(self) -> str:
        return str(self.value) if self.op == "==" else f"{self.op} {self.value}"


def parse_count(spec: Any) -> CountCheck:
    if isinstance(spec, int) and not isinstance(spec, bool):
        if spec < 0:
            raise ValueError(f"a count cannot be negative ({spec})")
        return CountCheck("==", spec)
    if isinstance(spec, str):
        found = _COUNT_RE.match(spec)
        if found:
            return CountCheck(found.group(1) or "==", int(found.group(2).replace("_", "")))
    raise ValueError(f"expected a count such as 3 or \">= 3\", got {spec!r}")


# ---------------------------------------------------------------------- ordered matching


@dataclass(slots=True)
class OrderResult:
    matched: bool
    records: list[Record] = field(default_factory=list)  # one per step when matched
    failed_step: int | None = None  # the first step that could not be matched
    message: str = ""


def _candidates(step: Step, trace: Sequence[Record]) -> list[int]:
    out = []
    lo = hi = None
    if step.at_ns is not None:
        lo, hi = step.at_ns - step.tolerance_ns, step.at_ns + step.tolerance_ns
    for index, record in enumerate(trace):
        if lo is not None and hi is not None and not lo <= record[0] <= hi:
            continue
        if step.selects(record):
            out.append(index)
    return out


def _window(prev_time: int, step: Step) -> tuple[int, int | None]:
    lo = prev_time + (step.after_ns or 0)
    hi = prev_time + step.within_ns if step.within_ns is not None else None
    return lo, hi


def match_order(steps: Sequence[Step], trace: Sequence[Record]) -> OrderResult:
    """Whether the steps occur in order in ``trace`` with their timing constraints."""
    if not steps:
        return OrderResult(True)
    cands = [_candidates(step, trace) for step in steps]
    times = [[trace[i][0] for i in c] for c in cands]
    # feasible[k][j]: candidate j of step k can start a match of steps k..end.
    feasible: list[list[bool]] = [[] for _ in steps]
    feasible[-1] = [True] * len(cands[-1])
    for k in range(len(steps) - 2, -1, -1):
        nxt, nxt_times, step = cands[k + 1], times[k + 1], steps[k + 1]
        prefix = [0]
        for ok in feasible[k + 1]:
            prefix.append(prefix[-1] + ok)
        row = []
        for index, t in zip(cands[k], times[k], strict=True):
            first = bisect.bisect_right(nxt, index)
            lo, hi = _window(t, step)
            first = max(first, bisect.bisect_left(nxt_times, lo))
            last = len(nxt) if hi is None else bisect.bisect_right(nxt_times, hi)
            row.append(last > first and prefix[last] - prefix[first] > 0)
        feasible[k] = row
    # Steps' own constraints relative to time 0 for the first step.
    first_step = steps[0]
    lo0, hi0 = _window(0, first_step)
    start = [j for j, t in enumerate(times[0])
             if feasible[0][j] and t >= lo0 and (hi0 is None or t <= hi0)]
    if start:
        chosen = [cands[0][start[0]]]
        for k in range(1, len(steps)):
            prev = chosen[-1]
            lo, hi = _window(trace[prev][0], steps[k])
            for j, index in enumerate(cands[k]):
                t = times[k][j]
                if index > prev and feasible[k][j] and t >= lo and (hi is None or t <= hi):
                    chosen.append(index)
                    break
        return OrderResult(True, [trace[i] for i in chosen])
    return _explain(steps, trace, cands)


def _explain(steps: Sequence[Step], trace: Sequence[Record],
             cands: list[list[int]]) -> OrderResult:
    """Why no match: walk greedily and report the first step that cannot follow."""
    prev: int | None = None
    prev_time = 0
    matched: list[Record] = []
    for k, step in enumerate(steps):
        lo, hi = _window(prev_time, step)
        later = [i for i in cands[k] if prev is None or i > prev]
        fitting = [i for i in later if trace[i][0] >= lo and (hi is None or trace[i][0] <= hi)]
        if fitting:
            prev = fitting[0]
            prev_time = trace[prev][0]
            matched.append(trace[prev])
            continue
        where = f"step {k + 1} ({step.describe()})"
        if not cands[k]:
            reason = "never happened" + (" at that time" if step.at_ns is not None else "")
        elif not later:
            reason = (f"happened only before step {k} matched "
                      f"(first at {format_duration(trace[cands[k][0]][0])})")
        else:
            nearest = trace[later[0]][0]
            if hi is not None and nearest > hi:
                reason = (f"came {format_duration(nearest - prev_time)} after the previous step, "
                          f"later than within {format_duration(hi - prev_time)}")
            else:
                reason = f"came too early ({format_duration(nearest - prev_time)} after)"
        after = f" after step {k} at {format_duration(prev_time)}" if k else ""
        return OrderResult(False, matched, k, f"{where} {reason}{after}")
    # Every step fits greedily but the full constraint set did not (cannot happen: greedy
    # success is a match); kept for safety.
    return OrderResult(True, matched)  # pragma: no cover


# ---------------------------------------------------------------------- liveness


def gaps(times: Iterable[int], start: int, end: int) -> tuple[int, int]:
    """The longest gap between consecutive instants (including ``start`` and ``end``) and
    where it begins."""
    longest, where, previous = 0, start, start
    for t in times:
        if t < start:
            continue
        if t > end:
            break
        if t - previous > longest:
            longest, where = t - previous, previous
        previous = t
    if end - previous > longest:
        longest, where = end - previous, previous
    return longest, where


def growth_instants(samples: Sequence[tuple[int, float]]) -> list[int]:
    """Times at which a sampled value went up (for ``keeps_growing_every``)."""
    out = []
    last: float | None = None
    for t, value in samples:
        if last is not None and value > last:
            out.append(t)
        last = value if last is None else max(last, value)
    return out
