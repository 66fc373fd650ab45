"""WskControlSocket: SO_WSK_EVENT_CALLBACK (CONTRACTS A.1-A.7), the other socket options
(WskSetOption / WskGetOption, :mod:`mock_wsk.wsk.options`), SIO_WSK_* ioctls (B.12), and
SIO_WSK_REGISTER_EXTENSION with the mock's sample extension interface.

The SO_WSK_EVENT_CALLBACK checks run in the order the seed page states its rules: call shape
(Level, InputSize, output parameters, A.5), NpiId (A.5), the flags (A.1, A.4 "one at a time"),
the socket's state (A.2), then what enabling (A.3) or disabling (A.4, A.6, A.7) may do. Each
refusal reports its rule and answers with the status :mod:`mock_wsk.fidelity` chose for it.
"""

from __future__ import annotations

from typing import Any

from mock_wsk import fidelity
from mock_wsk.abi import GUID, parse_event_callback_control, pointer_size, sizeof
from mock_wsk.constants import (
    NPI_WSK_INTERFACE_ID,
    SIO_WSK_QUERY_IDEAL_SEND_BACKLOG,
    SIO_WSK_QUERY_RECEIVE_BACKLOG,
    SIO_WSK_REGISTER_EXTENSION,
    SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET,
    WSK_EVENT_DISABLE,
    WSK_EVENT_RECEIVE,
    WSK_EVENT_RECEIVE_FROM,
    WskGetOption,
    WskIoctl,
    WskSetOption,
)
from mock_wsk.kernel.irp import irp_begin, irp_complete
from mock_wsk.kernel.types import Out
from mock_wsk.status import (
    NT_SUCCESS,
    STATUS_BUFFER_TOO_SMALL,
    STATUS_EVENT_PENDING,
    STATUS_INVALID_PARAMETER,
    STATUS_PENDING,
    STATUS_SUCCESS,
    status_name,
)
from mock_wsk.wsk.core import Wsk
from mock_wsk.wsk.dispatch import PING, deliver, pump_datagrams, pump_receive
from mock_wsk.wsk.events import DisableOutcome
from mock_wsk.wsk.options import NO_IRP, socket_option
from mock_wsk.wsk.requests import _enter, bad_state
from mock_wsk.wsk.sockets import WSK_SOCKET
from mock_wsk.wsk.states import (
    CALLBACK_OF_EVENT,
    CONNECTION_EVENTS,
    VALID_EVENTS_BY_NAME,
    Category,
    State,
    events_ready,
    is_listening_role,
)
from mock_wsk.wsk.structs import (
    NPI_MOCK_WSK_EXTENSION_ID,
    WSK_EVENT_CALLBACK_CONTROL,
    WSK_MOCK_EXTENSION_EVENT_PING,
)

# Where the mock "places" NPI ids, for drivers that pack WSK_EVENT_CALLBACK_CONTROL as raw bytes
# (abi.pack_event_callback_control(addressof(NPI_WSK_INTERFACE_ID), mask, arch)). Addresses fit
# a 32-bit pointer so the same value works on x86 and x64.
_ADDRESSES: dict[GUID, int] = {}
_BY_ADDRESS: dict[int, GUID] = {}


def addressof(npi_id: GUID) -> int:
    """``&NPI_ID``: a stable fake kernel address for an NPI id (ctypes-style name)."""
    address = _ADDRESSES.get(npi_id)
    if address is None:
        address = 0x8000_1000 + 0x10 * len(_ADDRESSES)
        _ADDRESSES[npi_id] = address
        _BY_ADDRESS[address] = npi_id
    return address


addressof(NPI_WSK_INTERFACE_ID)
addressof(NPI_MOCK_WSK_EXTENSION_ID)

# The mock extension's events: NPI id -> its event flags.
EXTENSION_EVENTS: dict[GUID, int] = {NPI_MOCK_WSK_EXTENSION_ID: WSK_MOCK_EXTENSION_EVENT_PING}


