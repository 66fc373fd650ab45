"""docs/exploring.md lists exactly the decision kinds the code asks (``decide("kind", ...)``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_decision_table_matches_the_code() -> None:
    table = (ROOT / "docs" / "exploring.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z]+)` \|", table, flags=re.MULTILINE))
    asked = set()
    for folder in ("mock_wsk", "harness"):
        for path in (ROOT / folder).rglob("*.py"):
            asked |= set(re.findall(r'decide\("([a-z]+)"', path.read_text(encoding="utf-8")))
    assert documented == asked
