"""Judging the trace-based expectations: callback counts, ordered patterns, statuses, liveness.

The runner judges violations, bug checks and metrics itself; everything here reads the trace
(records ``(time_ns, cpu, ctx_id, event, detail)``) or the run's time series, so it is a pure
function of those and the scenario: easy to test without running a machine.

Trace events read here (an area that emits them gets these expectations for free):

* ``wsk.callback.enter`` / ``callback.enter`` — detail ``(name, socket, ...)``: a driver callback
  was entered (``callbacks:``);
* ``call.return`` — detail ``(name, status, ...)``: a DDI returned ``status`` to the driver
  (``statuses:``);
* anything else by name for ``order:`` and event ``liveness:``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.patterns import (
    CALL_RETURN_EVENT,
    CALLBACK_EVENTS,
    gaps,
    growth_instants,
    match_order,
    record_fields,
    value_matches,
)
from harness.scenario import Expectations, LivenessCheck, StatusCheck
from harness.units import format_duration

Record = tuple[Any, ...]
Series = Mapping[str, Sequence[tuple[int, float]]]


def judge_trace(expect: Expectations, trace: Sequence[Record] | None, series: Series,
                end_ns: int) -> list[tuple[str, str, int | None]]:
    """``[(what, message, line)]`` for every trace expectation that does not hold."""
    failures: list[tuple[str, str, int | None]] = []
    if trace is None:
        if expect.needs_trace:
            failures.append(("trace", "the run has no trace (machine.trace is false)", None))
        trace = ()
    if expect.callbacks:
        counts = callback_counts(trace)
        for check in expect.callbacks:
            got = counts.get(check.name, 0)
            if not check.count.holds(got):
                failures.append(("callbacks", f"{check.name} was entered {got} time"
                                 f"{'' if got == 1 else 's'}, expected {check.count}",
                                 check.line))
    if expect.order:
        result = match_order(expect.order, trace)
        if not result.matched:
            step = expect.order[result.failed_step or 0]
            failures.append(("order", result.message, step.line or expect.order_line))
    for status_check in expect.statuses:
        message = _judge_status(status_check, trace)
        if message:
            failures.append(("statuses", message, status_check.line))
    for liveness in expect.liveness:
        message = _judge_liveness(liveness, trace, series, end_ns)
        if message:
            failures.append(("liveness", message, liveness.line))
    return failures


def callback_counts(trace: Sequence[Record]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in trace:
        if record[3] in CALLBACK_EVENTS and record[4]:
            name = str(record[4][0])
            counts[name] = counts.get(name, 0) + 1
    return counts


def _judge_status(check: StatusCheck, trace: Sequence[Record]) -> str | None:
    from harness.patterns import status_label

    returned = [
        (str(fields[0]), fields[1])
        for fields in (record_fields(r) for r in trace if r[3] == CALL_RETURN_EVENT)
        if len(fields) >= 2 and value_matches(check.call, fields[0])
    ]
    def hit(status: Any) -> bool:
        return isinstance(status, int) and (status & 0xFFFFFFFF) in check.statuses

    def shown(status: Any) -> str:
        return status_label(status) if isinstance(status, int) else repr(status)

    if check.nth is not None:
        if len(returned) < check.nth:
            return (f"call {check.nth} of {check.call} never happened "
                    f"({len(returned)} call{'s' if len(returned) != 1 else ''})")
        status = returned[check.nth - 1][1]
        if hit(status):
            return None
        return (f"call {check.nth} of {check.call} returned {shown(status)}, expected "
                f"{check.shown}")

    if check.every:
        wrong = [s for _, s in returned if not hit(s)]
        if not returned:
            return f"{check.call} was never called; expected every call to return {check.shown}"
        if wrong:
            return (f"{check.call} returned {shown(wrong[0])} ({len(wrong)} of {len(returned)} "
                    f"calls); expected every call to return {check.shown}")
        return None
    count = sum(hit(s) for _, s in returned)
    if check.count.holds(count):
        return None
    seen = sorted({shown(s) for _, s in returned})
    times = f"{count} time{'s' if count != 1 else ''}"
    return (f"{check.call} returned {check.shown} {times}, expected {check.count}"
            + (f" (returned: {', '.join(seen)})" if seen else " (never called)"))


def _judge_liveness(check: LivenessCheck, trace: Sequence[Record], series: Series,
                    end_ns: int) -> str | None:
    until = min(check.until_ns, end_ns) if check.until_ns is not None else end_ns
    start = check.from_ns
    if until <= start:
        return None
    if check.step is not None:
        instants = [r[0] for r in trace if check.step.selects(r)]
        what = check.step.describe()
    else:
        assert check.metric is not None
        samples = series.get(check.metric)
        if samples is None:
            available = ", ".join(sorted(series)) or "none"
            return f"no time series {check.metric!r} in this run (available: {available})"
        instants = growth_instants(samples)
        what = f"{check.metric} growing"
    longest, where = gaps(instants, start, until)
    if longest > check.period_ns:
        return (f"no {what} for {format_duration(longest)} from {format_duration(where)} "
                f"(expected at least every {format_duration(check.period_ns)} between "
                f"{format_duration(start)} and {format_duration(until)})")
    return None
