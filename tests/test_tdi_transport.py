"""The buffering TDI transport (CONTRACTS E): requests, send-possible, its rules, conservation."""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ScenarioError
from harness.runner import run_scenario
from harness.scenario import load_scenario
from mock_wsk.constants import (
    TDI_EVENT_RECEIVE,
    TDI_EVENT_SEND_POSSIBLE,
    TDI_SEND,
    TDI_SEND_NON_BLOCKING,
    TDI_SET_EVENT_HANDLER,
)
from mock_wsk.kernel.driver import load_driver
from mock_wsk.kernel.irp import (
    IRP_MJ_INTERNAL_DEVICE_CONTROL,
    IoAllocateIrp,
    IoCallDriver,
    IoFreeIrp,
    IoGetNextIrpStackLocation,
    IoReuseIrp,
)
from mock_wsk.machine import Machine
from mock_wsk.status import (
    STATUS_DEVICE_NOT_READY,
    STATUS_INVALID_BUFFER_SIZE,
    STATUS_INVALID_PARAMETER,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_PENDING,
    STATUS_SUCCESS,
)
from mock_wsk.tdi.api import (
    TdiBuildSend,
    TdiBuildSetEventHandler,
    TdiMockCloseConnection,
    TdiMockOpenConnection,
)
from mock_wsk.tdi.transport import TdiSettings, TdiTransport
from mock_wsk.transport.link import Links

ROOT = Path(__file__).resolve().parent.parent
MDL = object()  # the transport only checks that a non-empty send names a buffer


def _done(DeviceObject: Any, Irp: Any, Context: Any) -> int:
    return STATUS_MORE_PROCESSING_REQUIRED


def run_tdi(entry: Callable[[], None], tdi: TdiSettings | None = None,
            until: int = 2_000_000_000, **link: Any) -> Machine:
    """Run ``entry`` as a DriverEntry (a PASSIVE system thread) against the TDI transport."""
    m = Machine(cpus=2)
    if tdi is not None:
        m.subsystem(TdiTransport).configure(tdi)
    m.subsystem(Links).defaults.update({"bandwidth_bps": 100_000_000, "rtt_ns": 20_000_000,
                                        **link})

    def DriverEntry(DriverObject: Any, RegistryPath: Any) -> int:
        entry()
        return STATUS_SUCCESS

    load_driver(m, types.SimpleNamespace(DriverEntry=DriverEntry), "TdiTest")
    m.run(until)
    return m


def _send(dev: Any, fo: Any, irp: Any, length: int, flags: int = TDI_SEND_NON_BLOCKING) -> int:
    IoReuseIrp(irp, STATUS_SUCCESS)
    TdiBuildSend(irp, dev, fo, _done, None, MDL, flags, length)
    return IoCallDriver(dev, irp)


# ---------------------------------------------------------------------- requests


def test_tdi_build_send_fills_the_next_stack_location() -> None:
    seen: dict[str, Any] = {}

    def entry() -> None:
        dev, fo = TdiMockOpenConnection("ctx")
        irp = IoAllocateIrp(dev.StackSize, False)
        TdiBuildSend(irp, dev, fo, _done, "c", MDL, TDI_SEND_NON_BLOCKING, 100)
        location = IoGetNextIrpStackLocation(irp)
        seen.update(major=location.MajorFunction, minor=location.MinorFunction,
                    file=location.FileObject is fo, flags=location.Parameters.SendFlags,
                    length=location.Parameters.SendLength, mdl=irp.MdlAddress is MDL,
                    routine=location.CompletionRoutine is _done)
        seen["status"] = IoCallDriver(dev, irp)
        seen["info"] = irp.IoStatus.Information
        IoFreeIrp(irp)
        TdiMockCloseConnection(fo)

    m = run_tdi(entry)
    assert seen == {"major": IRP_MJ_INTERNAL_DEVICE_CONTROL, "minor": TDI_SEND, "file": True,
                    "flags": TDI_SEND_NON_BLOCKING, "length": 100, "mdl": True,
                    "routine": True, "status": STATUS_SUCCESS, "info": 100}
    assert m.violations == []


