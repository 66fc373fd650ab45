"""Bug class: rundown protection never waited for at unload (teardown and unload).

A worker thread uses the shared context only under run-down protection (ExAcquireRundownProtection
... ExReleaseRundownProtection), and each use spans a wait. DriverUnload asks the worker to stop
and frees the context, but never calls ExWaitForRundownProtectionRelease, so the worker is still
inside its protected section and touches the freed context: ``pool.use_after_free``. Fixed by
``ExWaitForRundownProtectionRelease(Rundown)`` before the free.
"""

from mock_wsk.wdk import *  # noqa: F403

TAG = "dRxC"
Rundown = EX_RUNDOWN_REF("ContextRundown")
Context = None
WorkerThread = None
stopping = False
uses = 0


def Worker(StartContext):
    global uses
    while not stopping:
        if not ExAcquireRundownProtection(Rundown):
            break
        Context.Busy = TRUE
        KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-10_000))  # 1 ms of I/O
        Context.Busy = FALSE
        uses += 1
        ExReleaseRundownProtection(Rundown)
    PsTerminateSystemThread(STATUS_SUCCESS)


def DriverEntry(DriverObject, RegistryPath):
    global Context, WorkerThread
    Context = ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, TAG)
    if not Context:
        return STATUS_INSUFFICIENT_RESOURCES
    Context.Busy = FALSE
    ExInitializeRundownProtection(Rundown)
    handle = HANDLE()
    PsCreateSystemThread(handle, THREAD_ALL_ACCESS, None, None, None, Worker, None)
    ObReferenceObjectByHandle(handle.value, THREAD_ALL_ACCESS, None, KernelMode,
                              thread := PVOID(), None)
    WorkerThread = thread.value
    ZwClose(handle.value)
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    global stopping
    stopping = True
    # BUG: no ExWaitForRundownProtectionRelease(Rundown) before the free.
    ExFreePoolWithTag(Context, TAG)
    KeWaitForSingleObject(WorkerThread, Executive, KernelMode, FALSE, None)
    ObDereferenceObject(WorkerThread)
