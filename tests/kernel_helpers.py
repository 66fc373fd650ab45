"""Shared helpers for the kernel tests: run a driver defined inline in a test on a Machine."""

from __future__ import annotations

import sys
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
from mock_wsk.machine import Machine, active_machine
from mock_wsk.scheduling import Strategy
from mock_wsk.status import STATUS_SUCCESS
from mock_wsk.verifier import Policy, Violation

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
    setup: Callable[[Machine], None] | None = None,
    **machine_kw: Any,
) -> Machine:
    """Load a driver whose ``DriverEntry`` is ``entry`` and run the machine.

    ``entry`` may return None (taken as STATUS_SUCCESS). The machine runs until it is idle (or
    until ``until`` ns); then, if the driver has an unload routine (``unload`` or one the entry
    set), DriverUnload runs, the unload leak checks run, and a hang is reported with
    :func:`check_unload_finished`. ``setup(m)`` runs first (fault injection, configuration);
    other keywords (``arch``, ``seed``) go to :class:`Machine`.
    """
    m = Machine(cpus=cpus, strategy=strategy, policy=policy, step_budget=step_budget,
                trace=trace, **machine_kw)
    if setup is not None:
        setup(m)

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


# ---------------------------------------------------------------------- pool/IRP/MDL tests


def no_unload(driver: DRIVER_OBJECT) -> None:
    """A DriverUnload that does nothing: lets a test reach the unload leak checks."""


def machine() -> Machine:
    """The machine running the calling driver code (for provider-side helpers in tests)."""
    return active_machine()


def next_line() -> int:
    """The line after the caller's: ``line = next_line()`` just above the offending statement."""
    return sys._getframe(1).f_lineno + 1


def violations(m: Machine, rule_id: str) -> list[Violation]:
    return [v for v in m.violations if v.rule.id == rule_id]


def only(m: Machine, rule_id: str) -> Violation:
    """The single violation of ``rule_id`` (fails the test if there are none or several)."""
    found = violations(m, rule_id)
    assert len(found) == 1, f"expected one {rule_id}, got {rule_ids(m)}"
    return found[0]


def assert_at(violation: Violation, test_file: str, line: int) -> None:
    """The violation points at ``line`` of the test file itself (the driver's own code)."""
    location = violation.location
    assert location is not None, violation.render()
    assert location.file.endswith(test_file), violation.render()
    assert location.line == line, violation.render()
