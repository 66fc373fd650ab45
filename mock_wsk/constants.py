"""WDK / SDK constants for the mock: IRQLs, bug checks, WSK, TDI and Winsock numbers.

Every value is taken from ``shared/reference/wsk_abi.yaml`` (which cites the public headers it was
read from); each group's comment names its yaml section. ``tests/test_reference_values.py`` walks
the yaml and checks every name here against it, in both directions, so a typo cannot hide.

Names keep their WDK spelling so driver stubs read like C (``WSK_EVENT_RECEIVE``,
``WskSetOption``, ``MAKE_WSK_VERSION``). NTSTATUS codes live in :mod:`mock_wsk.status`.
"""

from __future__ import annotations

import enum
from typing import Final

from mock_wsk.abi import GUID, check_arch, pointer_size
from mock_wsk.status import NTSTATUS

Irql = int  # IRQLs are small integers (UCHAR in the WDK); KIRQL itself is the out-box type
#             in mock_wsk.kernel.types, as drivers declare `KIRQL oldIrql;`.

# --- IRQL levels (yaml: irql; MS wdm.h 16299 + mingw-w64 ddk/wdm.h) ---------------------------
# Common to x86 and x64 (yaml: irql.common_x86_x64).
PASSIVE_LEVEL: Final[Irql] = 0
LOW_LEVEL: Final[Irql] = 0
APC_LEVEL: Final[Irql] = 1
DISPATCH_LEVEL: Final[Irql] = 2
CMCI_LEVEL: Final[Irql] = 5

# Per architecture (yaml: irql.x64, irql.x86), in the header's order. The high levels differ, so
# any code that checks "above DISPATCH" or raises to HIGH_LEVEL must go through the machine's arch.
IRQL_LEVELS: Final[dict[str, dict[str, Irql]]] = {
    "x64": {
        "PASSIVE_LEVEL": 0,
        "LOW_LEVEL": 0,
        "APC_LEVEL": 1,
        "DISPATCH_LEVEL": 2,
        "CMCI_LEVEL": 5,
        "CLOCK_LEVEL": 13,
        "IPI_LEVEL": 14,
        "DRS_LEVEL": 14,
        "POWER_LEVEL": 14,
        "PROFILE_LEVEL": 15,
        "HIGH_LEVEL": 15,
        # Secondary source only (not a #define in MS wdm.h; mingw-w64 KeRaiseIrqlToSynchLevel).
        "SYNCH_LEVEL": 12,
    },
    "x86": {
        "PASSIVE_LEVEL": 0,
        "LOW_LEVEL": 0,
        "APC_LEVEL": 1,
        "DISPATCH_LEVEL": 2,
        "CMCI_LEVEL": 5,
        "PROFILE_LEVEL": 27,
        "CLOCK1_LEVEL": 28,
        "CLOCK2_LEVEL": 28,
        "CLOCK_LEVEL": 28,
        "IPI_LEVEL": 29,
        "POWER_LEVEL": 30,
        "HIGH_LEVEL": 31,
    },
}

# Several names share a level (LOW/PASSIVE, PROFILE/HIGH on x64, CLOCK1/CLOCK2/CLOCK on x86);
# traces show the name a WDK reader expects, so the first match in this order wins.
_IRQL_NAME_PREFERENCE: Final[tuple[str, ...]] = (
    "PASSIVE_LEVEL",
    "APC_LEVEL",
    "DISPATCH_LEVEL",
    "CMCI_LEVEL",
    "SYNCH_LEVEL",
    "CLOCK_LEVEL",
    "IPI_LEVEL",
    "POWER_LEVEL",
    "HIGH_LEVEL",
    "PROFILE_LEVEL",
    "DRS_LEVEL",
    "CLOCK1_LEVEL",
    "CLOCK2_LEVEL",
    "LOW_LEVEL",
)


def high_level(arch: str) -> Irql:
    """HIGH_LEVEL of ``arch`` (x64: 15, x86: 31)."""
    check_arch(arch)
    return IRQL_LEVELS[arch]["HIGH_LEVEL"]


def irql_name(level: int, arch: str) -> str:
    """The conventional WDK name of ``level`` on ``arch``; ``'IRQL <n>'`` if it has none."""
    check_arch(arch)
    levels = IRQL_LEVELS[arch]
    for name in _IRQL_NAME_PREFERENCE:
        if levels.get(name) == level:
            return name
    return f"IRQL {level}"


