"""Run-down protection: acquire/release, the rundown wait as a real wait, hangs and misuse."""

from __future__ import annotations

from typing import Any

import pytest
from kernel_helpers import assert_at, next_line, only, rule_ids, run_driver

from mock_wsk.constants import DISPATCH_LEVEL
from mock_wsk.kernel.irql import KeLowerIrql, KeQueryInterruptTime, KeRaiseIrql
from mock_wsk.kernel.rundown import (
    EX_RUNDOWN_REF,
    ExAcquireRundownProtection,
    ExAcquireRundownProtectionEx,
    ExInitializeRundownProtection,
    ExReInitializeRundownProtection,
    ExReleaseRundownProtection,
    ExReleaseRundownProtectionEx,
    ExRundownCompleted,
    ExWaitForRundownProtectionRelease,
)
from mock_wsk.kernel.sync import KeDelayExecutionThread, KernelMode
from mock_wsk.kernel.thread import THREAD_ALL_ACCESS, PsCreateSystemThread
from mock_wsk.kernel.types import HANDLE, LARGE_INTEGER
from mock_wsk.scheduling import FifoStrategy, PctStrategy, RandomStrategy, Strategy

HERE = "test_kernel_rundown.py"
MS_100NS = 10_000  # one millisecond in 100 ns units


def _strategies() -> list[Strategy]:
    return [FifoStrategy(), RandomStrategy(7), PctStrategy(7)]


def _delay_ms(ms: int) -> None:
    KeDelayExecutionThread(KernelMode, False, LARGE_INTEGER(-ms * MS_100NS))


def _start_thread(routine: Any) -> None:
    PsCreateSystemThread(HANDLE(), THREAD_ALL_ACCESS, None, None, None, routine, None)


@pytest.mark.parametrize("strategy", _strategies(), ids=lambda s: s.name)
def test_wait_blocks_until_a_thread_releases_its_reference(strategy: Strategy) -> None:
    ref = EX_RUNDOWN_REF("conn")
    seen: list[Any] = []

    def worker(context: Any) -> None:
        got = ExAcquireRundownProtection(ref)  # False if the rundown already began
        seen.append(("worker's own reference", got))
        _delay_ms(5)
        if got:
            ExReleaseRundownProtection(ref)
        ExReleaseRundownProtection(ref)  # the reference DriverEntry took on its behalf

    def entry(driver: Any, registry: Any) -> None:
        ExInitializeRundownProtection(ref)
        assert ExAcquireRundownProtection(ref)
        _start_thread(worker)
        ExWaitForRundownProtectionRelease(ref)
        seen.append(("rundown over at", KeQueryInterruptTime()))
        seen.append(("acquire after rundown", ExAcquireRundownProtection(ref)))
        ExRundownCompleted(ref)

    m = run_driver(entry, strategy=strategy)
    assert m.violations == []
    # Whether the worker starts before the rundown begins is the schedule's choice; either
    # way the wait ends when the last reference goes, 5 ms in, and then no acquire succeeds.
    assert ("rundown over at", 5 * MS_100NS) in seen
    assert ("acquire after rundown", False) in seen
    assert len([s for s in seen if s[0] == "worker's own reference"]) == 1
    assert ref.completed and ref.Count == 0


def test_acquire_fails_once_the_rundown_began() -> None:
    ref = EX_RUNDOWN_REF("conn")
    seen: list[Any] = []

    def worker(context: Any) -> None:
        seen.append(("worker", ExAcquireRundownProtection(ref)))
        ExReleaseRundownProtection(ref)  # DriverEntry's reference

    def entry(driver: Any, registry: Any) -> None:
        ExInitializeRundownProtection(ref)
        assert ExAcquireRundownProtection(ref)
        _start_thread(worker)
        ExWaitForRundownProtectionRelease(ref)  # fifo: blocks before the worker starts
        seen.append(("entry", ExAcquireRundownProtection(ref)))

    m = run_driver(entry)
    assert m.violations == []
    assert seen == [("worker", False), ("entry", False)]


def test_wait_without_references_returns_at_once_and_reinitialize_reopens() -> None:
    ref = EX_RUNDOWN_REF("idle")
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        ExInitializeRundownProtection(ref)
        ExWaitForRundownProtectionRelease(ref)
        seen.append(KeQueryInterruptTime())
        seen.append(ExAcquireRundownProtection(ref))
        ExRundownCompleted(ref)
        ExReInitializeRundownProtection(ref)
        seen.append(ExAcquireRundownProtection(ref))
        ExReleaseRundownProtection(ref)

    m = run_driver(entry)
    assert m.violations == []
    assert seen == [0, False, True]


def test_counted_acquire_and_release() -> None:
    ref = EX_RUNDOWN_REF("counted")
    counts: list[int] = []

    def entry(driver: Any, registry: Any) -> None:
        ExInitializeRundownProtection(ref)
        assert ExAcquireRundownProtectionEx(ref, 3)
        counts.append(ref.Count)
        ExReleaseRundownProtectionEx(ref, 2)
        ExReleaseRundownProtection(ref)
        counts.append(ref.Count)

    m = run_driver(entry)
    assert m.violations == [] and counts == [3, 0]


def test_release_without_acquire() -> None:
    ref = EX_RUNDOWN_REF("unbalanced")
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        ExInitializeRundownProtection(ref)
        assert ExAcquireRundownProtection(ref)
        ExReleaseRundownProtection(ref)
        lines["extra"] = next_line()
        ExReleaseRundownProtection(ref)

    m = run_driver(entry)
    assert_at(only(m, "rundown.release_without_acquire"), HERE, lines["extra"])
    assert rule_ids(m) == ["rundown.release_without_acquire"]
    assert ref.Count == 0


def test_reference_never_released_hangs_unload_and_names_the_acquire_line() -> None:
    ref = EX_RUNDOWN_REF("conn")
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        ExInitializeRundownProtection(ref)
        lines["acquire"] = next_line()
        ExAcquireRundownProtection(ref)  # ... and the matching release is forgotten

    def unload(driver: Any) -> None:
        ExWaitForRundownProtectionRelease(ref)

    m = run_driver(entry, unload)
    v = only(m, "driver.unload_hang")
    assert "rundown protection conn (1 reference(s) held" in v.message
    assert f"acquired at tests/{HERE}:{lines['acquire']} in entry x1" in v.message
    assert v.location is not None and v.location.function == "unload"


def test_wait_at_dispatch_is_reported_and_does_not_block() -> None:
    ref = EX_RUNDOWN_REF("raised")

    def entry(driver: Any, registry: Any) -> None:
        ExInitializeRundownProtection(ref)
        ExAcquireRundownProtection(ref)
        old = KeRaiseIrql(DISPATCH_LEVEL)
        ExWaitForRundownProtectionRelease(ref)
        KeLowerIrql(old)
        ExReleaseRundownProtection(ref)

    m = run_driver(entry)
    assert rule_ids(m) == ["irql.too_high"]
    assert "ExWaitForRundownProtectionRelease" in m.violations[0].message
