"""Reference driver: a fixed-window sender - ``window`` WskSends of ``send_size`` bytes always
outstanding, whatever the ideal send backlog says.

Each pre-built send (buffer, MDL, IRP) is re-issued from its own completion routine (DISPATCH
level: IoReuseIrp, IoSetCompletionRoutine, WskSend - never a wait) until ``stop_ms`` or unload.
Throughput is about ``min(C, window * S / RTT)``: enough sends cover the bandwidth-delay product
and fill the pipe, too few leave it idle for part of every round trip - the reason a driver
should follow the ISB instead of guessing a window.

A failed send (STATUS_FILE_FORCED_CLOSED...) stops re-issuing; the last completion closes the
socket at once (C.16). DriverUnload stops, waits for the sends to drain, closes, frees.

Parameters: ``send_size`` (64 KiB), ``window`` (8), ``stop_ms`` (0 = until unload), ``port``
(7000), ``address`` (10.0.0.2). Counters: sends_completed, bytes_completed, send_failures.
"""

from mock_wsk.wdk import *  # noqa: F403

TAG = b"FWin"

Registration = WSK_REGISTRATION()
ProviderNpi = WSK_PROVIDER_NPI()
Socket = None
Lock = KSPIN_LOCK("WindowLock")
Drained = KEVENT("WindowDrained")
Closed = KEVENT("WindowClosed")
CloseIrp = None
Sends = []
SendSize = 65536
Pending = 0
Stopping = False
Dead = False
CloseStarted = False
StopAt = 0

sends_completed = 0
bytes_completed = 0
send_failures = 0
connect_status = 0


class SEND_CONTEXT:
    def __init__(self):
        self.Buffer = None
        self.Mdl = None
        self.WskBuf = None
        self.Irp = None


def Issue(send):
    """Send ``send`` again (any IRQL <= DISPATCH_LEVEL); the caller counted it pending."""
    IoReuseIrp(send.Irp, STATUS_UNSUCCESSFUL)
    IoSetCompletionRoutine(send.Irp, SendComplete, send, TRUE, TRUE, TRUE)
    Socket.Dispatch.WskSend(Socket, send.WskBuf, 0, send.Irp)


def SendComplete(DeviceObject, Irp, Context):
    global Pending, sends_completed, bytes_completed, send_failures, Dead
    status = Irp.IoStatus.Status
    oldIrql = KIRQL()
    KeAcquireSpinLock(Lock, oldIrql)
    if NT_SUCCESS(status):
        sends_completed += 1
        bytes_completed += Irp.IoStatus.Information
    else:
        send_failures += 1
        Dead = True
    again = not (Stopping or Dead or (StopAt and KeQueryInterruptTime() >= StopAt))
    if not again:
        Pending -= 1
    idle = Pending == 0
    KeReleaseSpinLock(Lock, oldIrql.value)
    if again:
        Issue(Context)
    elif idle:
        if Dead:
            Close()
        KeSetEvent(Drained, IO_NO_INCREMENT, FALSE)
    return STATUS_MORE_PROCESSING_REQUIRED


def Close():
    global CloseStarted
    oldIrql = KIRQL()
    KeAcquireSpinLock(Lock, oldIrql)
    start = not CloseStarted
    CloseStarted = True
    KeReleaseSpinLock(Lock, oldIrql.value)
    if start:
        IoSetCompletionRoutine(CloseIrp, CloseComplete, None, TRUE, TRUE, TRUE)
        Socket.Dispatch.WskCloseSocket(Socket, CloseIrp)


def CloseComplete(DeviceObject, Irp, Context):
    KeSetEvent(Closed, IO_NO_INCREMENT, FALSE)
    return STATUS_MORE_PROCESSING_REQUIRED


def SyncComplete(DeviceObject, Irp, Context):
    KeSetEvent(Context, IO_NO_INCREMENT, FALSE)
    return STATUS_MORE_PROCESSING_REQUIRED


