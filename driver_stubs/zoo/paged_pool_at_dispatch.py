"""Bug class: paged pool touched at DISPATCH_LEVEL (callback bodies).

A variation of timer_counter: the driver keeps its configuration in paged pool
(POOL_FLAG_PAGED) and the tick DPC reads the threshold from it. At DISPATCH_LEVEL a page fault
cannot be served; Windows bug-checks with IRQL_NOT_LESS_OR_EQUAL whenever the page happens to be
paged out. Caught every time as ``irql.paged_pool`` at the DPC's line. Fixed by keeping data a
DPC reads in nonpaged pool.
"""

from mock_wsk.wdk import *  # noqa: F403

TAG = "gPxC"
Timer = KTIMER("TickTimer")
TickDpc = KDPC("TickDpc")
Config = None
ticks = 0


def TickDpcRoutine(Dpc, DeferredContext, SystemArgument1, SystemArgument2):
    global ticks
    ticks += 1
    if ticks >= Config.Threshold:  # BUG: Config is paged pool, read at DISPATCH_LEVEL
        KeCancelTimer(Timer)


def DriverEntry(DriverObject, RegistryPath):
    global Config
    Config = ExAllocatePool2(POOL_FLAG_PAGED, 16, TAG)
    if not Config:
        return STATUS_INSUFFICIENT_RESOURCES
    Config.Threshold = 3
    KeInitializeTimerEx(Timer, NotificationTimer)
    KeInitializeDpc(TickDpc, TickDpcRoutine, None)
    KeSetTimerEx(Timer, -10_000, 1, TickDpc)
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    KeCancelTimer(Timer)
    KeFlushQueuedDpcs()
    ExFreePoolWithTag(Config, TAG)
