"""SO_WSK_EVENT_CALLBACK and WSK_SET_STATIC_EVENT_CALLBACKS: CONTRACTS A.1-A.7, each rule with a
call that keeps it and one that breaks it (seeds/002, sentence by sentence)."""

from __future__ import annotations

from typing import Any

import pytest
from kernel_helpers import only, rule_ids
from test_wsk_support import (
    AsyncIrp,
    bind,
    close,
    control_size,
    disable_event,
    enable_events,
    listening_peer,
    new_socket,
    run_wsk,
    socket_connect,
)

from mock_wsk.abi import GUID, pack_event_callback_control
from mock_wsk.wdk import (
    NPI_MOCK_WSK_EXTENSION_ID,
    NPI_WSK_INTERFACE_ID,
    SIO_WSK_REGISTER_EXTENSION,
    SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET,
    STATUS_INVALID_DEVICE_STATE,
    STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS,
    WSK_CLIENT_CONNECTION_DISPATCH,
    WSK_CLIENT_DATAGRAM_DISPATCH,
    WSK_CLIENT_LISTEN_DISPATCH,
    WSK_EVENT_ACCEPT,
    WSK_EVENT_CALLBACK_CONTROL,
    WSK_EVENT_DISCONNECT,
    WSK_EVENT_RECEIVE,
    WSK_EVENT_RECEIVE_FROM,
    WSK_EVENT_SEND_BACKLOG,
    WSK_EXTENSION_CONTROL_IN,
    WSK_EXTENSION_CONTROL_OUT,
    WSK_FLAG_BASIC_SOCKET,
    WSK_FLAG_CONNECTION_SOCKET,
    WSK_FLAG_DATAGRAM_SOCKET,
    WSK_FLAG_LISTEN_SOCKET,
    WSK_MOCK_EXTENSION_CLIENT_DISPATCH,
    WSK_MOCK_EXTENSION_EVENT_PING,
    WSK_SET_STATIC_EVENT_CALLBACKS,
    WskIoctl,
    WskSetOption,
    addressof,
)
from mock_wsk.wsk import wsk_state

CONN = WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT | WSK_EVENT_SEND_BACKLOG


def _recv(SocketContext: Any, Flags: int, DataIndication: Any, BytesIndicated: int,
          BytesAccepted: Any) -> int:
    BytesAccepted.value = BytesIndicated
    return STATUS_SUCCESS


def _ok(*args: Any) -> int:
    return STATUS_SUCCESS


FULL_CONN = WSK_CLIENT_CONNECTION_DISPATCH(_recv, _ok, _ok)


def _accept_into(dispatch: Any, out: dict) -> Any:
    def WskAcceptEvent(SocketContext: Any, Flags: int, LocalAddress: Any, RemoteAddress: Any,
                       AcceptSocket: Any, AcceptSocketContext: Any,
                       AcceptSocketDispatch: Any) -> int:
        AcceptSocketContext.value = "accepted"
        AcceptSocketDispatch.value = dispatch
        out["close"].append(AcceptSocket)
        out.setdefault("accepted", []).append(AcceptSocket)
        return STATUS_SUCCESS

    return WskAcceptEvent


# ---------------------------------------------------------------------- A.1 flags by category


def test_A1_valid_flags_per_category_are_accepted() -> None:
    def body(app: Any, out: dict) -> None:
        _, listener = new_socket(app, WSK_FLAG_LISTEN_SOCKET, None,
                                 WSK_CLIENT_LISTEN_DISPATCH(_ok))
        _, dgram = new_socket(app, WSK_FLAG_DATAGRAM_SOCKET, None,
                              WSK_CLIENT_DATAGRAM_DISPATCH(_ok))
        _, conn = socket_connect(app, None, FULL_CONN)
        out["close"] += [listener, dgram, conn]
        bind(listener, 80)
        bind(dgram, 53)
        out["statuses"] = [enable_events(listener, WSK_EVENT_ACCEPT | CONN),
                           enable_events(dgram, WSK_EVENT_RECEIVE_FROM),
                           enable_events(conn, CONN)]

    m, out = run_wsk(body, setup=listening_peer)
    assert out["statuses"] == [STATUS_SUCCESS] * 3
    assert rule_ids(m) == []


