"""System threads, work items, driver load/unload checks and machine-level stops."""

from __future__ import annotations

from typing import Any

import pytest
from kernel_helpers import loaded_driver, rule_ids, run_driver

from mock_wsk.constants import APC_LEVEL, DISPATCH_LEVEL, PASSIVE_LEVEL, BugCheck
from mock_wsk.kernel.sync import LONG
from mock_wsk.kernel.thread import KTHREAD
from mock_wsk.machine import KDPC, CtxState
from mock_wsk.scheduling import FifoStrategy, PctStrategy, RandomStrategy, Strategy
from mock_wsk.status import STATUS_UNSUCCESSFUL
from mock_wsk.verifier import Policy
from mock_wsk.wdk import (
    FALSE,
    HANDLE,
    KEVENT,
    LARGE_INTEGER,
    STATUS_SUCCESS,
    STATUS_WAIT_0,
    THREAD_ALL_ACCESS,
    DelayedWorkQueue,
    Executive,
    InterlockedIncrement,
    IoAllocateWorkItem,
    IoCreateDevice,
    IoDeleteDevice,
    IoFreeWorkItem,
    IoQueueWorkItem,
    KeDelayExecutionThread,
    KeGetCurrentIrql,
    KeInitializeDpc,
    KeInitializeEvent,
    KeInsertQueueDpc,
    KeLowerIrql,
    KeQueryInterruptTime,
    KeRaiseIrql,
    KernelMode,
    KeSetEvent,
    KeWaitForSingleObject,
    NotificationEvent,
    ObDereferenceObject,
    ObReferenceObjectByHandle,
    PsCreateSystemThread,
    PsTerminateSystemThread,
    ZwClose,
)

MS_100NS = 10_000


def _strategies() -> list[Strategy]:
    return [FifoStrategy(), RandomStrategy(5), PctStrategy(5)]


def _create_thread(routine: Any, context: Any = None) -> KTHREAD:
    handle = HANDLE()
    status = PsCreateSystemThread(handle, THREAD_ALL_ACCESS, None, None, None, routine, context)
    assert status == STATUS_SUCCESS
    assert isinstance(handle.value, KTHREAD)
    return handle.value


def _wait(obj: Any, timeout: Any = None) -> int:
    return KeWaitForSingleObject(obj, Executive, KernelMode, FALSE, timeout)


def _device(driver: Any) -> Any:
    device = HANDLE()
    assert IoCreateDevice(driver, 0, None, 0x22, 0, FALSE, device) == STATUS_SUCCESS
    return device.value


# ---------------------------------------------------------------------- system threads


@pytest.mark.parametrize("strategy", _strategies(), ids=lambda s: s.name)
def test_system_thread_runs_at_passive_and_can_wait(strategy: Strategy) -> None:
    seen: list[Any] = []

    def worker(context: Any) -> None:
        seen.append((context, KeGetCurrentIrql()))
        KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-2 * MS_100NS))
        seen.append(KeQueryInterruptTime())

    def entry(driver: Any, registry: Any) -> None:
        _create_thread(worker, "ctx")

    m = run_driver(entry, strategy=strategy)
    assert seen == [("ctx", PASSIVE_LEVEL), 2 * MS_100NS]
    assert m.violations == []


def test_terminate_system_thread_ends_the_thread_with_its_status() -> None:
    seen: list[str] = []
    threads: list[KTHREAD] = []

    def worker(context: Any) -> None:
        seen.append("before")
        PsTerminateSystemThread(STATUS_UNSUCCESSFUL)
        seen.append("after")  # pragma: no cover - never runs

    def entry(driver: Any, registry: Any) -> None:
        threads.append(_create_thread(worker))

    m = run_driver(entry)
    assert seen == ["before"]
    ctx = threads[0].context
    assert ctx is not None and ctx.state is CtxState.DONE
    assert ctx.exit_status == STATUS_UNSUCCESSFUL
    assert threads[0].is_signaled()
    assert m.violations == []


