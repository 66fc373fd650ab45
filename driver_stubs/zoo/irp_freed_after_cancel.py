"""Bug class: an IRP freed right after IoCancelIrp, before its completion ran (send and IRP
lifetime).

The driver sends its own IRP (IoAllocateIrp) to a device that holds it until a deadline timer
fires; a timeout thread waits on the same timer, gives up on the request with IoCancelIrp and
frees the IRP at once. IoCancelIrp only *asks* for cancellation: when the device's DPC has
already taken the IRP off its queue (and cleared the cancel routine) on the other CPU, nothing
completes it synchronously and the IRP is still pending. Freeing it then is
``irp.freed_after_cancel_before_completion``.

Run to completion (fifo), the device's DPC always completes the IRP before the woken timeout
thread runs, so a plain run is clean; exploration finds the interleaving. Fixed by waiting for
the completion routine (it signals ``RequestDone``) before IoFreeIrp.

The "device" is this driver's own: DispatchInternal queues the IRP with a cancel routine, and
DeadlineDpc completes it.
"""

from mock_wsk.wdk import *  # noqa: F403

Deadline = KTIMER("Deadline")
DeadlineDpc = KDPC("DeadlineDpc")
QueueLock = KSPIN_LOCK("QueueLock")
RequestDone = KEVENT("RequestDone")
Device = None
Held = None  # the IRP the device holds (under QueueLock)
Request = None
TimeoutThread = None


# ---------------------------------------------------------------- the device (lower half)


def DispatchInternal(DeviceObject, Irp):
    global Held
    IoMarkIrpPending(Irp)
    old = KIRQL()
    KeAcquireSpinLock(QueueLock, old)
    Held = Irp
    IoSetCancelRoutine(Irp, CancelRoutine)
    KeReleaseSpinLock(QueueLock, old)
    return STATUS_PENDING


def CancelRoutine(DeviceObject, Irp):
    global Held
    IoReleaseCancelSpinLock(Irp.CancelIrql)
    old = KIRQL()
    KeAcquireSpinLock(QueueLock, old)
    mine = Held is Irp
    if mine:
        Held = None
    KeReleaseSpinLock(QueueLock, old)
    if mine:
        Irp.IoStatus.Status = STATUS_CANCELLED
        IoCompleteRequest(Irp, IO_NO_INCREMENT)


def DeadlineDpcRoutine(Dpc, DeferredContext, SystemArgument1, SystemArgument2):
    global Held
    KeAcquireSpinLockAtDpcLevel(QueueLock)
    irp = Held
    Held = None
    KeReleaseSpinLockFromDpcLevel(QueueLock)
    if irp is not None:
        IoSetCancelRoutine(irp, None)  # ours now: the cancel routine will not complete it
        irp.IoStatus.Status = STATUS_SUCCESS
        IoCompleteRequest(irp, IO_NO_INCREMENT)


# ---------------------------------------------------------------- the client (upper half)


def RequestCompletion(DeviceObject, Irp, Context):
    KeSetEvent(RequestDone, IO_NO_INCREMENT, FALSE)
    return STATUS_MORE_PROCESSING_REQUIRED


def Timeout(StartContext):
    global Request
    KeWaitForSingleObject(Deadline, Executive, KernelMode, FALSE, None)
    IoCancelIrp(Request)
    # BUG: IoCancelIrp does not wait for the completion; wait for RequestDone before freeing.
    IoFreeIrp(Request)
    Request = None
    PsTerminateSystemThread(STATUS_SUCCESS)


def DriverEntry(DriverObject, RegistryPath):
    global Device, Request, TimeoutThread
    device = PVOID()
    status = IoCreateDevice(DriverObject, 0, None, FILE_DEVICE_UNKNOWN, 0, FALSE, device)
    if not NT_SUCCESS(status):
        return status
    Device = device.value
    DriverObject.MajorFunction[IRP_MJ_INTERNAL_DEVICE_CONTROL] = DispatchInternal
    KeInitializeSpinLock(QueueLock)
    KeInitializeEvent(RequestDone, NotificationEvent, FALSE)
    KeInitializeTimer(Deadline)
    KeInitializeDpc(DeadlineDpc, DeadlineDpcRoutine, None)
    Request = IoAllocateIrp(1, FALSE)
    IoGetNextIrpStackLocation(Request).MajorFunction = IRP_MJ_INTERNAL_DEVICE_CONTROL
    IoSetCompletionRoutine(Request, RequestCompletion, None, TRUE, TRUE, TRUE)
    KeSetTimer(Deadline, -10_000, DeadlineDpc)  # the device answers in 1 ms...
    IoCallDriver(Device, Request)
    handle = HANDLE()
    PsCreateSystemThread(handle, THREAD_ALL_ACCESS, None, None, None, Timeout, None)
    ObReferenceObjectByHandle(handle.value, THREAD_ALL_ACCESS, None, KernelMode,
                              thread := PVOID(), None)
    TimeoutThread = thread.value  # ...and the client gives up after 1 ms too
    ZwClose(handle.value)
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    KeCancelTimer(Deadline)
    KeFlushQueuedDpcs()
    KeWaitForSingleObject(TimeoutThread, Executive, KernelMode, FALSE, None)
    ObDereferenceObject(TimeoutThread)
    IoDeleteDevice(Device)
