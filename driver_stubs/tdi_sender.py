"""Reference TDI client: non-blocking sends that survive any send-possible behaviour (CONTRACTS E).

Each client has one connection, one IRP (reused with IoReuseIrp) and one MDL over a nonpaged
buffer (TDI copies the data before it completes a send, so the buffer is reusable at once). A
system thread per client sends ``total_bytes`` in ``send_size`` pieces with
``TDI_SEND_NON_BLOCKING``. On ``STATUS_DEVICE_NOT_READY`` it waits for its
``ClientEventSendPossible`` **or** a ``poll_ms`` timeout, whichever comes first, then resubmits:

* the handler runs at DISPATCH_LEVEL, so it only signals an event and returns STATUS_SUCCESS;
* BytesAvailable is only a hint (another client may take the space first), so a resubmission
  that fails again is expected: it is counted (``race_lost``) and handled like any refusal;
* some transports never indicate (or refuse the registration): the timeout is the fallback that
  keeps the sender alive (CONTRACTS E.24).

Parameters: ``clients`` (1), ``total_bytes`` (1 MiB per client), ``send_size`` (16 KiB),
``poll_ms`` (20).
"""

from mock_wsk.wdk import *  # noqa: F403

TAG = b"TdiS"

Clients = []
Stopping = False
# Counters read by the scenario as driver.<name>. (In C these would be InterlockedIncrement'ed:
# the handler and the threads run concurrently; a Python statement has no preemption point.)
bytes_sent = 0
device_not_ready = 0
send_possible_calls = 0
woken_by_send_possible = 0
woken_by_poll = 0
race_lost = 0
registrations_refused = 0
send_errors = 0
clients_done = 0


class CLIENT:
    """One connection's state (a C driver's per-connection context structure)."""

    def __init__(self, index):
        self.Index = index
        self.DeviceObject = None
        self.FileObject = None
        self.Irp = None
        self.Buffer = None
        self.Mdl = None
        self.Thread = None
        self.IrpDone = KEVENT(f"IrpDone{index}")
        self.SendPossible = KEVENT(f"SendPossible{index}")
        self.Sent = 0


def ClientEventSendPossible(TdiEventContext, ConnectionContext, BytesAvailable):
    """DISPATCH_LEVEL: wake the client's sender; never wait here."""
    global send_possible_calls
    send_possible_calls += 1
    KeSetEvent(TdiEventContext.SendPossible, IO_NO_INCREMENT, FALSE)
    return STATUS_SUCCESS


def RequestComplete(DeviceObject, Irp, Context):
    KeSetEvent(Context.IrpDone, IO_NO_INCREMENT, FALSE)
    return STATUS_MORE_PROCESSING_REQUIRED  # our own IRP: we reuse it


def CallAndWait(client):
    """IoCallDriver, then wait for the completion routine: the IRP's final status."""
    KeClearEvent(client.IrpDone)
    status = IoCallDriver(client.DeviceObject, client.Irp)
    if status == STATUS_PENDING:
        KeWaitForSingleObject(client.IrpDone, Executive, KernelMode, FALSE, None)
    return client.Irp.IoStatus.Status


def SenderThread(client):
    global bytes_sent, device_not_ready, woken_by_send_possible, woken_by_poll, race_lost
    global send_errors, clients_done
    poll = LARGE_INTEGER(-10_000 * PollMs)
    after_send_possible = False
    while client.Sent < TotalBytes and not Stopping:
        length = min(SendSize, TotalBytes - client.Sent)
        IoReuseIrp(client.Irp, STATUS_SUCCESS)
        TdiBuildSend(client.Irp, client.DeviceObject, client.FileObject, RequestComplete,
                     client, client.Mdl, TDI_SEND_NON_BLOCKING, length)
        status = CallAndWait(client)
        if NT_SUCCESS(status):
            client.Sent += client.Irp.IoStatus.Information
            bytes_sent += client.Irp.IoStatus.Information
            after_send_possible = False
            continue
        if status != STATUS_DEVICE_NOT_READY:
            send_errors += 1
            break
        device_not_ready += 1
        if after_send_possible:
            race_lost += 1  # BytesAvailable was a hint: someone else took the space
        # Send-possible or the poll timeout, whichever comes first (E.24: never rely on one).
        wait = KeWaitForSingleObject(client.SendPossible, Executive, KernelMode, FALSE, poll)
        after_send_possible = wait == STATUS_SUCCESS
        if after_send_possible:
            woken_by_send_possible += 1
        else:
            woken_by_poll += 1
    clients_done += 1
    PsTerminateSystemThread(STATUS_SUCCESS)


def StartClient(client):
    global registrations_refused
    client.DeviceObject, client.FileObject = TdiMockOpenConnection(client)
    client.Irp = IoAllocateIrp(client.DeviceObject.StackSize, FALSE)
    client.Buffer = ExAllocatePool2(POOL_FLAG_NON_PAGED, SendSize, TAG)
    if client.Irp is None or client.Buffer is None:
        return STATUS_INSUFFICIENT_RESOURCES
    client.Mdl = IoAllocateMdl(client.Buffer, SendSize, FALSE, FALSE, None)
    if client.Mdl is None:
        return STATUS_INSUFFICIENT_RESOURCES
    MmBuildMdlForNonPagedPool(client.Mdl)
    KeInitializeEvent(client.IrpDone, NotificationEvent, FALSE)
    KeInitializeEvent(client.SendPossible, SynchronizationEvent, FALSE)
    TdiBuildSetEventHandler(client.Irp, client.DeviceObject, client.FileObject, RequestComplete,
                            client, TDI_EVENT_SEND_POSSIBLE, ClientEventSendPossible, client)
    if not NT_SUCCESS(CallAndWait(client)):
        registrations_refused += 1  # fine: the poll timeout alone keeps us going
    handle = HANDLE()
    status = PsCreateSystemThread(handle, THREAD_ALL_ACCESS, None, None, None, SenderThread,
                                  client)
    if not NT_SUCCESS(status):
        return status
    thread = PVOID()
    ObReferenceObjectByHandle(handle.value, THREAD_ALL_ACCESS, None, KernelMode, thread, None)
    client.Thread = thread.value
    ZwClose(handle.value)
    return STATUS_SUCCESS


def DriverEntry(DriverObject, RegistryPath):
    global TotalBytes, SendSize, PollMs
    params = RegistryPath.Parameters
    TotalBytes = params.get("total_bytes", 1024 * 1024)
    SendSize = params.get("send_size", 16 * 1024)
    PollMs = params.get("poll_ms", 20)
    DriverObject.DriverUnload = DriverUnload
    for index in range(params.get("clients", 1)):
        client = CLIENT(index)
        Clients.append(client)
        status = StartClient(client)
        if not NT_SUCCESS(status):
            DriverUnload(DriverObject)
            return status
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    global Stopping
    Stopping = True
    for client in Clients:
        KeSetEvent(client.SendPossible, IO_NO_INCREMENT, FALSE)
        if client.Thread is not None:
            KeWaitForSingleObject(client.Thread, Executive, KernelMode, FALSE, None)
            ObDereferenceObject(client.Thread)
        if client.FileObject is not None:
            TdiMockCloseConnection(client.FileObject)
        if client.Irp is not None:
            IoFreeIrp(client.Irp)
        if client.Mdl is not None:
            IoFreeMdl(client.Mdl)
        if client.Buffer is not None:
            ExFreePoolWithTag(client.Buffer, TAG)
    Clients.clear()
