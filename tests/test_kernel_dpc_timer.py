"""DPCs and timers: KeInitializeDpc, KeInsertQueueDpc, KeSetTimer(Ex), KeCancelTimer..."""

from __future__ import annotations

from typing import Any

import pytest
from kernel_helpers import rule_ids, run_driver

from mock_wsk.constants import DISPATCH_LEVEL, PASSIVE_LEVEL
from mock_wsk.machine import KDPC
from mock_wsk.scheduling import FifoStrategy, PctStrategy, RandomStrategy, Strategy
from mock_wsk.wdk import (
    FALSE,
    HANDLE,
    KTIMER,
    LARGE_INTEGER,
    STATUS_TIMEOUT,
    STATUS_WAIT_0,
    THREAD_ALL_ACCESS,
    Executive,
    KeCancelTimer,
    KeDelayExecutionThread,
    KeFlushQueuedDpcs,
    KeGetCurrentIrql,
    KeGetCurrentProcessorNumber,
    KeInitializeDpc,
    KeInitializeTimer,
    KeInitializeTimerEx,
    KeInsertQueueDpc,
    KeLowerIrql,
    KeQueryInterruptTime,
    KeRaiseIrql,
    KeReadStateTimer,
    KeRemoveQueueDpc,
    KernelMode,
    KeSetTargetProcessorDpc,
    KeSetTimer,
    KeSetTimerEx,
    KeWaitForSingleObject,
    NotificationTimer,
    PsCreateSystemThread,
    SynchronizationTimer,
)

MS_100NS = 10_000
MS = 1_000_000
HIGH_LEVEL = 15  # x64


def _strategies() -> list[Strategy]:
    return [FifoStrategy(), RandomStrategy(3), PctStrategy(3)]


def _dpc(routine: Any, context: Any = None, name: str = "") -> KDPC:
    dpc = KDPC(name)
    KeInitializeDpc(dpc, routine, context)
    return dpc


def _timer(kind: int = NotificationTimer, name: str = "timer") -> KTIMER:
    timer = KTIMER(name)
    KeInitializeTimerEx(timer, kind)
    return timer


def _now_ms() -> float:
    return KeQueryInterruptTime() / MS_100NS


def _thread(routine: Any, context: Any = None) -> None:
    PsCreateSystemThread(HANDLE(), THREAD_ALL_ACCESS, None, None, None, routine, context)


# ---------------------------------------------------------------------- DPCs


def test_dpc_receives_its_context_and_system_arguments_at_dispatch() -> None:
    seen: list[Any] = []

    def routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        seen.append((dpc.name, context, arg1, arg2, KeGetCurrentIrql()))

    def entry(driver: Any, registry: Any) -> None:
        dpc = _dpc(routine, "ctx")
        assert dpc.name == "routine"  # named after its routine when not named
        seen.append(KeInsertQueueDpc(dpc, "a1", "a2"))

    m = run_driver(entry)
    assert seen == [("routine", "ctx", "a1", "a2", DISPATCH_LEVEL), True]
    assert m.violations == []


def test_a_dpc_already_queued_is_not_queued_again() -> None:
    runs: list[Any] = []

    def routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        runs.append(arg1)

    def entry(driver: Any, registry: Any) -> None:
        dpc = _dpc(routine)
        old = KeRaiseIrql(DISPATCH_LEVEL)
        first = KeInsertQueueDpc(dpc, 1, None)
        second = KeInsertQueueDpc(dpc, 2, None)
        KeLowerIrql(old)
        third = KeInsertQueueDpc(dpc, 3, None)  # ran already: may be queued again
        runs.append((first, second, third))

    m = run_driver(entry)
    assert runs == [1, 3, (True, False, True)]
    assert m.violations == []


