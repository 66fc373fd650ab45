"""Socket requests and life cycle: CONTRACTS C.13, C.14, C.18, registration, datagrams."""

from __future__ import annotations

from typing import Any

from kernel_helpers import only, rule_ids, run_driver
from test_wsk_support import (
    AsyncIrp,
    WskApp,
    bind,
    close,
    enable_events,
    free_send_buffer,
    listening_peer,
    new_socket,
    run_wsk,
    send_buffer,
    socket_connect,
    sync_call,
)

from mock_wsk.wdk import (
    AF_INET,
    FALSE,
    SOCKADDR_IN,
    STATUS_CANCELLED,
    STATUS_CONNECTION_REFUSED,
    STATUS_DATA_NOT_ACCEPTED,
    STATUS_DEVICE_NOT_READY,
    STATUS_INVALID_DEVICE_STATE,
    STATUS_NOT_SUPPORTED,
    STATUS_PENDING,
    STATUS_SUCCESS,
    WSK_BUF,
    WSK_CLIENT_CONNECTION_DISPATCH,
    WSK_CLIENT_DATAGRAM_DISPATCH,
    WSK_CLIENT_DISPATCH,
    WSK_CLIENT_NPI,
    WSK_EVENT_RECEIVE,
    WSK_EVENT_RECEIVE_FROM,
    WSK_FLAG_ABORTIVE,
    WSK_FLAG_CONNECTION_SOCKET,
    WSK_FLAG_DATAGRAM_SOCKET,
    WSK_FLAG_NODELAY,
    WSK_FLAG_WAITALL,
    WSK_INFINITE_WAIT,
    WSK_NO_WAIT,
    WSK_PROVIDER_NPI,
    WSK_REGISTRATION,
    WskCaptureProviderNPI,
    WskRegister,
    WskReleaseProviderNPI,
)
from mock_wsk.wsk import configure_wsk, wsk_state

# ---------------------------------------------------------------------- C.13 / C.14 WskSend


def test_C13_send_only_on_a_connected_socket_and_C14_completes_after_the_ack() -> None:
    def body(app: Any, out: dict) -> None:
        block, mdl = send_buffer(4096)
        _, lone = new_socket(app, WSK_FLAG_CONNECTION_SOCKET)
        _, sock = socket_connect(app, None, None)
        out["close"] += [lone, sock]
        out["unconnected"] = sync_call(lone.Dispatch.WskSend, lone, WSK_BUF(mdl, 0, 4096), 0)
        from mock_wsk.machine import active_machine

        start = active_machine().now
        out["send"] = sync_call(sock.Dispatch.WskSend, sock, WSK_BUF(mdl, 0, 4096),
                                WSK_FLAG_NODELAY)
        out["elapsed"] = active_machine().now - start
        free_send_buffer(block, mdl)

    def setup(m: Any) -> None:
        out_peer.append(listening_peer(m))

    out_peer: list[Any] = []
    m, out = run_wsk(body, setup=setup)
    assert out["unconnected"] == (STATUS_INVALID_DEVICE_STATE, 0)
    assert out["send"] == (STATUS_SUCCESS, 4096)
    # The flow model: 4096 bytes on the 1 Gb/s default link, then one round trip for the ack.
    wire_ns = 4096 * 8  # at 1 Gb/s a byte takes 8 ns
    assert out["elapsed"] == wsk_state(m).settings.rtt_ns + wire_ns, \
        "not before the peer acknowledged"
    assert out_peer[0].bytes_received == 4096
    assert rule_ids(m) == ["wsk.call.bad_state"]


def test_C13_nodelay_unsupported_by_the_transport_is_not_supported() -> None:
    def body(app: Any, out: dict) -> None:
        block, mdl = send_buffer(100)
        _, sock = socket_connect(app, None, None)
        out["close"].append(sock)
        out["send"] = sync_call(sock.Dispatch.WskSend, sock, WSK_BUF(mdl, 0, 100),
                                WSK_FLAG_NODELAY)
        free_send_buffer(block, mdl)

    def setup(m: Any) -> None:
        configure_wsk(m, nodelay_supported=False)
        listening_peer(m)

    m, out = run_wsk(body, setup=setup)
    assert out["send"] == (STATUS_NOT_SUPPORTED, 0)
    assert rule_ids(m) == []


