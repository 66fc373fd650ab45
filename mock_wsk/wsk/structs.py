"""WSK structures, client dispatch tables and socket addresses, under their WDK names.

Python objects stand in for C structures: a driver fills them the way it fills the C ones
(``ctl = WSK_EVENT_CALLBACK_CONTROL(); ctl.NpiId = NPI_WSK_INTERFACE_ID; ...``). Pointers are
object references; ``None`` is NULL. Field orders follow ``reference/wsk_abi.yaml`` (structs and
dispatch_tables sections).
"""

from __future__ import annotations

from typing import Any

from mock_wsk.abi import GUID
from mock_wsk.constants import MAKE_WSK_VERSION

# --- ws2def.h values (yaml sources: tpn/winsdk-10 shared/ws2def.h, reactos psdk/ws2def.h) -----
AF_UNSPEC = 0
AF_INET = 2
AF_INET6 = 23
SOCK_STREAM = 1
SOCK_DGRAM = 2
IPPROTO_TCP = 6
IPPROTO_UDP = 17
INADDR_ANY = 0
MSG_BCAST = 0x0400  # WskReceiveFromEvent Flags (yaml: wsk_io_flags.receive_from_event_flags)
MSG_MCAST = 0x0800


def _addr_text(value: Any) -> str:
    """``sin_addr`` may be an int (host order, as IN_ADDR.S_addr read back) or dotted text."""
    if isinstance(value, int):
        return ".".join(str((value >> shift) & 0xFF) for shift in (24, 16, 8, 0))
    return str(value)


class SOCKADDR:
    """``SOCKADDR`` / ``SOCKADDR_STORAGE``: an address family and whatever follows."""

    __slots__ = ("sa_family", "sin_port", "sin_addr")

    def __init__(self, sa_family: int = AF_UNSPEC, port: int = 0, addr: Any = 0) -> None:
        self.sa_family = sa_family
        self.sin_port = port
        self.sin_addr = addr

    @property
    def key(self) -> tuple[int, str, int]:
        """(family, address text, port): how the simulated network finds an endpoint."""
        return (self.sa_family, _addr_text(self.sin_addr), self.sin_port)

    def copy_from(self, other: SOCKADDR) -> None:
        self.sa_family = other.sa_family
        self.sin_port = other.sin_port
        self.sin_addr = other.sin_addr

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_addr_text(self.sin_addr)}:{self.sin_port})"


class SOCKADDR_IN(SOCKADDR):
    """``SOCKADDR_IN``. ``sin_port`` holds the port number (the mock does not model byte order:
    fidelity ``wsk.sockaddr_port_order``); ``sin_addr`` an int or ``"10.0.0.2"``."""

    __slots__ = ()

    def __init__(self, sin_family: int = AF_INET, sin_port: int = 0, sin_addr: Any = 0) -> None:
        super().__init__(sin_family, sin_port, sin_addr)

    @property
    def sin_family(self) -> int:
        return self.sa_family

    @sin_family.setter
    def sin_family(self, value: int) -> None:
        self.sa_family = value


class SOCKADDR_IN6(SOCKADDR):
    """``SOCKADDR_IN6`` (address as text, e.g. ``"fd00::2"``)."""

    __slots__ = ()

    def __init__(self, sin6_family: int = AF_INET6, sin6_port: int = 0,
                 sin6_addr: Any = "::") -> None:
        super().__init__(sin6_family, sin6_port, sin6_addr)


# --- registration ----------------------------------------------------------------------------


class WSK_CLIENT_DISPATCH:
    """``{Version, Reserved, WskClientEvent}``."""

    __slots__ = ("Version", "Reserved", "WskClientEvent")

    def __init__(self, Version: int = MAKE_WSK_VERSION(1, 0), Reserved: int = 0,
                 WskClientEvent: Any = None) -> None:
        self.Version = Version
        self.Reserved = Reserved
        self.WskClientEvent = WskClientEvent


class WSK_CLIENT_NPI:
    __slots__ = ("ClientContext", "Dispatch")

    def __init__(self, ClientContext: Any = None, Dispatch: WSK_CLIENT_DISPATCH | None = None):
        self.ClientContext = ClientContext
        self.Dispatch = Dispatch


class WSK_REGISTRATION:
    """Opaque to the driver (``Reserved*`` fields in C); the mock keeps its state here."""

    __slots__ = ("ReservedRegistrationState", "ReservedRegistrationContext",
                 "ReservedRegistrationLock")

    def __init__(self) -> None:
        self.ReservedRegistrationState = 0
        self.ReservedRegistrationContext: Any = None  # the mock's Registration object
        self.ReservedRegistrationLock = 0


class WSK_PROVIDER_NPI:
    __slots__ = ("Client", "Dispatch")

    def __init__(self) -> None:
        self.Client: Any = None
        self.Dispatch: Any = None


# --- event callback control and extensions ----------------------------------------------------


class WSK_EVENT_CALLBACK_CONTROL:
    """``{NpiId, EventMask}``; NpiId is the GUID (``&NPI_WSK_INTERFACE_ID`` in C)."""

    __slots__ = ("NpiId", "EventMask")

    def __init__(self, NpiId: GUID | None = None, EventMask: int = 0) -> None:
        self.NpiId = NpiId
        self.EventMask = EventMask