@pytest.mark.parametrize("strategy", _strategies(), ids=lambda s: s.name)
def test_dpc_runs_at_dispatch_on_the_targeted_cpu(strategy: Strategy) -> None:
    seen: list[Any] = []

    def routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        seen.append((context, KeGetCurrentProcessorNumber(), KeGetCurrentIrql()))

    def entry(driver: Any, registry: Any) -> None:
        for target in (1, 2, 0):
            dpc = _dpc(routine, target)
            KeSetTargetProcessorDpc(dpc, target)
            KeInsertQueueDpc(dpc, None, None)

    m = run_driver(entry, cpus=3, strategy=strategy)
    assert sorted(seen) == [(t, t, DISPATCH_LEVEL) for t in range(3)]
    assert m.violations == []


@pytest.mark.parametrize("strategy", _strategies(), ids=lambda s: s.name)
def test_dpc_on_the_cpu_of_a_passive_thread_runs_before_the_thread_goes_on(
    strategy: Strategy,
) -> None:
    log: list[Any] = []

    def routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        log.append(("dpc", KeGetCurrentProcessorNumber(), KeGetCurrentIrql()))

    def worker(context: Any) -> None:
        cpu = KeGetCurrentProcessorNumber()
        log.append(("thread", cpu, KeGetCurrentIrql()))
        KeInsertQueueDpc(_dpc(routine), None, None)
        log.append(("after", cpu, KeGetCurrentIrql()))

    def entry(driver: Any, registry: Any) -> None:
        _thread(worker)

    m = run_driver(entry, strategy=strategy)
    cpu = log[0][1]
    assert log == [("thread", cpu, PASSIVE_LEVEL), ("dpc", cpu, DISPATCH_LEVEL),
                   ("after", cpu, PASSIVE_LEVEL)]
    assert m.violations == []


def test_remove_queue_dpc_cancels_a_queued_dpc() -> None:
    runs: list[str] = []
    seen: list[bool] = []

    def routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        runs.append("ran")

    def entry(driver: Any, registry: Any) -> None:
        dpc = _dpc(routine)
        old = KeRaiseIrql(DISPATCH_LEVEL)
        KeInsertQueueDpc(dpc, None, None)
        seen.append(KeRemoveQueueDpc(dpc))
        seen.append(KeRemoveQueueDpc(dpc))
        KeLowerIrql(old)

    m = run_driver(entry)
    assert runs == []
    assert seen == [True, False]
    assert m.violations == []


def test_flush_queued_dpcs_waits_for_dpcs_on_other_cpus() -> None:
    log: list[str] = []

    def routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        log.append(f"dpc on {KeGetCurrentProcessorNumber()}")

    def entry(driver: Any, registry: Any) -> None:
        dpc = _dpc(routine)
        KeSetTargetProcessorDpc(dpc, 1)
        KeInsertQueueDpc(dpc, None, None)
        KeFlushQueuedDpcs()
        log.append("flushed")

    m = run_driver(entry)
    assert log == ["dpc on 1", "flushed"]
    assert m.violations == []


def test_flush_queued_dpcs_above_passive_is_reported() -> None:
    def entry(driver: Any, registry: Any) -> None:
        old = KeRaiseIrql(DISPATCH_LEVEL)
        KeFlushQueuedDpcs()
        KeLowerIrql(old)

    assert rule_ids(run_driver(entry)) == ["irql.too_high"]


def test_reinitialising_a_queued_dpc_is_reported() -> None:
    def entry(driver: Any, registry: Any) -> None:
        dpc = _dpc(lambda *args: None, name="d")
        old = KeRaiseIrql(DISPATCH_LEVEL)
        KeInsertQueueDpc(dpc, None, None)
        KeInitializeDpc(dpc, lambda *args: None, None)
        KeLowerIrql(old)

    assert rule_ids(run_driver(entry)) == ["timer.freed_while_set"]


def test_a_wait_in_a_dpc_is_reported_in_every_strategy() -> None:
    for strategy in _strategies():
        def routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
            KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-MS_100NS))

        def entry(driver: Any, registry: Any, routine: Any = routine) -> None:
            KeInsertQueueDpc(_dpc(routine), None, None)

        m = run_driver(entry, strategy=strategy)
        assert rule_ids(m) == ["irql.wait_in_dpc"], strategy.name
        assert m.violations[0].location is not None
        assert m.violations[0].location.function == "routine"


