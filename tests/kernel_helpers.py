"""Shared helpers for the kernel tests: run a driver defined inline in a test on a Machine."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from mock_wsk.kernel.driver import (
    DRIVER_OBJECT,
    DriverTable,
    LoadedDriver,
    check_unload_finished,
    load_driver,
    unload_driver,
)
from mock_wsk.machine import Machine
from mock_wsk.scheduling import Strategy
from mock_wsk.status import STATUS_SUCCESS
from mock_wsk.verifier import Policy

DriverEntryFn = Callable[[DRIVER_OBJECT, Any], Any]
DriverUnloadFn = Callable[[DRIVER_OBJECT], None]


def run_driver(
    entry: DriverEntryFn,
    unload: DriverUnloadFn | None = None,
    *,
    cpus: int = 2,
    strategy: Strategy | None = None,
    policy: Policy = Policy.RECORD,
    until: int | None = None,
    step_budget: int = 50_000_000,
    trace: bool = True,
) -> Machine:
    """Load a driver whose ``DriverEntry`` is ``entry`` and run the machine.

    ``entry`` may return None (taken as STATUS_SUCCESS). The machine runs until it is idle (or
    until ``until`` ns); then, if the driver has an unload routine (``unload`` or one the entry
    set), DriverUnload runs, the unload leak checks run, and a hang is reported with
    :func:`check_unload_finished`.
    """
    m = Machine(cpus=cpus, strategy=strategy, policy=policy, step_budget=step_budget,
                trace=trace)

    def DriverEntry(DriverObject: DRIVER_OBJECT, RegistryPath: Any) -> int:
        if unload is not None:
            DriverObject.DriverUnload = unload
        status = entry(DriverObject, RegistryPath)
        return STATUS_SUCCESS if status is None else int(status)

    driver = load_driver(m, types.SimpleNamespace(DriverEntry=DriverEntry), name="TestDriver")
    m.run(until)
    if driver.DriverObject.DriverUnload is not None and m.halt is None and m.stuck is None:
        unload_driver(m, driver)
        m.run()
        check_unload_finished(m, driver)
    return m


def loaded_driver(m: Machine) -> LoadedDriver:
    """The driver :func:`run_driver` loaded on ``m``."""
    return m.subsystem(DriverTable).drivers[0]


def rule_ids(m: Machine) -> list[str]:
    return m.verifier.rule_ids()