class WSK_EXTENSION_CONTROL_IN:
    __slots__ = ("NpiId", "ClientContext", "ClientDispatch")

    def __init__(self, NpiId: GUID | None = None, ClientContext: Any = None,
                 ClientDispatch: Any = None) -> None:
        self.NpiId = NpiId
        self.ClientContext = ClientContext
        self.ClientDispatch = ClientDispatch


class WSK_EXTENSION_CONTROL_OUT:
    __slots__ = ("ProviderContext", "ProviderDispatch")

    def __init__(self) -> None:
        self.ProviderContext: Any = None
        self.ProviderDispatch: Any = None


# A sample extension interface, so basic sockets have events to enable (CONTRACTS A.1). It is
# NOT a Windows interface: its NPI id and event flag are mock-only values.
NPI_MOCK_WSK_EXTENSION_ID = GUID(0x4D4F434B, 0x5753, 0x4B58, b"MOCKEXT1")
WSK_MOCK_EXTENSION_EVENT_PING = 0x00000001  # mock-only: the extension's one event flag


class WSK_MOCK_EXTENSION_CLIENT_DISPATCH:
    """The client side of the mock extension: ``WskMockPingEvent(SocketContext, Flags)``."""

    __slots__ = ("WskMockPingEvent",)

    def __init__(self, WskMockPingEvent: Any = None) -> None:
        self.WskMockPingEvent = WskMockPingEvent


# --- buffers and indications ------------------------------------------------------------------


class WSK_BUF:
    __slots__ = ("Mdl", "Offset", "Length")

    def __init__(self, Mdl: Any = None, Offset: int = 0, Length: int = 0) -> None:
        self.Mdl = Mdl
        self.Offset = Offset
        self.Length = Length


class PROVIDER_MDL:
    """An MDL describing a provider-owned receive buffer. Data is a length and a digest (the
    mock never moves bytes); ``Next`` chains MDLs as in C."""

    __slots__ = ("Next", "ByteCount", "ByteOffset", "digest")

    def __init__(self, ByteCount: int, digest: int = 0) -> None:
        self.Next: Any = None
        self.ByteCount = ByteCount
        self.ByteOffset = 0
        self.digest = digest

    def __repr__(self) -> str:
        return f"<PROVIDER_MDL {self.ByteCount} bytes>"


class WSK_DATA_INDICATION:
    __slots__ = ("Next", "Buffer")

    def __init__(self, Buffer: WSK_BUF, Next: WSK_DATA_INDICATION | None = None) -> None:
        self.Next = Next
        self.Buffer = Buffer


class WSK_DATAGRAM_INDICATION:
    __slots__ = ("Next", "Buffer", "ControlInfo", "ControlInfoLength", "RemoteAddress")

    def __init__(self, Buffer: WSK_BUF, RemoteAddress: SOCKADDR | None = None) -> None:
        self.Next: WSK_DATAGRAM_INDICATION | None = None
        self.Buffer = Buffer
        self.ControlInfo = None
        self.ControlInfoLength = 0
        self.RemoteAddress = RemoteAddress


class WSK_TRANSPORT:
    __slots__ = ("Version", "SocketType", "Protocol", "AddressFamily", "ProviderId")

    def __init__(self, SocketType: int, Protocol: int, AddressFamily: int) -> None:
        self.Version = MAKE_WSK_VERSION(1, 0)
        self.SocketType = SocketType
        self.Protocol = Protocol
        self.AddressFamily = AddressFamily
        self.ProviderId = GUID(0, 0, 0, bytes(8))


# --- client dispatch tables (yaml: dispatch_tables; members in header order) -----------------


class WSK_CLIENT_LISTEN_DISPATCH:
    __slots__ = ("WskAcceptEvent", "WskInspectEvent", "WskAbortEvent")

    def __init__(self, WskAcceptEvent: Any = None, WskInspectEvent: Any = None,
                 WskAbortEvent: Any = None) -> None:
        self.WskAcceptEvent = WskAcceptEvent
        self.WskInspectEvent = WskInspectEvent
        self.WskAbortEvent = WskAbortEvent


class WSK_CLIENT_CONNECTION_DISPATCH:
    __slots__ = ("WskReceiveEvent", "WskDisconnectEvent", "WskSendBacklogEvent")

    def __init__(self, WskReceiveEvent: Any = None, WskDisconnectEvent: Any = None,
                 WskSendBacklogEvent: Any = None) -> None:
        self.WskReceiveEvent = WskReceiveEvent
        self.WskDisconnectEvent = WskDisconnectEvent
        self.WskSendBacklogEvent = WskSendBacklogEvent


class WSK_CLIENT_DATAGRAM_DISPATCH:
    __slots__ = ("WskReceiveFromEvent",)

    def __init__(self, WskReceiveFromEvent: Any = None) -> None:
        self.WskReceiveFromEvent = WskReceiveFromEvent


class WSK_CLIENT_STREAM_DISPATCH:
    __slots__ = ("Listen", "Connect")

    def __init__(self, Listen: WSK_CLIENT_LISTEN_DISPATCH | None = None,
                 Connect: WSK_CLIENT_CONNECTION_DISPATCH | None = None) -> None:
        self.Listen = Listen
        self.Connect = Connect
