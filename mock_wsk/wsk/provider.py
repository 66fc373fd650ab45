"""Registration and the client-level provider: WskRegister, WskCaptureProviderNPI,
WskReleaseProviderNPI, WskDeregister, and the WSK_PROVIDER_DISPATCH table (WskSocket,
WskSocketConnect, WskControlClient...).

WskCaptureProviderNPI waits (PASSIVE_LEVEL, virtual time) while the provider is not ready
(``WskSettings.provider_ready_at_ns``); WskDeregister blocks until every socket of the client is
closed and every capture released - a leaked socket hangs it, and the mock reports
``wsk.deregister.sockets_open`` with each open socket's creation site.
"""

from __future__ import annotations

from typing import Any

from mock_wsk import fidelity
from mock_wsk import machine as _machine
from mock_wsk.abi import parse_event_callback_control, sizeof
from mock_wsk.constants import (
    MAKE_WSK_VERSION,
    NPI_WSK_INTERFACE_ID,
    PASSIVE_LEVEL,
    WSK_EVENT_DISABLE,
    WSK_INFINITE_WAIT,
    WSK_NO_WAIT,
    WSK_SET_STATIC_EVENT_CALLBACKS,
    WSK_TRANSPORT_LIST_QUERY,
)
from mock_wsk.kernel.irp import irp_begin, irp_complete
from mock_wsk.kernel.irql import check_max_irql
from mock_wsk.kernel.sync import DispatcherObject, wait_for_objects
from mock_wsk.kernel.types import Out, store
from mock_wsk.status import (
    STATUS_DEVICE_NOT_READY,
    STATUS_INVALID_PARAMETER,
    STATUS_PENDING,
    STATUS_SUCCESS,
)
from mock_wsk.verifier import stub_location
from mock_wsk.wsk import rules as _rules  # noqa: F401
from mock_wsk.wsk import tables as _tables  # noqa: F401  (fills the socket dispatch tables)
from mock_wsk.wsk.control import _BY_ADDRESS
from mock_wsk.wsk.core import Wsk, traced_call
from mock_wsk.wsk.requests import connect_socket
from mock_wsk.wsk.sockets import WSK_SOCKET, open_socket
from mock_wsk.wsk.states import CALLBACK_OF_EVENT, CATEGORY_OF_FLAGS, Category, State
from mock_wsk.wsk.structs import (
    AF_INET,
    AF_INET6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    SOCK_DGRAM,
    SOCK_STREAM,
    WSK_EVENT_CALLBACK_CONTROL,
    WSK_TRANSPORT,
)

_ALL_STANDARD_EVENTS = 0
for _flag in CALLBACK_OF_EVENT:
    _ALL_STANDARD_EVENTS |= _flag


class WSK_CLIENT:
    """``PWSK_CLIENT``: what WskCaptureProviderNPI hands back as ``WskProviderNpi.Client``."""

    __slots__ = ("registration", "static_events", "sockets_created")

    def __init__(self, registration: Registration) -> None:
        self.registration = registration
        self.static_events = 0
        self.sockets_created = 0


class _DeregisterWait(DispatcherObject):
    """Signalled when the registration has no open socket and no capture left."""

    __slots__ = ("reg",)

    def __init__(self, reg: Registration) -> None:
        super().__init__("WskDeregister")
        self.reg = reg

    def is_signaled(self) -> bool:
        return not self.reg.sockets and not self.reg.captures


class _ProviderReady(DispatcherObject):
    __slots__ = ("w",)

    def __init__(self, w: Wsk) -> None:
        super().__init__("WSK provider NPI")
        self.w = w

    def is_signaled(self) -> bool:
        return self.w.m.now >= self.w.settings.provider_ready_at_ns