@pytest.mark.parametrize("flags,mask", [
    (WSK_FLAG_DATAGRAM_SOCKET, WSK_EVENT_RECEIVE),
    (WSK_FLAG_LISTEN_SOCKET, WSK_EVENT_RECEIVE_FROM),
    (WSK_FLAG_BASIC_SOCKET, WSK_EVENT_RECEIVE),
])
def test_A1_invalid_flag_for_category_is_refused(flags: int, mask: int) -> None:
    def body(app: Any, out: dict) -> None:
        _, sock = new_socket(app, flags, None, FULL_CONN)
        out["close"].append(sock)
        if flags != WSK_FLAG_BASIC_SOCKET:
            bind(sock, 99)
        out["status"] = enable_events(sock, mask)

    m, out = run_wsk(body)
    assert out["status"] == STATUS_INVALID_PARAMETER
    violation = only(m, "wsk.event.invalid_flag_for_category")
    assert violation.objects["status_chosen_by"] == "fidelity:wsk.invalid_event_flag"
    assert violation.location is not None
    assert violation.location.file.endswith("test_wsk_support.py")  # the driver's own helper


def test_A1_basic_socket_enables_extension_events_after_registering_the_extension() -> None:
    pings: list[int] = []

    def WskMockPingEvent(SocketContext: Any, Flags: int) -> int:
        pings.append(Flags)
        return STATUS_SUCCESS

    def body(app: Any, out: dict) -> None:
        _, sock = new_socket(app, WSK_FLAG_BASIC_SOCKET)
        out["close"].append(sock)
        ctl = WSK_EVENT_CALLBACK_CONTROL(NPI_MOCK_WSK_EXTENSION_ID, WSK_MOCK_EXTENSION_EVENT_PING)
        args = (sock, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, control_size(), ctl, 0,
                None, None, None)
        out["before"] = sock.Dispatch.WskControlSocket(*args)
        out["register"] = _register_extension_with_out(sock, WskMockPingEvent, out)
        out["after"] = sock.Dispatch.WskControlSocket(*args)
        out["provider"].WskMockExtensionPing(sock)

    m, out = run_wsk(body)
    assert out["before"] == STATUS_INVALID_PARAMETER  # not registered yet: refused (A.1)
    assert (out["register"], out["after"]) == (STATUS_SUCCESS, STATUS_SUCCESS)
    assert rule_ids(m) == ["wsk.event.invalid_flag_for_category"]
    assert len(pings) == 1


def _register_extension_with_out(sock: Any, ping: Any, out: dict) -> int:
    control_in = WSK_EXTENSION_CONTROL_IN(NPI_MOCK_WSK_EXTENSION_ID, None,
                                          WSK_MOCK_EXTENSION_CLIENT_DISPATCH(ping))
    control_out = WSK_EXTENSION_CONTROL_OUT()
    status = sock.Dispatch.WskControlSocket(sock, WskIoctl, SIO_WSK_REGISTER_EXTENSION, 0,
                                            24, control_in, 16, control_out, None, None)
    out["provider"] = control_out.ProviderDispatch
    return status


# ---------------------------------------------------------------------- A.2 bind / connect first


def test_A2_enable_before_bind_on_listener_is_refused_after_bind_accepted() -> None:
    def body(app: Any, out: dict) -> None:
        _, sock = new_socket(app, WSK_FLAG_LISTEN_SOCKET, None, WSK_CLIENT_LISTEN_DISPATCH(_ok))
        out["close"].append(sock)
        out["before"] = enable_events(sock, WSK_EVENT_ACCEPT)
        bind(sock, 80)
        out["after"] = enable_events(sock, WSK_EVENT_ACCEPT)

    m, out = run_wsk(body)
    assert (out["before"], out["after"]) == (STATUS_INVALID_DEVICE_STATE, STATUS_SUCCESS)
    v = only(m, "wsk.event.enable_before_bind")
    assert v.objects["status_chosen_by"] == "fidelity:wsk.enable_before_bind"


def test_A2_enable_before_connect_on_connection_socket_is_refused() -> None:
    def body(app: Any, out: dict) -> None:
        _, sock = new_socket(app, WSK_FLAG_CONNECTION_SOCKET, None, FULL_CONN)
        out["close"].append(sock)
        bind(sock, 0)
        out["status"] = enable_events(sock, WSK_EVENT_RECEIVE)

    m, out = run_wsk(body)
    assert out["status"] == STATUS_INVALID_DEVICE_STATE
    assert rule_ids(m) == ["wsk.event.enable_before_connect"]


# ---------------------------------------------------------------------- A.3 enabling


def test_A3_enable_with_irp_is_a_warning_and_the_irp_completes() -> None:
    def body(app: Any, out: dict) -> None:
        _, sock = socket_connect(app, None, FULL_CONN)
        out["close"].append(sock)
        irp = out["irp"] = AsyncIrp()
        out["status"] = enable_events(sock, WSK_EVENT_RECEIVE, irp.Irp)

    m, out = run_wsk(body, setup=listening_peer, later=lambda app, out: out["irp"].free())
    assert out["status"] == STATUS_SUCCESS
    assert [c[0] for c in out["irp"].completed] == [STATUS_SUCCESS]
    v = only(m, "wsk.event.enable_with_irp")
    assert v.severity.value == "warning"


