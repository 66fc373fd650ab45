"""Wall-clock benchmarks of the WSK send path: driver -> provider -> flow model -> completion.

Unlike ``flow_bench`` (the model alone), every send here is a real ``WskSend`` from driver code
on a :class:`~mock_wsk.machine.Machine` with the verifier on: the provider's checks and MDL
acquisition, the flow model behind the transport seam, the acknowledgement as a timed event, the
IRP completed from a DPC, and the driver's completion routine (``IoReuseIrp``,
``IoSetCompletionRoutine``, the next ``WskSend``). Tracing is off unless a result says so.

* ``flow.wsksend_roundtrip`` - microseconds per send in steady state on 1 Gb/s x 40 ms, with the
  cheapest correct driver: each completion routine re-issues its own send (80 x 64 KiB, about
  the ISB). ``pump_stub_us`` is the same figure for the ``send_pump`` reference stub (spin lock,
  free list, ISB bookkeeping).
* ``flow.10g_100ms_60s`` - wall seconds to simulate 60 s of 10 Gb/s x 100 ms with 64 KiB sends;
  the ISB caps at 16 MiB (BDP is 125 MB), so 256 sends outstanding, ~150,000 sends.
* ``scale.connections_10k`` - per-event cost (one stop-and-wait send completing) with 10,000
  connections, as a ratio to the same with 10; ``bytes_per_idle_connection`` is the harness
  memory (tracemalloc) one connected, idle connection costs.

``BENCH_QUICK=1`` shortens every run. Run alone with ``python -m bench -k flow_wsk``.
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc
import types
from pathlib import Path
from typing import Any

from mock_wsk.kernel.driver import DriverImage, load_driver
from mock_wsk.machine import Machine
from mock_wsk.transport.link import Links
from mock_wsk.wdk import (
    AF_INET,
    FALSE,
    IPPROTO_TCP,
    POOL_FLAG_NON_PAGED,
    SOCK_STREAM,
    SOCKADDR_IN,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_PENDING,
    STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
    TRUE,
    WSK_BUF,
    WSK_CLIENT_DISPATCH,
    WSK_CLIENT_NPI,
    WSK_INFINITE_WAIT,
    WSK_PROVIDER_NPI,
    WSK_REGISTRATION,
    ExAllocatePool2,
    IoAllocateIrp,
    IoAllocateMdl,
    IoReuseIrp,
    IoSetCompletionRoutine,
    MmBuildMdlForNonPagedPool,
    WskCaptureProviderNPI,
    WskRegister,
)
from mock_wsk.wsk import wsk_state

_MS = 1_000_000
_S = 1_000_000_000
_SEND = 64 * 1024
_PUMP = Path(__file__).resolve().parent.parent / "driver_stubs" / "send_pump.py"
REPEATS = 3


def _quick() -> bool:
    return bool(os.environ.get("BENCH_QUICK"))


# ---------------------------------------------------------------------- the inline driver


class _InlineSender:
    """The cheapest correct WSK sender: ``window`` sends, each re-issued by its own completion
    routine on the same IRP and buffer (the buffer is untouched while pending: C.15)."""

    def __init__(self, window: int, send_size: int, peers: int = 1) -> None:
        self.window = window
        self.send_size = send_size
        self.peers = peers
        self.completed = 0
        self.sockets: list[Any] = []

    def SendComplete(self, DeviceObject: Any, Irp: Any, Context: Any) -> int:
        self.completed += 1
        sock, buf = Context
        IoReuseIrp(Irp, STATUS_UNSUCCESSFUL)
        IoSetCompletionRoutine(Irp, self.SendComplete, Context, TRUE, TRUE, TRUE)
        sock.Dispatch.WskSend(sock, buf, 0, Irp)
        return STATUS_MORE_PROCESSING_REQUIRED

    def Connected(self, DeviceObject: Any, Irp: Any, Context: Any) -> int:
        self.sockets.append(Irp.IoStatus.Information)
        if self.window:
            self.start(Irp.IoStatus.Information)
        return STATUS_MORE_PROCESSING_REQUIRED

    def start(self, sock: Any) -> None:
        for _ in range(self.window):
            block = ExAllocatePool2(POOL_FLAG_NON_PAGED, self.send_size, b"Bnch")
            mdl = IoAllocateMdl(block, self.send_size, FALSE, FALSE, None)
            MmBuildMdlForNonPagedPool(mdl)
            irp = IoAllocateIrp(1, FALSE)
            context = (sock, WSK_BUF(mdl, 0, self.send_size))
            IoSetCompletionRoutine(irp, self.SendComplete, context, TRUE, TRUE, TRUE)
            sock.Dispatch.WskSend(sock, context[1], 0, irp)

    def DriverEntry(self, DriverObject: Any, RegistryPath: Any) -> int:
        registration, npi = WSK_REGISTRATION(), WSK_PROVIDER_NPI()
        WskRegister(WSK_CLIENT_NPI(None, WSK_CLIENT_DISPATCH()), registration)
        WskCaptureProviderNPI(registration, WSK_INFINITE_WAIT, npi)
        for index in range(self.peers):
            irp = IoAllocateIrp(1, FALSE)
            IoSetCompletionRoutine(irp, self.Connected, None, TRUE, TRUE, TRUE)
            status = npi.Dispatch.WskSocketConnect(
                npi.Client, SOCK_STREAM, IPPROTO_TCP, SOCKADDR_IN(AF_INET, 0, 0),
                SOCKADDR_IN(AF_INET, 7000 + index % 50000, _peer_address(index)), 0, None,
                None, None, None, None, irp)
            assert status == STATUS_PENDING
        return STATUS_SUCCESS


def _peer_address(index: int) -> str:
    return f"10.{1 + index // 65536}.{index // 256 % 256}.{index % 256}"


def _machine(bandwidth_bps: int, rtt_ns: int, receive_window: int, peers: int = 1) -> Machine:
    m = Machine(cpus=2, trace=False)
    m.subsystem(Links).defaults.update(bandwidth_bps=bandwidth_bps, rtt_ns=rtt_ns,
                                       receive_window=receive_window)
    net = wsk_state(m).network
    for index in range(peers):
        net.add_peer(_peer_address(index), 7000 + index % 50000, listen=True, name=f"p{index}")
    return m


def _inline_run(window: int, warm_ns: int, timed_ns: int, bandwidth_bps: int = _S,
                rtt_ns: int = 40 * _MS) -> tuple[float, int]:
    """(wall seconds, sends completed) for ``timed_ns`` of virtual time after a warm-up."""
    m = _machine(bandwidth_bps, rtt_ns, 16 * 1024 * 1024)
    sender = _InlineSender(window, _SEND)
    load_driver(m, types.SimpleNamespace(DriverEntry=sender.DriverEntry), "bench_sender")
    m.run(until_ns=warm_ns)
    before = sender.completed
    start = time.perf_counter()
    m.run(until_ns=warm_ns + timed_ns)
    return time.perf_counter() - start, sender.completed - before


def _pump_run(warm_ns: int, timed_ns: int) -> tuple[float, int]:
    m = _machine(_S, 40 * _MS, 16 * 1024 * 1024)
    module = DriverImage.from_file(_PUMP, name="send_pump").instantiate()
    load_driver(m, module, "send_pump", {"send_size": _SEND, "address": _peer_address(0)})
    m.run(until_ns=warm_ns)
    before = module.sends_completed
    start = time.perf_counter()
    m.run(until_ns=warm_ns + timed_ns)
    return time.perf_counter() - start, module.sends_completed - before


def bench_wsksend_roundtrip() -> dict[str, Any]:
    """Microseconds per WskSend round trip (best of three), inline driver and the pump stub."""
    timed = (2 if _quick() else 8) * _S
    best = best_pump = float("inf")
    sends = 0
    for _ in range(REPEATS):
        seconds, sends = _inline_run(80, 1 * _S, timed)
        best = min(best, seconds / sends)
        seconds, pump_sends = _pump_run(1 * _S, timed)
        best_pump = min(best_pump, seconds / pump_sends)
    return {"name": "flow.wsksend_roundtrip", "unit": "us", "value": round(best * 1e6, 2),
            "target": 5.0, "sends": sends, "pump_stub_us": round(best_pump * 1e6, 2)}


def bench_10g_100ms_60s() -> dict[str, Any]:
    """Wall seconds for 60 s of 10 Gb/s x 100 ms with 64 KiB sends (256 outstanding)."""
    virtual = (10 if _quick() else 60) * _S
    start = time.perf_counter()
    m = _machine(10 * _S, 100 * _MS, 64 * 1024 * 1024)
    sender = _InlineSender(256, _SEND)  # 16 MiB, the ISB ceiling
    load_driver(m, types.SimpleNamespace(DriverEntry=sender.DriverEntry), "bench_sender")
    m.run(until_ns=virtual)
    seconds = time.perf_counter() - start
    return {"name": "flow.10g_100ms_60s", "unit": "s", "value": round(seconds, 3),
            "target": 6.0, "virtual_s": virtual // _S, "sends": sender.completed}


# ---------------------------------------------------------------------- scale


def _scale_run(connections: int, events: int) -> float:
    """Seconds per completed send with ``connections`` stop-and-wait connections."""
    m = _machine(100_000_000, 10 * _MS, 1024 * 1024, peers=connections)
    sender = _InlineSender(1, 1024, peers=connections)
    load_driver(m, types.SimpleNamespace(DriverEntry=sender.DriverEntry), "bench_sender")
    m.run(until_ns=50 * _MS)  # every connection up and past its first sends
    before = sender.completed
    t = m.now
    start = time.perf_counter()
    # Each connection completes one send per ~10 ms: run long enough for ``events`` of them.
    while sender.completed - before < events:
        t += 10 * _MS
        m.run(until_ns=t)
    return (time.perf_counter() - start) / (sender.completed - before)


def _idle_bytes(connections: int) -> float:
    """Harness bytes per connected idle connection (tracemalloc, provider + flow + peer)."""
    gc.collect()
    tracemalloc.start()
    m = _machine(_S, 10 * _MS, 1024 * 1024, peers=connections)
    sender = _InlineSender(0, 0, peers=connections)
    load_driver(m, types.SimpleNamespace(DriverEntry=sender.DriverEntry), "bench_sender")
    m.run(until_ns=50 * _MS)
    base_m = _machine(_S, 10 * _MS, 1024 * 1024, peers=0)
    del base_m
    gc.collect()
    used, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(sender.sockets) == connections
    return used / connections


def bench_connections_10k() -> dict[str, Any]:
    """Per-event cost at 10,000 connections as a ratio to 10; bytes per idle connection."""
    events = 5_000 if _quick() else 20_000
    small = min(_scale_run(10, events) for _ in range(REPEATS))
    large = min(_scale_run(10_000, events) for _ in range(REPEATS if not _quick() else 1))
    idle = _idle_bytes(2_000 if _quick() else 10_000)
    return {"name": "scale.connections_10k", "unit": "ratio", "value": round(large / small, 3),
            "target": 1.2, "us_per_event_10": round(small * 1e6, 2),
            "us_per_event_10k": round(large * 1e6, 2),
            "bytes_per_idle_connection": round(idle), "bytes_target": 2048}