# ---------------------------------------------------------------------- timers


def test_one_shot_timer_fires_its_dpc_at_the_due_time() -> None:
    fired: list[Any] = []
    seen: list[Any] = []
    timer = KTIMER("t")

    def routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        fired.append((_now_ms(), KeGetCurrentIrql(), KeReadStateTimer(timer)))

    def entry(driver: Any, registry: Any) -> None:
        KeInitializeTimer(timer)
        dpc = _dpc(routine)
        seen.append(KeSetTimer(timer, LARGE_INTEGER(-2 * MS_100NS), dpc))  # not set before
        seen.append(KeReadStateTimer(timer))
        seen.append(KeSetTimer(timer, LARGE_INTEGER(-3 * MS_100NS), dpc))  # re-set: was set
        KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-10 * MS_100NS))
        seen.append(KeReadStateTimer(timer))
        seen.append(KeCancelTimer(timer))  # expired: nothing to cancel

    m = run_driver(entry)
    assert fired == [(3.0, DISPATCH_LEVEL, True)]  # the re-set replaced the first due time
    assert seen == [False, False, True, True, False]
    assert m.violations == []


def test_absolute_due_time() -> None:
    fired: list[float] = []

    def routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        fired.append(_now_ms())

    def entry(driver: Any, registry: Any) -> None:
        KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-MS_100NS))
        KeSetTimer(_timer(), LARGE_INTEGER(7 * MS_100NS), _dpc(routine))
        # An absolute time in the past expires at once.
        KeSetTimer(_timer(), LARGE_INTEGER(0), _dpc(routine))

    m = run_driver(entry)
    assert fired == [1.0, 7.0]
    assert m.violations == []


@pytest.mark.parametrize("strategy", _strategies(), ids=lambda s: s.name)
def test_periodic_timer_fires_on_schedule_until_cancelled(strategy: Strategy) -> None:
    fired: list[Any] = []
    cancelled: list[bool] = []
    timer = KTIMER("tick")

    def tick(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        fired.append((_now_ms(), KeGetCurrentIrql()))
        if len(fired) == 4:
            cancelled.append(KeCancelTimer(timer))
            cancelled.append(KeCancelTimer(timer))

    def entry(driver: Any, registry: Any) -> None:
        KeInitializeTimerEx(timer, NotificationTimer)
        # Due in 1 ms (relative, 100 ns units), then every 5 ms (Period is in milliseconds).
        assert KeSetTimerEx(timer, LARGE_INTEGER(-MS_100NS), 5, _dpc(tick)) is False

    m = run_driver(entry, strategy=strategy, until=100 * MS)
    assert fired == [(t, DISPATCH_LEVEL) for t in (1.0, 6.0, 11.0, 16.0)]
    assert cancelled == [True, False]
    assert m.now == 100 * MS
    assert m.violations == []


def test_cancel_before_the_due_time_stops_the_dpc() -> None:
    fired: list[float] = []
    seen: list[bool] = []

    def routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        fired.append(_now_ms())

    def entry(driver: Any, registry: Any) -> None:
        timer = _timer()
        seen.append(KeCancelTimer(timer))  # never set
        KeSetTimerEx(timer, LARGE_INTEGER(-5 * MS_100NS), 1, _dpc(routine))
        KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-2 * MS_100NS))
        seen.append(KeCancelTimer(timer))
        seen.append(KeReadStateTimer(timer))

    m = run_driver(entry, until=50 * MS)
    assert fired == []
    assert seen == [False, True, False]
    assert m.violations == []


