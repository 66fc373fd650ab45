"""Parsing and formatting of sizes, rates and durations (harness.units)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.suggest import did_you_mean
from harness.units import (
    format_duration,
    format_rate,
    format_size,
    parse_duration,
    parse_quantity,
    parse_rate,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (1500, 1500),
        ("1500", 1500),
        ("64KiB", 64 * 1024),
        ("1MiB", 1024**2),
        ("16 MiB", 16 * 1024**2),
        ("  2 GiB  ", 2 * 1024**3),
        ("1TiB", 1024**4),
        ("64KB", 64_000),
        ("64kB", 64_000),
        ("3MB", 3_000_000),
        ("1.5MiB", 1_572_864),
        ("0.5KiB", 512),
        ("1_000_000", 1_000_000),
        ("12B", 12),
        (2048.0, 2048),
    ],
)
def test_parse_size(text: object, expected: int) -> None:
    assert parse_size(text) == expected
    assert type(parse_size(text)) is int


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (1_000_000, 1_000_000),
        ("1Gbps", 10**9),
        ("100Mbps", 10**8),
        ("10 Gbps", 10**10),
        ("1.5Mbps", 1_500_000),
        ("800kbps", 800_000),
        ("800Kbps", 800_000),
        ("10 Gb/s", 10**10),
        # B is a byte: eight bits.
        ("1GBps", 8 * 10**9),
        ("125MB/s", 10**9),
        ("1KiB/s", 8192),
        ("64bps", 64),
    ],
)
def test_parse_rate(text: object, expected: int) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (40, 40),
        ("250ns", 250),
        ("100us", 100_000),
        ("100\u00b5s", 100_000),
        ("100\u03bcs", 100_000),
        ("40ms", 40_000_000),
        ("1.5s", 1_500_000_000),
        ("2min", 120 * 10**9),
        ("1h", 3600 * 10**9),
        ("0.000001ms", 1),
    ],
)
def test_parse_duration(text: object, expected: int) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("parse", "value", "fragments"),
    [
        (parse_size, "64 Kib", ["expected a size like 64KiB or 1500", "'64 Kib'", "'KiB'"]),
        (parse_size, "0.1KiB", ["102.4 bytes", "not a whole number"]),
        (parse_size, "64k", ["ambiguous", "KiB", "KB"]),
        (parse_size, "64Mb", ["bits", "'MB'"]),
        (parse_size, "1Gbps", ["unit of rate, not of size"]),
        (parse_size, "-1", ["negative"]),
        (parse_size, True, ["boolean"]),
        (parse_size, None, ["null"]),
        (parse_size, [1], ["list"]),
        (parse_size, 1.5, ["not a whole number"]),
        (parse_size, float("inf"), ["expected a size"]),
        (parse_size, "KiB", ["number is missing"]),
        (parse_size, "1.2.3KiB", ["expected a size"]),
        (parse_size, "9" * 100, ["too long"]),
        (parse_rate, "5mbps", ["'Mbps'", "'MBps'"]),
        (parse_rate, "64MB", ["MB/s"]),
        (parse_rate, "1.5bps", ["not a whole number"]),
        (parse_rate, "1Gbsp", ["did you mean 'Gbps'"]),
        (parse_duration, "5m", ["'min'", "'ms'"]),
        (parse_duration, "3 sec", ["write 's'"]),
        (parse_duration, "0.5ns", ["not a whole number"]),
        (parse_duration, "40 MS", ["did you mean 'ms'"]),
        (parse_duration, "1KiB", ["unit of size, not of duration"]),
    ],
)
def test_parse_errors_say_what_was_expected(
    parse: object, value: object, fragments: list[str]
) -> None:
    assert callable(parse)
    with pytest.raises(ValueError) as info:
        parse(value)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_no_float_rounding() -> None:
    # 0.1 + 0.2 style surprises would turn 4.35s into 4349999999 ns with floats.
    assert parse_duration("4.35s") == 4_350_000_000
    assert parse_size("1.1MB") == 1_100_000
    assert parse_rate("2.3Gbps") == 2_300_000_000


def test_parse_quantity_picks_the_kind_from_the_unit() -> None:
    assert parse_quantity("64KiB") == ("size", 65536)
    assert parse_quantity("1Gbps") == ("rate", 10**9)
    assert parse_quantity("40ms") == ("duration", 40_000_000)
    with pytest.raises(ValueError, match="unknown unit 'Kib'"):
        parse_quantity("64Kib")
    with pytest.raises(ValueError, match="expected a unit"):
        parse_quantity("64")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1500, "1500 B"),
        (65536, "64 KiB"),
        (1_572_864, "1.5 MiB"),
        (10**6, "1 MB"),
        (100_000, "100 KB"),
        (-65536, "-64 KiB"),
        (123_456_789, "~117.738 MiB"),
    ],
)
def test_format_size(value: int, text: str) -> None:
    assert format_size(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (10**9, "1 Gbps"),
        (1_500_000, "1.5 Mbps"),
        (800_000, "800 kbps"),
        (0, "0 bps"),
        (1_234_567, "~1.235 Mbps"),
        (948_123_456.7, "~948.123 Mbps"),
    ],
)
def test_format_rate(value: float, text: str) -> None:
    assert format_rate(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (40_000_000, "40 ms"),
        (1_500_000_000, "1.5 s"),
        (250, "250 ns"),
        (120 * 10**9, "2 min"),
        (3600 * 10**9, "1 h"),
        (90 * 10**9, "90 s"),
        (40_123_456, "~40.123 ms"),
    ],
)
def test_format_duration(value: int, text: str) -> None:
    assert format_duration(value) == text


@given(st.integers(min_value=0, max_value=2**50))
def test_exact_size_formats_parse_back(value: int) -> None:
    text = format_size(value)
    if not text.startswith("~"):
        assert parse_size(text) == value


@given(st.integers(min_value=0, max_value=10**13))
def test_exact_rate_formats_parse_back(value: int) -> None:
    text = format_rate(value)
    if not text.startswith("~"):
        assert parse_rate(text) == value


@given(st.integers(min_value=0, max_value=10**13))
def test_exact_duration_formats_parse_back(value: int) -> None:
    text = format_duration(value)
    if not text.startswith("~"):
        assert parse_duration(text) == value


@given(st.text(max_size=30))
def test_parsers_raise_only_value_error(text: str) -> None:
    for parse in (parse_size, parse_rate, parse_duration):
        try:
            result = parse(text)
        except ValueError:
            continue
        assert isinstance(result, int) and result >= 0


def test_did_you_mean() -> None:
    assert did_you_mean("bandwith", ["bandwidth", "rtt", "loss"]) == "bandwidth"
    assert did_you_mean("kib", ["KiB", "MiB"]) == "KiB"
    assert did_you_mean("zzz", ["bandwidth", "rtt"]) is None
    # An exact match is not a suggestion.
    assert did_you_mean("rtt", ["rtt"]) is None
    # Deterministic whatever the iteration order of the candidates.
    assert did_you_mean("conn", {"conn0", "conn1"}) == did_you_mean("conn", ["conn1", "conn0"])