def test_C15_buffer_changed_while_send_pending_is_reported() -> None:
    def body(app: Any, out: dict) -> None:
        block, mdl = send_buffer(100)
        _, sock = socket_connect(app, None, None)
        out["close"].append(sock)
        irp = out["irp"] = AsyncIrp()
        assert sock.Dispatch.WskSend(sock, WSK_BUF(mdl, 0, 100), 0, irp.Irp) == STATUS_PENDING
        block[10] = 0x41  # reuses the buffer before the send completed
        out["buf"] = (block, mdl)

    def later(app: Any, out: dict) -> None:
        free_send_buffer(*out["buf"])
        out["irp"].free()

    m, out = run_wsk(body, setup=listening_peer, later=later)
    assert "mdl.changed_while_in_use" in rule_ids(m)
    assert [c[0] for c in out["irp"].completed] == [STATUS_SUCCESS]


# ---------------------------------------------------------------------- receive / disconnect


def test_receive_waitall_completes_when_the_buffer_is_full() -> None:
    def body(app: Any, out: dict) -> None:
        block, mdl = send_buffer(300)
        _, sock = socket_connect(app, None, None)
        out["close"].append(sock)
        out["recv"] = sync_call(sock.Dispatch.WskReceive, sock, WSK_BUF(mdl, 0, 300),
                                WSK_FLAG_WAITALL)
        from mock_wsk.machine import active_machine

        out["at"] = active_machine().now
        free_send_buffer(block, mdl)

    def setup(m: Any) -> None:
        peer = listening_peer(m)
        for i in range(3):
            wsk_state(m).network.at((i + 2) * 1_000_000, peer.send, 100)

    m, out = run_wsk(body, setup=setup)
    assert out["recv"] == (STATUS_SUCCESS, 300) and out["at"] == 4_000_000
    assert rule_ids(m) == []


def test_abortive_disconnect_fails_pending_requests() -> None:
    def body(app: Any, out: dict) -> None:
        block, mdl = send_buffer(100)
        _, sock = socket_connect(app, None, None)
        out["close"].append(sock)
        irp = out["irp"] = AsyncIrp()
        sock.Dispatch.WskReceive(sock, WSK_BUF(mdl, 0, 100), 0, irp.Irp)
        out["disconnect"] = sync_call(sock.Dispatch.WskDisconnect, sock, None,
                                      WSK_FLAG_ABORTIVE)
        out["buf"] = (block, mdl)

    def later(app: Any, out: dict) -> None:
        free_send_buffer(*out["buf"])
        out["irp"].free()

    m, out = run_wsk(body, setup=listening_peer, later=later)
    from mock_wsk.wdk import STATUS_CONNECTION_ABORTED

    assert out["disconnect"] == (STATUS_SUCCESS, 0)
    assert [c[0] for c in out["irp"].completed] == [STATUS_CONNECTION_ABORTED]
    assert rule_ids(m) == []


# ---------------------------------------------------------------------- C.18 close


def test_C18_close_cancels_pending_irps_and_is_the_fence_for_callbacks() -> None:
    entered: list[int] = []

    def WskReceiveEvent(SocketContext: Any, Flags: int, DataIndication: Any,
                        BytesIndicated: int, BytesAccepted: Any) -> int:
        entered.append(BytesIndicated)
        BytesAccepted.value = BytesIndicated
        return STATUS_SUCCESS

    def body(app: Any, out: dict) -> None:
        block, mdl = send_buffer(100)
        _, sock = socket_connect(app, None, WSK_CLIENT_CONNECTION_DISPATCH(WskReceiveEvent))
        enable_events(sock, WSK_EVENT_RECEIVE)
        irp = out["irp"] = AsyncIrp()
        sock.Dispatch.WskSend(sock, WSK_BUF(mdl, 0, 100), 0, irp.Irp)
        out["close"] = []
        out["close_status"] = close(sock)
        late = out["late"] = AsyncIrp()
        out["after"] = sock.Dispatch.WskSend(sock, WSK_BUF(mdl, 0, 100), 0, late.Irp)
        out["buf"] = (block, mdl)

    def later(app: Any, out: dict) -> None:
        free_send_buffer(*out["buf"])
        out["irp"].free()
        out["late"].free()

    def setup(m: Any) -> None:
        peer = listening_peer(m)
        wsk_state(m).network.at(5_000_000, peer.send, 100)  # after the close: never indicated

    m, out = run_wsk(body, setup=setup, later=later)
    assert out["close_status"] == STATUS_SUCCESS
    assert [c[0] for c in out["irp"].completed] == [STATUS_CANCELLED]
    assert out["after"] == STATUS_INVALID_DEVICE_STATE
    assert out["late"].completed == [], "a call on a closed socket does not touch its IRP"
    assert entered == []
    v = only(m, "wsk.socket.use_after_close")
    assert v.objects["status_chosen_by"] == "fidelity:wsk.after_close"


