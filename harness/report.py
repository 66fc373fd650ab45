"""The HTML report: one self-contained page (no network), written atomically.

Jinja2 with autoescape: every string that came from a scenario (names, descriptions, messages)
is escaped, so a hostile scenario name cannot inject markup.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from harness.render import failure_report, trace_excerpt
from harness.runner import ScenarioResult
from harness.units import format_duration


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["duration"] = format_duration
    return env


def _scenario_view(index: int, result: ScenarioResult) -> dict[str, Any]:
    first = result.violations[0].rule.id if result.violations else None
    return {
        "anchor": f"s{index}",
        "name": result.scenario.name,
        "file": result.scenario.path,
        "description": result.scenario.description,
        "verdict": result.verdict,
        "virtual_ns": result.machine.now,
        "wall": result.wall_seconds,
        "violations": [v.to_dict() for v in result.violations],
        "rules": sorted({v.rule.id for v in result.violations}),
        "failure": failure_report(result) if not result.passed else "",
        "metrics": sorted(result.metrics.items()),
        "excerpt": trace_excerpt(result.trace, first) if first else [],
        "timeline_svg": result.extra.get("timeline_svg", ""),
    }


def write_report(results: Sequence[ScenarioResult], directory: Path,
                 errors: Sequence[dict[str, Any]] = ()) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    views = [_scenario_view(i, r) for i, r in enumerate(results)]
    html = _environment().get_template("report.html.j2").render(
        scenarios=views,
        errors=list(errors),
        passed=sum(v["verdict"] == "pass" for v in views),
        failed=sum(v["verdict"] == "fail" for v in views),
    )
    target = directory / "index.html"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".index.", suffix=".html")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(html)
    os.replace(tmp, target)  # atomic: a reader never sees half a report
    return target
