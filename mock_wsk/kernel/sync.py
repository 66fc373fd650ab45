"""Dispatcher objects and synchronisation DDIs: KEVENT, waits, delays, spin locks, Interlocked*.

A wait is a real state of the machine: the waiting thread leaves its CPU and other contexts run
until the object is signalled or the timeout (virtual time) expires. Spin-lock contention is real
too: a contender spins on its CPU at DISPATCH_LEVEL until the holder, on another CPU, releases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mock_wsk import machine as _machine
from mock_wsk.constants import APC_LEVEL, DISPATCH_LEVEL
from mock_wsk.fidelity import choose, cite
from mock_wsk.kernel import choices as _choices  # noqa: F401  (defines the choices used here)
from mock_wsk.kernel import rules as _rules  # noqa: F401  (registers the rules used here)
from mock_wsk.kernel.irql import check_max_irql, set_irql
from mock_wsk.kernel.types import quad, store, value_of
from mock_wsk.machine import KIND_DPC, Machine
from mock_wsk.status import STATUS_SUCCESS, STATUS_TIMEOUT

# Values of the WDK enumerations (ntdef.h / wdm.h): EVENT_TYPE, WAIT_TYPE, KWAIT_REASON,
# KPROCESSOR_MODE. STATUS_WAIT_0 is 0 (ntstatus.h); IO_NO_INCREMENT is 0 (wdm.h).
NotificationEvent = 0
SynchronizationEvent = 1
NotificationTimer = 0
SynchronizationTimer = 1
WaitAll = 0
WaitAny = 1
Executive = 0
UserRequest = 6
KernelMode = 0
UserMode = 1
STATUS_WAIT_0 = 0
IO_NO_INCREMENT = 0
MAXIMUM_WAIT_OBJECTS = 64
TRUE = True
FALSE = False

# How long a context may stall at DISPATCH_LEVEL before the DPC watchdog complains.
DPC_STALL_WARNING_NS: int = choose("kernel.dpc_watchdog_ns")


class DispatcherObject:
    """Anything a thread can wait on. Subclasses say when they are signalled for a waiter and
    what satisfying a wait does to them (a synchronization event resets itself)."""

    __slots__ = ("waiters", "name")

    def __init__(self, name: str) -> None:
        self.waiters: list[WaitBlock] = []
        self.name = name

    def is_signaled(self) -> bool:
        raise NotImplementedError  # pragma: no cover - abstract

    def consume(self) -> None:
        """Called when a wait on this object is satisfied."""

    def signal_waiters(self, m: Machine) -> None:
        """Satisfy every wait that this object's new state allows, first come first served."""
        for block in list(self.waiters):
            if not self.is_signaled():
                break
            block.try_satisfy(m)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} signaled={self.is_signaled()}>"


class WaitBlock:
    """One thread's outstanding wait on one or more objects."""

    __slots__ = ("ctx", "objects", "wait_all", "done", "deadline", "timeout_seq")

    def __init__(self, ctx: _machine.Context, objects: Sequence[DispatcherObject],
                 wait_all: bool, deadline: int | None) -> None:
        self.ctx = ctx
        self.objects = list(objects)
        self.wait_all = wait_all
        self.done = False
        self.deadline = deadline
        self.timeout_seq: int | None = None  # the pending timeout entry, if any

    def try_satisfy(self, m: Machine) -> None:
        if self.done:
            return
        status = _take(self.objects, self.wait_all)
        if status is not None:
            self.finish(m, status)

    def finish(self, m: Machine, status: int) -> None:
        self.done = True
        for obj in self.objects:
            if self in obj.waiters:
                obj.waiters.remove(self)
        if self.timeout_seq is not None:  # satisfied before its timeout: withdraw it
            m.cancel_call(self.timeout_seq)
            self.timeout_seq = None
        m.wake(self.ctx, status)

    def on_timeout(self) -> None:
        self.timeout_seq = None  # it is running: nothing to withdraw
        if not self.done:
            self.finish(_machine.active_machine(), STATUS_TIMEOUT)

    def describe(self) -> str:
        names = ", ".join(o.name for o in self.objects)
        kind = "all of" if self.wait_all and len(self.objects) > 1 else ""
        timeout = "forever" if self.deadline is None else f"until t={self.deadline} ns"
        return f"{kind} {names} ({timeout})".strip()


