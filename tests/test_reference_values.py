"""Every number in mock_wsk.status / mock_wsk.constants against shared/reference/wsk_abi.yaml.

Checked in both directions: each value the mock defines equals the reference, and each non-null
numeric reference entry of the covered sections is defined. Names the reference marks as
nonexistent (``value: null``) must *not* be defined, so an invented constant cannot creep in.

The reference sits beside the project (``<repo>/shared/reference/wsk_abi.yaml``);
``WSK_ABI_REFERENCE`` overrides the path. A missing file is a failure, not a skip: these tests are
the only guard on the numbers.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mock_wsk import constants, status
from mock_wsk.abi import ARCHITECTURES
from mock_wsk.constants import BugCheck
from mock_wsk.status import NT_ERROR, NT_INFORMATION, NT_SUCCESS, NT_WARNING, NTSTATUS

REFERENCE_ENV = "WSK_ABI_REFERENCE"

# Sections whose constant-named entries map one-to-one onto module-level names in constants.
GENERIC_SECTIONS = (
    "wsk_event_flags",
    "wsk_socket_flags",
    "wsk_io_flags",
    "wsk_control",
    "tdi",
    "winsock",
)

# Constant-named reference entries that carry no single number; each has its own test below.
NOT_PLAIN_VALUES = {
    "WSK_CONTROL_SOCKET_TYPE": "test_enums_match_reference",
    "WSK_INSPECT_ACTION": "test_enums_match_reference",
    "MAKE_WSK_VERSION": "test_wsk_version_macros",
    "WSK_MAJOR_VERSION": "test_wsk_version_macros",
    "WSK_MINOR_VERSION": "test_wsk_version_macros",
    "WSKAPI": "a calling convention, nothing to define",
    "INVALID_SOCKET": "test_invalid_socket",
    "TDI_REQUEST_KERNEL_SET_EVENT": "a structure (tests/test_abi.py)",
    "PTDI_IND_SEND_POSSIBLE": "a callback signature, nothing to define",
}

# Values the mock defines from reference *text* rather than a value field; each tested below.
DERIVED_FROM_TEXT = {"ISB_MAX", "MSG_BCAST", "MSG_MCAST"}

_CONST_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


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


@pytest.fixture(scope="module")
def ref() -> dict[str, Any]:
    path = reference_path()
    if not path.is_file():
        pytest.fail(
            f"ABI reference not found at {path}. These tests check every WSK/NTSTATUS number "
            f"against it; check out shared/ beside the project or set {REFERENCE_ENV}.",
            pytrace=False,
        )
    return _load(path)


# --- reading the reference ---------------------------------------------------------------------
_ABSENT = object()


def _raw_value(entry: Any) -> Any:
    """The value field of an entry: ``{value: X, ...}`` -> X, a scalar -> itself, else _ABSENT."""
    if isinstance(entry, dict):
        return entry["value"] if "value" in entry else _ABSENT
    return entry


def _as_int(raw: Any, ref: dict[str, Any]) -> int | None:
    """An int from a reference scalar: int, "0x.." / decimal string, or a STATUS_ name."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        if raw.startswith("STATUS_") and raw in ref["ntstatus"]:
            return _as_int(_raw_value(ref["ntstatus"][raw]), ref)
        try:
            return int(raw, 0)
        except ValueError:
            return None
    return None


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, str, Any]]:
    """(path, NAME, entry) for every constant-named key, descending into lowercase subsections."""
    for key, entry in node.items():
        if _CONST_NAME.match(key):
            yield path, key, entry
        elif isinstance(entry, dict) and not key.startswith("_"):
            yield from _walk(entry, f"{path}.{key}")


