"""A small, safe expression language for metric expectations.

Scenario expectations such as::

    conn0.utilization >= 95%
    within(conn0.outstanding_bytes, conn0.isb, 5%)
    0 < metrics.isb_notifications <= 20 and conn0.rtt < 50ms

are compiled by :func:`compile_expr` and evaluated against a mapping of metric names to numbers.
The text is read by a hand-written tokenizer and recursive-descent parser into a small tree;
nothing is ever handed to ``eval``, ``exec`` or ``compile``, and names are only ever looked up as
keys of the mapping given to :meth:`Expr.evaluate` (``x.__class__`` is a compile error, and would
otherwise just be a missing key).

Grammar, loosest binding first::

    expression := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)*     # chains: 0 < x <= 1
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*                         # "/" is true division
    unary      := ("-" | "+") unary | primary
    primary    := NUMBER | NUMBER "%" | NUMBER UNIT | "true" | "false"
                | NAME | NAME "(" expression ("," expression)* ")" | "(" expression ")"

``95%`` is 0.95; ``64KiB``, ``1Gbps``, ``40ms`` are converted by :mod:`harness.units` to bytes,
bits per second and nanoseconds.  Functions: ``min``, ``max``, ``abs`` and ``within(x, target,
tolerance)``, true when ``|x - target| <= tolerance * |target|``.

Arithmetic is exact: numbers are fractions while evaluating, and a float variable counts as the
decimal it prints as, so ``0.1 + 0.2 == 0.3`` holds and ``within(107, 100, 7%)`` is not at the
mercy of binary rounding.  Types are strict: ``and``/``or``/``not`` take true/false, arithmetic
and ordering take numbers; mismatches visible in the text are compile errors, the rest are
:class:`EvaluationError` at evaluation.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Literal

from harness.suggest import did_you_mean
from harness.units import DURATION_UNITS, RATE_UNITS, SIZE_UNITS, parse_quantity

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "EvaluationError",
    "Expr",
    "ExprError",
    "ExprSyntaxError",
    "UnknownNameError",
    "compile_expr",
]

MAX_LENGTH = 1000
"""Longest expression accepted, in characters."""

MAX_DEPTH = 32
"""Deepest nesting of parentheses, calls, unary minus and ``not``."""

# An exponent beyond this is a typo, and 1e999999999 would make a billion-digit integer.
_MAX_EXPONENT = 100

Value = Fraction | bool
Kind = Literal["number", "bool", "unknown"]


class ExprError(ValueError):
    """A problem with an expression, at a 1-based column of its text."""

    def __init__(self, message: str, column: int, hint: str | None = None) -> None:
        super().__init__(message, column, hint)
        self.message = message
        self.column = column
        self.hint = hint

    def __str__(self) -> str:
        text = f"column {self.column}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class ExprSyntaxError(ExprError):
    """The text is not a valid expression (raised by :func:`compile_expr`)."""


class EvaluationError(ExprError):
    """Evaluation failed: division by zero, a boolean where a number was needed, and so on."""


class UnknownNameError(KeyError):
    """Names used by an expression that the variables do not provide."""

    def __init__(self, names: list[str], available: list[str]) -> None:
        # Both in args, so the error survives pickling (pytest-xdist workers).
        super().__init__(names, available)
        self.names = list(names)
        self.available = sorted(available)

    def __str__(self) -> str:
        parts = []
        for name in self.names:
            part = f"unknown name {name!r}"
            suggestion = did_you_mean(name, self.available)
            if suggestion:
                part += f" (did you mean {suggestion!r}?)"
            parts.append(part)
        shown = ", ".join(self.available[:20])
        if len(self.available) > 20:
            shown += f", ... ({len(self.available) - 20} more)"
        return "; ".join(parts) + f"; available: {shown or 'none'}"


# ---------------------------------------------------------------------------------------------
# Syntax tree.  Columns are 1-based positions in the expression text, kept for error messages.


@dataclass(frozen=True, slots=True)
class _Const:
    value: Value
    column: int


@dataclass(frozen=True, slots=True)
class _Name:
    name: str
    column: int


@dataclass(frozen=True, slots=True)
class _Unary:
    op: str  # "-", "+" or "not"
    operand: _Node
    column: int


@dataclass(frozen=True, slots=True)
class _Chain:
    """``first op1 x1 op2 x2 ...`` for + - * / and comparisons (flat, so long sums stay shallow)."""

    first: _Node
    rest: tuple[tuple[str, _Node, int], ...]


@dataclass(frozen=True, slots=True)
class _Logic:
    op: str  # "and" or "or"
    operands: tuple[_Node, ...]
    columns: tuple[int, ...]  # of each operand


@dataclass(frozen=True, slots=True)
class _Call:
    function: str
    args: tuple[_Node, ...]
    column: int


_Node = _Const | _Name | _Unary | _Chain | _Logic | _Call

_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
_ORDERINGS: dict[str, Callable[[Fraction, Fraction], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_KEYWORDS = {"and", "or", "not", "true", "false"}
_ARITY: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1),
    "max": (1, None),
    "min": (1, None),
    "within": (3, 3),
}


# ---------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True, eq=False)
class Expr:
    """A compiled expression; immutable, reusable, equal to another compiled from the same text."""

    text: str
    _root: _Node
    names: frozenset[str]
    """Every variable name the expression reads."""
    name_columns: Mapping[str, int]
    """Column of the first use of each name, to point at an unknown one."""
    kind: Kind
    """``"bool"`` for a condition, ``"number"`` for a quantity, ``"unknown"`` for a bare name."""

    def evaluate(self, variables: Mapping[str, object]) -> bool | int | float:
        """The value of the expression for these variables.

        Every name must be present (checked before evaluating, so the answer never depends on
        which side of an ``or`` ran); numbers come back as ``int`` when whole, else ``float``.

        Raises :class:`UnknownNameError` (a ``KeyError``) for missing names and
        :class:`EvaluationError` (a ``ValueError``) for everything else.
        """
        missing = sorted(self.names.difference(variables))
        if missing:
            raise UnknownNameError(missing, [str(name) for name in variables])
        env = {
            name: _variable(name, variables[name], self.name_columns[name]) for name in self.names
        }
        result = _evaluate(self._root, env)
        if isinstance(result, bool):
            return result
        if result.denominator == 1:
            return result.numerator
        try:
            return float(result)
        except OverflowError:
            return math.inf if result > 0 else -math.inf

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expr) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"compile_expr({self.text!r})"


def compile_expr(text: str) -> Expr:
    """Parse ``text`` into an :class:`Expr`, or raise :class:`ExprSyntaxError` (a ValueError)."""
    if not isinstance(text, str):
        raise ExprSyntaxError(f"expected an expression as text, got {type(text).__name__}", 1)
    if len(text) > MAX_LENGTH:
        raise ExprSyntaxError(f"expression is longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    if not text.strip():
        raise ExprSyntaxError("empty expression", 1, "write a condition such as 'x >= 95%'")
    root = _Parser(text).parse()
    columns: dict[str, int] = {}
    kind = _check(root, columns)
    return Expr(text, root, frozenset(columns), MappingProxyType(columns), kind)


# ---------------------------------------------------------------------------------------------
# Tokenizer


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "number", "name", "keyword", "op", "end"
    text: str
    column: int
    value: Value | None = None


_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<number>(?:[0-9]+(?:_[0-9]+)*(?:\.[0-9]+(?:_[0-9]+)*)?|\.[0-9]+(?:_[0-9]+)*)
                 (?P<exponent>[eE][+-]?[0-9]+)?)
      (?P<suffix>%|[A-Za-z\u00b5\u03bc]+(?:/s(?![A-Za-z0-9_]))?)?
      (?P<glued>[A-Za-z0-9_.]*)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    | (?P<op>\*\*|//|<=|>=|==|!=|<|>|\+|-|\*|/|\(|\)|,)
    """,
    re.VERBOSE | re.ASCII,
)