class Registration:
    """The mock's state behind a ``WSK_REGISTRATION``."""

    def __init__(self, w: Wsk, client_npi: Any, registered_at: Any) -> None:
        self.w = w
        self.client_npi = client_npi
        self.registered_at = registered_at
        self.client = WSK_CLIENT(self)
        self.captures = 0
        self.sockets: set[int] = set()
        self.deregistered = False
        self.waiter = _DeregisterWait(self)

    def socket_closed(self, sock_id: int) -> None:
        self.sockets.discard(sock_id)
        self._changed()

    def _changed(self) -> None:
        if self.waiter.waiters and self.waiter.is_signaled():
            self.waiter.signal_waiters(self.w.m)

    def describe_open(self) -> str:
        parts = [f"socket #{s.id} ({s.category.value}, created at {s.created_at})"
                 for s in self.w.all_sockets if s.id in self.sockets]
        if self.captures:
            parts.append(f"{self.captures} provider NPI capture(s)")
        return "; ".join(parts) or "nothing"


def _registration(WskRegistration: Any) -> Registration:
    reg = getattr(WskRegistration, "ReservedRegistrationContext", None)
    if not isinstance(reg, Registration):
        raise TypeError("WskRegistration was not initialised by WskRegister")
    return reg


def WskRegister(WskClientNpi: Any, WskRegistration: Any) -> int:
    m = _machine.active or _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "WskRegister", PASSIVE_LEVEL)
    w = m.subsystem(Wsk)
    reg = Registration(w, WskClientNpi, stub_location())
    WskRegistration.ReservedRegistrationContext = reg
    w.registrations.append(reg)
    m.emit("wsk.register")
    return STATUS_SUCCESS


def WskCaptureProviderNPI(WskRegistration: Any, WaitTimeout: int, WskProviderNpi: Any) -> int:
    m = _machine.active or _machine.active_machine()
    m.preemption_point()
    reg = _registration(WskRegistration)
    w = reg.w
    if reg.deregistered:
        return STATUS_DEVICE_NOT_READY
    if w.m.now < w.settings.provider_ready_at_ns:  # not ready: the object is made to wait on
        if WaitTimeout == WSK_NO_WAIT:
            return STATUS_DEVICE_NOT_READY
        ready = _ProviderReady(w)
        if not check_max_irql(m, "WskCaptureProviderNPI (with a wait)", PASSIVE_LEVEL):
            return STATUS_DEVICE_NOT_READY
        m.call_at(w.settings.provider_ready_at_ns, ready.signal_waiters, m)
        timeout = None if WaitTimeout == WSK_INFINITE_WAIT else -int(WaitTimeout) * 10_000
        wait_for_objects(m, (ready,), False, timeout, "WskCaptureProviderNPI")
        if not ready.is_signaled() or reg.deregistered:
            return int(fidelity.choose("wsk.capture_timeout"))
    WskProviderNpi.Client = reg.client
    WskProviderNpi.Dispatch = (WSK_PROVIDER_DISPATCH_TABLE if m.trace is not None
                               else _UNTRACED_PROVIDER_DISPATCH_TABLE)
    reg.captures += 1
    return STATUS_SUCCESS


def WskReleaseProviderNPI(WskRegistration: Any) -> None:
    m = _machine.active or _machine.active_machine()
    m.preemption_point()
    reg = _registration(WskRegistration)
    if reg.captures <= 0:
        m.report("wsk.npi.release_without_capture",
                 "WskReleaseProviderNPI without a matching successful WskCaptureProviderNPI")
        return
    reg.captures -= 1
    reg._changed()


def WskDeregister(WskRegistration: Any) -> None:
    """Blocks until every socket is closed and every capture released (C.18)."""
    m = _machine.active or _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "WskDeregister", PASSIVE_LEVEL)
    reg = _registration(WskRegistration)
    reg.deregistered = True
    if reg.waiter.is_signaled():
        return
    site = stub_location()
    reg.waiter.name = f"WskDeregister (open: {reg.describe_open()})"
    m.call_later(reg.w.settings.deregister_hang_ns, _deregister_hang, reg, m.now, site)
    wait_for_objects(m, (reg.waiter,), False, None, "WskDeregister")