@pytest.mark.parametrize("strategy", _strategies(), ids=lambda s: s.name)
def test_unload_waits_on_the_thread_object(strategy: Strategy) -> None:
    stop = KEVENT("stop")
    threads: list[KTHREAD] = []
    seen: list[Any] = []

    def worker(context: Any) -> None:
        assert _wait(stop) == STATUS_WAIT_0
        KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-3 * MS_100NS))
        seen.append(("worker done", KeQueryInterruptTime()))

    def entry(driver: Any, registry: Any) -> None:
        KeInitializeEvent(stop, NotificationEvent, FALSE)
        thread = _create_thread(worker)
        referenced = HANDLE()
        ObReferenceObjectByHandle(thread, 0, None, KernelMode, referenced, None)
        ZwClose(thread)
        threads.append(referenced.value)

    def unload(driver: Any) -> None:
        KeSetEvent(stop, 0, FALSE)
        seen.append(("wait", _wait(threads[0])))  # the thread is still running here
        seen.append(("unload done", KeQueryInterruptTime()))
        ObDereferenceObject(threads[0])

    m = run_driver(entry, unload, strategy=strategy)
    assert seen == [("worker done", 3 * MS_100NS), ("wait", STATUS_WAIT_0),
                    ("unload done", 3 * MS_100NS)]
    assert threads[0].references == 0
    assert loaded_driver(m).unloaded
    assert m.violations == []


def test_thread_still_running_at_unload_is_a_leak() -> None:
    never = KEVENT("never")

    def worker(context: Any) -> None:
        _wait(never)

    def entry(driver: Any, registry: Any) -> None:
        KeInitializeEvent(never, NotificationEvent, FALSE)
        _create_thread(worker)

    def unload(driver: Any) -> None:
        pass  # forgets to stop and wait for its thread

    m = run_driver(entry, unload)
    assert rule_ids(m) == ["thread.leak"]
    v = m.violations[0]
    assert v.rule.bugcheck == BugCheck.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS
    assert "worker" in v.message
    assert v.location is not None and v.location.function == "worker"


def test_unload_that_never_returns_is_reported_with_its_wait_for_line() -> None:
    stuck = KEVENT("NeverSignalled")

    def entry(driver: Any, registry: Any) -> None:
        KeInitializeEvent(stuck, NotificationEvent, FALSE)

    def unload(driver: Any) -> None:
        _wait(stuck)

    m = run_driver(entry, unload)
    assert rule_ids(m) == ["driver.unload_hang"]
    v = m.violations[0]
    assert v.rule.bugcheck == BugCheck.DRIVER_POWER_STATE_FAILURE
    assert "(TestDriver!DriverUnload) waits for NeverSignalled (forever)" in v.message
    assert v.objects["wait_for"] == m.wait_for_graph()[0]
    assert v.location is not None and v.location.function == "unload"
    assert not loaded_driver(m).unloaded


def test_create_thread_above_passive_is_reported() -> None:
    def entry(driver: Any, registry: Any) -> None:
        old = KeRaiseIrql(APC_LEVEL)
        _create_thread(lambda context: None)
        KeLowerIrql(old)

    assert rule_ids(run_driver(entry)) == ["irql.too_high"]


def test_failed_driver_entry_skips_unload() -> None:
    unloaded: list[bool] = []

    def entry(driver: Any, registry: Any) -> int:
        return STATUS_UNSUCCESSFUL

    m = run_driver(entry, lambda driver: unloaded.append(True))
    assert unloaded == []
    assert not loaded_driver(m).loaded
    assert m.violations == []


# ---------------------------------------------------------------------- work items


