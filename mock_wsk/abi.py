"""Binary layouts of the WSK structures for x64 and x86, built with ``construct``.

The mock passes Python objects around, but a few calls are specified by their bytes: a driver
hands ``WskControlSocket`` an ``InputSize`` that must equal ``sizeof(WSK_EVENT_CALLBACK_CONTROL)``
for *its* architecture, and traces show offsets a WinDbg user recognizes. So every structure here
has the MSVC layout of the WDK header (field order from MS ``wsk.h`` 10.0.16299 as recorded in
``shared/reference/wsk_abi.yaml`` ``structs``), with alignment padding written out as
``construct.Padding`` so the Struct *is* the layout.

Pointers are simulated addresses (plain integers): 8 bytes on x64, 4 on x86. ``ULONGLONG`` is
8-byte aligned on both (MSVC x86), which is what makes ``WSK_REGISTRATION`` 16 bytes on x86.

API: :func:`layouts`, :func:`sizeof`, :func:`alignof`, :func:`offsetof`,
:func:`dispatch_table_size`, :func:`pack_struct` / :func:`parse_struct`,
:func:`pack_event_callback_control` / :func:`parse_event_callback_control`, and :class:`GUID`.
"""

from __future__ import annotations

import struct as _struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import construct as cs

__all__ = [
    "ARCHITECTURES",
    "GUID",
    "NPIID",
    "Layouts",
    "alignof",
    "check_arch",
    "dispatch_table_size",
    "layouts",
    "offsetof",
    "pack_event_callback_control",
    "pack_struct",
    "parse_event_callback_control",
    "parse_struct",
    "pointer_size",
    "sizeof",
]

ARCHITECTURES: tuple[str, ...] = ("x64", "x86")
_POINTER_SIZE = {"x64": 8, "x86": 4}


def check_arch(arch: str) -> None:
    """Raise ``ValueError`` unless ``arch`` is one of :data:`ARCHITECTURES`."""
    if arch not in _POINTER_SIZE:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHITECTURES}")


def pointer_size(arch: str) -> int:
    """sizeof(PVOID) == sizeof(SIZE_T) == sizeof(ULONG_PTR): 8 on x64, 4 on x86."""
    check_arch(arch)
    return _POINTER_SIZE[arch]


# --- GUID ------------------------------------------------------------------------------------
_GUID_FORMAT = _struct.Struct("<IHH8s")  # Data1 ULONG, Data2 USHORT, Data3 USHORT, Data4[8]


@dataclass(frozen=True)
class GUID:
    """A GUID / NPIID value (guiddef.h; netiodef.h: ``typedef GUID NPIID``)."""

    Data1: int
    Data2: int
    Data3: int
    Data4: bytes

    def __post_init__(self) -> None:
        data4 = bytes(self.Data4)  # accept bytearray / list of ints, store immutable bytes
        if len(data4) != 8:
            raise ValueError(f"GUID.Data4 must be 8 bytes, got {len(data4)}")
        for field, bits in (("Data1", 32), ("Data2", 16), ("Data3", 16)):
            value = getattr(self, field)
            if not 0 <= value < (1 << bits):
                raise ValueError(f"GUID.{field}={value!r} does not fit in {bits} bits")
        object.__setattr__(self, "Data4", data4)

    def to_bytes(self) -> bytes:
        """The 16 bytes as stored in memory (Data1..Data3 little endian, Data4 as is)."""
        return _GUID_FORMAT.pack(self.Data1, self.Data2, self.Data3, self.Data4)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> GUID:
        """Inverse of :meth:`to_bytes`; ``data`` must be exactly 16 bytes."""
        if len(data) != _GUID_FORMAT.size:
            raise ValueError(f"a GUID is 16 bytes, got {len(data)}")
        d1, d2, d3, d4 = _GUID_FORMAT.unpack(bytes(data))
        return cls(d1, d2, d3, d4)

    @classmethod
    def from_string(cls, text: str) -> GUID:
        """Parse the registry form ``{2227E803-8D8B-11D4-ABAD-009027719E09}`` (braces optional)."""
        parts = text.strip().strip("{}").split("-")
        if [len(p) for p in parts] != [8, 4, 4, 4, 12]:
            raise ValueError(f"not a GUID string: {text!r}")
        return cls(
            int(parts[0], 16),
            int(parts[1], 16),
            int(parts[2], 16),
            bytes.fromhex(parts[3] + parts[4]),
        )

    def __str__(self) -> str:
        d4 = self.Data4.hex().upper()
        return f"{{{self.Data1:08X}-{self.Data2:04X}-{self.Data3:04X}-{d4[:4]}-{d4[4:]}}}"