def _deregister_hang(reg: Registration, since: int, site: Any) -> None:
    if reg.waiter.is_signaled():
        return
    m = reg.w.m
    open_sockets = [s for s in reg.w.all_sockets if s.id in reg.sockets]
    m.report(
        "wsk.deregister.sockets_open",
        f"WskDeregister (called at t={since} ns, {site}) is still blocked: "
        f"{reg.describe_open()}",
        objects={"wait_for": reg.describe_open(),
                 "hang_after_chosen_by": fidelity.cite("wsk.deregister_hang_ns")},
        location=open_sockets[0].created_at if open_sockets else site,
    )


# ---------------------------------------------------------------------- client-level requests


def _client(Client: Any) -> WSK_CLIENT:
    if not isinstance(Client, WSK_CLIENT):
        raise TypeError(f"expected the PWSK_CLIENT from WskCaptureProviderNPI, got {Client!r}")
    return Client


def _take_irp(w: Wsk, Irp: Any, ddi: str) -> int | None:
    """None when the IRP was taken; else the status to return (a rule was reported)."""
    if Irp is None:
        w.m.report("wsk.call.irp_required", f"{ddi} without an IRP",
                   objects={"status_chosen_by": fidelity.cite("wsk.irp_required_missing")})
        return int(fidelity.choose("wsk.irp_required_missing"))
    if not irp_begin(w.m, Irp, ddi):
        return int(fidelity.choose("wsk.bad_irp"))
    return None


def _new_socket(w: Wsk, client: WSK_CLIENT, category: Category, context: Any,
                dispatch: Any) -> WSK_SOCKET:
    m = w.m
    ctx = m.current
    home = ctx.cpu.index if ctx is not None and ctx.cpu is not None else 0
    client.sockets_created += 1
    sock = WSK_SOCKET(w, client, category, context, dispatch, stub_location(), home)
    static = sock.events.static
    if static:  # the client set WSK_SET_STATIC_EVENT_CALLBACKS: each slot must be there
        for flag in list(CALLBACK_OF_EVENT):
            if static & flag and getattr(dispatch, CALLBACK_OF_EVENT[flag], None) is None:
                m.report("wsk.event.null_callback",
                         f"static {CALLBACK_OF_EVENT[flag]} for socket #{sock.id}, whose "
                         f"dispatch table has no {CALLBACK_OF_EVENT[flag]}",
                         objects={"socket": sock.id})
                sock.events.enabled &= ~flag
    return sock


def WskSocket(Client: Any, AddressFamily: int, SocketType: int, Protocol: int, Flags: int,
              SocketContext: Any, Dispatch: Any, OwningProcess: Any, OwningThread: Any,
              SecurityDescriptor: Any, Irp: Any) -> int:
    m = _machine.active or _machine.active_machine()
    m.preemption_point()
    w = m.subsystem(Wsk)
    client = _client(Client)
    refused = _take_irp(w, Irp, "WskSocket")
    if refused is not None:
        return refused
    category = CATEGORY_OF_FLAGS.get(Flags)
    if category is None or AddressFamily not in (AF_INET, AF_INET6):
        return w.fail(Irp, STATUS_INVALID_PARAMETER)
    sock = _new_socket(w, client, category, SocketContext, Dispatch)
    open_socket(w, sock)
    m.emit("wsk.socket", sock.id, category.value)
    return w.finish(Irp, STATUS_SUCCESS, sock)


