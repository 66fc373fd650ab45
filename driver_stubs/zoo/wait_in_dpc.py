"""Bug class: waiting in a DPC (callback bodies).

A variation of timer_counter: the tick DPC waits for the worker to acknowledge each tick. At
DISPATCH_LEVEL a wait with a non-zero timeout is illegal: Windows bug-checks with
ATTEMPTED_SWITCH_FROM_DPC. Caught as ``irql.wait_in_dpc``.
"""

from mock_wsk.wdk import *  # noqa: F403

Timer = KTIMER("TickTimer")
TickDpc = KDPC("TickDpc")
Ack = KEVENT("TickAck")
ticks = 0


def TickDpcRoutine(Dpc, DeferredContext, SystemArgument1, SystemArgument2):
    global ticks
    ticks += 1
    timeout = LARGE_INTEGER(-10_000)  # 1 ms: looks harmless, is a bug check at DISPATCH
    KeWaitForSingleObject(Ack, Executive, KernelMode, FALSE, timeout)
    if ticks >= 3:
        KeCancelTimer(Timer)


def DriverEntry(DriverObject, RegistryPath):
    KeInitializeEvent(Ack, SynchronizationEvent, FALSE)
    KeInitializeTimerEx(Timer, NotificationTimer)
    KeInitializeDpc(TickDpc, TickDpcRoutine, None)
    KeSetTimerEx(Timer, -10_000, 1, TickDpc)
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    KeCancelTimer(Timer)
    KeFlushQueuedDpcs()
