"""Bug class: unload that does not cancel its timer (teardown and unload).

A variation of timer_counter: DriverUnload frees the tick context and then sleeps "to let
outstanding work drain", but never calls KeCancelTimer. The periodic timer keeps firing, and
its DPC runs on the freed context: ``pool.use_after_free`` at the DPC's line. (On Windows the
DPC may even run after the image is gone: a bug check in unloaded code.) Fixed by
``KeCancelTimer`` + ``KeFlushQueuedDpcs`` before the free.
"""

from mock_wsk.wdk import *  # noqa: F403

TAG = "tUxC"
Timer = KTIMER("TickTimer")
TickDpc = KDPC("TickDpc")
Context = None


def TickDpcRoutine(Dpc, DeferredContext, SystemArgument1, SystemArgument2):
    DeferredContext.Ticks += 1


def DriverEntry(DriverObject, RegistryPath):
    global Context
    Context = ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, TAG)
    if not Context:
        return STATUS_INSUFFICIENT_RESOURCES
    Context.Ticks = 0
    KeInitializeTimerEx(Timer, NotificationTimer)
    KeInitializeDpc(TickDpc, TickDpcRoutine, Context)
    KeSetTimerEx(Timer, -10_000, 1, TickDpc)
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    # BUG: no KeCancelTimer(Timer) / KeFlushQueuedDpcs() before the free.
    ExFreePoolWithTag(Context, TAG)
    KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-20_000))  # "let work drain"
