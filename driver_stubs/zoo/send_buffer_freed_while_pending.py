"""Known-bad driver: frees a send buffer while its WskSend is still pending (CONTRACTS C.15).

The author assumed WSK copies the data the way a buffered transport would, so the buffer can go
as soon as WskSend returns. It cannot: WSK does no buffering, the send completes only once the
peer acknowledged the last byte, and until then the MDL chain must stay locked and *unchanged* -
TCP may retransmit from it. A thread sends ``count`` messages of ``send_size`` bytes, each from a
fresh pool buffer it frees right after WskSend returns STATUS_PENDING; the MDL is freed by the
completion routine. The free is caught at the driver's line as ``mdl.changed_while_in_use``, and
the peer, which checks the stream's content token, counts the send as corrupt
(``flow.<peer>.corrupt_sends``).

Parameters: ``send_size`` (16 KiB), ``count`` (3), ``port`` (7000), ``address`` (10.0.0.2).
"""

from mock_wsk.wdk import *  # noqa: F403

TAG = b"Free"

Registration = WSK_REGISTRATION()
ProviderNpi = WSK_PROVIDER_NPI()
Socket = None
Done = KEVENT("SendDone")
Thread = None
SendSize = 16384
Count = 3

sends_completed = 0
send_failures = 0


def SyncComplete(DeviceObject, Irp, Context):
    KeSetEvent(Context, IO_NO_INCREMENT, FALSE)
    return STATUS_MORE_PROCESSING_REQUIRED


def SenderThread(StartContext):
    global sends_completed, send_failures
    irp = IoAllocateIrp(1, FALSE)
    for _ in range(Count):
        buffer = ExAllocatePool2(POOL_FLAG_NON_PAGED, SendSize, TAG)
        mdl = IoAllocateMdl(buffer, SendSize, FALSE, FALSE, None)
        MmBuildMdlForNonPagedPool(mdl)
        IoReuseIrp(irp, STATUS_UNSUCCESSFUL)
        KeClearEvent(Done)
        IoSetCompletionRoutine(irp, SyncComplete, Done, TRUE, TRUE, TRUE)
        status = Socket.Dispatch.WskSend(Socket, WSK_BUF(mdl, 0, SendSize), 0, irp)
        ExFreePool(buffer)  # BUG: the send is pending; WSK still needs these bytes (C.15)
        if status == STATUS_PENDING:
            KeWaitForSingleObject(Done, Executive, KernelMode, FALSE, None)
        if NT_SUCCESS(irp.IoStatus.Status):
            sends_completed += 1
        else:
            send_failures += 1
        IoFreeMdl(mdl)
    IoReuseIrp(irp, STATUS_UNSUCCESSFUL)
    KeClearEvent(Done)
    IoSetCompletionRoutine(irp, SyncComplete, Done, TRUE, TRUE, TRUE)
    if Socket.Dispatch.WskCloseSocket(Socket, irp) == STATUS_PENDING:
        KeWaitForSingleObject(Done, Executive, KernelMode, FALSE, None)
    IoFreeIrp(irp)
    PsTerminateSystemThread(STATUS_SUCCESS)


def DriverEntry(DriverObject, RegistryPath):
    global Socket, SendSize, Count, Thread
    params = RegistryPath.Parameters
    SendSize = params.get("send_size", 16384)
    Count = params.get("count", 3)
    KeInitializeEvent(Done, NotificationEvent, FALSE)
    DriverObject.DriverUnload = DriverUnload
    status = WskRegister(WSK_CLIENT_NPI(None, WSK_CLIENT_DISPATCH()), Registration)
    if not NT_SUCCESS(status):
        return status
    status = WskCaptureProviderNPI(Registration, WSK_INFINITE_WAIT, ProviderNpi)
    if not NT_SUCCESS(status):
        WskDeregister(Registration)
        return status
    irp = IoAllocateIrp(1, FALSE)
    IoSetCompletionRoutine(irp, SyncComplete, Done, TRUE, TRUE, TRUE)
    remote = SOCKADDR_IN(AF_INET, params.get("port", 7000), params.get("address", "10.0.0.2"))
    if ProviderNpi.Dispatch.WskSocketConnect(
            ProviderNpi.Client, SOCK_STREAM, IPPROTO_TCP, SOCKADDR_IN(AF_INET, 0, 0), remote, 0,
            None, None, None, None, None, irp) == STATUS_PENDING:
        KeWaitForSingleObject(Done, Executive, KernelMode, FALSE, None)
    status, Socket = irp.IoStatus.Status, irp.IoStatus.Information
    IoFreeIrp(irp)
    if not NT_SUCCESS(status):
        Socket = None
        return STATUS_SUCCESS
    handle = HANDLE()
    PsCreateSystemThread(handle, THREAD_ALL_ACCESS, None, None, None, SenderThread, None)
    ObReferenceObjectByHandle(handle.value, THREAD_ALL_ACCESS, None, KernelMode,
                              thread := PVOID(), None)
    Thread = thread.value
    ZwClose(handle.value)
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    if Thread is not None:
        KeWaitForSingleObject(Thread, Executive, KernelMode, FALSE, None)
        ObDereferenceObject(Thread)
    WskReleaseProviderNPI(Registration)
    WskDeregister(Registration)
