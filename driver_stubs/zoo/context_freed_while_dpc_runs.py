"""Bug class: context freed while its DPC still runs on another CPU (teardown and unload).

A variation of timer_counter whose tick state lives in a pool-allocated context. The tick DPC
signals ``Stop`` after the last tick and then records the time in the context. The worker
thread waits for ``Stop``, cancels the timer and frees the context - but KeCancelTimer does not
wait for a DPC that is already running, and the driver never calls KeFlushQueuedDpcs. When the
worker runs on the other CPU while the DPC is still between KeSetEvent and its last write, the
DPC writes freed pool: ``pool.use_after_free``.

Run to completion (fifo) the DPC always returns before the woken worker runs, so a plain run is
clean; only a schedule that interleaves the two CPUs shows the bug (exploration finds it).
Fixed by ``KeFlushQueuedDpcs()`` after ``KeCancelTimer`` (or a rundown reference held by the
DPC).
"""

from mock_wsk.wdk import *  # noqa: F403

TAG = "xtCT"
Timer = KTIMER("TickTimer")
TickDpc = KDPC("TickDpc")
Stop = KEVENT("Stop")
StatsLock = KSPIN_LOCK("StatsLock")
Context = None
WorkerThread = None
ticks = 0


def TickDpcRoutine(Dpc, DeferredContext, SystemArgument1, SystemArgument2):
    global ticks
    ctx = DeferredContext
    ctx.Ticks += 1
    ticks = ctx.Ticks
    if ctx.Ticks >= ctx.Target:
        KeSetEvent(Stop, IO_NO_INCREMENT, FALSE)
        KeAcquireSpinLockAtDpcLevel(StatsLock)
        ctx.LastTick = KeQueryInterruptTime()  # the worker may have freed the context by now
        KeReleaseSpinLockFromDpcLevel(StatsLock)


def Worker(StartContext):
    global Context
    KeWaitForSingleObject(Stop, Executive, KernelMode, FALSE, None)
    KeCancelTimer(Timer)
    # BUG: no KeFlushQueuedDpcs() here - the DPC may still be running on another CPU.
    ExFreePoolWithTag(Context, TAG)
    Context = None
    PsTerminateSystemThread(STATUS_SUCCESS)


def DriverEntry(DriverObject, RegistryPath):
    global Context, WorkerThread
    Context = ExAllocatePool2(POOL_FLAG_NON_PAGED, 32, TAG)
    if not Context:
        return STATUS_INSUFFICIENT_RESOURCES
    Context.Ticks = 0
    Context.Target = RegistryPath.Parameters.get("ticks", 2)
    Context.LastTick = 0
    KeInitializeEvent(Stop, NotificationEvent, FALSE)
    KeInitializeSpinLock(StatsLock)
    KeInitializeTimerEx(Timer, NotificationTimer)
    KeInitializeDpc(TickDpc, TickDpcRoutine, Context)
    handle = HANDLE()
    status = PsCreateSystemThread(handle, THREAD_ALL_ACCESS, None, None, None, Worker, None)
    if not NT_SUCCESS(status):
        ExFreePoolWithTag(Context, TAG)
        return status
    ObReferenceObjectByHandle(handle.value, THREAD_ALL_ACCESS, None, KernelMode,
                              thread := PVOID(), None)
    WorkerThread = thread.value
    ZwClose(handle.value)
    KeSetTimerEx(Timer, -10_000, 1, TickDpc)
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    KeCancelTimer(Timer)
    KeFlushQueuedDpcs()
    KeSetEvent(Stop, IO_NO_INCREMENT, FALSE)
    KeWaitForSingleObject(WorkerThread, Executive, KernelMode, FALSE, None)
    ObDereferenceObject(WorkerThread)
