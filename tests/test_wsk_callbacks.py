"""The client's obligations inside WSK event callbacks: CONTRACTS B.8-B.12."""

from __future__ import annotations

from typing import Any

import pytest
from kernel_helpers import only, rule_ids
from test_wsk_support import (
    AsyncIrp,
    enable_events,
    listening_peer,
    new_socket,
    run_wsk,
    socket_connect,
    sync_call,
)

from mock_wsk.wdk import (
    DISPATCH_LEVEL,
    FALSE,
    KEVENT,
    LARGE_INTEGER,
    PASSIVE_LEVEL,
    SIO_WSK_QUERY_IDEAL_SEND_BACKLOG,
    SIZE_T,
    STATUS_DATA_NOT_ACCEPTED,
    STATUS_INVALID_DEVICE_STATE,
    STATUS_INVALID_PARAMETER,
    STATUS_PENDING,
    STATUS_REQUEST_NOT_ACCEPTED,
    STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
    WSK_CLIENT_CONNECTION_DISPATCH,
    WSK_CLIENT_LISTEN_DISPATCH,
    WSK_EVENT_ACCEPT,
    WSK_EVENT_DISCONNECT,
    WSK_EVENT_RECEIVE,
    WSK_EVENT_SEND_BACKLOG,
    WSK_FLAG_AT_DISPATCH_LEVEL,
    WSK_FLAG_CONNECTION_SOCKET,
    WSK_FLAG_LISTEN_SOCKET,
    Executive,
    KeGetCurrentIrql,
    KeInitializeEvent,
    KeLowerIrql,
    KeRaiseIrql,
    KernelMode,
    KeWaitForSingleObject,
    NotificationEvent,
    WskIoctl,
)
from mock_wsk.wsk import configure_wsk, wsk_state


def _data_scenario(*sizes: int, close: bool = False, irql: str = "dispatch") -> Any:
    def setup(m: Any) -> None:
        configure_wsk(m, callback_irql=irql)
        peer = listening_peer(m)
        for i, size in enumerate(sizes):
            wsk_state(m).network.at(2_000_000 + i * 1_000_000, peer.send, size)
        if close:
            wsk_state(m).network.at(2_000_000 + len(sizes) * 1_000_000, peer.close)
    return setup


def _connected(dispatch: Any, mask: int = WSK_EVENT_RECEIVE) -> Any:
    def body(app: Any, out: dict) -> None:
        _, sock = socket_connect(app, "ctx", dispatch)
        out["close"].append(sock)
        out["sock"] = sock
        assert enable_events(sock, mask) == STATUS_SUCCESS
    return body


# ---------------------------------------------------------------------- B.8 IRQL


@pytest.mark.parametrize("policy,irql,flag", [
    ("dispatch", DISPATCH_LEVEL, WSK_FLAG_AT_DISPATCH_LEVEL),
    ("passive", PASSIVE_LEVEL, 0),
])
def test_B8_callbacks_run_at_the_policy_irql_with_matching_flags(policy: str, irql: int,
                                                                  flag: int) -> None:
    seen: list[tuple[int, int]] = []

    def WskReceiveEvent(SocketContext: Any, Flags: int, DataIndication: Any,
                        BytesIndicated: int, BytesAccepted: Any) -> int:
        seen.append((KeGetCurrentIrql(), Flags & WSK_FLAG_AT_DISPATCH_LEVEL))
        BytesAccepted.value = BytesIndicated
        return STATUS_SUCCESS

    m, _ = run_wsk(_connected(WSK_CLIENT_CONNECTION_DISPATCH(WskReceiveEvent)),
                   setup=_data_scenario(100, irql=policy))
    assert seen == [(irql, flag)]
    assert rule_ids(m) == []


def test_B8_callback_returning_at_another_irql_is_reported() -> None:
    def WskReceiveEvent(SocketContext: Any, Flags: int, DataIndication: Any,
                        BytesIndicated: int, BytesAccepted: Any) -> int:
        KeRaiseIrql(DISPATCH_LEVEL)  # forgets KeLowerIrql on this path
        BytesAccepted.value = BytesIndicated
        return STATUS_SUCCESS

    def fine(SocketContext: Any, Flags: int) -> int:
        old = KeRaiseIrql(DISPATCH_LEVEL)
        KeLowerIrql(old)
        return STATUS_SUCCESS

    m, _ = run_wsk(_connected(WSK_CLIENT_CONNECTION_DISPATCH(WskReceiveEvent, fine),
                              WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT),
                   setup=_data_scenario(100, close=True, irql="passive"))
    v = only(m, "wsk.callback.irql")
    assert v.location is not None and v.location.function == "WskReceiveEvent"
    assert wsk_state(m).stats.callbacks == {"WskReceiveEvent": 1, "WskDisconnectEvent": 1}


