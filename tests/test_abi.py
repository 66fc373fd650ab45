"""Structure layouts in mock_wsk.abi against shared/reference/wsk_abi.yaml (``structs`` and
``dispatch_tables``): sizes, alignments, every listed offset and the field order, on x64 and x86;
the NPI GUID's bytes; and pack/parse round trips.

The reference is located as in test_reference_values.py (``WSK_ABI_REFERENCE`` overrides); a
missing file fails rather than skips.
"""

from __future__ import annotations

import functools
import os
import re
import struct
from pathlib import Path
from typing import Any

import construct as cs
import pytest
import yaml

from mock_wsk import abi, constants
from mock_wsk.abi import ARCHITECTURES, GUID

REFERENCE_ENV = "WSK_ABI_REFERENCE"


def reference_path() -> Path:
    override = os.environ.get(REFERENCE_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared" / "reference" / "wsk_abi.yaml"


@functools.cache
def _load(path: Path) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.load(handle, Loader=loader)
    return data


def _reference() -> dict[str, Any]:
    path = reference_path()
    if not path.is_file():
        pytest.fail(
            f"ABI reference not found at {path}. These tests check every WSK structure layout "
            f"against it; check out shared/ beside the project or set {REFERENCE_ENV}.",
            pytrace=False,
        )
    return _load(path)


@pytest.fixture(scope="module")
def ref() -> dict[str, Any]:
    return _reference()


def _struct_names() -> list[str]:
    # Parametrize from the reference itself, so a struct added there shows up here as a test.
    try:
        structs = _load(reference_path())["structs"]
    except OSError:
        return ["<reference missing>"]
    return [name for name, spec in structs.items() if isinstance(spec, dict)]


def _arch_spec(spec: dict[str, Any], arch: str) -> dict[str, Any] | None:
    found = spec.get(arch, spec.get("all_arch"))
    return found if isinstance(found, dict) else None


def _named_fields(con: Any) -> list[str]:
    return [sub.name for sub in con.subcons if sub.name is not None]


# --- structs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("name", _struct_names())
def test_struct_layout_matches_reference(ref: dict[str, Any], name: str, arch: str) -> None:
    assert name in ref["structs"], "reference missing"
    spec = ref["structs"][name]
    assert name in abi.layouts(arch), f"{name} is in the reference but has no layout"
    con = abi.layouts(arch)[name]
    # Field order: the reference lists the header's fields in order.
    assert _named_fields(con) == [f["name"] for f in spec["fields"]]
    arch_spec = _arch_spec(spec, arch)
    if arch_spec is None:
        return  # the reference gives no numbers for this one (CMSGHDR); order checked above
    if "size" in arch_spec:
        assert abi.sizeof(name, arch) == arch_spec["size"]
    if "align" in arch_spec:
        assert abi.alignof(name, arch) == arch_spec["align"]
    for field, offset in arch_spec.get("offsets", {}).items():
        assert abi.offsetof(name, field, arch) == offset, field


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_socket_address_layouts(arch: str) -> None:
    # Not in the reference: ws2def.h SOCKADDR_IN is 16 bytes, ws2ipdef.h SOCKADDR_IN6_LH 28.
    assert abi.sizeof("SOCKADDR_IN", arch) == 16
    assert abi.offsetof("SOCKADDR_IN", "sin_addr", arch) == 4
    assert abi.offsetof("SOCKADDR_IN", "sin_zero", arch) == 8
    assert abi.sizeof("SOCKADDR_IN6", arch) == 28
    assert abi.offsetof("SOCKADDR_IN6", "sin6_flowinfo", arch) == 4
    assert abi.offsetof("SOCKADDR_IN6", "sin6_addr", arch) == 8
    assert abi.offsetof("SOCKADDR_IN6", "sin6_scope_id", arch) == 24


def test_guid_layout_is_16_bytes_on_both() -> None:
    for arch in ARCHITECTURES:
        assert abi.sizeof("GUID", arch) == abi.sizeof("NPIID", arch) == 16
        assert [abi.offsetof("GUID", f, arch) for f in ("Data1", "Data2", "Data3", "Data4")] == [
            0,
            4,
            6,
            8,
        ]


# --- dispatch tables ---------------------------------------------------------------------------
def _dispatch_names() -> list[str]:
    try:
        tables = _load(reference_path())["dispatch_tables"]
    except OSError:
        return ["<reference missing>"]
    return [name for name in tables if not name.startswith("_")]


@pytest.mark.parametrize("name", _dispatch_names())
def test_dispatch_table_layout_matches_reference(ref: dict[str, Any], name: str) -> None:
    spec = ref["dispatch_tables"][name]
    for key, size in spec["size"].items():
        variant, _, arch = key.rpartition("_")
        if not variant:
            assert abi.dispatch_table_size(name, arch) == size, key
        else:
            last = constants.DISPATCH_TABLE_VARIANTS[name][variant]
            assert abi.dispatch_table_size(name, arch, upto=last) == size, key
    for arch, offsets in spec.get("offsets", {}).items():
        for member, offset in offsets.items():
            assert abi.offsetof(name, member, arch) == offset, (arch, member)
    # yaml _layout: member i at i*pointer after an optional USHORT Version/Reserved header.
    has_header = name in ("WSK_PROVIDER_DISPATCH", "WSK_CLIENT_DISPATCH")
    for arch in ARCHITECTURES:
        fields = _named_fields(abi.layouts(arch)[name])
        pointers = [m for m in fields if m not in ("Version", "Reserved")]
        header = abi.pointer_size(arch) if has_header else 0
        for i, member in enumerate(pointers):
            assert abi.offsetof(name, member, arch) == header + i * abi.pointer_size(arch)


_HISTORY = re.compile(r"(?:ends at|\+) ([\w, ]+?) \((\d+) pointers(?:; (\d+)/(\d+) bytes)?\)")


@pytest.mark.parametrize(
    "name", ["WSK_PROVIDER_CONNECTION_DISPATCH", "WSK_PROVIDER_STREAM_DISPATCH"]
)
def test_dispatch_table_history(ref: dict[str, Any], name: str) -> None:
    # e.g. "WDK 10.0.16299 (RS3): + WskConnectEx (11 pointers; 88/44 bytes)": the older table ends
    # at WskConnectEx, holds 11 pointers and is 88 bytes on x64, 44 on x86.
    lines = ref["dispatch_tables"][name]["history"]
    members = constants.PROVIDER_DISPATCH_MEMBERS[
        {v: k for k, v in constants.PROVIDER_DISPATCH_STRUCTS.items()}[name]
    ]
    seen = 0
    for line in lines:
        match = _HISTORY.search(line)
        if not match:
            continue
        last = match[1].split(",")[-1].strip()
        assert members.index(last) + 1 == int(match[2]), line
        if match[3]:
            assert abi.dispatch_table_size(name, "x64", upto=last) == int(match[3]), line
            assert abi.dispatch_table_size(name, "x86", upto=last) == int(match[4]), line
        seen += 1
    assert seen >= 2, f"history lines no longer parse: {lines}"


# --- GUID --------------------------------------------------------------------------------------
def test_npi_guid_bytes_match_reference(ref: dict[str, Any]) -> None:
    spec = ref["guids"]["NPI_WSK_INTERFACE_ID"]
    expected = bytes.fromhex(spec["bytes_in_memory_little_endian"])
    guid = constants.NPI_WSK_INTERFACE_ID
    assert guid.to_bytes() == expected
    assert (
        abi.pack_struct(
            "GUID",
            {"Data1": guid.Data1, "Data2": guid.Data2, "Data3": guid.Data3, "Data4": guid.Data4},
            "x64",
        )
        == expected
    )
    assert GUID.from_bytes(expected) == guid
    assert GUID.from_string(spec["value"]) == guid
    assert str(GUID.from_bytes(expected)) == spec["value"]


def test_guid_validation() -> None:
    with pytest.raises(ValueError):
        GUID(0, 0, 0, b"\x00" * 7)
    with pytest.raises(ValueError):
        GUID(1 << 32, 0, 0, b"\x00" * 8)
    with pytest.raises(ValueError):
        GUID.from_bytes(b"\x00" * 15)
    with pytest.raises(ValueError):
        GUID.from_string("{not-a-guid}")
    # A mutable Data4 is copied to bytes, keeping the frozen GUID hashable.
    guid = GUID(1, 2, 3, bytearray(range(8)))  # type: ignore[arg-type]
    assert isinstance(guid.Data4, bytes) and hash(guid) == hash(GUID(1, 2, 3, bytes(range(8))))


# --- pack / parse ------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_event_callback_control_round_trip(ref: dict[str, Any], arch: str) -> None:
    spec = ref["structs"]["WSK_EVENT_CALLBACK_CONTROL"][arch]
    address = 0xFFFF_F800_1234_5670 if arch == "x64" else 0x8123_4560
    mask = constants.WSK_EVENT_RECEIVE | constants.WSK_EVENT_DISCONNECT
    data = abi.pack_event_callback_control(address, mask, arch)
    assert len(data) == spec["size"]
    # Check the bytes independently of construct, at the reference offsets.
    pointer_format = "<Q" if arch == "x64" else "<I"
    assert struct.unpack_from(pointer_format, data, spec["offsets"]["NpiId"])[0] == address
    assert struct.unpack_from("<I", data, spec["offsets"]["EventMask"])[0] == mask
    assert abi.parse_event_callback_control(data, arch) == (address, mask)
    disable = constants.WSK_EVENT_DISABLE | constants.WSK_EVENT_RECEIVE
    assert abi.parse_event_callback_control(
        abi.pack_event_callback_control(address, disable, arch), arch
    ) == (address, disable)


def test_event_callback_control_rejects_bad_input() -> None:
    x64 = abi.pack_event_callback_control(0x1000, constants.WSK_EVENT_RECEIVE, "x64")
    with pytest.raises(ValueError):
        abi.parse_event_callback_control(x64, "x86")  # 16 bytes where x86 expects 8
    with pytest.raises(ValueError):
        abi.parse_event_callback_control(x64[:8], "x64")
    with pytest.raises(ValueError):
        abi.pack_event_callback_control(1 << 32, 0, "x86")  # not a 32-bit pointer
    with pytest.raises(ValueError):
        abi.pack_event_callback_control(0, 1 << 32, "x64")


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_nested_struct_round_trip(ref: dict[str, Any], arch: str) -> None:
    offsets = ref["structs"]["WSK_DATA_INDICATION"][arch]["offsets"]
    values = {"Next": 0x1000, "Buffer": {"Mdl": 0x2000, "Offset": 12, "Length": 1460}}
    data = abi.pack_struct("WSK_DATA_INDICATION", values, arch)
    assert abi.parse_struct("WSK_DATA_INDICATION", data, arch) == values
    length_format = "<Q" if arch == "x64" else "<I"
    assert struct.unpack_from(length_format, data, offsets["Buffer.Length"])[0] == 1460
    assert struct.unpack_from("<I", data, offsets["Buffer.Offset"])[0] == 12


def test_sockaddr_in_port_is_network_order() -> None:
    values = {
        "sin_family": 2,
        "sin_port": 80,
        "sin_addr": bytes([127, 0, 0, 1]),
        "sin_zero": bytes(8),
    }
    data = abi.pack_struct("SOCKADDR_IN", values, "x64")
    assert data[:8] == bytes([2, 0, 0, 80, 127, 0, 0, 1])
    assert abi.parse_struct("SOCKADDR_IN", data, "x86") == values


def test_layouts_api() -> None:
    x64 = abi.layouts("x64")
    assert x64 is abi.layouts("x64")  # cached per arch
    assert x64.WSK_BUF is x64["WSK_BUF"] and isinstance(x64.WSK_BUF, cs.Struct)
    assert x64.pointer_size == 8 and abi.layouts("x86").pointer_size == 4
    with pytest.raises(ValueError):
        abi.layouts("arm64")
    with pytest.raises(AttributeError):
        _ = x64.NOT_A_STRUCT
    with pytest.raises(KeyError):
        abi.sizeof("NOT_A_STRUCT", "x64")
    with pytest.raises(KeyError):
        abi.offsetof("WSK_BUF", "Nope", "x64")
    with pytest.raises(KeyError):
        abi.offsetof("WSK_BUF", "Length.Deeper", "x64")
    with pytest.raises(ValueError):
        abi.parse_struct("WSK_BUF", bytes(23), "x64")
