"""The metric expectation language (harness.expr)."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.expr import (
    MAX_DEPTH,
    MAX_LENGTH,
    EvaluationError,
    ExprSyntaxError,
    UnknownNameError,
    compile_expr,
)


def value(text: str, **variables: object) -> object:
    return compile_expr(text).evaluate({k.replace("__", "."): v for k, v in variables.items()})


# -- arithmetic and precedence --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("-2 * 3", -6),
        ("- -2", 2),
        ("+2", 2),
        ("10 - 2 - 3", 5),  # left to right
        ("8 / 2 / 2", 2),
        ("1 / 2", 0.5),  # true division
        ("7 / 2 * 2", 7),
        ("2 * -3 + 1", -5),
        ("1.5 * 2", 3),
        ("0.1 + 0.2", 0.3),
        ("1_000 + 1", 1001),
        ("1e3 + 1", 1001),
        ("2.5e-1", 0.25),
    ],
)
def test_arithmetic(text: str, expected: float) -> None:
    assert value(text) == expected


def test_whole_results_are_ints_and_others_floats() -> None:
    assert type(value("6 / 3")) is int
    assert type(value("1 / 3")) is float


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 < 2", True),
        ("2 <= 2", True),
        ("3 > 4", False),
        ("1 == 1.0", True),
        ("1 != 1", False),
        ("not 1 > 2 and 3 > 2", True),  # not binds tighter than and
        ("true or false and false", True),  # and binds tighter than or
        ("(true or false) and false", False),
        ("false and true or true", True),
        ("not not true", True),
        ("1 + 1 == 2", True),  # arithmetic binds tighter than comparison
        ("0.1 + 0.2 == 0.3", True),  # exact, unlike floats
        ("true == (1 < 2)", True),
    ],
)
def test_logic_and_comparison_precedence(text: str, expected: bool) -> None:
    assert value(text) is expected


@pytest.mark.parametrize(
    ("x", "expected"), [(0, False), (0.5, True), (1, True), (1.5, False), (-1, False)]
)
def test_comparison_chains(x: float, expected: bool) -> None:
    assert value("0 < x <= 1", x=x) is expected


def test_chains_stop_like_python() -> None:
    # "1 > 2 < 1/0" is "1 > 2 and 2 < 1/0": the division never runs.
    assert value("1 > 2 < 1 / 0") is False
    assert value("1 < 2 < 3 > 2 == 2") is True


def test_or_and_short_circuit() -> None:
    assert value("n == 0 or total / n > 2", n=0, total=10) is True
    assert value("n != 0 and total / n > 2", n=0, total=10) is False


# -- units, percent, functions --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64KiB", 65536),
        ("1.5MiB", 1_572_864),
        ("1Gbps", 10**9),
        ("125MB/s", 10**9),
        ("40ms", 40_000_000),
        ("2min", 120 * 10**9),
        ("95%", 0.95),
        ("100%", 1),
        ("12.5%", 0.125),
        ("1Gbps == 125MB/s", True),
        ("64KiB / 1KiB", 64),
        ("rtt < 50ms", True),
    ],
)
def test_units_and_percent(text: str, expected: object) -> None:
    assert value(text, rtt=40_000_000) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("min(3, 1, 2)", 1),
        ("max(3, 1, 2)", 3),
        ("min(5)", 5),
        ("abs(-4)", 4),
        ("abs(2 - 5) == 3", True),
        ("within(105, 100, 5%)", True),
        ("within(95, 100, 5%)", True),
        ("within(105.01, 100, 5%)", False),
        ("within(94.99, 100, 5%)", False),
        ("within(0, 0, 5%)", True),
        ("within(1, 0, 5%)", False),
        ("within(-103, -100, 5%)", True),
        # 0.29 * 100 is 28.999999999999996 in floats; exact arithmetic keeps the boundary.
        ("within(129, 100, 29%)", True),
        ("within(1Gbps, 125MB/s, 0%)", True),
        ("max(1, min(2, 3)) + abs(-1)", 3),
    ],
)
def test_functions(text: str, expected: object) -> None:
    assert value(text) == expected


def test_within_with_metric_names() -> None:
    expr = compile_expr("within(conn0.outstanding, conn0.isb, 5%)")
    assert expr.names == {"conn0.outstanding", "conn0.isb"}
    assert expr.evaluate({"conn0.outstanding": 96_000, "conn0.isb": 100_000}) is True
    assert expr.evaluate({"conn0.outstanding": 94_000, "conn0.isb": 100_000}) is False


def test_float_variables_mean_the_decimal_they_print_as() -> None:
    assert value("u >= 95%", u=0.95) is True
    assert value("u == 0.1", u=0.1) is True
    # 0.1 + 0.2 as floats prints as 0.30000000000000004, and is that.
    assert value("u > 0.3", u=0.1 + 0.2) is True


def test_names_kind_and_columns() -> None:
    expr = compile_expr("metrics.isb_notifications > 0 and conn0.utilization >= 95%")
    assert expr.names == {"metrics.isb_notifications", "conn0.utilization"}
    assert expr.name_columns["conn0.utilization"] == 35
    assert expr.kind == "bool"
    assert compile_expr("a + 1").kind == "number"
    assert compile_expr("a").kind == "unknown"
    assert compile_expr("within(a, 1, 1%)").kind == "bool"
    # Function names are only functions when called.
    assert compile_expr("min + 1").names == {"min"}


def test_expr_equality_and_repr() -> None:
    assert compile_expr("a > 1") == compile_expr("a > 1")
    assert len({compile_expr("a > 1"), compile_expr("a > 1")}) == 1
    assert repr(compile_expr("a > 1")) == "compile_expr('a > 1')"


# -- compile errors, with columns -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("", 1, "empty expression"),
        ("   ", 1, "empty expression"),
        ("1 +", 4, "the expression ends here"),
        ("(1 + 2", 7, "')' to close the '(' at column 1"),
        ("1 + 2)", 6, "expected an operator or the end"),
        ("x = 1", 3, "'=='"),
        ("a && b", 3, "'and'"),
        ("a || b", 3, "'or'"),
        ("!a", 1, "'not'"),
        ("2 ** 3", 3, "no power operator"),
        ("7 // 2", 3, "true division"),
        ("x % 2", 3, "right after a number"),
        ("'a' == 'a'", 1, "no strings"),
        ("a[0]", 2, "no indexing"),
        ("40 ms > x", 4, "without a space"),
        ("x > 64Kib", 5, "did you mean 'KiB'?"),
        ("x > 5xyz", 5, "unknown unit 'xyz'"),
        ("x > 1and y", 5, "put a space before 'and'"),
        ("x > 2e3ms", 5, "without an exponent"),
        ("1e999999", 1, "exponent"),
        ("x > 1.5.3", 5, "is not a number"),
        ("x > 3abc_1", 5, "is not a number"),
        ("mean(x)", 1, "unknown function 'mean'"),
        ("mn(x, 1)", 1, "did you mean 'min'?"),
        ("within(x, 1)", 1, "takes 3 arguments, got 2"),
        ("abs(1, 2)", 1, "takes 1 argument, got 2"),
        ("max()", 1, "at least 1"),
        ("min(1 2)", 7, "',' or ')'"),
        ("x > True", 5, "lower case"),
        ("x.__class__", 1, "cannot start with '__'"),
        ("__import__", 1, "cannot start with '__'"),
        ("not 5", 1, "'not' needs true/false"),
        ("1 + (x < 2)", 3, "'+' needs a number"),
        ("x > 1 and 5", 11, "'and' needs true/false"),
        ("1 == true", 3, "compares a number with true/false"),
        ("-(x > 1)", 1, "unary '-' needs a number"),
        ("min(x > 1, 2)", 1, "min() needs a number"),
        ("x > 1 2", 7, "expected an operator"),
        ("and", 1, "expected a number, a name or '('"),
        ("lambda: 1", 7, "unexpected character ':'"),
        ("x\u00a0> 1", 2, "unexpected character"),
        ("\u0663 > 1", 1, "unexpected character"),
    ],
)
def test_syntax_errors_have_columns(text: str, column: int, fragment: str) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        compile_expr(text)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.column == column
    assert fragment in str(error)
    assert str(error).startswith(f"column {column}: ")


@pytest.mark.parametrize(
    "text",
    [
        "().__class__",
        "().__class__.__bases__[0].__subclasses__()",
        "x.__class__",
        "__builtins__",
        "open('/etc/passwd')",
        "__import__('os').system('true')",
        "eval('1')",
        "getattr(x, 'y')",
        "(lambda: 1)()",
        "[c for c in ()]",
        "x.y()",
    ],
)
def test_no_way_to_python(text: str) -> None:
    with pytest.raises(ExprSyntaxError):
        compile_expr(text)


def test_names_never_reach_python_builtins() -> None:
    # Bare names are only keys of the variables given: "open" or "min" are not builtins here.
    for name in ("open", "min", "abs", "print", "eval"):
        with pytest.raises(UnknownNameError):
            compile_expr(name).evaluate({})


def test_length_and_depth_limits() -> None:
    with pytest.raises(ExprSyntaxError, match="longer than"):
        compile_expr("1" + " + 1" * MAX_LENGTH)
    # Flat chains are fine however long, within the length limit.
    assert compile_expr(" + ".join(["1"] * 200)).evaluate({}) == 200
    nested = "(" * (MAX_DEPTH - 1) + "1" + ")" * (MAX_DEPTH - 1)
    assert compile_expr(nested).evaluate({}) == 1
    for too_deep in (
        "(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH,
        "-" * (MAX_DEPTH + 1) + "1",
        "not " * (MAX_DEPTH + 1) + "true",
        "abs(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH,
    ):
        with pytest.raises(ExprSyntaxError, match="nested more than"):
            compile_expr(too_deep)


def test_non_text_is_a_syntax_error() -> None:
    with pytest.raises(ExprSyntaxError, match="as text"):
        compile_expr(5)  # type: ignore[arg-type]


# -- evaluation errors ----------------------------------------------------------------------------


def test_unknown_names_are_listed_with_suggestions() -> None:
    expr = compile_expr("conn0.utilisation >= 95% and zzz > 1")
    with pytest.raises(UnknownNameError) as info:
        expr.evaluate({"conn0.utilization": 0.97, "conn0.rtt": 40})
    error = info.value
    assert isinstance(error, KeyError)
    assert error.names == ["conn0.utilisation", "zzz"]
    text = str(error)
    assert "unknown name 'conn0.utilisation' (did you mean 'conn0.utilization'?)" in text
    assert "unknown name 'zzz'" in text
    assert "available: conn0.rtt, conn0.utilization" in text


def test_unknown_names_are_checked_before_short_circuit() -> None:
    # The answer must not depend on which side of "or" happened to run.
    with pytest.raises(UnknownNameError):
        compile_expr("true or missing > 1").evaluate({})


@pytest.mark.parametrize(
    ("text", "variables", "column", "fragment"),
    [
        ("a / b", {"a": 1, "b": 0}, 3, "division by zero"),
        ("a + 1", {"a": True}, 3, "'+' needs a number, got true"),
        ("a and true", {"a": 1}, 1, "'and' needs true/false, got the number 1"),
        ("not a", {"a": 0.5}, 1, "'not' needs true/false"),
        ("a == 1", {"a": False}, 3, "compares true/false with a number"),
        ("a < 1", {"a": float("nan")}, 1, "not a finite number"),
        ("a < 1", {"a": "fast"}, 1, "a str, not a number"),
        ("within(1, 1, a)", {"a": -0.05}, 1, "tolerance of 0 or more"),
    ],
)
def test_evaluation_errors(
    text: str, variables: dict[str, object], column: int, fragment: str
) -> None:
    with pytest.raises(EvaluationError) as info:
        compile_expr(text).evaluate(variables)
    assert isinstance(info.value, ValueError)
    assert info.value.column == column
    assert fragment in str(info.value)


def test_bool_variables_work_in_logic() -> None:
    assert value("live and n > 0", live=True, n=3) is True


def test_errors_survive_pickling() -> None:
    with pytest.raises(ExprSyntaxError) as syntax:
        compile_expr("x = 1")
    copy = pickle.loads(pickle.dumps(syntax.value))
    assert str(copy) == str(syntax.value)
    with pytest.raises(UnknownNameError) as unknown:
        compile_expr("y").evaluate({"x": 1})
    assert str(pickle.loads(pickle.dumps(unknown.value))) == str(unknown.value)


# -- never anything but ValueError ----------------------------------------------------------------

PRINTABLE = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
GRAMMAR_ISH = st.lists(
    st.sampled_from(
        list("0123456789.%+-*/()<>=!, _xyab")
        + "and |or |not |true|false|min(|max(|abs(|within(|KiB|Gbps|ms|MB/s|conn0.u|e5".split("|")
    ),
    max_size=40,
).map("".join)


def _compile_or_value_error(text: str) -> None:
    try:
        expr = compile_expr(text)
    except ValueError:
        return
    # Whatever compiled evaluates to a value or fails with one of our errors.
    variables = dict.fromkeys(expr.names, 1)
    try:
        result = expr.evaluate(variables)
    except EvaluationError:
        return
    assert isinstance(result, (bool, int, float))


@given(PRINTABLE)
def test_printable_strings_compile_or_raise_value_error(text: str) -> None:
    _compile_or_value_error(text)


@settings(max_examples=300)
@given(GRAMMAR_ISH)
def test_grammar_like_strings_compile_or_raise_value_error(text: str) -> None:
    _compile_or_value_error(text)


@given(st.text(max_size=40))
def test_any_unicode_compiles_or_raises_value_error(text: str) -> None:
    _compile_or_value_error(text)