# --- Bug-check codes (yaml: bugcheck; MS bugcodes.h 16299 + mingw-w64 bugcodes.h) --------------
class BugCheck(enum.IntEnum):
    """KeBugCheckEx codes the mock's verifier can raise."""

    IRQL_NOT_LESS_OR_EQUAL = 0x0000000A
    KMODE_EXCEPTION_NOT_HANDLED = 0x0000001E
    NO_MORE_IRP_STACK_LOCATIONS = 0x00000035
    SYSTEM_SERVICE_EXCEPTION = 0x0000003B
    MULTIPLE_IRP_COMPLETE_REQUESTS = 0x00000044
    IRQL_GT_ZERO_AT_SYSTEM_SERVICE = 0x0000004A
    PAGE_FAULT_IN_NONPAGED_AREA = 0x00000050
    DRIVER_POWER_STATE_FAILURE = 0x0000009F
    ATTEMPTED_SWITCH_FROM_DPC = 0x000000B8
    BAD_POOL_CALLER = 0x000000C2
    DRIVER_VERIFIER_DETECTED_VIOLATION = 0x000000C4
    DRIVER_CORRUPTED_EXPOOL = 0x000000C5
    DRIVER_CAUGHT_MODIFYING_FREED_POOL = 0x000000C6
    TIMER_OR_DPC_INVALID = 0x000000C7
    IRQL_UNEXPECTED_VALUE = 0x000000C8
    DRIVER_VERIFIER_IOMANAGER_VIOLATION = 0x000000C9
    DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS = 0x000000CB
    DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS = 0x000000CE
    DRIVER_IRQL_NOT_LESS_OR_EQUAL = 0x000000D1
    DPC_WATCHDOG_VIOLATION = 0x00000133
    KERNEL_SECURITY_CHECK_FAILURE = 0x00000139


# --- WSK event flags (yaml: wsk_event_flags; MS wsk.h 16299 + ReactOS wsk.h) -------------------
# EventMask bits of WSK_EVENT_CALLBACK_CONTROL. There is no WSK_EVENT_INSPECT/ABORT/CONNECT.
WSK_EVENT_SEND_BACKLOG: Final = 0x00000010
WSK_EVENT_RECEIVE: Final = 0x00000040
WSK_EVENT_DISCONNECT: Final = 0x00000080
WSK_EVENT_RECEIVE_FROM: Final = 0x00000100
WSK_EVENT_ACCEPT: Final = 0x00000200
WSK_EVENT_DISABLE: Final = 0x80000000  # OR'ed with exactly one event flag.

# Which client callback each event flag enables (yaml: wsk_event_flags.*.callback).
WSK_EVENT_CALLBACKS: Final[dict[int, str]] = {
    WSK_EVENT_SEND_BACKLOG: "WskSendBacklogEvent",
    WSK_EVENT_RECEIVE: "WskReceiveEvent",
    WSK_EVENT_DISCONNECT: "WskDisconnectEvent",
    WSK_EVENT_RECEIVE_FROM: "WskReceiveFromEvent",
    WSK_EVENT_ACCEPT: "WskAcceptEvent",
}

# --- WSK socket category flags (yaml: wsk_socket_flags; MS wsk.h, ReactOS, Wine) ---------------
WSK_FLAG_BASIC_SOCKET: Final = 0x00000000
WSK_FLAG_LISTEN_SOCKET: Final = 0x00000001
WSK_FLAG_CONNECTION_SOCKET: Final = 0x00000002
WSK_FLAG_DATAGRAM_SOCKET: Final = 0x00000004
WSK_FLAG_STREAM_SOCKET: Final = 0x00000008  # Win10 RS2+; absent from ReactOS.

