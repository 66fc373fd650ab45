"""IRQL DDIs: KeGetCurrentIrql, KeRaiseIrql, KeLowerIrql, PAGED_CODE, per-DDI maximum IRQL."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from kernel_helpers import rule_ids, run_driver

from mock_wsk.constants import APC_LEVEL, DISPATCH_LEVEL, PASSIVE_LEVEL
from mock_wsk.machine import KDPC, Machine
from mock_wsk.scheduling import FifoStrategy, PctStrategy, RandomStrategy, Strategy
from mock_wsk.verifier import Severity, Violation
from mock_wsk.wdk import (
    FALSE,
    KEVENT,
    KIRQL,
    PAGED_CODE,
    KeGetCurrentIrql,
    KeGetCurrentProcessorNumber,
    KeInitializeDpc,
    KeInitializeEvent,
    KeInsertQueueDpc,
    KeLowerIrql,
    KeQueryActiveProcessorCount,
    KeRaiseIrql,
    KeRaiseIrqlToDpcLevel,
    KeSetEvent,
    NotificationEvent,
)

HIGH_LEVEL_X64 = 15


def _here() -> int:
    """The line number of the caller's next line (a marker for location assertions)."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno + 1


def _in_this_file(v: Violation) -> bool:
    assert v.location is not None
    return Path(v.location.file).resolve() == Path(__file__).resolve()


def _strategies() -> list[Strategy]:
    return [FifoStrategy(), RandomStrategy(7), PctStrategy(7)]


def test_irql_is_passive_in_driver_entry_and_dispatch_in_a_dpc() -> None:
    seen: list[tuple[str, int]] = []

    def dpc_routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        seen.append(("dpc", KeGetCurrentIrql()))

    def entry(driver: Any, registry: Any) -> None:
        seen.append(("entry", KeGetCurrentIrql()))
        dpc = KDPC()
        KeInitializeDpc(dpc, dpc_routine, None)
        KeInsertQueueDpc(dpc, None, None)

    m = run_driver(entry)
    assert seen == [("entry", PASSIVE_LEVEL), ("dpc", DISPATCH_LEVEL)]
    assert m.violations == []


def test_get_current_irql_outside_a_machine_raises() -> None:
    with pytest.raises(RuntimeError, match="no simulated machine"):
        KeGetCurrentIrql()


def test_raise_and_lower_round_trip() -> None:
    seen: list[int] = []

    def entry(driver: Any, registry: Any) -> None:
        old = KIRQL()
        returned = KeRaiseIrql(DISPATCH_LEVEL, old)
        seen.extend([returned, old.value, KeGetCurrentIrql()])
        KeRaiseIrql(HIGH_LEVEL_X64)
        seen.append(KeGetCurrentIrql())
        KeLowerIrql(DISPATCH_LEVEL)
        KeLowerIrql(old.value)
        seen.append(KeGetCurrentIrql())
        seen.append(KeRaiseIrqlToDpcLevel())
        seen.append(KeGetCurrentIrql())
        KeLowerIrql(PASSIVE_LEVEL)

    m = run_driver(entry)
    assert seen == [PASSIVE_LEVEL, PASSIVE_LEVEL, DISPATCH_LEVEL, HIGH_LEVEL_X64,
                    PASSIVE_LEVEL, PASSIVE_LEVEL, DISPATCH_LEVEL]
    assert m.violations == []


def test_raise_to_a_lower_irql_is_reported_and_applied() -> None:
    seen: list[int] = []

    def entry(driver: Any, registry: Any) -> None:
        KeRaiseIrql(DISPATCH_LEVEL)
        KeRaiseIrql(APC_LEVEL)
        seen.append(KeGetCurrentIrql())
        KeLowerIrql(PASSIVE_LEVEL)

    m = run_driver(entry)
    assert rule_ids(m) == ["irql.raise_to_lower"]
    assert seen == [APC_LEVEL]


def test_raise_above_high_level_is_reported_and_clamped() -> None:
    seen: list[int] = []

    def entry(driver: Any, registry: Any) -> None:
        KeRaiseIrql(HIGH_LEVEL_X64 + 1)
        seen.append(KeGetCurrentIrql())
        KeLowerIrql(PASSIVE_LEVEL)

    m = run_driver(entry)
    assert rule_ids(m) == ["irql.raise_to_lower"]
    assert seen == [HIGH_LEVEL_X64]


