"""Output files replaced atomically: a reader (a browser, CI collecting artifacts, a second run)
sees the old file or the new one, never half of one, and an interrupted run leaves no debris."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO

__all__ = ["AtomicFile", "write_atomic"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicFile:
    """A text file written under a temporary name beside its target, renamed over it on
    :meth:`commit` (permissions as a plain ``open`` would give, not mkstemp's 0600)."""

    def __init__(self, target: str | Path) -> None:
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=self.target.parent,
                                        prefix=f".{self.target.name}.", suffix=".tmp")
        os.chmod(self.tmp, 0o666 & ~_umask())
        self.stream: IO[str] = os.fdopen(fd, "w", encoding="utf-8")

    def commit(self) -> None:
        self.stream.close()
        os.replace(self.tmp, self.target)

    def abandon(self) -> None:
        self.stream.close()
        Path(self.tmp).unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.abandon()


def write_atomic(target: str | Path, text: str) -> None:
    with AtomicFile(target) as out:
        out.stream.write(text)
