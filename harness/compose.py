"""From one scenario file to the documents of its cases: templating, ``matrix:`` and ``extends:``.

For each case of a file, in order:

1. **matrix** — ``matrix:`` maps variables to lists of values; the cases are their cartesian
   product, in the order written, each with an id such as ``cpus=2,rtt=40ms`` (a path shows
   by its last part unless two would look the same). A plain name
   (``cpus``) is a template variable; a dotted path (``machine.cpus``, ``peers.0.rtt``) sets that
   value in the case's document directly, so simple matrices need no templating at all.
2. **templating** — a file containing ``{{`` or ``{%`` is rendered by the sandbox of
   :mod:`harness.templating` with the case's variables (plus ``case``, the case id) *before* YAML
   parsing. The matrix of a templated file is read from its text (a top-level ``matrix:`` block
   that must not itself use templating), so rendering can depend on it.
3. **extends** — ``extends: base.yaml`` (relative to the file, inside the scenario root) loads a
   base scenario, rendered with the same variables, and deep-merges the file over it: mappings
   merge key by key, the file wins, lists are replaced whole. A base may extend another base (at
   most :data:`MAX_EXTENDS` deep; cycles are refused). A base's own ``matrix:`` is ignored.

Positions survive all of it: every mapping remembers which file each key came from, so an error
in a value inherited from a base points at the base file's line.
"""

from __future__ import annotations

import codecs
import itertools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ScenarioError
from harness.suggest import did_you_mean
from harness.templating import is_template, render_template, template_variables
from harness.yaml_loader import (
    MAX_INPUT_BYTES,
    LineDict,
    LineList,
    key_position_of,
    load_yaml,
    load_yaml_bytes,
    position_of,
)

__all__ = ["MAX_CASES", "MAX_EXTENDS", "CaseDocument", "display_path", "error_at",
           "expand_file", "source_of"]

MAX_CASES = 1000
"""Most cases one matrix may expand into."""

MAX_EXTENDS = 8
"""Deepest chain of ``extends:``."""

_VARIABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")
_MATRIX_LINE_RE = re.compile(r"^matrix\s*:")


@dataclass(frozen=True, slots=True)
class CaseDocument:
    """One case of a scenario file, ready for validation."""

    case: str  # "" when the file has no matrix
    variables: Mapping[str, Any]
    doc: LineDict
    templated: bool = False
    shifted: bool = False  # templating changed the line count: lines are the rendered text's
    bases: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------------- locating errors


def source_of(container: object, key: Any = None) -> str | None:
    """The file a container (or one of its keys) came from, when not the scenario file itself."""
    sources = getattr(container, "key_sources", None)
    if sources and key in sources:
        return str(sources[key])
    return getattr(container, "source", None)


def error_at(path: str, container: object, key_or_index: Any, message: str, *,
             hint: str | None = None, at_key: bool = False) -> ScenarioError:
    """Like :func:`harness.yaml_loader.error_at`, but aware of values inherited from a base."""
    if at_key:
        position = key_position_of(container, key_or_index)
    else:
        position = position_of(container, key_or_index)
    return ScenarioError(message, path=source_of(container, key_or_index) or path,
                         line=position.line, column=position.column, hint=hint)


