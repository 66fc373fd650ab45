"""Drivers: DRIVER_OBJECT, DEVICE_OBJECT, loading a stub and unloading it with leak checks.

A driver stub is a Python file shaped like a driver: a ``DriverEntry(DriverObject, RegistryPath)``
that sets ``DriverObject.DriverUnload``. :class:`DriverImage` compiles the file once and gives
every machine a fresh copy of its globals, so global variables behave as in a freshly loaded
driver even when thousands of runs share one process.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mock_wsk import machine as _machine
from mock_wsk.constants import PASSIVE_LEVEL
from mock_wsk.kernel.irql import check_max_irql
from mock_wsk.kernel.types import UNICODE_STRING, store
from mock_wsk.machine import Context, ContextKind, CtxState, Machine
from mock_wsk.status import NT_SUCCESS, STATUS_SUCCESS, status_name
from mock_wsk.verifier import code_location

FILE_DEVICE_NETWORK = 0x00000012  # devioctl.h
FILE_DEVICE_UNKNOWN = 0x00000022  # devioctl.h
FILE_DEVICE_SECURE_OPEN = 0x00000100  # wdm.h (DeviceCharacteristics)


class DRIVER_OBJECT:
    __slots__ = ("DriverName", "DriverUnload", "DeviceObject", "MajorFunction",
                 "DriverExtension", "__dict__")

    def __init__(self, name: str) -> None:
        self.DriverName = UNICODE_STRING(f"\\Driver\\{name}")
        self.DriverUnload: Callable[[DRIVER_OBJECT], None] | None = None
        self.DeviceObject: DEVICE_OBJECT | None = None
        self.MajorFunction: dict[int, Any] = {}
        self.DriverExtension: Any = None

    def __repr__(self) -> str:
        return f"<DRIVER_OBJECT {self.DriverName}>"


class DEVICE_OBJECT:
    __slots__ = ("DriverObject", "DeviceExtension", "NextDevice", "deleted", "__dict__")

    def __init__(self, DriverObject: DRIVER_OBJECT, extension: Any) -> None:
        self.DriverObject = DriverObject
        self.DeviceExtension = extension
        self.NextDevice: DEVICE_OBJECT | None = None
        self.deleted = False


class DeviceExtension(types.SimpleNamespace):
    """A device extension: fields are set by the driver, as on a C struct."""


def IoCreateDevice(DriverObject: DRIVER_OBJECT, DeviceExtensionSize: int, DeviceName: Any,
                   DeviceType: int, DeviceCharacteristics: int, Exclusive: bool,
                   DeviceObject: Any) -> int:
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "IoCreateDevice", PASSIVE_LEVEL)
    device = DEVICE_OBJECT(DriverObject, DeviceExtension() if DeviceExtensionSize else None)
    device.NextDevice = DriverObject.DeviceObject
    DriverObject.DeviceObject = device
    store(DeviceObject, device)
    return STATUS_SUCCESS


def IoDeleteDevice(DeviceObject: DEVICE_OBJECT) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    DeviceObject.deleted = True
    driver = DeviceObject.DriverObject
    if driver.DeviceObject is DeviceObject:
        driver.DeviceObject = DeviceObject.NextDevice


class DriverImage:
    """A driver stub's compiled code; :meth:`instantiate` gives a fresh set of globals."""

    def __init__(self, name: str, path: str, code: types.CodeType) -> None:
        self.name = name
        self.path = path
        self._code = code

    @classmethod
    def from_file(cls, path: str | Path, name: str | None = None) -> DriverImage:
        path = Path(path)
        source = path.read_text(encoding="utf-8")
        code = compile(source, str(path.resolve()), "exec")
        return cls(name or path.stem, str(path), code)

    def instantiate(self) -> types.ModuleType:
        module = types.ModuleType(f"driver_stub_{self.name}")
        module.__file__ = self.path
        exec(self._code, module.__dict__)  # the stub's own code, loaded like a driver image
        if not callable(getattr(module, "DriverEntry", None)):
            raise ImportError(f"{self.path}: a driver stub must define DriverEntry(DriverObject, "
                              "RegistryPath)")
        return module


class LoadedDriver:
    """A driver loaded on a machine: its objects, its namespace and its lifecycle contexts."""

    def __init__(self, name: str, module: Any, parameters: Mapping[str, Any]) -> None:
        self.name = name
        self.module = module
        self.DriverObject = DRIVER_OBJECT(name)
        self.RegistryPath = UNICODE_STRING(
            f"\\Registry\\Machine\\System\\CurrentControlSet\\Services\\{name}", dict(parameters)
        )
        self.entry_status: int | None = None
        self.entry_ctx: Context | None = None
        self.unload_ctx: Context | None = None
        self.unloaded = False

    @property
    def loaded(self) -> bool:
        return self.entry_status is not None and NT_SUCCESS(self.entry_status)

    def __repr__(self) -> str:
        status = status_name(self.entry_status) if self.entry_status is not None else "pending"
        return f"<LoadedDriver {self.name} {status}>"


class DriverTable:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.drivers: list[LoadedDriver] = []


def load_driver(m: Machine, module: Any, name: str | None = None,
                parameters: Mapping[str, Any] | None = None) -> LoadedDriver:
    """Start ``module.DriverEntry`` in a system thread at PASSIVE_LEVEL (runs on ``m.run()``)."""
    name = name or getattr(module, "__name__", "driver").rsplit(".", 1)[-1]
    driver = LoadedDriver(name, module, parameters or {})
    m.subsystem(DriverTable).drivers.append(driver)

    def driver_entry() -> None:
        driver.entry_status = module.DriverEntry(driver.DriverObject, driver.RegistryPath)
        m.emit("driver.entry", name, driver.entry_status)

    driver.entry_ctx = m.spawn(ContextKind.SYSTEM_THREAD, f"{name}!DriverEntry", driver_entry,
                               cpu=0)
    return driver


def unload_driver(m: Machine, driver: LoadedDriver) -> Context:
    """Start DriverUnload in a system thread; when it returns, and it was the last driver, run
    every subsystem's leak check (pool, IRPs, MDLs, threads, sockets)."""
    table = m.subsystem(DriverTable)

    def driver_unload() -> None:
        unload = driver.DriverObject.DriverUnload
        if driver.loaded and unload is not None:
            unload(driver.DriverObject)
        driver.unloaded = True
        m.emit("driver.unload", driver.name)
        if all(d.unloaded for d in table.drivers):
            for subsystem in m.subsystems():
                check = getattr(subsystem, "check_unload", None)
                if check is not None:
                    check()
            m.request_stop()  # nothing of the driver may run after this: the run is over

    driver.unload_ctx = m.spawn(ContextKind.SYSTEM_THREAD, f"{driver.name}!DriverUnload",
                                driver_unload, cpu=0)
    return driver.unload_ctx


def check_unload_finished(m: Machine, driver: LoadedDriver) -> bool:
    """After ``m.run()``: report an unload that never returned, with who waits for what."""
    ctx = driver.unload_ctx
    if ctx is None or ctx.state is CtxState.DONE or m.halt is not None or m.stuck is not None:
        return True
    graph = m.wait_for_graph()
    m.report(
        "driver.unload_hang",
        f"{driver.name}!DriverUnload never returned; " + ("; ".join(graph) or "nothing runnable"),
        objects={"wait_for": " | ".join(graph)},
        location=code_location(driver.DriverObject.DriverUnload or ctx.routine),
        context=ctx,
    )
    return False