_CHARACTER_HINTS = {
    "=": "use '==' to compare",
    "!": "use 'not', or '!=' for 'not equal'",
    "&": "use 'and'",
    "|": "use 'or'",
    "%": "'%' goes right after a number, as in 95%",
    "'": "there are no strings in expressions",
    '"': "there are no strings in expressions",
    "[": "there is no indexing; use dotted names like conn0.utilization",
    ".": "a name part cannot start with '.' or a digit",
}

_UNIT_NAMES = {*SIZE_UNITS, *RATE_UNITS, *DURATION_UNITS}


def _tokens(text: str) -> Iterator[_Token]:
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        column = position + 1
        if match is None:
            character = text[position]
            raise ExprSyntaxError(
                f"unexpected character {character!r}", column, _CHARACTER_HINTS.get(character)
            )
        position = match.end()
        if match["space"]:
            continue
        if match["number"]:
            yield _number_token(match, column)
        elif match["name"]:
            yield _name_token(match["name"], column)
        else:
            op = match["op"]
            if op == "**":
                raise ExprSyntaxError("there is no power operator '**'", column)
            if op == "//":
                raise ExprSyntaxError("there is no '//'; '/' is true division", column)
            yield _Token("op", op, column)
    yield _Token("end", "", len(text) + 1)


