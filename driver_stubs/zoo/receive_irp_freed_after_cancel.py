"""Bug class: an IRP freed as soon as IoCancelIrp returns (send and IRP lifetime).

A variation of ``wsk_client`` that also posts a WskReceive with an IRP of its own and, when its
timeout timer fires, cancels the receive with IoCancelIrp and frees the IRP at once, taking
"cancel requested" for "completed". IoCancelIrp only asks: the provider may complete the
cancelled request later, from a DPC, and until that completion the IRP is still the
provider's. Freeing it first is ``irp.freed_after_cancel_before_completion``.

A plain run is clean: the mock's provider completes a cancellation inside IoCancelIrp unless the
decision point says otherwise, and only exploration asks (decision ``cancel``). Fixed by freeing
the IRP in (or after) its completion routine, never on IoCancelIrp's return.

Parameter: ``receive_timeout_ms`` (default 2).
"""

from driver_stubs.wsk_client import *

ReceiveTimer = KTIMER("ReceiveTimer")
ReceiveTimeoutDpc = KDPC("ReceiveTimeoutDpc")
ReceiveIrp = None
ReceiveBuffer = None
ReceiveMdl = None
ReferenceDriverEntry = DriverEntry  # wsk_client's, run first
ReferenceUnload = DriverUnload

receive_cancelled = 0
receive_completions = 0


def ReceiveComplete(DeviceObject, Irp, Context):
    global receive_completions
    receive_completions += 1
    return STATUS_MORE_PROCESSING_REQUIRED  # the IRP is the driver's again


def ReceiveTimeout(Dpc, DeferredContext, SystemArgument1, SystemArgument2):
    global ReceiveIrp, receive_cancelled
    if ReceiveIrp is not None:
        IoCancelIrp(ReceiveIrp)
        receive_cancelled = 1
        IoFreeIrp(ReceiveIrp)  # BUG: the cancelled receive may not have completed yet
        ReceiveIrp = None


def PostReceive(Length):
    global ReceiveIrp, ReceiveBuffer, ReceiveMdl
    ReceiveBuffer = ExAllocatePool2(POOL_FLAG_NON_PAGED, Length, CLIENT_TAG)
    ReceiveMdl = IoAllocateMdl(ReceiveBuffer, Length, FALSE, FALSE, None)
    MmBuildMdlForNonPagedPool(ReceiveMdl)
    ReceiveIrp = IoAllocateIrp(1, FALSE)
    IoSetCompletionRoutine(ReceiveIrp, ReceiveComplete, None, TRUE, TRUE, TRUE)
    return Socket.Dispatch.WskReceive(Socket, WSK_BUF(ReceiveMdl, 0, Length), 0, ReceiveIrp)


def DriverEntry(DriverObject, RegistryPath):
    status = ReferenceDriverEntry(DriverObject, RegistryPath)
    if NT_SUCCESS(status):
        PostReceive(4096)  # nothing arrives: it stays pending
        KeInitializeTimer(ReceiveTimer)
        KeInitializeDpc(ReceiveTimeoutDpc, ReceiveTimeout, None)
        timeout_ms = RegistryPath.Parameters.get("receive_timeout_ms", 2)
        KeSetTimer(ReceiveTimer, LARGE_INTEGER(-10_000 * timeout_ms), ReceiveTimeoutDpc)
        DriverObject.DriverUnload = DriverUnload
    return status


def DriverUnload(DriverObject):
    ReferenceUnload(DriverObject)
    IoFreeMdl(ReceiveMdl)
    ExFreePoolWithTag(ReceiveBuffer, CLIENT_TAG)
