"""WskSetOption / WskGetOption for the WSK socket options (mock_wsk.wsk.options).

Driver-shaped calls (``Socket->Dispatch->WskControlSocket`` with an IRP, ULONG boxes): round
trips and defaults per option, each refusal with its status and rule, inheritance by accepted
sockets, the options the mock does not model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kernel_helpers import rule_ids
from test_wsk_support import (
    bind,
    close,
    listening_peer,
    new_socket,
    run_wsk,
    socket_connect,
    sync_call,
)

from mock_wsk import fidelity
from mock_wsk.wdk import (
    IPPROTO_IPV6,
    IPPROTO_TCP,
    IPV6_V6ONLY,
    SO_BROADCAST,
    SO_CONDITIONAL_ACCEPT,
    SO_EXCLUSIVEADDRUSE,
    SO_KEEPALIVE,
    SO_RCVBUF,
    SO_REUSEADDR,
    SO_SNDBUF,
    SO_WSK_SECURITY,
    SOL_SOCKET,
    STATUS_BUFFER_TOO_SMALL,
    STATUS_INVALID_DEVICE_STATE,
    STATUS_INVALID_PARAMETER,
    STATUS_NOT_SUPPORTED,
    STATUS_SUCCESS,
    TCP_NODELAY,
    ULONG,
    WSK_CLIENT_LISTEN_DISPATCH,
    WSK_EVENT_ACCEPT,
    WSK_FLAG_BASIC_SOCKET,
    WSK_FLAG_CONNECTION_SOCKET,
    WSK_FLAG_DATAGRAM_SOCKET,
    WSK_FLAG_LISTEN_SOCKET,
    WSK_FLAG_STREAM_SOCKET,
    WskGetOption,
    WskSetOption,
)
from mock_wsk.wsk import wsk_state
from mock_wsk.wsk.options import SocketOptions

LISTEN, DGRAM, CONN = WSK_FLAG_LISTEN_SOCKET, WSK_FLAG_DATAGRAM_SOCKET, WSK_FLAG_CONNECTION_SOCKET


def set_option(sock: Any, code: int, value: Any, level: int = SOL_SOCKET,
               size: int = 4) -> tuple[int, Any]:
    """``WskControlSocket(WskSetOption)`` with an IRP: (final status, IoStatus.Information)."""
    buffer = value if not isinstance(value, int) else ULONG(value)
    return sync_call(sock.Dispatch.WskControlSocket, sock, WskSetOption, code, level, size,
                     buffer, 0, None, None)


def get_option(sock: Any, code: int, level: int = SOL_SOCKET) -> tuple[int, Any, Any]:
    """``WskControlSocket(WskGetOption)`` with an IRP: (status, Information, value)."""
    box = ULONG(0xDEAD)
    status, info = sync_call(sock.Dispatch.WskControlSocket, sock, WskGetOption, code, level,
                             0, None, 4, box, None)
    return status, info, box.value


def control(sock: Any, *args: Any, irp: Any = None) -> int:
    """A raw WskControlSocket call (the IRP, when a test gives one, comes from sync_call)."""
    return sock.Dispatch.WskControlSocket(sock, *args, irp)


def run_on(flags: int, body: Any, **kw: Any) -> tuple[Any, dict]:
    """Run ``body(sock, out)`` on a fresh socket of category ``flags`` (closed at unload)."""
    def entry(app: Any, out: dict) -> None:
        _, sock = new_socket(app, flags)
        out["close"].append(sock)
        body(sock, out)

    return run_wsk(entry, **kw)


# ---------------------------------------------------------------------- round trips, defaults

# (option, level, category flags, documented or chosen default, a value to set)
ROUND_TRIPS = [
    ("SO_KEEPALIVE", SO_KEEPALIVE, SOL_SOCKET, CONN, 0, 1),
    ("SO_REUSEADDR", SO_REUSEADDR, SOL_SOCKET, LISTEN, 0, 1),
    ("SO_EXCLUSIVEADDRUSE", SO_EXCLUSIVEADDRUSE, SOL_SOCKET, DGRAM, 0, 1),
    ("SO_RCVBUF", SO_RCVBUF, SOL_SOCKET, CONN, 64 * 1024, 12345),
    ("SO_BROADCAST", SO_BROADCAST, SOL_SOCKET, DGRAM, 0, 1),
    ("SO_CONDITIONAL_ACCEPT", SO_CONDITIONAL_ACCEPT, SOL_SOCKET, LISTEN, 0, 0),
    ("TCP_NODELAY", TCP_NODELAY, IPPROTO_TCP, CONN, 0, 1),
    ("IPV6_V6ONLY", IPV6_V6ONLY, IPPROTO_IPV6, LISTEN, 1, 0),
]


@pytest.mark.parametrize("name, code, level, flags, default, value", ROUND_TRIPS,
                         ids=[r[0] for r in ROUND_TRIPS])
@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_default_then_set_then_get(name: str, code: int, level: int, flags: int, default: int,
                                   value: int, arch: str) -> None:
    def body(sock: Any, out: dict) -> None:
        out["default"] = get_option(sock, code, level)
        out["set"] = set_option(sock, code, value, level)
        out["get"] = get_option(sock, code, level)

    m, out = run_on(flags, body, arch=arch)
    assert out["default"] == (STATUS_SUCCESS, 4, default)
    assert out["set"] == (STATUS_SUCCESS, 0)
    assert out["get"] == (STATUS_SUCCESS, 4, value)  # IoStatus.Information = sizeof(ULONG)
    assert rule_ids(m) == []


def test_gets_alone_store_nothing_per_socket() -> None:
    def body(sock: Any, out: dict) -> None:
        for _, code, level, *_ in ROUND_TRIPS[:4]:
            get_option(sock, code, level)

    m, _ = run_on(CONN, body)
    assert m.subsystem(SocketOptions).values == {}


def test_boolean_options_read_back_one_and_rcvbuf_keeps_its_ulong() -> None:
    def body(sock: Any, out: dict) -> None:
        set_option(sock, SO_KEEPALIVE, 7)
        set_option(sock, SO_RCVBUF, 0)
        out["keepalive"] = get_option(sock, SO_KEEPALIVE)[2]
        out["rcvbuf"] = get_option(sock, SO_RCVBUF)[2]
        set_option(sock, SO_KEEPALIVE, 0)
        out["off"] = get_option(sock, SO_KEEPALIVE)[2]

    _, out = run_on(CONN, body)
    assert (out["keepalive"], out["rcvbuf"], out["off"]) == (1, 0, 0)


def test_raw_byte_buffers_and_the_ulong_spelling_of_exclusiveaddruse() -> None:
    def body(sock: Any, out: dict) -> None:
        out["set"] = set_option(sock, SO_EXCLUSIVEADDRUSE & 0xFFFFFFFF, (1).to_bytes(4, "little"))
        raw = bytearray(4)
        out["get"] = sync_call(sock.Dispatch.WskControlSocket, sock, WskGetOption,
                               SO_RCVBUF, SOL_SOCKET, 0, None, 4, raw, None)
        out["raw"] = bytes(raw)
        out["excl"] = get_option(sock, SO_EXCLUSIVEADDRUSE)[2]

    _, out = run_on(LISTEN, body)
    assert out["set"] == (STATUS_SUCCESS, 0)
    assert out["get"] == (STATUS_SUCCESS, 4)
    assert out["raw"] == (64 * 1024).to_bytes(4, "little")
    assert out["excl"] == 1


def test_default_rcvbuf_is_a_configurable_choice() -> None:
    def body(sock: Any, out: dict) -> None:
        out["rcvbuf"] = get_option(sock, SO_RCVBUF)[2]

    with fidelity.override(wsk__default_rcvbuf=8192):
        _, out = run_on(DGRAM, body)
    assert out["rcvbuf"] == 8192


def test_stream_sockets_take_listening_and_connection_options() -> None:
    def body(sock: Any, out: dict) -> None:
        out["statuses"] = [set_option(sock, SO_KEEPALIVE, 1)[0],
                           set_option(sock, SO_CONDITIONAL_ACCEPT, 0)[0],
                           set_option(sock, SO_BROADCAST, 1)[0]]

    m, out = run_on(WSK_FLAG_STREAM_SOCKET, body)
    assert out["statuses"] == [STATUS_SUCCESS, STATUS_SUCCESS, STATUS_NOT_SUPPORTED]
    assert rule_ids(m) == ["wsk.option.wrong_category"]


# ---------------------------------------------------------------------- the IRP


def test_documented_options_need_an_irp() -> None:
    def body(sock: Any, out: dict) -> None:
        out["set"] = control(sock, WskSetOption, SO_KEEPALIVE, SOL_SOCKET, 4, ULONG(1), 0,
                             None, None)
        out["get"] = control(sock, WskGetOption, SO_RCVBUF, SOL_SOCKET, 0, None, 4, ULONG(),
                             None)
        out["after"] = get_option(sock, SO_KEEPALIVE)[2]

    m, out = run_on(CONN, body)
    assert out["set"] == out["get"] == STATUS_INVALID_PARAMETER
    assert out["after"] == 0, "the refused set changed nothing"
    assert rule_ids(m) == ["wsk.option.irp_required"] * 2
    violation = m.violations[0]
    assert violation.objects["status_chosen_by"] == "fidelity:wsk.irp_required_missing"
    assert "must specify a pointer to an IRP" in violation.rule.doc


def test_protocol_options_complete_inline_without_an_irp() -> None:
    def body(sock: Any, out: dict) -> None:
        returned = ULONG(99)
        out["set"] = control(sock, WskSetOption, TCP_NODELAY, IPPROTO_TCP, 4, ULONG(1), 0,
                             None, returned)
        out["set_returned"] = returned.value
        value = ULONG()
        out["get"] = control(sock, WskGetOption, TCP_NODELAY, IPPROTO_TCP, 0, None, 4, value,
                             returned)
        out["value"], out["get_returned"] = value.value, returned.value

    m, out = run_on(CONN, body)
    assert (out["set"], out["set_returned"]) == (STATUS_SUCCESS, 0)
    assert (out["get"], out["value"], out["get_returned"]) == (STATUS_SUCCESS, 1, 4)
    assert rule_ids(m) == []


# ---------------------------------------------------------------------- call shape


def test_wrong_level() -> None:
    def body(sock: Any, out: dict) -> None:
        out["rcvbuf_ip"] = set_option(sock, SO_RCVBUF, 1, level=0)[0]
        out["keepalive_typo"] = set_option(sock, SO_KEEPALIVE, 1, level=0xFFFE)[0]
        # At IPPROTO_TCP, 8 is some TCP option the mock does not model (TCP_ATMARK): unknown.
        out["keepalive_tcp"] = set_option(sock, SO_KEEPALIVE, 1, level=IPPROTO_TCP)[0]
        out["nodelay_sol"] = get_option(sock, TCP_NODELAY, SOL_SOCKET)[0]  # SO_DEBUG

    m, out = run_on(CONN, body)
    assert out["rcvbuf_ip"] == out["keepalive_typo"] == STATUS_INVALID_PARAMETER
    assert out["keepalive_tcp"] == out["nodelay_sol"] == STATUS_NOT_SUPPORTED
    assert rule_ids(m) == ["wsk.option.bad_level"] * 2
    assert m.violations[0].objects["status_chosen_by"] == "fidelity:wsk.bad_option_call"


@pytest.mark.parametrize("args, status, rule", [
    # WskSetOption: InputSize, InputBuffer, OutputSize, OutputBuffer, OutputSizeReturned
    ((WskSetOption, 8, ULONG(1), 0, None, None), STATUS_INVALID_PARAMETER, "bad_input"),
    ((WskSetOption, 4, None, 0, None, None), STATUS_INVALID_PARAMETER, "bad_input"),
    ((WskSetOption, 4, 1, 0, None, None), STATUS_INVALID_PARAMETER, "bad_input"),
    ((WskSetOption, 4, b"\x01", 0, None, None), STATUS_INVALID_PARAMETER, "bad_input"),
    ((WskSetOption, 4, ULONG(1), 4, ULONG(), None), STATUS_INVALID_PARAMETER, "bad_output"),
    ((WskSetOption, 4, ULONG(1), 0, None, ULONG()), STATUS_INVALID_PARAMETER, "bad_output"),
    # WskGetOption
    ((WskGetOption, 4, ULONG(1), 4, ULONG(), None), STATUS_INVALID_PARAMETER, "bad_input"),
    ((WskGetOption, 0, None, 2, ULONG(), None), STATUS_BUFFER_TOO_SMALL, "bad_output"),
    ((WskGetOption, 0, None, 8, ULONG(), None), STATUS_INVALID_PARAMETER, "bad_output"),
    ((WskGetOption, 0, None, 4, None, None), STATUS_INVALID_PARAMETER, "bad_output"),
    ((WskGetOption, 0, None, 4, b"\0\0\0\0", None), STATUS_INVALID_PARAMETER, "bad_output"),
    ((WskGetOption, 0, None, 4, ULONG(), ULONG()), STATUS_INVALID_PARAMETER, "bad_output"),
], ids=["set-size", "set-null", "set-int", "set-short", "set-output", "set-returned",
        "get-input", "get-small", "get-large", "get-null", "get-readonly", "get-returned"])
def test_call_shape_refusals_complete_the_irp(args: tuple, status: int, rule: str) -> None:
    request, in_size, in_buf, out_size, out_buf, returned = args

    def body(sock: Any, out: dict) -> None:
        out["result"] = sync_call(sock.Dispatch.WskControlSocket, sock, request, SO_KEEPALIVE,
                                  SOL_SOCKET, in_size, in_buf, out_size, out_buf, returned)
        out["after"] = get_option(sock, SO_KEEPALIVE)[2]

    m, out = run_on(CONN, body)
    assert out["result"] == (status, 0)  # the IRP completed with the refusal
    assert out["after"] == 0
    assert rule_ids(m) == [f"wsk.option.{rule}"]


# ---------------------------------------------------------------------- category, bind


@pytest.mark.parametrize("code, level, flags", [
    (SO_KEEPALIVE, SOL_SOCKET, DGRAM),
    (SO_BROADCAST, SOL_SOCKET, CONN),
    (SO_BROADCAST, SOL_SOCKET, LISTEN),
    (SO_CONDITIONAL_ACCEPT, SOL_SOCKET, CONN),
    (SO_RCVBUF, SOL_SOCKET, WSK_FLAG_BASIC_SOCKET),
    (TCP_NODELAY, IPPROTO_TCP, DGRAM),
], ids=["keepalive-dgram", "broadcast-conn", "broadcast-listen", "condaccept-conn",
        "rcvbuf-basic", "nodelay-dgram"])
def test_option_on_a_category_it_does_not_apply_to(code: int, level: int, flags: int) -> None:
    def body(sock: Any, out: dict) -> None:
        out["set"] = set_option(sock, code, 1, level)
        out["get"] = get_option(sock, code, level)

    m, out = run_on(flags, body)
    assert out["set"] == (STATUS_NOT_SUPPORTED, 0)
    assert out["get"][:2] == (STATUS_NOT_SUPPORTED, 0)
    assert rule_ids(m) == ["wsk.option.wrong_category"] * 2
    assert m.violations[0].objects["status_chosen_by"] == "fidelity:wsk.option_wrong_category"


@pytest.mark.parametrize("code, level", [
    (SO_EXCLUSIVEADDRUSE, SOL_SOCKET),
    (SO_REUSEADDR, SOL_SOCKET),
    (SO_CONDITIONAL_ACCEPT, SOL_SOCKET),
    (IPV6_V6ONLY, IPPROTO_IPV6),
], ids=["exclusiveaddruse", "reuseaddr", "conditional-accept", "v6only"])
def test_before_bind_options_refused_after_bind(code: int, level: int) -> None:
    def body(sock: Any, out: dict) -> None:
        bind(sock, 81)
        out["set"] = set_option(sock, code, 0 if code == SO_CONDITIONAL_ACCEPT else 1, level)
        out["get"] = get_option(sock, code, level)[0]
        out["keepalive"] = set_option(sock, SO_KEEPALIVE, 1)[0]  # no before-bind rule

    m, out = run_on(LISTEN, body)
    assert out["set"] == (STATUS_INVALID_DEVICE_STATE, 0)
    assert out["get"] == STATUS_SUCCESS, "reading is fine after bind"
    assert out["keepalive"] == STATUS_SUCCESS
    assert rule_ids(m) == ["wsk.option.set_after_bind"]
    violation = m.violations[0]
    assert violation.objects["status_chosen_by"] == "fidelity:wsk.option_after_bind"
    assert "before the socket is bound" in violation.rule.doc


def test_connected_socket_is_bound_already() -> None:
    def body(app: Any, out: dict) -> None:
        _, sock = socket_connect(app, None, None)
        out["close"].append(sock)
        out["reuse"] = set_option(sock, SO_REUSEADDR, 1)[0]
        out["keepalive"] = set_option(sock, SO_KEEPALIVE, 1)[0]
        out["inherited"] = get_option(sock, SO_RCVBUF)[2]

    m, out = run_wsk(body, setup=listening_peer)
    assert out["reuse"] == STATUS_INVALID_DEVICE_STATE
    assert out["keepalive"] == STATUS_SUCCESS
    assert out["inherited"] == 64 * 1024
    assert rule_ids(m) == ["wsk.option.set_after_bind"]


# ---------------------------------------------------------------------- value checks


def test_reuseaddr_and_exclusiveaddruse_exclude_each_other() -> None:
    def body(sock: Any, out: dict) -> None:
        set_option(sock, SO_EXCLUSIVEADDRUSE, 1)
        out["reuse"] = set_option(sock, SO_REUSEADDR, 1)
        out["reuse_off"] = set_option(sock, SO_REUSEADDR, 0)[0]
        out["values"] = (get_option(sock, SO_REUSEADDR)[2],
                         get_option(sock, SO_EXCLUSIVEADDRUSE)[2])
        set_option(sock, SO_EXCLUSIVEADDRUSE, 0)
        out["now"] = set_option(sock, SO_REUSEADDR, 1)[0]

    m, out = run_on(LISTEN, body)
    assert out["reuse"] == (STATUS_INVALID_PARAMETER, 0)
    assert out["reuse_off"] == STATUS_SUCCESS
    assert out["values"] == (0, 1)
    assert out["now"] == STATUS_SUCCESS
    assert rule_ids(m) == []


def test_enabling_conditional_accept_is_refused_as_unsupported() -> None:
    def body(sock: Any, out: dict) -> None:
        out["enable"] = set_option(sock, SO_CONDITIONAL_ACCEPT, 1)
        out["value"] = get_option(sock, SO_CONDITIONAL_ACCEPT)[2]

    m, out = run_on(LISTEN, body)
    assert out["enable"] == (STATUS_NOT_SUPPORTED, 0)
    assert out["value"] == 0
    assert rule_ids(m) == []


@pytest.mark.parametrize("code", [SO_SNDBUF, SO_WSK_SECURITY])
def test_unmodelled_options_stay_unknown(code: int) -> None:
    def body(sock: Any, out: dict) -> None:
        out["set"] = set_option(sock, code, 1)[0]
        out["get"] = get_option(sock, code)[0]

    m, out = run_on(CONN, body)
    assert out["set"] == out["get"] == STATUS_NOT_SUPPORTED
    assert rule_ids(m) == []


# ---------------------------------------------------------------------- accepted sockets


def _listener(app: Any, out: dict, dispatch: Any = None) -> Any:
    _, listener = new_socket(app, LISTEN, None, dispatch)
    out["close"].append(listener)
    out["listener"] = listener
    out["sets"] = [set_option(listener, SO_KEEPALIVE, 1)[0],
                   set_option(listener, SO_RCVBUF, 8192)[0],
                   set_option(listener, TCP_NODELAY, 1, IPPROTO_TCP)[0],
                   set_option(listener, SO_EXCLUSIVEADDRUSE, 1)[0]]
    bind(listener, 80)
    return listener


def _one_connection(m: Any) -> None:
    net = wsk_state(m).network
    net.at(1_000_000, net.add_peer("10.0.0.2", 5000).connect, 80)


def _read_all(sock: Any) -> dict[str, int]:
    return {"keepalive": get_option(sock, SO_KEEPALIVE)[2],
            "rcvbuf": get_option(sock, SO_RCVBUF)[2],
            "nodelay": get_option(sock, TCP_NODELAY, IPPROTO_TCP)[2],
            "exclusive": get_option(sock, SO_EXCLUSIVEADDRUSE)[2]}


def test_socket_from_wskaccept_inherits_keepalive_rcvbuf_nodelay_as_at_arrival() -> None:
    def later(app: Any, out: dict) -> None:
        listener = out["listener"]
        # After the connection arrived: not what the accepted socket starts with.
        out["late"] = set_option(listener, SO_RCVBUF, 1000)[0]
        status, accepted = sync_call(listener.Dispatch.WskAccept, listener, 0, None, None,
                                     None, None)
        out["accept"] = status
        out["inherited"] = _read_all(accepted)
        out["override"] = set_option(accepted, SO_KEEPALIVE, 0)[0]
        out["overridden"] = get_option(accepted, SO_KEEPALIVE)[2]
        out["listener_after"] = get_option(listener, SO_KEEPALIVE)[2]
        close(accepted)

    m, out = run_wsk(_listener, setup=_one_connection, later=later)
    assert out["sets"] == [STATUS_SUCCESS] * 4
    assert (out["late"], out["accept"]) == (STATUS_SUCCESS, STATUS_SUCCESS)
    assert out["inherited"] == {"keepalive": 1, "rcvbuf": 8192, "nodelay": 1, "exclusive": 0}
    assert (out["override"], out["overridden"], out["listener_after"]) == (STATUS_SUCCESS, 0, 1)
    assert rule_ids(m) == []


def test_socket_from_accept_event_inherits_too() -> None:
    accepted: list[Any] = []

    def WskAcceptEvent(SocketContext: Any, Flags: int, LocalAddress: Any, RemoteAddress: Any,
                       AcceptSocket: Any, AcceptSocketContext: Any,
                       AcceptSocketDispatch: Any) -> int:
        if AcceptSocket is not None:
            accepted.append(AcceptSocket)
        return STATUS_SUCCESS

    def body(app: Any, out: dict) -> None:
        listener = _listener(app, out, WSK_CLIENT_LISTEN_DISPATCH(WskAcceptEvent))
        from test_wsk_support import enable_events

        enable_events(listener, WSK_EVENT_ACCEPT)

    def later(app: Any, out: dict) -> None:
        out["inherited"] = _read_all(accepted[0])
        close(accepted[0])

    m, out = run_wsk(body, setup=_one_connection, later=later)
    assert out["inherited"] == {"keepalive": 1, "rcvbuf": 8192, "nodelay": 1, "exclusive": 0}
    assert rule_ids(m) == []


def test_accepted_socket_of_a_listener_without_options_reads_defaults() -> None:
    def body(app: Any, out: dict) -> None:
        _, listener = new_socket(app, LISTEN)
        out["close"].append(listener)
        out["listener"] = listener
        bind(listener, 80)

    def later(app: Any, out: dict) -> None:
        listener = out["listener"]
        _, accepted = sync_call(listener.Dispatch.WskAccept, listener, 0, None, None, None,
                                None)
        out["values"] = _read_all(accepted)
        close(accepted)

    m, out = run_wsk(body, setup=_one_connection, later=later)
    assert out["values"] == {"keepalive": 0, "rcvbuf": 64 * 1024, "nodelay": 0, "exclusive": 0}


# ---------------------------------------------------------------------- shipped scenarios

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios" / "wsk" / "options"

# scenario file -> (rules it must report, metrics that must hold exactly)
EXPECTED: dict[str, tuple[set[str], dict[str, float]]] = {
    "keepalive_echo_server": (set(), {"driver.listener_keepalive": 1,
                                      "driver.listener_exclusive": 1,
                                      "driver.keepalive_inherited": 2,
                                      "driver.option_failures": 0,
                                      "driver.bytes_echoed": 4024, "wsk.sockets_open": 0}),
    "zoo_exclusiveaddruse_after_bind": ({"wsk.option.set_after_bind"},
                                        {"driver.listener_exclusive": 0,
                                         "driver.listener_keepalive": 1,
                                         "driver.keepalive_inherited": 1}),
}


def test_every_options_scenario_is_listed_here() -> None:
    assert {p.stem for p in SCENARIOS.glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_options_scenario(name: str) -> None:
    from harness.runner import run_scenario
    from harness.scenario import load_scenario

    result = run_scenario(load_scenario(SCENARIOS / f"{name}.yaml"))
    wanted_rules, metrics = EXPECTED[name]
    assert result.passed, [f"{f.what}: {f.message} (line {f.line})" for f in result.failures]
    assert {v.rule.id for v in result.violations} == wanted_rules
    for metric, value in metrics.items():
        assert result.metrics[metric] == value, metric
