"""Small WDK value types: out-parameter boxes, LARGE_INTEGER, UNICODE_STRING.

C passes out-parameters by address (``KeAcquireSpinLock(&lock, &oldIrql)``). Python cannot, so a
driver stub passes a box and reads ``.value`` - or uses the DDI's return value - keeping the call
line by line portable: ``oldIrql = KIRQL(); KeAcquireSpinLock(lock, oldIrql)``.
"""

from __future__ import annotations

from typing import Any


class Out:
    """A box for an out-parameter (``&x`` in C)."""

    __slots__ = ("value",)

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"


class KIRQL(Out):
    """``KIRQL oldIrql;`` - pass it where the DDI takes ``PKIRQL``."""


class HANDLE(Out):
    """``HANDLE h;`` - pass it where the DDI takes ``PHANDLE``."""


class PVOID(Out):
    """``PVOID p;`` - pass it where the DDI takes ``PVOID*``."""


class ULONG(Out):
    """``ULONG n;`` - pass it where the DDI takes ``PULONG``."""


class SIZE_T(Out):
    """``SIZE_T n;`` - pass it where the DDI takes ``PSIZE_T``."""


def value_of(x: Any) -> Any:
    """Accept a plain value or a box (``oldIrql`` or ``oldIrql.value``)."""
    return x.value if isinstance(x, Out) else x


def store(box: Any, value: Any) -> None:
    if isinstance(box, Out):
        box.value = value


class LARGE_INTEGER:
    """Times in 100 ns units: negative = relative to now, positive = absolute system time."""

    __slots__ = ("QuadPart",)

    def __init__(self, QuadPart: int = 0) -> None:
        self.QuadPart = QuadPart

    def __repr__(self) -> str:
        return f"LARGE_INTEGER({self.QuadPart})"


def quad(x: Any) -> int | None:
    """The 100 ns count of a timeout argument (None means wait forever)."""
    if x is None:
        return None
    if isinstance(x, LARGE_INTEGER):
        return x.QuadPart
    if isinstance(x, Out):
        return quad(x.value)
    return int(x)


class UNICODE_STRING:
    """A counted string. The mock's ``RegistryPath`` also carries the scenario's parameters
    for the driver (the stand-in for values under the service key)."""

    __slots__ = ("Buffer", "Parameters")

    def __init__(self, Buffer: str = "", Parameters: dict[str, Any] | None = None) -> None:
        self.Buffer = Buffer
        self.Parameters = dict(Parameters or {})

    @property
    def Length(self) -> int:
        return 2 * len(self.Buffer)

    @property
    def MaximumLength(self) -> int:
        return self.Length + 2

    def __str__(self) -> str:
        return self.Buffer

    def __repr__(self) -> str:
        return f"UNICODE_STRING({self.Buffer!r})"


def RtlInitUnicodeString(DestinationString: UNICODE_STRING, SourceString: str | None) -> None:
    DestinationString.Buffer = SourceString or ""