def test_tdi_send_buffers_then_refuses_non_blocking_then_pends_blocking() -> None:
    statuses: list[int] = []

    def entry() -> None:
        dev, fo = TdiMockOpenConnection(None)
        irp = IoAllocateIrp(1, False)
        for _ in range(5):  # 4 x 16 KiB fill the 64 KiB buffer
            statuses.append(_send(dev, fo, irp, 16384))
        statuses.append(_send(dev, fo, irp, 16384, flags=0))  # blocking: pends
        statuses.append(irp.IoStatus.Status)

    m = run_tdi(entry, until=5_000_000)
    assert statuses[:5] == [STATUS_SUCCESS] * 4 + [STATUS_DEVICE_NOT_READY]
    assert statuses[5] == STATUS_PENDING
    t = m.subsystem(TdiTransport)
    assert t.device_not_ready == 1 and t.bytes_accepted == 65536
    m.run(200_000_000)  # acknowledgements free space: the blocked send is copied and completes
    assert t.bytes_accepted == 81920
    t.check_invariants()


def test_tdi_send_larger_than_buffer_and_refused_registration() -> None:
    out: dict[str, int] = {}

    def entry() -> None:
        dev, fo = TdiMockOpenConnection(None)
        irp = IoAllocateIrp(1, False)
        out["big"] = _send(dev, fo, irp, 65537)
        IoReuseIrp(irp, STATUS_SUCCESS)
        TdiBuildSetEventHandler(irp, dev, fo, _done, None, TDI_EVENT_SEND_POSSIBLE,
                                lambda *a: STATUS_SUCCESS, None)
        out["register"] = IoCallDriver(dev, irp)
        IoReuseIrp(irp, STATUS_SUCCESS)
        TdiBuildSetEventHandler(irp, dev, fo, _done, None, TDI_EVENT_RECEIVE,
                                lambda *a: STATUS_SUCCESS, None)
        out["other"] = IoCallDriver(dev, irp)

    run_tdi(entry, TdiSettings(send_possible="refuse"))
    assert out == {"big": STATUS_INVALID_BUFFER_SIZE, "register": STATUS_INVALID_PARAMETER,
                   "other": STATUS_SUCCESS}


def test_tdi_set_event_handler_minor_function() -> None:
    minor: list[int] = []

    def entry() -> None:
        dev, fo = TdiMockOpenConnection(None)
        irp = IoAllocateIrp(1, False)
        TdiBuildSetEventHandler(irp, dev, fo, _done, None, TDI_EVENT_SEND_POSSIBLE, None, None)
        minor.append(IoGetNextIrpStackLocation(irp).MinorFunction)

    run_tdi(entry)
    assert minor == [TDI_SET_EVENT_HANDLER]


# ---------------------------------------------------------------------- rules


def _fill_and_wait(handler: Callable[..., Any], waits: int = 1) -> Callable[[], None]:
    """A client that fills its buffer, gets DEVICE_NOT_READY and idles while acks arrive."""

    def entry() -> None:
        from mock_wsk.kernel.sync import KeDelayExecutionThread
        from mock_wsk.kernel.types import LARGE_INTEGER

        dev, fo = TdiMockOpenConnection("conn")
        irp = IoAllocateIrp(1, False)
        TdiBuildSetEventHandler(irp, dev, fo, _done, "evctx", TDI_EVENT_SEND_POSSIBLE,
                                handler, "evctx")
        IoCallDriver(dev, irp)
        for _ in range(waits):
            while _send(dev, fo, irp, 16384) == STATUS_SUCCESS:
                pass
            KeDelayExecutionThread(0, False, LARGE_INTEGER(-1_000_000))  # 100 ms
        _send(dev, fo, irp, 16384)  # resubmits: not a stalled sender

    return entry


def test_tdi_send_possible_bad_return_violating() -> None:
    calls: list[tuple[Any, Any, int]] = []

    def BadSendPossible(TdiEventContext: Any, ConnectionContext: Any, BytesAvailable: int) -> int:
        calls.append((TdiEventContext, ConnectionContext, BytesAvailable))
        return STATUS_PENDING

    m = run_tdi(_fill_and_wait(BadSendPossible))
    assert calls and calls[0][:2] == ("evctx", "conn") and calls[0][2] >= 16384
    assert [v.rule.id for v in m.violations] == ["tdi.send_possible.bad_return"]
    assert "BadSendPossible" in m.violations[0].message


