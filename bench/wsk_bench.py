"""WSK benchmark: one WskReceiveEvent delivered through the whole provider path.

``wsk.receive_event_dispatch`` is the budget's "full callback dispatch": a scripted peer sends
100 bytes (a timed event in the machine's system context: a WSK_DATA_INDICATION appended to the
socket, ``pump_receive``), the provider queues the delivery as a DPC on the socket's CPU, the DPC
runs at DISPATCH_LEVEL, ``_call`` checks the event is enabled and counts it in flight, records
the callback on the context (so a wait inside would be caught), traces entry and return, calls
the driver's WskReceiveEvent - a trivial one that accepts every byte and returns
STATUS_SUCCESS - checks the status and the IRQL after return, and ends the in-flight call. The
verifier is on (it always is) and so is tracing. The peer's next send is scheduled from the
current one, as SimPy's process schedules its next timeout, so the event queue stays small.

``baseline`` is SimPy's timeout event measured in the same run with the same count; ``ratio``
= machine / SimPy (target: <= 1.5). Each figure is the best of three runs, in microseconds per
delivery. ``python -m bench.wsk_bench`` runs it alone (``--quick``: a tenth of the deliveries).
"""

from __future__ import annotations

import json
import os
import sys
import time
import types
from typing import Any

from bench.kernel_bench import simpy_timeouts
from mock_wsk.kernel.driver import load_driver
from mock_wsk.kernel.irp import IoAllocateIrp, IoFreeIrp, IoSetCompletionRoutine
from mock_wsk.kernel.sync import KEVENT, KeInitializeEvent, KeSetEvent, KeWaitForSingleObject
from mock_wsk.machine import Machine
from mock_wsk.status import STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING, STATUS_SUCCESS
from mock_wsk.wsk import wsk_state
from mock_wsk.wsk.provider import WskCaptureProviderNPI, WskRegister
from mock_wsk.wsk.structs import (
    AF_INET,
    SOCK_STREAM,
    SOCKADDR_IN,
    WSK_CLIENT_CONNECTION_DISPATCH,
    WSK_CLIENT_DISPATCH,
    WSK_CLIENT_NPI,
    WSK_EVENT_CALLBACK_CONTROL,
    WSK_PROVIDER_NPI,
    WSK_REGISTRATION,
)

DELIVERIES = 200_000
REPEATS = 3
TARGET_RATIO = 1.5
PEER_ADDRESS, PEER_PORT = "10.0.0.2", 7000


def _deliveries() -> int:
    quick = os.environ.get("BENCH_QUICK") or "--quick" in sys.argv
    return DELIVERIES // 10 if quick else DELIVERIES


def _sync(fn: Any, *args: Any) -> tuple[int, Any]:
    event = KEVENT("bench")
    KeInitializeEvent(event, 0, False)
    irp = IoAllocateIrp(1, False)
    assert irp is not None

    def done(DeviceObject: Any, Irp: Any, Context: Any) -> int:
        KeSetEvent(event, 0, False)
        return STATUS_MORE_PROCESSING_REQUIRED

    IoSetCompletionRoutine(irp, done, None, True, True, True)
    status = fn(*args, irp)
    if status == STATUS_PENDING:
        KeWaitForSingleObject(event, 0, 0, False, None)
    result = irp.IoStatus.Status, irp.IoStatus.Information
    IoFreeIrp(irp)
    return result


