"""Quantities that read naturally in scenarios: ``64KiB``, ``1Gbps``, ``40ms``.

Parsing turns them into exact integers in the units the simulation uses:

* sizes in bytes: ``1500``, ``64KiB`` (x1024), ``64KB`` or ``64kB`` (x1000), ``1.5 MiB``;
* rates in bits per second: ``1Gbps``, ``800kbps``, ``10 Gb/s`` (``b`` is a bit), or byte rates
  ``125MB/s``, ``1GBps`` (``B`` is a byte, x8);
* durations in nanoseconds: ``250ns``, ``100us`` (or ``µs``), ``40ms``, ``1.5s``, ``2min``, ``1h``.

A bare number is already in the target unit (bytes, bit/s, ns).  Unit names are case-sensitive
because case carries meaning (``Mb`` megabit vs ``MB`` megabyte, ``m`` is not minutes).
Arithmetic is exact (:class:`fractions.Fraction`), so ``1.5MiB`` is 1572864 and ``0.1KiB`` is an
error (102.4 bytes) instead of a silently rounded float.

Errors are :class:`ValueError` whose message says what was expected and what was found; callers
that know the file and line wrap them into :class:`harness.errors.ScenarioError`.

Formatting goes the other way for humans (``65536`` -> ``64 KiB``); a leading ``~`` marks a
rounded figure, anything else is exact and parses back to the same integer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from fractions import Fraction
from types import MappingProxyType
from typing import Literal

from harness.suggest import did_you_mean

__all__ = [
    "DURATION_UNITS",
    "RATE_UNITS",
    "SIZE_UNITS",
    "Kind",
    "format_duration",
    "format_rate",
    "format_size",
    "parse_duration",
    "parse_quantity",
    "parse_rate",
    "parse_size",
]

Kind = Literal["size", "rate", "duration"]

# Longer inputs are certainly mistakes, and bounding them keeps Fraction() cheap.
_MAX_TEXT = 64

_DECIMAL_PREFIXES = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_BINARY_PREFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_PREFIXES = {**_DECIMAL_PREFIXES, **_BINARY_PREFIXES}

SIZE_UNITS: Mapping[str, int] = MappingProxyType(
    {"B": 1, **{p + "B": m for p, m in _PREFIXES.items() if p}}
)
"""Size unit -> bytes.  ``kB`` and ``KB`` are both 1000; the ``i`` forms are powers of 1024."""

RATE_UNITS: Mapping[str, int] = MappingProxyType(
    {
        prefix + letter + per: multiplier * bits
        for prefix, multiplier in _PREFIXES.items()
        for letter, bits in (("b", 1), ("B", 8))
        for per in ("ps", "/s")
    }
)
"""Rate unit -> bits per second: ``Mbps`` and ``Mb/s`` are 10**6, ``MBps`` and ``MB/s`` 8*10**6."""

DURATION_UNITS: Mapping[str, int] = MappingProxyType(
    {
        "ns": 1,
        "us": 10**3,
        "\u00b5s": 10**3,  # MICRO SIGN, what most keyboards type
        "\u03bcs": 10**3,  # GREEK SMALL LETTER MU, what some editors substitute
        "ms": 10**6,
        "s": 10**9,
        "min": 60 * 10**9,
        "h": 3600 * 10**9,
    }
)
"""Duration unit -> nanoseconds."""

_UNITS_BY_KIND: dict[Kind, Mapping[str, int]] = {
    "size": SIZE_UNITS,
    "rate": RATE_UNITS,
    "duration": DURATION_UNITS,
}

_EXPECTED: dict[Kind, str] = {
    "size": "expected a size like 64KiB or 1500",
    "rate": "expected a rate like 1Gbps, 100Mbps or 125MB/s (b = bit, B = byte)",
    "duration": "expected a duration like 40ms, 1.5s or 250ns",
}

_WHOLE: dict[Kind, str] = {
    "size": "bytes",
    "rate": "bits per second",
    "duration": "nanoseconds",
}

# Spellings people reach for that are not units here, with the one to use instead.
_DURATION_ALIASES = {
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "msec": "ms",
    "msecs": "ms",
    "usec": "us",
    "usecs": "us",
    "nsec": "ns",
    "nsecs": "ns",
    "mins": "min",
    "minute": "min",
    "minutes": "min",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
}

_QUANTITY = re.compile(
    r"""
    \s*
    (?P<sign>[+-]?)
    (?P<number>[0-9]+(?:_[0-9]+)*(?:\.[0-9]+(?:_[0-9]+)*)?|\.[0-9]+(?:_[0-9]+)*)
    \s*
    (?P<unit>.*?)
    \s*
    """,
    # ASCII: \s must not match exotic spaces, and only 0-9 are digits here.
    re.VERBOSE | re.DOTALL | re.ASCII,
)


def parse_size(value: object) -> int:
    """Bytes from ``1500``, ``"1500"``, ``"64KiB"``, ``"16 MiB"``, ``"64KB"`` or ``"1.5MiB"``."""
    return _parse(value, "size")


def parse_rate(value: object) -> int:
    """Bits per second from ``"1Gbps"``, ``"1.5Mbps"``, ``"10 Gb/s"``, ``"125MB/s"``, ``"1GBps"``.

    A bare number is bits per second.
    """
    return _parse(value, "rate")


def parse_duration(value: object) -> int:
    """Nanoseconds from ``"40ms"``, ``"1.5s"``, ``"100us"``, ``"250ns"``, ``"2min"``.

    A bare number is nanoseconds.
    """
    return _parse(value, "duration")


def parse_quantity(text: str) -> tuple[Kind, int]:
    """A number with a unit of any kind, e.g. ``"64KiB"`` -> ``("size", 65536)``.

    The unit is required and decides the kind; the unit sets of the three kinds are disjoint.
    Used by the expression language, where ``40ms`` or ``1Gbps`` may appear as literals.
    """
    if len(text) > _MAX_TEXT:
        raise ValueError(f"quantity {text[:_MAX_TEXT]!r}... is too long")
    match = _QUANTITY.fullmatch(text)
    if match is None or match["sign"]:
        raise ValueError(f"expected a number with a unit like 64KiB, 1Gbps or 40ms, got {text!r}")
    unit = match["unit"]
    if not unit:
        raise ValueError(f"expected a unit after the number in {text!r}, like 64KiB or 40ms")
    for kind, units in _UNITS_BY_KIND.items():
        if unit in units:
            number = _fraction(match["number"])
            return kind, _whole(number * units[unit], text, kind)
    everything = [*SIZE_UNITS, *RATE_UNITS, *DURATION_UNITS]
    suggestion = _suggest(unit, everything) or (
        "units are B, KB, KiB, ... for sizes; bps, Mbps, MB/s, ... for rates; "
        "ns, us, ms, s, min, h for durations"
    )
    raise ValueError(f"unknown unit {unit!r} in {text!r}; {suggestion}")


def format_size(value: int | float) -> str:
    """``65536`` -> ``"64 KiB"``, ``1500`` -> ``"1500 B"``, ``10**6`` -> ``"1 MB"``.

    Exact whenever a binary unit (or bytes, below 10000, or a decimal unit) shows the value with
    at most three decimals; otherwise rounded in binary units and marked with ``~``.
    """
    number = _format_input(value)
    if isinstance(number, str):
        return f"{number} B"
    sign, magnitude = _split_sign(number)
    binary = [("B", 1), *((p + "B", m) for p, m in _BINARY_PREFIXES.items())]
    decimal = [("B", 1), *((p + "B", m) for p, m in _DECIMAL_PREFIXES.items() if p and p != "k")]
    text, exact = _scaled(magnitude, binary)
    if exact:
        return sign + text
    # Small byte counts (an MTU of 1500) read better as themselves than as 1.5 KB.
    if magnitude < 10_000 and magnitude.denominator == 1:
        return f"{sign}{magnitude} B"
    decimal_text, decimal_exact = _scaled(magnitude, decimal)
    if decimal_exact:
        return sign + decimal_text
    return f"~{sign}{text}"


def format_rate(value: int | float) -> str:
    """Bits per second for humans: ``10**9`` -> ``"1 Gbps"``, ``1_500_000`` -> ``"1.5 Mbps"``."""
    number = _format_input(value)
    if isinstance(number, str):
        return f"{number} bps"
    sign, magnitude = _split_sign(number)
    units = [("bps", 1), ("kbps", 10**3), ("Mbps", 10**6), ("Gbps", 10**9), ("Tbps", 10**12)]
    text, exact = _scaled(magnitude, units)
    return sign + text if exact else f"~{sign}{text}"


def format_duration(value: int | float) -> str:
    """Nanoseconds for humans: ``40_000_000`` -> ``"40 ms"``, ``1_500_000_000`` -> ``"1.5 s"``.

    Whole minutes and hours use ``min`` and ``h``; anything else stops at seconds.
    """
    number = _format_input(value)
    if isinstance(number, str):
        return f"{number} ns"
    sign, magnitude = _split_sign(number)
    for unit, factor in (("h", 3600 * 10**9), ("min", 60 * 10**9)):
        if magnitude >= factor and (magnitude / factor).denominator == 1:
            return f"{sign}{magnitude / factor} {unit}"
    units = [("ns", 1), ("us", 10**3), ("ms", 10**6), ("s", 10**9)]
    text, exact = _scaled(magnitude, units)
    return sign + text if exact else f"~{sign}{text}"


def _parse(value: object, kind: Kind) -> int:
    expected = _EXPECTED[kind]
    # bool is an int subclass: "size: true" must not quietly mean one byte.
    if isinstance(value, bool):
        raise ValueError(f"{expected}, got {str(value).lower()} (a boolean)")
    if isinstance(value, int):
        number = Fraction(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{expected}, got {value!r}")
        # repr() is the shortest decimal that round-trips, i.e. what the user wrote.
        number = Fraction(repr(value))
    elif isinstance(value, str):
        number = _parse_text(value, kind)
    else:
        raise ValueError(f"{expected}, got a {_describe_type(value)}")
    if number < 0:
        raise ValueError(f"{expected}, got {value!r} (cannot be negative)")
    return _whole(number, value, kind)


def _parse_text(text: str, kind: Kind) -> Fraction:
    expected = _EXPECTED[kind]
    if len(text) > _MAX_TEXT:
        raise ValueError(f"{expected}, got {text[:_MAX_TEXT]!r}... (too long)")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        missing = "" if re.search("[0-9]", text) else " (a number is missing)"
        raise ValueError(f"{expected}, got {text!r}{missing}")
    number = _fraction(match["number"])
    if match["sign"] == "-":
        number = -number
    unit = match["unit"]
    if not unit:
        return number
    units = _UNITS_BY_KIND[kind]
    if unit in units:
        return number * units[unit]
    raise ValueError(f"{expected}, got {text!r} ({_unit_problem(unit, kind)})")


def _unit_problem(unit: str, kind: Kind) -> str:
    """Why ``unit`` is not a unit of ``kind``, with the most useful suggestion we can make."""
    for other, units in _UNITS_BY_KIND.items():
        if other != kind and unit in units:
            reason = f"{unit!r} is a unit of {other}, not of {kind}"
            if kind == "rate" and other == "size":
                reason += f"; write {unit}/s for bytes per second"
            return reason
    if kind == "size":
        prefix = unit[:-1]
        if unit.endswith("b") and prefix in _PREFIXES:
            return f"{unit!r} is bits; a size is in bytes, e.g. '{prefix}B'"
        if unit in _PREFIXES or unit.casefold() in {"k", "m", "g", "t"}:
            upper = unit.upper()
            return f"{unit!r} alone is ambiguous; write {upper}iB (x1024) or {upper}B (x1000)"
    if kind == "duration":
        if unit == "m":
            return "'m' is ambiguous; write 'min' for minutes or 'ms' for milliseconds"
        if unit in _DURATION_ALIASES:
            return f"unknown unit {unit!r}; write {_DURATION_ALIASES[unit]!r}"
    reason = f"unknown unit {unit!r}"
    suggestion = _suggest(unit, _UNITS_BY_KIND[kind])
    return f"{reason}; {suggestion}" if suggestion else reason


def _suggest(unit: str, units: Mapping[str, int] | list[str]) -> str | None:
    # Case slips are the usual mistake, and for rates one slip can reach two units (mbps ->
    # Mbps or MBps), so offer every unit that differs only in case before guessing by spelling.
    same_letters = sorted(u for u in units if u.casefold() == unit.casefold() and u != unit)
    if same_letters:
        return "did you mean " + " or ".join(repr(u) for u in same_letters) + "?"
    close = did_you_mean(unit, units)
    return f"did you mean {close!r}?" if close else None


def _fraction(number: str) -> Fraction:
    # The regex admits only digits, one dot and digit-group underscores, so this is exact.
    return Fraction(number.replace("_", ""))


def _whole(number: Fraction, original: object, kind: Kind) -> int:
    if number.denominator != 1:
        raise ValueError(
            f"{_EXPECTED[kind]}, got {original!r} "
            f"(that is {float(number):g} {_WHOLE[kind]}, not a whole number)"
        )
    return number.numerator


def _describe_type(value: object) -> str:
    if value is None:
        return "null value"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def _format_input(value: int | float) -> Fraction | str:
    if isinstance(value, bool):
        raise TypeError("cannot format a boolean as a quantity")
    if isinstance(value, float):
        if not math.isfinite(value):
            return repr(value)
        return Fraction(repr(value))
    return Fraction(value)


def _split_sign(number: Fraction) -> tuple[str, Fraction]:
    return ("-", -number) if number < 0 else ("", number)


def _scaled(magnitude: Fraction, units: list[tuple[str, int]]) -> tuple[str, bool]:
    """``magnitude`` in the largest unit not above it: (text, whether the text is exact)."""
    name, factor = units[0]
    for candidate, candidate_factor in units:
        if magnitude >= candidate_factor:
            name, factor = candidate, candidate_factor
    mantissa = magnitude / factor
    # Three decimals at most; round() on a Fraction is exact and rounds half to even.
    thousandths = mantissa * 1000
    exact = thousandths.denominator == 1
    whole, fraction = divmod(round(thousandths), 1000)
    text = str(whole)
    if fraction:
        text += "." + str(fraction).rjust(3, "0").rstrip("0")
    return f"{text} {name}", exact
