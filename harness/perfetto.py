"""Chrome / Perfetto trace JSON: open it in https://ui.perfetto.dev or chrome://tracing.

One process per scenario (``pid``), one thread per CPU (``tid`` = CPU + 1; tid 0 is the
machine's own lane). Each execution slice is a nestable *async* slice (``ph`` ``b``/``e`` with an
``id``), so a callback in progress on CPU 1 and a disable request on CPU 0 show as overlapping
slices instead of a broken stack; violations and other markers are instants (``ph`` ``i``).
Timestamps are microseconds (fractions keep nanosecond precision). Output is deterministic: the
same runs give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import IO, Any

from harness.timeline import IRQL_NAMES_SHORT, Timeline


def _us(ns: int) -> float:
    return ns / 1000


def trace_events(timelines: Sequence[tuple[str, Timeline]]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for index, (name, timeline) in enumerate(timelines):
        pid = index + 1
        events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                       "args": {"name": name}})
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": 0,
                       "args": {"name": "machine"}})
        for cpu in range(timeline.cpus):
            events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": cpu + 1,
                           "args": {"name": f"CPU {cpu}"}})
        for serial, piece in enumerate(timeline.slices):
            common = {"cat": f"irql.{IRQL_NAMES_SHORT.get(piece.irql, piece.irql)}",
                      "name": piece.label, "pid": pid, "tid": piece.cpu + 1,
                      "id": f"{pid}.{serial}"}
            events.append({**common, "ph": "b", "ts": _us(piece.start_ns),
                           "args": {"context": f"{piece.kind}#{piece.ctx} ({piece.name})",
                                    "cpu": piece.cpu, "irql": piece.irql,
                                    "callbacks": list(piece.callbacks)}})
            events.append({**common, "ph": "e", "ts": _us(piece.end_ns),
                           "args": {"ended_by": piece.ended_by}})
        for marker in timeline.markers:
            events.append({"ph": "i", "s": "t", "name": marker.text[:120], "cat": marker.kind,
                           "pid": pid, "tid": marker.cpu + 1 if marker.cpu >= 0 else 0,
                           "ts": _us(marker.time_ns), "args": {"event": marker.event}})
    return events


def write_perfetto(timelines: Iterable[tuple[str, Timeline]], out: IO[str]) -> None:
    document = {"traceEvents": trace_events(list(timelines)), "displayTimeUnit": "ns"}
    json.dump(document, out, separators=(",", ":"))
    out.write("\n")