# --- WSK per-call / per-callback flags (yaml: wsk_io_flags; MS wsk.h 16299) --------------------
# Values overlap on purpose: the meaning depends on the function the flag is passed to.
WSK_FLAG_ABORTIVE: Final = 0x00000001  # WskDisconnect; WskDisconnectEvent Flags
WSK_FLAG_OOB: Final = 0x00000001  # send; MS 16299 only
WSK_FLAG_NODELAY: Final = 0x00000002  # WskSend / WskSendEx
WSK_FLAG_WAITALL: Final = 0x00000002  # WskReceive / WskReceiveEx
WSK_FLAG_DRAIN: Final = 0x00000004  # WskReceive / WskReceiveEx
WSK_FLAG_RELEASE_ASAP: Final = 0x00000002  # WskReceiveEvent Flags
WSK_FLAG_ENTIRE_MESSAGE: Final = 0x00000004  # WskReceiveEvent Flags
WSK_FLAG_AT_DISPATCH_LEVEL: Final = 0x00000008  # Flags of the event callbacks

# WskReceiveFromEvent may also carry these (yaml: wsk_io_flags.receive_from_event_flags; ws2def.h).
MSG_BCAST: Final = 0x0400
MSG_MCAST: Final = 0x0800

# --- WskControlSocket levels, options, ioctls (yaml: wsk_control; ws2def.h, MS wsk.h) ----------
SOL_SOCKET: Final = 0xFFFF
WSK_SO_BASE: Final = 0x4000
SO_WSK_SECURITY: Final = WSK_SO_BASE + 1
SO_WSK_EVENT_CALLBACK: Final = WSK_SO_BASE + 2

# Winsock ioctl code builders (yaml: winsock.ioctl_macros and wsk_control._wsaio_macros;
# WinSock2.h / ws2def.h). Results are kept unsigned 32-bit, as the yaml writes them.
IOCPARM_MASK: Final = 0x7F
IOC_VOID: Final = 0x20000000
IOC_OUT: Final = 0x40000000
IOC_IN: Final = 0x80000000
IOC_INOUT: Final = 0xC0000000
IOC_WS2: Final = 0x08000000
IOC_WSK: Final = IOC_WS2 | 0x07000000


def _IO(x: int, y: int) -> int:
    """``_IO(x, y)``: a BSD-style ioctl without data."""
    return IOC_VOID | (x << 8) | y


def _IOR(x: int, y: int, size: int) -> int:
    """``_IOR(x, y, t)`` with ``size = sizeof(t)``: a BSD-style ioctl that returns data."""
    return IOC_OUT | ((size & IOCPARM_MASK) << 16) | (x << 8) | y


def _WSAIO(x: int, y: int) -> int:
    """``_WSAIO(x, y)``: Winsock 2 ioctl, no data (no size field, unlike ``_IO``)."""
    return IOC_VOID | x | y


def _WSAIOR(x: int, y: int) -> int:
    """``_WSAIOR(x, y)``: Winsock 2 ioctl with output."""
    return IOC_OUT | x | y


def _WSAIOW(x: int, y: int) -> int:
    """``_WSAIOW(x, y)``: Winsock 2 ioctl with input."""
    return IOC_IN | x | y


def _WSAIORW(x: int, y: int) -> int:
    """``_WSAIORW(x, y)``: Winsock 2 ioctl with input and output."""
    return IOC_INOUT | x | y


# SIO_WSK_* (yaml: wsk_control.ioctls; MS wsk.h 16299). For these, Level is 0 and the request
# type WskIoctl. SIO_WSK_SET_RECEIVE_EX_CALLBACK has no public value, so it is not defined.
SIO_WSK_SET_REMOTE_ADDRESS: Final = _WSAIOW(IOC_WSK, 0x1)
SIO_WSK_REGISTER_EXTENSION: Final = _WSAIORW(IOC_WSK, 0x2)
SIO_WSK_QUERY_IDEAL_SEND_BACKLOG: Final = _WSAIOR(IOC_WSK, 0x3)
SIO_WSK_QUERY_RECEIVE_BACKLOG: Final = _WSAIOR(IOC_WSK, 0x4)
SIO_WSK_QUERY_INSPECT_ID: Final = _WSAIOR(IOC_WSK, 0x5)
SIO_WSK_SET_SENDTO_ADDRESS: Final = _WSAIOW(IOC_WSK, 0x6)
SIO_WSK_SET_TCP_SILENT_MODE: Final = _WSAIO(IOC_WSK, 0x7)