def machine_receive_events(n: int, trace: bool = True) -> float:
    """Seconds for ``n`` peer sends, each delivered to a WskReceiveEvent (2 CPUs, fifo)."""
    from mock_wsk.constants import (
        NPI_WSK_INTERFACE_ID,
        SO_WSK_EVENT_CALLBACK,
        SOL_SOCKET,
        WSK_EVENT_RECEIVE,
        WSK_FLAG_CONNECTION_SOCKET,
        WSK_INFINITE_WAIT,
        WskSetOption,
    )

    m = Machine(cpus=2, trace=trace)
    wsk_state(m).settings.completion = "inline"
    peer = wsk_state(m).network.add_peer(PEER_ADDRESS, PEER_PORT, listen=True, name="bench")
    received = [0]

    # The driver's callback: accept every byte, count the call, return STATUS_SUCCESS.
    def WskReceiveEvent(SocketContext: Any, Flags: int, DataIndication: Any,
                        BytesIndicated: int, BytesAccepted: Any) -> int:
        received[0] += 1
        BytesAccepted.value = BytesIndicated
        return STATUS_SUCCESS

    def DriverEntry(DriverObject: Any, RegistryPath: Any) -> int:
        registration, npi = WSK_REGISTRATION(), WSK_PROVIDER_NPI()
        WskRegister(WSK_CLIENT_NPI(None, WSK_CLIENT_DISPATCH()), registration)
        WskCaptureProviderNPI(registration, WSK_INFINITE_WAIT, npi)
        _, sock = _sync(npi.Dispatch.WskSocket, npi.Client, AF_INET, SOCK_STREAM, 6,
                        WSK_FLAG_CONNECTION_SOCKET, None,
                        WSK_CLIENT_CONNECTION_DISPATCH(WskReceiveEvent), None, None, None)
        _sync(sock.Dispatch.WskBind, sock, SOCKADDR_IN(AF_INET, 0, 0), 0)
        _sync(sock.Dispatch.WskConnect, sock, SOCKADDR_IN(AF_INET, PEER_PORT, PEER_ADDRESS), 0)
        control = WSK_EVENT_CALLBACK_CONTROL(NPI_WSK_INTERFACE_ID, WSK_EVENT_RECEIVE)
        return int(sock.Dispatch.WskControlSocket(sock, WskSetOption, SO_WSK_EVENT_CALLBACK,
                                                  SOL_SOCKET, 16, control, 0, None, None, None))

    load_driver(m, types.SimpleNamespace(DriverEntry=DriverEntry), name="Bench")
    m.run()  # DriverEntry: register, connect, enable (not timed)
    sent = [0]
    send = peer.send
    call_later = m.call_later

    def tick() -> None:
        send(100)
        sent[0] += 1
        if sent[0] < n:
            call_later(100, tick)

    call_later(100, tick)
    start = time.perf_counter()
    m.run()
    elapsed = time.perf_counter() - start
    if received[0] != n or m.violations or m.halt is not None:
        raise RuntimeError(f"benchmark run went wrong: {received[0]} of {n} deliveries, "
                           f"{m.verifier.rule_ids()}")
    if trace and (m.trace is None or len(m.trace) < 3 * n):
        raise RuntimeError("tracing was expected to record every delivery")
    return elapsed


def bench_receive_event_dispatch() -> list[dict[str, Any]]:
    """wsk.receive_event_dispatch (traced; untraced for reference) against SimPy's timeout."""
    n = _deliveries()
    samples: dict[str, list[float]] = {"machine": [], "untraced": [], "simpy": []}
    for _ in range(REPEATS):  # interleaved: a noisy neighbour hurts every contender alike
        samples["simpy"].append(simpy_timeouts(n))
        samples["machine"].append(machine_receive_events(n, trace=True))
        samples["untraced"].append(machine_receive_events(n, trace=False))
    us = {key: round(min(values) / n * 1e6, 3) for key, values in samples.items()}
    return [
        {"name": "wsk.receive_event_dispatch", "unit": "us", "value": us["machine"],
         "baseline": us["simpy"], "baseline_name": "simpy.timeout",
         "ratio": round(us["machine"] / us["simpy"], 3), "target_ratio": TARGET_RATIO,
         "deliveries": n, "trace": True},
        {"name": "wsk.receive_event_dispatch.untraced", "unit": "us", "value": us["untraced"],
         "baseline": us["simpy"], "baseline_name": "simpy.timeout",
         "ratio": round(us["untraced"] / us["simpy"], 3), "deliveries": n, "trace": False},
    ]


if __name__ == "__main__":
    print(json.dumps(bench_receive_event_dispatch(), indent=2))
