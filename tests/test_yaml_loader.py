"""Safe YAML loading with source positions (harness.yaml_loader) and ScenarioError."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness import yaml_loader
from harness.errors import ScenarioError
from harness.yaml_loader import (
    MAX_INPUT_BYTES,
    UNKNOWN_POSITION,
    LineDict,
    LineList,
    Position,
    error_at,
    key_position_of,
    load_yaml,
    load_yaml_bytes,
    load_yaml_file,
    position_of,
)

SCENARIO = """\
# a comment
driver: reference_receiver
connections:
  - name: conn0
    bandwidth: 1Gbps
    rtt: 40ms
  - name: conn1
    peer: {window: 64KiB, loss: 0.01}
expect:
  violations: []
"""


@pytest.fixture(autouse=True, params=sorted(yaml_loader._LOADERS))
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with libyaml's parser (when built in) and with PyYAML's pure one."""
    monkeypatch.setattr(yaml_loader, "_backend", request.param)
    return str(request.param)


def load(text: str) -> LineDict:
    return load_yaml(text, "s.yaml")


def fails(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load(text)
    error = info.value
    rendered = str(error)
    # Our own diagnostic, not PyYAML's or Python's.
    assert rendered.startswith("s.yaml")
    for leak in ("Traceback", "<unicode string>", 'File "', "yaml."):
        assert leak not in rendered
    # Raised "from None": no chained YAML exception to print under it.
    assert error.__cause__ is None
    assert error.__suppress_context__ or error.__context__ is None
    return error


# -- the tree and its positions ------------------------------------------------------------------


def test_values_are_plain_python_data() -> None:
    tree = load(SCENARIO)
    assert tree == {
        "driver": "reference_receiver",
        "connections": [
            {"name": "conn0", "bandwidth": "1Gbps", "rtt": "40ms"},
            {"name": "conn1", "peer": {"window": "64KiB", "loss": 0.01}},
        ],
        "expect": {"violations": []},
    }
    assert isinstance(tree, dict) and isinstance(tree["connections"], list)


def test_positions_of_nested_keys_and_values() -> None:
    tree = load(SCENARIO)
    assert tree.position == Position(2, 1)
    assert key_position_of(tree, "connections") == Position(3, 1)
    connections = tree["connections"]
    assert isinstance(connections, LineList)
    assert connections.position == Position(4, 3)
    assert position_of(connections, 1) == Position(7, 5)
    conn0 = connections[0]
    assert key_position_of(conn0, "rtt") == Position(6, 5)
    assert position_of(conn0, "rtt") == Position(6, 10)
    peer = connections[1]["peer"]
    assert position_of(connections[1], "peer") == Position(8, 11)
    assert key_position_of(peer, "loss") == Position(8, 27)
    assert position_of(peer, "loss") == Position(8, 33)
    assert position_of(tree["expect"], "violations") == Position(10, 15)


def test_position_fallbacks() -> None:
    tree = load(SCENARIO)
    conn0 = tree["connections"][0]
    # A missing key points at the mapping that lacks it.
    assert position_of(conn0, "loss") == conn0.position == Position(4, 5)
    assert position_of(tree["connections"], 7) == Position(4, 3)
    assert position_of({"a": 1}, "a") == UNKNOWN_POSITION
    error = error_at("s.yaml", conn0, "rtt", "bad rtt", hint="use ms")
    assert str(error) == "s.yaml:6:10: bad rtt\n  hint: use ms"
    assert error_at("s.yaml", conn0, "rtt", "x", at_key=True).column == 5


def test_yaml_12_core_schema() -> None:
    tree = load(
        "a: yes\nb: no\nc: on\nd: true\ne: False\nf: 010\ng: 1:30\nh: 2024-01-01\n"
        "i: 1_000\nj: 0x10\nk: 0o17\nl: 1.5\nm: ~\nn: .inf\no: 1e3\np: NO\n"
    )
    assert tree == {
        "a": "yes",
        "b": "no",
        "c": "on",
        "d": True,
        "e": False,
        "f": 10,
        "g": "1:30",
        "h": "2024-01-01",
        "i": 1000,
        "j": 16,
        "k": 15,
        "l": 1.5,
        "m": None,
        "n": float("inf"),
        "o": 1000.0,
        "p": "NO",
    }
    assert type(tree["d"]) is bool and type(tree["f"]) is int


def test_aliases_and_merges_give_independent_copies() -> None:
    tree = load(
        "base: &b {bandwidth: 1Gbps, rtt: 40ms}\n"
        "list: &l [1, 2]\n"
        "conn:\n"
        "  <<: *b\n"
        "  rtt: 80ms\n"
        "again: *l\n"
    )
    assert tree["conn"] == {"bandwidth": "1Gbps", "rtt": "80ms"}
    # The explicit key wins over the merged one and has its own position.
    assert position_of(tree["conn"], "rtt") == Position(5, 8)
    # Merged keys point at where they were written.
    assert key_position_of(tree["conn"], "bandwidth") == Position(1, 11)
    tree["again"].append(3)
    assert tree["list"] == [1, 2]
    assert tree["base"] == {"bandwidth": "1Gbps", "rtt": "40ms"}


def test_aliased_mapping_with_merge_used_twice() -> None:
    # Flattening rewrites the node; the second copy must not see false duplicates.
    tree = load("a: &a {x: 1}\nb: &b {<<: *a, x: 2}\nc: [*b, *b]\n")
    assert tree["c"] == [{"x": 2}, {"x": 2}]


def test_loading_a_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: caf\xc3\xa9\n")
    assert load_yaml_file(path) == {"name": "caf\u00e9"}
    assert load_yaml_file(str(path)).position == Position(1, 1)


# -- bad input: every class gives a located ScenarioError ----------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("a: 1\nb: c: d\n", 2, 5, "mapping values are not allowed"),
        ("a:\n\tb: 1\n", 2, 1, "cannot start any token"),
        ("a: 1\nb: 'unterminated\n", 3, 1, "unexpected end of stream"),
        ("a: [1, 2\nb: 3\n", 2, 2, "flow sequence started at line 1"),
        ("a: *nope\n", 1, 4, "undefined alias"),
        ("a: 1\n---\nb: 2\n", 2, 1, "expected a single document"),
        ("a: 1\n  b: 2\n", 2, 4, "mapping values are not allowed"),
        ("? [a, b]\n: 1\n", 1, 3, "mapping key must be a plain value"),
    ],
)
def test_syntax_errors_are_located(text: str, line: int, column: int, fragment: str) -> None:
    error = fails(text)
    assert (error.line, error.column) == (line, column)
    assert fragment in error.message