def test_A3_enabling_a_null_callback_slot_is_refused() -> None:
    def body(app: Any, out: dict) -> None:
        _, sock = socket_connect(app, None, WSK_CLIENT_CONNECTION_DISPATCH(None, _ok, _ok))
        out["close"].append(sock)
        out["null"] = enable_events(sock, WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT)
        out["fine"] = enable_events(sock, WSK_EVENT_DISCONNECT | WSK_EVENT_SEND_BACKLOG)

    m, out = run_wsk(body, setup=listening_peer)
    assert (out["null"], out["fine"]) == (STATUS_INVALID_PARAMETER, STATUS_SUCCESS)
    assert rule_ids(m) == ["wsk.event.null_callback"]


# ---------------------------------------------------------------------- A.4 one flag per disable


@pytest.mark.parametrize("mask", [WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT, 0])
def test_A4_disable_multiple_flags_is_refused(mask: int) -> None:
    def body(app: Any, out: dict) -> None:
        _, sock = socket_connect(app, None, FULL_CONN)
        out["close"].append(sock)
        enable_events(sock, CONN)
        out["bad"] = disable_event(sock, mask)
        out["good"] = disable_event(sock, WSK_EVENT_RECEIVE)

    m, out = run_wsk(body, setup=listening_peer)
    assert (out["bad"], out["good"]) == (STATUS_INVALID_PARAMETER, STATUS_SUCCESS)
    assert rule_ids(m) == ["wsk.event.disable_multiple_flags"]


# ---------------------------------------------------------------------- A.5 call shape


def _control(sock: Any, level: int, size: int, buffer: Any, out_size: int = 0,
             out_buffer: Any = None) -> int:
    return sock.Dispatch.WskControlSocket(sock, WskSetOption, SO_WSK_EVENT_CALLBACK, level, size,
                                          buffer, out_size, out_buffer, None, None)


@pytest.mark.parametrize("arch,size", [("x64", 16), ("x86", 8)])
def test_A5_input_size_is_sizeof_control_for_the_architecture(arch: str, size: int) -> None:
    def body(app: Any, out: dict) -> None:
        _, sock = socket_connect(app, None, FULL_CONN)
        out["close"].append(sock)
        ctl = WSK_EVENT_CALLBACK_CONTROL(NPI_WSK_INTERFACE_ID, WSK_EVENT_RECEIVE)
        out["right"] = _control(sock, SOL_SOCKET, size, ctl)
        out["wrong"] = _control(sock, SOL_SOCKET, 24 - size, ctl)
        raw = pack_event_callback_control(addressof(NPI_WSK_INTERFACE_ID), WSK_EVENT_DISCONNECT,
                                          arch)
        out["raw"] = _control(sock, SOL_SOCKET, len(raw), raw)
        out["enabled"] = sock.events.enabled

    m, out = run_wsk(body, setup=listening_peer, arch=arch)
    assert (out["right"], out["wrong"], out["raw"]) == (STATUS_SUCCESS, STATUS_INVALID_PARAMETER,
                                                        STATUS_SUCCESS)
    assert rule_ids(m) == ["wsk.event.bad_input_size"]
    assert out["enabled"] == WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT


def test_A5_npi_id_level_and_output_parameters_are_checked() -> None:
    def body(app: Any, out: dict) -> None:
        _, sock = socket_connect(app, None, FULL_CONN)
        out["close"].append(sock)
        other = GUID(0x12345678, 1, 2, bytes(8))
        out["npi"] = _control(sock, SOL_SOCKET, 16, WSK_EVENT_CALLBACK_CONTROL(other, 0x40))
        out["null"] = _control(sock, SOL_SOCKET, 16, WSK_EVENT_CALLBACK_CONTROL(None, 0x40))
        ctl = WSK_EVENT_CALLBACK_CONTROL(NPI_WSK_INTERFACE_ID, WSK_EVENT_RECEIVE)
        out["level"] = _control(sock, 0, 16, ctl)
        out["output"] = _control(sock, SOL_SOCKET, 16, ctl, 8, bytearray(8))

    m, out = run_wsk(body, setup=listening_peer)
    assert {out[k] for k in ("npi", "null", "level", "output")} == {STATUS_INVALID_PARAMETER}
    assert rule_ids(m) == ["wsk.event.bad_npi_id", "wsk.event.bad_npi_id",
                           "wsk.event.bad_input_size", "wsk.event.bad_output_params"]


# ---------------------------------------------------------------------- A.6 listener inheritance