# WskControlClient control codes (yaml: wsk_control.client_control_codes; MS wsk.h, ReactOS).
WSK_TRANSPORT_LIST_QUERY: Final = 2
WSK_TRANSPORT_LIST_CHANGE: Final = 3
WSK_CACHE_SD: Final = 4
WSK_RELEASE_SD: Final = 5
WSK_TDI_DEVICENAME_MAPPING: Final = 6
WSK_SET_STATIC_EVENT_CALLBACKS: Final = 7
WSK_TDI_BEHAVIOR: Final = 8
WSK_TDI_BEHAVIOR_BYPASS_TDI: Final = 0x00000001


# Enums (yaml: wsk_control.enums; MS wsk.h, ReactOS). C enums are 4 bytes on x86 and x64.
class WSK_CONTROL_SOCKET_TYPE(enum.IntEnum):
    """RequestType of WskControlSocket."""

    WskSetOption = 0
    WskGetOption = 1
    WskIoctl = 2
    WskControlMax = 3


WskSetOption: Final = WSK_CONTROL_SOCKET_TYPE.WskSetOption
WskGetOption: Final = WSK_CONTROL_SOCKET_TYPE.WskGetOption
WskIoctl: Final = WSK_CONTROL_SOCKET_TYPE.WskIoctl
WskControlMax: Final = WSK_CONTROL_SOCKET_TYPE.WskControlMax


class WSK_INSPECT_ACTION(enum.IntEnum):
    """Return value of WskInspectEvent (MS + ReactOS; Wine lacks Pend and Max)."""

    WskInspectReject = 0
    WskInspectAccept = 1
    WskInspectPend = 2
    WskInspectMax = 3


WskInspectReject: Final = WSK_INSPECT_ACTION.WskInspectReject
WskInspectAccept: Final = WSK_INSPECT_ACTION.WskInspectAccept
WskInspectPend: Final = WSK_INSPECT_ACTION.WskInspectPend
WskInspectMax: Final = WSK_INSPECT_ACTION.WskInspectMax


# Versions and waits (yaml: wsk_control.version; MS wsk.h, ReactOS, Wine).
def MAKE_WSK_VERSION(Mj: int, Mn: int) -> int:
    """``((USHORT)((Mj) << 8) | (USHORT)((Mn) & 0xff))``."""
    return ((Mj << 8) & 0xFFFF) | (Mn & 0xFF)


def WSK_MAJOR_VERSION(V: int) -> int:
    """``((UCHAR)((V) >> 8))``."""
    return (V >> 8) & 0xFF


def WSK_MINOR_VERSION(V: int) -> int:
    """``((UCHAR)(V))``."""
    return V & 0xFF


WSK_NO_WAIT: Final = 0
WSK_INFINITE_WAIT: Final = 0xFFFFFFFF  # WaitTimeout of WskCaptureProviderNPI

# --- NPI identifier (yaml: guids; LINBIT/windrbd, the only attributable public definition) -----
NPI_WSK_INTERFACE_ID: Final = GUID(
    0x2227E803, 0x8D8B, 0x11D4, bytes((0xAB, 0xAD, 0x00, 0x90, 0x27, 0x71, 0x9E, 0x09))
)

# --- Dispatch table member order (yaml: dispatch_tables; MS wsk.h, current docs, Wine) ---------
# Provider tables by socket category, plus WSK_PROVIDER_DISPATCH (the client-level table) under
# its own C name. Socket tables start with the two WSK_PROVIDER_BASIC_DISPATCH members (anonymous
# in C), flattened here. The newest members are listed; DISPATCH_TABLE_VARIANTS gives older ends.
PROVIDER_DISPATCH_MEMBERS: Final[dict[str, tuple[str, ...]]] = {
    "basic": ("WskControlSocket", "WskCloseSocket"),
    "listen": (
        "WskControlSocket",
        "WskCloseSocket",
        "WskBind",
        "WskAccept",
        "WskInspectComplete",
        "WskGetLocalAddress",
    ),
    "datagram": (
        "WskControlSocket",
        "WskCloseSocket",
        "WskBind",
        "WskSendTo",
        "WskReceiveFrom",
        "WskRelease",  # PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST
        "WskGetLocalAddress",
        "WskSendMessages",  # NTDDI_WIN8+
    ),
    "connection": (
        "WskControlSocket",
        "WskCloseSocket",
        "WskBind",
        "WskConnect",
        "WskGetLocalAddress",
        "WskGetRemoteAddress",
        "WskSend",
        "WskReceive",
        "WskDisconnect",
        "WskRelease",  # PFN_WSK_RELEASE_DATA_INDICATION_LIST
        "WskConnectEx",  # WDK 10.0.16299
        "WskSendEx",  # current docs / Wine: "reserved for system use"
        "WskReceiveEx",
    ),
    "stream": (
        "WskControlSocket",
        "WskCloseSocket",
        "WskBind",
        "WskAccept",
        "WskConnect",
        "WskListen",
        "WskSend",
        "WskReceive",
        "WskDisconnect",
        "WskRelease",
        "WskGetLocalAddress",
        "WskGetRemoteAddress",
        "WskConnectEx",
        "WskSendEx",
        "WskReceiveEx",
    ),
    "WSK_PROVIDER_DISPATCH": (
        "Version",  # USHORT
        "Reserved",  # USHORT
        "WskSocket",
        "WskSocketConnect",
        "WskControlClient",
        "WskGetAddressInfo",  # this and the next two: NTDDI_WIN7+
        "WskFreeAddressInfo",
        "WskGetNameInfo",
    ),
}

