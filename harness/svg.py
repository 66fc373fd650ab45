"""Inline SVG for the HTML report: the per-CPU timeline and line charts of time series.

Plain string building (no plotting library, no network, no script): the report must open from a
file on a machine without internet. Every text that came from a run (context names, callback
names, violation messages) is escaped here, because the template marks these strings safe. Sizes
are bounded: slices and markers are capped by :mod:`harness.timeline`, series are downsampled to
about one point per pixel (keeping each bucket's minimum and maximum, so spikes survive).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from harness.timeline import DISPATCH, Timeline
from harness.units import format_duration

WIDTH = 1000
LEFT = 80
RIGHT = 16
ROW = 18
LANE_GAP = 8
MAX_ROWS = 4  # nesting shown per CPU; deeper slices share the last row
MAX_POINTS = 1000

IRQL_COLORS = {DISPATCH: "#f0883e", 0: "#58a6ff"}
IRQL_NAMES = {DISPATCH: "DISPATCH_LEVEL", 0: "PASSIVE_LEVEL"}
MARKER_STYLE = {
    "violation": ("#cf222e", "violation"),
    "bugcheck": ("#000000", "bug check"),
    "call": ("#1f6feb", "call returned"),
    "disable": ("#8250df", "disable request"),
    "enable": ("#bf8700", "enable request"),
    "peer": ("#6e7781", "peer action"),
    "close": ("#6e7781", "close"),
    "driver": ("#1a7f37", "driver load/unload"),
}
PALETTE = ("#1f6feb", "#f0883e", "#1a7f37", "#8250df", "#cf222e", "#6e7781", "#bf8700")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _ticks(end: int, count: int = 8) -> list[int]:
    if end <= 0:
        return [0]
    raw = end / count
    magnitude = 10 ** (len(str(int(raw))) - 1) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return list(range(0, end + 1, max(1, int(step))))


def timeline_svg(timeline: Timeline) -> str:
    """CPU lanes with context slices coloured by IRQL, callback names, and markers."""
    start = timeline.start_ns
    end = max(timeline.end_ns, start + 1)
    plot_w = WIDTH - LEFT - RIGHT
    # In trace order each record gets a column; a slice spans its records inclusively.
    span = end - start + (1 if timeline.axis == "order" else 0)

    def x(t: int) -> float:
        return LEFT + plot_w * (t - start) / span

    rows = {cpu: 1 for cpu in range(timeline.cpus)}
    for piece in timeline.slices:
        rows[piece.cpu] = min(MAX_ROWS, max(rows.get(piece.cpu, 1), piece.depth + 1))
    top = 24
    lane_y: dict[int, float] = {}
    y = top + ROW + LANE_GAP  # the first lane is the machine's own (timers, actions)
    for cpu in sorted(rows):
        lane_y[cpu] = y
        y += rows[cpu] * ROW + LANE_GAP
    height = int(y + 58)
    out = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
           f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
           f'aria-label="contexts per CPU over virtual time">',
           '<style>text{font:11px sans-serif;fill:#24292f}.s text{fill:#fff}</style>']
    for tick in _ticks(end - start):
        tx = x(start + tick)
        label = format_duration(tick) if timeline.axis == "time" else f"#{start + tick}"
        out.append(f'<line x1="{tx:.1f}" y1="{top}" x2="{tx:.1f}" y2="{y}" stroke="#eaeef2"/>'
                   f'<text x="{tx:.1f}" y="{top - 6}" text-anchor="middle">'
                   f'{_e(label)}</text>')
    out.append(f'<text x="4" y="{top + ROW - 5}">machine</text>')
    for cpu, lane in lane_y.items():
        out.append(f'<rect x="{LEFT}" y="{lane}" width="{plot_w}" height="{rows[cpu] * ROW}" '
                   f'fill="#f6f8fa"/><text x="4" y="{lane + ROW - 5}">CPU {cpu}</text>')
    for piece in timeline.slices:
        if piece.cpu not in lane_y:
            continue
        x0 = x(piece.start_ns)
        end_x = x(piece.end_ns + (1 if timeline.axis == "order" else 0))
        width = max(1.0, end_x - x0)
        sy = lane_y[piece.cpu] + min(piece.depth, MAX_ROWS - 1) * ROW + 1
        color = IRQL_COLORS.get(piece.irql, "#6e7781")
        title = (f"{piece.label} ({piece.kind} #{piece.ctx}) on CPU {piece.cpu} at "
                 f"{IRQL_NAMES.get(piece.irql, piece.irql)}: {format_duration(piece.start_ns)}"
                 f" .. {format_duration(piece.end_ns)} ({piece.ended_by})")
        out.append(f'<g class="s"><rect x="{x0:.1f}" y="{sy:.1f}" width="{width:.1f}" '
                   f'height="{ROW - 2}" fill="{color}"><title>{_e(title)}</title></rect>')
        chars = int(width / 6.5)
        if chars >= 4:
            label = piece.label if len(piece.label) <= chars else piece.label[:chars - 1] + "…"
            out.append(f'<text x="{x0 + 3:.1f}" y="{sy + ROW - 6:.1f}">{_e(label)}</text>')
        out.append("</g>")
    for marker in timeline.markers:
        color = MARKER_STYLE.get(marker.kind, ("#6e7781", marker.kind))[0]
        mx = x(marker.time_ns) + (plot_w / span / 2 if timeline.axis == "order" else 0)
        if marker.cpu in lane_y:
            y0, y1 = lane_y[marker.cpu] - 3, lane_y[marker.cpu] + rows[marker.cpu] * ROW + 3
        else:
            y0, y1 = top + 2, top + ROW
        when = format_duration(marker.time_ns) if timeline.axis == "time" else \
            f"record #{marker.time_ns}"
        title = f"{when} cpu {marker.cpu}: {marker.text}"
        shape = (f'<path d="M{mx - 5:.1f},{y0 - 6:.1f} L{mx + 5:.1f},{y0 - 6:.1f} '
                 f'L{mx:.1f},{y0 + 2:.1f} Z" fill="{color}"/>'
                 if marker.kind in ("violation", "bugcheck") else
                 f'<circle cx="{mx:.1f}" cy="{y0:.1f}" r="3" fill="{color}"/>')
        out.append(f'<g class="m {marker.kind}"><title>{_e(title)}</title>'
                   f'<line x1="{mx:.1f}" y1="{y0:.1f}" x2="{mx:.1f}" y2="{y1:.1f}" '
                   f'stroke="{color}" stroke-width="1.5"/>{shape}</g>')
    legend_y = y + 18
    lx = LEFT
    items = [(IRQL_COLORS[DISPATCH], "DISPATCH_LEVEL"), (IRQL_COLORS[0], "PASSIVE_LEVEL")]
    kinds = sorted({m.kind for m in timeline.markers})
    items += [MARKER_STYLE.get(k, ("#6e7781", k)) for k in kinds]
    for color, text in items:
        out.append(f'<rect x="{lx}" y="{legend_y - 9}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{lx + 14}" y="{legend_y}">{_e(text)}</text>')
        lx += 24 + 7 * len(text)
    notes = []
    if timeline.dropped_slices:
        notes.append(f"{timeline.dropped_slices} more slices not drawn")
    if timeline.dropped_markers:
        notes.append(f"{timeline.dropped_markers} more markers not drawn")
    if timeline.caption:
        notes.insert(0, timeline.caption)
    if notes:
        out.append(f'<text x="{LEFT}" y="{legend_y + 18}" fill="#57606a">'
                   f'{_e("; ".join(notes))}</text>')
    out.append("</svg>")
    return "".join(out)


# ---------------------------------------------------------------------- line charts


def downsample(samples: Sequence[tuple[int, float]], end_ns: int,
               buckets: int = MAX_POINTS // 2) -> list[tuple[int, float]]:
    """At most about ``2 * buckets`` points: per time bucket, its min and max in time order."""
    if len(samples) <= 2 * buckets:
        return list(samples)
    span = max(end_ns, samples[-1][0], 1)
    out: list[tuple[int, float]] = []
    current = -1
    group: list[tuple[int, float]] = []

    def flush() -> None:
        if group:
            low = min(group, key=lambda p: p[1])
            high = max(group, key=lambda p: p[1])
            out.extend(sorted({low, high}))

    for t, value in samples:
        bucket = min(buckets - 1, t * buckets // span)
        if bucket != current:
            flush()
            group = []
            current = bucket
        group.append((t, value))
    flush()
    return out


def _nice(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``value`` (round axis labels)."""
    if value <= 0:
        return 1.0
    scale = 10 ** math.floor(math.log10(value))
    return next(m * scale for m in (1, 2, 2.5, 5, 10) if m * scale >= value)


