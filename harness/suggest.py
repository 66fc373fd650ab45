"""Spelling suggestions for error messages ("did you mean 'bandwidth'?")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word``, or ``None`` when nothing is close enough.

    A candidate equal to ``word`` ignoring case wins outright (``kib`` -> ``KiB``), since case
    slips are the most common typo in unit names; otherwise difflib's ratio with cutoff 0.6.
    """
    # Sorted so the answer never depends on the iteration order of a set (hash seed).
    pool = sorted(set(candidates))
    folded = [candidate for candidate in pool if candidate.casefold() == word.casefold()]
    if len(folded) == 1 and folded[0] != word:
        return folded[0]
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if matches and matches[0] != word:
        return matches[0]
    return None
