"""The kernel32 side a Winsock application needs: events, waits, alertable waits, APCs, threads.

Built on the kernel's dispatcher objects (a Win32 event *is* a KEVENT here), so user threads
wait like any other context: they leave the CPU until signalled or timed out in virtual time.

APCs (completion routines of overlapped I/O) follow Win32: they are queued to the thread that
issued the request and run only when that thread enters an *alertable* wait (``SleepEx``,
``WaitForSingleObjectEx``, ``WSAWaitForMultipleEvents`` with ``fAlertable = TRUE``), which then
returns ``WAIT_IO_COMPLETION``. Each thread has an internal "APC pending" event that alertable
waits include, so a completion arriving during the wait wakes it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from mock_wsk import machine as _machine
from mock_wsk.kernel.sync import (
    KEVENT,
    DispatcherObject,
    NotificationEvent,
    SynchronizationEvent,
    wait_for_objects,
)
from mock_wsk.kernel.thread import KTHREAD
from mock_wsk.machine import Context, ContextKind, Machine
from mock_wsk.status import STATUS_TIMEOUT

INFINITE = 0xFFFFFFFF
WAIT_OBJECT_0 = 0
WAIT_TIMEOUT = 258
WAIT_IO_COMPLETION = 0xC0
WAIT_FAILED = 0xFFFFFFFF
ERROR_INVALID_HANDLE = 6
ERROR_NOT_FOUND = 1168
TRUE = True
FALSE = False

HANDLE = Any


class ThreadState:
    """Per user thread: last error and APC queue."""

    __slots__ = ("last_error", "apcs", "apc_event")

    def __init__(self) -> None:
        self.last_error = 0
        self.apcs: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self.apc_event = KEVENT("apc")
        self.apc_event.Type = SynchronizationEvent


class UserThreads:
    """Per-machine table of user-thread state (keyed by context id)."""

    def __init__(self, m: Machine) -> None:
        self.m = m
        self.threads: dict[int, ThreadState] = {}

    def state(self, ctx: Context | None = None) -> ThreadState:
        ctx = ctx or self.m.current
        key = ctx.id if ctx is not None else 0
        state = self.threads.get(key)
        if state is None:
            state = self.threads[key] = ThreadState()
        return state


def _threads() -> tuple[Machine, UserThreads]:
    m = _machine.active_machine()
    return m, m.subsystem(UserThreads)


def current_thread() -> Context:
    ctx = _machine.active_machine().current
    assert ctx is not None
    return ctx


def queue_apc(m: Machine, ctx: Context, fn: Callable[..., None], *args: Any) -> None:
    """QueueUserAPC's mechanism (from any context): run ``fn(*args)`` on ``ctx`` at its next
    alertable wait."""
    state = m.subsystem(UserThreads).state(ctx)
    state.apcs.append((fn, args))
    state.apc_event.State = 1
    state.apc_event.signal_waiters(m)


def GetLastError() -> int:
    return _threads()[1].state().last_error


def SetLastError(dwErrCode: int) -> None:
    _threads()[1].state().last_error = dwErrCode


def _run_apcs(state: ThreadState) -> bool:
    ran = False
    while state.apcs:
        fn, args = state.apcs.popleft()
        fn(*args)
        ran = True
    state.apc_event.State = 0
    return ran


def _timeout(dwMilliseconds: int) -> int | None:
    return None if dwMilliseconds == INFINITE else -10_000 * int(dwMilliseconds)


def wait_objects(objects: Sequence[DispatcherObject], wait_all: bool, dwMilliseconds: int,
                 alertable: bool, api: str) -> int:
    """The heart of every Win32 wait: WAIT_OBJECT_0 + i, WAIT_TIMEOUT or WAIT_IO_COMPLETION."""
    m, threads = _threads()
    state = threads.state()
    if alertable and _run_apcs(state):
        return WAIT_IO_COMPLETION
    waited = list(objects)
    if alertable:
        if wait_all:  # the APC event is a separate "any" condition; approximate by polling
            waited_any = False
        else:
            waited.append(state.apc_event)
            waited_any = True
    else:
        waited_any = False
    status = wait_for_objects(m, waited, wait_all, _timeout(dwMilliseconds), api)
    if status == STATUS_TIMEOUT:
        return WAIT_TIMEOUT
    if waited_any and status == len(objects):
        _run_apcs(state)
        return WAIT_IO_COMPLETION
    return WAIT_OBJECT_0 + status


# ---------------------------------------------------------------------- events


def CreateEventW(lpEventAttributes: Any, bManualReset: bool, bInitialState: bool,
                 lpName: str | None) -> KEVENT:
    event = KEVENT(lpName or "Win32Event")
    event.Type = NotificationEvent if bManualReset else SynchronizationEvent
    event.State = 1 if bInitialState else 0
    return event


CreateEvent = CreateEventW


def SetEvent(hEvent: KEVENT) -> bool:
    m = _machine.active_machine()
    m.preemption_point()
    hEvent.State = 1
    hEvent.signal_waiters(m)
    return True


def ResetEvent(hEvent: KEVENT) -> bool:
    _machine.active_machine().preemption_point()
    hEvent.State = 0
    return True


def CloseHandle(hObject: Any) -> bool:
    return True


def WaitForSingleObject(hHandle: DispatcherObject, dwMilliseconds: int) -> int:
    return wait_objects((hHandle,), False, dwMilliseconds, False, "WaitForSingleObject")


def WaitForSingleObjectEx(hHandle: DispatcherObject, dwMilliseconds: int,
                          bAlertable: bool) -> int:
    return wait_objects((hHandle,), False, dwMilliseconds, bAlertable, "WaitForSingleObjectEx")


def WaitForMultipleObjects(nCount: int, lpHandles: Sequence[DispatcherObject], bWaitAll: bool,
                           dwMilliseconds: int) -> int:
    return wait_objects(list(lpHandles)[:nCount], bWaitAll, dwMilliseconds, False,
                        "WaitForMultipleObjects")


def SleepEx(dwMilliseconds: int, bAlertable: bool) -> int:
    """0 after the interval, WAIT_IO_COMPLETION if an APC ran (alertable only)."""
    result = wait_objects((), False, dwMilliseconds, bAlertable, "SleepEx")
    return WAIT_IO_COMPLETION if result == WAIT_IO_COMPLETION else 0


def Sleep(dwMilliseconds: int) -> None:
    SleepEx(dwMilliseconds, False)


def GetTickCount64() -> int:
    return _machine.active_machine().now // 1_000_000


# ---------------------------------------------------------------------- threads


def CreateThread(lpThreadAttributes: Any, dwStackSize: int, lpStartAddress: Any,
                 lpParameter: Any, dwCreationFlags: int, lpThreadId: Any) -> KTHREAD:
    """A user thread of the current process; the handle is signalled when it returns."""
    m = _machine.active_machine()
    m.preemption_point()
    name = getattr(lpStartAddress, "__name__", "thread")
    thread = KTHREAD(name)
    ctx = m.spawn(ContextKind.USER_THREAD, name, lpStartAddress, (lpParameter,))
    thread.context = ctx

    def ended(_: Context) -> None:
        thread.signal_waiters(m)

    ctx.on_exit.append(ended)
    return thread