# ---------------------------------------------------------------------- B.9 no waits


@pytest.mark.parametrize("policy", ["passive", "dispatch"])
def test_B9_wait_inside_a_callback_is_reported_even_at_passive(policy: str) -> None:
    event = KEVENT("ReplyEvent")

    def WskReceiveEvent(SocketContext: Any, Flags: int, DataIndication: Any,
                        BytesIndicated: int, BytesAccepted: Any) -> int:
        KeInitializeEvent(event, NotificationEvent, FALSE)
        KeWaitForSingleObject(event, Executive, KernelMode, FALSE, LARGE_INTEGER(-10_000))
        BytesAccepted.value = BytesIndicated
        return STATUS_SUCCESS

    m, _ = run_wsk(_connected(WSK_CLIENT_CONNECTION_DISPATCH(WskReceiveEvent)),
                   setup=_data_scenario(100, irql=policy))
    v = only(m, "wsk.callback.wait")
    assert v.objects["callback"] == "WskReceiveEvent"
    assert v.location is not None and v.location.function == "WskReceiveEvent"


def test_B9_starting_requests_without_waiting_is_fine() -> None:
    irps: list[AsyncIrp] = []

    def WskReceiveEvent(SocketContext: Any, Flags: int, DataIndication: Any,
                        BytesIndicated: int, BytesAccepted: Any) -> int:
        irp = AsyncIrp()
        irps.append(irp)
        out = SIZE_T()
        status = SocketContext.Dispatch.WskControlSocket(
            SocketContext, WskIoctl, SIO_WSK_QUERY_IDEAL_SEND_BACKLOG, 0, 0, None, 8, out, None,
            irp.Irp)
        assert status in (STATUS_SUCCESS, STATUS_PENDING)
        BytesAccepted.value = BytesIndicated
        return STATUS_SUCCESS

    def body(app: Any, out: dict) -> None:
        _, sock = socket_connect(app, None, WSK_CLIENT_CONNECTION_DISPATCH(WskReceiveEvent))
        sock_ctx = sock
        sock.context = sock_ctx  # the driver's context is the socket itself here
        out["close"].append(sock)
        enable_events(sock, WSK_EVENT_RECEIVE)

    m, _ = run_wsk(body, setup=_data_scenario(100),
                   later=lambda app, out: [i.free() for i in irps])
    assert rule_ids(m) == []
    assert irps[0].completed[0][:2] == (STATUS_SUCCESS, 8)


# ---------------------------------------------------------------------- B.10 return values


def test_B10_bad_returns_are_reported() -> None:
    def WskReceiveEvent(SocketContext: Any, Flags: int, DataIndication: Any,
                        BytesIndicated: int, BytesAccepted: Any) -> int:
        return STATUS_UNSUCCESSFUL

    def WskDisconnectEvent(SocketContext: Any, Flags: int) -> int:
        return STATUS_PENDING

    m, _ = run_wsk(_connected(WSK_CLIENT_CONNECTION_DISPATCH(WskReceiveEvent, WskDisconnectEvent),
                              WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT),
                   setup=_data_scenario(100, close=True))
    found = [v for v in m.violations if v.rule.id == "wsk.callback.bad_return"]
    assert [v.location.function for v in found if v.location] == ["WskReceiveEvent",
                                                                  "WskDisconnectEvent"]
    assert found[0].objects["reaction_chosen_by"] == "fidelity:wsk.bad_callback_return"


def test_B10_receive_event_partial_accept_and_bytes_accepted_overrun() -> None:
    def WskReceiveEvent(SocketContext: Any, Flags: int, DataIndication: Any,
                        BytesIndicated: int, BytesAccepted: Any) -> int:
        BytesAccepted.value = BytesIndicated + 1
        return STATUS_SUCCESS

    m, _ = run_wsk(_connected(WSK_CLIENT_CONNECTION_DISPATCH(WskReceiveEvent)),
                   setup=_data_scenario(100))
    assert rule_ids(m) == ["wsk.callback.bad_return"]