def test_C18_close_pends_until_the_callback_in_flight_returns() -> None:
    order: list[str] = []
    closing: list[AsyncIrp] = []

    def WskReceiveEvent(SocketContext: Any, Flags: int, DataIndication: Any,
                        BytesIndicated: int, BytesAccepted: Any) -> int:
        irp = AsyncIrp()
        closing.append(irp)
        order.append(f"close->{SocketContext.Dispatch.WskCloseSocket(SocketContext, irp.Irp):#x}")
        order.append(f"completed={len(irp.completed)}")
        order.append("return")
        return STATUS_SUCCESS

    def body(app: Any, out: dict) -> None:
        _, sock = socket_connect(app, None, WSK_CLIENT_CONNECTION_DISPATCH(WskReceiveEvent))
        sock.context = sock
        enable_events(sock, WSK_EVENT_RECEIVE)

    def setup(m: Any) -> None:
        peer = listening_peer(m)
        wsk_state(m).network.at(2_000_000, peer.send, 10)
        wsk_state(m).network.at(3_000_000, peer.send, 10)

    m, _ = run_wsk(body, setup=setup, later=lambda app, out: closing[0].free())
    assert order == [f"close->{STATUS_PENDING:#x}", "completed=0", "return"]
    assert [c[0] for c in closing[0].completed] == [STATUS_SUCCESS]
    assert wsk_state(m).stats.callbacks == {"WskReceiveEvent": 1}
    assert rule_ids(m) == []


def test_C18_close_while_another_call_is_in_progress_is_reported() -> None:
    """A receive's completion routine runs (a DPC on this CPU) while this thread is still inside
    WskDisconnect, and closes the socket: WskDisconnect is still in progress."""
    state: dict[str, Any] = {}

    def on_receive_done(DeviceObject: Any, Irp: Any, Context: Any) -> int:
        close_irp = state["close_irp"] = AsyncIrp()
        Context.Dispatch.WskCloseSocket(Context, close_irp.Irp)
        from mock_wsk.wdk import STATUS_MORE_PROCESSING_REQUIRED

        return STATUS_MORE_PROCESSING_REQUIRED

    def body(app: Any, out: dict) -> None:
        from mock_wsk.kernel.irp import IoAllocateIrp, IoSetCompletionRoutine

        block, mdl = send_buffer(100)
        _, sock = socket_connect(app, None, None)
        irp = state["irp"] = IoAllocateIrp(1, FALSE)
        IoSetCompletionRoutine(irp, on_receive_done, sock, True, True, True)
        sock.Dispatch.WskReceive(sock, WSK_BUF(mdl, 0, 100), 0, irp)
        sync_call(sock.Dispatch.WskDisconnect, sock, None, WSK_FLAG_ABORTIVE)
        state["buf"] = (block, mdl)

    def later(app: Any, out: dict) -> None:
        from mock_wsk.kernel.irp import IoFreeIrp

        free_send_buffer(*state["buf"])
        IoFreeIrp(state["irp"])
        state["close_irp"].free()

    m, _ = run_wsk(body, setup=listening_peer, later=later)
    assert rule_ids(m) == ["wsk.socket.call_during_close"]


def test_C18_deregister_hangs_on_a_leaked_socket() -> None:
    def body(app: Any, out: dict) -> None:
        new_socket(app, WSK_FLAG_CONNECTION_SOCKET)  # never closed

    def setup(m: Any) -> None:
        configure_wsk(m, deregister_hang_ns=10_000_000)

    m, _ = run_wsk(body, setup=setup)
    v = only(m, "wsk.deregister.sockets_open")
    assert "socket #1 (connection" in v.message
    assert v.location is not None and v.location.file.endswith("test_wsk_support.py")
    assert "driver.unload_hang" in rule_ids(m)


def test_C18_sockets_and_registration_left_at_unload_are_leaks() -> None:
    app = WskApp()

    def entry(DriverObject: Any, RegistryPath: Any) -> None:
        app.start()
        new_socket(app, WSK_FLAG_CONNECTION_SOCKET)

    def unload(DriverObject: Any) -> None:
        pass  # forgets WskCloseSocket, WskReleaseProviderNPI and WskDeregister

    m = run_driver(entry, unload)
    assert sorted(rule_ids(m)) == ["wsk.registration.leak", "wsk.socket.leak"]


def test_C18_clean_shutdown_reports_nothing() -> None:
    m, _ = run_wsk(lambda app, out: out["close"].append(
        new_socket(app, WSK_FLAG_CONNECTION_SOCKET)[1]))
    assert rule_ids(m) == []
    assert wsk_state(m).sockets == {}


# ---------------------------------------------------------------------- registration


