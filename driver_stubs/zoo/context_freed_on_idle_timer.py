"""Bug class: per-connection state freed on an idle timer while the socket stays open.

A variation of ``wsk_client``: once connected, the driver arms an idle timer for when "the
server has surely finished sending", and the timer's DPC frees the socket context - while the
socket is still open with WSK_EVENT_RECEIVE enabled. Nothing stops the peer from sending once
more: a WskReceiveEvent after the timer updates the freed context (``pool.use_after_free``).

In the scenario the server's last send comes 10 us before the timer: run as written, it always
lands first and the run is clean. Only the peer's timing exposes the bug, so exploration needs
``explore: {jitter: ...}`` to find it: some schedules deliver that send after the timer. Fixed
as ``wsk_client``'s unload does it: disable the receive event (and wait) or close the socket
before freeing what its callbacks use.

Parameter: ``idle_ms`` (default 7): when the idle timer fires, in milliseconds after connect.
"""

from driver_stubs.wsk_client import *

IdleTimer = KTIMER("IdleTimer")
IdleDpc = KDPC("IdleDpc")
ReferenceDriverEntry = DriverEntry  # wsk_client's, run first


def IdleTimeout(Dpc, DeferredContext, SystemArgument1, SystemArgument2):
    FreeContext()  # BUG: the socket is open and its receive callback still enabled


def DriverEntry(DriverObject, RegistryPath):
    status = ReferenceDriverEntry(DriverObject, RegistryPath)
    if NT_SUCCESS(status):
        KeInitializeTimer(IdleTimer)
        KeInitializeDpc(IdleDpc, IdleTimeout, None)
        idle_ms = RegistryPath.Parameters.get("idle_ms", 7)
        KeSetTimer(IdleTimer, LARGE_INTEGER(-10_000 * idle_ms), IdleDpc)
    return status
