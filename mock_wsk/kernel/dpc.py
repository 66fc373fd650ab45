"""DPCs and timers: KeInitializeDpc, KeInsertQueueDpc, KeSetTimer(Ex), KeCancelTimer...

A DPC runs at DISPATCH_LEVEL on the CPU it was queued on (the current one, or the target set with
KeSetTargetProcessorDpc). A timer expiring at a virtual time signals its waiters and queues its
DPC on a CPU chosen at the decision point (the CPU that set it comes first: the natural choice).
"""

from __future__ import annotations

from heapq import heappush
from typing import Any

from mock_wsk import machine as _machine
from mock_wsk.constants import DISPATCH_LEVEL, PASSIVE_LEVEL
from mock_wsk.kernel.irql import check_max_irql
from mock_wsk.kernel.sync import (
    DispatcherObject,
    NotificationTimer,
    SynchronizationTimer,
    yield_until_quiescent,
)
from mock_wsk.kernel.types import quad
from mock_wsk.machine import KDPC


def KeInitializeDpc(Dpc: KDPC, DeferredRoutine: Any, DeferredContext: Any) -> None:
    m = _machine.active_machine()
    if Dpc.inserted:
        m.report("timer.freed_while_set", f"KeInitializeDpc on queued DPC {Dpc.name}")
    Dpc.DeferredRoutine = DeferredRoutine
    Dpc.DeferredContext = DeferredContext
    Dpc.inserted = False
    if not Dpc.name:
        Dpc.name = getattr(DeferredRoutine, "__name__", "dpc")


def KeSetTargetProcessorDpc(Dpc: KDPC, Number: int) -> None:
    Dpc.Number = Number


def KeInsertQueueDpc(Dpc: KDPC, SystemArgument1: Any, SystemArgument2: Any) -> bool:
    m = _machine.active_machine()
    m.preemption_point()
    ctx = m.current
    here = ctx.cpu.index if ctx is not None and ctx.cpu is not None else 0
    target = Dpc.Number if Dpc.Number is not None else here
    return m.queue_dpc(target % len(m.cpus), Dpc, SystemArgument1, SystemArgument2)


def KeRemoveQueueDpc(Dpc: KDPC) -> bool:
    m = _machine.active_machine()
    m.preemption_point()
    if not Dpc.inserted:
        return False
    for cpu in m.cpus:
        for entry in list(cpu.dpcs):
            if entry[0] is Dpc:
                cpu.dpcs.remove(entry)
    Dpc.inserted = False
    return True


def KeFlushQueuedDpcs() -> None:
    """Returns after every DPC queued at the time of the call has run (PASSIVE_LEVEL only)."""
    m = _machine.active_machine()
    m.preemption_point()
    if not check_max_irql(m, "KeFlushQueuedDpcs", PASSIVE_LEVEL):
        return
    while any(cpu.dpcs for cpu in m.cpus):
        yield_until_quiescent(m)


class KTIMER(DispatcherObject):
    """``KTIMER``; initialise with KeInitializeTimer or KeInitializeTimerEx."""

    __slots__ = ("Type", "signaled", "due", "period_ns", "dpc", "armed_seq", "generation",
                 "home_cpu", "event_seq")

    def __init__(self, name: str = "timer") -> None:
        super().__init__(name)
        self.Type = NotificationTimer
        self.signaled = False
        self.due: int | None = None
        self.period_ns = 0
        self.dpc: KDPC | None = None
        self.armed_seq = -1  # the generation of the pending expiry; -1 when not set
        self.generation = 0
        self.home_cpu = 0
        self.event_seq = -1  # the machine's entry for the pending expiry (see cancel_call)

    def is_signaled(self) -> bool:
        return self.signaled

    def consume(self) -> None:
        if self.Type == SynchronizationTimer:
            self.signaled = False

    def _expire(self, generation: int) -> None:
        if generation != self.armed_seq:
            return  # cancelled or re-armed since
        m = _machine.active
        assert m is not None
        self.signaled = True
        trace = m.trace
        if trace is not None:
            trace.append((m.now, -1, 0, "timer.expire", (self.name,)))
        if self.waiters:
            self.signal_waiters(m)
        if self.period_ns:
            self.due = m.now + self.period_ns
            self.armed_seq = self.generation = self.generation + 1
            self.event_seq = m.call_at(self.due, self._expire, self.armed_seq)
        else:
            self.due = None
            self.armed_seq = -1
        dpc = self.dpc
        if dpc is not None:
            if dpc.Number is not None:
                cpu = dpc.Number % len(m.cpus)
            elif m._trivial or len(m.cpus) == 1:
                cpu = self.home_cpu
            else:
                order = [self.home_cpu] + [c.index for c in m.cpus if c.index != self.home_cpu]
                cpu = order[m.decide("cpu", order)]
            m.queue_dpc(cpu, dpc)