def test_cancelled_and_reset_timers_leave_no_expiry_behind() -> None:
    fired: list[float] = []

    def routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        fired.append(_now_ms())

    def entry(driver: Any, registry: Any) -> None:
        periodic, reset = _timer(name="periodic"), _timer(name="reset")
        KeSetTimerEx(periodic, LARGE_INTEGER(-MS_100NS), 2, _dpc(routine))
        KeSetTimer(reset, LARGE_INTEGER(-90 * MS_100NS), _dpc(routine))
        KeSetTimer(reset, LARGE_INTEGER(-4 * MS_100NS), None)  # re-set: 90 ms withdrawn
        KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-4 * MS_100NS))
        KeCancelTimer(periodic)  # due again at 5 ms: withdrawn

    m = run_driver(entry)
    assert fired == [1.0, 3.0]
    assert m.now == 4 * MS  # the clock never went to a withdrawn expiry
    assert m.next_event_time() is None
    assert m.violations == []


def test_timer_dpc_rearming_itself_keeps_exact_virtual_times() -> None:
    fired: list[int] = []
    timer = KTIMER("rearm")

    def routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        fired.append(KeQueryInterruptTime())
        if len(fired) < 1000:
            KeSetTimer(timer, -3, dpc)  # 300 ns, as a plain int

    def entry(driver: Any, registry: Any) -> None:
        KeInitializeTimer(timer)
        KeSetTimer(timer, -3, _dpc(routine))

    m = run_driver(entry)
    assert fired == [3 * (i + 1) for i in range(1000)]
    assert m.now == 300_000
    assert m.violations == []


def test_threads_wait_on_timers() -> None:
    woken: list[Any] = []
    notification = KTIMER("notification")
    synchronization = KTIMER("synchronization")

    def waiter(timer: KTIMER) -> None:
        status = KeWaitForSingleObject(timer, Executive, KernelMode, FALSE,
                                       LARGE_INTEGER(-10 * MS_100NS))
        woken.append((timer.name, status, _now_ms()))

    def entry(driver: Any, registry: Any) -> None:
        KeInitializeTimerEx(notification, NotificationTimer)
        KeInitializeTimerEx(synchronization, SynchronizationTimer)
        for timer in (notification, notification, synchronization, synchronization):
            _thread(waiter, timer)
        KeSetTimer(notification, LARGE_INTEGER(-2 * MS_100NS), None)
        KeSetTimer(synchronization, LARGE_INTEGER(-3 * MS_100NS), None)

    m = run_driver(entry)
    # A notification timer releases every waiter; a synchronization timer exactly one.
    assert sorted(woken) == [
        ("notification", STATUS_WAIT_0, 2.0),
        ("notification", STATUS_WAIT_0, 2.0),
        ("synchronization", STATUS_WAIT_0, 3.0),
        ("synchronization", STATUS_TIMEOUT, 10.0),
    ]
    assert m.violations == []


def test_reinitialising_a_set_timer_is_reported() -> None:
    def entry(driver: Any, registry: Any) -> None:
        timer = _timer()
        KeSetTimer(timer, LARGE_INTEGER(-MS_100NS), None)
        KeInitializeTimer(timer)

    assert rule_ids(run_driver(entry)) == ["timer.freed_while_set"]


def test_set_timer_above_dispatch_is_reported() -> None:
    def entry(driver: Any, registry: Any) -> None:
        timer = _timer()
        old = KeRaiseIrql(HIGH_LEVEL)
        KeSetTimer(timer, LARGE_INTEGER(-MS_100NS), None)
        KeCancelTimer(timer)
        KeLowerIrql(old)

    assert rule_ids(run_driver(entry)) == ["irql.too_high", "irql.too_high"]


def test_timer_dpc_lands_on_the_cpu_that_set_it_under_fifo() -> None:
    seen: list[int] = []

    def routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        seen.append(KeGetCurrentProcessorNumber())

    def setter(context: Any) -> None:
        KeSetTimer(_timer(), LARGE_INTEGER(-MS_100NS), _dpc(routine))

    def dpc_on_1(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        KeSetTimer(_timer(), LARGE_INTEGER(-MS_100NS), _dpc(routine))

    def entry(driver: Any, registry: Any) -> None:
        _thread(setter)
        dpc = _dpc(dpc_on_1)
        KeSetTargetProcessorDpc(dpc, 1)
        KeInsertQueueDpc(dpc, None, None)

    m = run_driver(entry)
    assert sorted(seen) == [0, 1]
    assert m.violations == []
