"""The scenario template sandbox: renders what it should, refuses the rest, located."""

from __future__ import annotations

import pytest

from harness.errors import ScenarioError
from harness.templating import is_template, render_template, template_variables


def render(text: str, **variables: object) -> str:
    return render_template(text, "s.yaml", variables)


def test_detects_templates() -> None:
    assert is_template("a: {{ x }}")
    assert is_template("{% if x %}a: 1{% endif %}")
    assert not is_template("a: {b: 1}\n# no braces pair here: { {")


def test_renders_variables_loops_and_filters() -> None:
    text = "a: {{ x * 2 }}\nb: [{% for i in range(3) %}{{ i }}, {% endfor %}]\nc: {{ n|upper }}\n"
    assert render(text, x=21, n="ab") == "a: 42\nb: [0, 1, 2, ]\nc: AB\n"


def test_lists_the_variables_a_template_reads() -> None:
    assert template_variables("{% set y = 1 %}{{ x }} {{ y }} {{ z|default(1) }}", "s") == \
        {"x", "z"}


def test_undefined_variable_names_line_and_available_variables() -> None:
    with pytest.raises(ScenarioError) as info:
        render("a: 1\nb: {{ cpu }}\n", cpus=2)
    assert info.value.line == 2
    assert "'cpu' is undefined" in info.value.message
    assert "cpus" in (info.value.hint or "")


def test_syntax_error_is_located() -> None:
    with pytest.raises(ScenarioError) as info:
        render("a: 1\nb: 2\nc: {% if x %}\n")
    assert info.value.line is not None and info.value.line >= 3
    assert "syntax" in info.value.message


@pytest.mark.parametrize("text", [
    "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
    "a: {{ 'a' * 100000000 }}",
    "a: {{ [1] * 100000000 }}",
    "{% set a = 'x' * 1000000 %}a: {{ a ~ a }}",
    "{% set a = 'x' * 1000000 %}a: {{ a + a }}",
    "a: {{ 10 ** 100000 }}",
    "a: {{ 'x'.center(1000000000) }}",
    "a: {{ '%099999999d' % 1 }}",
    "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}a: {{ f(1) }}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    "{% for i in range(100000) %}{{ 'x' * 20 }}{% endfor %}",
    "a: {{ x.__class__.__mro__ }}",
    "{% set l = [1] %}a: {{ l.extend(l) }}",
    "a: {{ range(10**9)|list }}",
])
def test_hostile_templates_are_refused(text: str) -> None:
    # Boundedness is the sandbox's budgets (loops, sizes, output); this test shows each hostile
    # template ends in a located refusal, not in a result. Speed belongs in bench/, not here.
    with pytest.raises(ScenarioError) as info:
        render(text, x=1)
    assert info.value.path == "s.yaml" and info.value.line is not None


def test_nondeterministic_filters_are_absent() -> None:
    with pytest.raises(ScenarioError, match="random"):
        render("a: {{ [1, 2]|random }}")