def _take(objects: Sequence[DispatcherObject], wait_all: bool) -> int | None:
    """The status a wait on ``objects`` returns now, what satisfies it consumed (a
    synchronization event resets); None if it must keep waiting."""
    if wait_all:
        for obj in objects:
            if not obj.is_signaled():
                return None
        for obj in objects:
            obj.consume()
        return STATUS_WAIT_0
    for index, obj in enumerate(objects):
        if obj.is_signaled():
            obj.consume()
            return STATUS_WAIT_0 + index
    return None


def _deadline(m: Machine, timeout_100ns: int | None) -> int | None:
    if timeout_100ns is None:
        return None
    if timeout_100ns < 0:
        return m.now + (-timeout_100ns) * 100
    return timeout_100ns * 100  # absolute (fidelity: kernel.system_time_epoch)


def wait_for_objects(m: Machine, objects: Sequence[DispatcherObject], wait_all: bool,
                     timeout: Any, ddi: str) -> int:
    """The heart of KeWaitForSingleObject / KeWaitForMultipleObjects / KeDelayExecutionThread."""
    m.preemption_point()
    ctx = m.current
    assert ctx is not None
    coverage = m.coverage
    status = _take(objects, wait_all)  # already signalled: no block to build
    if status is not None:
        if coverage is not None:
            m.cover_here(coverage, "kernel", _kind_of(objects), "wait_satisfied")
        return status
    deadline = None if timeout is None else _deadline(m, quad(timeout))
    if deadline is not None and deadline <= m.now:
        if coverage is not None:
            m.cover_here(coverage, "kernel", _kind_of(objects), "wait_timeout_now")
        return STATUS_TIMEOUT
    if coverage is not None:
        m.cover_here(coverage, "kernel", _kind_of(objects), "wait_block")
    for hook in _wait_hooks:
        hook(m, ctx, objects, ddi)
    if ctx.kind is KIND_DPC:
        m.report("irql.wait_in_dpc", f"{ddi} with a non-zero timeout in a DPC",
                 objects={"waits_for": ", ".join(o.name for o in objects),
                          "status_chosen_by": cite("kernel.unblockable_wait_status")},
                 params=(ctx.irql, 0, 0))
        return choose("kernel.unblockable_wait_status")
    if ctx.irql > APC_LEVEL or ctx.glet is None:  # m.can_block(), of the context at hand
        m.report("irql.wait_above_apc", f"{ddi} with a non-zero timeout at IRQL {ctx.irql}",
                 objects={"waits_for": ", ".join(o.name for o in objects),
                          "status_chosen_by": cite("kernel.unblockable_wait_status")},
                 params=(ctx.irql, 0, 0))
        return choose("kernel.unblockable_wait_status")
    block = WaitBlock(ctx, objects, wait_all, deadline)
    for obj in objects:
        obj.waiters.append(block)
    ctx.wait = block
    if deadline is not None:
        block.timeout_seq = m.call_at(deadline, block.on_timeout)
    return m.block_current()


def _kind_of(objects: Sequence[DispatcherObject]) -> str:
    """The object kind a wait is on, for coverage: one type name, or "multiple"."""
    return type(objects[0]).__name__ if len(objects) == 1 else "multiple"


# Hooks called before a context blocks: the WSK provider uses one to catch a callback that waits
# (CONTRACTS B.9) without the kernel knowing about WSK.
_wait_hooks: list[Any] = []


def add_wait_hook(hook: Any) -> None:
    if hook not in _wait_hooks:
        _wait_hooks.append(hook)


# ---------------------------------------------------------------------- events


class KEVENT(DispatcherObject):
    """``KEVENT``; initialise it with KeInitializeEvent before use, as in C."""

    __slots__ = ("Type", "State")

    def __init__(self, name: str = "event") -> None:
        super().__init__(name)
        self.Type = NotificationEvent
        self.State = 0

    def is_signaled(self) -> bool:
        return self.State != 0

    def consume(self) -> None:
        if self.Type == SynchronizationEvent:
            self.State = 0


def KeInitializeEvent(Event: KEVENT, Type: int, State: bool) -> None:
    Event.Type = Type
    Event.State = 1 if State else 0
    Event.waiters.clear()


def KeSetEvent(Event: KEVENT, Increment: int, Wait: bool) -> int:
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "KeSetEvent", DISPATCH_LEVEL)
    previous = Event.State
    Event.State = 1
    if m.trace is not None:
        m.emit("event.set", Event.name)
    coverage = m.coverage
    if coverage is not None:
        m.cover_here(coverage, "kernel", "KEVENT",
                     "set_waiters" if Event.waiters else "set_signaled" if previous else "set")
    if Event.waiters:
        Event.signal_waiters(m)
    return previous