def display_path(path: Path) -> str:
    """A path as a person would type it: relative to the working directory when inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative


# ---------------------------------------------------------------------- reading


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as stream:
            return stream.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(f"cannot read file: {exc.strerror or exc}", path=path,
                            line=1) from None


def _decode(data: bytes, path: str) -> str:
    """Strict UTF-8 text; every refusal is the YAML loader's own (same wording, same place)."""
    suspicious = len(data) > MAX_INPUT_BYTES or b"\x00" in data or data.startswith(
        (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if not suspicious:
        try:
            return data.removeprefix(codecs.BOM_UTF8).decode("utf-8")
        except UnicodeDecodeError:
            pass
    load_yaml_bytes(data, path)  # raises the located error
    raise ScenarioError("file is not UTF-8 text", path=path, line=1)  # pragma: no cover


def _with_line(error: ScenarioError, path: str) -> ScenarioError:
    # A complaint about the file as a whole (empty, too large) still gets a line to jump to.
    if error.line is None and error.path == path:
        return error.located(line=1)
    return error


def annotate(error: ScenarioError, path: str, case_id: str, shifted: bool) -> ScenarioError:
    """An error of one case, saying which case, and when templating changed the line count,
    that the line is the rendered text's."""
    message, hint = error.message, error.hint
    if case_id and "(matrix case" not in message:
        message += f" (matrix case {case_id})"
    if shifted and error.path == path and "after templating" not in (hint or ""):
        hint = (hint + "; " if hint else "") + "the line is in the text after templating"
    if (message, hint) == (error.message, error.hint):
        return error
    return ScenarioError(message, path=error.path, line=error.line, column=error.column,
                         hint=hint)


def _tag(node: Any, source: str) -> None:
    """Mark every container of a base document with the file it came from."""
    if isinstance(node, LineDict):
        node.source = source  # type: ignore[attr-defined]
        for value in node.values():
            _tag(value, source)
    elif isinstance(node, LineList):
        node.source = source  # type: ignore[attr-defined]
        for value in node:
            _tag(value, source)


# ---------------------------------------------------------------------- the matrix


def _matrix_from_text(text: str, path: str) -> LineDict | None:
    """The top-level ``matrix:`` block of a template, parsed on its own with its real lines."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _MATRIX_LINE_RE.match(line)), None)
    if start is None:
        return None
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][:1] in (" ", "\t", "#")):
        end += 1
    block = "\n".join(lines[start:end])
    if is_template(block):
        raise ScenarioError("the matrix of a templated file cannot itself use templating",
                            path=path, line=start + 1,
                            hint="write the matrix values literally; use them elsewhere")
    return load_yaml("\n" * start + block + "\n", path)


def _matrix_cases(path: str, matrix: LineDict, templated: bool,
                  used: set[str] | None) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """``[(case id, template variables, path overrides)]`` for a ``matrix:`` mapping."""
    names = list(matrix)
    for name in names:
        text = str(name)
        values = matrix[name]
        if not (_VARIABLE_RE.match(text) or _PATH_RE.match(text)):
            raise error_at(path, matrix, name, f"matrix variable {text!r} is not a name "
                           "(cpus) or a dotted path (machine.cpus)", at_key=True)
        if not isinstance(values, list) or not values:
            raise error_at(path, matrix, name, f"matrix.{text}: expected a non-empty list of "
                           "values")
        for index, value in enumerate(values):
            if isinstance(value, dict | list) or value is None:
                raise error_at(path, values, index, f"matrix.{text}: values must be text, "
                               "numbers or true/false")
        if _VARIABLE_RE.match(text) and not templated:
            raise error_at(path, matrix, name, f"matrix variable {text!r} is not used: this "
                           "file has no templating", at_key=True,
                           hint=f"use it as {{{{ {text} }}}} in the file, or name a path such as"
                           f" machine.{text}")
        if _VARIABLE_RE.match(text) and used is not None and text not in used:
            hint = did_you_mean(text, sorted(used))
            raise error_at(path, matrix, name, f"matrix variable {text!r} is not used by the "
                           "template", at_key=True,
                           hint=f"did you mean {hint!r}?" if hint else None)
    total = 1
    for name in names:
        total *= len(matrix[name])
    if total > MAX_CASES:
        raise error_at(path, matrix, None, f"matrix expands into {total} cases; at most "
                       f"{MAX_CASES} are allowed", hint="split it into several files")
    # Ids read naturally: a path shows as its last part (machine.cpus -> cpus) unless that
    # would make two variables look the same.
    leaves = [str(n).rsplit(".", 1)[-1] for n in names]
    shown = leaves if len(set(leaves)) == len(leaves) else [str(n) for n in names]
    cases = []
    for combo in itertools.product(*(matrix[name] for name in names)):
        case_id = ",".join(f"{label}={_show(value)}" for label, value in zip(shown, combo,
                                                                             strict=True))
        variables = {str(n): v for n, v in zip(names, combo, strict=True)
                     if _VARIABLE_RE.match(str(n))}
        overrides = {str(n): v for n, v in zip(names, combo, strict=True)
                     if not _VARIABLE_RE.match(str(n))}
        cases.append((case_id, variables, overrides))
    return cases


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _apply_override(path: str, doc: LineDict, dotted: str, value: Any,
                    matrix: LineDict) -> None:
    """Set ``machine.cpus``-style paths, creating mappings on the way; located at the matrix."""
    parts = dotted.split(".")
    node: Any = doc
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        key: Any = part
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise error_at(path, matrix, dotted, f"matrix path {dotted!r}: "
                               f"{'.'.join(parts[:depth]) or 'the document'} has no item "
                               f"{part}", at_key=True)
            key = int(part)
        elif not isinstance(node, dict):
            raise error_at(path, matrix, dotted, f"matrix path {dotted!r}: "
                           f"{'.'.join(parts[:depth])} is not a mapping or a list", at_key=True)
        if last:
            node[key] = value
            # Complaints about the value point at the matrix, where it was written.
            where = position_of(matrix, dotted)
            if isinstance(node, LineDict):
                node.value_positions[key] = where
                node.key_positions.setdefault(key, key_position_of(matrix, dotted))
                if source_of(node) is not None or getattr(node, "key_sources", None):
                    # The value is the matrix's, written in this file (not the base's).
                    node.__dict__.setdefault("key_sources", {})[key] = path
            elif isinstance(node, LineList):
                node.item_positions[key] = where
            return
        if isinstance(node, dict) and key not in node:
            child = LineDict()
            child.position = key_position_of(matrix, dotted)
            node[key] = child
            if isinstance(node, LineDict):
                node.value_positions[key] = child.position
                node.key_positions[key] = child.position
        node = node[key]


# ---------------------------------------------------------------------- extends


def _merge(base: Any, child: Any) -> Any:
    """Deep merge: mappings key by key (child wins), anything else replaced by the child."""
    if not (isinstance(base, LineDict) and isinstance(child, LineDict)):
        return child
    out = LineDict()
    out.position = child.position
    out.key_sources = {}  # type: ignore[attr-defined]
    child_source = source_of(child)
    if child_source is not None:
        out.source = child_source  # type: ignore[attr-defined]
    for key, value in base.items():
        out[key] = value
        out.key_positions[key] = base.key_positions.get(key, base.position)
        out.value_positions[key] = base.value_positions.get(key, base.position)
        out.key_sources[key] = source_of(base, key)  # type: ignore[attr-defined]
    for key, value in child.items():
        out[key] = _merge(out[key], value) if key in out else value
        out.key_positions[key] = child.key_positions.get(key, child.position)
        out.value_positions[key] = child.value_positions.get(key, child.position)
        out.key_sources[key] = source_of(child, key)  # type: ignore[attr-defined]
    return out


def _load_base(path: str, doc: LineDict, root: Path, variables: Mapping[str, Any],
               chain: list[Path]) -> tuple[LineDict, list[str]]:
    reference = doc["extends"]
    if not isinstance(reference, str) or not reference.strip():
        raise error_at(path, doc, "extends", "extends: expected the path of a base scenario "
                       "file, relative to this file")
    current = chain[-1]
    target = (current.parent / reference).resolve()
    if target.suffix not in (".yaml", ".yml"):
        raise error_at(path, doc, "extends", f"extends: {reference!r} is not a .yaml file")
    if not target.is_relative_to(root):
        raise error_at(path, doc, "extends", f"extends: {reference!r} is outside the scenario "
                       f"root {display_path(root)}",
                       hint="bases must live in the same scenario tree as the files using them")
    if target in chain:
        cycle = " -> ".join(display_path(p) for p in [*chain, target])
        raise error_at(path, doc, "extends", f"extends: a cycle ({cycle})")
    if len(chain) > MAX_EXTENDS:
        raise error_at(path, doc, "extends", f"extends: more than {MAX_EXTENDS} levels deep")
    if not target.is_file():
        siblings = [p.name for p in target.parent.glob("*.y*ml")] if target.parent.is_dir() \
            else []
        hint = did_you_mean(target.name, siblings)
        raise error_at(path, doc, "extends", f"extends: no such file {reference!r}",
                       hint=f"did you mean {hint!r}?" if hint else None)
    shown = display_path(target)
    try:
        text = _decode(_read(shown), shown)
        if is_template(text):
            text = render_template(text, shown, variables)
        base = load_yaml(text, shown)
    except ScenarioError as exc:
        raise _with_line(exc, shown) from None
    _tag(base, shown)
    base.pop("matrix", None)
    bases = [shown]
    if "extends" in base:
        base, deeper = _load_base(shown, base, root, variables, [*chain, target])
        bases += deeper
    return base, bases


# ---------------------------------------------------------------------- the whole file


def default_root(path: Path) -> Path:
    """The scenario root when none is given: the working directory if the file is inside it,
    else the file's own directory."""
    resolved = path.resolve()
    cwd = Path.cwd().resolve()
    return cwd if resolved.is_relative_to(cwd) else resolved.parent


def expand_file(path: str | Path, root: Path | None = None) -> list[CaseDocument]:
    """Every case of a scenario file as a merged document (positions kept)."""
    shown = str(path)
    file = Path(path)
    root = (root or default_root(file)).resolve()
    try:
        data = _read(shown)
        templated = b"{{" in data or b"{%" in data
        text = ""
        used: set[str] | None = None
        if not templated:
            parsed = load_yaml_bytes(data, shown)
            holder: LineDict | None = parsed
        else:
            text = _decode(data, shown)
            parsed = LineDict()
            holder = _matrix_from_text(text, shown)
            used = template_variables(text, shown)
    except ScenarioError as exc:
        raise _with_line(exc, shown) from None
    matrix: Any = None
    if holder is not None and "matrix" in holder:
        matrix = holder["matrix"]
        if not isinstance(matrix, LineDict) or not matrix:
            raise error_at(shown, holder, "matrix", "matrix: expected a mapping of variable "
                           "names to lists of values, e.g. {cpus: [1, 2, 4]}")
        cases = _matrix_cases(shown, matrix, templated, used)
    else:
        cases = [("", {}, {})]
    out = []
    source_lines = text.count("\n")
    for case_id, variables, overrides in cases:
        shifted = False
        try:
            if templated:
                rendered = render_template(text, shown, {**variables, "case": case_id})
                shifted = rendered.count("\n") != source_lines
                doc = load_yaml(rendered, shown)
            else:
                doc = _copy(parsed)
            bases: list[str] = []
            if "extends" in doc:
                base, bases = _load_base(shown, doc, root, {**variables, "case": case_id},
                                         [file.resolve()])
                doc = _merge(base, doc)
                doc.pop("extends", None)
            # After the merge, so a path may reach into what a base defines (peers.0.rtt).
            for dotted, value in overrides.items():
                _apply_override(shown, doc, dotted, value, matrix)
        except ScenarioError as exc:
            raise annotate(_with_line(exc, shown), shown, case_id, shifted) from None
        out.append(CaseDocument(case_id, variables, doc, templated, shifted, tuple(bases)))
    return out


def _copy(node: Any) -> Any:
    """A deep copy that keeps positions and sources (cases must not share mutable values)."""
    if isinstance(node, LineDict):
        out = LineDict((k, _copy(v)) for k, v in node.items())
        out.position = node.position
        out.key_positions = dict(node.key_positions)
        out.value_positions = dict(node.value_positions)
        for attr in ("source", "key_sources"):
            if hasattr(node, attr):
                setattr(out, attr, getattr(node, attr))
        return out
    if isinstance(node, LineList):
        copy = LineList(_copy(v) for v in node)
        copy.position = node.position
        copy.item_positions = list(node.item_positions)
        if hasattr(node, "source"):
            copy.source = node.source  # type: ignore[attr-defined]
        return copy
    return node

