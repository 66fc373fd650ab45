"""Trace patterns and trace expectations, on hand-made traces (no machine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.expectations import callback_counts, judge_trace
from harness.patterns import (
    Step,
    field_key,
    gaps,
    growth_instants,
    match_order,
    parse_count,
    record_fields,
    value_matches,
)
from harness.scenario import load_scenario
from mock_wsk.status import STATUS_EVENT_PENDING, STATUS_PENDING, STATUS_SUCCESS

MS = 1_000_000


def rec(t_ms: float, event: str, *detail: object, cpu: int = 0, ctx: int = 1) -> tuple:
    return (int(t_ms * MS), cpu, ctx, event, tuple(detail))


def test_value_matching() -> None:
    assert value_matches("WskReceiveEvent", "WskReceiveEvent")
    assert value_matches("Wsk*Event", "WskSendBacklogEvent")
    assert not value_matches("Wsk*Event", "ClientEventSendPossible")
    assert value_matches("STATUS_EVENT_PENDING", STATUS_EVENT_PENDING)
    assert value_matches("STATUS_EVENT_PENDING", int(STATUS_EVENT_PENDING))
    assert not value_matches("STATUS_PENDING", int(STATUS_SUCCESS))
    assert value_matches(3, 3) and not value_matches(True, 1) and not value_matches(1, True)


def test_fields_by_name_or_position() -> None:
    assert field_key("ctx.start", "name") == "name"
    assert field_key("ctx.start", 1) == 1 and field_key("ctx.start", "0") == 0
    with pytest.raises(ValueError, match="did you mean 'name'"):
        field_key("ctx.start", "nam")
    with pytest.raises(ValueError, match="by position"):
        field_key("area.private_event", "x")
    assert record_fields((0, 0, 3, "ctx.start", ("dpc", "TickDpc"))) == ("dpc", "TickDpc")


def test_counts() -> None:
    assert parse_count(3).holds(3) and not parse_count(3).holds(4)
    assert parse_count(">= 2").holds(2) and parse_count("< 2").holds(1)
    assert parse_count("!= 0").holds(5) and str(parse_count(" >=1_000 ")) == ">= 1000"
    for bad in ("about 3", -1, 1.5, True, "=> 3"):
        with pytest.raises(ValueError):
            parse_count(bad)


ENTER = "wsk.callback.enter"
TRACE = [
    rec(0, "ctx.start", "thread", "DriverEntry"),
    rec(1, ENTER, "WskReceiveEvent", 1, cpu=1, ctx=2),
    rec(2, "call.return", "WskControlSocket", STATUS_SUCCESS),
    rec(5, ENTER, "WskReceiveEvent", 1, cpu=1, ctx=3),
    rec(6, "call.return", "WskControlSocket", STATUS_EVENT_PENDING),
    rec(50, ENTER, "WskReceiveEvent", 1, cpu=1, ctx=4),
    rec(55, ENTER, "WskDisconnectEvent", 1, cpu=0, ctx=5),
]


def steps(*specs: dict) -> list[Step]:
    out = []
    for spec in specs:
        match = tuple(spec.pop("match", {}).items())
        out.append(Step(match=match, **spec))
    return out


def test_order_matches_in_order_with_tolerances() -> None:
    pattern = steps({"event": ENTER, "match": {"name": "WskReceiveEvent"}},
                    {"event": "call.return", "match": {"status": "STATUS_EVENT_PENDING"},
                     "within_ns": 2 * MS},
                    {"event": ENTER, "match": {"name": "WskDisconnectEvent"}, "cpu": 0})
    result = match_order(pattern, TRACE)
    assert result.matched
    assert [r[0] for r in result.records] == [5 * MS, 6 * MS, 55 * MS]  # not the greedy 1 ms


def test_order_is_exact_not_greedy() -> None:
    # Greedy would take the receive at 1 ms and then find no disconnect within 10 ms.
    pattern = steps({"event": ENTER, "match": {"0": "WskReceiveEvent"}},
                    {"event": ENTER, "match": {"name": "WskDisconnectEvent"},
                     "within_ns": 10 * MS})
    assert match_order(pattern, TRACE).matched


@pytest.mark.parametrize(("spec", "failed", "words"), [
    ({"event": ENTER, "match": {"name": "WskAcceptEvent"}}, 1, "never happened"),
    ({"event": ENTER, "match": {"name": "WskDisconnectEvent"}, "within_ns": MS}, 1,
     "later than within"),
    ({"event": "ctx.start", "match": {"name": "DriverEntry"}}, 1, "only before step 1"),
    ({"event": ENTER, "match": {"name": "WskDisconnectEvent"}, "after_ns": 60 * MS}, 1,
     "too early"),
])
def test_order_failures_say_which_step_and_why(spec: dict, failed: int, words: str) -> None:
    pattern = steps({"event": ENTER, "match": {"name": "WskReceiveEvent"}}, spec)
    result = match_order(pattern, TRACE)
    assert not result.matched and result.failed_step == failed
    assert words in result.message and "step 2" in result.message


def test_absolute_time_with_tolerance() -> None:
    assert match_order(steps({"event": ENTER, "at_ns": 49 * MS, "tolerance_ns": MS}),
                       TRACE).matched
    assert not match_order(steps({"event": ENTER, "at_ns": 30 * MS, "tolerance_ns": MS}),
                           TRACE).matched


def test_order_scales() -> None:
    trace = [rec(i / 1000, ENTER, "WskReceiveEvent", 1) for i in range(50_000)]
    trace.append(rec(60, ENTER, "WskDisconnectEvent", 1))
    pattern = steps({"event": ENTER, "match": {"name": "WskReceiveEvent"}},
                    {"event": ENTER, "match": {"name": "WskReceiveEvent"}, "within_ns": 1},
                    {"event": ENTER, "match": {"name": "WskDisconnectEvent"}})
    assert not match_order(pattern, trace).matched  # consecutive receives are 1 us apart
    pattern[1] = Step(event=ENTER, match=(("name", "WskReceiveEvent"),), within_ns=1000)
    assert match_order(pattern, trace).matched


def test_gaps_and_growth() -> None:
    assert gaps([10, 20, 45], 0, 50) == (25, 20)
    assert gaps([], 0, 50) == (50, 0)
    assert growth_instants([(0, 1), (5, 1), (7, 3), (9, 2), (12, 3), (15, 4)]) == [7, 15]


def test_callback_counts() -> None:
    assert callback_counts(TRACE) == {"WskReceiveEvent": 3, "WskDisconnectEvent": 1}


def expectations(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "s.yaml"
    path.write_text("name: x\ndriver: {stub: timer_counter}\nexpect:\n" + body)
    return load_scenario(path).expect


def test_judge_trace(tmp_path: Path) -> None:
    expect = expectations(tmp_path, """\
  callbacks: {WskReceiveEvent: ">= 3", WskDisconnectEvent: 2}
  statuses:
    - {call: WskControlSocket, status: STATUS_EVENT_PENDING}
    - {call: WskControlSocket, status: STATUS_SUCCESS, nth: 2}
    - {call: WskControlSocket, status: [STATUS_SUCCESS, STATUS_EVENT_PENDING], every: true}
    - {call: WskSend, status: STATUS_PENDING, count: 0}
    - {call: WskControlSocket, status: STATUS_PENDING, every: true}
  liveness:
    - {event: wsk.callback.enter, at_least_every: 10ms, until: 20ms}
    - {event: wsk.callback.enter, at_least_every: 50ms}
    - {metric: link.bytes, keeps_growing_every: 10ms}
    - {metric: missing, keeps_growing_every: 10ms}
