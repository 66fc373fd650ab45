"""Bug class: a reference count that is not interlocked - double free (teardown and unload).

A variation of timer_counter: a context is shared by the deadline DPC and a worker thread, each
holding one reference. ``Dereference`` decrements with a plain ``-=`` and tests the count after
another DDI call (a statistics counter), so when the DPC and the worker drop their references at
the same time on two CPUs, both see zero and both free the context: ``pool.double_free``.

Run to completion (fifo), the DPC finishes its release before the worker starts, so a plain run
is clean; exploration finds the interleaving. Fixed by
``if InterlockedDecrement(RefCount) == 0: ExFreePoolWithTag(...)``.
"""

from mock_wsk.wdk import *  # noqa: F403

TAG = "fDxC"
Deadline = KTIMER("Deadline")
DeadlineDpc = KDPC("DeadlineDpc")
Releases = LONG()
Context = None
RefCount = 0
WorkerThread = None


def Dereference():
    global RefCount
    RefCount -= 1  # BUG: not InterlockedDecrement, and tested below after another DDI call
    InterlockedIncrement(Releases)
    if RefCount == 0:
        ExFreePoolWithTag(Context, TAG)


def DeadlineDpcRoutine(Dpc, DeferredContext, SystemArgument1, SystemArgument2):
    DeferredContext.Expired = TRUE
    Dereference()


def Worker(StartContext):
    KeWaitForSingleObject(Deadline, Executive, KernelMode, FALSE, None)
    Dereference()
    PsTerminateSystemThread(STATUS_SUCCESS)


def DriverEntry(DriverObject, RegistryPath):
    global Context, RefCount, WorkerThread
    Context = ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, TAG)
    if not Context:
        return STATUS_INSUFFICIENT_RESOURCES
    Context.Expired = FALSE
    RefCount = 2  # one for the DPC, one for the worker
    KeInitializeTimer(Deadline)
    KeInitializeDpc(DeadlineDpc, DeadlineDpcRoutine, Context)
    handle = HANDLE()
    PsCreateSystemThread(handle, THREAD_ALL_ACCESS, None, None, None, Worker, None)
    ObReferenceObjectByHandle(handle.value, THREAD_ALL_ACCESS, None, KernelMode,
                              thread := PVOID(), None)
    WorkerThread = thread.value
    ZwClose(handle.value)
    KeSetTimer(Deadline, -10_000, DeadlineDpc)
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    KeCancelTimer(Deadline)
    KeFlushQueuedDpcs()
    KeWaitForSingleObject(WorkerThread, Executive, KernelMode, FALSE, None)
    ObDereferenceObject(WorkerThread)