def BuildSends(window):
    """``window`` sends, each a buffer, its MDL and an IRP; any NULL stops with the error (what
    was built stays in Sends for FreeResources)."""
    for _ in range(window):
        send = SEND_CONTEXT()
        Sends.append(send)
        send.Buffer = ExAllocatePool2(POOL_FLAG_NON_PAGED, SendSize, TAG)
        if send.Buffer is None:
            return STATUS_INSUFFICIENT_RESOURCES
        send.Mdl = IoAllocateMdl(send.Buffer, SendSize, FALSE, FALSE, None)
        send.Irp = IoAllocateIrp(1, FALSE)
        if send.Mdl is None or send.Irp is None:
            return STATUS_INSUFFICIENT_RESOURCES
        MmBuildMdlForNonPagedPool(send.Mdl)
        send.WskBuf = WSK_BUF(send.Mdl, 0, SendSize)
    return STATUS_SUCCESS


def FreeResources():
    global CloseIrp
    for send in Sends:
        if send.Mdl is not None:
            IoFreeMdl(send.Mdl)
        if send.Buffer is not None:
            ExFreePool(send.Buffer)
        if send.Irp is not None:
            IoFreeIrp(send.Irp)
    Sends.clear()
    if CloseIrp is not None:
        IoFreeIrp(CloseIrp)
        CloseIrp = None


def DriverEntry(DriverObject, RegistryPath):
    global Socket, SendSize, CloseIrp, Pending, StopAt, connect_status
    params = RegistryPath.Parameters
    SendSize = params.get("send_size", 65536)
    window = params.get("window", 8)
    KeInitializeSpinLock(Lock)
    KeInitializeEvent(Drained, NotificationEvent, FALSE)
    KeInitializeEvent(Closed, NotificationEvent, FALSE)
    DriverObject.DriverUnload = DriverUnload
    CloseIrp = IoAllocateIrp(1, FALSE)
    status = BuildSends(window)
    if CloseIrp is None or not NT_SUCCESS(status):
        FreeResources()  # a failed DriverEntry gets no DriverUnload: free what was built
        return STATUS_INSUFFICIENT_RESOURCES
    status = WskRegister(WSK_CLIENT_NPI(None, WSK_CLIENT_DISPATCH()), Registration)
    if not NT_SUCCESS(status):
        FreeResources()
        return status
    status = WskCaptureProviderNPI(Registration, WSK_INFINITE_WAIT, ProviderNpi)
    if not NT_SUCCESS(status):
        WskDeregister(Registration)
        FreeResources()
        return status
    done = KEVENT("ConnectDone")
    KeInitializeEvent(done, NotificationEvent, FALSE)
    irp = IoAllocateIrp(1, FALSE)
    if irp is None:
        WskReleaseProviderNPI(Registration)
        WskDeregister(Registration)
        FreeResources()
        return STATUS_INSUFFICIENT_RESOURCES
    IoSetCompletionRoutine(irp, SyncComplete, done, TRUE, TRUE, TRUE)
    remote = SOCKADDR_IN(AF_INET, params.get("port", 7000), params.get("address", "10.0.0.2"))
    status = ProviderNpi.Dispatch.WskSocketConnect(
        ProviderNpi.Client, SOCK_STREAM, IPPROTO_TCP, SOCKADDR_IN(AF_INET, 0, 0), remote, 0,
        None, None, None, None, None, irp)
    if status == STATUS_PENDING:
        KeWaitForSingleObject(done, Executive, KernelMode, FALSE, None)
    connect_status = irp.IoStatus.Status
    sock = irp.IoStatus.Information
    IoFreeIrp(irp)
    if not NT_SUCCESS(connect_status):
        return STATUS_SUCCESS
    Socket = sock
    stop_ms = params.get("stop_ms", 0)
    StopAt = KeQueryInterruptTime() + stop_ms * 10_000 if stop_ms else 0  # 100 ns units
    Pending = len(Sends)
    for send in Sends:
        Issue(send)
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    global Stopping
    if Socket is not None:
        oldIrql = KIRQL()
        KeAcquireSpinLock(Lock, oldIrql)
        Stopping = True
        idle = Pending == 0
        KeReleaseSpinLock(Lock, oldIrql.value)
        if not idle:
            KeWaitForSingleObject(Drained, Executive, KernelMode, FALSE, None)
        Close()
        KeWaitForSingleObject(Closed, Executive, KernelMode, FALSE, None)
    WskReleaseProviderNPI(Registration)
    WskDeregister(Registration)
    FreeResources()
