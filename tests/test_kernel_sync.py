"""Events, waits, delays, stalls, spin locks and Interlocked*: positive and negative cases."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from kernel_helpers import rule_ids, run_driver

from mock_wsk.constants import DISPATCH_LEVEL, PASSIVE_LEVEL, BugCheck
from mock_wsk.kernel.sync import LONG
from mock_wsk.machine import KDPC
from mock_wsk.scheduling import PctStrategy, RandomStrategy
from mock_wsk.verifier import Policy, Severity, Violation
from mock_wsk.wdk import (
    FALSE,
    HANDLE,
    KEVENT,
    KIRQL,
    KSPIN_LOCK,
    KTIMER,
    LARGE_INTEGER,
    STATUS_SUCCESS,
    STATUS_TIMEOUT,
    STATUS_WAIT_0,
    THREAD_ALL_ACCESS,
    TRUE,
    Executive,
    InterlockedCompareExchange,
    InterlockedDecrement,
    InterlockedExchange,
    InterlockedExchangeAdd,
    InterlockedIncrement,
    KeAcquireSpinLock,
    KeAcquireSpinLockAtDpcLevel,
    KeAcquireSpinLockRaiseToDpc,
    KeClearEvent,
    KeDelayExecutionThread,
    KeGetCurrentIrql,
    KeGetCurrentProcessorNumber,
    KeInitializeDpc,
    KeInitializeEvent,
    KeInitializeSpinLock,
    KeInitializeTimer,
    KeInsertQueueDpc,
    KeLowerIrql,
    KeQueryInterruptTime,
    KeRaiseIrql,
    KeReadStateEvent,
    KeReleaseSpinLock,
    KeReleaseSpinLockFromDpcLevel,
    KeResetEvent,
    KernelMode,
    KeSetEvent,
    KeSetTargetProcessorDpc,
    KeSetTimer,
    KeStallExecutionProcessor,
    KeTryToAcquireSpinLockAtDpcLevel,
    KeWaitForMultipleObjects,
    KeWaitForSingleObject,
    NotificationEvent,
    PsCreateSystemThread,
    SynchronizationEvent,
    WaitAll,
    WaitAny,
)

MS_100NS = 10_000  # one millisecond in 100 ns units
MS = 1_000_000  # one millisecond in ns


def _here() -> int:
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno + 1


def _in_this_file(v: Violation) -> bool:
    assert v.location is not None
    return Path(v.location.file).resolve() == Path(__file__).resolve()


def _event(name: str, kind: int = NotificationEvent, state: bool = False) -> KEVENT:
    event = KEVENT(name)
    KeInitializeEvent(event, kind, state)
    return event


def _thread(routine: Any, context: Any = None) -> Any:
    handle = HANDLE()
    assert PsCreateSystemThread(handle, THREAD_ALL_ACCESS, None, None, None, routine,
                                context) == STATUS_SUCCESS
    return handle.value


def _wait(obj: Any, timeout: Any = None) -> int:
    return KeWaitForSingleObject(obj, Executive, KernelMode, FALSE, timeout)


def _sleep_ms(ms: int) -> None:
    KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-ms * MS_100NS))


def _now_ms() -> float:
    return KeQueryInterruptTime() / MS_100NS


# ---------------------------------------------------------------------- event state DDIs


def test_event_state_ddis_return_the_previous_state() -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        event = _event("e", NotificationEvent, True)
        seen.append(KeReadStateEvent(event))
        seen.append(KeResetEvent(event))
        seen.append(KeReadStateEvent(event))
        seen.append(KeSetEvent(event, 0, FALSE))
        seen.append(KeSetEvent(event, 0, FALSE))
        KeClearEvent(event)
        seen.append(KeReadStateEvent(event))
        KeInitializeEvent(event, SynchronizationEvent, TRUE)
        seen.append(KeReadStateEvent(event))

    m = run_driver(entry)
    assert seen == [1, 1, 0, 0, 1, 0, 1]
    assert m.violations == []


def test_wait_on_a_signaled_event_does_not_block() -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        notification = _event("n", NotificationEvent, True)
        synchronization = _event("s", SynchronizationEvent, True)
        seen.append(_wait(notification))
        seen.append(KeReadStateEvent(notification))  # a notification event stays signalled
        seen.append(_wait(synchronization))
        seen.append(KeReadStateEvent(synchronization))  # a synchronization event auto-resets
        seen.append(_now_ms())

    m = run_driver(entry)
    assert seen == [STATUS_WAIT_0, 1, STATUS_WAIT_0, 0, 0]
    assert m.violations == []


# ---------------------------------------------------------------------- timeouts


@pytest.mark.parametrize("timeout", [LARGE_INTEGER(-25 * MS_100NS), -25 * MS_100NS],
                         ids=["LARGE_INTEGER", "int"])
def test_relative_timeout_in_100ns_units(timeout: Any) -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        _sleep_ms(10)
        seen.append(_wait(_event("never"), timeout))
        seen.append(_now_ms())

    m = run_driver(entry)
    assert seen == [STATUS_TIMEOUT, 35.0]  # 10 ms + 25 ms relative to the call
    assert m.violations == []


def test_absolute_timeout_is_system_time_since_boot() -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        _sleep_ms(10)
        seen.append(_wait(_event("never"), LARGE_INTEGER(25 * MS_100NS)))
        seen.append(_now_ms())
        # An absolute time already past, and a zero timeout, return at once.
        seen.append(_wait(_event("never"), LARGE_INTEGER(5 * MS_100NS)))
        seen.append(_wait(_event("never"), LARGE_INTEGER(0)))
        seen.append(_now_ms())

    m = run_driver(entry)
    assert seen == [STATUS_TIMEOUT, 25.0, STATUS_TIMEOUT, STATUS_TIMEOUT, 25.0]
    assert m.violations == []


def test_a_wait_satisfied_before_its_timeout_returns_wait_0_at_the_signal_time() -> None:
    seen: list[Any] = []
    event = KEVENT("e")

    def setter(context: Any) -> None:
        _sleep_ms(3)
        KeSetEvent(event, 0, FALSE)

    def entry(driver: Any, registry: Any) -> None:
        KeInitializeEvent(event, NotificationEvent, FALSE)
        _thread(setter)
        seen.append(_wait(event, LARGE_INTEGER(-100 * MS_100NS)))
        seen.append(_now_ms())

    m = run_driver(entry)
    assert seen == [STATUS_WAIT_0, 3.0]
    assert m.violations == []
    # The satisfied wait's timeout was withdrawn: the clock did not run on to 100 ms.
    assert m.now == 3 * MS
    assert m.next_event_time() is None


def test_delay_execution_relative_and_absolute() -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        seen.append(KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-7 * MS_100NS)))
        seen.append(_now_ms())
        seen.append(KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(20 * MS_100NS)))
        seen.append(_now_ms())
        seen.append(KeDelayExecutionThread(KernelMode, FALSE, -1))  # 100 ns
        seen.append(KeQueryInterruptTime())

    m = run_driver(entry)
    assert seen == [STATUS_SUCCESS, 7.0, STATUS_SUCCESS, 20.0, STATUS_SUCCESS, 200_001]
    assert m.now == 20 * MS + 100
    assert m.violations == []


def test_delay_at_dispatch_is_reported() -> None:
    def entry(driver: Any, registry: Any) -> None:
        old = KeRaiseIrql(DISPATCH_LEVEL)
        KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-MS_100NS))
        KeLowerIrql(old)

    m = run_driver(entry)
    assert rule_ids(m) == ["irql.wait_above_apc"]


# ---------------------------------------------------------------------- who wakes


def test_synchronization_event_wakes_exactly_one_waiter_and_resets() -> None:
    woken: list[tuple[int, float]] = []
    states: list[int] = []
    event = KEVENT("sync")

    def waiter(index: int) -> None:
        assert _wait(event) == STATUS_WAIT_0
        woken.append((index, _now_ms()))

    def entry(driver: Any, registry: Any) -> None:
        KeInitializeEvent(event, SynchronizationEvent, FALSE)
        for index in range(3):
            _thread(waiter, index)
        for _ in range(3):
            _sleep_ms(1)
            KeSetEvent(event, 0, FALSE)
            states.append(KeReadStateEvent(event))

    m = run_driver(entry)
    # One waiter per KeSetEvent, first come first served; the event never stays signalled.
    assert woken == [(0, 1.0), (1, 2.0), (2, 3.0)]
    assert states == [0, 0, 0]
    assert m.violations == []


def test_synchronization_event_set_with_no_waiter_stays_signaled_for_one_wait() -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        event = _event("sync", SynchronizationEvent)
        KeSetEvent(event, 0, FALSE)
        seen.append(_wait(event, LARGE_INTEGER(-MS_100NS)))
        seen.append(_wait(event, LARGE_INTEGER(-MS_100NS)))

    run_driver(entry)
    assert seen == [STATUS_WAIT_0, STATUS_TIMEOUT]


def test_notification_event_wakes_every_waiter_and_stays_signaled() -> None:
    woken: list[tuple[int, float]] = []
    states: list[int] = []
    event = KEVENT("notify")

    def waiter(index: int) -> None:
        assert _wait(event) == STATUS_WAIT_0
        woken.append((index, _now_ms()))

    def entry(driver: Any, registry: Any) -> None:
        KeInitializeEvent(event, NotificationEvent, FALSE)
        for index in range(4):
            _thread(waiter, index)
        _sleep_ms(2)
        KeSetEvent(event, 0, FALSE)
        states.append(KeReadStateEvent(event))

    m = run_driver(entry)
    assert sorted(woken) == [(i, 2.0) for i in range(4)]
    assert states == [1]
    assert m.violations == []


def test_wait_any_returns_wait_0_plus_the_index() -> None:
    seen: list[Any] = []
    events = [KEVENT(f"e{i}") for i in range(3)]

    def setter(context: Any) -> None:
        _sleep_ms(4)
        KeSetEvent(events[2], 0, FALSE)

    def entry(driver: Any, registry: Any) -> None:
        for event in events:
            KeInitializeEvent(event, SynchronizationEvent, FALSE)
        _thread(setter)
        seen.append(KeWaitForMultipleObjects(3, events, WaitAny, Executive, KernelMode, FALSE,
                                             None))
        seen.append(_now_ms())
        seen.append([KeReadStateEvent(e) for e in events])  # the satisfying one was consumed
        KeSetEvent(events[1], 0, FALSE)
        KeSetEvent(events[2], 0, FALSE)
        # Several signalled: the lowest index wins.
        seen.append(KeWaitForMultipleObjects(3, events, WaitAny, Executive, KernelMode, FALSE,
                                             None))
        # Count limits the array.
        seen.append(KeWaitForMultipleObjects(1, events, WaitAny, Executive, KernelMode, FALSE,
                                             LARGE_INTEGER(-MS_100NS)))

    m = run_driver(entry)
    assert seen == [STATUS_WAIT_0 + 2, 4.0, [0, 0, 0], STATUS_WAIT_0 + 1, STATUS_TIMEOUT]
    assert m.violations == []


def test_wait_all_returns_when_the_last_object_is_signaled() -> None:
    seen: list[Any] = []
    a, b = KEVENT("a"), KEVENT("b")

    def setter(context: Any) -> None:
        _sleep_ms(1)
        KeSetEvent(a, 0, FALSE)
        _sleep_ms(2)
        KeSetEvent(b, 0, FALSE)

    def entry(driver: Any, registry: Any) -> None:
        KeInitializeEvent(a, SynchronizationEvent, FALSE)
        KeInitializeEvent(b, NotificationEvent, FALSE)
        _thread(setter)
        seen.append(KeWaitForMultipleObjects(2, [a, b], WaitAll, Executive, KernelMode, FALSE,
                                             None))
        seen.append(_now_ms())
        seen.append((KeReadStateEvent(a), KeReadStateEvent(b)))

    m = run_driver(entry)
    assert seen == [STATUS_WAIT_0, 3.0, (0, 1)]
    assert m.violations == []


def test_wait_all_timing_out_consumes_nothing() -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        a = _event("a", SynchronizationEvent, True)
        b = _event("b", SynchronizationEvent, False)
        seen.append(KeWaitForMultipleObjects(2, [a, b], WaitAll, Executive, KernelMode, FALSE,
                                             LARGE_INTEGER(-2 * MS_100NS)))
        seen.append((_now_ms(), KeReadStateEvent(a)))

    m = run_driver(entry)
    assert seen == [STATUS_TIMEOUT, (2.0, 1)]
    assert m.violations == []


# ---------------------------------------------------------------------- waits at raised IRQL


def test_wait_at_dispatch_inside_a_spin_lock_reports_the_stub_line() -> None:
    where: dict[str, int] = {}
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        lock = KSPIN_LOCK("lock")
        KeInitializeSpinLock(lock)
        event = _event("e")
        old = KIRQL()
        KeAcquireSpinLock(lock, old)
        where["line"] = _here()
        seen.append(KeWaitForSingleObject(event, Executive, KernelMode, FALSE, None))
        KeReleaseSpinLock(lock, old)

    m = run_driver(entry)
    assert rule_ids(m) == ["irql.wait_above_apc"]
    v = m.violations[0]
    assert v.rule.bugcheck == BugCheck.IRQL_NOT_LESS_OR_EQUAL
    assert v.irql == DISPATCH_LEVEL and v.cpu == 0
    assert v.context.endswith("(TestDriver!DriverEntry)")
    assert v.objects["waits_for"] == "e"
    assert v.location is not None and _in_this_file(v)
    assert (v.location.line, v.location.function) == (where["line"], "entry")
    assert f"{Path(__file__).name}:{where['line']} in entry" in v.render()
    assert seen == [STATUS_TIMEOUT]  # record mode: the wait cannot block; it times out


def test_the_location_is_the_innermost_driver_frame() -> None:
    def entry(driver: Any, registry: Any) -> None:
        lock = KSPIN_LOCK("lock")
        old = KeAcquireSpinLock(lock)
        _wait(_event("e"), LARGE_INTEGER(-MS_100NS))  # a helper of the driver's own
        KeReleaseSpinLock(lock, old)

    m = run_driver(entry)
    assert rule_ids(m) == ["irql.wait_above_apc"]
    v = m.violations[0]
    assert v.location is not None and _in_this_file(v) and v.location.function == "_wait"


def test_wait_with_zero_timeout_at_dispatch_is_a_legal_poll() -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        event = _event("e", NotificationEvent, False)
        old = KeRaiseIrql(DISPATCH_LEVEL)
        seen.append(_wait(event, LARGE_INTEGER(0)))
        KeSetEvent(event, 0, FALSE)
        seen.append(_wait(event, LARGE_INTEGER(0)))
        seen.append(_wait(event, None))  # signalled: no blocking, so no violation
        KeLowerIrql(old)

    m = run_driver(entry)
    assert seen == [STATUS_TIMEOUT, STATUS_WAIT_0, STATUS_WAIT_0]
    assert m.violations == []


def test_wait_in_a_dpc_reports_wait_in_dpc_with_the_line() -> None:
    where: dict[str, int] = {}
    seen: list[Any] = []
    event = KEVENT("e")

    def dpc_routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        where["line"] = _here()
        seen.append(KeWaitForSingleObject(event, Executive, KernelMode, FALSE, None))

    def entry(driver: Any, registry: Any) -> None:
        KeInitializeEvent(event, NotificationEvent, FALSE)
        dpc = KDPC()
        KeInitializeDpc(dpc, dpc_routine, None)
        KeInsertQueueDpc(dpc, None, None)

    m = run_driver(entry)
    assert rule_ids(m) == ["irql.wait_in_dpc"]
    v = m.violations[0]
    assert v.rule.bugcheck == BugCheck.ATTEMPTED_SWITCH_FROM_DPC
    assert v.location is not None and _in_this_file(v)
    assert (v.location.line, v.location.function) == (where["line"], "dpc_routine")
    assert seen == [STATUS_TIMEOUT]  # record mode: the wait cannot block


def test_wait_violation_under_bugcheck_policy_halts_the_machine() -> None:
    after: list[str] = []

    def entry(driver: Any, registry: Any) -> None:
        lock = KSPIN_LOCK("lock")
        old = KeAcquireSpinLock(lock)
        _wait(_event("e"), None)
        after.append("went on")
        KeReleaseSpinLock(lock, old)

    m = run_driver(entry, policy=Policy.BUGCHECK)
    assert after == []
    assert m.halt is not None
    assert m.halt.violation.rule.id == "irql.wait_above_apc"
    screen = m.halt.blue_screen()
    assert "*** STOP: 0x0000000A" in screen
    assert "irql.wait_above_apc" in screen


# ---------------------------------------------------------------------- stalls


def test_a_thread_stall_takes_its_time_a_dpc_stall_none_and_long_dpc_stalls_warn() -> None:
    seen: list[float] = []

    def dpc_routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        seen.append(_now_ms())
        KeStallExecutionProcessor(600)
        KeStallExecutionProcessor(600)  # 1.2 ms in one DPC: over the watchdog threshold
        seen.append(_now_ms())  # a DPC stalls in zero virtual time

    def entry(driver: Any, registry: Any) -> None:
        KeStallExecutionProcessor(5_000)  # at PASSIVE_LEVEL a long stall is only slow
        old = KeRaiseIrql(DISPATCH_LEVEL)
        KeStallExecutionProcessor(900)  # under the threshold
        KeLowerIrql(old)
        old = KeRaiseIrql(DISPATCH_LEVEL)
        KeStallExecutionProcessor(900)  # a new stretch at DISPATCH_LEVEL: counted afresh
        KeLowerIrql(old)
        seen.append(_now_ms())
        dpc = KDPC()
        KeInitializeDpc(dpc, dpc_routine, None)
        KeInsertQueueDpc(dpc, None, None)

    m = run_driver(entry)
    assert seen == [6.8, 6.8, 6.8]  # the thread's 5 + 0.9 + 0.9 ms of busy-waiting
    assert m.now == 6_800_000
    assert rule_ids(m) == ["dpc.watchdog"]
    v = m.violations[0]
    assert v.severity is Severity.WARNING
    assert v.rule.bugcheck == BugCheck.DPC_WATCHDOG_VIOLATION
    assert "1200 us" in v.message


@pytest.mark.parametrize("strategy", [None, "random", "pct"])
def test_a_thread_polling_for_another_cpus_dpc_progresses(strategy: str | None) -> None:
    # The driver spins (stall, re-check) until a DPC it queued on the other CPU sets a flag:
    # on hardware CPU 1 runs the DPC while CPU 0 busy-waits, so the loop ends at once.
    done = {"flag": False, "polls": 0, "cpu": -1}

    def set_flag(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        done["flag"] = True
        done["cpu"] = KeGetCurrentProcessorNumber()

    def entry(driver: Any, registry: Any) -> None:
        dpc = KDPC()
        KeInitializeDpc(dpc, set_flag, None)
        KeSetTargetProcessorDpc(dpc, 1)
        KeInsertQueueDpc(dpc, None, None)
        while not done["flag"]:
            done["polls"] += 1
            KeStallExecutionProcessor(10)

    chosen = {"random": RandomStrategy(3), "pct": PctStrategy(3)}.get(strategy or "")
    m = run_driver(entry, strategy=chosen, step_budget=10_000)
    assert rule_ids(m) == []
    assert done["flag"] and done["cpu"] == 1
    assert 0 <= done["polls"] <= 2 and m.now == done["polls"] * 10_000


def test_a_thread_polling_for_a_timer_waits_in_virtual_time() -> None:
    fired: list[float] = []

    def on_timer(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        fired.append(_now_ms())

    def entry(driver: Any, registry: Any) -> None:
        timer, dpc = KTIMER(), KDPC()
        KeInitializeTimer(timer)
        KeInitializeDpc(dpc, on_timer, None)
        KeSetTimer(timer, LARGE_INTEGER(-2 * MS_100NS), dpc)  # due in 2 ms
        while not fired:
            KeStallExecutionProcessor(100)

    m = run_driver(entry, step_budget=10_000)
    assert rule_ids(m) == []
    assert fired == [2.0]
    assert m.now == 2_000_000  # the poll that saw it ended at 2.0 ms (20 stalls of 100 us)


def test_a_watchdog_warning_never_bugchecks() -> None:
    def entry(driver: Any, registry: Any) -> None:
        old = KeRaiseIrql(DISPATCH_LEVEL)
        KeStallExecutionProcessor(2_000)
        KeLowerIrql(old)

    m = run_driver(entry, policy=Policy.BUGCHECK)
    assert rule_ids(m) == ["dpc.watchdog"]
    assert m.halt is None


# ---------------------------------------------------------------------- spin locks


def test_spin_lock_raises_to_dispatch_and_restores() -> None:
    seen: list[Any] = []

    def dpc_routine(dpc: KDPC, lock: KSPIN_LOCK, arg1: Any, arg2: Any) -> None:
        KeAcquireSpinLockAtDpcLevel(lock)
        seen.append(("dpc", KeGetCurrentIrql(), lock.owner is not None))
        KeReleaseSpinLockFromDpcLevel(lock)
        seen.append(("dpc", KeGetCurrentIrql(), lock.owner))
        seen.append(KeTryToAcquireSpinLockAtDpcLevel(lock))
        KeReleaseSpinLockFromDpcLevel(lock)

    def entry(driver: Any, registry: Any) -> None:
        lock = KSPIN_LOCK("lock")
        KeInitializeSpinLock(lock)
        old = KIRQL()
        KeAcquireSpinLock(lock, old)
        seen.append((old.value, KeGetCurrentIrql()))
        KeReleaseSpinLock(lock, old)
        seen.append(KeGetCurrentIrql())
        old2 = KeAcquireSpinLockRaiseToDpc(lock)
        KeReleaseSpinLock(lock, old2)
        dpc = KDPC()
        KeInitializeDpc(dpc, dpc_routine, lock)
        KeInsertQueueDpc(dpc, None, None)

    m = run_driver(entry)
    assert seen == [(PASSIVE_LEVEL, DISPATCH_LEVEL), PASSIVE_LEVEL,
                    ("dpc", DISPATCH_LEVEL, True), ("dpc", DISPATCH_LEVEL, None), True]
    assert m.violations == []


def test_try_to_acquire_a_held_lock_fails() -> None:
    seen: list[bool] = []

    def entry(driver: Any, registry: Any) -> None:
        lock = KSPIN_LOCK("lock")
        old = KeRaiseIrql(DISPATCH_LEVEL)
        seen.append(KeTryToAcquireSpinLockAtDpcLevel(lock))
        seen.append(KeTryToAcquireSpinLockAtDpcLevel(lock))  # held (by this CPU): no spin
        KeReleaseSpinLockFromDpcLevel(lock)
        seen.append(KeTryToAcquireSpinLockAtDpcLevel(lock))
        KeReleaseSpinLockFromDpcLevel(lock)
        KeLowerIrql(old)

    m = run_driver(entry)
    assert seen == [True, False, True]
    assert m.violations == []


def test_at_dpc_level_variants_below_dispatch_are_reported() -> None:
    def entry(driver: Any, registry: Any) -> None:
        lock = KSPIN_LOCK("lock")
        KeAcquireSpinLockAtDpcLevel(lock)
        KeReleaseSpinLockFromDpcLevel(lock)

    m = run_driver(entry)
    assert rule_ids(m) == ["spinlock.wrong_irql", "spinlock.wrong_irql"]


def test_spin_locks_released_out_of_lifo_order_are_reported() -> None:
    where: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        a, b = KSPIN_LOCK("A"), KSPIN_LOCK("B")
        old = KeAcquireSpinLock(a)
        KeAcquireSpinLockAtDpcLevel(b)
        where["line"] = _here()
        KeReleaseSpinLockFromDpcLevel(a)
        KeReleaseSpinLock(b, old)

    m = run_driver(entry)
    assert rule_ids(m) == ["spinlock.release_order"]
    v = m.violations[0]
    assert "B was acquired after it" in v.message
    assert v.location is not None and v.location.line == where["line"] and _in_this_file(v)


def test_releasing_a_lock_not_held_is_reported() -> None:
    lock = KSPIN_LOCK("lock")

    def holder(context: Any) -> None:
        KeAcquireSpinLock(lock)  # returns holding it: reported as well

    def entry(driver: Any, registry: Any) -> None:
        KeReleaseSpinLock(KSPIN_LOCK("free"), PASSIVE_LEVEL)
        _thread(holder)
        _sleep_ms(1)
        KeReleaseSpinLock(lock, PASSIVE_LEVEL)

    m = run_driver(entry)
    ids = rule_ids(m)
    assert ids.count("spinlock.release_not_held") == 2
    messages = [v.message for v in m.violations if v.rule.id == "spinlock.release_not_held"]
    assert "held by nobody" in messages[0]
    assert "held by thread#" in messages[1] and "(holder)" in messages[1]


def test_returning_from_a_thread_holding_a_lock_is_reported() -> None:
    def worker(context: Any) -> None:
        KeAcquireSpinLock(KSPIN_LOCK("leaked"))

    def entry(driver: Any, registry: Any) -> None:
        _thread(worker)

    m = run_driver(entry)
    assert rule_ids(m) == ["spinlock.held_at_exit", "irql.unexpected_at_exit"]
    v = m.violations[0]
    assert "leaked" in v.message
    assert v.location is not None and v.location.function == "worker" and _in_this_file(v)


def test_returning_from_a_dpc_holding_a_lock_is_reported_and_the_lock_is_freed() -> None:
    lock = KSPIN_LOCK("lock")
    seen: list[Any] = []

    def leaky(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        KeAcquireSpinLockAtDpcLevel(lock)

    def entry(driver: Any, registry: Any) -> None:
        dpc = KDPC()
        KeInitializeDpc(dpc, leaky, None)
        KeInsertQueueDpc(dpc, None, None)
        old = KeAcquireSpinLock(lock)  # the machine does not hang on the leaked lock
        seen.append(KeGetCurrentIrql())
        KeReleaseSpinLock(lock, old)

    m = run_driver(entry)
    assert rule_ids(m) == ["spinlock.held_at_exit"]
    assert seen == [DISPATCH_LEVEL]
    assert m.stuck is None


def test_recursive_acquire_stops_the_machine_in_any_policy() -> None:
    after: list[str] = []

    def entry(driver: Any, registry: Any) -> None:
        lock = KSPIN_LOCK("lock")
        old = KeAcquireSpinLock(lock)
        KeAcquireSpinLockAtDpcLevel(lock)
        after.append("went on")
        KeReleaseSpinLock(lock, old)

    m = run_driver(entry, policy=Policy.RECORD)
    assert rule_ids(m) == ["spinlock.recursive_acquire"]
    assert after == []
    assert m.halt is not None and m.stuck is not None


def test_spin_lock_contention_across_two_cpus_keeps_mutual_exclusion() -> None:
    rounds = 20
    spins = 0
    for seed in range(12):
        lock = KSPIN_LOCK("shared")
        counter = LONG()
        inside = LONG()
        overlaps: list[int] = []
        finished: list[str] = []

        def worker(name: str, lock: KSPIN_LOCK = lock, counter: LONG = counter,
                   inside: LONG = inside, overlaps: list[int] = overlaps,
                   finished: list[str] = finished) -> None:
            for _ in range(rounds):
                old = KeAcquireSpinLock(lock)
                if InterlockedIncrement(inside) != 1:
                    overlaps.append(inside.value)
                value = counter.value
                InterlockedExchange(LONG(), 0)  # a preemption point inside the section
                counter.value = value + 1  # a plain read-modify-write: safe only under the lock
                InterlockedDecrement(inside)
                KeReleaseSpinLock(lock, old)
            finished.append(name)

        def entry(driver: Any, registry: Any, worker: Any = worker) -> None:
            _thread(worker, "a")
            _thread(worker, "b")

        m = run_driver(entry, strategy=RandomStrategy(seed))
        assert m.violations == [], seed
        assert sorted(finished) == ["a", "b"], seed
        assert counter.value == 2 * rounds, seed
        assert overlaps == [], seed
        assert m.trace is not None
        spins += sum(1 for record in m.trace if record[3] == "ctx.spin")
    assert spins > 0  # the seeds did make one CPU spin while the other held the lock


def test_spin_lock_deadlock_cycle_is_reported() -> None:
    for seed in range(200):
        l1, l2 = KSPIN_LOCK("L1"), KSPIN_LOCK("L2")

        def a(context: Any, l1: KSPIN_LOCK = l1, l2: KSPIN_LOCK = l2) -> None:
            old = KeAcquireSpinLock(l1)
            KeAcquireSpinLockAtDpcLevel(l2)
            KeReleaseSpinLockFromDpcLevel(l2)
            KeReleaseSpinLock(l1, old)

        def b(context: Any, l1: KSPIN_LOCK = l1, l2: KSPIN_LOCK = l2) -> None:
            old = KeAcquireSpinLock(l2)
            KeAcquireSpinLockAtDpcLevel(l1)
            KeReleaseSpinLockFromDpcLevel(l1)
            KeReleaseSpinLock(l2, old)

        def entry(driver: Any, registry: Any, a: Any = a, b: Any = b) -> None:
            _thread(a)
            _thread(b)

        m = run_driver(entry, strategy=PctStrategy(seed))
        if m.violations:
            break
    else:
        pytest.fail("no seed produced the lock-order deadlock")
    assert rule_ids(m) == ["kernel.deadlock"]
    assert m.stuck is m.violations[0]
    message = m.violations[0].message
    assert "(a) spins on L2 held by" in message and "(b)" in message
    assert "(b) spins on L1 held by" in message
    assert "spins on L1" in " ".join(m.wait_for_graph())


# ---------------------------------------------------------------------- interlocked


def test_interlocked_operations_return_what_the_wdk_says() -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        x = LONG(5)
        seen.append(InterlockedIncrement(x))  # the new value
        seen.append(InterlockedDecrement(x))  # the new value
        seen.append(InterlockedExchange(x, 9))  # the old value
        seen.append(InterlockedExchangeAdd(x, 3))  # the old value
        seen.append(x.value)
        seen.append(InterlockedCompareExchange(x, 100, 7))  # no match: unchanged
        seen.append(x.value)
        seen.append(InterlockedCompareExchange(x, 100, 12))  # match: swapped
        seen.append(x.value)
        top = LONG(0x7FFFFFFF)
        seen.append(InterlockedIncrement(top))  # 32-bit wrap
        seen.append(InterlockedDecrement(top))
        seen.append(InterlockedExchangeAdd(LONG(-1), 1 << 32))

    m = run_driver(entry)
    assert seen == [6, 5, 5, 9, 12, 12, 12, 12, 100, -(2**31), 2**31 - 1, -1]
    assert m.violations == []


def test_interlocked_outside_a_machine_raises() -> None:
    with pytest.raises(RuntimeError):
        InterlockedIncrement(LONG())


def test_interlocked_counter_under_preemption_is_exact() -> None:
    for seed in range(5):
        counter = LONG()

        def worker(context: Any, counter: LONG = counter) -> None:
            for _ in range(50):
                InterlockedIncrement(counter)

        def entry(driver: Any, registry: Any, worker: Any = worker) -> None:
            for _ in range(3):
                _thread(worker)

        m = run_driver(entry, strategy=RandomStrategy(seed))
        assert counter.value == 150
        assert m.violations == []
