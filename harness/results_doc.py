"""Reading a saved results document (``results.json`` in a report directory, or the output of
``run --json``) for ``python -m harness report``.

The report template reads every field it shows, so a hand-edited or truncated document must be
refused before rendering, the way a bad scenario is: a :class:`ScenarioError` naming the file,
the line and what was expected (exit status 2), never a traceback from deep in the template.
The schema lists what the report reads and the types it needs; other fields pass through.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import jsonschema
import yaml

from harness.errors import ScenarioError

__all__ = ["RESULTS_SCHEMA", "load_results_document"]

_TEXT = {"type": "string"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_INT_OR_NULL = {"type": ["integer", "null"]}


def _record(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object with these typed keys (``required`` must be present); others are allowed."""
    return {"type": "object", "required": list(required),
            "properties": {**required, **(optional or {})}}


_VIOLATION = _record({
    "rule": _TEXT, "severity": _TEXT, "bugcheck": _TEXT_OR_NULL, "message": _TEXT,
    "doc": _TEXT, "source": _TEXT, "location": _TEXT_OR_NULL, "time_ns": {"type": "integer"},
    "cpu": _INT_OR_NULL, "irql": _INT_OR_NULL, "context": _TEXT_OR_NULL,
})
_FAILURE = _record({"what": _TEXT, "message": _TEXT, "file": _TEXT_OR_NULL,
                    "line": _INT_OR_NULL})
_RESULT = _record(
    {"name": _TEXT, "file": _TEXT, "verdict": _TEXT},
    {
        "case": _TEXT_OR_NULL, "seed": _INT_OR_NULL,
        "virtual_time_ns": {"type": ["integer", "null"], "minimum": 0},
        "wall_seconds": {"type": ["number", "null"]},
        "bugcheck": _TEXT_OR_NULL, "bugcheck_code": _TEXT_OR_NULL,
        "violations": {"type": "array", "items": _VIOLATION},
        "failures": {"type": "array", "items": _FAILURE},
        # A metric is a figure; key metrics are formatted as numbers.
        "metrics": {"type": "object",
                    "additionalProperties": {"type": ["number", "boolean", "null"]}},
        "replay": _TEXT_OR_NULL,
    },
)
RESULTS_SCHEMA: dict[str, Any] = _record(
    {"results": {"type": "array", "items": _RESULT}},
    {"errors": {"type": "array", "items": _record({"error": _TEXT})},
     "passed": {"type": "integer"}, "failed": {"type": "integer"}},
)

_EXPECTED = "expected the output of `python -m harness run --json` (or a report's results.json)"


def load_results_document(text: str, path: str) -> dict[str, Any]:
    """The parsed document, or a :class:`ScenarioError` at the first field the report could not
    use (its JSON path, e.g. ``results[2].violations[0]``, and its line)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno,
                            column=exc.colno) from None
    validator = jsonschema.Draft202012Validator(RESULTS_SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is None:
        assert isinstance(document, dict)
        return document
    parts = list(error.absolute_path)
    where = _json_path(parts)
    raise ScenarioError(f"{where}: {error.message}", path=path, line=_line_of(text, parts),
                        hint=_EXPECTED)


def _json_path(parts: Sequence[Any]) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    return text or "the top level"


def _line_of(text: str, parts: Sequence[Any]) -> int | None:
    """The 1-based line where the value at ``parts`` starts (JSON is YAML: its composer keeps
    positions), or ``None`` when the text does not compose."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(text, Loader=loader)
    except yaml.YAMLError:
        return None
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            node = next((value for key, value in node.value if key.value == part), node)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and \
                0 <= part < len(node.value):
            node = node.value[part]
        else:
            break
    return node.start_mark.line + 1 if node is not None else None
