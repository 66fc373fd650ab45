"""Bug class: an event callback returning a status the contract does not allow.

A variation of ``wsk_client`` whose WskReceiveEvent keeps a small receive quota and, once it is
used up, answers ``STATUS_UNSUCCESSFUL`` - as if an error could be reported to WSK. It cannot:
WskReceiveEvent returns only STATUS_SUCCESS, STATUS_PENDING or STATUS_DATA_NOT_ACCEPTED
(CONTRACTS B.10). Caught as ``wsk.callback.bad_return``; the mock then treats the data as not
accepted (fidelity ``wsk.bad_callback_return``), and the rest of the stream never arrives.
The intended answer is STATUS_DATA_NOT_ACCEPTED, with a WskReceive posted later.

Parameters as ``wsk_client``, plus ``quota`` (default 2000 bytes).
"""

from driver_stubs.wsk_client import *

Quota = 2000


def ClientReceiveEvent(SocketContext, Flags, DataIndication, BytesIndicated, BytesAccepted):
    global receive_calls
    receive_calls += 1
    if DataIndication is None:
        return STATUS_SUCCESS
    Length = WskDataIndicationLength(DataIndication)
    if SocketContext.BytesReceived + Length > Quota:
        return STATUS_UNSUCCESSFUL  # BUG: not a WskReceiveEvent answer
    CountReceived(SocketContext, Length)
    BytesAccepted.value = BytesIndicated
    return STATUS_SUCCESS


ClientDriverEntry = DriverEntry  # wsk_client's


def DriverEntry(DriverObject, RegistryPath):
    global Quota
    Quota = RegistryPath.Parameters.get("quota", 2000)
    return ClientDriverEntry(DriverObject, RegistryPath)