def test_B10_data_not_accepted_stops_indications_until_wskreceive() -> None:
    log: list[int] = []

    def WskReceiveEvent(SocketContext: Any, Flags: int, DataIndication: Any,
                        BytesIndicated: int, BytesAccepted: Any) -> int:
        log.append(BytesIndicated)
        if len(log) == 1:
            return STATUS_DATA_NOT_ACCEPTED
        BytesAccepted.value = BytesIndicated
        return STATUS_SUCCESS

    def later(app: Any, out: dict) -> None:
        # Before WskReceive: the two later sends were buffered, not indicated.
        out["before"] = list(log)
        from mock_wsk.kernel.mdl import IoAllocateMdl, IoFreeMdl, MmBuildMdlForNonPagedPool
        from mock_wsk.kernel.pool import POOL_FLAG_NON_PAGED, ExAllocatePool2, ExFreePool
        from mock_wsk.wdk import WSK_BUF

        buf = ExAllocatePool2(POOL_FLAG_NON_PAGED, 150, "tseT")
        mdl = IoAllocateMdl(buf, 150, FALSE, FALSE, None)
        MmBuildMdlForNonPagedPool(mdl)
        sock = out["sock"]
        out["receive"] = sync_call(sock.Dispatch.WskReceive, sock, WSK_BUF(mdl, 0, 150), 0)
        IoFreeMdl(mdl)
        ExFreePool(buf)

    m, out = run_wsk(_connected(WSK_CLIENT_CONNECTION_DISPATCH(WskReceiveEvent)),
                     setup=_data_scenario(100, 50, 50), later=later)
    assert out["before"] == [100]
    assert out["receive"] == (STATUS_SUCCESS, 150)  # the buffered 200 bytes, 150 taken
    assert log == [100, 50], "indications resumed after WskReceive with the 50 left"
    assert rule_ids(m) == []


def test_B10_pending_retains_indications_until_wskrelease() -> None:
    kept: list[Any] = []

    def WskReceiveEvent(SocketContext: Any, Flags: int, DataIndication: Any,
                        BytesIndicated: int, BytesAccepted: Any) -> int:
        kept.append(DataIndication)
        return STATUS_PENDING

    def later(app: Any, out: dict) -> None:
        sock = out["sock"]
        out["release"] = sock.Dispatch.WskRelease(sock, kept[0])
        out["again"] = sock.Dispatch.WskRelease(sock, kept[0])

    m, out = run_wsk(_connected(WSK_CLIENT_CONNECTION_DISPATCH(WskReceiveEvent)),
                     setup=_data_scenario(100), later=later)
    assert kept[0].Buffer.Length == 100 and kept[0].Next is None
    assert out["release"] == STATUS_SUCCESS
    assert rule_ids(m) == ["wsk.release.not_retained"]  # the second release


def test_B10_accept_event_refusal_closes_that_socket() -> None:
    def WskAcceptEvent(*args: Any) -> int:
        return STATUS_REQUEST_NOT_ACCEPTED

    def body(app: Any, out: dict) -> None:
        _, listener = new_socket(app, WSK_FLAG_LISTEN_SOCKET, None,
                                 WSK_CLIENT_LISTEN_DISPATCH(WskAcceptEvent))
        out["close"].append(listener)
        from test_wsk_support import bind

        bind(listener, 80)
        enable_events(listener, WSK_EVENT_ACCEPT)

    def setup(m: Any) -> None:
        net = wsk_state(m).network
        net.at(1_000_000, net.add_peer("10.0.0.2", 5000).connect, 80)
        out_peer.append(net.peers[("10.0.0.2", 5000)])

    out_peer: list[Any] = []
    m, _ = run_wsk(body, setup=setup)
    assert rule_ids(m) == []
    assert out_peer[0].log[-1][1] == "connection refused by the driver"
    assert len(wsk_state(m).sockets) == 0


# ---------------------------------------------------------------------- B.11 dead sockets


def _dead_scenario(m: Any) -> None:
    configure_wsk(m, dead_socket_close_deadline_ns=5_000_000)
    peer = listening_peer(m)
    wsk_state(m).network.at(2_000_000, peer.kill)
    wsk_state(m).network.at(3_000_000, peer.send, 100)