def test_capture_waits_for_the_provider_and_release_pairs_with_capture() -> None:
    got: dict[str, Any] = {}

    def entry(DriverObject: Any, RegistryPath: Any) -> None:
        reg, npi = WSK_REGISTRATION(), WSK_PROVIDER_NPI()
        WskRegister(WSK_CLIENT_NPI(None, WSK_CLIENT_DISPATCH()), reg)
        got["no_wait"] = WskCaptureProviderNPI(reg, WSK_NO_WAIT, npi)
        got["short"] = WskCaptureProviderNPI(reg, 1, npi)  # 1 ms
        got["infinite"] = WskCaptureProviderNPI(reg, WSK_INFINITE_WAIT, npi)
        from mock_wsk.machine import active_machine

        got["at"] = active_machine().now
        WskReleaseProviderNPI(reg)
        WskReleaseProviderNPI(reg)  # one too many
        from mock_wsk.wdk import WskDeregister

        WskDeregister(reg)

    m = run_driver(entry, lambda DriverObject: None,
                   setup=lambda m: configure_wsk(m, provider_ready_at_ns=5_000_000))
    assert got["no_wait"] == got["short"] == STATUS_DEVICE_NOT_READY
    assert got["infinite"] == STATUS_SUCCESS and got["at"] == 5_000_000
    assert rule_ids(m) == ["wsk.npi.release_without_capture"]


def test_connect_to_nobody_is_refused() -> None:
    def body(app: Any, out: dict) -> None:
        _, sock = new_socket(app, WSK_FLAG_CONNECTION_SOCKET)
        out["close"].append(sock)
        bind(sock, 0)
        out["connect"] = sync_call(sock.Dispatch.WskConnect, sock,
                                   SOCKADDR_IN(AF_INET, 9, "10.0.0.77"), 0)

    m, out = run_wsk(body)
    assert out["connect"] == (STATUS_CONNECTION_REFUSED, 0)
    assert rule_ids(m) == []


# ---------------------------------------------------------------------- datagrams


def test_B10_datagrams_zero_length_and_data_not_accepted_disables_receive_from() -> None:
    seen: list[list[int]] = []

    def WskReceiveFromEvent(SocketContext: Any, Flags: int, DataIndication: Any) -> int:
        chain = []
        while DataIndication is not None:
            chain.append(DataIndication.Buffer.Length)
            DataIndication = DataIndication.Next
        seen.append(chain)
        return STATUS_DATA_NOT_ACCEPTED if len(seen) == 2 else STATUS_SUCCESS

    def body(app: Any, out: dict) -> None:
        _, sock = new_socket(app, WSK_FLAG_DATAGRAM_SOCKET, None,
                             WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent))
        out["close"].append(sock)
        out["sock"] = sock
        bind(sock, 53)
        enable_events(sock, WSK_EVENT_RECEIVE_FROM)

    def later(app: Any, out: dict) -> None:
        out["before_reenable"] = list(seen)
        enable_events(out["sock"], WSK_EVENT_RECEIVE_FROM)  # redelivers what was kept

    def setup(m: Any) -> None:
        net = wsk_state(m).network
        peer = net.add_peer("10.0.0.3", 4000)
        net.at(1_000_000, peer.datagram, 0, 53)
        net.at(2_000_000, peer.datagram, 20, 53)
        net.at(3_000_000, peer.datagram, 30, 53)

    m, out = run_wsk(body, setup=setup, later=later)
    assert out["before_reenable"] == [[0], [20]]
    assert seen == [[0], [20], [20, 30]]
    assert rule_ids(m) == []


def test_completion_policy_inline_or_pended_through_the_caller_irp() -> None:
    def body(app: Any, out: dict) -> None:
        irp = out["irp"] = AsyncIrp()
        out["status"] = app.Dispatch.WskSocket(app.Client, AF_INET, 1, 6,
                                               WSK_FLAG_CONNECTION_SOCKET, None, None, None,
                                               None, None, irp.Irp)
        out["done_at_return"] = len(irp.completed)

    def later(app: Any, out: dict) -> None:
        close(out["irp"].completed[0][1])
        out["irp"].free()

    # Pended: STATUS_PENDING, completed from a DPC (which, queued on this CPU below
    # DISPATCH_LEVEL, may well run before WskSocket returns - as on Windows).
    for policy, status in (("inline", STATUS_SUCCESS), ("pended", STATUS_PENDING)):
        m, out = run_wsk(body, setup=lambda m, p=policy: configure_wsk(m, completion=p),
                         later=later)
        assert out["status"] == status
        assert out["done_at_return"] == 1 or policy == "pended"
        assert out["irp"].completed[0][0] == STATUS_SUCCESS
        assert rule_ids(m) == []
