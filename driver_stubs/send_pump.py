"""Reference driver: a send-backlog-aware kernel send pump (CONTRACTS B.12, C.13-C.17).

WSK keeps no copy of send data: a ``WskSend`` completes only when the peer has acknowledged its
last byte. So the pump keeps the *ideal send backlog* (ISB) outstanding - passed to WskSend and
not yet completed - as ``ceil(ISB / send_size)`` pended sends, each from a pre-built buffer with
its own MDL and IRP:

* at start it reads the ISB with ``SIO_WSK_QUERY_IDEAL_SEND_BACKLOG`` (IRP required) and enables
  ``WSK_EVENT_SEND_BACKLOG``; every ``WskSendBacklogEvent`` stores the new value and tops up
  (never waits, returns STATUS_SUCCESS); when the ISB goes *down* the pump simply stops topping
  up until completions bring the outstanding bytes below it;
* each completion routine (DISPATCH_LEVEL) returns the buffer to the free list and tops up; the
  IRP is reused with ``IoReuseIrp`` + ``IoSetCompletionRoutine`` before its next send, and the
  buffer is never touched while its send is pending (C.15);
* state is guarded by a spin lock, but WskSend is called *outside* it: a request may complete
  inline (a refusal does, C.17) and its completion routine takes the same lock;
* ``nodelay``: every send asks for ``WSK_FLAG_NODELAY``; a transport that does not support it
  refuses the send with ``STATUS_NOT_SUPPORTED`` (C.13, completing the IRP inline), and the pump
  drops the flag and goes on;
* a send failing with ``STATUS_FILE_FORCED_CLOSED`` (or any other error) stops the pump; once
  the last pending send has completed it calls ``WskCloseSocket`` at once (C.16) - from the
  completion routine, with the close IRP completing asynchronously;
* DriverUnload stops the pump, waits for the pending sends to drain, closes the socket (if it
  was not closed already), and frees every IRP, MDL and buffer.

Parameters: ``send_size`` (64 KiB), ``buffers`` (256: the pool of pre-built sends; 256 x 64 KiB
covers the 16 MiB ISB ceiling), ``stop_ms`` (0 = send until unload), ``nodelay`` (false: pass
WSK_FLAG_NODELAY with every send), ``port`` (7000), ``address`` (10.0.0.2).
Counters (``driver.<name>``): bytes_completed, sends_completed, send_failures,
forced_closed_failures, isb_events, isb_last, isb_min_seen, isb_max_seen, outstanding_max,
refused_status (the last failure's status), closed_dead, nodelay_refused.
"""

from driver_stubs._wsk_common import WskSyncCall
from mock_wsk.abi import pointer_size as _pointer_size
from mock_wsk.abi import sizeof as _abi_sizeof
from mock_wsk.machine import active_machine as _active_machine
from mock_wsk.wdk import *  # noqa: F403

TAG = b"Pump"

Registration = WSK_REGISTRATION()
ProviderNpi = WSK_PROVIDER_NPI()
Socket = None
Lock = KSPIN_LOCK("PumpLock")
Drained = KEVENT("PumpDrained")
Closed = KEVENT("PumpClosed")
CloseIrp = None
StopTimer = KTIMER("PumpStopTimer")
StopDpc = KDPC("PumpStopDpc")

SendSize = 65536
SendFlags = 0
Sends = []  # every SEND_CONTEXT (pool)
FreeSends = []  # the ones not pending
Isb = 0
Outstanding = 0
Stopping = False
Dead = False
CloseStarted = False

# Counters read by the scenario as driver.<name>.
bytes_completed = 0
sends_completed = 0
send_failures = 0
forced_closed_failures = 0
isb_events = 0
isb_last = 0
isb_min_seen = 0
isb_max_seen = 0
outstanding_max = 0
refused_status = 0
closed_dead = 0
nodelay_refused = 0
connect_status = 0


class SEND_CONTEXT:
    """One pre-built send: buffer, MDL, WSK_BUF and a reusable IRP (a C struct)."""

    def __init__(self):
        self.Buffer = None
        self.Mdl = None
        self.WskBuf = None
        self.Irp = None


# ---------------------------------------------------------------------- event callback


def WskSendBacklogEvent(SocketContext, IdealBacklogSize):
    """Any IRQL <= DISPATCH_LEVEL: remember the new ISB, top up; never wait (B.9, B.10)."""
    global Isb
    oldIrql = KIRQL()
    KeAcquireSpinLock(Lock, oldIrql)
    Isb = IdealBacklogSize
    CountIsbEvent(IdealBacklogSize)
    KeReleaseSpinLock(Lock, oldIrql.value)
    Pump()
    return STATUS_SUCCESS


