"""Reports: the HTML page (escaping, timeline, plots), the timeline model, Perfetto JSON."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.perfetto import trace_events
from harness.report import write_report, write_report_from_json
from harness.runner import run_scenario
from harness.scenario import load_scenario
from harness.svg import downsample
from harness.timeline import DISPATCH, PASSIVE, build_timeline

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "<script>alert(1)</script>"


class Markup(HTMLParser):
    """Every start tag with its attributes, and the text, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, Any]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def count(self, tag: str, cls: str | None = None) -> int:
        return sum(t == tag and (cls is None or cls in (a.get("class") or "").split())
                   for t, a in self.tags)


def parse(html: str) -> Markup:
    markup = Markup()
    markup.feed(html)
    return markup


@pytest.fixture(scope="module")
def hostile_result(tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("hostile")
    path = directory / "hostile.yaml"
    path.write_text(f"""\
name: "{HOSTILE}"
description: "<img src=x onerror=alert(2)> & friends"
driver: {{stub: timer_counter, parameters: {{ticks: 3}}}}
run: {{duration: 10ms}}
expect:
  metrics: ["driver.ticks == 4"]
""")
    result = run_scenario(load_scenario(path))
    ms = 1_000_000
    result.extra["series"] = {
        "conn0.isb": [(t * ms, 1000.0 * t) for t in range(10)],
        "conn0.outstanding": [(t * ms, 900.0 * t) for t in range(10)],
        "conn0.throughput_bps": [(t * ms, 1e6 * t) for t in range(10)],
    }
    return result


def test_hostile_names_are_escaped_and_drawings_present(hostile_result: Any,
                                                        tmp_path: Path) -> None:
    bad = run_scenario(load_scenario(ROOT / "scenarios/kernel/wait_in_dpc.yaml"))
    index = write_report([hostile_result, bad], tmp_path)
    html = index.read_text()
    markup = parse(html)
    assert markup.count("script") == 0 and markup.count("img") == 0
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert any(HOSTILE in text for text in markup.text)  # shown as text, not markup
    assert "&lt;img src=x onerror=alert(2)&gt; &amp; friends" in html
    # Each run's timeline, plus the violation of the bad one zoomed in trace order.
    assert markup.count("svg", "timeline") == 3
    assert "Around the first violation, in trace order" in html
    assert markup.count("svg", "chart") == 2  # ISB with outstanding bytes; throughput alone
    assert markup.count("polyline", "series") == 3
    assert markup.count("g", "violation") >= 1  # the wait in the DPC is marked
    assert markup.count("a") >= 2 and "http" not in html.replace("http://www.w3.org", "")
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["results"][0]["name"] == HOSTILE and document["failed"] == 1


def test_report_from_saved_results(hostile_result: Any, tmp_path: Path) -> None:
    write_report([hostile_result], tmp_path / "a")
    document = json.loads((tmp_path / "a" / "results.json").read_text())
    html = write_report_from_json(document, tmp_path / "b").read_text()
    assert "Re-rendered from saved results" in html
    assert "&lt;script&gt;" in html and parse(html).count("script") == 0
    assert "driver.ticks == 4 is false" in html


def test_timeline_model() -> None:
    trace = [
        (0, 0, 1, "ctx.start", ("thread", "Worker")),
        (10, 0, 2, "ctx.start", ("dpc", "RecvDpc")),
        (12, 0, 2, "wsk.callback.enter", ("WskReceiveEvent", 1)),
        (13, 0, 2, "violation", ("irql.wait_in_dpc", "bad")),
        (15, 0, 2, "ctx.end", ()),
        (20, -1, 1, "ctx.block", (1,)),
        (30, 1, 1, "event.set", ("Done",)),  # the thread resumed on CPU 1
        (40, 1, 1, "ctx.end", ()),
    ]
    timeline = build_timeline(trace, cpus=2, end_ns=50)
    shapes = [(s.cpu, s.ctx, s.depth, s.irql, s.start_ns, s.end_ns, s.ended_by, s.label)
              for s in timeline.slices]
    assert shapes == [
        (0, 1, 0, PASSIVE, 0, 20, "block", "Worker"),
        (0, 2, 1, DISPATCH, 10, 15, "end", "WskReceiveEvent"),
        (1, 1, 0, PASSIVE, 30, 40, "end", "Worker"),
    ]
    assert [(m.kind, m.time_ns) for m in timeline.markers] == [("violation", 13)]
    capped = build_timeline(trace, cpus=2, end_ns=50, max_slices=1, max_markers=0)
    assert (len(capped.slices), capped.dropped_slices, capped.dropped_markers) == (1, 2, 1)


def test_perfetto_async_slices_and_instants() -> None:
    result = run_scenario(load_scenario(ROOT / "scenarios/kernel/wait_in_dpc.yaml"))
    timeline = build_timeline(result.trace or [], 2, result.machine.now)
    events = trace_events([("zoo", timeline)])
    begins = {e["id"]: e for e in events if e["ph"] == "b"}
    ends = {e["id"]: e for e in events if e["ph"] == "e"}
    assert begins and begins.keys() == ends.keys()
    assert all(ends[i]["ts"] >= begins[i]["ts"] for i in begins)
    assert {e["cat"] for e in begins.values()} == {"irql.passive", "irql.dispatch"}
    instants = [e for e in events if e["ph"] == "i"]
    assert any("irql.wait_in_dpc" in e["name"] and e["tid"] == 1 for e in instants)
    names = {(e["name"], e["args"]["name"]) for e in events if e["ph"] == "M"}
    assert ("process_name", "zoo") in names and ("thread_name", "CPU 1") in names
    json.dumps(events)  # plain JSON all the way down


def test_downsampling_keeps_extremes() -> None:
    samples = [(t, float(t % 1000)) for t in range(100_000)]
    samples[54_321] = (54_321, 1e9)
    points = downsample(samples, 100_000)
    assert len(points) <= 1000
    assert (54_321, 1e9) in points and points == sorted(points)
