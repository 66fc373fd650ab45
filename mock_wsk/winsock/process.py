"""User-mode applications: a stub that defines ``main(argv)`` runs as a process.

The process's main thread is a USER_THREAD context at PASSIVE_LEVEL on CPU 0; ``argv`` is
``[name, "key=value", ...]`` built from the scenario's ``driver.parameters`` (what a command line
would carry). When ``main`` returns, its return value is the exit code, the process's sockets
are closed as Windows closes a process's handles (pending requests fail), and the run stops:
an application scenario lasts until the application exits or ``run.duration``, whichever comes
first. Other threads it created (``CreateThread``) are not killed at exit -- the mock does not
model ExitProcess tearing down threads; a well-behaved application joins them before returning.
There is no DriverUnload; the leak checks of every subsystem still run at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mock_wsk.machine import Context, ContextKind, Machine


class Process:
    """A running application: ``done`` once ``main`` returned, with its ``exit_code``."""

    def __init__(self, name: str, module: Any, argv: list[str]) -> None:
        self.name = name
        self.module = module
        self.argv = argv
        self.exit_code: int | None = None
        self.done = False
        self.main_thread: Context | None = None

    def __repr__(self) -> str:
        state = f"exited {self.exit_code}" if self.done else "running"
        return f"<Process {self.name} {state}>"


class ProcessTable:
    """Per-machine list of processes (metrics ``process.*``)."""

    def __init__(self, m: Machine) -> None:
        self.m = m
        self.processes: list[Process] = []

    def metrics(self) -> dict[str, float]:
        if not self.processes:
            return {}
        first = self.processes[0]
        return {
            "process.done": int(first.done),
            "process.exit_code": first.exit_code if first.exit_code is not None else -1,
        }


def is_app(module: Any) -> bool:
    """A user-mode application stub: ``main`` and no ``DriverEntry``."""
    return callable(getattr(module, "main", None)) and \
        not callable(getattr(module, "DriverEntry", None))


def start_process(m: Machine, module: Any, name: str,
                  parameters: Mapping[str, Any] | None = None) -> Process:
    """Start ``module.main(argv)`` in a new process (runs on ``m.run()``)."""
    argv = [name, *(f"{key}={value}" for key, value in (parameters or {}).items())]
    process = Process(name, module, argv)
    m.subsystem(ProcessTable).processes.append(process)

    def main_thread() -> None:
        result = module.main(argv)
        process.exit_code = int(result) if isinstance(result, int) else 0
        process.done = True
        m.emit("process.exit", name, process.exit_code)
        from mock_wsk.winsock.stack import WinsockStack

        m.subsystem(WinsockStack).process_exited()
        m.request_stop()

    process.main_thread = m.spawn(ContextKind.USER_THREAD, f"{name}!main", main_thread, cpu=0)
    return process


def finish_process(m: Machine, process: Process, timeout_ns: int) -> None:
    """After the scenario's duration: give the application ``timeout_ns`` to exit, then run the
    exit checks of every subsystem (the user-mode counterpart of unloading a driver)."""
    if not process.done and m.halt is None and m.stuck is None:
        m.run(until_ns=m.now + timeout_ns)
    for subsystem in m.subsystems():
        check = getattr(subsystem, "check_unload", None)
        if check is not None:
            check()