def test_high_level_follows_the_architecture() -> None:
    assert Machine(arch="x64").high_level == 15
    assert Machine(arch="x86").high_level == 31
    with pytest.raises(ValueError):
        Machine(arch="arm64")
    with pytest.raises(ValueError):
        Machine(cpus=0)


def test_lower_irql_that_raises_is_reported_at_the_call_and_ignored() -> None:
    seen: list[int] = []
    where: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        KeRaiseIrql(APC_LEVEL)
        where["line"] = _here()
        KeLowerIrql(DISPATCH_LEVEL)
        seen.append(KeGetCurrentIrql())
        KeLowerIrql(PASSIVE_LEVEL)

    m = run_driver(entry)
    assert rule_ids(m) == ["irql.lower_raises"]
    assert seen == [APC_LEVEL]  # the IRQL did not change
    v = m.violations[0]
    assert v.severity is Severity.ERROR
    assert v.irql == APC_LEVEL
    assert v.location is not None and v.location.line == where["line"] and _in_this_file(v)
    assert v.location.function == "entry"


def test_paged_code_at_passive_and_apc_is_fine() -> None:
    def entry(driver: Any, registry: Any) -> None:
        PAGED_CODE()
        KeRaiseIrql(APC_LEVEL)
        PAGED_CODE()
        KeLowerIrql(PASSIVE_LEVEL)

    assert run_driver(entry).violations == []


def test_paged_code_at_dispatch_is_reported_with_the_line() -> None:
    where: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        KeRaiseIrql(DISPATCH_LEVEL)
        where["line"] = _here()
        PAGED_CODE()
        KeLowerIrql(PASSIVE_LEVEL)

    m = run_driver(entry)
    assert rule_ids(m) == ["irql.paged_code"]
    v = m.violations[0]
    assert v.irql == DISPATCH_LEVEL and v.cpu == 0
    assert v.location is not None and v.location.line == where["line"] and _in_this_file(v)


def test_paged_code_in_a_dpc_is_reported() -> None:
    def dpc_routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        PAGED_CODE()

    def entry(driver: Any, registry: Any) -> None:
        dpc = KDPC()
        KeInitializeDpc(dpc, dpc_routine, None)
        KeInsertQueueDpc(dpc, None, None)

    m = run_driver(entry)
    assert rule_ids(m) == ["irql.paged_code"]
    assert m.violations[0].context.startswith("dpc#")


def test_returning_at_another_irql_is_reported() -> None:
    def entry(driver: Any, registry: Any) -> None:
        KeRaiseIrql(APC_LEVEL)

    m = run_driver(entry)
    assert rule_ids(m) == ["irql.unexpected_at_exit"]


def test_ddi_above_its_maximum_irql_is_reported() -> None:
    def entry(driver: Any, registry: Any) -> None:
        event = KEVENT("e")
        KeInitializeEvent(event, NotificationEvent, FALSE)
        KeRaiseIrql(HIGH_LEVEL_X64)
        KeSetEvent(event, 0, FALSE)
        KeLowerIrql(PASSIVE_LEVEL)

    m = run_driver(entry)
    assert rule_ids(m) == ["irql.too_high"]
    assert m.violations[0].irql == HIGH_LEVEL_X64


@pytest.mark.parametrize("strategy", _strategies(), ids=lambda s: s.name)
def test_lowering_below_dispatch_delivers_the_cpus_dpcs_first(strategy: Strategy) -> None:
    log: list[str] = []

    def dpc_routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        log.append(f"dpc@{KeGetCurrentIrql()}")

    def entry(driver: Any, registry: Any) -> None:
        dpc = KDPC()
        KeInitializeDpc(dpc, dpc_routine, None)
        old = KeRaiseIrql(DISPATCH_LEVEL)
        KeInsertQueueDpc(dpc, None, None)
        log.append("queued")  # at DISPATCH_LEVEL the DPC waits
        KeLowerIrql(old)
        log.append("lowered")

    m = run_driver(entry, strategy=strategy)
    assert log == ["queued", f"dpc@{DISPATCH_LEVEL}", "lowered"]
    assert m.violations == []


def test_processor_queries() -> None:
    seen: list[int] = []

    def entry(driver: Any, registry: Any) -> None:
        seen.append(KeQueryActiveProcessorCount())
        seen.append(KeGetCurrentProcessorNumber())

    run_driver(entry, cpus=3)
    assert seen == [3, 0]  # DriverEntry runs on CPU 0