def _compact(value: float) -> str:
    magnitude = abs(value)
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def chart_svg(title: str, series: Mapping[str, Sequence[tuple[int, float]]], end_ns: int,
              unit: str = "") -> str:
    """Step lines of one or more series over virtual time (values hold until the next sample)."""
    height, top, bottom = 220, 28, 30
    plot_w, plot_h = WIDTH - LEFT - RIGHT, height - top - bottom
    end = max([end_ns, 1, *(s[-1][0] for s in series.values() if s)])
    high = _nice(max([0.0, *(v for s in series.values() for _, v in s)]) or 1.0)
    low = min([0.0, *(v for s in series.values() for _, v in s)])

    def x(t: int) -> float:
        return LEFT + plot_w * t / end

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low))

    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
           f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
           f'aria-label="{_e(title)}">',
           '<style>text{font:11px sans-serif;fill:#24292f}</style>',
           f'<text x="{LEFT}" y="16" font-weight="bold">{_e(title)}</text>',
           f'<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#f6f8fa"/>']
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        value = low + (high - low) * fraction
        gy = y(value)
        out.append(f'<line x1="{LEFT}" y1="{gy:.1f}" x2="{LEFT + plot_w}" y2="{gy:.1f}" '
                   f'stroke="#d0d7de"/><text x="{LEFT - 6}" y="{gy + 4:.1f}" '
                   f'text-anchor="end">{_e(_compact(value) + unit)}</text>')
    for tick in _ticks(end):
        out.append(f'<text x="{x(tick):.1f}" y="{height - 12}" text-anchor="middle">'
                   f'{_e(format_duration(tick))}</text>')
    lx = LEFT + 200
    for index, (name, samples) in enumerate(series.items()):
        color = PALETTE[index % len(PALETTE)]
        points = downsample(samples, end)
        coords: list[str] = []
        previous: float | None = None
        for t, value in points:
            if previous is not None:
                coords.append(f"{x(t):.1f},{y(previous):.1f}")
            coords.append(f"{x(t):.1f},{y(value):.1f}")
            previous = value
        if points and previous is not None:
            coords.append(f"{x(end):.1f},{y(previous):.1f}")
        out.append(f'<polyline class="series" fill="none" stroke="{color}" stroke-width="1.5" '
                   f'points="{" ".join(coords)}"><title>{_e(name)}</title></polyline>')
        out.append(f'<rect x="{lx}" y="7" width="10" height="10" fill="{color}"/>'
                   f'<text x="{lx + 14}" y="16">{_e(name)}</text>')
        lx += 30 + 7 * len(name)
    out.append("</svg>")
    return "".join(out)


