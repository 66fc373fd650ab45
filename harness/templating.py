"""Jinja2 templating of scenario files, sandboxed and bounded.

A scenario file that contains ``{{`` or ``{%`` is rendered as a Jinja2 template *before* it is
parsed as YAML, once per matrix case, with the case's variables. A scenario is data someone else
may have written, so rendering must neither run arbitrary code nor take unbounded time or memory:

* the environment is a :class:`jinja2.sandbox.SandboxedEnvironment` (no access to Python
  internals) with :class:`jinja2.StrictUndefined` (a misspelt variable is an error, not "");
* only side-effect-free, deterministic filters are available (no ``random``, no ``lipsum``) and
  only a few read-only methods of strings and mappings may be called;
* every budget that could make a small file expensive is enforced while rendering: loop
  iterations, calls (macros recurse), the size of any string or list an operator builds, the
  size of integers ``*`` and ``**`` build, and the size of the output.

Every failure is a :class:`~harness.errors.ScenarioError` at the template line that caused it.
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

from harness.errors import ScenarioError

__all__ = [
    "MAX_CALLS",
    "MAX_ITERATIONS",
    "MAX_OUTPUT_CHARS",
    "is_template",
    "render_template",
    "template_variables",
]

MAX_ITERATIONS = 100_000
"""Loop iterations one rendering may run, over all loops (nested loops multiply)."""

MAX_CALLS = 10_000
"""Function, macro and method calls one rendering may make."""

MAX_OUTPUT_CHARS = 1 << 20
"""Largest rendered text, and largest string or list an operator may build (1 Mi)."""

_MAX_INT_BITS = 4096  # integers past this are never a sensible scenario value

_TEMPLATE_MARK = re.compile(r"\{\{|\{%")

# Filters that cannot amplify their input and give the same answer every time.
_SAFE_FILTERS = (
    "abs", "capitalize", "count", "d", "default", "dictsort", "first", "float", "groupby", "int",
    "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
    "rejectattr", "reverse", "round", "select", "selectattr", "sort", "string", "sum", "title",
    "tojson", "trim", "unique", "upper",
)

# Read-only methods of built-in values a template may call ("a".upper(), d.get("k")).
_SAFE_METHODS = frozenset({
    "lower", "upper", "strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith",
    "title", "capitalize", "isdigit", "isalpha", "isalnum", "find", "count", "index",
    "keys", "values", "items", "get",
})
_BUILTIN_VALUES = (str, bytes, int, float, bool, list, tuple, dict, set, frozenset)


class TemplateBudgetExceeded(SecurityError):
    """A rendering went over one of the budgets above."""


class _Budget:
    def __init__(self) -> None:
        self.iterations = 0
        self.calls = 0

    def iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.iterations += 1
            if self.iterations > MAX_ITERATIONS:
                raise TemplateBudgetExceeded(
                    f"loops ran more than {MAX_ITERATIONS} iterations in all")
            yield item

    def call(self) -> None:
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise TemplateBudgetExceeded(f"more than {MAX_CALLS} calls (a runaway macro?)")


def _check_size(value: Any, what: str) -> Any:
    if isinstance(value, str | bytes | list | tuple) and len(value) > MAX_OUTPUT_CHARS:
        raise TemplateBudgetExceeded(f"{what} would build a value of {len(value)} items; "
                                     f"at most {MAX_OUTPUT_CHARS} are allowed")
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise TemplateBudgetExceeded(f"{what} would build an integer of more than "
                                     f"{_MAX_INT_BITS} bits")
    return value


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


class _ScenarioSandbox(SandboxedEnvironment):
    """The sandbox, plus the budgets: calls and operators are intercepted here."""

    intercepted_binops = frozenset(["+", "*", "**", "%"])

    def __init__(self) -> None:
        super().__init__(undefined=jinja2.StrictUndefined, autoescape=False,
                         keep_trailing_newline=True)
        self.filters = {name: self.filters[name] for name in _SAFE_FILTERS}
        self.globals = {"dict": dict, "range": self._range, "namespace": self.globals["namespace"]}
        self.budget = _Budget()
        self.globals["__wsk_loop"] = self.budget.iterate
        self.globals["__wsk_concat"] = self._concat

    def _range(self, *args: int) -> range:
        values = range(*args)
        if len(values) > MAX_ITERATIONS:
            raise TemplateBudgetExceeded(f"range() of {len(values)} items; at most "
                                         f"{MAX_ITERATIONS}")
        return values

    @staticmethod
    def _concat(*parts: Any) -> str:
        texts = [str(p) for p in parts]
        if sum(map(len, texts)) > MAX_OUTPUT_CHARS:
            raise TemplateBudgetExceeded(f"'~' would build a string of more than "
                                         f"{MAX_OUTPUT_CHARS} characters")
        return "".join(texts)

    def call(__self, __context: Any, __obj: Any, *args: Any,  # noqa: N805 - jinja's signature
             **kwargs: Any) -> Any:
        __self.budget.call()
        owner = getattr(__obj, "__self__", None)
        if isinstance(__obj, types.BuiltinMethodType | types.MethodWrapperType) and \
                isinstance(owner, _BUILTIN_VALUES) and __obj.__name__ not in _SAFE_METHODS:
            raise SecurityError(f"calling .{__obj.__name__}() is not allowed in a scenario "
                                "template; allowed: " + ", ".join(sorted(_SAFE_METHODS)))
        return SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str | bytes):
            raise SecurityError("'%' string formatting is not available in scenario templates; "
                                "use '~' to join text")
        if operator == "**" and isinstance(left, int | float) and isinstance(right, int | float):
            magnitude = abs(left)
            if right > 0 and magnitude > 1 and right * math.log2(magnitude) > _MAX_INT_BITS:
                raise TemplateBudgetExceeded(f"{left!r} ** {right!r} is too large")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                size = _sized(sequence)
                if size is not None and isinstance(count, int) and size * count > MAX_OUTPUT_CHARS:
                    raise TemplateBudgetExceeded(
                        f"'*' would build a value of {size * count} items; at most "
                        f"{MAX_OUTPUT_CHARS} are allowed")
            if isinstance(left, int) and isinstance(right, int) and \
                    left.bit_length() + right.bit_length() > _MAX_INT_BITS:
                raise TemplateBudgetExceeded("'*' would build an integer that is too large")
        if operator == "+":
            a, b = _sized(left), _sized(right)
            if a is not None and b is not None and a + b > MAX_OUTPUT_CHARS:
                raise TemplateBudgetExceeded(f"'+' would build a value of {a + b} items; "
                                             f"at most {MAX_OUTPUT_CHARS} are allowed")
        return _check_size(super().call_binop(context, operator, left, right),
                           f"'{operator}'")


class _Instrument(NodeTransformer):
    """Route every loop's iterable and every ``~`` through the budget functions."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Call(nodes.Name("__wsk_loop", "load", lineno=node.lineno),
                               [node.iter], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Call(nodes.Name("__wsk_concat", "load", lineno=node.lineno),
                          list(node.nodes), [], None, None, lineno=node.lineno)