def test_tdi_send_possible_bad_return_passing_and_runs_at_dispatch() -> None:
    irqls: list[int] = []

    def GoodSendPossible(TdiEventContext: Any, ConnectionContext: Any,
                         BytesAvailable: int) -> int:
        from mock_wsk.machine import active_machine

        irqls.append(active_machine().irql)
        return STATUS_SUCCESS

    m = run_tdi(_fill_and_wait(GoodSendPossible, waits=3))
    assert len(irqls) == 3 and set(irqls) == {2}  # once per refusal, at DISPATCH_LEVEL
    assert m.violations == []


def _scenario(name: str) -> Any:
    return run_scenario(load_scenario(ROOT / "scenarios" / "tdi" / name))


def test_tdi_sender_stalled_violating() -> None:
    result = _scenario("zoo_waits_only_for_send_possible.yaml")
    assert result.passed, result.failures
    (violation,) = result.violations
    assert violation.rule.id == "tdi.sender_stalled"
    assert violation.location is not None
    assert violation.location.file.endswith("zoo/tdi_waits_only_for_send_possible.py")
    assert violation.time_ns >= 500_000_000


def test_tdi_sender_stalled_passing() -> None:
    result = _scenario("never_indicates.yaml")
    assert result.passed, result.failures
    assert result.metrics["driver.woken_by_poll"] >= 1


def test_tdi_shared_buffer_race_is_observed() -> None:
    result = _scenario("shared_buffer_race.yaml")
    assert result.passed, result.failures
    assert result.metrics["tdi.race_lost"] >= 5


def test_tdi_section_errors_are_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ndriver: {stub: tdi_sender}\ntdi:\n  buffer: 64KiX\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.line == 4
    path.write_text("name: x\ndriver: {stub: tdi_sender}\ntdi:\n  send_possible: sometimes\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.line == 4


# ---------------------------------------------------------------------- conservation


@settings(max_examples=12)
@given(
    shared=st.booleans(),
    buffer_kib=st.integers(8, 64),
    sends=st.lists(st.tuples(st.integers(0, 1), st.integers(1, 24 * 1024),
                             st.booleans(), st.integers(0, 2_000_000)), min_size=1,
                   max_size=25),
)
def test_tdi_conserves_bytes_and_never_overfills(shared: bool, buffer_kib: int,
                                                 sends: list[tuple[int, int, bool, int]]) -> None:
    """submitted = in the flow (queued + in flight) + acked, and 0 <= used <= capacity, at
    every acknowledgement and at the end."""
    checks = [0]

    def entry() -> None:
        from mock_wsk.kernel.sync import KeDelayExecutionThread
        from mock_wsk.kernel.types import LARGE_INTEGER

        conns = [TdiMockOpenConnection(i) for i in range(2)]
        irps = [IoAllocateIrp(1, False) for _ in range(2)]
        for which, length, blocking, pause_ns in sends:
            dev, fo = conns[which]
            if irps[which].IoStatus.Status == STATUS_PENDING:
                continue  # its blocked send still holds the IRP
            _send(dev, fo, irps[which], length, 0 if blocking else TDI_SEND_NON_BLOCKING)
            if pause_ns:
                KeDelayExecutionThread(0, False, LARGE_INTEGER(-(pause_ns // 100)))

    def setup(m: Machine) -> None:
        t = m.subsystem(TdiTransport)
        freed = t.space_freed

        def checked(buffer: Any) -> None:
            t.check_invariants()
            checks[0] += 1
            freed(buffer)

        t.space_freed = checked  # type: ignore[method-assign]

    m = Machine(cpus=2)
    m.subsystem(TdiTransport).configure(TdiSettings(
        buffer_size=buffer_kib * 1024, sharing="shared" if shared else "per_connection"))
    m.subsystem(Links).defaults.update({"bandwidth_bps": 50_000_000, "rtt_ns": 5_000_000})
    setup(m)
    load_driver(m, types.SimpleNamespace(
        DriverEntry=lambda d, r: (entry(), STATUS_SUCCESS)[1]), "Prop")
    m.run(1_000_000_000)
    t = m.subsystem(TdiTransport)
    t.check_invariants()
    assert t.bytes_acked == t.bytes_accepted  # everything accepted was delivered in the end
    assert all(b.peak <= b.capacity for b in t.buffers())
    assert checks[0] > 0 or t.bytes_accepted == 0  # the invariants ran at every ack
