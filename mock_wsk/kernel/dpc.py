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

    __slots__ = ("Type", "signaled", "due", "period_ns", "dpc", "home_cpu", "event_seq",
                 "expiry")

    def __init__(self, name: str = "timer") -> None:
        super().__init__(name)
        self.Type = NotificationTimer
        self.signaled = False
        self.due: int | None = None
        self.period_ns = 0
        self.dpc: KDPC | None = None
        self.home_cpu = 0
        # The machine's sequence number of the pending expiry (-1 when not set): re-setting or
        # cancelling the timer withdraws that entry (Machine.cancel_call), so it never runs.
        self.event_seq = -1
        # The arguments of every expiry entry (_expire_timer(self)), made once.
        self.expiry = (self,)

    def is_signaled(self) -> bool:
        return self.signaled

    def consume(self) -> None:
        if self.Type == SynchronizationTimer:
            self.signaled = False


def _expire_timer(timer: KTIMER) -> None:
    """A timer's due time has come (the machine's system context runs this): signal its
    waiters, re-arm a periodic timer and queue its DPC.

    One trace record tells it all: ``timer.expire (name, dpc, cpu)``, ``dpc`` and ``cpu`` being
    the DPC this expiry queued and where (``None, -1`` when it queued none: no DPC, or the DPC
    was still queued). It is the hot path of every periodic driver timer, so the machine's
    ``queue_dpc`` is inlined (the system context never takes a DPC inline, which is all that
    ``queue_dpc`` adds here) and the expiry entry is a plain function with its arguments (no
    bound method to create per arming). An entry withdrawn since it was pushed (the timer was
    cancelled or re-set) never gets here: the machine skips it."""
    m = _machine.active
    assert m is not None
    timer.signaled = True
    trace = m.trace
    slot = -1
    if timer.waiters:
        if trace is not None:
            # The record goes before the wakes it causes; its DPC fields are known only after
            # them (the woken threads' CPUs are chosen first), so it is completed below.
            slot = len(trace)
            trace.append((m.now, -1, 0, "timer.expire", (timer.name, None, -1)))
        timer.signal_waiters(m)
    period_ns = timer.period_ns
    if period_ns:
        due = timer.due = m.now + period_ns
        seq = timer.event_seq = m._seq  # m.call_at(due, _expire_timer, timer), inlined
        m._seq = seq + 1
        heappush(m._events, (due, seq, _expire_timer, timer.expiry))
    else:
        timer.due = None
        timer.event_seq = -1
    dpc = timer.dpc
    queued: str | None = None
    cpu = -1
    if dpc is not None:
        if dpc.Number is not None:
            cpu = dpc.Number % len(m.cpus)
        elif m._trivial or len(m.cpus) == 1:
            cpu = timer.home_cpu
        else:
            order = [timer.home_cpu] + [c.index for c in m.cpus if c.index != timer.home_cpu]
            cpu = order[m.decide("cpu", order)]
        if dpc.inserted:
            cpu = -1  # still queued from an earlier expiry: KeInsertQueueDpc's FALSE
        else:
            dpc.inserted = True
            m.cpus[cpu].dpcs.append((dpc, None, None))
            queued = dpc.name
    if trace is not None:
        if slot < 0:
            trace.append((m.now, -1, 0, "timer.expire", (timer.name, queued, cpu)))
        elif queued is not None:
            trace[slot] = (m.now, -1, 0, "timer.expire", (timer.name, queued, cpu))


def KeInitializeTimer(Timer: KTIMER) -> None:
    KeInitializeTimerEx(Timer, NotificationTimer)


def KeInitializeTimerEx(Timer: KTIMER, Type: int) -> None:
    m = _machine.active_machine()
    if Timer.due is not None:
        m.report("timer.freed_while_set", f"KeInitializeTimer on set timer {Timer.name}")
        m.cancel_call(Timer.event_seq)
    Timer.Type = Type
    Timer.signaled = False
    Timer.due = None
    Timer.event_seq = -1
    Timer.waiters.clear()


def KeSetTimerEx(Timer: KTIMER, DueTime: Any, Period: int, Dpc: KDPC | None) -> bool:
    """DueTime in 100 ns units (negative: relative); Period in milliseconds (0: one-shot)."""
    was_set = KeSetTimer(Timer, DueTime, Dpc)
    # Nothing runs between the arming and this (the preemption point is KeSetTimer's first
    # step), and the period is first read when the timer expires.
    Timer.period_ns = Period * 1_000_000
    return was_set


def KeSetTimer(Timer: KTIMER, DueTime: Any, Dpc: KDPC | None) -> bool:
    """DueTime in 100 ns units (negative: relative). Returns whether the timer was set.

    The hot path of a periodic driver timer (its DPC re-arms it on every tick), so it is kept
    free of helper calls: the machine's ``call_at`` and, in fifo mode at DISPATCH_LEVEL, its
    preemption point (which would only count the step) are inlined."""
    m = _machine.active or _machine.active_machine()
    ctx = m.current
    if m.preemptive or ctx is None or ctx.irql != DISPATCH_LEVEL:
        m.preemption_point()
        ctx = m.current
        assert ctx is not None
        if ctx.irql > DISPATCH_LEVEL:
            check_max_irql(m, "KeSetTimer", DISPATCH_LEVEL)
    else:
        steps = m.steps = m.steps + 1
        if steps > m.step_budget:
            m.preemption_point()
    was_set = Timer.due is not None
    if was_set:  # re-set while pending: the old expiry is withdrawn
        m._cancelled.add(Timer.event_seq)
    due = DueTime if type(DueTime) is int else (quad(DueTime) or 0)
    now = m.now
    if due < 0:
        due = now - due * 100
    else:
        due *= 100
        if due < now:
            due = now
    cpu = ctx.cpu
    Timer.home_cpu = cpu.index if cpu is not None else 0
    Timer.signaled = False
    Timer.due = due
    Timer.period_ns = 0
    Timer.dpc = Dpc
    seq = Timer.event_seq = m._seq  # m.call_at(due, _expire_timer, Timer), inlined
    m._seq = seq + 1
    heappush(m._events, (due, seq, _expire_timer, Timer.expiry))
    return was_set


def KeCancelTimer(Timer: KTIMER) -> bool:
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "KeCancelTimer", DISPATCH_LEVEL)
    was_set = Timer.due is not None
    if was_set:
        m.cancel_call(Timer.event_seq)
    Timer.due = None
    Timer.event_seq = -1
    return was_set


def KeReadStateTimer(Timer: KTIMER) -> bool:
    _machine.active_machine().preemption_point()
    return Timer.signaled