def _number_token(match: re.Match[str], column: int) -> _Token:
    number, exponent, suffix = match["number"], match["exponent"], match["suffix"]
    whole = match.group(0)
    if match["glued"]:
        raise ExprSyntaxError(
            f"{whole!r} is not a number, a quantity or a name",
            column,
            "names start with a letter; put a space between a number and a word",
        )
    if exponent and abs(int(exponent[1:])) > _MAX_EXPONENT:
        raise ExprSyntaxError(f"exponent in {number!r} is too large", column)
    value = Fraction(number.replace("_", ""))
    if suffix == "%":
        return _Token("number", whole, column, value / 100)
    if suffix:
        if exponent:
            raise ExprSyntaxError(f"write {whole!r} without an exponent", column)
        if suffix in _KEYWORDS:
            raise ExprSyntaxError(
                f"{whole!r} is not a quantity", column, f"put a space before {suffix!r}"
            )
        try:
            _, quantity = parse_quantity(number + suffix)
        except ValueError as exc:
            raise ExprSyntaxError(str(exc), column) from None
        return _Token("number", whole, column, Fraction(quantity))
    return _Token("number", whole, column, value)


def _name_token(name: str, column: int) -> _Token:
    if name in _KEYWORDS:
        value = {"true": True, "false": False}.get(name)
        return _Token("keyword", name, column, value)
    if name in {"True", "False"}:
        raise ExprSyntaxError(f"write {name.lower()!r} in lower case", column)
    for part in name.split("."):
        if part.startswith("__"):
            raise ExprSyntaxError(
                f"name {name!r} is not allowed: parts of names cannot start with '__'", column
            )
    return _Token("name", name, column)


