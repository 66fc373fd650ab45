"""The HTML report: one self-contained page (no network, no script), written atomically.

Jinja2 with autoescape: every string that came from a scenario (names, descriptions, messages)
is escaped by the template; the inline SVG is built by :mod:`harness.svg`, which escapes the
texts it embeds, and is the only markup marked safe.

Next to ``index.html`` the report directory gets ``results.json`` (the ``run --json`` document),
from which ``python -m harness report`` re-renders the page later — everything but the
timelines and plots, which need the runs themselves (``report --rerun`` replays them: runs are
deterministic, so the same seeds redraw the same pictures).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from harness.atomic import write_atomic
from harness.render import failure_report, key_metrics, trace_excerpt
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


def scenario_view(index: int, result: ScenarioResult, drawings: bool = True) -> dict[str, Any]:
    """Everything the template shows of one result (plain data plus pre-built SVG)."""
    from harness.svg import charts_svg, timeline_svg
    from harness.timeline import build_timeline, order_timeline

    data = result.to_dict()
    view = view_from_dict(index, data)
    s = result.scenario
    first = result.violations[0].rule.id if result.violations else None
    view.update({
        "description": s.description,
        "line": s.line,
        "failure": failure_report(result) if not result.passed else "",
        "excerpt": trace_excerpt(result.trace, first) if first else [],
    })
    if drawings and result.trace:
        timeline = build_timeline(result.trace, s.cpus, result.machine.now)
        view["timeline_svg"] = timeline_svg(timeline)
        focus = first_violation_index(result.trace)
        if focus is not None:  # the race itself, in trace order (code runs in zero time)
            view["zoom_svg"] = timeline_svg(order_timeline(result.trace, s.cpus, focus))
    series = result.extra.get("series") or {}
    if drawings and series:
        view["charts"] = charts_svg(series, result.machine.now, result.extra.get("charts", ()))
    return view


def first_violation_index(trace: Sequence[tuple[Any, ...]]) -> int | None:
    return next((i for i, r in enumerate(trace) if r[3] == "violation"), None)


def view_from_dict(index: int, data: Mapping[str, Any]) -> dict[str, Any]:
    """A view from a ``run --json`` result (no trace: no timeline, no plots)."""
    metrics = data.get("metrics") or {}
    violations = list(data.get("violations") or [])
    return {
        "anchor": f"s{index}",
        "name": str(data.get("name", "?")),
        "file": str(data.get("file", "?")),
        "line": None,
        "case": str(data.get("case") or ""),
        "description": "",
        "verdict": str(data.get("verdict", "?")),
        "virtual_ns": int(data.get("virtual_time_ns") or 0),
        "wall": float(data.get("wall_seconds") or 0.0),
        "seed": data.get("seed"),
        "bugcheck": data.get("bugcheck"),
        "bugcheck_code": data.get("bugcheck_code"),
        "violations": violations,
        "rules": sorted({str(v.get("rule")) for v in violations}),
        "failures": list(data.get("failures") or []),
        "failure": "",
        "metrics": sorted(metrics.items()),
        "key_metrics": key_metrics(metrics),
        "excerpt": [],
        "replay": str(data.get("replay", "")),
        "timeline_svg": "",
        "zoom_svg": "",
        "charts": [],
    }


def render_html(views: Sequence[Mapping[str, Any]], errors: Sequence[Mapping[str, Any]] = (),
                note: str = "") -> str:
    return _environment().get_template("report.html.j2").render(
        scenarios=list(views),
        errors=list(errors),
        passed=sum(v["verdict"] == "pass" for v in views),
        failed=sum(v["verdict"] != "pass" for v in views),
        note=note,
    )


def results_document(results: Sequence[ScenarioResult],
                     errors: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The ``run --json`` document (also ``results.json`` in a report directory)."""
    failed = sum(not r.passed for r in results)
    return {"results": [r.to_dict() for r in results], "errors": list(errors),
            "passed": len(results) - failed, "failed": failed}


def write_report(results: Sequence[ScenarioResult], directory: Path,
                 errors: Sequence[Mapping[str, Any]] = ()) -> Path:
    """``index.html`` and ``results.json`` in ``directory``, each replaced atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    views = [scenario_view(i, r) for i, r in enumerate(results)]
    write_atomic(directory / "results.json",
                  json.dumps(results_document(results, errors), indent=2) + "\n")
    target = directory / "index.html"
    write_atomic(target, render_html(views, errors))
    return target


def write_report_from_json(document: Mapping[str, Any], directory: Path,
                           views: Sequence[Mapping[str, Any]] | None = None) -> Path:
    """Re-render ``index.html`` from a results document (``report`` command)."""
    directory.mkdir(parents=True, exist_ok=True)
    if views is None:
        views = [view_from_dict(i, r) for i, r in enumerate(document.get("results", []))]
        note = ("Re-rendered from saved results: timelines and plots need the runs "
                "(python -m harness report --rerun).")
    else:
        note = ""
    target = directory / "index.html"
    write_atomic(target, render_html(views, document.get("errors", []), note))
    return target