def test_B11_dead_socket_not_closed_by_the_deadline_is_reported() -> None:
    def WskReceiveEvent(SocketContext: Any, Flags: int, DataIndication: Any,
                        BytesIndicated: int, BytesAccepted: Any) -> int:
        return STATUS_SUCCESS  # ignores the NULL indication: never closes

    m, _ = run_wsk(_connected(WSK_CLIENT_CONNECTION_DISPATCH(WskReceiveEvent)),
                   setup=_dead_scenario)
    v = only(m, "wsk.socket.dead_not_closed")
    assert v.time_ns == 7_000_000
    assert v.objects["deadline_chosen_by"] == "fidelity:wsk.dead_socket_close_deadline_ns"


def test_B11_dead_socket_closed_from_its_callback_is_fine() -> None:
    closes: list[AsyncIrp] = []

    def WskReceiveEvent(SocketContext: Any, Flags: int, DataIndication: Any,
                        BytesIndicated: int, BytesAccepted: Any) -> int:
        if DataIndication is None:  # dead: close now (the close completes after we return)
            irp = AsyncIrp()
            closes.append(irp)
            status = SocketContext.Dispatch.WskCloseSocket(SocketContext, irp.Irp)
            assert status == STATUS_PENDING and not irp.completed
        return STATUS_SUCCESS

    def body(app: Any, out: dict) -> None:
        _, sock = socket_connect(app, None, WSK_CLIENT_CONNECTION_DISPATCH(WskReceiveEvent))
        sock.context = sock
        enable_events(sock, WSK_EVENT_RECEIVE)

    m, _ = run_wsk(body, setup=_dead_scenario, later=lambda app, out: closes[0].free())
    assert rule_ids(m) == []
    assert [c[0] for c in closes[0].completed] == [STATUS_SUCCESS]
    assert wsk_state(m).stats.callbacks == {"WskReceiveEvent": 1}, "nothing after close"


# ---------------------------------------------------------------------- B.12 ideal send backlog


def test_B12_ideal_send_backlog_query_needs_an_irp_and_a_connected_socket() -> None:
    backlog: list[int] = []

    def WskSendBacklogEvent(SocketContext: Any, IdealBacklogSize: int) -> int:
        backlog.append(IdealBacklogSize)
        return STATUS_SUCCESS

    def query(sock: Any, out: Any, irp: Any) -> int:
        return sock.Dispatch.WskControlSocket(sock, WskIoctl, SIO_WSK_QUERY_IDEAL_SEND_BACKLOG,
                                              0, 0, None, 8, out, None, irp)

    def body(app: Any, out: dict) -> None:
        _, sock = socket_connect(app, None, WSK_CLIENT_CONNECTION_DISPATCH(
            None, None, WskSendBacklogEvent))
        _, lone = new_socket(app, WSK_FLAG_CONNECTION_SOCKET)
        out["close"] += [sock, lone]
        enable_events(sock, WSK_EVENT_SEND_BACKLOG)
        isb = SIZE_T()
        out["query"] = sync_call(query, sock, isb)
        out["isb"] = isb.value
        out["no_irp"] = query(sock, SIZE_T(), None)
        out["unconnected"] = sync_call(query, lone, SIZE_T())[0]

    def setup(m: Any) -> None:
        configure_wsk(m, transport="fixed_rtt")  # the ISB changes only when the peer sets it
        peer = listening_peer(m)
        wsk_state(m).network.at(5_000_000, peer.set_isb, 256 * 1024)

    m, out = run_wsk(body, setup=setup)
    assert out["query"] == (STATUS_SUCCESS, 8) and out["isb"] == 64 * 1024
    assert out["no_irp"] == STATUS_INVALID_PARAMETER
    assert out["unconnected"] == STATUS_INVALID_DEVICE_STATE
    assert rule_ids(m) == ["wsk.ioctl.irp_required", "wsk.call.bad_state"]
    assert backlog == [256 * 1024]


def test_B_disconnect_event_flags_abortive_on_reset() -> None:
    flags: list[int] = []

    def WskDisconnectEvent(SocketContext: Any, Flags: int) -> int:
        flags.append(Flags)
        return STATUS_SUCCESS

    def setup(m: Any) -> None:
        peer = listening_peer(m)
        wsk_state(m).network.at(2_000_000, peer.reset)

    m, _ = run_wsk(_connected(WSK_CLIENT_CONNECTION_DISPATCH(None, WskDisconnectEvent),
                              WSK_EVENT_DISCONNECT), setup=setup)
    from mock_wsk.wdk import WSK_FLAG_ABORTIVE

    assert flags == [WSK_FLAG_ABORTIVE | WSK_FLAG_AT_DISPATCH_LEVEL]
    assert rule_ids(m) == []