def is_template(text: str) -> bool:
    """Whether a scenario file needs rendering (holds ``{{`` or ``{%``)."""
    return _TEMPLATE_MARK.search(text) is not None


def _parse(env: _ScenarioSandbox, text: str, path: str) -> nodes.Template:
    try:
        return env.parse(text, name=path, filename=path)
    except jinja2.TemplateSyntaxError as exc:
        raise ScenarioError(f"template syntax error: {exc.message}", path=path,
                            line=exc.lineno) from None


def template_variables(text: str, path: str) -> set[str]:
    """The variables a template reads that it does not set itself (for unused-matrix checks)."""
    from jinja2 import meta

    env = _ScenarioSandbox()
    return set(meta.find_undeclared_variables(_parse(env, text, path)))


def _template_line(exc: BaseException, path: str) -> int | None:
    """The template line an exception was raised at (jinja rewrites tracebacks to point there)."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_template(text: str, path: str, variables: Mapping[str, Any]) -> str:
    """Render ``text`` with ``variables``; every problem is a located :class:`ScenarioError`."""
    env = _ScenarioSandbox()
    tree = _Instrument().visit(_parse(env, text, path))
    try:
        code = env.compile(tree, name=path, filename=path)
        template = env.template_class.from_code(env, code, env.make_globals(None))
        pieces: list[str] = []
        size = 0
        for piece in template.generate(**variables):
            size += len(piece)
            if size > MAX_OUTPUT_CHARS:
                # No template line is to blame for the total; the file as a whole is.
                raise ScenarioError(
                    f"template error: the rendered text is longer than {MAX_OUTPUT_CHARS} "
                    "characters", path=path, line=1)
            pieces.append(piece)
        return "".join(pieces)
    except ScenarioError:
        raise
    except jinja2.UndefinedError as exc:
        known = ", ".join(sorted(variables)) or "none"
        raise ScenarioError(f"template error: {exc.message}", path=path,
                            line=_template_line(exc, path) or 1,
                            hint=f"variables available here: {known}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise ScenarioError(f"template syntax error: {exc.message}", path=path,
                            line=exc.lineno) from None
    except (SecurityError, jinja2.TemplateError) as exc:
        raise ScenarioError(f"template error: {exc}", path=path,
                            line=_template_line(exc, path) or 1) from None
    except RecursionError as exc:
        raise ScenarioError("template error: recursion too deep (a macro calling itself?)",
                            path=path, line=_template_line(exc, path) or 1) from None
    except Exception as exc:  # bad input never surfaces as a traceback
        raise ScenarioError(f"template error: {type(exc).__name__}: {exc}", path=path,
                            line=_template_line(exc, path) or 1) from None
