"""The one error type the harness raises for bad user input.

Every problem with a scenario (unreadable file, YAML syntax, a misspelt key, a size written as
``64 Kib``, an expression that does not parse) becomes a :class:`ScenarioError` that names the
file, the 1-based line and column when known, what was expected, and optionally a hint.  The CLI
prints ``str(error)`` and exits with status 2; it never shows a Python traceback for these.
"""

from __future__ import annotations

from typing import Any

__all__ = ["UNKNOWN_PATH", "ScenarioError"]

# Stands for "the file is not known yet"; located() replaces it, and only it.
UNKNOWN_PATH = "<scenario>"


class ScenarioError(Exception):
    """Bad input in a scenario file, located as precisely as the harness can.

    Rendered like a compiler diagnostic so editors and terminals can jump to it::

        scenarios/basic.yaml:12:5: unknown key 'bandwith'
          hint: did you mean 'bandwidth'?
    """

    path: str
    line: int | None
    column: int | None
    message: str
    hint: str | None

    def __init__(
        self,
        message: str,
        *,
        path: str = UNKNOWN_PATH,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        # Only the message goes to Exception.args: pickling (pytest-xdist ships failures between
        # processes) rebuilds with cls(*args) and then restores __dict__, which holds the rest.
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        # A column without a line would render as "path::col", which reads as a typo.
        self.column = column if line is not None else None
        self.hint = hint

    @property
    def location(self) -> str:
        """``path``, ``path:line`` or ``path:line:column``, whichever is known."""
        text = self.path
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text

    def located(
        self,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> ScenarioError:
        """A copy with the given location parts filled in where this error has none.

        Lets inner code raise without knowing the file, and outer code add it without losing a
        more precise position found deeper down.
        """
        return ScenarioError(
            self.message,
            path=path if path is not None and self.path == UNKNOWN_PATH else self.path,
            line=self.line if self.line is not None else line,
            column=self.column if self.line is not None else column,
            hint=self.hint,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for ``--json`` output."""
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
        }

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def __repr__(self) -> str:
        return (
            f"ScenarioError({self.message!r}, path={self.path!r}, line={self.line!r}, "
            f"column={self.column!r}, hint={self.hint!r})"
        )
