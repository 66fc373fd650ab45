"""System threads and work items: PsCreateSystemThread, PsTerminateSystemThread, IoQueueWorkItem.

Both run at PASSIVE_LEVEL in contexts that can wait. A thread object is a dispatcher object that
becomes signalled when the thread ends, so a driver can wait for its threads at unload.
"""

from __future__ import annotations

from typing import Any

from mock_wsk import machine as _machine
from mock_wsk.constants import DISPATCH_LEVEL, PASSIVE_LEVEL
from mock_wsk.kernel.irql import check_max_irql
from mock_wsk.kernel.sync import DispatcherObject
from mock_wsk.kernel.types import store
from mock_wsk.machine import CTX_DONE, KIND_THREAD, KIND_WORK_ITEM, Context, Machine, ThreadExit
from mock_wsk.status import STATUS_SUCCESS
from mock_wsk.verifier import code_location

THREAD_ALL_ACCESS = 0x001FFFFF  # winnt.h (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0xFFFF)
DelayedWorkQueue = 1  # WORK_QUEUE_TYPE (wdm.h): CriticalWorkQueue 0, DelayedWorkQueue 1
CriticalWorkQueue = 0
NormalWorkQueue = 1


class KTHREAD(DispatcherObject):
    """A system thread; signalled when it ends. Also serves as its own handle."""

    __slots__ = ("context", "references")

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.context: Context | None = None
        self.references = 1

    def is_signaled(self) -> bool:
        ctx = self.context
        return ctx is not None and ctx.state is CTX_DONE


class ThreadTable:
    """Per-machine record of the driver's system threads (for the unload check)."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.threads: list[KTHREAD] = []

    def check_unload(self) -> None:
        for thread in self.threads:
            if not thread.is_signaled():
                self.machine.report(
                    "thread.leak", f"system thread {thread.name} still running at unload",
                    location=code_location(thread.context.routine) if thread.context else None,
                )


def _thread_ended(thread: KTHREAD) -> Any:
    def hook(ctx: Context) -> None:
        thread.signal_waiters(_machine.active_machine())

    return hook


def PsCreateSystemThread(ThreadHandle: Any, DesiredAccess: int, ObjectAttributes: Any,
                         ProcessHandle: Any, ClientId: Any, StartRoutine: Any,
                         StartContext: Any) -> int:
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "PsCreateSystemThread", PASSIVE_LEVEL)
    name = getattr(StartRoutine, "__name__", "thread")
    thread = KTHREAD(name)
    ctx = m.spawn(KIND_THREAD, name, StartRoutine, (StartContext,))
    thread.context = ctx
    ctx.on_exit.append(_thread_ended(thread))
    m.subsystem(ThreadTable).threads.append(thread)
    store(ThreadHandle, thread)
    return STATUS_SUCCESS


def PsTerminateSystemThread(ExitStatus: int) -> None:
    raise ThreadExit(ExitStatus)


def ObReferenceObjectByHandle(Handle: Any, DesiredAccess: int, ObjectType: Any,
                              AccessMode: int, Object: Any, HandleInformation: Any) -> int:
    if isinstance(Handle, KTHREAD):
        Handle.references += 1
    store(Object, Handle)
    return STATUS_SUCCESS


def ObDereferenceObject(Object: Any) -> None:
    if isinstance(Object, KTHREAD):
        Object.references -= 1


def ZwClose(Handle: Any) -> int:
    if isinstance(Handle, KTHREAD):
        Handle.references -= 1
    return STATUS_SUCCESS


# ---------------------------------------------------------------------- work items


class IO_WORKITEM:
    __slots__ = ("DeviceObject", "queued", "freed", "name")

    def __init__(self, DeviceObject: Any) -> None:
        self.DeviceObject = DeviceObject
        self.queued = False
        self.freed = False
        self.name = "workitem"


def IoAllocateWorkItem(DeviceObject: Any) -> IO_WORKITEM:
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "IoAllocateWorkItem", DISPATCH_LEVEL)
    return IO_WORKITEM(DeviceObject)


def IoQueueWorkItem(IoWorkItem: IO_WORKITEM, WorkerRoutine: Any, QueueType: int,
                    Context: Any) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "IoQueueWorkItem", DISPATCH_LEVEL)
    if IoWorkItem.freed or IoWorkItem.queued:
        state = "freed" if IoWorkItem.freed else "already queued"
        m.report("workitem.misuse", f"IoQueueWorkItem on a work item that is {state}")
        return
    IoWorkItem.queued = True
    name = getattr(WorkerRoutine, "__name__", "worker")
    IoWorkItem.name = name

    def run(device: Any, context: Any) -> None:
        IoWorkItem.queued = False
        WorkerRoutine(device, context)

    m.spawn(KIND_WORK_ITEM, name, run, (IoWorkItem.DeviceObject, Context))


def IoFreeWorkItem(IoWorkItem: IO_WORKITEM) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    if IoWorkItem.queued:
        m.report("workitem.misuse", f"IoFreeWorkItem on queued work item {IoWorkItem.name}")
    IoWorkItem.freed = True