def WskControlSocket(Socket: Any, RequestType: int, ControlCode: int, Level: int,
                     InputSize: int, InputBuffer: Any, OutputSize: int, OutputBuffer: Any,
                     OutputSizeReturned: Any, Irp: Any) -> int:
    w = _enter(Socket, "WskControlSocket")
    if w is None:
        return int(fidelity.choose("wsk.after_close"))
    if Irp is not None and not irp_begin(w.m, Irp, "WskControlSocket"):
        return int(fidelity.choose("wsk.bad_irp"))
    Socket.calls += 1
    try:
        if RequestType == WskSetOption and ControlCode == SO_WSK_EVENT_CALLBACK:
            status, info = _event_callback(w, Socket, Level, InputSize, InputBuffer,
                                           OutputSize, OutputBuffer, OutputSizeReturned, Irp)
        elif RequestType == WskIoctl:
            status, info = _ioctl(w, Socket, ControlCode, InputBuffer, OutputSize,
                                  OutputBuffer, OutputSizeReturned, Irp)
        else:
            answer = None
            if RequestType in (WskSetOption, WskGetOption):
                answer = socket_option(w, Socket, RequestType, ControlCode, Level, InputSize,
                                       InputBuffer, OutputSize, OutputBuffer,
                                       OutputSizeReturned, Irp)
            status, info = (answer if answer is not None
                            else (int(fidelity.choose("wsk.unknown_option")), 0))
    finally:
        Socket.calls -= 1
    if status == _NO_IRP:
        return int(fidelity.choose("wsk.irp_required_missing"))
    if Irp is None or status == STATUS_PENDING:
        return status  # no IRP to complete, or it completes later (a pending disable)
    if info is _SYNC or not NT_SUCCESS(status):
        # SO_WSK_EVENT_CALLBACK answers at once, and refusals complete the IRP (C.17).
        irp_complete(w.m, Irp, status, 0, pending_returned=False)
        return status
    return w.finish(Irp, status, info)


_SYNC: Any = object()  # information marker: complete the IRP inline (event callback control)
_NO_IRP = NO_IRP  # an IRP-required request came without one (reported; the IRP cannot complete)


# ---------------------------------------------------------------------- SO_WSK_EVENT_CALLBACK


def _refuse(w: Wsk, sock: WSK_SOCKET, rule: str, message: str, choice: str) -> tuple[int, Any]:
    w.m.report(rule, f"{message} (socket #{sock.id}, {sock.category.value})",
               objects={"socket": sock.id, "status_chosen_by": fidelity.cite(choice)})
    return int(fidelity.choose(choice)), _SYNC


def _parse(w: Wsk, sock: WSK_SOCKET, InputSize: int,
           InputBuffer: Any) -> tuple[GUID | None, int] | str:
    """(NpiId, EventMask), or the reason the input is malformed."""
    arch = w.m.arch
    expected = sizeof("WSK_EVENT_CALLBACK_CONTROL", arch)
    if InputBuffer is None:
        return "InputBuffer is NULL"
    if InputSize != expected:
        return (f"InputSize {InputSize}; sizeof(WSK_EVENT_CALLBACK_CONTROL) is {expected} on "
                f"{arch}")
    if isinstance(InputBuffer, WSK_EVENT_CALLBACK_CONTROL):
        return InputBuffer.NpiId, int(InputBuffer.EventMask)
    if isinstance(InputBuffer, bytes | bytearray | memoryview):
        try:
            address, mask = parse_event_callback_control(bytes(InputBuffer)[:expected], arch)
        except ValueError as exc:
            return f"InputBuffer does not hold a WSK_EVENT_CALLBACK_CONTROL: {exc}"
        return _BY_ADDRESS.get(address), mask
    return f"InputBuffer is a {type(InputBuffer).__name__}, not a WSK_EVENT_CALLBACK_CONTROL"


def _is_wsk_npi(npi: GUID) -> bool:
    """``npi == NPI_WSK_INTERFACE_ID``, the identity test first: a driver nearly always passes
    the constant itself, and GUID's dataclass ``__eq__`` builds two tuples."""
    return npi is NPI_WSK_INTERFACE_ID or npi == NPI_WSK_INTERFACE_ID