# C struct name of each PROVIDER_DISPATCH_MEMBERS entry (the names abi.layouts() uses).
PROVIDER_DISPATCH_STRUCTS: Final[dict[str, str]] = {
    "basic": "WSK_PROVIDER_BASIC_DISPATCH",
    "listen": "WSK_PROVIDER_LISTEN_DISPATCH",
    "datagram": "WSK_PROVIDER_DATAGRAM_DISPATCH",
    "connection": "WSK_PROVIDER_CONNECTION_DISPATCH",
    "stream": "WSK_PROVIDER_STREAM_DISPATCH",
    "WSK_PROVIDER_DISPATCH": "WSK_PROVIDER_DISPATCH",
}

# Client tables, keyed by C name, in the yaml's order.
CLIENT_DISPATCH_MEMBERS: Final[dict[str, tuple[str, ...]]] = {
    "WSK_CLIENT_CONNECTION_DISPATCH": (
        "WskReceiveEvent",
        "WskDisconnectEvent",
        "WskSendBacklogEvent",
    ),
    "WSK_CLIENT_LISTEN_DISPATCH": ("WskAcceptEvent", "WskInspectEvent", "WskAbortEvent"),
    "WSK_CLIENT_DATAGRAM_DISPATCH": ("WskReceiveFromEvent",),
    # RS2+: pointers to the listen and connection tables, not function pointers.
    "WSK_CLIENT_STREAM_DISPATCH": ("Listen", "Connect"),
    "WSK_CLIENT_DISPATCH": ("Version", "Reserved", "WskClientEvent"),
}

# Older (shorter) versions of tables that grew: table -> variant -> last member present.
DISPATCH_TABLE_VARIANTS: Final[dict[str, dict[str, str]]] = {
    "WSK_PROVIDER_DISPATCH": {"pre_win7": "WskControlClient"},
    "WSK_PROVIDER_DATAGRAM_DISPATCH": {"pre_win8": "WskGetLocalAddress"},
    "WSK_PROVIDER_CONNECTION_DISPATCH": {"wdk10240": "WskRelease", "wdk16299": "WskConnectEx"},
    "WSK_PROVIDER_STREAM_DISPATCH": {"wdk16299": "WskConnectEx"},
}

# --- TDI (yaml: tdi; MS tdikrnl.h / tdi.h 16299 + mingw-w64) -----------------------------------
# Event types for TDI_SET_EVENT_HANDLER (yaml: tdi.event_types).
TDI_EVENT_CONNECT: Final = 0
TDI_EVENT_DISCONNECT: Final = 1
TDI_EVENT_ERROR: Final = 2
TDI_EVENT_RECEIVE: Final = 3
TDI_EVENT_RECEIVE_DATAGRAM: Final = 4
TDI_EVENT_RECEIVE_EXPEDITED: Final = 5
TDI_EVENT_SEND_POSSIBLE: Final = 6
TDI_EVENT_CHAINED_RECEIVE: Final = 7  # MS: x86/x64 only
TDI_EVENT_CHAINED_RECEIVE_DATAGRAM: Final = 8
TDI_EVENT_CHAINED_RECEIVE_EXPEDITED: Final = 9
TDI_EVENT_ERROR_EX: Final = 10