@pytest.mark.parametrize("strategy", _strategies(), ids=lambda s: s.name)
def test_work_item_queued_from_a_dpc_runs_at_passive(strategy: Strategy) -> None:
    seen: list[Any] = []
    items: list[Any] = []

    def worker(device: Any, context: Any) -> None:
        seen.append(("worker", device is items[1], context, KeGetCurrentIrql()))
        KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-MS_100NS))  # may wait
        seen.append(("worker", KeQueryInterruptTime()))
        IoFreeWorkItem(items[0])

    def dpc_routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        seen.append(("dpc", KeGetCurrentIrql()))
        IoQueueWorkItem(items[0], worker, DelayedWorkQueue, "ctx")

    def entry(driver: Any, registry: Any) -> None:
        device = _device(driver)
        items.extend([IoAllocateWorkItem(device), device])
        dpc = KDPC()
        KeInitializeDpc(dpc, dpc_routine, None)
        KeInsertQueueDpc(dpc, None, None)

    def unload(driver: Any) -> None:
        IoDeleteDevice(items[1])

    m = run_driver(entry, unload, strategy=strategy)
    assert seen == [("dpc", DISPATCH_LEVEL), ("worker", True, "ctx", PASSIVE_LEVEL),
                    ("worker", MS_100NS)]
    assert items[0].freed and not items[0].queued
    assert m.violations == []


def test_work_item_queued_twice_or_after_free_is_misuse() -> None:
    runs = LONG()

    def worker(device: Any, context: Any) -> None:
        InterlockedIncrement(runs)

    def entry(driver: Any, registry: Any) -> None:
        item = IoAllocateWorkItem(_device(driver))
        old = KeRaiseIrql(DISPATCH_LEVEL)  # queue twice before the worker can run
        IoQueueWorkItem(item, worker, DelayedWorkQueue, None)
        IoQueueWorkItem(item, worker, DelayedWorkQueue, None)
        IoFreeWorkItem(item)  # still queued
        KeLowerIrql(old)
        KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-MS_100NS))
        IoQueueWorkItem(item, worker, DelayedWorkQueue, None)  # freed

    m = run_driver(entry)
    assert rule_ids(m) == ["workitem.misuse"] * 3
    messages = [v.message for v in m.violations]
    assert "already queued" in messages[0]
    assert "IoFreeWorkItem on queued" in messages[1]
    assert "is freed" in messages[2]
    assert runs.value == 1


# ---------------------------------------------------------------------- machine-level stops


def test_bugcheck_policy_halts_the_machine_with_a_blue_screen() -> None:
    after: list[str] = []
    ran_later: list[str] = []

    def later(context: Any) -> None:
        ran_later.append("later")

    def entry(driver: Any, registry: Any) -> None:
        _create_thread(later)
        old = KeRaiseIrql(DISPATCH_LEVEL)
        KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-MS_100NS))
        after.append("went on")
        KeLowerIrql(old)

    m = run_driver(entry, policy=Policy.BUGCHECK)
    assert m.halt is not None
    assert after == [] and ran_later == []  # nothing runs after a bug check
    screen = m.halt.blue_screen()
    assert screen.startswith("*** STOP: 0x0000000A (0x")
    assert "irql.wait_above_apc" in screen
    assert m.trace is not None and m.trace[-1][3] == "bugcheck"
    m.run()  # a halted machine stays halted
    assert ran_later == []


def test_step_budget_stops_a_busy_loop() -> None:
    flag = LONG()

    def entry(driver: Any, registry: Any) -> None:
        while InterlockedIncrement(flag) != 0:  # waits for nobody: never ends
            pass

    m = run_driver(entry, step_budget=5_000)
    assert rule_ids(m) == ["machine.step_budget"]
    assert m.stuck is m.violations[0]
    assert "5000" in m.violations[0].message
    assert m.violations[0].objects["context"].endswith("(TestDriver!DriverEntry)")


def test_unhandled_exception_in_driver_code_is_a_bug_check() -> None:
    def worker(context: Any) -> None:
        raise KeyError("boom")

    def entry(driver: Any, registry: Any) -> None:
        _create_thread(worker)

    m = run_driver(entry)
    assert rule_ids(m) == ["kernel.unhandled_exception"]
    assert m.halt is not None
    v = m.violations[0]
    assert v.location is not None and v.location.function == "worker"
    assert v.rule.bugcheck == BugCheck.KMODE_EXCEPTION_NOT_HANDLED