def KeResetEvent(Event: KEVENT) -> int:
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "KeResetEvent", DISPATCH_LEVEL)
    previous = Event.State
    Event.State = 0
    return previous


def KeClearEvent(Event: KEVENT) -> None:
    Event.State = 0


def KeReadStateEvent(Event: KEVENT) -> int:
    m = _machine.active_machine()
    m.preemption_point()
    return Event.State


def KeWaitForSingleObject(Object: DispatcherObject, WaitReason: int, WaitMode: int,
                          Alertable: bool, Timeout: Any) -> int:
    m = _machine.active_machine()
    return wait_for_objects(m, (Object,), False, Timeout, "KeWaitForSingleObject")


def KeWaitForMultipleObjects(Count: int, Object: Sequence[DispatcherObject], WaitType: int,
                             WaitReason: int, WaitMode: int, Alertable: bool, Timeout: Any,
                             WaitBlockArray: Any = None) -> int:
    m = _machine.active_machine()
    objects = list(Object)[:Count]
    return wait_for_objects(m, objects, WaitType == WaitAll, Timeout,
                            "KeWaitForMultipleObjects")


class _NeverSignaled(DispatcherObject):
    __slots__ = ()

    def is_signaled(self) -> bool:
        return False


def KeDelayExecutionThread(WaitMode: int, Alertable: bool, Interval: Any) -> int:
    m = _machine.active_machine()
    status = wait_for_objects(m, (_NeverSignaled("delay"),), False, Interval,
                              "KeDelayExecutionThread")
    return STATUS_SUCCESS if status == STATUS_TIMEOUT else status