def _valid_events(sock: WSK_SOCKET, npi: GUID, listener: bool) -> int | None:
    """The flags SO_WSK_EVENT_CALLBACK may name with this NpiId on this socket (A.1, A.5);
    None when the NpiId is neither the WSK one nor an extension's."""
    if _is_wsk_npi(npi):
        if sock.category is Category.STREAM:
            return VALID_EVENTS_BY_NAME["LISTEN" if listener else "CONNECTION"]
        return VALID_EVENTS_BY_NAME[sock.category._name_]
    if npi in EXTENSION_EVENTS:
        return EXTENSION_EVENTS[npi] if npi in sock.extensions else 0
    return None


def _event_callback(w: Wsk, sock: WSK_SOCKET, Level: int, InputSize: int, InputBuffer: Any,
                    OutputSize: int, OutputBuffer: Any, OutputSizeReturned: Any,
                    Irp: Any) -> tuple[int, Any]:
    bad = "wsk.bad_event_control"
    if Level != SOL_SOCKET:
        return _refuse(w, sock, "wsk.event.bad_input_size",
                       f"SO_WSK_EVENT_CALLBACK with Level {Level:#x}; it must be SOL_SOCKET", bad)
    parsed = _parse(w, sock, InputSize, InputBuffer)
    if isinstance(parsed, str):
        return _refuse(w, sock, "wsk.event.bad_input_size", parsed, bad)
    if OutputSize or OutputBuffer is not None or OutputSizeReturned is not None:
        return _refuse(w, sock, "wsk.event.bad_output_params",
                       f"SO_WSK_EVENT_CALLBACK with OutputSize={OutputSize}, OutputBuffer="
                       f"{OutputBuffer!r}, OutputSizeReturned={OutputSizeReturned!r}", bad)
    npi, mask = parsed
    # The socket's role, asked once: the valid flags, the state check and what enabling or
    # disabling a connection flag means all depend on it.
    listener = is_listening_role(sock.category, sock.state, sock.stream_listens)
    valid = _valid_events(sock, npi, listener) if npi is not None else None
    if npi is None or valid is None:
        return _refuse(w, sock, "wsk.event.bad_npi_id",
                       f"NpiId {npi} is neither NPI_WSK_INTERFACE_ID nor a registered "
                       "extension's id", bad)
    flags = mask & ~WSK_EVENT_DISABLE
    disable = bool(mask & WSK_EVENT_DISABLE)
    state = sock.state
    result = (_disable(w, sock, flags, valid, listener, Irp) if disable
              else _enable(w, sock, npi, flags, valid, listener, Irp))
    coverage = w.m.coverage
    if coverage is not None:
        _cover_control(coverage, sock, state, disable, flags, result[0])
    return result


# An event mask -> its callbacks' names joined with "|" (the coverage pair's flag names), and a
# status -> its name without "STATUS_" (the pair's outcome): made once per mask or status rather
# than on every enable and disable of an exploration. The statuses are the provider's own
# answers (a handful); the masks are the driver's, hence the bound.
_MASK_NAMES: dict[int, str] = {}
_OUTCOMES: dict[int, str] = {}


def _cover_control(coverage: set[Any], sock: WSK_SOCKET, state: State, disable: bool,
                   flags: int, status: int) -> None:
    """``("wsk", category, state, "enable"/"disable", flag name, outcome)``: the outcome is the
    status without its ``STATUS_`` prefix (SUCCESS, PENDING, EVENT_PENDING or a refusal)."""
    names = _MASK_NAMES.get(flags)
    if names is None:
        names = "|".join(CALLBACK_OF_EVENT.get(flag, f"{flag:#x}") for flag in _bits(flags))
        names = names or "0"
        if len(_MASK_NAMES) < 1024:  # a driver passing random masks: stay bounded
            _MASK_NAMES[flags] = names
    outcome = _OUTCOMES.get(status)
    if outcome is None:
        outcome = _OUTCOMES[status] = status_name(status).removeprefix("STATUS_")
    # ``_value_``/``_name_``: the enum's ``value``/``name`` properties cost a descriptor call.
    coverage.add(("wsk", sock.category._value_, state._name_,
                  "disable" if disable else "enable", names, outcome))


