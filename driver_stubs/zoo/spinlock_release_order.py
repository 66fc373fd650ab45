"""Bug class: spin locks released out of order (callback bodies).

A variation of timer_counter with two locks: the tick DPC takes ``StatsLock`` then
``CounterLock`` but releases ``StatsLock`` first. Spin locks nest: they are released in LIFO
order (and a KeReleaseSpinLock restores the IRQL saved by *its* acquire, so out-of-order releases
leave the CPU at the wrong IRQL). Caught as ``spinlock.release_order`` at the release line.
"""

from mock_wsk.wdk import *  # noqa: F403

Timer = KTIMER("TickTimer")
TickDpc = KDPC("TickDpc")
CounterLock = KSPIN_LOCK("CounterLock")
StatsLock = KSPIN_LOCK("StatsLock")
ticks = 0
samples = 0


def TickDpcRoutine(Dpc, DeferredContext, SystemArgument1, SystemArgument2):
    global ticks, samples
    KeAcquireSpinLockAtDpcLevel(StatsLock)
    KeAcquireSpinLockAtDpcLevel(CounterLock)
    ticks += 1
    samples += 1
    KeReleaseSpinLockFromDpcLevel(StatsLock)  # BUG: CounterLock was taken last
    KeReleaseSpinLockFromDpcLevel(CounterLock)
    if ticks >= 3:
        KeCancelTimer(Timer)


def DriverEntry(DriverObject, RegistryPath):
    KeInitializeSpinLock(CounterLock)
    KeInitializeSpinLock(StatsLock)
    KeInitializeTimerEx(Timer, NotificationTimer)
    KeInitializeDpc(TickDpc, TickDpcRoutine, None)
    KeSetTimerEx(Timer, -10_000, 1, TickDpc)
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    KeCancelTimer(Timer)
    KeFlushQueuedDpcs()