NPIID = GUID  # netiodef.h: typedef GUID NPIID


# --- Layout builder --------------------------------------------------------------------------
@dataclass(frozen=True)
class _CType:
    """A construct plus the C alignment it needs (construct itself knows only sizes)."""

    con: cs.Construct
    align: int


def _c_struct(fields: Sequence[tuple[str, _CType]]) -> _CType:
    """A C struct with MSVC default packing: each field at a multiple of its alignment and the
    size rounded up to the largest one. The gaps become explicit ``Padding`` subcons."""
    subcons: list[cs.Construct] = []
    offset = 0
    align = 1
    for name, ctype in fields:
        gap = -offset % ctype.align
        if gap:
            subcons.append(cs.Padding(gap))
            offset += gap
        subcons.append(name / ctype.con)
        offset += ctype.con.sizeof()
        align = max(align, ctype.align)
    tail = -offset % align
    if tail:
        subcons.append(cs.Padding(tail))
    return _CType(cs.Struct(*subcons), align)


def _build(arch: str) -> tuple[dict[str, cs.Construct], dict[str, int]]:
    # Imported here, not at module top: constants imports GUID from this module.
    from mock_wsk.constants import (
        CLIENT_DISPATCH_MEMBERS,
        PROVIDER_DISPATCH_MEMBERS,
        PROVIDER_DISPATCH_STRUCTS,
    )

    psize = pointer_size(arch)
    USHORT = _CType(cs.Int16ul, 2)
    ULONG = _CType(cs.Int32ul, 4)
    LONG = _CType(cs.Int32sl, 4)
    INT = LONG
    ULONGLONG = _CType(cs.Int64ul, 8)  # 8-aligned on x86 too (MSVC)
    PTR = _CType(cs.Int64ul if psize == 8 else cs.Int32ul, psize)
    SIZE_T = ULONG_PTR = PTR
    USHORT_BE = _CType(cs.Int16ub, 2)  # port numbers are in network byte order

    types: dict[str, _CType] = {}

    def define(name: str, fields: Sequence[tuple[str, _CType]]) -> _CType:
        types[name] = _c_struct(fields)
        return types[name]

    guid = define(
        "GUID",
        [("Data1", ULONG), ("Data2", USHORT), ("Data3", USHORT), ("Data4", _CType(cs.Bytes(8), 1))],
    )
    types["NPIID"] = guid

    # wsk.h (yaml: structs).
    define("WSK_EVENT_CALLBACK_CONTROL", [("NpiId", PTR), ("EventMask", ULONG)])
    wsk_buf = define("WSK_BUF", [("Mdl", PTR), ("Offset", ULONG), ("Length", SIZE_T)])
    define("WSK_DATA_INDICATION", [("Next", PTR), ("Buffer", wsk_buf)])
    define("WSK_BUF_LIST", [("Next", PTR), ("Buffer", wsk_buf)])
    define(
        "WSK_DATAGRAM_INDICATION",
        [
            ("Next", PTR),
            ("Buffer", wsk_buf),
            ("ControlInfo", PTR),
            ("ControlInfoLength", ULONG),
            ("RemoteAddress", PTR),
        ],
    )
    define("WSK_INSPECT_ID", [("Key", ULONG_PTR), ("SerialNumber", ULONG)])
    define("WSK_SOCKET", [("Dispatch", PTR)])
    define("WSK_CLIENT_NPI", [("ClientContext", PTR), ("Dispatch", PTR)])
    define("WSK_PROVIDER_NPI", [("Client", PTR), ("Dispatch", PTR)])
    define(
        "WSK_REGISTRATION",
        [
            ("ReservedRegistrationState", ULONGLONG),
            ("ReservedRegistrationContext", PTR),
            ("ReservedRegistrationLock", ULONG_PTR),  # KSPIN_LOCK
        ],
    )
    define("WSK_PROVIDER_CHARACTERISTICS", [("HighestVersion", USHORT), ("LowestVersion", USHORT)])
    define(
        "WSK_TRANSPORT",
        [
            ("Version", USHORT),
            ("SocketType", USHORT),
            ("Protocol", ULONG),
            ("AddressFamily", USHORT),  # ADDRESS_FAMILY
            ("ProviderId", guid),
        ],
    )
    define(
        "WSK_EXTENSION_CONTROL_IN",
        [("NpiId", PTR), ("ClientContext", PTR), ("ClientDispatch", PTR)],
    )
    define("WSK_EXTENSION_CONTROL_OUT", [("ProviderContext", PTR), ("ProviderDispatch", PTR)])
    define(
        "WSK_TDI_MAP",
        [
            ("SocketType", USHORT),
            ("AddressFamily", USHORT),  # ADDRESS_FAMILY
            ("Protocol", ULONG),
            ("TdiDeviceName", PTR),
        ],
    )
    define("WSK_TDI_MAP_INFO", [("ElementCount", ULONG), ("Map", PTR)])

    # ws2def.h: CMSGHDR is WSACMSGHDR.
    define("CMSGHDR", [("cmsg_len", SIZE_T), ("cmsg_level", INT), ("cmsg_type", INT)])

    # tdikrnl.h.
    define("TDI_REQUEST_KERNEL_SEND", [("SendLength", ULONG), ("SendFlags", ULONG)])
    define(
        "TDI_REQUEST_KERNEL_SET_EVENT",
        [("EventType", LONG), ("EventHandler", PTR), ("EventContext", PTR)],
    )

    # Not in the yaml: ws2def.h SOCKADDR_IN (ADDRESS_FAMILY sin_family; USHORT sin_port;
    # IN_ADDR sin_addr; CHAR sin_zero[8]) and ws2ipdef.h SOCKADDR_IN6_LH (sin6_family, sin6_port,
    # ULONG sin6_flowinfo, IN6_ADDR sin6_addr, union {ULONG sin6_scope_id; SCOPE_ID}). Addresses
    # stay raw bytes in network order; IN_ADDR is a union holding a ULONG, hence align 4.
    define(
        "SOCKADDR_IN",
        [
            ("sin_family", USHORT),
            ("sin_port", USHORT_BE),
            ("sin_addr", _CType(cs.Bytes(4), 4)),
            ("sin_zero", _CType(cs.Bytes(8), 1)),
        ],
    )
    define(
        "SOCKADDR_IN6",
        [
            ("sin6_family", USHORT),
            ("sin6_port", USHORT_BE),
            ("sin6_flowinfo", ULONG),
            ("sin6_addr", _CType(cs.Bytes(16), 2)),  # union of UCHAR[16] / USHORT[8]
            ("sin6_scope_id", ULONG),
        ],
    )

    # Dispatch tables (yaml: dispatch_tables): function pointers, except the USHORT
    # Version/Reserved header of WSK_PROVIDER_DISPATCH and WSK_CLIENT_DISPATCH.
    tables: dict[str, tuple[str, ...]] = {
        PROVIDER_DISPATCH_STRUCTS[key]: members
        for key, members in PROVIDER_DISPATCH_MEMBERS.items()
    }
    tables.update(CLIENT_DISPATCH_MEMBERS)
    for name, members in tables.items():
        define(name, [(m, USHORT if m in ("Version", "Reserved") else PTR) for m in members])

    return (
        {name: t.con for name, t in types.items()},
        {name: t.align for name, t in types.items()},
    )