def KeStallExecutionProcessor(MicroSeconds: int) -> None:
    """Busy-waits ``MicroSeconds``. A thread or work item keeps its CPU while the clock moves
    on and the other CPUs run (so polling for another CPU's work makes progress); a DPC stalls
    in zero virtual time (fidelity: kernel.cpu_time). At DISPATCH_LEVEL the stall counts
    against the DPC watchdog (fidelity: kernel.dpc_watchdog_ns)."""
    m = _machine.active_machine()
    m.preemption_point()
    ctx = m.current
    assert ctx is not None
    if ctx.irql >= DISPATCH_LEVEL:  # below it a stall is only slow; the watchdog does not see it
        ctx.stall_ns += MicroSeconds * 1000
        if ctx.stall_ns > DPC_STALL_WARNING_NS:
            m.report("dpc.watchdog",
                     f"{ctx.stall_ns // 1000} us stalled at IRQL {ctx.irql} in {ctx.label}",
                     params=(ctx.stall_ns // 1000, 0, 0))
            ctx.stall_ns = 0
    m.stall_current(MicroSeconds * 1000)


def yield_until_quiescent(m: Machine) -> None:
    """Block the current thread until everything runnable at this instant has run (used by
    KeFlushQueuedDpcs): timed events only fire when no context is runnable."""
    ctx = m.current
    assert ctx is not None
    block = WaitBlock(ctx, (), False, m.now)
    ctx.wait = block
    m.call_at(m.now, block.on_timeout)
    m.block_current()


# ---------------------------------------------------------------------- spin locks


class KSPIN_LOCK:
    """``KSPIN_LOCK``: knows its holder, so contention and deadlock cycles are real."""

    __slots__ = ("owner", "name", "spinners")

    def __init__(self, name: str = "spinlock") -> None:
        self.owner: _machine.Context | None = None
        self.name = name
        self.spinners: list[_machine.Context] = []

    def __repr__(self) -> str:
        holder = self.owner.label if self.owner else "free"
        return f"<KSPIN_LOCK {self.name} {holder}>"


def KeInitializeSpinLock(SpinLock: KSPIN_LOCK) -> None:
    SpinLock.owner = None
    SpinLock.spinners.clear()


def _acquire(m: Machine, lock: KSPIN_LOCK) -> None:
    ctx = m.current
    assert ctx is not None
    if lock.owner is ctx:
        violation = m.report("spinlock.recursive_acquire",
                             f"{lock.name} acquired again by its holder {ctx.label}")
        # The processor would spin forever (fidelity: kernel.recursive_spinlock).
        m.stuck = violation
        from mock_wsk.verifier import BugCheckHalt

        if violation is not None:
            raise BugCheckHalt(violation)
        return
    while lock.owner is not None:
        lock.spinners.append(ctx)
        m.spin_current(lock)
    lock.owner = ctx
    ctx.held_locks.append(lock)


def _release(m: Machine, lock: KSPIN_LOCK, ddi: str) -> bool:
    ctx = m.current
    assert ctx is not None
    if lock.owner is not ctx:
        holder = lock.owner.label if lock.owner else "nobody"
        m.report("spinlock.release_not_held",
                 f"{ddi}({lock.name}) by {ctx.label}; it is held by {holder}")
        return False
    if ctx.held_locks and ctx.held_locks[-1] is not lock:
        m.report("spinlock.release_order",
                 f"{ddi}({lock.name}) while {ctx.held_locks[-1].name} was acquired after it")
    if ctx.irql != DISPATCH_LEVEL:
        m.report("spinlock.wrong_irql", f"{ddi}({lock.name}) at IRQL {ctx.irql}")
    ctx.held_locks.remove(lock)
    lock.owner = None
    for spinner in lock.spinners:
        m.unspin(spinner)
    lock.spinners.clear()
    return True


def KeAcquireSpinLock(SpinLock: KSPIN_LOCK, OldIrql: Any = None) -> int:
    m = _machine.active_machine()
    m.preemption_point()
    ctx = m.current
    assert ctx is not None
    old = ctx.irql
    if old > DISPATCH_LEVEL:
        m.report("spinlock.wrong_irql", f"KeAcquireSpinLock({SpinLock.name}) at IRQL {old}")
    ctx.irql = max(old, DISPATCH_LEVEL)
    store(OldIrql, old)
    _acquire(m, SpinLock)
    return old


def KeAcquireSpinLockRaiseToDpc(SpinLock: KSPIN_LOCK) -> int:
    return KeAcquireSpinLock(SpinLock)


def KeReleaseSpinLock(SpinLock: KSPIN_LOCK, NewIrql: Any) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    if _release(m, SpinLock, "KeReleaseSpinLock"):
        set_irql(m, value_of(NewIrql))


def KeAcquireSpinLockAtDpcLevel(SpinLock: KSPIN_LOCK) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    if m.irql != DISPATCH_LEVEL:
        m.report("spinlock.wrong_irql",
                 f"KeAcquireSpinLockAtDpcLevel({SpinLock.name}) at IRQL {m.irql}")
    _acquire(m, SpinLock)


def KeReleaseSpinLockFromDpcLevel(SpinLock: KSPIN_LOCK) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    _release(m, SpinLock, "KeReleaseSpinLockFromDpcLevel")


def KeTryToAcquireSpinLockAtDpcLevel(SpinLock: KSPIN_LOCK) -> bool:
    m = _machine.active_machine()
    m.preemption_point()
    if m.irql != DISPATCH_LEVEL:
        m.report("spinlock.wrong_irql",
                 f"KeTryToAcquireSpinLockAtDpcLevel({SpinLock.name}) at IRQL {m.irql}")
    if SpinLock.owner is not None:
        return False
    _acquire(m, SpinLock)
    return True


# ---------------------------------------------------------------------- interlocked


class LONG:
    """A variable shared between contexts: ``volatile LONG x;``. Interlocked DDIs take it."""

    __slots__ = ("value",)

    def __init__(self, value: int = 0) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"LONG({self.value})"


def _wrap32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def InterlockedIncrement(Addend: LONG) -> int:
    _machine.active_machine().preemption_point()
    Addend.value = _wrap32(Addend.value + 1)
    return Addend.value


def InterlockedDecrement(Addend: LONG) -> int:
    _machine.active_machine().preemption_point()
    Addend.value = _wrap32(Addend.value - 1)
    return Addend.value


def InterlockedExchange(Target: LONG, Value: int) -> int:
    _machine.active_machine().preemption_point()
    old = Target.value
    Target.value = _wrap32(Value)
    return old


def InterlockedExchangeAdd(Addend: LONG, Value: int) -> int:
    _machine.active_machine().preemption_point()
    old = Addend.value
    Addend.value = _wrap32(old + Value)
    return old


def InterlockedCompareExchange(Destination: LONG, ExChange: int, Comperand: int) -> int:
    _machine.active_machine().preemption_point()
    old = Destination.value
    if old == Comperand:
        Destination.value = _wrap32(ExChange)
    return old