def _generic_reference(ref: dict[str, Any]) -> tuple[dict[str, int], set[str], list[str]]:
    """(expected values, names marked nonexistent, unhandled non-numeric entries)."""
    expected: dict[str, int] = {}
    nonexistent: set[str] = set()
    unhandled: list[str] = []
    conflicts: list[str] = []
    for section in GENERIC_SECTIONS:
        for path, name, entry in _walk(ref[section], section):
            raw = _raw_value(entry)
            if raw is None:
                nonexistent.add(name)
                continue
            value = _as_int(raw, ref)
            if value is None:
                if name not in NOT_PLAIN_VALUES:
                    unhandled.append(f"{path}.{name}")
                continue
            if name in expected and expected[name] != value:
                conflicts.append(f"{name}: {expected[name]:#x} vs {value:#x} at {path}")
            expected[name] = value
    assert not conflicts, f"the reference gives one name two values: {conflicts}"
    return expected, nonexistent, unhandled


def _enum_values(ref: dict[str, Any]) -> dict[str, dict[str, int]]:
    enums = ref["wsk_control"]["enums"]
    return {name: dict(spec["values"]) for name, spec in enums.items() if isinstance(spec, dict)}


def _fmt(value: int) -> str:
    return f"{value:#x}" if value >= 0 else str(value)


# --- NTSTATUS ----------------------------------------------------------------------------------
def _ntstatus_entries(ref: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in ref["ntstatus"].items() if not k.startswith("_")}


def test_ntstatus_values_match_reference(ref: dict[str, Any]) -> None:
    entries = _ntstatus_entries(ref)
    missing = [name for name in entries if name not in NTSTATUS.__members__]
    wrong = [
        f"{name}: mock {NTSTATUS[name]:#010x}, reference {spec['value']}"
        for name, spec in entries.items()
        if name in NTSTATUS.__members__ and NTSTATUS[name] != int(spec["value"], 16)
    ]
    extra = [name for name in NTSTATUS.__members__ if name not in entries]
    assert not missing, f"NTSTATUS lacks reference codes: {missing}"
    assert not wrong, f"NTSTATUS values differ from the reference: {wrong}"
    assert not extra, f"NTSTATUS defines codes absent from the reference: {extra}"


_CLASS_TESTS = {
    "success": (True, False, False, False),
    "informational": (True, True, False, False),
    "warning": (False, False, True, False),
    "error": (False, False, False, True),
}


def test_ntstatus_classes_match_reference(ref: dict[str, Any]) -> None:
    wrong = []
    for name, spec in _ntstatus_entries(ref).items():
        code = int(spec["value"], 16)
        got = (NT_SUCCESS(code), NT_INFORMATION(code), NT_WARNING(code), NT_ERROR(code))
        if got != _CLASS_TESTS[spec["class"]]:
            wrong.append(f"{name} ({spec['class']}): NT_SUCCESS/INFORMATION/WARNING/ERROR={got}")
        if "nt_success" in spec and NT_SUCCESS(code) != spec["nt_success"]:
            wrong.append(f"{name}: NT_SUCCESS should be {spec['nt_success']}")
    assert not wrong, wrong


def test_nt_success_accepts_signed_view() -> None:
    # C code holds NTSTATUS in a LONG; -1073741823 is 0xC0000001.
    assert not NT_SUCCESS(-1073741823) and NT_ERROR(-1073741823)
    assert status.to_signed(NTSTATUS.STATUS_UNSUCCESSFUL) == -1073741823
    assert status.to_signed(NTSTATUS.STATUS_PENDING) == 0x103


def test_ntstatus_module_level_names_and_status_name(ref: dict[str, Any]) -> None:
    for name in _ntstatus_entries(ref):
        assert getattr(status, name) is NTSTATUS[name], name
        assert name in status.__all__, name
        assert status.status_name(int(NTSTATUS[name])) == name
    assert status.status_name(0xC0DE0001) == "0xC0DE0001"
    assert status.status_name(-1073741823) == "STATUS_UNSUCCESSFUL"
    # No module-level STATUS_* that is not the enum member of the same name.
    stray = [n for n in vars(status) if n.startswith("STATUS_") and n not in NTSTATUS.__members__]
    assert not stray, stray


# --- IRQL --------------------------------------------------------------------------------------
def _irql_table(ref: dict[str, Any], arch: str) -> dict[str, int]:
    return {name: int(_raw_value(entry)) for name, entry in ref["irql"][arch].items()}


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_irql_levels_match_reference(ref: dict[str, Any], arch: str) -> None:
    assert constants.IRQL_LEVELS[arch] == _irql_table(ref, arch)
    assert constants.high_level(arch) == _irql_table(ref, arch)["HIGH_LEVEL"]


