"""What ran where and when: execution slices per CPU and instant markers, from a trace.

Both the report's SVG timeline and the Perfetto export draw from this one model:

* a :class:`Slice` is a stretch of time a context spent on a CPU: opened by ``ctx.start`` (or
  by the first record a resumed context emits on a CPU), closed by ``ctx.end``, by ``ctx.block``
  (the thread left the CPU to wait) or by the end of the trace. Its IRQL is the context's entry
  IRQL (DPCs run at DISPATCH_LEVEL, threads and work items at PASSIVE_LEVEL); the driver
  callbacks entered inside it (``wsk.callback.enter``) are listed on it;
* a :class:`Marker` is an instant worth seeing: a violation, a bug check, a call that returned a
  status (``call.return``, e.g. a disable request and its STATUS_EVENT_PENDING), an event
  disable, a peer's action.

Slices nest per CPU (a DPC interrupts the thread below it): ``depth`` is the stack position.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.patterns import CALLBACK_EVENTS, record_fields
from harness.units import format_duration

Record = tuple[Any, ...]

PASSIVE, DISPATCH = 0, 2
IRQL_NAMES_SHORT = {PASSIVE: "passive", DISPATCH: "dispatch"}
_KIND_IRQL = {"dpc": DISPATCH, "thread": PASSIVE, "workitem": PASSIVE, "user": PASSIVE}

# Instants drawn on the timeline, first matching glob wins: (glob, marker kind).
MARKER_EVENTS: tuple[tuple[str, str], ...] = (
    ("violation", "violation"),
    ("bugcheck", "bugcheck"),
    ("call.return", "call"),
    ("*disable*", "disable"),
    ("wsk.event.enable", "enable"),
    ("wsk.peer.*", "peer"),
    ("wsk.close*", "close"),
    ("driver.entry", "driver"),
    ("driver.unload", "driver"),
)


@dataclass(slots=True)
class Slice:
    cpu: int
    ctx: int
    kind: str
    name: str
    start_ns: int
    end_ns: int = -1
    depth: int = 0
    irql: int = PASSIVE
    callbacks: list[str] = field(default_factory=list)
    ended_by: str = "end"  # end | block | trace end

    @property
    def label(self) -> str:
        return ", ".join(dict.fromkeys(self.callbacks)) or self.name


@dataclass(frozen=True, slots=True)
class Marker:
    time_ns: int
    cpu: int
    kind: str
    event: str
    text: str


@dataclass(slots=True)
class Timeline:
    cpus: int
    end_ns: int
    slices: list[Slice]
    markers: list[Marker]
    dropped_slices: int = 0
    dropped_markers: int = 0
    start_ns: int = 0
    axis: str = "time"  # "time": virtual ns; "order": trace record numbers
    caption: str = ""


def marker_kind(event: str) -> str | None:
    for pattern, kind in MARKER_EVENTS:
        if fnmatch.fnmatchcase(event, pattern):
            return kind
    return None


# Calls whose every return is worth a marker: enabling and disabling callbacks. Other calls are
# marked only when they fail (a WskSend returning STATUS_PENDING is the normal case, and many).
MARKED_CALLS = frozenset({"WskControlSocket", "WskControlClient"})


def _worth_marking(record: Record) -> bool:
    fields = record_fields(record)
    if not fields or str(fields[0]) in MARKED_CALLS:
        return True
    status = fields[1] if len(fields) > 1 else None
    return isinstance(status, int) and (int(status) & 0xFFFFFFFF) >= 0xC0000000


def _describe(record: Record) -> str:
    from harness.patterns import status_label
    from mock_wsk.status import status_name

    fields = record_fields(record)
    parts = []
    for value in fields:
        if isinstance(value, int) and not isinstance(value, bool) and type(value) is not int:
            parts.append(status_name(value))  # an NTSTATUS enum member
        else:
            parts.append(str(value))
    if record[3] == "call.return" and len(fields) >= 2 and isinstance(fields[1], int):
        parts[1] = status_label(fields[1])
    return f"{record[3]} " + " ".join(parts)


def build_timeline(trace: Sequence[Record], cpus: int, end_ns: int,
                   max_slices: int = 5000, max_markers: int = 2000) -> Timeline:
    """Slices and markers of a trace; beyond the caps, the rest is counted, not kept."""
    slices: list[Slice] = []
    markers: list[Marker] = []
    open_by_ctx: dict[int, Slice] = {}
    stacks: dict[int, list[Slice]] = {}
    known: dict[int, tuple[str, str]] = {}  # ctx -> (kind, name), for resumed threads
    dropped_slices = dropped_markers = 0

    def open_slice(cpu: int, ctx: int, kind: str, name: str, t: int) -> None:
        nonlocal dropped_slices
        stack = stacks.setdefault(cpu, [])
        piece = Slice(cpu, ctx, kind, name, t, depth=len(stack), irql=_KIND_IRQL.get(kind, 0))
        stack.append(piece)
        open_by_ctx[ctx] = piece
        if len(slices) < max_slices:
            slices.append(piece)
        else:
            dropped_slices += 1

    def close_slice(ctx: int, t: int, how: str) -> None:
        piece = open_by_ctx.pop(ctx, None)
        if piece is None:
            return
        piece.end_ns = t
        piece.ended_by = how
        stack = stacks.get(piece.cpu, [])
        if piece in stack:
            stack.remove(piece)

    for record in trace:
        t, cpu, ctx, event = record[0], record[1], record[2], record[3]
        if event == "ctx.start":
            fields = record_fields(record)
            kind, name = (str(fields[0]), str(fields[1])) if len(fields) >= 2 else ("?", "?")
            known[ctx] = (kind, name)
            close_slice(ctx, t, "end")  # a reused context id (inline DPCs) starts afresh
            if cpu >= 0:
                open_slice(cpu, ctx, kind, name, t)
            continue
        if event == "ctx.end":
            close_slice(ctx, t, "end")
            continue
        if event == "ctx.block":
            close_slice(record[4][0] if record[4] else ctx, t, "block")
            continue
        if ctx and cpu >= 0 and ctx not in open_by_ctx and ctx in known:
            kind, name = known[ctx]
            open_slice(cpu, ctx, kind, name, t)  # a thread resumed after a wait
        if event in CALLBACK_EVENTS and ctx in open_by_ctx and record[4]:
            open_by_ctx[ctx].callbacks.append(str(record[4][0]))
        marker = marker_kind(event)
        if marker == "call" and not _worth_marking(record):
            marker = None
        if marker is not None:
            if len(markers) < max_markers:
                markers.append(Marker(t, cpu, marker, event, _describe(record)))
            else:
                dropped_markers += 1
    for ctx in list(open_by_ctx):
        close_slice(ctx, end_ns, "trace end")
    last = max([end_ns, *(s.end_ns for s in slices)], default=end_ns)
    return Timeline(cpus, last, slices, markers, dropped_slices, dropped_markers)


def order_timeline(trace: Sequence[Record], cpus: int, focus: int, before: int = 40,
                   after: int = 20) -> Timeline:
    """The records around ``trace[focus]`` with trace order as the x axis.

    Driver code runs in zero virtual time, so a race often happens within one nanosecond: in
    virtual time its slices have no width. In trace order every record has its own place, and
    the interleaving of CPUs (who entered, who disabled, who touched what) is visible.
    """
    lo = max(0, focus - before)
    hi = min(len(trace), focus + after + 1)
    first = max(0, lo - 2000)  # some history, so contexts running at `lo` are known
    logical = [(first + i, r[1], r[2], r[3], r[4]) for i, r in enumerate(trace[first:hi])]
    full = build_timeline(logical, cpus, hi - 1)
    slices = []
    for piece in full.slices:
        if piece.end_ns >= lo and piece.start_ns <= hi - 1:
            piece.start_ns = max(piece.start_ns, lo)
            piece.end_ns = min(piece.end_ns, hi - 1)
            slices.append(piece)
    markers = [m for m in full.markers if lo <= m.time_ns <= hi - 1]
    t0, t1 = trace[lo][0], trace[hi - 1][0]
    return Timeline(cpus, hi - 1, slices, markers, start_ns=lo, axis="order",
                    caption=f"records {lo}..{hi - 1} in trace order "
                    f"(virtual time {format_duration(t0)} .. {format_duration(t1)})")
