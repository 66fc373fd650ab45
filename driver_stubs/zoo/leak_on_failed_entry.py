"""Bug class: an error path that forgets what it already allocated (low-resources exploration).

A variation of timer_counter that keeps its tick state in two pool blocks: the context and a
history of the last tick. When the second allocation fails, DriverEntry returns
STATUS_INSUFFICIENT_RESOURCES without freeing the first; a failed DriverEntry gets no
DriverUnload, so the context is never freed: ``pool.leak``.

Every plain run gets both blocks and is clean. Exploring with ``fail_allocations`` makes one of
the driver's first allocations return NULL in each schedule (Driver Verifier's low resources
simulation, made systematic) and finds it. Fixed by freeing the context before returning.
"""

from mock_wsk.wdk import *  # noqa: F403

TAG = "xtLF"
Timer = KTIMER("TickTimer")
TickDpc = KDPC("TickDpc")
Context = None
History = None
ticks = 0


def TickDpcRoutine(Dpc, DeferredContext, SystemArgument1, SystemArgument2):
    global ticks
    ctx = DeferredContext
    ctx.Ticks += 1
    History.Last = ctx.Ticks
    ticks = ctx.Ticks


def DriverEntry(DriverObject, RegistryPath):
    global Context, History
    Context = ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, TAG)
    if Context is None:
        return STATUS_INSUFFICIENT_RESOURCES
    Context.Ticks = 0
    History = ExAllocatePool2(POOL_FLAG_NON_PAGED, 64, TAG)
    if History is None:
        return STATUS_INSUFFICIENT_RESOURCES  # BUG: Context is not freed on this path
    History.Last = 0
    KeInitializeTimerEx(Timer, NotificationTimer)
    KeInitializeDpc(TickDpc, TickDpcRoutine, Context)
    KeSetTimerEx(Timer, -10_000, 1, TickDpc)  # every millisecond
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    KeCancelTimer(Timer)
    KeFlushQueuedDpcs()
    ExFreePoolWithTag(History, TAG)
    ExFreePoolWithTag(Context, TAG)