def CountIsbEvent(IdealBacklogSize):
    """The ISB counters (under Lock)."""
    global isb_events, isb_last, isb_min_seen, isb_max_seen
    isb_events += 1
    isb_last = IdealBacklogSize
    isb_min_seen = min(isb_min_seen, IdealBacklogSize) if isb_min_seen else IdealBacklogSize
    isb_max_seen = max(isb_max_seen, IdealBacklogSize)


# ---------------------------------------------------------------------- the pump


def Pump():
    """Issue sends while the outstanding bytes are below the ISB (any IRQL <= DISPATCH)."""
    global Outstanding, outstanding_max
    oldIrql = KIRQL()
    while True:
        KeAcquireSpinLock(Lock, oldIrql)
        if Stopping or Dead or Outstanding >= Isb or not FreeSends:
            KeReleaseSpinLock(Lock, oldIrql.value)
            return
        send = FreeSends.pop()
        Outstanding += SendSize
        outstanding_max = max(outstanding_max, Outstanding)
        KeReleaseSpinLock(Lock, oldIrql.value)
        IoReuseIrp(send.Irp, STATUS_UNSUCCESSFUL)
        IoSetCompletionRoutine(send.Irp, SendComplete, send, TRUE, TRUE, TRUE)
        # Outside the lock: a refused send completes inline and SendComplete takes the lock.
        Socket.Dispatch.WskSend(Socket, send.WskBuf, SendFlags, send.Irp)


def SendComplete(DeviceObject, Irp, Context):
    """DISPATCH_LEVEL (or inline for a refusal): account, free the buffer, top up or close."""
    global Outstanding, bytes_completed, sends_completed, send_failures
    global forced_closed_failures, Dead, refused_status, SendFlags, nodelay_refused
    status = Irp.IoStatus.Status
    oldIrql = KIRQL()
    KeAcquireSpinLock(Lock, oldIrql)
    Outstanding -= SendSize
    FreeSends.append(Context)
    if NT_SUCCESS(status):
        bytes_completed += Irp.IoStatus.Information
        sends_completed += 1
    elif status == STATUS_NOT_SUPPORTED and SendFlags & WSK_FLAG_NODELAY:
        SendFlags = 0  # the transport refuses the flag (C.13): send without it from now on
        nodelay_refused += 1
    else:
        send_failures += 1
        refused_status = status
        if status == STATUS_FILE_FORCED_CLOSED:
            forced_closed_failures += 1
        Dead = True  # the socket no longer works: stop and close it (C.16)
    idle = Outstanding == 0
    dead = Dead
    KeReleaseSpinLock(Lock, oldIrql.value)
    if not dead:
        Pump()
    elif idle:
        CloseDeadSocket()
    if idle and (Stopping or dead):
        KeSetEvent(Drained, IO_NO_INCREMENT, FALSE)
    return STATUS_MORE_PROCESSING_REQUIRED


def CloseDeadSocket():
    """Close a dead socket as soon as nothing is pending on it (C.16; any IRQL <= DISPATCH)."""
    global CloseStarted, closed_dead
    oldIrql = KIRQL()
    KeAcquireSpinLock(Lock, oldIrql)
    start = not CloseStarted
    CloseStarted = True
    KeReleaseSpinLock(Lock, oldIrql.value)
    if start:
        closed_dead = 1 if Dead else 0
        IoSetCompletionRoutine(CloseIrp, CloseComplete, None, TRUE, TRUE, TRUE)
        Socket.Dispatch.WskCloseSocket(Socket, CloseIrp)


def CloseComplete(DeviceObject, Irp, Context):
    KeSetEvent(Closed, IO_NO_INCREMENT, FALSE)
    return STATUS_MORE_PROCESSING_REQUIRED


def StopDpcRoutine(Dpc, DeferredContext, SystemArgument1, SystemArgument2):
    """``stop_ms`` reached: no new sends; the pending ones complete."""
    global Stopping
    oldIrql = KIRQL()
    KeAcquireSpinLock(Lock, oldIrql)
    Stopping = True
    idle = Outstanding == 0
    KeReleaseSpinLock(Lock, oldIrql.value)
    if idle:
        KeSetEvent(Drained, IO_NO_INCREMENT, FALSE)


# ---------------------------------------------------------------------- pre-built sends


def BuildSends(count):
    for _ in range(count):
        send = SEND_CONTEXT()
        send.Buffer = ExAllocatePool2(POOL_FLAG_NON_PAGED, SendSize, TAG)
        send.Irp = IoAllocateIrp(1, FALSE)
        if send.Buffer is None or send.Irp is None:
            FreeSend(send)
            return STATUS_INSUFFICIENT_RESOURCES
        send.Mdl = IoAllocateMdl(send.Buffer, SendSize, FALSE, FALSE, None)
        if send.Mdl is None:
            FreeSend(send)
            return STATUS_INSUFFICIENT_RESOURCES
        MmBuildMdlForNonPagedPool(send.Mdl)
        send.WskBuf = WSK_BUF(send.Mdl, 0, SendSize)
        Sends.append(send)
        FreeSends.append(send)
    return STATUS_SUCCESS


