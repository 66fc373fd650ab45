"""Bug class: waiting inside a WSK event callback.

A variation of ``wsk_client`` whose WskReceiveEvent acknowledges every indication with a
4-byte WskSend - and waits for that send to complete, with the classic synchronous-call pattern
(an IRP, a KEVENT, KeWaitForSingleObject). A callback may start WSK requests but must never wait
for one, not even at PASSIVE_LEVEL (CONTRACTS B.9): WSK may be holding resources the request
needs, and at DISPATCH_LEVEL the wait is a bug check. Caught as ``wsk.callback.wait`` at the
wait's line; the fix is a completion routine that does the follow-up work.
"""

from driver_stubs._wsk_common import SyncIrpCompletion
from driver_stubs.wsk_client import *


def ClientReceiveEvent(SocketContext, Flags, DataIndication, BytesIndicated, BytesAccepted):
    global receive_calls
    receive_calls += 1
    if DataIndication is None:
        return STATUS_SUCCESS
    Length = WskDataIndicationLength(DataIndication)
    SendAcknowledgement(4)  # BUG: waits for the send, inside the callback
    CountReceived(SocketContext, Length)
    BytesAccepted.value = BytesIndicated
    return STATUS_SUCCESS


def SendAcknowledgement(Length):
    Buffer = ExAllocatePool2(POOL_FLAG_NON_PAGED, Length, CLIENT_TAG)
    Mdl = IoAllocateMdl(Buffer, Length, FALSE, FALSE, None)
    MmBuildMdlForNonPagedPool(Mdl)
    Sent = KEVENT("AckSent")
    KeInitializeEvent(Sent, NotificationEvent, FALSE)
    Irp = IoAllocateIrp(1, FALSE)
    IoSetCompletionRoutine(Irp, SyncIrpCompletion, Sent, TRUE, TRUE, TRUE)  # sets Sent
    status = Socket.Dispatch.WskSend(Socket, WSK_BUF(Mdl, 0, Length), 0, Irp)
    if status == STATUS_PENDING:
        KeWaitForSingleObject(Sent, Executive, KernelMode, FALSE, None)  # BUG: in a callback
    IoFreeIrp(Irp)
    IoFreeMdl(Mdl)
    ExFreePoolWithTag(Buffer, CLIENT_TAG)
