"""Bug class: a TDI client that depends on ClientEventSendPossible alone (CONTRACTS E.24).

The same sender as ``tdi_sender`` but, after STATUS_DEVICE_NOT_READY, it waits for its
send-possible event with no timeout. On a transport that indicates, it works; on one that
accepts the registration and never indicates (or refuses it), the sender waits forever with
data still to send. Caught as ``tdi.sender_stalled`` at the line of the refused send.

Parameters: ``total_bytes`` (256 KiB), ``send_size`` (16 KiB).
"""

from mock_wsk.wdk import *  # noqa: F403

TAG = b"TdiZ"
DeviceObject = None
FileObject = None
Irp = None
Buffer = None
Mdl = None
Thread = None
IrpDone = KEVENT("IrpDone")
SendPossible = KEVENT("SendPossible")
Stopping = False
bytes_sent = 0
device_not_ready = 0


def ClientEventSendPossible(TdiEventContext, ConnectionContext, BytesAvailable):
    KeSetEvent(SendPossible, IO_NO_INCREMENT, FALSE)
    return STATUS_SUCCESS


def RequestComplete(DeviceObject, Irp, Context):
    KeSetEvent(IrpDone, IO_NO_INCREMENT, FALSE)
    return STATUS_MORE_PROCESSING_REQUIRED


def CallAndWait():
    KeClearEvent(IrpDone)
    if IoCallDriver(DeviceObject, Irp) == STATUS_PENDING:
        KeWaitForSingleObject(IrpDone, Executive, KernelMode, FALSE, None)
    return Irp.IoStatus.Status


def SenderThread(StartContext):
    global bytes_sent, device_not_ready
    while bytes_sent < TotalBytes and not Stopping:
        IoReuseIrp(Irp, STATUS_SUCCESS)
        TdiBuildSend(Irp, DeviceObject, FileObject, RequestComplete, None, Mdl,
                     TDI_SEND_NON_BLOCKING, min(SendSize, TotalBytes - bytes_sent))
        status = CallAndWait()
        if NT_SUCCESS(status):
            bytes_sent += Irp.IoStatus.Information
        elif status == STATUS_DEVICE_NOT_READY:
            device_not_ready += 1
            # BUG: no timeout and no other trigger -- only ClientEventSendPossible wakes us.
            KeWaitForSingleObject(SendPossible, Executive, KernelMode, FALSE, None)
        else:
            break
    PsTerminateSystemThread(STATUS_SUCCESS)


def DriverEntry(DriverObject, RegistryPath):
    global DeviceObject, FileObject, Irp, Buffer, Mdl, Thread, TotalBytes, SendSize
    TotalBytes = RegistryPath.Parameters.get("total_bytes", 256 * 1024)
    SendSize = RegistryPath.Parameters.get("send_size", 16 * 1024)
    KeInitializeEvent(IrpDone, NotificationEvent, FALSE)
    KeInitializeEvent(SendPossible, SynchronizationEvent, FALSE)
    DeviceObject, FileObject = TdiMockOpenConnection(None)
    Irp = IoAllocateIrp(DeviceObject.StackSize, FALSE)
    Buffer = ExAllocatePool2(POOL_FLAG_NON_PAGED, SendSize, TAG)
    Mdl = IoAllocateMdl(Buffer, SendSize, FALSE, FALSE, None)
    MmBuildMdlForNonPagedPool(Mdl)
    TdiBuildSetEventHandler(Irp, DeviceObject, FileObject, RequestComplete, None,
                            TDI_EVENT_SEND_POSSIBLE, ClientEventSendPossible, None)
    CallAndWait()
    handle = HANDLE()
    PsCreateSystemThread(handle, THREAD_ALL_ACCESS, None, None, None, SenderThread, None)
    thread = PVOID()
    ObReferenceObjectByHandle(handle.value, THREAD_ALL_ACCESS, None, KernelMode, thread, None)
    Thread = thread.value
    ZwClose(handle.value)
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    global Stopping
    Stopping = True
    KeSetEvent(SendPossible, IO_NO_INCREMENT, FALSE)  # unload, at least, can wake it
    KeWaitForSingleObject(Thread, Executive, KernelMode, FALSE, None)
    ObDereferenceObject(Thread)
    TdiMockCloseConnection(FileObject)
    IoFreeIrp(Irp)
    IoFreeMdl(Mdl)
    ExFreePoolWithTag(Buffer, TAG)