@dataclass(frozen=True)
class Layouts:
    """The construct Struct of every structure for one architecture.

    Access by attribute (``layouts("x64").WSK_BUF``) or by name (``layouts("x64")["WSK_BUF"]``).
    """

    arch: str
    pointer_size: int
    structs: Mapping[str, cs.Construct]
    alignments: Mapping[str, int]

    def __getattr__(self, name: str) -> cs.Construct:
        # Only reached when normal lookup fails; dunders must fail fast (copy, pickle probe them).
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self.__dict__["structs"][name]
        except KeyError:
            raise AttributeError(f"no {name} layout for {self.__dict__.get('arch')}") from None

    def __getitem__(self, name: str) -> cs.Construct:
        try:
            return self.structs[name]
        except KeyError:
            raise KeyError(f"no {name} layout for {self.arch}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.structs

    def __iter__(self) -> Iterator[str]:
        return iter(self.structs)


@cache
def layouts(arch: str) -> Layouts:
    """All layouts for ``arch`` ("x64" or "x86"); built once per architecture."""
    check_arch(arch)
    structs, alignments = _build(arch)
    return Layouts(arch, _POINTER_SIZE[arch], structs, alignments)


@cache
def sizeof(name: str, arch: str) -> int:
    """``sizeof(name)`` on ``arch``, tail padding included (cached: layouts never change, and
    WskControlSocket asks on every call)."""
    return int(layouts(arch)[name].sizeof())


def alignof(name: str, arch: str) -> int:
    """``__alignof(name)`` on ``arch``."""
    layout = layouts(arch)
    if name not in layout:
        raise KeyError(f"no {name} layout for {arch}")
    return layout.alignments[name]


@cache
def offsetof(name: str, field: str, arch: str) -> int:
    """``FIELD_OFFSET(name, field)``; ``field`` may be dotted for nested structs
    (``offsetof("WSK_DATA_INDICATION", "Buffer.Length", "x64") == 24``)."""
    con: Any = layouts(arch)[name]
    offset = 0
    for part in field.split("."):
        if not isinstance(con, cs.Struct):
            raise KeyError(f"{name}.{field}: {part!r} is inside a non-struct field")
        for sub in con.subcons:
            if sub.name == part:
                con = sub.subcon if isinstance(sub, cs.Renamed) else sub
                break
            offset += sub.sizeof()
        else:
            raise KeyError(f"{name} has no field {field!r}")
    return offset


def dispatch_table_size(name: str, arch: str, upto: str | None = None) -> int:
    """Size of dispatch table ``name``, or of the older version that ends with member ``upto``
    (see ``constants.DISPATCH_TABLE_VARIANTS``)."""
    if upto is None:
        return sizeof(name, arch)
    return offsetof(name, upto, arch) + pointer_size(arch)


def pack_struct(name: str, values: Mapping[str, Any], arch: str) -> bytes:
    """Build the bytes of structure ``name`` from a (possibly nested) field mapping."""
    return bytes(layouts(arch)[name].build(dict(values)))


def _plain(value: Any) -> Any:
    if isinstance(value, cs.Container):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("_")}
    return value