# ---------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, text: str) -> None:
        self._tokens = _tokens(text)
        self._token = next(self._tokens)
        self._depth = 0

    def parse(self) -> _Node:
        node = self._expression()
        token = self._token
        if token.kind != "end":
            raise self._unexpected(token, "expected an operator or the end of the expression")
        return node

    # -- helpers ---------------------------------------------------------------------------

    def _advance(self) -> _Token:
        token = self._token
        self._token = next(self._tokens)
        return token

    def _at(self, kind: str, *texts: str) -> bool:
        return self._token.kind == kind and (not texts or self._token.text in texts)

    def _expect_op(self, text: str, what: str) -> _Token:
        if not self._at("op", text):
            raise self._unexpected(self._token, f"expected {what}")
        return self._advance()

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ExprSyntaxError(
                f"expression is nested more than {MAX_DEPTH} levels deep", self._token.column
            )

    def _unexpected(self, token: _Token, expected: str) -> ExprSyntaxError:
        if token.kind == "end":
            return ExprSyntaxError(f"{expected}, but the expression ends here", token.column)
        hint = None
        if token.kind == "name" and token.text in _UNIT_NAMES:
            hint = f"write units right after the number, without a space, e.g. 40{token.text}"
        return ExprSyntaxError(f"{expected}, found {token.text!r}", token.column, hint)

    # -- grammar, loosest binding first -----------------------------------------------------

    def _expression(self) -> _Node:
        self._enter()
        try:
            return self._logic("or", self._and)
        finally:
            self._depth -= 1

    def _and(self) -> _Node:
        return self._logic("and", self._not)

    def _logic(self, op: str, operand: Callable[[], _Node]) -> _Node:
        columns = [self._token.column]
        operands = [operand()]
        while self._at("keyword", op):
            self._advance()
            columns.append(self._token.column)
            operands.append(operand())
        if len(operands) == 1:
            return operands[0]
        return _Logic(op, tuple(operands), tuple(columns))

    def _not(self) -> _Node:
        if self._at("keyword", "not"):
            token = self._advance()
            self._enter()
            try:
                return _Unary("not", self._not(), token.column)
            finally:
                self._depth -= 1
        return self._comparison()

    def _comparison(self) -> _Node:
        return self._chain(_COMPARISONS, self._sum)

    def _sum(self) -> _Node:
        return self._chain(("+", "-"), self._product)

    def _product(self) -> _Node:
        return self._chain(("*", "/"), self._unary)

    def _chain(self, ops: tuple[str, ...], operand: Callable[[], _Node]) -> _Node:
        first = operand()
        rest = []
        while self._at("op", *ops):
            token = self._advance()
            rest.append((token.text, operand(), token.column))
        return _Chain(first, tuple(rest)) if rest else first

    def _unary(self) -> _Node:
        if self._at("op", "-", "+"):
            token = self._advance()
            self._enter()
            try:
                return _Unary(token.text, self._unary(), token.column)
            finally:
                self._depth -= 1
        return self._primary()

    def _primary(self) -> _Node:
        token = self._token
        if token.kind == "number" or (token.kind == "keyword" and token.value is not None):
            self._advance()
            assert token.value is not None
            return _Const(token.value, token.column)
        if token.kind == "name":
            self._advance()
            if self._at("op", "("):
                return self._call(token)
            return _Name(token.text, token.column)
        if self._at("op", "("):
            self._advance()
            node = self._expression()
            self._expect_op(")", "')' to close the '(' at column " + str(token.column))
            return node
        raise self._unexpected(token, "expected a number, a name or '('")

    def _call(self, name: _Token) -> _Node:
        if name.text not in _ARITY:
            suggestion = did_you_mean(name.text, _ARITY)
            hint = f"did you mean {suggestion!r}?" if suggestion else None
            known = ", ".join(sorted(_ARITY))
            raise ExprSyntaxError(
                f"unknown function {name.text!r} (functions: {known})", name.column, hint
            )
        self._advance()  # "("
        args = []
        if not self._at("op", ")"):
            args.append(self._expression())
            while self._at("op", ","):
                self._advance()
                args.append(self._expression())
        self._expect_op(")", f"',' or ')' in the call to {name.text}()")
        low, high = _ARITY[name.text]
        if len(args) < low or (high is not None and len(args) > high):
            wanted = str(low) if low == high else f"at least {low}"
            raise ExprSyntaxError(
                f"{name.text}() takes {wanted} argument{'s' if wanted != '1' else ''}, "
                f"got {len(args)}",
                name.column,
                "within(x, target, tolerance), e.g. within(x, 100Mbps, 5%)"
                if name.text == "within"
                else None,
            )
        return _Call(name.text, tuple(args), name.column)


# ---------------------------------------------------------------------------------------------
# Static checks: catch type mistakes visible in the text, before any scenario runs.


def _check(node: _Node, columns: dict[str, int]) -> Kind:
    """The kind of ``node``'s value; records name columns; raises on a visible type mismatch."""
    match node:
        case _Const(value=value):
            return "bool" if isinstance(value, bool) else "number"
        case _Name(name=name, column=column):
            columns.setdefault(name, column)
            return "unknown"
        case _Unary(op="not", operand=operand, column=column):
            _want(_check(operand, columns), "bool", "'not'", column)
            return "bool"
        case _Unary(op=op, operand=operand, column=column):
            _want(_check(operand, columns), "number", f"unary '{op}'", column)
            return "number"
        case _Chain(first=first, rest=rest):
            comparison = rest[0][0] in _COMPARISONS
            kinds = [_check(first, columns)]
            for op, operand, column in rest:
                kinds.append(_check(operand, columns))
                if op in ("==", "!="):
                    left, right = kinds[-2], kinds[-1]
                    if "unknown" not in (left, right) and left != right:
                        raise ExprSyntaxError(
                            f"'{op}' compares {_describe(left)} with {_describe(right)}", column
                        )
                else:
                    _want(kinds[-2], "number", f"'{op}'", column)
                    _want(kinds[-1], "number", f"'{op}'", column)
            return "bool" if comparison else "number"
        case _Logic(op=op, operands=operands, columns=operand_columns):
            for operand, column in zip(operands, operand_columns, strict=True):
                _want(_check(operand, columns), "bool", f"'{op}'", column)
            return "bool"
        case _Call(function=function, args=args, column=column):
            for arg in args:
                _want(_check(arg, columns), "number", f"{function}()", column)
            return "bool" if function == "within" else "number"
    raise AssertionError(f"unhandled node {node!r}")


def _want(kind: Kind, wanted: Kind, where: str, column: int) -> None:
    if kind != "unknown" and kind != wanted:
        raise ExprSyntaxError(_mismatch(where, wanted, kind), column, _mismatch_hint(wanted))


