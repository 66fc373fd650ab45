"""Shrinking a failing schedule, and telling it as a story.

A schedule is the machine's decision list. Shrinking keeps a candidate only while the *same* bug
(rule id and stub file:line) still happens, and only when it is smaller - fewer non-default
answers (each one a preemption, another CPU, another IRQL, a pended completion), then fewer
decisions:

1. truncate the tail (past its end a replay answers 0, the uneventful choice), by bisection;
2. delta debugging over the non-zero answers: set chunks of them to 0 ("no preemption here"),
   halving the chunk size down to single answers.

A candidate is replayed leniently (an answer that no longer fits the question becomes 0), and the
decisions the machine actually recorded become the new schedule, so the result always replays
exactly with :class:`mock_wsk.scheduling.ReplayStrategy`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mock_wsk.constants import DISPATCH_LEVEL, PASSIVE_LEVEL
from mock_wsk.kernel.pool import tag_text
from mock_wsk.scheduling import Decision, Strategy
from mock_wsk.status import status_name

if TYPE_CHECKING:
    from harness.explore import BugKey, ScheduleRunner


class LenientReplay(Strategy):
    """Answers recorded choices while they fit the question asked; 0 otherwise and past the end."""

    name = "replay"
    preemptive = True

    def __init__(self, decisions: Sequence[Decision]) -> None:
        self.decisions = decisions
        self._index = 0

    def choose(self, kind: str, options: Sequence[Hashable]) -> int:
        i = self._index
        self._index = i + 1
        if i < len(self.decisions):
            d = self.decisions[i]
            if d.kind == kind and d.options == len(options):
                return d.choice
        return 0


@dataclass(slots=True)
class ShrinkResult:
    decisions: list[Decision]
    runs: int
    reproduced: bool  # False: the original schedule itself did not reproduce (kept as is)


def _size(decisions: Sequence[Decision]) -> tuple[int, int]:
    return (sum(d.choice != 0 for d in decisions), len(decisions))


def shrink(runner: ScheduleRunner, seed: int, decisions: Sequence[Decision], key: BugKey,
           budget: int = 300) -> ShrinkResult:
    """The smallest schedule found within ``budget`` runs that still shows bug ``key``."""
    from harness.explore import trim

    runs = 0

    def attempt(candidate: Sequence[Decision]) -> list[Decision] | None:
        nonlocal runs
        runs += 1
        run = runner.run(LenientReplay(candidate), seed)
        if any((rule, where) == key for rule, where, _ in runner.bugs(run.machine)):
            return trim(run.machine.decisions)
        return None

    best = attempt(decisions)
    if best is None:
        return ShrinkResult(trim(decisions), runs, False)

    # 1. The shortest prefix that still fails (bisection; failure is not monotone in the
    #    length, so a longer prefix is the fallback, never a wrong answer).
    lo, hi = 0, len(best)
    while lo < hi and runs < budget:
        mid = (lo + hi) // 2
        got = attempt(best[:mid])
        if got is not None and _size(got) <= _size(best):
            best = got
            hi = min(mid, len(best))
        else:
            lo = mid + 1

    # 2. ddmin over the non-zero answers.
    chunk = max(1, sum(d.choice != 0 for d in best) // 2)
    while runs < budget:
        nonzero = [i for i, d in enumerate(best) if d.choice != 0]
        if not nonzero:
            break
        chunk = min(chunk, len(nonzero))
        improved = False
        for start in range(0, len(nonzero), chunk):
            if runs >= budget:
                break
            zeroed = set(nonzero[start:start + chunk])
            candidate = [Decision(d.kind, d.options, 0) if i in zeroed else d
                         for i, d in enumerate(best)]
            got = attempt(candidate)
            if got is not None and _size(got) < _size(best):
                best = got
                improved = True
                break
        if not improved:
            if chunk == 1:
                break
            chunk = max(1, chunk // 2)
    return ShrinkResult(best, runs, True)


# ---------------------------------------------------------------------- the story

_IRQL = {PASSIVE_LEVEL: "PASSIVE", 1: "APC", DISPATCH_LEVEL: "DISPATCH"}
# Trace events a story leaves out: bookkeeping that does not change who runs or what is shared.
_QUIET = {"ctx.create"}


def _ns(t: int) -> str:
    if t % 1_000_000 == 0:
        return f"{t // 1_000_000}ms"
    if t % 1_000 == 0:
        return f"{t / 1_000_000:.3f}ms"
    return f"{t}ns"


def _what(event: str, detail: tuple[Any, ...]) -> str:
    args = ", ".join(str(a) for a in detail)
    if event == "ctx.start":
        return "starts"
    if event == "ctx.end":
        return "returns"
    if event == "ctx.block":
        return "waits"
    if event == "ctx.wake":
        return f"wakes {detail[0]}" if detail else "wakes a thread"
    if event == "timer.expire":
        if len(detail) >= 3 and detail[1] is not None:
            return f"timer {detail[0]} expires, queues DPC {detail[1]} on cpu{detail[2]}"
        return f"timer {detail[0]} expires" if detail else "a timer expires"
    if event == "driver.entry" and len(detail) >= 2:
        return f"DriverEntry returns {status_name(detail[1])}"
    if event in ("pool.alloc", "irp.alloc") and detail:
        what = "pool block" if event == "pool.alloc" else "IRP"
        return f"allocates {what} #{detail[0]}"
    if event == "pool.fail" and len(detail) >= 2:  # injected: fail_allocations
        return f"allocation of {detail[1]} bytes ('{tag_text(detail[0])}') fails: NULL"
    if event == "pool.free" and detail:
        return f"frees pool block #{detail[0]}"
    if event == "irp.free" and detail:
        return f"IoFreeIrp(IRP #{detail[0]})"
    if event == "ctx.stall" and detail:
        return f"busy-waits {detail[-1] // 1000} us"
    if event == "ctx.spin":
        return f"spins on {detail[-1] if detail else 'a lock'}"
    if event == "dpc.queue":
        return f"queues DPC {detail[0]} on cpu{detail[1]}" if len(detail) >= 2 else "queues DPC"
    if event == "event.set":
        return f"KeSetEvent({args})"
    if event == "irp.cancel":
        return f"IoCancelIrp(IRP #{detail[0]})" if detail else "IoCancelIrp"
    if event == "irp.complete":
        return f"completes IRP ({args})"
    if event == "wsk.callback":
        return f"enters {args}"
    return f"{event}({args})"


def story_lines(trace: Sequence[tuple[Any, ...]], violations: Sequence[Any],
                key: BugKey | None = None) -> list[str]:
    """One line per step: ``t=1ms cpu1 dpc#7 (TickDpc) DISPATCH: starts``; the bug's
    violation spelled out with its rule and stub line. Ends at the bug (what follows it is
    aftermath)."""
    names: dict[int, str] = {}
    kinds: dict[int, str] = {}
    for record in trace:
        if record[3] in ("ctx.create", "ctx.start") and len(record[4]) >= 2:
            detail = record[4]
            if record[3] == "ctx.create":
                kinds[detail[0]] = str(detail[1])
                names[detail[0]] = str(detail[2])
            else:
                kinds.setdefault(record[2], str(detail[-2]))
                names.setdefault(record[2], str(detail[-1]))
    pending = list(violations)
    lines = []
    last_who = None
    last_cpu: dict[int, int] = {}
    for t, cpu, ctx, event, detail in trace:
        if event in _QUIET:
            continue
        if cpu >= 0 and ctx:
            last_cpu[ctx] = cpu
        elif ctx:
            cpu = last_cpu.get(ctx, cpu)  # a waiting context has left its CPU already
        if event == "ctx.wake" and detail:
            woken = detail[0]
            detail = (f"{kinds.get(woken, 'ctx')}#{woken} ({names.get(woken, '?')})",)
        if ctx:
            kind = kinds.get(ctx, "ctx")
            irql = _IRQL[DISPATCH_LEVEL] if kind == "dpc" else _IRQL[PASSIVE_LEVEL]
            who = f"cpu{cpu} {kind}#{ctx} ({names.get(ctx, '?')}) {irql}"
        else:
            who = "machine" if cpu < 0 else f"cpu{cpu} system"
        if event == "violation":
            violation = pending.pop(0) if pending else None
            rule = detail[0] if detail else "?"
            where = ""
            if violation is not None and violation.location is not None:
                where = f" at {violation.location.file}:{violation.location.line}"
                irql = _IRQL.get(violation.irql, str(violation.irql))
                if ctx:
                    who = who.rsplit(" ", 1)[0] + f" {irql}"
            text = f"!! {rule}{where}: {detail[1] if len(detail) > 1 else ''}"
            lines.append(f"t={_ns(t)} {who}: {text}")
            if key is not None and violation is not None and violation.location is not None \
                    and (rule, f"{violation.location.file}:{violation.location.line}") == key:
                break
            continue
        marker = "  " if who == last_who else "> "
        last_who = who
        lines.append(f"t={_ns(t)} {marker}{who}: {_what(event, detail)}")
    return lines


def story_of(runner: ScheduleRunner, seed: int, decisions: Sequence[Decision],
             key: BugKey | None = None) -> str:
    """Replay ``decisions`` with trace on and tell what happened, up to the bug."""
    run = runner.run(LenientReplay(decisions), seed, trace=True)
    m = run.machine
    head = (f"{runner.scenario.name}: seed {seed}, {len(decisions)} decisions "
            f"({sum(d.choice != 0 for d in decisions)} non-default), {len(m.cpus)} CPUs")
    return "\n".join([head, *story_lines(m.trace or [], m.violations, key)])
