"""Matrix, templating and extends: one file into named cases; every error at its file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.scenario import load_scenario, load_scenarios

BASE = """\
name: base
description: from the base
driver:
  stub: timer_counter
  parameters: {ticks: 3, period_ms: 1}
machine: {cpus: 2, strategy: fifo}
run: {duration: 20ms}
expect:
  violations: []
  metrics: ["driver.ticks == 3"]
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path) -> list:
    return load_scenarios(path, root=path.parent)


def error_of(path: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load(path)
    return info.value


def test_template_matrix_expands_into_named_cases(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", """\
name: tc
matrix:
  cpus: [1, 2]
  period: [1, 5]
driver: {stub: timer_counter, parameters: {period_ms: {{ period }}}}
machine: {cpus: {{ cpus }}}
run: {duration: {{ period * 10 }}ms}
""")
    cases = load(path)
    assert [s.name for s in cases] == ["tc[cpus=1,period=1]", "tc[cpus=1,period=5]",
                                      "tc[cpus=2,period=1]", "tc[cpus=2,period=5]"]
    assert [(s.cpus, s.parameters["period_ms"], s.duration_ns) for s in cases][1] == \
        (1, 5, 50_000_000)
    assert cases[3].case == "cpus=2,period=5" and cases[3].base_name == "tc"
    assert cases[3].variables == {"cpus": 2, "period": 5}
    assert cases[0].test_id == f"{path}::tc[cpus=1,period=1]"
    assert load_scenario(path).name == cases[0].name


def test_dotted_matrix_needs_no_template_and_shows_short_ids(tmp_path: Path) -> None:
    path = write(tmp_path, "d.yaml", BASE + "matrix:\n  machine.cpus: [1, 4]\n"
                 "  driver.parameters.ticks: [3]\n")
    cases = load(path)
    assert [s.case for s in cases] == ["cpus=1,ticks=3", "cpus=4,ticks=3"]
    assert [s.cpus for s in cases] == [1, 4]


def test_clashing_leaves_keep_full_paths(tmp_path: Path) -> None:
    path = write(tmp_path, "d.yaml", BASE.replace("name: base", "name: b") + """\
matrix:
  machine.seed: [1]
  run.seed: [2]
""")
    with pytest.raises(ScenarioError) as info:  # run.seed is not a key the schema allows
        load(path)
    assert "run.seed=2" in info.value.message or info.value.line == 13


def test_unused_matrix_variable_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "u.yaml", BASE + "matrix:\n  cpus: [1, 2]\n")
    error = error_of(path)
    assert (error.line, "is not used") == (12, "is not used") and "is not used" in error.message
    assert "machine.cpus" in (error.hint or "")
    templated = write(tmp_path, "t.yaml", "name: x\nmatrix:\n  cpus: [1]\n"
                      "driver: {stub: timer_counter}\nmachine: {cpus: {{ cpu }}}\n")
    error = error_of(templated)
    assert error.line == 3 and "not used by the template" in error.message
    assert "cpu" in (error.hint or "")


def test_matrix_limits_and_shapes(tmp_path: Path) -> None:
    big = write(tmp_path, "big.yaml", BASE + "matrix:\n  machine.cpus: "
                + str(list(range(1, 41))) + "\n  machine.seed: " + str(list(range(40))) + "\n")
    assert "1600 cases" in error_of(big).message
    empty = write(tmp_path, "e.yaml", BASE + "matrix:\n  machine.cpus: []\n")
    assert error_of(empty).line == 12
    templated = write(tmp_path, "tm.yaml", "name: x\nmatrix:\n  cpus: [{{ 1 }}]\n"
                      "driver: {stub: timer_counter}\n")
    error = error_of(templated)
    assert error.line == 2 and "cannot itself use templating" in error.message


def test_error_in_one_case_names_the_case(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", """\
name: x
matrix:
  cpus: [1, 200]
driver: {stub: timer_counter}
machine: {cpus: {{ cpus }}}
""")
    error = error_of(path)
    assert error.line == 5 and "matrix case cpus=200" in error.message


def test_extends_deep_merges_and_child_wins(tmp_path: Path) -> None:
    write(tmp_path, "_base.yaml", BASE)
    path = write(tmp_path, "child.yaml", """\
extends: _base.yaml
name: child
driver:
  parameters: {ticks: 5}
expect:
  metrics: ["driver.ticks == 5"]
""")
    (scenario,) = load(path)
    assert scenario.name == "child" and scenario.description == "from the base"
    assert scenario.stub == "timer_counter"
    assert dict(scenario.parameters) == {"ticks": 5, "period_ms": 1}  # mappings merge
    assert [m.text for m in scenario.expect.metrics] == ["driver.ticks == 5"]  # lists replace
    assert scenario.cpus == 2


def test_errors_in_inherited_values_point_at_the_base_file(tmp_path: Path) -> None:
    write(tmp_path, "_base.yaml", BASE.replace("cpus: 2", "cpus: lots"))
    path = write(tmp_path, "child.yaml", "extends: _base.yaml\nname: child\n")
    error = error_of(path)
    assert error.path.endswith("_base.yaml") and error.line == 6


def test_base_is_rendered_with_the_case_variables(tmp_path: Path) -> None:
    write(tmp_path, "_base.yaml", BASE.replace("cpus: 2", "cpus: {{ cpus }}"))
    path = write(tmp_path, "child.yaml", "extends: _base.yaml\nname: child\n"
                 "matrix:\n  cpus: [1, 3]\nmachine: {seed: {{ cpus }}}\n")
    assert [(s.cpus, s.seed) for s in load(path)] == [(1, 1), (3, 3)]


@pytest.mark.parametrize(("reference", "message"), [
    ("../outside.yaml", "outside the scenario root"),
    ("_bse.yaml", "no such file"),
    ("child.yaml", "a cycle"),
    ("notes.txt", "not a .yaml file"),
])
def test_bad_extends(tmp_path: Path, reference: str, message: str) -> None:
    (tmp_path / "root").mkdir()
    write(tmp_path, "outside.yaml", BASE)
    write(tmp_path / "root", "_base.yaml", BASE)
    path = write(tmp_path / "root", "child.yaml", f"extends: {reference}\nname: c\n")
    error = error_of(path)
    assert message in error.message and error.line == 1
    if reference == "_bse.yaml":
        assert "_base.yaml" in (error.hint or "")


def test_changed_line_count_is_said(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", """\
name: x
driver: {stub: timer_counter}
{% for i in range(3) %}
# a comment line per iteration
{% endfor %}
machine: {cpus: zero}
""")
    error = error_of(path)
    assert "after templating" in (error.hint or "")


def test_trace_expectations_are_checked_at_load(tmp_path: Path) -> None:
    cases = {
        "expect:\n  callbacks: {WskRecieveEvent: 1}\n": ("unknown callback", 2, "did you mean"),
        "expect:\n  order:\n    - {event: ctx.start, match: {nme: TickDpc}}\n":
            ("has no field 'nme'", 3, ""),
        "expect:\n  order:\n    - {event: ctx.strat}\n": ("unknown trace event", 3, "ctx.start"),
        "expect:\n  statuses: [{call: WskSend, status: STATUS_PENDNG}]\n":
            ("unknown NTSTATUS", 2, "STATUS_PENDING"),
        "expect:\n  callbacks: {WskReceiveEvent: 'about 3'}\n": ("expected a count", 2, ""),
        "machine: {trace: false}\nexpect:\n  callbacks: {WskReceiveEvent: 1}\n":
            ("trace is false", 1, ""),
        "expect:\n  liveness: [{event: ctx.start, at_least_every: 0}]\n":
            ("longer than 0", 2, ""),
    }
    for body, (message, line, hint) in cases.items():
        path = write(tmp_path, "s.yaml", "name: x\ndriver: {stub: timer_counter}\n" + body)
        error = error_of(path)
        assert message in error.message, (body, error)
        assert error.line == line + 2, (body, error)
        assert hint in (error.hint or "") + error.message, (body, error)


def test_expectations_parse(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", """\
name: x
driver: {stub: timer_counter}
expect:
  callbacks: {WskReceiveEvent: ">= 3", MyOwnCallback: 0}
  order:
    - {event: ctx.start, match: {name: TickDpc, 0: dpc}, cpu: 1, within: 2ms}
    - {event: event.set, at: 10ms, tolerance: 1ms, after: 1us}
  statuses:
    - {call: WskControlSocket, status: [STATUS_SUCCESS, 0x103], nth: 2}
  liveness:
    - {event: ctx.start, at_least_every: 5ms, from: 1ms, until: 9ms}
    - {metric: link.bytes, keeps_growing_every: 100ms}
""")
    expect = load(path)[0].expect
    assert [(c.name, str(c.count)) for c in expect.callbacks] == [
        ("WskReceiveEvent", ">= 3"), ("MyOwnCallback", "0")]
    first, second = expect.order
    assert first.match == (("name", "TickDpc"), (0, "dpc")) and first.cpu == 1
    assert first.within_ns == 2_000_000 and second.at_ns == 10_000_000
    assert second.tolerance_ns == 1_000_000 and second.after_ns == 1_000
    assert expect.statuses[0].statuses == (0, 0x103) and expect.statuses[0].nth == 2
    event, metric = expect.liveness
    assert (event.period_ns, event.from_ns, event.until_ns) == (5_000_000, 1_000_000, 9_000_000)
    assert metric.metric == "link.bytes" and metric.step is None


def test_failures_of_inherited_expectations_name_the_base(tmp_path: Path) -> None:
    from harness.render import failure_report
    from harness.runner import run_scenario

    write(tmp_path, "_base.yaml", BASE.replace("driver.ticks == 3", "driver.ticks == 4"))
    path = write(tmp_path, "child.yaml", "extends: _base.yaml\nname: child\n")
    result = run_scenario(load(path)[0])
    (failure,) = result.failures
    assert failure.path is not None and failure.path.endswith("_base.yaml")
    assert failure.line == 10
    assert "_base.yaml:10: metric: driver.ticks == 4 is false" in failure_report(result)


def test_matrix_paths_reach_into_the_base(tmp_path: Path) -> None:
    write(tmp_path, "_base.yaml", BASE)
    path = write(tmp_path, "child.yaml", "extends: _base.yaml\nname: child\n"
                 "matrix:\n  driver.parameters.ticks: [2, 4]\n  machine.cpus: [0]\n")
    error = error_of(path)  # cpus 0 is invalid: reported at the matrix, in the child file
    assert error.path == str(path) and error.line == 5 and "matrix case" in error.message
    path.write_text(path.read_text().replace("[0]", "[3]"))
    assert [(s.parameters["ticks"], s.cpus, s.parameters["period_ms"]) for s in load(path)] == \
        [(2, 3, 1), (4, 3, 1)]