def test_syntax_error_hints() -> None:
    assert "spaces" in (fails("a:\n\tb: 1\n").hint or "")
    assert "quote" in (fails("a: 1\nb: c: d\n").hint or "")


def test_duplicate_keys_name_both_lines() -> None:
    error = fails("driver: a\nexpect: {}\ndriver: b\n")
    assert (error.line, error.column) == (3, 1)
    assert "duplicate key 'driver'" in error.message
    assert "line 1" in error.message


def test_nested_duplicate_keys() -> None:
    error = fails("a:\n  x: 1\n  y: 2\n  x: 3\n")
    assert error.line == 4 and "first defined at line 2" in error.message


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n", "---\n", "~\n"])
def test_empty_file(text: str) -> None:
    error = fails(text)
    assert error.message == "empty scenario file"


@pytest.mark.parametrize(
    ("text", "found"), [("- a\n- b\n", "a list"), ("just text\n", "'just text'"), ("42\n", "'42'")]
)
def test_top_level_must_be_a_mapping(text: str, found: str) -> None:
    error = fails(text)
    assert (error.line, error.column) == (1, 1)
    assert "must be a mapping" in error.message and found in error.message


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system ['echo hacked']\n",
        "a: !!python/name:builtins.eval\n",
        "a: !!binary aGVsbG8=\n",
        "a: !!timestamp 2024-01-01\n",
        "a: !!set {x}\n",
        "a: !custom 1\n",
        "a: !!int [1]\n",
        "a: !!map [1]\n",
        "a: !!int abc\n",
    ],
)
def test_unsupported_tags_are_refused(text: str) -> None:
    error = fails(text)
    assert (error.line, error.column) == (1, 4)


def test_unsupported_tag_is_shown_as_written() -> None:
    assert fails("a: !!binary aGVsbG8=\n").message == "unsupported YAML tag '!!binary'"


def test_control_characters_are_refused() -> None:
    error = fails("a: 1\nb: x\x07y\n")
    assert (error.line, error.column) == (2, 5)
    assert "U+0007" in error.message
    # Columns count characters even where the parser counts bytes.
    assert (fails("name: caf\u00e9\x07\n").line, fails("name: caf\u00e9\x07\n").column) == (1, 11)


def test_nul_in_text() -> None:
    error = fails("a: 1\nb: \x00\n")
    assert (error.line, error.column) == (2, 4)
    assert "NUL" in error.message


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.yaml"
    path.write_bytes(b"a: 1\n\x7fELF\x02\x01\x01\x00\x00\xff\xfe")
    with pytest.raises(ScenarioError) as info:
        load_yaml_file(path)
    assert info.value.path == str(path)
    assert (info.value.line, info.value.column) == (2, 8)
    assert "binary" in info.value.message


def test_invalid_utf8_is_located() -> None:
    with pytest.raises(ScenarioError) as info:
        load_yaml_bytes("a: 1\nname: caf\u00e9 ".encode() + b"\xff\n", "l.yaml")
    error = info.value
    assert "not valid UTF-8" in error.message and "0xff" in error.message
    # Columns count characters: the two-byte e-acute before the bad byte is one column.
    assert (error.line, error.column) == (2, 12)


def test_utf16_is_named() -> None:
    with pytest.raises(ScenarioError, match="UTF-16"):
        load_yaml_bytes("a: 1\n".encode("utf-16"), "w.yaml")