def _check_flags_and_state(w: Wsk, sock: WSK_SOCKET, flags: int, valid: int,
                           listener: bool) -> tuple[int, Any] | None:
    if not flags or flags & ~valid:
        what = f"EventMask {flags:#x}" if flags else "EventMask without an event flag"
        extra = (" (a basic socket has events only for an extension interface it registered "
                 "with SIO_WSK_REGISTER_EXTENSION)" if sock.category is Category.BASIC else "")
        return _refuse(w, sock, "wsk.event.invalid_flag_for_category",
                       f"{what}; valid here: {valid:#x}{extra}", "wsk.invalid_event_flag")
    rule = events_ready(sock.category, sock.state, listener)
    if rule is not None:
        return _refuse(w, sock, rule, f"SO_WSK_EVENT_CALLBACK on a socket that is "
                       f"{sock.state.name.lower()}", "wsk.enable_before_bind")
    return None


def _enable(w: Wsk, sock: WSK_SOCKET, npi: GUID, flags: int, valid: int, listener: bool,
            Irp: Any) -> tuple[int, Any]:
    refused = _check_flags_and_state(w, sock, flags, valid, listener)
    if refused:
        return refused
    own = flags & ~CONNECTION_EVENTS if listener else flags
    # A.3: a NULL slot cannot be enabled (connection flags on a listener are checked against
    # the accept socket's dispatch table when a socket is accepted).
    wsk_npi = _is_wsk_npi(npi)
    for flag in _bits(own):
        if wsk_npi:
            slot = CALLBACK_OF_EVENT[flag]
            table = sock.client_dispatch
        else:
            slot, table = "WskMockPingEvent", sock.extensions.get(npi)
        if getattr(table, slot, None) is None:
            return _refuse(w, sock, "wsk.event.null_callback",
                           f"enabling {slot}, but the client dispatch table's {slot} is NULL",
                           "wsk.invalid_event_flag")
    if Irp is not None:
        w.m.report("wsk.event.enable_with_irp",
                   f"IRP passed when enabling events {flags:#x} on socket #{sock.id}; the mock "
                   "completes it", objects={"socket": sock.id})
    events = sock.events
    events.enable(own)
    if listener and flags & CONNECTION_EVENTS:
        events.enable_inherited(flags & CONNECTION_EVENTS)
    if w.m.trace is not None:
        w.m.emit("wsk.event.enable", sock.id, flags)
    if own & WSK_EVENT_RECEIVE:
        sock.paused = False  # fidelity wsk.receive_event_reindication
        pump_receive(w, sock)
    if own & WSK_EVENT_RECEIVE_FROM:
        sock.paused = False
        pump_datagrams(w, sock)
    return STATUS_SUCCESS, _SYNC


def _disable(w: Wsk, sock: WSK_SOCKET, flags: int, valid: int, listener: bool,
             Irp: Any) -> tuple[int, Any]:
    if flags.bit_count() != 1:  # bin(flags).count("1"), negative masks included
        return _refuse(w, sock, "wsk.event.disable_multiple_flags",
                       f"disable with EventMask {flags | WSK_EVENT_DISABLE:#x}: exactly one event "
                       "flag must accompany WSK_EVENT_DISABLE", "wsk.invalid_event_flag")
    refused = _check_flags_and_state(w, sock, flags, valid, listener)
    if refused:
        return refused
    events = sock.events
    if flags & events.static:
        return _refuse(w, sock, "wsk.event.disable_static",
                       f"disabling the statically enabled {CALLBACK_OF_EVENT.get(flags, flags)}",
                       "wsk.disable_static")
    if flags & CONNECTION_EVENTS and listener:
        if flags & events.inherited:
            return _refuse(w, sock, "wsk.event.disable_inherited_on_listener",
                           f"disabling {CALLBACK_OF_EVENT[flags]} on a listening socket after "
                           "enabling it there", "wsk.disable_inherited_on_listener")
        return int(fidelity.choose("wsk.disable_not_enabled")), _SYNC
    outcome = events.disable(flags, Irp)
    stats = w.stats.disables
    key = outcome._value_  # not the ``value`` property: a descriptor call, on every disable
    stats[key] = stats.get(key, 0) + 1
    if w.m.trace is not None:
        w.m.emit("wsk.event.disable", sock.id, flags, key)
    if outcome is DisableOutcome.SUCCESS:
        return STATUS_SUCCESS, _SYNC
    if outcome is DisableOutcome.PENDING:
        return STATUS_PENDING, 0  # the IRP completes when the last call in flight returns
    return STATUS_EVENT_PENDING, 0