def FreeResources():
    global CloseIrp
    for send in Sends:
        FreeSend(send)
    Sends.clear()
    FreeSends.clear()
    if CloseIrp is not None:
        IoFreeIrp(CloseIrp)
        CloseIrp = None


def FreeSend(send):
    if send.Mdl is not None:
        IoFreeMdl(send.Mdl)
    if send.Buffer is not None:
        ExFreePool(send.Buffer)
    if send.Irp is not None:
        IoFreeIrp(send.Irp)


# ---------------------------------------------------------------------- entry / unload


def DriverEntry(DriverObject, RegistryPath):
    global Socket, SendSize, SendFlags, Isb, CloseIrp, connect_status
    params = RegistryPath.Parameters
    SendSize = params.get("send_size", 65536)
    SendFlags = WSK_FLAG_NODELAY if params.get("nodelay", False) else 0
    KeInitializeSpinLock(Lock)
    KeInitializeEvent(Drained, NotificationEvent, FALSE)
    KeInitializeEvent(Closed, NotificationEvent, FALSE)
    KeInitializeTimerEx(StopTimer, NotificationTimer)
    KeInitializeDpc(StopDpc, StopDpcRoutine, None)
    DriverObject.DriverUnload = DriverUnload
    status = BuildSends(params.get("buffers", 256))
    CloseIrp = IoAllocateIrp(1, FALSE)
    if not NT_SUCCESS(status) or CloseIrp is None:
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
    remote = SOCKADDR_IN(AF_INET, params.get("port", 7000), params.get("address", "10.0.0.2"))
    Dispatch = WSK_CLIENT_CONNECTION_DISPATCH(None, None, WskSendBacklogEvent)
    status, sock = WskSyncCall(ProviderNpi.Dispatch.WskSocketConnect, ProviderNpi.Client,
                               SOCK_STREAM, IPPROTO_TCP, SOCKADDR_IN(AF_INET, 0, 0), remote, 0,
                               None, Dispatch, None, None, None)
    connect_status = status
    if not NT_SUCCESS(status):
        return STATUS_SUCCESS  # nothing to pump; unload cleans up
    Socket = sock
    control = WSK_EVENT_CALLBACK_CONTROL(NPI_WSK_INTERFACE_ID, WSK_EVENT_SEND_BACKLOG)
    Socket.Dispatch.WskControlSocket(Socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                     sizeof("WSK_EVENT_CALLBACK_CONTROL"), control, 0, None,
                                     None, None)
    isb = SIZE_T()
    status, _ = WskSyncCall(Socket.Dispatch.WskControlSocket, Socket, WskIoctl,
                            SIO_WSK_QUERY_IDEAL_SEND_BACKLOG, 0, 0, None, sizeof("SIZE_T"),
                            isb, None)
    oldIrql = KIRQL()
    KeAcquireSpinLock(Lock, oldIrql)
    if NT_SUCCESS(status) and Isb == 0:  # an event may already have brought a newer value
        Isb = isb.value
    KeReleaseSpinLock(Lock, oldIrql.value)
    stop_ms = params.get("stop_ms", 0)
    if stop_ms:
        KeSetTimerEx(StopTimer, -10_000 * stop_ms, 0, StopDpc)
    Pump()
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    global Stopping
    if Socket is not None:
        KeCancelTimer(StopTimer)
        oldIrql = KIRQL()
        KeAcquireSpinLock(Lock, oldIrql)
        Stopping = True
        idle = Outstanding == 0
        close_now = not CloseStarted
        KeReleaseSpinLock(Lock, oldIrql.value)
        KeFlushQueuedDpcs()
        if not idle:
            KeWaitForSingleObject(Drained, Executive, KernelMode, FALSE, None)
        if close_now and not Dead:
            CloseDeadSocket()  # not dead: the same path closes a healthy socket
        if close_now or CloseStarted:
            KeWaitForSingleObject(Closed, Executive, KernelMode, FALSE, None)
    WskReleaseProviderNPI(Registration)
    WskDeregister(Registration)
    FreeResources()


def sizeof(type_name):
    """C's ``sizeof(type_name)`` for the machine's architecture (x64 / x86 layouts)."""
    if type_name == "SIZE_T":
        return _pointer_size(_active_machine().arch)
    return _abi_sizeof(type_name, _active_machine().arch)