def test_irql_common_levels_match_reference(ref: dict[str, Any]) -> None:
    common = ref["irql"]["common_x86_x64"]
    for name, value in common.items():
        assert getattr(constants, name) == value, name
        for arch in ARCHITECTURES:
            assert constants.IRQL_LEVELS[arch][name] == value, (arch, name)
    assert set(constants.IRQL_LEVELS) == set(ARCHITECTURES)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_irql_name_round_trips(arch: str) -> None:
    levels = constants.IRQL_LEVELS[arch]
    for level in set(levels.values()):
        assert levels[constants.irql_name(level, arch)] == level
    assert constants.irql_name(levels["HIGH_LEVEL"], arch) == "HIGH_LEVEL"
    assert constants.irql_name(0, arch) == "PASSIVE_LEVEL"
    assert constants.irql_name(7, arch) == "IRQL 7"
    with pytest.raises(ValueError):
        constants.high_level("arm64")


# --- Bug checks --------------------------------------------------------------------------------
def test_bugcheck_codes_match_reference(ref: dict[str, Any]) -> None:
    entries = {k: int(v["value"], 16) for k, v in ref["bugcheck"].items() if not k.startswith("_")}
    assert {m.name: int(m) for m in BugCheck} == entries


# --- WSK / TDI / Winsock constants -------------------------------------------------------------
def test_reference_constants_are_defined_and_equal(ref: dict[str, Any]) -> None:
    expected, _, unhandled = _generic_reference(ref)
    assert not unhandled, (
        "reference entries with no numeric value and no dedicated test "
        f"(add a test or a NOT_PLAIN_VALUES reason): {unhandled}"
    )
    missing = sorted(name for name in expected if not hasattr(constants, name))
    wrong = [
        f"{name}: mock {_fmt(getattr(constants, name))}, reference {_fmt(value)}"
        for name, value in expected.items()
        if hasattr(constants, name) and getattr(constants, name) != value
    ]
    assert not missing, f"reference constants not defined in mock_wsk.constants: {missing}"
    assert not wrong, f"constants differ from the reference: {wrong}"


def test_nonexistent_names_are_not_defined(ref: dict[str, Any]) -> None:
    _, nonexistent, _ = _generic_reference(ref)
    nonexistent |= set(ref["wsk_event_flags"]["nonexistent"]["names"])
    assert "WSK_EVENT_INSPECT" in nonexistent  # the walk really saw the list
    defined = sorted(name for name in nonexistent if hasattr(constants, name))
    assert not defined, f"the reference says these do not exist, but the mock has: {defined}"


def test_every_defined_constant_comes_from_the_reference(ref: dict[str, Any]) -> None:
    expected, _, _ = _generic_reference(ref)
    known = set(expected) | set(ref["irql"]["common_x86_x64"]) | DERIVED_FROM_TEXT
    for values in _enum_values(ref).values():
        known |= set(values)
    invented = sorted(
        name
        for name, value in vars(constants).items()
        if not name.startswith("_")
        and isinstance(value, int)
        and not isinstance(value, bool)
        and name not in known
    )
    assert not invented, f"constants with no reference entry: {invented}"


def test_tdi_status_mapping_uses_ntstatus(ref: dict[str, Any]) -> None:
    mapping = {k: v for k, v in ref["tdi"]["tdi_status_mapping_nt"].items() if k[0] != "_"}
    assert mapping
    for tdi_name, status_name in mapping.items():
        assert getattr(constants, tdi_name) is NTSTATUS[status_name], tdi_name


def test_event_flags_name_their_callbacks(ref: dict[str, Any]) -> None:
    entries = ref["wsk_event_flags"].values()
    flags = [v for v in entries if isinstance(v, dict) and "callback" in v]
    assert len(flags) == 5
    expected = {int(v["value"], 16): v["callback"] for v in flags}
    assert constants.WSK_EVENT_CALLBACKS == expected


