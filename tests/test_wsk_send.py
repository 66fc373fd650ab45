"""The WSK send path through the flow model: CONTRACTS C.13-C.17, B.10, B.12, the send rules,
and a property test that the model conserves bytes and completes sends in order.

Drivers are written inline, the way test_wsk_sockets.py does (helpers from test_wsk_support).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_helpers import rule_ids
from test_wsk_support import (
    AsyncIrp,
    close,
    free_send_buffer,
    listening_peer,
    run_wsk,
    send_buffer,
    socket_connect,
    sync_call,
)

from mock_wsk.kernel.mdl import IoFreeMdl
from mock_wsk.kernel.pool import ExFreePool
from mock_wsk.machine import active_machine
from mock_wsk.transport.link import Links
from mock_wsk.wdk import (
    FALSE,
    SIO_WSK_QUERY_IDEAL_SEND_BACKLOG,
    SIZE_T,
    STATUS_FILE_FORCED_CLOSED,
    STATUS_NOT_SUPPORTED,
    STATUS_PENDING,
    STATUS_SUCCESS,
    WSK_BUF,
    WSK_FLAG_NODELAY,
    WskIoctl,
)
from mock_wsk.wsk import configure_wsk, wsk_state
from mock_wsk.wsk import requests as wsk_requests
from mock_wsk.wsk.flows import WskFlows, forced_close
from mock_wsk.wsk.transport import FixedRttTransport, FlowTransport

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios" / "send"
GBPS = 1_000_000_000
MS = 1_000_000


def _link(m: Any, **params: Any) -> None:
    m.subsystem(Links).defaults.update(params)


def _peer_and_link(**params: Any) -> Any:
    def setup(m: Any) -> None:
        listening_peer(m)
        _link(m, **params)

    return setup


# ---------------------------------------------------------------------- C.14 through the model



def _nodelay_refused(m: Any) -> None:
    """A transport that refuses WSK_FLAG_NODELAY, and a peer listening."""
    configure_wsk(m, nodelay_supported=False)
    listening_peer(m)

def test_C14_a_send_completes_when_its_last_byte_is_acknowledged() -> None:
    """64 KiB on 100 Mb/s x 20 ms: wire time S / C, then one round trip; Information = S."""

    def body(app: Any, out: dict) -> None:
        block, mdl = send_buffer(65536)
        _, sock = socket_connect(app, None, None)
        out["close"].append(sock)
        start = active_machine().now
        out["send"] = sync_call(sock.Dispatch.WskSend, sock, WSK_BUF(mdl, 0, 65536), 0)
        out["elapsed"] = active_machine().now - start
        free_send_buffer(block, mdl)

    m, out = run_wsk(body, setup=_peer_and_link(bandwidth_bps=100_000_000, rtt_ns=20 * MS))
    assert out["send"] == (STATUS_SUCCESS, 65536)
    wire = 65536 * 8 * 10  # ns at 100 Mb/s
    # One round trip per slow-start round (IW = 10 MSS: three rounds), plus wire time.
    assert 3 * 20 * MS <= out["elapsed"] <= 3 * 20 * MS + wire
    assert rule_ids(m) == []
    assert m.subsystem(WskFlows).metrics()["flow.bytes_acked"] == 65536


def test_fixed_rtt_transport_stays_available() -> None:
    def body(app: Any, out: dict) -> None:
        _, sock = socket_connect(app, None, None)
        out["close"].append(sock)
        out["transport"] = type(sock.transport)

    def setup(m: Any) -> None:
        configure_wsk(m, transport="fixed_rtt")
        listening_peer(m)

    _, out = run_wsk(body, setup=setup)
    assert out["transport"] is FixedRttTransport
    _, out = run_wsk(body, setup=listening_peer)
    assert out["transport"] is FlowTransport
    with pytest.raises(ValueError, match="transport"):
        run_wsk(body, setup=lambda m: configure_wsk(m, transport="udp"))


def test_B12_query_answers_the_flow_isb_and_it_grows_in_slow_start() -> None:
    def body(app: Any, out: dict) -> None:
        _, sock = socket_connect(app, None, None)
        out["close"].append(sock)
        isb = SIZE_T()
        out["query"] = sync_call(sock.Dispatch.WskControlSocket, sock, WskIoctl,
                                 SIO_WSK_QUERY_IDEAL_SEND_BACKLOG, 0, 0, None, 8, isb, None)
        out["isb"] = isb.value
        out["flow_isb"] = sock.transport.isb

    _, out = run_wsk(body, setup=listening_peer)
    assert out["query"] == (STATUS_SUCCESS, 8)
    assert out["isb"] == out["flow_isb"] == 10 * 1460  # IW before any data: 10 MSS


# ---------------------------------------------------------------------- C.13 NODELAY


def test_C13_nodelay_refused_with_the_flow_transport_completes_the_irp() -> None:
    def body(app: Any, out: dict) -> None:
        block, mdl = send_buffer(100)
        _, sock = socket_connect(app, None, None)
        out["close"].append(sock)
        irp = AsyncIrp()
        out["returned"] = sock.Dispatch.WskSend(sock, WSK_BUF(mdl, 0, 100), WSK_FLAG_NODELAY,
                                                irp.Irp)
        out["completed"] = list(irp.completed)
        out["plain"] = sync_call(sock.Dispatch.WskSend, sock, WSK_BUF(mdl, 0, 100), 0)
        irp.free()
        free_send_buffer(block, mdl)

    m, out = run_wsk(body, setup=_nodelay_refused)
    assert out["returned"] == STATUS_NOT_SUPPORTED
    assert [c[:2] for c in out["completed"]] == [(STATUS_NOT_SUPPORTED, 0)]
    assert out["plain"] == (STATUS_SUCCESS, 100)
    assert rule_ids(m) == []


# ---------------------------------------------------------------------- C.15 the buffer


def test_C15_a_buffer_freed_under_a_pending_send_is_caught_and_corrupts_the_stream() -> None:
    def body(app: Any, out: dict) -> None:
        block, mdl = send_buffer(4096)
        _, sock = socket_connect(app, None, None)
        out["close"].append(sock)
        irp = out["irp"] = AsyncIrp()
        assert sock.Dispatch.WskSend(sock, WSK_BUF(mdl, 0, 4096), 0, irp.Irp) == STATUS_PENDING
        ExFreePool(block)  # the bug: WSK did not copy the data
        out["mdl"] = mdl

    def later(app: Any, out: dict) -> None:
        IoFreeMdl(out["mdl"])
        out["irp"].free()

    m, out = run_wsk(body, setup=listening_peer, later=later)
    assert rule_ids(m) == ["mdl.changed_while_in_use"]
    assert [c[:2] for c in out["irp"].completed] == [(STATUS_SUCCESS, 4096)]
    assert m.subsystem(WskFlows).metrics()["flow.corrupt_sends"] == 1


def test_C15_an_untouched_buffer_is_not_corrupt() -> None:
    def body(app: Any, out: dict) -> None:
        block, mdl = send_buffer(4096)
        _, sock = socket_connect(app, None, None)
        out["close"].append(sock)
        out["send"] = sync_call(sock.Dispatch.WskSend, sock, WSK_BUF(mdl, 0, 4096), 0)
        block[0] = 1  # after completion: allowed
        free_send_buffer(block, mdl)

    m, out = run_wsk(body, setup=listening_peer)
    assert out["send"] == (STATUS_SUCCESS, 4096)
    assert rule_ids(m) == []
    assert m.subsystem(WskFlows).metrics()["flow.corrupt_sends"] == 0


# ---------------------------------------------------------------------- C.16 forced close


def _forced_close_body(close_it: bool) -> Any:
    def body(app: Any, out: dict) -> None:
        blocks = [send_buffer(65536) for _ in range(4)]
        _, sock = socket_connect(app, None, None)
        irps = out["irps"] = [AsyncIrp() for _ in blocks]
        for irp, (_, mdl) in zip(irps, blocks, strict=True):
            assert sock.Dispatch.WskSend(sock, WSK_BUF(mdl, 0, 65536), 0,
                                         irp.Irp) == STATUS_PENDING
        w = wsk_state(active_machine())
        active_machine().call_later(1 * MS, forced_close, w, sock)
        from mock_wsk.wdk import LARGE_INTEGER, KeDelayExecutionThread, KernelMode

        KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-10_000 * 5))  # 5 ms
        late = AsyncIrp()
        out["late"] = sock.Dispatch.WskSend(sock, WSK_BUF(blocks[0][1], 0, 10), 0, late.Irp)
        out["late_completed"] = [c[:2] for c in late.completed]
        late.free()
        if close_it:
            close(sock)  # at once (C.16)
        else:
            KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-10_000 * 100))
            out["close"].append(sock)  # far too late
        out["blocks"] = blocks

    return body


def _free_blocks(app: Any, out: dict) -> None:
    for irp in out["irps"]:
        irp.free()
    for block, mdl in out["blocks"]:
        free_send_buffer(block, mdl)


@pytest.mark.parametrize("close_it", [True, False])
def test_C16_forced_close_fails_pending_and_new_sends_and_starts_the_close_deadline(
        close_it: bool) -> None:
    def setup(m: Any) -> None:
        configure_wsk(m, dead_socket_close_deadline_ns=50 * MS)
        listening_peer(m)
        _link(m, bandwidth_bps=GBPS, rtt_ns=40 * MS)

    m, out = run_wsk(_forced_close_body(close_it), setup=setup, later=_free_blocks)
    for irp in out["irps"]:
        assert [c[:2] for c in irp.completed] == [(STATUS_FILE_FORCED_CLOSED, 0)]
    assert out["late"] == STATUS_FILE_FORCED_CLOSED
    assert out["late_completed"] == [(STATUS_FILE_FORCED_CLOSED, 0)]
    assert rule_ids(m) == ([] if close_it else ["wsk.socket.dead_not_closed"])


# ---------------------------------------------------------------------- the scenarios


def _run(name: str) -> Any:
    from harness.runner import run_scenario
    from harness.scenario import load_scenario

    return run_scenario(load_scenario(SCENARIOS / name))


@pytest.mark.parametrize("name", sorted(p.name for p in SCENARIOS.glob("*.yaml")))
def test_send_scenario_passes(name: str) -> None:
    result = _run(name)
    assert result.passed, [f.message for f in result.failures]


def test_rule_ignores_isb_decrease_pass_and_violate() -> None:
    bad = _run("zoo_pump_ignores_isb_down.yaml")
    assert sorted({v.rule.id for v in bad.violations}) == ["wsk.backlog.ignores_isb_decrease"]
    good = _run("isb_follows_the_path.yaml")  # decreases by bandwidth, RTT, window and a loss
    assert not good.violations


def test_rule_backlog_callback_bad_return_pass_and_violate() -> None:
    bad = _run("zoo_backlog_callback_returns_error.yaml")
    assert {v.rule.id for v in bad.violations} == {"wsk.callback.bad_return"}
    good = _run("pump_fills_the_pipe.yaml")
    assert good.metrics["driver.isb_events"] >= 6 and not good.violations


def test_headline_figures() -> None:
    pump = _run("pump_fills_the_pipe.yaml").metrics
    assert pump["flow.server.utilization_since_mark"] >= 0.95
    snw = _run("stop_and_wait.yaml").metrics
    expected = 65536 * 8 / (65536 * 8 / GBPS + 0.040)
    assert abs(snw["flow.server.throughput_since_mark_bps"] / expected - 1) <= 0.05


# ---------------------------------------------------------------------- property


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=300_000), min_size=1, max_size=25),
    gaps=st.lists(st.integers(min_value=0, max_value=30), min_size=25, max_size=25),
    changes=st.lists(st.tuples(st.integers(min_value=1, max_value=400),
                               st.sampled_from(["loss", "bw", "rtt", "window"])),
                     max_size=4),
)
def test_property_bytes_conserved_and_completions_in_order(sizes: list[int], gaps: list[int],
                                                           changes: list[Any]) -> None:
    """Random WskSends (sizes, gaps between them) and path changes: at every completion
    sent = acknowledged + in flight + queued; completions in submission order; each IRP
    completes once, with its own length."""
    completions: list[tuple[int, int, int]] = []
    broken: list[str] = []

    def body(app: Any, out: dict) -> None:
        from mock_wsk.wdk import (
            LARGE_INTEGER,
            STATUS_MORE_PROCESSING_REQUIRED,
            TRUE,
            IoAllocateIrp,
            IoSetCompletionRoutine,
            KeDelayExecutionThread,
            KernelMode,
        )

        _, sock = socket_connect(app, None, None)
        out["close"].append(sock)
        flow = sock.transport.flow
        submitted = [0]

        def done(DeviceObject: Any, Irp: Any, Context: Any) -> int:
            index, length = Context
            completions.append((index, Irp.IoStatus.Status, Irp.IoStatus.Information))
            if Irp.IoStatus.Information != length:
                broken.append(f"send {index}: Information {Irp.IoStatus.Information}")
            if flow.sent_by_driver != flow.acknowledged + flow.inflight + flow.queued:
                broken.append(f"not conserved at completion of send {index}")
            if flow.sent_by_driver != submitted[0]:
                broken.append("the flow lost or invented a send")
            return STATUS_MORE_PROCESSING_REQUIRED

        buffers = []
        for index, size in enumerate(sizes):
            block, mdl = send_buffer(size)
            irp = IoAllocateIrp(1, FALSE)
            IoSetCompletionRoutine(irp, done, (index, size), TRUE, TRUE, TRUE)
            submitted[0] += size
            assert sock.Dispatch.WskSend(sock, WSK_BUF(mdl, 0, size), 0, irp) == STATUS_PENDING
            buffers.append((block, mdl, irp))
            if gaps[index]:
                KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-10_000 * gaps[index]))
        out["buffers"] = buffers

    def later(app: Any, out: dict) -> None:
        from mock_wsk.wdk import IoFreeIrp

        for block, mdl, irp in out["buffers"]:
            free_send_buffer(block, mdl)
            IoFreeIrp(irp)

    def setup(m: Any) -> None:
        listening_peer(m)
        _link(m, bandwidth_bps=100_000_000, rtt_ns=10 * MS, receive_window=256 * 1024)
        links = m.subsystem(Links)
        for at_ms, what in changes:
            if what == "loss":
                m.call_at(at_ms * MS, links.loss)
            elif what == "bw":
                m.call_at(at_ms * MS, lambda: links.set_link(bandwidth_bps=30_000_000))
            elif what == "rtt":
                m.call_at(at_ms * MS, lambda: links.set_link(rtt_ns=25 * MS))
            else:
                m.call_at(at_ms * MS, lambda: links.set_link(receive_window=64 * 1024))

    m, _ = run_wsk(body, setup=setup, later=later)
    assert broken == []
    assert [c[0] for c in completions] == list(range(len(sizes))), "in order, each once"
    assert all(c[1] == STATUS_SUCCESS for c in completions)
    assert rule_ids(m) == []


def test_every_wsksend_return_is_traced_as_call_return() -> None:
    # The dispatch table holds WskSend itself (no traced_call wrapper): it must record
    # call.return for every return to the driver, refusals included.
    def body(app: Any, out: dict) -> None:
        block, mdl = send_buffer(100)
        _, sock = socket_connect(app, None, None)
        out["close"].append(sock)
        out["direct"] = sock.Dispatch.WskSend is wsk_requests.WskSend
        irp = AsyncIrp()
        out["returned"] = [
            sock.Dispatch.WskSend(sock, WSK_BUF(mdl, 0, 100), WSK_FLAG_NODELAY, irp.Irp),
            sock.Dispatch.WskSend(sock, WSK_BUF(mdl, 0, 100), 0, None),
        ]
        out["returned"].append(sync_call(sock.Dispatch.WskSend, sock, WSK_BUF(mdl, 0, 100),
                                         0)[0])
        irp.free()
        free_send_buffer(block, mdl)

    m, out = run_wsk(body, setup=_nodelay_refused)
    assert out["direct"]
    traced = [r[4][1] for r in m.trace if r[3] == "call.return" and r[4][0] == "WskSend"]
    assert traced[:2] == out["returned"][:2]
    assert traced[2] == STATUS_PENDING and len(traced) == 3


def test_a_cancelled_send_whose_irp_is_reused_completes_each_request_once() -> None:
    """A send's record is its MDL use, which the transport hands back at the acknowledgement:
    after a cancel, the first send's acknowledgement must not complete the IRP the driver
    reused meanwhile for a second send on the same buffer; the second completes at its own."""
    from mock_wsk.wdk import (
        STATUS_CANCELLED,
        STATUS_UNSUCCESSFUL,
        TRUE,
        IoCancelIrp,
        IoReuseIrp,
        IoSetCompletionRoutine,
    )

    def body(app: Any, out: dict) -> None:
        block, mdl = send_buffer(65536)
        out["buffer"] = block, mdl
        _, sock = socket_connect(app, None, None)
        out["close"].append(sock)
        request = out["request"] = AsyncIrp()
        assert sock.Dispatch.WskSend(sock, WSK_BUF(mdl, 0, 65536), 0, request.Irp) == \
            STATUS_PENDING
        IoCancelIrp(request.Irp)  # a plain run lands the cancellation inline
        assert [status for status, _, _ in request.completed] == [STATUS_CANCELLED]
        IoReuseIrp(request.Irp, STATUS_UNSUCCESSFUL)
        IoSetCompletionRoutine(request.Irp, request._done, None, TRUE, TRUE, TRUE)
        out["second_sent"] = active_machine().now
        assert sock.Dispatch.WskSend(sock, WSK_BUF(mdl, 0, 1000), 0, request.Irp) == \
            STATUS_PENDING

    def later(app: Any, out: dict) -> None:
        out["in_use"] = out["buffer"][1].in_use
        free_send_buffer(*out["buffer"])
        out["request"].free()

    m, out = run_wsk(body, setup=_peer_and_link(bandwidth_bps=100_000_000, rtt_ns=20 * MS),
                     later=later)
    completed = out["request"].completed
    assert [(status, information) for status, information, _ in completed] == \
        [(STATUS_CANCELLED, 0), (STATUS_SUCCESS, 1000)]
    # The second send waits behind the first one's bytes, already on the wire: it completes
    # after the first one's acknowledgement would have, which changed nothing.
    assert completed[1][2] - out["second_sent"] >= 20 * MS
    assert out["in_use"] == 0
    assert rule_ids(m) == []


def test_a_flow_aborted_before_any_use_reads_as_one_built_then_aborted() -> None:
    """A socket closed without sending never builds its flow (exploration closes thousands);
    what the flow reports afterwards is what an eagerly built flow aborted then reports."""
    def aborted_at_3ms(build_first: bool) -> tuple[bool, dict[str, float], dict[str, Any]]:
        from mock_wsk.machine import Machine

        m = Machine(trace=False)
        transport = FlowTransport(m, "flow.c")
        m.run(until_ns=1_000_000)
        if build_first:
            assert transport.driver is not None
        m.run(until_ns=3_000_000)
        transport.abort()
        transport.abort()  # a second close changes nothing
        closed_before_reading = transport.closed
        m.run(until_ns=9_000_000)
        series = {name: list(points) for name, points in transport.series().items()}
        return closed_before_reading, transport.metrics(), series

    lazy, eager = aborted_at_3ms(False), aborted_at_3ms(True)
    assert lazy == eager
    assert lazy[0] is True
    assert lazy[2]["flow.c.outstanding"][-1] == (3_000_000, 0)
