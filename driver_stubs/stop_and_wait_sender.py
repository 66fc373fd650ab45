"""Reference driver: a stop-and-wait sender - one WskSend of ``send_size`` bytes at a time.

A system thread sends, waits for the IRP's completion (an event set by the completion routine,
which returns STATUS_MORE_PROCESSING_REQUIRED), reuses the IRP with ``IoReuseIrp`` and sends
again. Because WSK completes a send only when its last byte is acknowledged (C.14), each send
costs its wire time plus one round trip: throughput is ``S / (S / C + RTT)`` - on 1 Gb/s x 40 ms
with 64 KiB sends about 1.6 MB/s, 1.3 % of the link. It never looks at the ideal send backlog:
the baseline the send pump is compared with.

The thread stops at ``stop_ms`` (or at unload); DriverUnload waits for it, closes the socket
and frees everything. A failed send (e.g. STATUS_FILE_FORCED_CLOSED) stops the thread, which
then closes the socket at once (C.16).

Parameters: ``send_size`` (64 KiB), ``stop_ms`` (0 = until unload), ``port`` (7000),
``address`` (10.0.0.2). Counters: sends_completed, bytes_completed, send_failures.
"""

from driver_stubs._wsk_common import WskEventControl
from mock_wsk.wdk import *  # noqa: F403

TAG = b"SnW "

Registration = WSK_REGISTRATION()
ProviderNpi = WSK_PROVIDER_NPI()
Socket = None
Dispatch = None  # WSK_CLIENT_CONNECTION_DISPATCH: no event callbacks, the ISB is never read
Events = 0  # the WSK_EVENT_* flags enabled once connected
SendDone = KEVENT("SendDone")
Thread = None
Stopping = False
SendSize = 65536
StopAt = 0

sends_completed = 0
bytes_completed = 0
send_failures = 0
connect_status = 0


def SyncComplete(DeviceObject, Irp, Context):
    KeSetEvent(Context, IO_NO_INCREMENT, FALSE)
    return STATUS_MORE_PROCESSING_REQUIRED


def CallAndWait(irp, call, *args):
    """PASSIVE_LEVEL: ``call(*args, irp)`` on a reused IRP and wait for its completion."""
    IoReuseIrp(irp, STATUS_UNSUCCESSFUL)
    KeClearEvent(SendDone)
    IoSetCompletionRoutine(irp, SyncComplete, SendDone, TRUE, TRUE, TRUE)
    status = call(*args, irp)
    if status == STATUS_PENDING:
        KeWaitForSingleObject(SendDone, Executive, KernelMode, FALSE, None)
    return irp.IoStatus.Status, irp.IoStatus.Information


def SenderThread(StartContext):
    """Sends until told to stop on the IRP DriverEntry connected with (``StartContext``), then
    closes the socket and frees the IRP."""
    global sends_completed, bytes_completed, send_failures, Socket
    irp = StartContext
    buffer = ExAllocatePool2(POOL_FLAG_NON_PAGED, SendSize, TAG)
    mdl = IoAllocateMdl(buffer, SendSize, FALSE, FALSE, None) if buffer is not None else None
    if mdl is None:
        send_failures += 1  # no memory to send from: close at once
    else:
        MmBuildMdlForNonPagedPool(mdl)
        wskbuf = WSK_BUF(mdl, 0, SendSize)
        while not Stopping and (not StopAt or KeQueryInterruptTime() < StopAt):
            status, sent = CallAndWait(irp, Socket.Dispatch.WskSend, Socket, wskbuf, 0)
            if not NT_SUCCESS(status):
                send_failures += 1
                break
            sends_completed += 1
            bytes_completed += sent
        IoFreeMdl(mdl)
    CallAndWait(irp, Socket.Dispatch.WskCloseSocket, Socket)  # done, or dead: close now
    Socket = None
    if buffer is not None:
        ExFreePool(buffer)
    IoFreeIrp(irp)
    PsTerminateSystemThread(STATUS_SUCCESS)


def DriverEntry(DriverObject, RegistryPath):
    global Socket, SendSize, StopAt, Thread, connect_status
    params = RegistryPath.Parameters
    SendSize = params.get("send_size", 65536)
    KeInitializeEvent(SendDone, NotificationEvent, FALSE)
    DriverObject.DriverUnload = DriverUnload
    status = WskRegister(WSK_CLIENT_NPI(None, WSK_CLIENT_DISPATCH()), Registration)
    if not NT_SUCCESS(status):
        return status
    status = WskCaptureProviderNPI(Registration, WSK_INFINITE_WAIT, ProviderNpi)
    if not NT_SUCCESS(status):
        WskDeregister(Registration)
        return status
    irp = IoAllocateIrp(1, FALSE)  # connects, then the sender thread's (it frees it)
    if irp is None:
        WskReleaseProviderNPI(Registration)
        WskDeregister(Registration)
        return STATUS_INSUFFICIENT_RESOURCES
    remote = SOCKADDR_IN(AF_INET, params.get("port", 7000), params.get("address", "10.0.0.2"))
    status, sock = CallAndWait(irp, ProviderNpi.Dispatch.WskSocketConnect, ProviderNpi.Client,
                               SOCK_STREAM, IPPROTO_TCP, SOCKADDR_IN(AF_INET, 0, 0), remote, 0,
                               None, Dispatch, None, None, None)
    connect_status = status
    if not NT_SUCCESS(status):
        IoFreeIrp(irp)
        return STATUS_SUCCESS
    Socket = sock
    if Events:
        WskEventControl(Socket, Events)
    stop_ms = params.get("stop_ms", 0)
    StopAt = KeQueryInterruptTime() + stop_ms * 10_000 if stop_ms else 0  # 100 ns units
    handle = HANDLE()
    PsCreateSystemThread(handle, THREAD_ALL_ACCESS, None, None, None, SenderThread, irp)
    ObReferenceObjectByHandle(handle.value, THREAD_ALL_ACCESS, None, KernelMode,
                              thread := PVOID(), None)
    Thread = thread.value
    ZwClose(handle.value)
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    global Stopping
    Stopping = True
    if Thread is not None:
        KeWaitForSingleObject(Thread, Executive, KernelMode, FALSE, None)
        ObDereferenceObject(Thread)
    WskReleaseProviderNPI(Registration)
    WskDeregister(Registration)