# Send flags (yaml: tdi.send_flags).
TDI_SEND_EXPEDITED: Final = 0x0020
TDI_SEND_PARTIAL: Final = 0x0040
TDI_SEND_NO_RESPONSE_EXPECTED: Final = 0x0080
TDI_SEND_NON_BLOCKING: Final = 0x0100
TDI_SEND_AND_DISCONNECT: Final = 0x0200

# Disconnect flags (yaml: tdi.disconnect_flags).
TDI_DISCONNECT_WAIT: Final = 0x0001
TDI_DISCONNECT_ABORT: Final = 0x0002
TDI_DISCONNECT_RELEASE: Final = 0x0004

# Receive flags (yaml: tdi.receive_flags).
TDI_RECEIVE_BROADCAST: Final = 0x00000004
TDI_RECEIVE_MULTICAST: Final = 0x00000008
TDI_RECEIVE_PARTIAL: Final = 0x00000010
TDI_RECEIVE_NORMAL: Final = 0x00000020
TDI_RECEIVE_EXPEDITED: Final = 0x00000040
TDI_RECEIVE_PEEK: Final = 0x00000080
TDI_RECEIVE_NO_RESPONSE_EXP: Final = 0x00000100
TDI_RECEIVE_COPY_LOOKAHEAD: Final = 0x00000200
TDI_RECEIVE_ENTIRE_MESSAGE: Final = 0x00000400
TDI_RECEIVE_AT_DISPATCH_LEVEL: Final = 0x00000800
TDI_RECEIVE_CONTROL_INFO: Final = 0x00001000
TDI_RECEIVE_FORCE_INDICATION: Final = 0x00002000  # MS only
TDI_RECEIVE_NO_PUSH: Final = 0x00004000  # MS only

# IRP_MJ_INTERNAL_DEVICE_CONTROL minor functions (yaml: tdi.minor_functions).
TDI_ASSOCIATE_ADDRESS: Final = 0x01
TDI_DISASSOCIATE_ADDRESS: Final = 0x02
TDI_CONNECT: Final = 0x03
TDI_LISTEN: Final = 0x04
TDI_ACCEPT: Final = 0x05
TDI_DISCONNECT: Final = 0x06
TDI_SEND: Final = 0x07
TDI_RECEIVE: Final = 0x08
TDI_SEND_DATAGRAM: Final = 0x09
TDI_RECEIVE_DATAGRAM: Final = 0x0A
TDI_SET_EVENT_HANDLER: Final = 0x0B
TDI_QUERY_INFORMATION: Final = 0x0C
TDI_SET_INFORMATION: Final = 0x0D
TDI_ACTION: Final = 0x0E
TDI_DIRECT_SEND: Final = 0x27
TDI_DIRECT_SEND_DATAGRAM: Final = 0x29
TDI_DIRECT_ACCEPT: Final = 0x2A  # MS only

# TDI status names as NTSTATUS on NT (yaml: tdi.tdi_status_mapping_nt; MS tdistat.h).
TDI_SUCCESS: Final = NTSTATUS.STATUS_SUCCESS
TDI_PENDING: Final = NTSTATUS.STATUS_PENDING
TDI_NOT_ACCEPTED: Final = NTSTATUS.STATUS_DATA_NOT_ACCEPTED
TDI_MORE_PROCESSING: Final = NTSTATUS.STATUS_MORE_PROCESSING_REQUIRED
TDI_INVALID_STATE: Final = NTSTATUS.STATUS_INVALID_DEVICE_STATE
TDI_ALREADY_ASSOCIATED: Final = NTSTATUS.STATUS_ADDRESS_ALREADY_ASSOCIATED
TDI_BAD_ADDR: Final = NTSTATUS.STATUS_INVALID_ADDRESS_COMPONENT
TDI_ADDR_IN_USE: Final = NTSTATUS.STATUS_ADDRESS_ALREADY_EXISTS
TDI_NO_RESOURCES: Final = NTSTATUS.STATUS_INSUFFICIENT_RESOURCES
TDI_BUFFER_TOO_SMALL: Final = NTSTATUS.STATUS_BUFFER_TOO_SMALL
TDI_BUFFER_TOO_BIG: Final = NTSTATUS.STATUS_INVALID_BUFFER_SIZE
TDI_CANCELLED: Final = NTSTATUS.STATUS_CANCELLED
TDI_CONNECTION_RESET: Final = NTSTATUS.STATUS_CONNECTION_RESET
TDI_CONNECTION_ABORTED: Final = NTSTATUS.STATUS_CONNECTION_ABORTED
TDI_GRACEFUL_DISC: Final = NTSTATUS.STATUS_GRACEFUL_DISCONNECT
TDI_TIMED_OUT: Final = NTSTATUS.STATUS_IO_TIMEOUT
TDI_INVALID_REQUEST: Final = NTSTATUS.STATUS_INVALID_DEVICE_REQUEST
TDI_INVALID_QUERY: Final = NTSTATUS.STATUS_INVALID_DEVICE_REQUEST
TDI_INVALID_PARAMETER: Final = NTSTATUS.STATUS_INVALID_PARAMETER
TDI_BAD_EVENT_TYPE: Final = NTSTATUS.STATUS_INVALID_PARAMETER