def _unit_of(name: str) -> str:
    leaf = name.rsplit(".", 1)[-1]
    if leaf.endswith(("_bps", "_rate")) or leaf in ("throughput", "rate"):
        return "b/s"
    if leaf.endswith(("_ns", "_time")) or leaf in ("rtt",):
        return "ns"
    return "B" if leaf in ("isb", "outstanding", "cwnd", "rwnd", "inflight") or \
        leaf.endswith(("_bytes", "bytes")) else ""


def default_groups(names: Sequence[str]) -> list[dict[str, Any]]:
    """Series sharing a prefix and a unit go on one chart: ``conn0.isb`` with
    ``conn0.outstanding`` (bytes), ``conn0.throughput_bps`` on its own (bits/s)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name in sorted(names):
        prefix = name.rsplit(".", 1)[0] if "." in name else name
        groups.setdefault((prefix, _unit_of(name)), []).append(name)
    out = []
    for (prefix, unit), members in groups.items():
        leaves = ", ".join(m.rsplit(".", 1)[-1] for m in members)
        title = f"{prefix}: {leaves}" if len(members) > 1 else members[0]
        out.append({"title": title, "series": members, "unit": unit})
    return out


def charts_svg(series: Mapping[str, Sequence[tuple[int, float]]], end_ns: int,
               groups: Sequence[Mapping[str, Any]] = ()) -> list[str]:
    """One chart per group (``{"title", "series": [names], "unit"}``), then the remaining series
    grouped by :func:`default_groups`. A run may name its groups in
    ``ScenarioResult.extra["charts"]``; by default ISB and outstanding bytes share a chart."""
    charts = []
    grouped: set[str] = set()
    rest = [n for n in series if series[n] and all(n not in g.get("series", ()) for g in groups)]
    for group in [*groups, *default_groups(rest)]:
        names = [n for n in group.get("series", ()) if n in series and series[n]
                 and n not in grouped]
        if names:
            grouped.update(names)
            charts.append(chart_svg(str(group.get("title", ", ".join(names))),
                                    {n: series[n] for n in names}, end_ns,
                                    str(group.get("unit", ""))))
    return charts
