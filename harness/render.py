"""Turning results into text people read: verdict lines, failures, trace excerpts, JSONL."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any

from harness.runner import ScenarioResult
from harness.units import format_duration

EXCERPT_BEFORE = 8
EXCERPT_AFTER = 3


def format_record(record: tuple[Any, ...]) -> str:
    time_ns, cpu, ctx, event, detail = record
    where = f"cpu{cpu}" if cpu >= 0 else "sys "
    args = " ".join(str(d) for d in detail)
    return f"{time_ns:>14} ns  {where}  ctx#{ctx:<5} {event:<14} {args}"


def trace_excerpt(trace: list[tuple[Any, ...]] | None, rule_id: str | None) -> list[str]:
    """The records around the first violation of ``rule_id`` (or the end of the trace)."""
    if not trace:
        return []
    index = len(trace) - 1
    if rule_id is not None:
        for i, record in enumerate(trace):
            if record[3] == "violation" and record[4] and record[4][0] == rule_id:
                index = i
                break
    start = max(0, index - EXCERPT_BEFORE)
    lines = []
    for i in range(start, min(len(trace), index + EXCERPT_AFTER + 1)):
        marker = ">" if i == index else " "
        lines.append(f"{marker} {format_record(trace[i])}")
    return lines


def verdict_line(result: ScenarioResult) -> str:
    s = result.scenario
    mark = "PASS" if result.passed else "FAIL"
    extra = [f"{format_duration(result.machine.now)} virtual"]
    found = sorted({v.rule.id for v in result.violations})
    if found:
        extra.append("violations: " + ", ".join(found))
    if result.bugcheck_code is not None:
        extra.append(f"bug check 0x{result.bugcheck_code:X}")
    return f"{mark}  {s.path}::{s.name}  ({'; '.join(extra)})"


def failure_report(result: ScenarioResult) -> str:
    """A failure the way pytest shows one: what was expected where, what happened, why it is a
    rule, where in the driver's code, the trace around it, and how to replay it."""
    s = result.scenario
    lines = [f"scenario {s.name!r} ({s.path}) failed:"]
    for failure in result.failures:
        where = f"{s.path}:{failure.line}" if failure.line else s.path
        lines.append(f"  {where}: {failure.what}: {failure.message}")
    if result.violations:
        lines.append("")
        lines.append("violations reported by the verifier:")
        for violation in result.violations:
            lines.extend("  " + line for line in violation.render().splitlines())
    halt = result.machine.halt
    if halt is not None:
        lines.append("")
        lines.extend(halt.blue_screen().splitlines())
    first = result.violations[0].rule.id if result.violations else None
    excerpt = trace_excerpt(result.trace, first)
    if excerpt:
        lines.append("")
        lines.append("trace excerpt:")
        lines.extend("  " + line for line in excerpt)
    lines.append("")
    lines.append(f"replay: {result.replay_command()}")
    return "\n".join(lines)


def write_jsonl_trace(records: Iterable[tuple[Any, ...]], out: IO[str]) -> None:
    """One JSON object per trace record, keys in a fixed order (byte-for-byte reproducible)."""
    for time_ns, cpu, ctx, event, detail in records:
        out.write(json.dumps({"t": time_ns, "cpu": cpu, "ctx": ctx, "event": event,
                              "detail": [_plain(d) for d in detail]}, separators=(",", ":")))
        out.write("\n")


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
