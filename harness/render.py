"""Turning results into text people read: verdict lines, failures, trace excerpts, the replay
story, and JSON-lines traces."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from typing import IO, Any

from harness.patterns import EVENT_FIELDS
from harness.runner import ScenarioResult
from harness.units import format_duration
from mock_wsk.kernel.pool import tag_text
from mock_wsk.scheduling import ReplayStrategy

EXCERPT_BEFORE = 8
EXCERPT_AFTER = 3


def _arg(value: Any) -> str:
    # NTSTATUS members print as their names; everything else as itself.
    if isinstance(value, int) and type(value) is not int and not isinstance(value, bool):
        return getattr(value, "name", str(int(value)))
    return str(value)


# Pool tags print as pool tools show them ('Ewsk'), not as the integer a trace record keeps.
_TAG_FIELD = {event: fields.index("tag") for event, fields in EVENT_FIELDS.items()
              if "tag" in fields}


def _args(event: str, detail: tuple[Any, ...]) -> str:
    tag_at = _TAG_FIELD.get(event)
    return " ".join(f"'{tag_text(d)}'" if i == tag_at and type(d) is int else _arg(d)
                    for i, d in enumerate(detail))


def format_record(record: tuple[Any, ...]) -> str:
    time_ns, cpu, ctx, event, detail = record
    where = f"cpu{cpu}" if cpu >= 0 else "sys "
    args = _args(event, detail)
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


def excerpt_index(trace: list[tuple[Any, ...]], rule_id: str | None) -> int:
    for i, record in enumerate(trace):
        if record[3] == "violation" and record[4] and (rule_id is None or
                                                        record[4][0] == rule_id):
            return i
    return len(trace) - 1


# The figures worth a glance, one per kind, in this order: (kind, name patterns by preference).
# A scenario that marks the end of slow start (flow_mark) shows utilization since the mark.
KEY_METRICS = (
    ("utilization", ("*utilization_since_mark", "*utilization")),
    ("ISB notifications", ("*isb_notifications",)),
    ("throughput", ("*throughput_bps",)),
    ("bytes delivered", ("*bytes_delivered", "*bytes_received")),
)


def key_metrics(metrics: Mapping[str, Any], limit: int = 3) -> list[tuple[str, str]]:
    """Up to ``limit`` (label, formatted value) pairs: per kind, the aggregate metric (fewest
    dots) matching its most preferred pattern, when it is not zero."""
    out: list[tuple[str, str]] = []
    for label, patterns in KEY_METRICS:
        for pattern in patterns:
            names = [n for n in metrics if fnmatch.fnmatchcase(n, pattern)]
            if names:
                name = min(names, key=lambda n: (n.count("."), n))
                if metrics[name]:  # a zero says nothing (no data moved in this scenario)
                    out.append((label, _format_metric(label, metrics[name])))
                break
        if len(out) == limit:
            break
    return out


def _format_metric(label: str, value: Any) -> str:
    if label == "utilization":
        return f"{100 * value:.1f}%"
    if label == "throughput":
        from harness.units import format_rate

        return format_rate(int(value))
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def verdict_line(result: ScenarioResult) -> str:
    s = result.scenario
    mark = "PASS" if result.passed else "FAIL"
    extra = [f"{format_duration(result.machine.now)} virtual"]
    if s.seed or s.strategy != "fifo":
        extra.append(f"seed {s.seed}")
    extra.extend(f"{label} {value}" for label, value in key_metrics(result.metrics))
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
        path = failure.path or s.path
        where = f"{path}:{failure.line}" if failure.line else path
        lines.append(f"  {where}: {failure.what}: {failure.message}")
    if result.violations:
        lines.append("")
        lines.append("violations reported by the verifier:")
        # The same rule broken at the same line is shown once, with when it happened again.
        groups: dict[tuple[str, str], list[Any]] = {}
        for violation in result.violations:
            groups.setdefault((violation.rule.id, str(violation.location)), []).append(violation)
        for same in groups.values():
            lines.extend("  " + line for line in same[0].render().splitlines())
            if len(same) > 1:
                times = ", ".join(format_duration(v.time_ns) for v in same[1:6])
                more = ", ..." if len(same) > 6 else ""
                lines.append(f"    ... and {len(same) - 1} more time"
                             f"{'s' if len(same) > 2 else ''} at the same place ({times}{more})")
    halt = result.machine.halt
    if halt is not None:
        lines.append("")
        lines.extend(halt.blue_screen().splitlines())
    first = result.violations[0].rule.id if result.violations else None
    excerpt = trace_excerpt(result.trace, first) if first or result.failures else []
    if excerpt:
        lines.append("")
        lines.append("trace excerpt:")
        lines.extend("  " + line for line in excerpt)
    lines.append("")
    lines.append(f"replay: {result.replay_command()}")
    return "\n".join(lines)


def story(result: ScenarioResult, max_lines: int = 2000) -> str:
    """The whole run as a story: one line per trace record, indented into a column per CPU,
    contexts named, violations marked ``!!`` and spelled out where they happened.

    Longer traces keep the ``max_lines`` records around the first violation (or the end)."""
    from harness.timeline import IRQL_NAMES_SHORT, build_timeline

    trace = result.trace or []
    s = result.scenario
    used = result.machine.strategy
    how = (f"{len(used.decisions)} recorded decision(s)" if isinstance(used, ReplayStrategy)
           else f"strategy {s.strategy}")  # a replay file's schedule, not the scenario's own
    lines = [f"replay of {s.name} ({s.path}{':' + str(s.line) if s.line else ''}), seed "
             f"{s.seed}, {how}, {s.cpus} CPU{'s' if s.cpus != 1 else ''}"]
    if not trace:
        lines.append("(no trace: machine.trace is false)")
        return "\n".join(lines)
    labels: dict[int, str] = {}
    for piece in build_timeline(trace, s.cpus, result.machine.now).slices:
        labels.setdefault(piece.ctx, f"{piece.kind}#{piece.ctx} {piece.name}")
    for record in trace:
        if record[3] == "ctx.create" and len(record[4]) >= 3:
            labels.setdefault(record[4][0], f"{record[4][1]}#{record[4][0]} {record[4][2]}")
    start, stop = 0, len(trace)
    if len(trace) > max_lines:
        focus = excerpt_index(trace, None)
        start = max(0, min(focus - max_lines // 2, len(trace) - max_lines))
        stop = start + max_lines
        lines.append(f"({len(trace)} records; showing {start + 1}..{stop}, around "
                     f"{'the first violation' if trace[focus][3] == 'violation' else 'the end'})")
    violations = iter(result.violations)
    width = 6
    last_cpu: dict[int, int] = {}
    for record in trace[start:stop]:
        t, cpu, ctx, event, detail = record
        if cpu < 0 and event == "ctx.block":
            cpu = last_cpu.get(ctx, cpu)  # emitted after leaving the CPU: show where it was
        elif ctx:
            last_cpu[ctx] = cpu
        lane = "machine" if cpu < 0 else f"cpu{cpu}"
        indent = " " * (width * (cpu + 1) if cpu >= 0 else 0)
        who = labels.get(ctx, f"ctx#{ctx}") if ctx else "system"
        if event == "ctx.start":
            kind = str(detail[-2]) if len(detail) >= 2 else ""
            level = IRQL_NAMES_SHORT.get(2 if kind == "dpc" else 0, "")
            text = f"> {who} starts ({level.upper()})"
        elif event == "ctx.end":
            text = f"< {who} returns"
        elif event == "ctx.block":
            text = f"| {who} waits"
        elif event == "violation":
            text = f"VIOLATION {detail[0]}: {detail[1] if len(detail) > 1 else ''}"
        else:
            text = f"{event} {_args(event, detail)}  [{who}]"
        mark = "!!" if event in ("violation", "bugcheck") else "  "
        # Exact to the nanosecond: in a race, 1.000002 ms and 1.000003 ms differ.
        lines.append(f"{mark}{t // 1_000_000:>7}.{t % 1_000_000:06d} ms  {lane:<7} {indent}{text}")
        if event == "violation":
            violation = next(violations, None)
            if violation is not None and violation.rule.id == detail[0]:
                pad = " " * (28 + len(indent))
                lines.extend(pad + line for line in violation.render().splitlines()[1:])
    if stop < len(trace):
        lines.append(f"... {len(trace) - stop} more records")
    return "\n".join(lines)


def jsonl_header(result: ScenarioResult) -> dict[str, Any]:
    s = result.scenario
    return {"scenario": s.name, "file": s.path, "case": s.case, "seed": s.seed,
            "strategy": s.strategy, "cpus": s.cpus}


def write_jsonl_trace(records: Iterable[tuple[Any, ...]], out: IO[str],
                      header: dict[str, Any] | None = None) -> None:
    """One JSON object per trace record, keys in a fixed order (byte-for-byte reproducible).

    With ``header``, a first line names the scenario (``{"scenario": ..., "seed": ...}``), so
    several scenarios can share one file."""
    if header is not None:
        out.write(json.dumps(header, separators=(",", ":")))
        out.write("\n")
    for time_ns, cpu, ctx, event, detail in records:
        out.write(json.dumps({"t": time_ns, "cpu": cpu, "ctx": ctx, "event": event,
                              "detail": [_plain(d) for d in detail]}, separators=(",", ":")))
        out.write("\n")


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | float | str):
        return value
    if isinstance(value, int):
        return int(value)  # NTSTATUS and other int enums as plain numbers
    return str(value)