def _describe(kind: Kind) -> str:
    return "true/false" if kind == "bool" else "a number"


def _mismatch(where: str, wanted: Kind, found: Kind) -> str:
    return f"{where} needs {_describe(wanted)}, got {_describe(found)}"


def _mismatch_hint(wanted: Kind) -> str | None:
    if wanted == "bool":
        return "compare the number with something, e.g. x > 0"
    return None


# ---------------------------------------------------------------------------------------------
# Evaluation


def _variable(name: str, value: object, column: int) -> Value:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EvaluationError(f"{name} is {value!r}, not a finite number", column)
        # The decimal the float prints as, so 0.1 means one tenth, as the user reads it.
        return Fraction(repr(value))
    if isinstance(value, (Fraction, Decimal)):
        if isinstance(value, Decimal) and not value.is_finite():
            raise EvaluationError(f"{name} is {value}, not a finite number", column)
        return Fraction(value)
    raise EvaluationError(f"{name} is a {type(value).__name__}, not a number", column)


def _evaluate(node: _Node, env: Mapping[str, Value]) -> Value:
    match node:
        case _Const(value=value):
            return value
        case _Name(name=name):
            return env[name]
        case _Unary(op="not", operand=operand, column=column):
            return not _boolean(_evaluate(operand, env), "'not'", column)
        case _Unary(op=op, operand=operand, column=column):
            number = _number(_evaluate(operand, env), f"unary '{op}'", column)
            return -number if op == "-" else number
        case _Chain(first=first, rest=rest) if rest[0][0] in _COMPARISONS:
            return _compare(first, rest, env)
        case _Chain(first=first, rest=rest):
            return _arithmetic(first, rest, env)
        case _Logic(op=op, operands=operands, columns=columns):
            # Short-circuit, as in Python: "n == 0 or total / n > 2" is safe.
            for operand, column in zip(operands, columns, strict=True):
                value = _boolean(_evaluate(operand, env), f"'{op}'", column)
                if value == (op == "or"):
                    return value
            return op == "and"
        case _Call(function=function, args=args, column=column):
            numbers = [_number(_evaluate(arg, env), f"{function}()", column) for arg in args]
            return _call(function, numbers, column)
    raise AssertionError(f"unhandled node {node!r}")


def _arithmetic(
    first: _Node, rest: tuple[tuple[str, _Node, int], ...], env: Mapping[str, Value]
) -> Fraction:
    total = _number(_evaluate(first, env), f"'{rest[0][0]}'", rest[0][2])
    for op, operand, column in rest:
        value = _number(_evaluate(operand, env), f"'{op}'", column)
        if op == "+":
            total += value
        elif op == "-":
            total -= value
        elif op == "*":
            total *= value
        else:
            if value == 0:
                raise EvaluationError("division by zero", column)
            total /= value
    return total


def _compare(
    first: _Node, rest: tuple[tuple[str, _Node, int], ...], env: Mapping[str, Value]
) -> bool:
    # A chain "a < b <= c" means "a < b and b <= c", each operand evaluated at most once.
    left = _evaluate(first, env)
    for op, operand, column in rest:
        right = _evaluate(operand, env)
        if op in ("==", "!="):
            if isinstance(left, bool) != isinstance(right, bool):
                raise EvaluationError(f"'{op}' compares true/false with a number", column)
            holds = (left == right) == (op == "==")
        else:
            a = _number(left, f"'{op}'", column)
            b = _number(right, f"'{op}'", column)
            holds = _ORDERINGS[op](a, b)
        if not holds:
            return False
        left = right
    return True


def _call(function: str, args: list[Fraction], column: int) -> Value:
    if function == "min":
        return min(args)
    if function == "max":
        return max(args)
    if function == "abs":
        return abs(args[0])
    value, target, tolerance = args
    if tolerance < 0:
        raise EvaluationError("within() needs a tolerance of 0 or more", column)
    return abs(value - target) <= tolerance * abs(target)


def _number(value: Value, where: str, column: int) -> Fraction:
    if isinstance(value, bool):
        raise EvaluationError(f"{where} needs a number, got {str(value).lower()}", column)
    return value


def _boolean(value: Value, where: str, column: int) -> bool:
    if not isinstance(value, bool):
        raise EvaluationError(
            f"{where} needs true/false, got the number {_show(value)}",
            column,
            "compare the number with something, e.g. x > 0",
        )
    return value


def _show(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"