def WskSocketConnect(Client: Any, SocketType: int, Protocol: int, LocalAddress: Any,
                     RemoteAddress: Any, Flags: int, SocketContext: Any, Dispatch: Any,
                     OwningProcess: Any, OwningThread: Any, SecurityDescriptor: Any,
                     Irp: Any) -> int:
    """Create, bind and connect a connection socket; the IRP completes after the handshake
    with ``IoStatus.Information`` = the socket (or STATUS_CONNECTION_REFUSED)."""
    m = _machine.active or _machine.active_machine()
    m.preemption_point()
    w = m.subsystem(Wsk)
    client = _client(Client)
    refused = _take_irp(w, Irp, "WskSocketConnect")
    if refused is not None:
        return refused
    if RemoteAddress is None or SocketType != SOCK_STREAM:
        return w.fail(Irp, STATUS_INVALID_PARAMETER)
    sock = _new_socket(w, client, Category.CONNECTION, SocketContext, Dispatch)
    if not w.network.bind(sock, LocalAddress):
        from mock_wsk.status import STATUS_ADDRESS_ALREADY_EXISTS

        sock.state = State.CLOSED
        return w.fail(Irp, STATUS_ADDRESS_ALREADY_EXISTS)
    sock.state = State.CONNECTING
    m.call_later(w.settings.rtt_ns, _socket_connect_done, w, sock, Irp,
                 w.network.peer_at(RemoteAddress))
    return STATUS_PENDING


def _socket_connect_done(w: Wsk, sock: WSK_SOCKET, irp: Any, peer: Any) -> None:
    from mock_wsk.status import STATUS_CONNECTION_REFUSED

    if peer is not None and peer.listen and peer.sock is None:
        connect_socket(w, sock, peer)
        open_socket(w, sock)
        w.complete_later(irp, STATUS_SUCCESS, sock)
        return
    sock.state = State.CLOSED
    w.network.forget(sock)
    w.network.refused += 1
    w.complete_later(irp, STATUS_CONNECTION_REFUSED, 0)


def WskControlClient(Client: Any, ControlCode: int, InputSize: int, InputBuffer: Any,
                     OutputSize: int, OutputBuffer: Any, OutputSizeReturned: Any,
                     Irp: Any) -> int:
    m = _machine.active or _machine.active_machine()
    m.preemption_point()
    w = m.subsystem(Wsk)
    client = _client(Client)
    if Irp is not None and not irp_begin(w.m, Irp, "WskControlClient"):
        return int(fidelity.choose("wsk.bad_irp"))
    if ControlCode == WSK_SET_STATIC_EVENT_CALLBACKS:
        status = _set_static(w, client, InputSize, InputBuffer)
        info = 0
    elif ControlCode == WSK_TRANSPORT_LIST_QUERY:
        status, info = _transport_list(OutputSize, OutputBuffer, OutputSizeReturned)
    else:
        status, info = int(fidelity.choose("wsk.unknown_client_control")), 0
    if Irp is not None:
        irp_complete(m, Irp, status, info, pending_returned=False)
    return status


def _set_static(w: Wsk, client: WSK_CLIENT, InputSize: int, InputBuffer: Any) -> int:
    m = w.m
    if client.sockets_created:
        m.report("wsk.static.after_socket_created",
                 f"WSK_SET_STATIC_EVENT_CALLBACKS after the client created "
                 f"{client.sockets_created} socket(s)",
                 objects={"status_chosen_by": fidelity.cite("wsk.static_after_socket")})
        return int(fidelity.choose("wsk.static_after_socket"))
    bad = int(fidelity.choose("wsk.bad_event_control"))
    expected = sizeof("WSK_EVENT_CALLBACK_CONTROL", m.arch)
    if isinstance(InputBuffer, WSK_EVENT_CALLBACK_CONTROL) and InputSize == expected:
        npi, mask = InputBuffer.NpiId, int(InputBuffer.EventMask)
    elif isinstance(InputBuffer, bytes | bytearray) and InputSize == expected:
        address, mask = parse_event_callback_control(bytes(InputBuffer)[:expected], m.arch)
        npi = _BY_ADDRESS.get(address)
    else:
        m.report("wsk.event.bad_input_size",
                 f"WSK_SET_STATIC_EVENT_CALLBACKS with InputSize {InputSize} "
                 f"(expected {expected}) or no WSK_EVENT_CALLBACK_CONTROL")
        return bad
    if npi != NPI_WSK_INTERFACE_ID:
        m.report("wsk.event.bad_npi_id",
                 f"WSK_SET_STATIC_EVENT_CALLBACKS with NpiId {npi}; expected NPI_WSK_INTERFACE_ID")
        return bad
    if not mask or mask & (WSK_EVENT_DISABLE | ~_ALL_STANDARD_EVENTS):
        m.report("wsk.event.invalid_flag_for_category",
                 f"WSK_SET_STATIC_EVENT_CALLBACKS with EventMask {mask:#x}")
        return int(fidelity.choose("wsk.invalid_event_flag"))
    client.static_events |= mask
    return STATUS_SUCCESS