def test_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: " + b"x" * MAX_INPUT_BYTES + b"\n")
    with pytest.raises(ScenarioError, match="larger than"):
        load_yaml_file(path)
    with pytest.raises(ScenarioError, match="larger than"):
        load("a: " + "x" * MAX_INPUT_BYTES)


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_yaml_file(tmp_path / "nope.yaml")
    assert "cannot read file" in info.value.message
    assert info.value.path.endswith("nope.yaml")


def laughs(levels: int) -> str:
    """The "billion laughs" document: each level lists the previous one nine times."""
    lines = ['lol: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"l{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_alias_expansion_is_refused_where_it_crosses_the_limit() -> None:
    # Five levels expand to ~66,000 nodes: over the limit, yet small enough that a broken
    # limit fails this test ("did not raise") instead of exhausting memory.
    error = fails(laughs(5))
    assert "aliases expand to more than" in error.message
    assert error.hint and "balloon" in error.hint
    # Located at the first alias of the fourth level, which crosses the limit.
    assert (error.line, error.column) == (5, 10)


def test_billion_laughs_is_refused_in_bounded_time_and_memory(backend: str) -> None:
    # The real thing (10**9 nodes) runs in a child process with a memory cap and a timeout,
    # so a regression fails the test rather than the machine.
    child = textwrap.dedent(
        f"""
        import sys
        try:
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        except (ImportError, ValueError, OSError):
            pass
        from harness import yaml_loader
        from harness.errors import ScenarioError
        yaml_loader._backend = {backend!r}
        try:
            yaml_loader.load_yaml(sys.stdin.read(), "bomb.yaml")
        except ScenarioError as error:
            print(error.message)
        """
    )
    # The child has a memory cap; the timeout only keeps a regression from hanging the suite.
    result = subprocess.run(
        [sys.executable, "-c", child],
        input=laughs(9),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stderr
    assert "aliases expand to more than" in result.stdout


def test_one_big_anchor_used_many_times_is_rejected() -> None:
    big = "[" + ", ".join(["1"] * 5000) + "]"
    error = fails(f"a: &big {big}\nb: [{', '.join(['*big'] * 100)}]\n")
    assert error.line == 2 and "aliases expand" in error.message


def test_modest_alias_use_is_fine() -> None:
    text = "peer: &p {window: 64KiB, loss: 0}\nconns:\n" + "".join(
        f"  - {{name: c{i}, peer: *p}}\n" for i in range(100)
    )
    assert len(load(text)["conns"]) == 100


def test_value_count_is_capped() -> None:
    with pytest.raises(ScenarioError, match="more than 10 values") as info:
        load_yaml("a: 1\nb: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n", "s.yaml", max_nodes=10)
    # The eleventh value: root, a, 1, b, the list, then items 1 to 6.
    assert (info.value.line, info.value.column) == (2, 20)
    assert load_yaml("a: [1, 2, 3, 4, 5, 6, 7]\n", "s.yaml", max_nodes=10)


def test_recursive_alias_is_refused() -> None:
    error = fails("a: &x [1, *x]\n")
    assert (error.line, error.column) == (1, 11)
    assert "recursive" in error.message


def test_deep_nesting_is_refused() -> None:
    error = fails("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert error.line == 1 and "nesting is deeper" in error.message
    error = fails("a: " + "{b: " * 2000 + "1" + "}" * 2000 + "\n")
    assert "nesting is deeper" in error.message


def test_nesting_through_aliases_is_bounded() -> None:
    deep = "[" * 40 + "]" * 40
    error = fails(
        f"a: &d {deep}\nb: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*d]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n"
    )
    assert error.line == 2 and "nesting is deeper" in error.message


# -- ScenarioError itself ------------------------------------------------------------------------


def test_scenario_error_rendering() -> None:
    assert str(ScenarioError("boom", path="f.yaml")) == "f.yaml: boom"
    assert str(ScenarioError("boom", path="f.yaml", line=3)) == "f.yaml:3: boom"
    error = ScenarioError(
        "unknown key 'bandwith'", path="f.yaml", line=3, column=5, hint="did you mean 'bandwidth'?"
    )
    assert str(error) == "f.yaml:3:5: unknown key 'bandwith'\n  hint: did you mean 'bandwidth'?"
    assert error.to_dict() == {
        "path": "f.yaml",
        "line": 3,
        "column": 5,
        "message": "unknown key 'bandwith'",
        "hint": "did you mean 'bandwidth'?",
    }


def test_scenario_error_survives_pickling() -> None:
    # pytest-xdist ships failures between processes.
    error = ScenarioError("bad", path="f.yaml", line=2, column=7, hint="h")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) and copy.column == 7


def test_located_fills_only_what_is_missing() -> None:
    inner = ScenarioError("bad size")
    assert str(inner.located(path="f.yaml", line=4, column=2)) == "f.yaml:4:2: bad size"
    precise = ScenarioError("bad size", path="g.yaml", line=9, column=3)
    assert str(precise.located(path="f.yaml", line=4, column=2)) == "g.yaml:9:3: bad size"
