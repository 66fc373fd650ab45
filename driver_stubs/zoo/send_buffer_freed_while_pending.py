"""Known-bad driver: frees a send buffer while its WskSend is still pending (CONTRACTS C.15).

The author assumed WSK copies the data the way a buffered transport would, so the buffer can go
as soon as WskSend returns. It cannot: WSK does no buffering, the send completes only once the
peer acknowledged the last byte, and until then the MDL chain must stay locked and *unchanged* -
TCP may retransmit from it. A variation of ``stop_and_wait_sender`` whose thread sends ``count``
messages, each from a fresh pool buffer it frees right after WskSend returns STATUS_PENDING. The
free is caught at the driver's line as ``mdl.changed_while_in_use``, and the peer, which checks
the stream's content token, counts the send as corrupt (``flow.<peer>.corrupt_sends``).

Parameters as ``stop_and_wait_sender``, plus ``count`` (3).
"""

from driver_stubs.stop_and_wait_sender import *

Count = 3


def SenderThread(StartContext):
    global sends_completed, send_failures, Socket
    irp = StartContext  # DriverEntry's connect IRP, the thread's to send on and free
    for _ in range(Count):
        buffer = ExAllocatePool2(POOL_FLAG_NON_PAGED, SendSize, TAG)
        mdl = IoAllocateMdl(buffer, SendSize, FALSE, FALSE, None)
        MmBuildMdlForNonPagedPool(mdl)
        IoReuseIrp(irp, STATUS_UNSUCCESSFUL)
        KeClearEvent(SendDone)
        IoSetCompletionRoutine(irp, SyncComplete, SendDone, TRUE, TRUE, TRUE)
        status = Socket.Dispatch.WskSend(Socket, WSK_BUF(mdl, 0, SendSize), 0, irp)
        ExFreePool(buffer)  # BUG: the send is pending; WSK still needs these bytes (C.15)
        if status == STATUS_PENDING:
            KeWaitForSingleObject(SendDone, Executive, KernelMode, FALSE, None)
        if NT_SUCCESS(irp.IoStatus.Status):
            sends_completed += 1
        else:
            send_failures += 1
        IoFreeMdl(mdl)
    CallAndWait(irp, Socket.Dispatch.WskCloseSocket, Socket)
    Socket = None
    IoFreeIrp(irp)
    PsTerminateSystemThread(STATUS_SUCCESS)


SenderDriverEntry = DriverEntry  # stop_and_wait_sender's


def DriverEntry(DriverObject, RegistryPath):
    global Count
    Count = RegistryPath.Parameters.get("count", 3)
    return SenderDriverEntry(DriverObject, RegistryPath)