def KeInitializeTimer(Timer: KTIMER) -> None:
    KeInitializeTimerEx(Timer, NotificationTimer)


def KeInitializeTimerEx(Timer: KTIMER, Type: int) -> None:
    m = _machine.active_machine()
    if Timer.due is not None:
        m.report("timer.freed_while_set", f"KeInitializeTimer on set timer {Timer.name}")
    if Timer.due is not None:
        m.cancel_call(Timer.event_seq)
    Timer.Type = Type
    Timer.signaled = False
    Timer.due = None
    Timer.armed_seq = -1
    Timer.waiters.clear()


def KeSetTimerEx(Timer: KTIMER, DueTime: Any, Period: int, Dpc: KDPC | None) -> bool:
    """DueTime in 100 ns units (negative: relative); Period in milliseconds (0: one-shot)."""
    return _arm(Timer, DueTime, Period * 1_000_000, Dpc)


def KeSetTimer(Timer: KTIMER, DueTime: Any, Dpc: KDPC | None) -> bool:
    return _arm(Timer, DueTime, 0, Dpc)


def _arm(Timer: KTIMER, DueTime: Any, period_ns: int, Dpc: KDPC | None) -> bool:
    # Hot path (a periodic driver timer re-arms on every tick): kept free of helper calls.
    m = _machine.active or _machine.active_machine()
    ctx = m.current
    if m.preemptive or ctx is None or ctx.irql < DISPATCH_LEVEL:
        m.preemption_point()
        ctx = m.current
        assert ctx is not None
    else:
        # Fifo at DISPATCH_LEVEL (a DPC re-arming its timer): the preemption point only counts
        # the step, so count it here.
        steps = m.steps = m.steps + 1
        if steps > m.step_budget:
            m.preemption_point()
    if ctx.irql > DISPATCH_LEVEL:
        check_max_irql(m, "KeSetTimer", DISPATCH_LEVEL)
    was_set = Timer.due is not None
    if was_set:  # re-set while pending: the old expiry is withdrawn
        m._cancelled.add(Timer.event_seq)
    due_100ns = DueTime if type(DueTime) is int else (quad(DueTime) or 0)
    now = m.now
    if due_100ns < 0:
        due = now - due_100ns * 100
    else:
        due = due_100ns * 100
        if due < now:
            due = now
    cpu = ctx.cpu
    Timer.home_cpu = cpu.index if cpu is not None else 0
    Timer.signaled = False
    Timer.due = due
    Timer.period_ns = period_ns
    Timer.dpc = Dpc
    generation = Timer.armed_seq = Timer.generation = Timer.generation + 1
    seq = Timer.event_seq = m._seq  # m.call_at(due, Timer._expire, generation), inlined
    m._seq = seq + 1
    heappush(m._events, (due, seq, Timer._expire, (generation,)))
    return was_set


def KeCancelTimer(Timer: KTIMER) -> bool:
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "KeCancelTimer", DISPATCH_LEVEL)
    was_set = Timer.due is not None
    if was_set:
        m.cancel_call(Timer.event_seq)
    Timer.due = None
    Timer.armed_seq = -1
    return was_set


def KeReadStateTimer(Timer: KTIMER) -> bool:
    _machine.active_machine().preemption_point()
    return Timer.signaled