_TRANSPORTS = (
    (SOCK_STREAM, IPPROTO_TCP, AF_INET),
    (SOCK_DGRAM, IPPROTO_UDP, AF_INET),
    (SOCK_STREAM, IPPROTO_TCP, AF_INET6),
    (SOCK_DGRAM, IPPROTO_UDP, AF_INET6),
)


def _transport_list(OutputSize: int, OutputBuffer: Any, OutputSizeReturned: Any) -> tuple[int,
                                                                                           int]:
    size = sizeof("WSK_TRANSPORT", "x64")  # 28 on both architectures
    needed = size * len(_TRANSPORTS)
    store(OutputSizeReturned, needed)
    if OutputSize < needed or OutputBuffer is None:
        from mock_wsk.status import STATUS_BUFFER_OVERFLOW

        return STATUS_BUFFER_OVERFLOW, needed
    entries = [WSK_TRANSPORT(t, p, f) for t, p, f in _TRANSPORTS]
    if isinstance(OutputBuffer, list):
        OutputBuffer[:] = entries
    elif isinstance(OutputBuffer, Out):
        OutputBuffer.value = entries
    return STATUS_SUCCESS, needed


def _client_unmodelled(name: str) -> Any:
    def call(*args: Any) -> int:
        m = _machine.active or _machine.active_machine()
        m.preemption_point()
        status = int(fidelity.choose("wsk.unmodelled_call"))
        irp = args[-1] if args else None
        if irp is not None and hasattr(irp, "IoStatus") and irp_begin(m, irp, name):
            irp_complete(m, irp, status, 0, pending_returned=False)
        return status

    call.__name__ = name
    return call


class WSK_PROVIDER_DISPATCH:
    """The client-level provider table (``WskProviderNpi.Dispatch``)."""

    __slots__ = ("Version", "Reserved", "WskSocket", "WskSocketConnect", "WskControlClient",
                 "WskGetAddressInfo", "WskFreeAddressInfo", "WskGetNameInfo")

    def __init__(self, traced: bool = True) -> None:
        # traced_call records call.return; a machine that traces nothing gets the requests
        # without that layer (see sockets.TABLES_BY_NAME).
        def member(name: str, fn: Any) -> Any:
            return traced_call(name, fn) if traced else fn

        self.Version = MAKE_WSK_VERSION(1, 0)
        self.Reserved = 0
        self.WskSocket = member("WskSocket", WskSocket)
        self.WskSocketConnect = member("WskSocketConnect", WskSocketConnect)
        self.WskControlClient = member("WskControlClient", WskControlClient)
        self.WskGetAddressInfo = _client_unmodelled("WskGetAddressInfo")
        self.WskFreeAddressInfo = _client_unmodelled("WskFreeAddressInfo")
        self.WskGetNameInfo = _client_unmodelled("WskGetNameInfo")


WSK_PROVIDER_DISPATCH_TABLE = WSK_PROVIDER_DISPATCH()
_UNTRACED_PROVIDER_DISPATCH_TABLE = WSK_PROVIDER_DISPATCH(traced=False)