def parse_struct(name: str, data: bytes | bytearray | memoryview, arch: str) -> dict[str, Any]:
    """Parse exactly ``sizeof(name)`` bytes into a plain (nested) dict of fields."""
    size = sizeof(name, arch)
    if len(data) != size:
        raise ValueError(f"{name} is {size} bytes on {arch}, got {len(data)}")
    result: dict[str, Any] = _plain(layouts(arch)[name].parse(bytes(data)))
    return result


# --- WSK_EVENT_CALLBACK_CONTROL (SO_WSK_EVENT_CALLBACK input) ----------------------------------
def pack_event_callback_control(npi_id_address: int, event_mask: int, arch: str) -> bytes:
    """The InputBuffer a driver passes with SO_WSK_EVENT_CALLBACK: ``{NpiId, EventMask}``."""
    if not 0 <= npi_id_address < (1 << (8 * pointer_size(arch))):
        raise ValueError(f"NpiId address {npi_id_address:#x} does not fit a {arch} pointer")
    if not 0 <= event_mask <= 0xFFFFFFFF:
        raise ValueError(f"EventMask {event_mask:#x} does not fit a ULONG")
    return pack_struct(
        "WSK_EVENT_CALLBACK_CONTROL", {"NpiId": npi_id_address, "EventMask": event_mask}, arch
    )


def parse_event_callback_control(
    data: bytes | bytearray | memoryview, arch: str
) -> tuple[int, int]:
    """``(NpiId address, EventMask)`` from an InputBuffer of exactly
    ``sizeof(WSK_EVENT_CALLBACK_CONTROL)`` bytes (x64: 16, x86: 8); ``ValueError`` otherwise."""
    fields = parse_struct("WSK_EVENT_CALLBACK_CONTROL", data, arch)
    return int(fields["NpiId"]), int(fields["EventMask"])