def _listener_body(mask: int, dispatch: Any = FULL_CONN, toggle: bool = False) -> Any:
    def body(app: Any, out: dict) -> None:
        _, listener = new_socket(app, WSK_FLAG_LISTEN_SOCKET, None,
                                 WSK_CLIENT_LISTEN_DISPATCH(_accept_into(dispatch, out)))
        out["close"].append(listener)
        out["listener"] = listener
        bind(listener, 80)
        out["enable"] = enable_events(listener, mask)
        out["disable_inherited"] = disable_event(listener, WSK_EVENT_RECEIVE)
        if toggle:
            out["toggle"] = (disable_event(listener, WSK_EVENT_ACCEPT),
                             enable_events(listener, WSK_EVENT_ACCEPT))

    return body


def _incoming(m: Any) -> None:
    net = wsk_state(m).network
    peer = net.add_peer("10.0.0.2", 5000)
    net.at(1_000_000, peer.connect, 80)
    net.at(2_000_000, peer.send, 500)


def test_A6_flags_inherited_through_accept_event_cannot_be_disabled_on_listener() -> None:
    m, out = run_wsk(_listener_body(WSK_EVENT_ACCEPT | WSK_EVENT_RECEIVE, toggle=True),
                     setup=_incoming)
    assert out["enable"] == STATUS_SUCCESS
    assert out["disable_inherited"] == STATUS_INVALID_DEVICE_STATE
    assert out["toggle"] == (STATUS_SUCCESS, STATUS_SUCCESS)
    assert rule_ids(m) == ["wsk.event.disable_inherited_on_listener"]
    # Disabling and re-enabling ACCEPT kept RECEIVE for the accepted socket: data indicated.
    assert wsk_state(m).stats.callbacks == {"WskAcceptEvent": 1, "WskReceiveEvent": 1}


def test_A6_socket_taken_with_wskaccept_inherits_nothing() -> None:
    def body(app: Any, out: dict) -> None:
        _listener_body(WSK_EVENT_RECEIVE)(app, out)  # RECEIVE for accepted sockets, no ACCEPT

    def later(app: Any, out: dict) -> None:
        from test_wsk_support import sync_call

        listener = out["listener"]
        status, accepted = sync_call(listener.Dispatch.WskAccept, listener, 0, "ctx", FULL_CONN,
                                     None, None)
        out["accept"] = status
        out["close"].insert(0, accepted)
        out["events"] = accepted.events.enabled

    m, out = run_wsk(body, setup=_incoming, later=later)
    assert out["accept"] == STATUS_SUCCESS
    assert out["events"] == 0
    assert "WskReceiveEvent" not in wsk_state(m).stats.callbacks
    assert rule_ids(m) == ["wsk.event.disable_inherited_on_listener"]


# ---------------------------------------------------------------------- A.7 static callbacks


def _set_static(app: Any, mask: int) -> int:
    ctl = WSK_EVENT_CALLBACK_CONTROL(NPI_WSK_INTERFACE_ID, mask)
    return app.Dispatch.WskControlClient(app.Client, WSK_SET_STATIC_EVENT_CALLBACKS,
                                         control_size(), ctl, 0, None, None, None)


def test_A7_static_callbacks_before_first_socket_apply_and_cannot_be_disabled() -> None:
    def body(app: Any, out: dict) -> None:
        out["static"] = _set_static(app, WSK_EVENT_RECEIVE)
        _, sock = socket_connect(app, None, FULL_CONN)
        out["close"].append(sock)
        out["disable"] = disable_event(sock, WSK_EVENT_RECEIVE)
        out["late"] = _set_static(app, WSK_EVENT_DISCONNECT)

    def setup(m: Any) -> None:
        peer = listening_peer(m)
        wsk_state(m).network.at(2_000_000, peer.send, 100)

    m, out = run_wsk(body, setup=setup)
    assert out["static"] == STATUS_SUCCESS
    assert out["disable"] == STATUS_INVALID_DEVICE_STATE
    assert out["late"] == STATUS_INVALID_DEVICE_STATE
    assert rule_ids(m) == ["wsk.event.disable_static", "wsk.static.after_socket_created"]
    assert wsk_state(m).stats.callbacks == {"WskReceiveEvent": 1}


def test_A_closed_socket_is_not_reusable_for_event_control() -> None:
    def body(app: Any, out: dict) -> None:
        _, sock = socket_connect(app, None, FULL_CONN)
        close(sock)
        out["after"] = enable_events(sock, WSK_EVENT_RECEIVE)

    m, out = run_wsk(body, setup=listening_peer)
    assert out["after"] == STATUS_INVALID_DEVICE_STATE
    assert rule_ids(m) == ["wsk.socket.use_after_close"]