""")
    series = {"link.bytes": [(0, 0.0), (5 * MS, 10.0), (8 * MS, 20.0), (30 * MS, 30.0)]}
    failures = judge_trace(expect, TRACE, series, 60 * MS)
    messages = {(what, line): message for what, message, line in failures}
    assert sorted(messages) == [("callbacks", 4), ("liveness", 12), ("liveness", 14),
                                ("liveness", 15), ("statuses", 7), ("statuses", 10)]
    assert "WskDisconnectEvent was entered 1 time, expected 2" in messages["callbacks", 4]
    assert "call 2 of WskControlSocket returned STATUS_EVENT_PENDING, expected STATUS_SUCCESS" \
        in messages["statuses", 7]
    assert "expected every call to return STATUS_PENDING" in messages["statuses", 10]
    assert "for 15 ms from 5 ms" in messages["liveness", 12]
    assert "link.bytes growing for 30 ms from 30 ms" in messages["liveness", 14]
    assert "no time series 'missing'" in messages["liveness", 15]
    assert STATUS_PENDING  # the names above are NTSTATUS members


def test_judge_without_trace(tmp_path: Path) -> None:
    expect = expectations(tmp_path, "  callbacks: {WskReceiveEvent: 0}\n")
    assert judge_trace(expect, None, {}, 0)[0][0] == "trace"