def test_enums_match_reference(ref: dict[str, Any]) -> None:
    enums = _enum_values(ref)
    for enum_name, values in enums.items():
        enum_cls = getattr(constants, enum_name)
        assert {m.name: int(m) for m in enum_cls} == values, enum_name
        for member, value in values.items():
            assert getattr(constants, member) is enum_cls[member], member
            assert getattr(constants, member) == value


def test_wsk_version_macros(ref: dict[str, Any]) -> None:
    example = ref["wsk_control"]["version"]["MAKE_WSK_VERSION"]["example"]
    match = re.fullmatch(r"MAKE_WSK_VERSION\((\d+),\s*(\d+)\) = (0x[0-9A-Fa-f]+)", example)
    assert match, example
    major, minor, value = int(match[1]), int(match[2]), int(match[3], 16)
    assert constants.MAKE_WSK_VERSION(major, minor) == value
    assert constants.WSK_MAJOR_VERSION(value) == major
    assert constants.WSK_MINOR_VERSION(value) == minor
    # The macro truncates to USHORT/UCHAR like the C casts.
    assert constants.MAKE_WSK_VERSION(0x1FF, 0x1FF) == 0xFFFF
    assert constants.WSK_MAJOR_VERSION(0x0203) == 2 and constants.WSK_MINOR_VERSION(0x0203) == 3


def test_invalid_socket(ref: dict[str, Any]) -> None:
    assert ref["winsock"]["INVALID_SOCKET"]["value"] == "(SOCKET)(~0)"
    for arch in ARCHITECTURES:
        pointer_bytes = ref["structs"]["WSK_SOCKET"][arch]["size"]  # sizeof(void *)
        assert constants.invalid_socket(arch) == (1 << (8 * pointer_bytes)) - 1


def test_isb_max_is_16_mib(ref: dict[str, Any]) -> None:
    text = ref["winsock"]["isb_semantics"]["range"]
    match = re.search(r"16 MiB = (\d+)", text)
    assert match, text
    assert constants.ISB_MAX == int(match[1]) == 16 * 1024 * 1024


def test_receive_from_message_flags(ref: dict[str, Any]) -> None:
    text = ref["wsk_io_flags"]["receive_from_event_flags"]
    match = re.search(r"MSG_BCAST / MSG_MCAST \(ws2def\.h values (0x\w+) / (0x\w+)\)", text)
    assert match, text
    assert (constants.MSG_BCAST, constants.MSG_MCAST) == (int(match[1], 16), int(match[2], 16))


def test_ioctl_builders_reproduce_reference_expressions(ref: dict[str, Any]) -> None:
    # The SIO_* values are compared above; this pins the builders for anyone reusing them.
    ioctls = ref["wsk_control"]["ioctls"]
    builders = {
        "_WSAIO": constants._WSAIO,
        "_WSAIOR": constants._WSAIOR,
        "_WSAIOW": constants._WSAIOW,
        "_WSAIORW": constants._WSAIORW,
    }
    checked = 0
    for spec in ioctls.values():
        if not isinstance(spec, dict) or spec.get("value") is None:
            continue
        match = re.fullmatch(r"(_WSAIO\w*)\(IOC_WSK,(0x\w+)\)", spec["expr"])
        assert match, spec["expr"]
        assert builders[match[1]](constants.IOC_WSK, int(match[2], 16)) == int(spec["value"], 16)
        checked += 1
    assert checked == 7
    query = ref["winsock"]["SIO_IDEAL_SEND_BACKLOG_QUERY"]
    assert constants._IOR(ord("t"), 123, 4) == query["decimal"]
    change = ref["winsock"]["SIO_IDEAL_SEND_BACKLOG_CHANGE"]
    assert constants._IO(ord("t"), 122) == change["decimal"]