def _bits(mask: int) -> list[int]:
    """The set bits of ``mask`` among the low 32, lowest first."""
    mask &= 0xFFFFFFFF
    out = []
    while mask:
        low = mask & -mask
        out.append(low)
        mask ^= low
    return out


# ---------------------------------------------------------------------- ioctls


def _store_size_t(w: Wsk, out: Any, size: int, value: int) -> bool:
    width = pointer_size(w.m.arch)
    if isinstance(out, Out):
        out.value = value
        return True
    if isinstance(out, bytearray) and len(out) >= width:
        out[:width] = value.to_bytes(width, "little")
        return True
    return False


def _ioctl(w: Wsk, sock: WSK_SOCKET, code: int, InputBuffer: Any, OutputSize: int,
           OutputBuffer: Any, OutputSizeReturned: Any, Irp: Any) -> tuple[int, Any]:
    if code in (SIO_WSK_QUERY_IDEAL_SEND_BACKLOG, SIO_WSK_QUERY_RECEIVE_BACKLOG):
        name = ("SIO_WSK_QUERY_IDEAL_SEND_BACKLOG" if code == SIO_WSK_QUERY_IDEAL_SEND_BACKLOG
                else "SIO_WSK_QUERY_RECEIVE_BACKLOG")
        if Irp is None:
            w.m.report("wsk.ioctl.irp_required", f"{name} on socket #{sock.id} without an IRP",
                       objects={"socket": sock.id,
                                "status_chosen_by": fidelity.cite("wsk.irp_required_missing")})
            return _NO_IRP, 0
        if sock.category not in (Category.CONNECTION, Category.STREAM) or \
                sock.state is not State.CONNECTED:
            return bad_state(w, sock, f"{name} on a {sock.category.value} socket that is "
                             f"{sock.state.name.lower()}; only connected sockets have one")
        width = pointer_size(w.m.arch)
        if OutputSize < width:
            return STATUS_BUFFER_TOO_SMALL, 0
        value = sock.transport.isb if code == SIO_WSK_QUERY_IDEAL_SEND_BACKLOG else sock.rx_bytes
        if not _store_size_t(w, OutputBuffer, OutputSize, value):
            return STATUS_INVALID_PARAMETER, 0
        return STATUS_SUCCESS, width
    if code == SIO_WSK_REGISTER_EXTENSION:
        return _register_extension(w, sock, InputBuffer, OutputBuffer)
    return int(fidelity.choose("wsk.unknown_ioctl")), 0


class WSK_MOCK_EXTENSION_PROVIDER_DISPATCH:
    """The provider side of the mock extension: ``WskMockExtensionPing(Socket)`` makes the
    provider call the client's WskMockPingEvent once (if that event is enabled)."""

    __slots__ = ("WskMockExtensionPing",)

    def __init__(self) -> None:
        self.WskMockExtensionPing = _ping


def _ping(Socket: Any) -> int:
    w = _enter(Socket, "WskMockExtensionPing")
    if w is None:
        return int(fidelity.choose("wsk.after_close"))
    if Socket.events.enabled & WSK_MOCK_EXTENSION_EVENT_PING:
        deliver(w, Socket, PING, None)
    return STATUS_SUCCESS


_EXTENSION_PROVIDER = WSK_MOCK_EXTENSION_PROVIDER_DISPATCH()


def _register_extension(w: Wsk, sock: WSK_SOCKET, control_in: Any,
                        control_out: Any) -> tuple[int, Any]:
    npi = getattr(control_in, "NpiId", None)
    if npi not in EXTENSION_EVENTS:
        return int(fidelity.choose("wsk.unknown_extension")), 0
    sock.extensions = {**sock.extensions, npi: control_in.ClientDispatch}  # shared until now
    sock.extension_events |= EXTENSION_EVENTS[npi]
    if control_out is not None:
        control_out.ProviderContext = sock
        control_out.ProviderDispatch = _EXTENSION_PROVIDER
    return STATUS_SUCCESS, 0

