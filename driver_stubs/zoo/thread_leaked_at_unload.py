"""Bug class: a system thread leaked at unload (teardown and unload).

A variation of timer_counter: the worker waits for ``AllTicksDone``, but DriverUnload only
cancels the timer - it neither signals the worker nor waits for it to exit. The thread outlives
the driver image (on Windows: a bug check when it next runs unloaded code). Caught as
``thread.leak``. Fixed as timer_counter does: set the event, then wait on the thread object.
"""

from mock_wsk.wdk import *  # noqa: F403

Timer = KTIMER("TickTimer")
TickDpc = KDPC("TickDpc")
Done = KEVENT("AllTicksDone")
ticks = 0


def TickDpcRoutine(Dpc, DeferredContext, SystemArgument1, SystemArgument2):
    global ticks
    ticks += 1


def Worker(StartContext):
    KeWaitForSingleObject(Done, Executive, KernelMode, FALSE, None)
    PsTerminateSystemThread(STATUS_SUCCESS)


def DriverEntry(DriverObject, RegistryPath):
    KeInitializeEvent(Done, NotificationEvent, FALSE)
    KeInitializeTimerEx(Timer, NotificationTimer)
    KeInitializeDpc(TickDpc, TickDpcRoutine, None)
    handle = HANDLE()
    status = PsCreateSystemThread(handle, THREAD_ALL_ACCESS, None, None, None, Worker, None)
    if not NT_SUCCESS(status):
        return status
    ZwClose(handle.value)
    KeSetTimerEx(Timer, -10_000, 1, TickDpc)
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    KeCancelTimer(Timer)
    KeFlushQueuedDpcs()
    # BUG: the worker still waits for AllTicksDone; nobody sets it or waits for the thread.