# --- GUID --------------------------------------------------------------------------------------
def test_npi_wsk_interface_id_matches_reference(ref: dict[str, Any]) -> None:
    spec = ref["guids"]["NPI_WSK_INTERFACE_ID"]
    guid = constants.NPI_WSK_INTERFACE_ID
    fields = spec["fields"]
    assert guid.Data1 == int(fields["Data1"], 16)
    assert guid.Data2 == int(fields["Data2"], 16)
    assert guid.Data3 == int(fields["Data3"], 16)
    assert guid.Data4 == bytes(int(b, 16) for b in fields["Data4"])
    assert str(guid) == spec["value"]


# --- Dispatch tables ---------------------------------------------------------------------------
def _reference_orders(ref: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    orders = {}
    for name, spec in ref["dispatch_tables"].items():
        if name.startswith("_"):
            continue
        order = spec.get("order_current", spec.get("order"))
        # "Version(USHORT)" -> "Version": the type is in the name only as a reminder.
        orders[name] = tuple(re.sub(r"\(.*\)$", "", member) for member in order)
    return orders


def _mock_orders() -> dict[str, tuple[str, ...]]:
    orders = {
        constants.PROVIDER_DISPATCH_STRUCTS[key]: members
        for key, members in constants.PROVIDER_DISPATCH_MEMBERS.items()
    }
    orders.update(constants.CLIENT_DISPATCH_MEMBERS)
    return orders


def test_dispatch_member_order_matches_reference(ref: dict[str, Any]) -> None:
    expected = _reference_orders(ref)
    assert set(constants.PROVIDER_DISPATCH_MEMBERS) == set(constants.PROVIDER_DISPATCH_STRUCTS)
    assert set(constants.PROVIDER_DISPATCH_MEMBERS) == {
        "basic",
        "listen",
        "datagram",
        "connection",
        "stream",
        "WSK_PROVIDER_DISPATCH",
    }
    mock = _mock_orders()
    missing = sorted(set(expected) - set(mock))
    extra = sorted(set(mock) - set(expected))
    wrong = [name for name in expected if name in mock and mock[name] != expected[name]]
    assert not missing, f"dispatch tables not defined: {missing}"
    assert not extra, f"dispatch tables absent from the reference: {extra}"
    assert not wrong, {name: (mock[name], expected[name]) for name in wrong}
    assert list(constants.CLIENT_DISPATCH_MEMBERS) == [n for n in expected if "_CLIENT_" in n]


def test_connection_dispatch_index_of(ref: dict[str, Any]) -> None:
    index_of = ref["dispatch_tables"]["WSK_PROVIDER_CONNECTION_DISPATCH"]["index_of"]
    members = constants.PROVIDER_DISPATCH_MEMBERS["connection"]
    assert {m: i for i, m in enumerate(members)} == index_of


def test_socket_tables_start_with_basic_dispatch() -> None:
    basic = constants.PROVIDER_DISPATCH_MEMBERS["basic"]
    for key in ("listen", "datagram", "connection", "stream"):
        assert constants.PROVIDER_DISPATCH_MEMBERS[key][: len(basic)] == basic, key


def test_dispatch_variants_name_real_members() -> None:
    orders = _mock_orders()
    for table, variants in constants.DISPATCH_TABLE_VARIANTS.items():
        for variant, last in variants.items():
            assert last in orders[table], (table, variant, last)


def test_status_name_and_nt_success_agree_with_the_enum() -> None:
    """status_name's table and NT_SUCCESS's bit test answer what the enum and the severity
    bits answer, for every known code, its signed view and unknown codes."""
    from mock_wsk.status import status_name

    for member in NTSTATUS:
        for value in (int(member), int(member) - (1 << 32), member):
            assert status_name(value) == member.name
            assert NT_SUCCESS(value) is ((int(value) & 0xFFFFFFFF) >> 30 <= 1)
    for value in (0x12345678, 0xC0FFEE00, -1, 0x1_0000_0000, 0x7FFFFFFF, 0x80000000):
        assert NT_SUCCESS(value) is ((value & 0xFFFFFFFF) >> 30 <= 1)
        if (value & 0xFFFFFFFF) not in {int(m) for m in NTSTATUS}:
            assert status_name(value) == f"0x{value & 0xFFFFFFFF:08X}"