# --- Winsock (yaml: winsock; WinSock2.h, ws2ipdef.h, winerror.h, MSWSock.h 16299 + mingw-w64) --
# Ideal send backlog ioctls ('t' = 0x74); QUERY returns a ULONG, so its size field is 4.
SIO_IDEAL_SEND_BACKLOG_CHANGE: Final = _IO(ord("t"), 122)
SIO_IDEAL_SEND_BACKLOG_QUERY: Final = _IOR(ord("t"), 123, 4)

# The docs say the ISB ranges "from 0 to a maximum of 16 megabytes" without saying MiB or 10**6;
# the mock reads it as 16 MiB (a power of two, like every other Windows TCP buffer limit).
ISB_MAX: Final = 16 * 1024 * 1024

# WSA error codes (yaml: winsock.wsa_errors). The two WSA_* are the Win32 ERROR_* values.
WSABASEERR: Final = 10000
WSA_IO_PENDING: Final = 997
WSA_OPERATION_ABORTED: Final = 995
WSAEINTR: Final = 10004
WSAEFAULT: Final = 10014
WSAEINVAL: Final = 10022
WSAEWOULDBLOCK: Final = 10035
WSAEINPROGRESS: Final = 10036
WSAENOTSOCK: Final = 10038
WSAENOPROTOOPT: Final = 10042
WSAEOPNOTSUPP: Final = 10045
WSAENETDOWN: Final = 10050
WSAECONNABORTED: Final = 10053
WSAECONNRESET: Final = 10054
WSAENOBUFS: Final = 10055
WSAENOTCONN: Final = 10057
WSAESHUTDOWN: Final = 10058
WSAETIMEDOUT: Final = 10060

SOCKET_ERROR: Final = -1


def invalid_socket(arch: str) -> int:
    """``INVALID_SOCKET`` = ``(SOCKET)(~0)``: all ones in a pointer-sized unsigned SOCKET."""
    return (1 << (8 * pointer_size(arch))) - 1


# shutdown() how (yaml: winsock.shutdown_how).
SD_RECEIVE: Final = 0x00
SD_SEND: Final = 0x01
SD_BOTH: Final = 0x02

# TransmitFile / TransmitPackets flags (yaml: winsock.transmit_flags; MSWSock.h).
TF_DISCONNECT: Final = 0x01
TF_REUSE_SOCKET: Final = 0x02
TF_WRITE_BEHIND: Final = 0x04
TF_USE_DEFAULT_WORKER: Final = 0x00
TF_USE_SYSTEM_THREAD: Final = 0x10
TF_USE_KERNEL_APC: Final = 0x20

SO_SNDBUF: Final = 0x1001  # yaml: winsock.SO_SNDBUF; ws2def.h

# MsQuic's analogous per-stream ideal send buffer (yaml: winsock.related_msquic_isb; quicdef.h).
# Not the Windows TCP stack: a point of comparison for the mock's ISB model.
QUIC_DEFAULT_IDEAL_SEND_BUFFER_SIZE: Final = 0x20000
QUIC_MAX_IDEAL_SEND_BUFFER_SIZE: Final = 0x8000000
