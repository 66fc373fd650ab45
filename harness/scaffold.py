"""``python -m harness new``: a scenario file from a template, ready to edit.

The new file starts with the ``yaml-language-server`` modeline pointing at the schema (relative
to the file, so editors validate as you type), names a stub that exists, and loads as written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import jinja2

__all__ = ["ScaffoldError", "scaffold"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class ScaffoldError(Exception):
    """Bad arguments to ``new`` (shown as ``ERROR <message>``, exit status 2)."""


def schema_reference(directory: Path) -> str:
    """The schema's path as the modeline should give it: relative to ``directory``."""
    schema = Path(str(resources.files("harness").joinpath("scenario.schema.json"))).resolve()
    try:
        return Path(os.path.relpath(schema, directory.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return schema.as_uri()


def scaffold(name: str, stub: str, directory: Path, *, force: bool = False,
             stub_roots: Sequence[Path] = ()) -> Path:
    from harness.stubs import StubNotFound, resolve_stub

    stem = name[:-5] if name.endswith(".yaml") else name
    if not _NAME_RE.match(stem):
        raise ScaffoldError(f"{name!r} is not a usable scenario name: use letters, digits, "
                            "'-', '_' and '.', starting with a letter or digit")
    try:
        resolve_stub(stub, directory, stub_roots)
    except StubNotFound as exc:
        raise ScaffoldError(f"{exc}" + (f"\n  hint: {exc.hint}" if exc.hint else "")) from None
    target = directory / f"{stem}.yaml"
    if target.exists() and not force:
        raise ScaffoldError(f"{target}: already exists (use --force to overwrite)")
    directory.mkdir(parents=True, exist_ok=True)
    env = jinja2.Environment(loader=jinja2.PackageLoader("harness", "templates"),
                             autoescape=False, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    tag = "zoo" if stub.startswith("zoo/") else "kernel"
    text = env.get_template("new_scenario.yaml.j2").render(
        schema=schema_reference(directory), name=stem, stub=stub, tag=tag, file=target)
    target.write_text(text, encoding="utf-8")
    return target
