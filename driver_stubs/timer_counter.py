"""Reference driver: a periodic timer DPC counts ticks; a worker thread waits for the last one.

Shows the kernel basics done right: the DPC only signals (never waits), the thread waits at
PASSIVE_LEVEL, and DriverUnload cancels the timer, flushes DPCs and waits for the thread before
returning, so nothing runs after unload.

Parameters: ``ticks`` (default 10), ``period_ms`` (default 1).
"""

from mock_wsk.wdk import *  # noqa: F403

Timer = KTIMER("TickTimer")
TickDpc = KDPC("TickDpc")
Done = KEVENT("AllTicksDone")
Lock = KSPIN_LOCK("CounterLock")
ticks = 0
ticks_seen_by_worker = 0
target_ticks = 10
WorkerThread = None


def TickDpcRoutine(Dpc, DeferredContext, SystemArgument1, SystemArgument2):
    global ticks
    KeAcquireSpinLockAtDpcLevel(Lock)
    ticks += 1
    reached = ticks >= target_ticks
    KeReleaseSpinLockFromDpcLevel(Lock)
    if reached:
        KeCancelTimer(Timer)
        KeSetEvent(Done, IO_NO_INCREMENT, FALSE)


def Worker(StartContext):
    global ticks_seen_by_worker
    KeWaitForSingleObject(Done, Executive, KernelMode, FALSE, None)
    oldIrql = KIRQL()
    KeAcquireSpinLock(Lock, oldIrql)
    ticks_seen_by_worker = ticks
    KeReleaseSpinLock(Lock, oldIrql)
    PsTerminateSystemThread(STATUS_SUCCESS)


def DriverEntry(DriverObject, RegistryPath):
    global target_ticks, WorkerThread
    target_ticks = RegistryPath.Parameters.get("ticks", 10)
    period_ms = RegistryPath.Parameters.get("period_ms", 1)
    KeInitializeEvent(Done, NotificationEvent, FALSE)
    KeInitializeSpinLock(Lock)
    KeInitializeTimerEx(Timer, NotificationTimer)
    KeInitializeDpc(TickDpc, TickDpcRoutine, None)
    handle = HANDLE()
    status = PsCreateSystemThread(handle, THREAD_ALL_ACCESS, None, None, None, Worker, None)
    if not NT_SUCCESS(status):
        return status
    ObReferenceObjectByHandle(handle.value, THREAD_ALL_ACCESS, None, KernelMode,
                              thread := PVOID(), None)
    WorkerThread = thread.value
    ZwClose(handle.value)
    KeSetTimerEx(Timer, -10_000 * period_ms, period_ms, TickDpc)
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    KeCancelTimer(Timer)
    KeFlushQueuedDpcs()
    KeSetEvent(Done, IO_NO_INCREMENT, FALSE)  # release the worker if the ticks never came
    KeWaitForSingleObject(WorkerThread, Executive, KernelMode, FALSE, None)
    ObDereferenceObject(WorkerThread)
