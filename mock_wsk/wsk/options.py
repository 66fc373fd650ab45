"""WSK socket options beyond SO_WSK_EVENT_CALLBACK: the option table, its checks, the values.

``WskControlSocket(Socket, WskSetOption | WskGetOption, Option, Level, ...)`` for the options the
WDK documents for WSK (the "WSK Socket Options" page lists SO_BROADCAST, SO_CONDITIONAL_ACCEPT,
SO_EXCLUSIVEADDRUSE, SO_KEEPALIVE, SO_RCVBUF, SO_REUSEADDR, SO_WSK_EVENT_CALLBACK and
SO_WSK_SECURITY) and two protocol options drivers routinely set (TCP_NODELAY, IPV6_V6ONLY;
fidelity ``wsk.protocol_options``). SO_WSK_SECURITY needs WSK_CACHE_SD security descriptors and
SO_SNDBUF is no WSK option (WSK does not buffer sends): both stay ``wsk.unknown_option``.

Every modelled option takes a ULONG: WskSetOption reads it from ``InputBuffer`` (a ``ULONG()``
box or 4 little-endian bytes), WskGetOption writes it to ``OutputBuffer`` (a ``ULONG()`` box or
a writable buffer) and completes the IRP with ``IoStatus.Information = sizeof(ULONG)``.

The checks run in this order, each refusal reporting its rule and answering the status
:mod:`mock_wsk.fidelity` chose: the IRP the docs require, Level, the input parameters, the
output parameters, the socket category, before-bind, then what the value may do.

Values live in :class:`SocketOptions` (``m.subsystem``), keyed by socket id and made only for a
socket that sets an option: an idle connection pays nothing (the 2 KiB budget).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from mock_wsk import fidelity
from mock_wsk.constants import SOL_SOCKET, WskSetOption
from mock_wsk.kernel.types import Out
from mock_wsk.status import STATUS_SUCCESS
from mock_wsk.wsk.core import Wsk
from mock_wsk.wsk.sockets import WSK_SOCKET
from mock_wsk.wsk.states import Category, State
from mock_wsk.wsk.structs import IPPROTO_TCP, IPPROTO_UDP

# --- numbers (MS SDK 10.0.16299 ws2def.h / ws2ipdef.h as mirrored in tpn/winsdk-10; ReactOS
# psdk/ws2def.h agrees). Not in shared/reference/wsk_abi.yaml, so they live here rather than in
# mock_wsk.constants, whose test admits only names the reference defines.
IPPROTO_IP: Final = 0  # ws2def.h: "required for backwards compatability ... 0 = IP" level
IPPROTO_IPV6: Final = 41  # ws2def.h IPPROTO enum: IPv6 header
SO_REUSEADDR: Final = 0x0004  # ws2def.h: allow local address reuse
SO_KEEPALIVE: Final = 0x0008  # ws2def.h: keep connections alive
SO_BROADCAST: Final = 0x0020  # ws2def.h: permit sending of broadcast msgs
# ws2def.h: ``((int)(~SO_REUSEADDR))`` = -5; as WskControlSocket's ULONG ControlCode 0xFFFFFFFB
# (the provider compares ControlCode & 0xFFFFFFFF, so both spellings work).
SO_EXCLUSIVEADDRUSE: Final = ~SO_REUSEADDR
SO_RCVBUF: Final = 0x1002  # ws2def.h: receive buffer size
SO_CONDITIONAL_ACCEPT: Final = 0x3002  # ws2def.h: enable true conditional accept
TCP_NODELAY: Final = 0x0001  # ws2def.h: options at the IPPROTO_TCP level
IPV6_V6ONLY: Final = 27  # ws2ipdef.h: options at the IPPROTO_IPV6 level

SIZEOF_ULONG: Final = 4  # the same on x86 and x64 (LLP64 / ILP32)
ULONG_MASK: Final = 0xFFFFFFFF

NO_IRP: Final = -1  # the status marker control.WskControlSocket turns into irp_required_missing

_ALL = frozenset({Category.LISTEN, Category.DATAGRAM, Category.CONNECTION, Category.STREAM})
_LISTEN_CONN = frozenset({Category.LISTEN, Category.CONNECTION, Category.STREAM})
_CATEGORY_WORDS = {
    _ALL: "listening, datagram and connection-oriented sockets",
    _LISTEN_CONN: "listening and connection-oriented sockets",
    frozenset({Category.DATAGRAM}): "datagram sockets",
    frozenset({Category.LISTEN, Category.STREAM}): "listening sockets",
}


@dataclass(frozen=True, slots=True)
class SocketOption:
    """One modelled option: where it is defined, who may use it, and how it behaves."""

    name: str
    level: int
    code: int  # ControlCode as the ULONG the provider sees
    categories: frozenset[Category]  # stream sockets: both roles (wsk.option_stream_sockets)
    default: int | str  # the value, or the fidelity choice that holds it
    before_bind: bool = False  # "must do so before the socket is bound"
    irp_required: bool = True  # "must specify a pointer to an IRP"
    boolean: bool = True  # 0/1 state (wsk.option_boolean_values); else a ULONG quantity
    inherited: bool = False  # accepted sockets start with the listener's value
    source: str = ""

    def default_value(self) -> int:
        default = self.default
        return int(fidelity.choose(default)) if isinstance(default, str) else default


OPTIONS: Final[tuple[SocketOption, ...]] = (
    SocketOption("SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, _LISTEN_CONN, 0, inherited=True,
                 source="WDK network/so-keepalive"),
    SocketOption("SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR, _ALL, 0, before_bind=True,
                 source="WDK network/so-reuseaddr"),
    SocketOption("SO_EXCLUSIVEADDRUSE", SOL_SOCKET, SO_EXCLUSIVEADDRUSE & ULONG_MASK, _ALL, 0,
                 before_bind=True, source="WDK network/so-exclusiveaddruse"),
    SocketOption("SO_RCVBUF", SOL_SOCKET, SO_RCVBUF, _ALL, "wsk.default_rcvbuf", boolean=False,
                 inherited=True, source="WDK network/so-rcvbuf"),
    SocketOption("SO_BROADCAST", SOL_SOCKET, SO_BROADCAST, frozenset({Category.DATAGRAM}), 0,
                 source="WDK network/so-broadcast"),
    SocketOption("SO_CONDITIONAL_ACCEPT", SOL_SOCKET, SO_CONDITIONAL_ACCEPT,
                 frozenset({Category.LISTEN, Category.STREAM}), 0, before_bind=True,
                 source="WDK network/so-conditional-accept"),
    SocketOption("TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, _LISTEN_CONN, 0, irp_required=False,
                 inherited=True, source="Winsock IPPROTO_TCP socket options; "
                 "fidelity wsk.protocol_options"),
    SocketOption("IPV6_V6ONLY", IPPROTO_IPV6, IPV6_V6ONLY, _ALL, 1, before_bind=True,
                 irp_required=False, source="Winsock 'Dual-Stack Sockets'; "
                 "fidelity wsk.protocol_options"),
)

_BY_KEY: Final[dict[tuple[int, int], SocketOption]] = {(o.level, o.code): o for o in OPTIONS}
_BY_CODE: Final[dict[int, SocketOption]] = {o.code: o for o in OPTIONS}
# Levels a driver may legitimately name with a small option number (ws2ipdef.h numbers its IP,
# IPv6, TCP and UDP options below 0x100): there a code such as 4 or 8 is some protocol option
# the mock does not model (IP_TTL, TCP_ATMARK...), not a mistaken Level.
_PROTOCOL_LEVELS: Final = frozenset({SOL_SOCKET, IPPROTO_IP, IPPROTO_TCP, IPPROTO_UDP,
                                     IPPROTO_IPV6})


class SocketOptions:
    """Per-machine option values (``m.subsystem(SocketOptions)``).

    ``values``: socket id -> option -> value, only for sockets that set an option.
    ``history``: listener id -> (listener, [(first socket id created after the change, the
    listener's inheritable values then)]): what a socket accepted later starts with, so the
    inheritance is the listener's state when the connection arrived (wsk.option_inheritance).
    """

    __slots__ = ("values", "history")

    def __init__(self, machine: Any) -> None:
        self.values: dict[int, dict[SocketOption, int]] = {}
        self.history: dict[int, tuple[WSK_SOCKET, list[tuple[int, dict[SocketOption, int]]]]] = {}

    def own(self, w: Wsk, sock: WSK_SOCKET) -> dict[SocketOption, int]:
        table = self.values.get(sock.id)
        if table is None:
            if len(self.values) > 2 * len(w.sockets) + 64:  # drop closed sockets' tables
                self.values = {sid: t for sid, t in self.values.items() if sid in w.sockets}
            table = self.values[sock.id] = {}
        return table

    def value(self, w: Wsk, sock: WSK_SOCKET, option: SocketOption) -> int:
        table = self.values.get(sock.id)
        if table is not None and option in table:
            return table[option]
        if option.inherited:
            inherited = self.inherited(w, sock)
            if option in inherited:
                return inherited[option]
        return option.default_value()

    def inherited(self, w: Wsk, sock: WSK_SOCKET) -> dict[SocketOption, int]:
        """The listener's inheritable values when ``sock`` was accepted ({} if none)."""
        peer = sock.peer
        if sock.category is not Category.CONNECTION or peer is None or peer.listen \
                or sock.local is None:
            return {}  # not accepted: made by WskSocket / WskSocketConnect
        port = sock.local.sin_port
        # The listener: the newest listening socket on that port older than ``sock`` (a
        # listener that set no inheritable option has no history, hence nothing to give).
        best: WSK_SOCKET | None = None
        current = w.network.listeners.get(port)
        if current is not None and current.id < sock.id:
            best = current
        for listener, _ in self.history.values():
            local = listener.local
            if local is not None and local.sin_port == port and listener.id < sock.id \
                    and (best is None or listener.id > best.id):
                best = listener
        if best is None or best.id not in self.history:
            return {}
        found: dict[SocketOption, int] = {}
        for first_id, snapshot in self.history[best.id][1]:
            if first_id > sock.id:
                break
            found = snapshot
        return found

    def note_listener_change(self, w: Wsk, sock: WSK_SOCKET) -> None:
        table = self.values.get(sock.id, {})
        snapshot = {option: value for option, value in table.items() if option.inherited}
        entry = self.history.get(sock.id)
        if entry is None:
            entry = self.history[sock.id] = (sock, [])
        entry[1].append((w.next_socket_id, snapshot))


def lookup(level: int, code: int) -> SocketOption | None:
    return _BY_KEY.get((level & ULONG_MASK, code & ULONG_MASK))


def _read_ulong(buffer: Any) -> int | None:
    if isinstance(buffer, Out):
        value = buffer.value
        if isinstance(value, int):
            return value & ULONG_MASK
        return None
    if isinstance(buffer, bytes | bytearray | memoryview) and len(buffer) >= SIZEOF_ULONG:
        return int.from_bytes(bytes(buffer[:SIZEOF_ULONG]), "little")
    return None


def _writable(buffer: Any) -> bool:
    if isinstance(buffer, Out):
        return True
    if isinstance(buffer, bytearray) and len(buffer) >= SIZEOF_ULONG:
        return True
    return isinstance(buffer, memoryview) and not buffer.readonly and \
        buffer.nbytes >= SIZEOF_ULONG


def _write_ulong(buffer: Any, value: int) -> None:
    if isinstance(buffer, Out):
        buffer.value = value
    else:
        buffer[:SIZEOF_ULONG] = value.to_bytes(SIZEOF_ULONG, "little")


def _store_returned(returned: Any, count: int) -> None:
    if isinstance(returned, Out):
        returned.value = count


def _refuse(w: Wsk, sock: WSK_SOCKET, rule: str, message: str,
            choice: str) -> tuple[int, int]:
    w.m.report(rule, f"{message} (socket #{sock.id}, {sock.category.value})",
               objects={"socket": sock.id, "status_chosen_by": fidelity.cite(choice)})
    return int(fidelity.choose(choice)), 0


def socket_option(w: Wsk, sock: WSK_SOCKET, request: int, code: int, level: int,
                  input_size: int, input_buffer: Any, output_size: int, output_buffer: Any,
                  output_size_returned: Any, irp: Any) -> tuple[int, int] | None:
    """WskSetOption / WskGetOption: (status, IoStatus.Information), ``(NO_IRP, 0)`` when a
    required IRP is missing, or None for an option the mock does not model."""
    option = lookup(level, code)
    setting = request == WskSetOption
    verb = "WskSetOption" if setting else "WskGetOption"
    if option is None:
        meant = _BY_CODE.get(code & ULONG_MASK)
        if meant is not None and ((code & ULONG_MASK) >= 0x100
                                  or (level & ULONG_MASK) not in _PROTOCOL_LEVELS):
            return _refuse(w, sock, "wsk.option.bad_level",
                           f"{verb} {meant.name} with Level {level:#x}; it is defined at "
                           f"Level {meant.level:#x}", "wsk.bad_option_call")
        return None
    name = f"{verb} {option.name}"
    if irp is None and option.irp_required:
        w.m.report("wsk.option.irp_required", f"{name} on socket #{sock.id} without an IRP",
                   objects={"socket": sock.id,
                            "status_chosen_by": fidelity.cite("wsk.irp_required_missing")})
        return NO_IRP, 0
    refused = (_check_set_shape if setting else _check_get_shape)(
        w, sock, option, name, input_size, input_buffer, output_size, output_buffer,
        output_size_returned, irp)
    if refused is not None:
        return refused
    if sock.category not in option.categories:
        return _refuse(w, sock, "wsk.option.wrong_category",
                       f"{name}: the option applies only to "
                       f"{_CATEGORY_WORDS[option.categories]}", "wsk.option_wrong_category")
    store = w.m.subsystem(SocketOptions)
    if not setting:
        value = store.value(w, sock, option)
        _write_ulong(output_buffer, value)
        if irp is None:
            _store_returned(output_size_returned, SIZEOF_ULONG)
        if w.m.trace is not None:
            w.m.emit("wsk.option.get", sock.id, option.name, value)
        return STATUS_SUCCESS, SIZEOF_ULONG
    if option.before_bind and sock.state >= State.BOUND:
        return _refuse(w, sock, "wsk.option.set_after_bind",
                       f"{name} on a socket that is {sock.state.name.lower()}; it must be set "
                       "before the socket is bound", "wsk.option_after_bind")
    raw = _read_ulong(input_buffer)
    assert raw is not None  # _check_set_shape made sure
    value = (1 if raw else 0) if option.boolean else raw
    if value and option.name in ("SO_REUSEADDR", "SO_EXCLUSIVEADDRUSE"):
        other = _BY_CODE[(SO_EXCLUSIVEADDRUSE if option.code == SO_REUSEADDR
                          else SO_REUSEADDR) & ULONG_MASK]
        if store.value(w, sock, other):
            return int(fidelity.choose("wsk.option_reuse_conflict")), 0
    if value and option.code == SO_CONDITIONAL_ACCEPT:
        return int(fidelity.choose("wsk.conditional_accept")), 0
    store.own(w, sock)[option] = value
    if option.inherited and sock.category in (Category.LISTEN, Category.STREAM):
        store.note_listener_change(w, sock)
    if irp is None:
        _store_returned(output_size_returned, 0)
    if w.m.trace is not None:
        w.m.emit("wsk.option.set", sock.id, option.name, value)
    return STATUS_SUCCESS, 0


def _check_set_shape(w: Wsk, sock: WSK_SOCKET, option: SocketOption, name: str,
                     input_size: int, input_buffer: Any, output_size: int, output_buffer: Any,
                     output_size_returned: Any, irp: Any) -> tuple[int, int] | None:
    bad = "wsk.bad_option_call"
    if input_size != SIZEOF_ULONG:
        return _refuse(w, sock, "wsk.option.bad_input",
                       f"{name} with InputSize {input_size}; it must be sizeof(ULONG) = "
                       f"{SIZEOF_ULONG}", bad)
    if input_buffer is None or _read_ulong(input_buffer) is None:
        what = "NULL" if input_buffer is None else f"a {type(input_buffer).__name__}"
        return _refuse(w, sock, "wsk.option.bad_input",
                       f"{name} with InputBuffer {what}; it must point to the ULONG value "
                       "(pass ULONG(value))", bad)
    returned_ok = output_size_returned is None or (irp is None and not option.irp_required)
    if output_size or output_buffer is not None or not returned_ok:
        return _refuse(w, sock, "wsk.option.bad_output",
                       f"{name} with OutputSize={output_size}, OutputBuffer={output_buffer!r}, "
                       f"OutputSizeReturned={output_size_returned!r}; all must be 0 / NULL", bad)
    return None


def _check_get_shape(w: Wsk, sock: WSK_SOCKET, option: SocketOption, name: str,
                     input_size: int, input_buffer: Any, output_size: int, output_buffer: Any,
                     output_size_returned: Any, irp: Any) -> tuple[int, int] | None:
    bad = "wsk.bad_option_call"
    if input_size or input_buffer is not None:
        return _refuse(w, sock, "wsk.option.bad_input",
                       f"{name} with InputSize={input_size}, InputBuffer={input_buffer!r}; "
                       "both must be 0 / NULL", bad)
    if output_size != SIZEOF_ULONG:
        choice = "wsk.option_buffer_too_small" if output_size < SIZEOF_ULONG else bad
        return _refuse(w, sock, "wsk.option.bad_output",
                       f"{name} with OutputSize {output_size}; it must be sizeof(ULONG) = "
                       f"{SIZEOF_ULONG}", choice)
    if output_buffer is None or not _writable(output_buffer):
        what = "NULL" if output_buffer is None else f"a {type(output_buffer).__name__}"
        return _refuse(w, sock, "wsk.option.bad_output",
                       f"{name} with OutputBuffer {what}; it must point to a ULONG that "
                       "receives the value (pass ULONG())", bad)
    if output_size_returned is not None and (irp is not None or option.irp_required):
        return _refuse(w, sock, "wsk.option.bad_output",
                       f"{name} with OutputSizeReturned {output_size_returned!r}; with an IRP "
                       "it must be NULL (IoStatus.Information receives the size)", bad)
    return None
