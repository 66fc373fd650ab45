"""Pool memory: ExAllocatePool2 / ExAllocatePoolWithTag / ExFreePool*, pool tags, Rtl*Memory.

A pool block is a :class:`PoolBlock`: driver code uses it like a C struct (``ctx.Socket = s``)
and like a byte buffer (``len(p)``, ``p[0:4]``, ``p[4:8] = b"abcd"``). The bytes are created
lazily (a struct-only block never pays for them) and every byte write bumps ``p.version``, which
the MDL layer uses to notice a send buffer changed while a request uses it.

Freeing a block swaps its ``__class__`` to :class:`FreedPoolBlock`, whose attribute and item
access report ``pool.use_after_free`` at the driver's own line. The check therefore costs nothing
while a block is alive: the ordinary class has no hooks at all. Paged blocks are
:class:`PagedPoolBlock`, whose accesses check the IRQL (paged memory may be paged out; touching
it at DISPATCH_LEVEL or above is a bug check), unless an MDL has locked them.

:class:`PoolTracker` (``m.subsystem(PoolTracker)``) keeps the live blocks with their allocation
sites, counts them by tag as poolmon does, reports every block still alive at unload, and injects
allocation failures (``fail_allocations``) so drivers' NULL paths can be tested.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from mock_wsk import machine as _machine
from mock_wsk.constants import APC_LEVEL, DISPATCH_LEVEL
from mock_wsk.kernel import rules as _rules  # noqa: F401  (registers the rules used here)
from mock_wsk.kernel.faults import AllocationFaults
from mock_wsk.kernel.irql import check_max_irql
from mock_wsk.machine import Machine
from mock_wsk.status import STATUS_INSUFFICIENT_RESOURCES
from mock_wsk.verifier import Site, SourceLocation, frame_site, short_path

# POOL_FLAGS for ExAllocatePool2 (wdm.h, WDK 10.0.19041+; learn.microsoft.com "POOL_FLAGS").
# The low 32 bits are *required* flags: one the pool does not know makes the allocation fail.
# The high 32 bits are optional and ignored when not understood.
POOL_FLAG_USE_QUOTA = 0x0000000000000001
POOL_FLAG_UNINITIALIZED = 0x0000000000000002
POOL_FLAG_SESSION = 0x0000000000000004
POOL_FLAG_CACHE_ALIGNED = 0x0000000000000008
POOL_FLAG_RAISE_ON_FAILURE = 0x0000000000000020
POOL_FLAG_NON_PAGED = 0x0000000000000040
POOL_FLAG_NON_PAGED_EXECUTE = 0x0000000000000080
POOL_FLAG_PAGED = 0x0000000000000100
POOL_FLAG_SPECIAL_POOL = 0x0000000100000000  # optional (wdm.h POOL_FLAG_OPTIONAL_START)

_POOL_TYPE_FLAGS = POOL_FLAG_NON_PAGED | POOL_FLAG_NON_PAGED_EXECUTE | POOL_FLAG_PAGED
_KNOWN_REQUIRED_FLAGS = (POOL_FLAG_USE_QUOTA | POOL_FLAG_UNINITIALIZED | POOL_FLAG_SESSION
                         | POOL_FLAG_CACHE_ALIGNED | POOL_FLAG_RAISE_ON_FAILURE | _POOL_TYPE_FLAGS)

# POOL_TYPE (wdm.h). Odd values are paged: wdm.h's BASE_POOL_TYPE_MASK is 1.
NonPagedPool = 0
NonPagedPoolExecute = 0
PagedPool = 1
NonPagedPoolMustSucceed = 2
NonPagedPoolCacheAligned = 4
PagedPoolCacheAligned = 5
NonPagedPoolNx = 512
NonPagedPoolNxCacheAligned = 516
BASE_POOL_TYPE_MASK = 1

# What uninitialised pool reads as. Windows gives whatever was there before; the mock needs one
# deterministic answer that is visibly not zero (fidelity table: "uninitialised pool content").
UNINITIALIZED_FILL = 0xCD

Tag = int | str | bytes

# What ``from mock_wsk.kernel.pool import *`` gives a driver stub: the WDK names only.
__all__ = [
    "POOL_FLAG_USE_QUOTA", "POOL_FLAG_UNINITIALIZED", "POOL_FLAG_SESSION",
    "POOL_FLAG_CACHE_ALIGNED", "POOL_FLAG_RAISE_ON_FAILURE", "POOL_FLAG_NON_PAGED",
    "POOL_FLAG_NON_PAGED_EXECUTE", "POOL_FLAG_PAGED", "POOL_FLAG_SPECIAL_POOL",
    "NonPagedPool", "NonPagedPoolExecute", "PagedPool", "NonPagedPoolMustSucceed",
    "NonPagedPoolCacheAligned", "PagedPoolCacheAligned", "NonPagedPoolNx",
    "NonPagedPoolNxCacheAligned", "ExAllocatePool2", "ExAllocatePoolWithTag",
    "ExAllocatePoolZero", "ExAllocatePoolUninitialized", "ExFreePoolWithTag", "ExFreePool",
    "ExRaiseStatus", "StatusException", "RtlCopyMemory", "RtlMoveMemory", "RtlFillMemory",
    "RtlZeroMemory", "RtlCompareMemory",
]


class StatusException(Exception):  # noqa: N818  (named for what C code calls it: an exception)
    """An NTSTATUS raised as a structured exception (ExRaiseStatus, POOL_FLAG_RAISE_ON_FAILURE).

    Driver code that would wrap the call in ``__try/__except`` catches it with
    ``except StatusException as e: e.status``.
    """

    def __init__(self, status: int) -> None:
        super().__init__(f"exception 0x{int(status) & 0xFFFFFFFF:08X}")
        self.status = status


def ExRaiseStatus(Status: int) -> None:
    raise StatusException(Status)


# ---------------------------------------------------------------------- tags and sites


_TAG_VALUES: dict[str | bytes, int] = {}


def pool_tag(tag: Tag) -> int:
    """The ULONG value of a tag written as in C: ``'kswE'`` is the multi-character constant
    ``('k' << 24) | ('s' << 16) | ('w' << 8) | 'E'``. Ints pass through unchanged."""
    if isinstance(tag, int):
        return tag & 0xFFFFFFFF
    value = _TAG_VALUES.get(tag)
    if value is None:
        raw = tag.encode("latin-1") if isinstance(tag, str) else bytes(tag)
        if not 1 <= len(raw) <= 4:
            raise ValueError(f"a pool tag has one to four characters, not {tag!r}")
        value = _TAG_VALUES[tag] = int.from_bytes(raw, "big")
    return value


def tag_text(tag: int) -> str:
    """A tag the way pool tools show it: its bytes in memory order (``'kswE'`` -> ``Ewsk``)."""
    raw = (tag & 0x7FFFFFFF).to_bytes(4, "little").rstrip(b"\0")
    return "".join(chr(b) if 0x20 <= b <= 0x7E else "?" for b in raw)


def caller_site() -> Site | None:
    """The innermost driver frame (outside mock_wsk), as a raw (file, line, function) triple.

    Cheap (no path formatting, one dict lookup a frame) so that it can be taken on every
    allocation; :func:`site_location` turns it into a SourceLocation when something is reported.
    """
    return frame_site(sys._getframe(1))


@functools.lru_cache(maxsize=256)
def _short_path(filename: str) -> str:
    return short_path(filename)  # os.path.relpath costs ~15 us: once per file is enough


def site_location(site: Site | None) -> SourceLocation | None:
    if site is None:
        return None
    return SourceLocation(_short_path(site[0]), site[1], site[2])


def site_text(site: Site | None) -> str:
    location = site_location(site)
    return str(location) if location is not None else "(no driver frame)"


# ---------------------------------------------------------------------- blocks

_INTERNAL = frozenset({"version", "__class__", "__dict__"})


class PoolMemory:
    """The layout every state of a block shares, so ``__class__`` can be swapped on free."""

    # Slots are laid out in this order: what taking and releasing an MDL over the block reads
    # (its identity, version and watches) comes first, in the first cache line.
    __slots__ = (
        "_pool_serial",
        "version",
        "_pool_watches",
        "_pool_size",
        "_pool_tag",
        "_pool_fill",
        "_pool_data",
        "_pool_site",
        "_pool_locks",
        "_pool_freed_at",
        "_pool_reported",
        "__dict__",
    )

    def __init__(self, size: int, tag: int, fill: int, serial: int, site: Site | None) -> None:
        self._pool_size = size
        self._pool_tag = tag
        self._pool_fill = fill
        self._pool_data: bytearray | None = None
        self._pool_serial = serial
        self._pool_site = site
        # MDL uses watching byte ranges, in the order they started (see watches_of): None, the
        # one watch itself (the usual case: no dict to fill and empty per request), or a dict
        # used as an ordered set (a request that ends drops its watch in O(1)).
        self._pool_watches: Any = None
        self._pool_locks = 0  # MmProbeAndLockPages count (a locked paged block is resident)
        self._pool_freed_at: Site | None = None
        self._pool_reported: set[tuple[str, str, int]] | None = None
        self.version = 0

    def __bool__(self) -> bool:
        return True  # ``if (p)`` tests the pointer, never the contents

    def __add__(self, offset: int) -> PoolPointer:
        """``p + n``: a pointer into the block (pointer arithmetic is not a dereference)."""
        return PoolPointer(self, offset)

    def __repr__(self) -> str:
        get = object.__getattribute__
        state = type(self).__name__
        return (f"<{state} #{get(self, '_pool_serial')} '{tag_text(get(self, '_pool_tag'))}' "
                f"{get(self, '_pool_size')} bytes>")


class PoolBlock(PoolMemory):
    """A live nonpaged pool block: a C struct (attributes) and a byte buffer at once.

    Indices are C offsets: ``p[-1]`` is the byte *before* the block (an underrun), and a write
    never resizes the block (``p[6:] = b"abcd"`` on 8 bytes overruns by two).
    """

    __slots__ = ()

    def __len__(self) -> int:
        return self._pool_size

    def __getitem__(self, key: int | slice) -> Any:
        return _read(self, key)

    def __setitem__(self, key: int | slice, value: Any) -> None:
        _write_key(self, key, value)

    def __bytes__(self) -> bytes:
        return bytes(_data(self))

    def __iter__(self) -> Any:
        return iter(bytes(_data(self)))


class PagedPoolBlock(PoolBlock):
    """A paged pool block: touching it above APC_LEVEL reports ``irql.paged_pool`` (unless an
    MDL locked its pages). Only paged blocks pay for the check."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("_pool_") and name not in _INTERNAL:
            _check_paged(self, f"read of .{name}")
        return object.__getattribute__(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_pool_") and name not in _INTERNAL:
            _check_paged(self, f"write of .{name}")
        object.__setattr__(self, name, value)

    def __getitem__(self, key: int | slice) -> Any:
        _check_paged(self, "read")
        return _read(self, key)

    def __setitem__(self, key: int | slice, value: Any) -> None:
        _check_paged(self, "write")
        _write_key(self, key, value)

    def __iter__(self) -> Any:
        _check_paged(self, "read")
        return iter(bytes(_data(self)))


class FreedPoolBlock(PoolMemory):
    """A block after ExFreePool*: every touch is ``pool.use_after_free`` at the toucher's line.

    In record mode the access still goes through (reading freed memory usually "works" on a real
    machine until the memory is reused), so the driver runs on and more bugs can surface.
    """

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("_pool_") and name not in _INTERNAL:
            _touch_freed(self, f"read of .{name}")
        return object.__getattribute__(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_pool_") and name not in _INTERNAL:
            _touch_freed(self, f"write of .{name}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        _touch_freed(self, f"write of .{name}")
        object.__delattr__(self, name)

    def __len__(self) -> int:
        _touch_freed(self, "len()")
        return self._pool_size

    def __getitem__(self, key: int | slice) -> Any:
        _touch_freed(self, "read")
        return _read(self, key)

    def __setitem__(self, key: int | slice, value: Any) -> None:
        _touch_freed(self, "write")
        _write_key(self, key, value)

    def __bytes__(self) -> bytes:
        _touch_freed(self, "read")
        return bytes(_data(self))

    def __iter__(self) -> Any:
        _touch_freed(self, "read")
        return iter(bytes(_data(self)))


class PoolPointer:
    """``p + offset``: an address inside a pool block, for Rtl*Memory and IoAllocateMdl.

    Indexing is relative to the pointer and goes through the block, so the block's checks
    (use after free, paged pool at raised IRQL, overruns) apply.
    """

    __slots__ = ("block", "offset")

    def __init__(self, block: PoolMemory, offset: int) -> None:
        self.block = block
        self.offset = offset

    def __add__(self, offset: int) -> PoolPointer:
        return PoolPointer(self.block, self.offset + offset)

    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:
        return max(0, object.__getattribute__(self.block, "_pool_size") - self.offset)

    def __getitem__(self, key: int | slice) -> Any:
        block: Any = self.block  # a live, paged or freed block: its own class does the checks
        return block[_shift(key, self.offset)]

    def __setitem__(self, key: int | slice, value: Any) -> None:
        block: Any = self.block
        block[_shift(key, self.offset)] = value

    def __iter__(self) -> Any:
        return iter(self[0:len(self)])

    def __repr__(self) -> str:
        return f"<PoolPointer {self.block!r} + {self.offset}>"


def _shift(key: int | slice, offset: int) -> int | slice:
    if isinstance(key, slice):
        start = (key.start or 0) + offset
        stop = None if key.stop is None else key.stop + offset
        return slice(start, stop, key.step)
    return key + offset


def is_pool_block(obj: object) -> bool:
    """True for a live block (paged or not)."""
    return isinstance(obj, PoolBlock)


def block_tag(block: PoolMemory) -> int:
    return object.__getattribute__(block, "_pool_tag")


def block_serial(block: PoolMemory) -> int:
    return object.__getattribute__(block, "_pool_serial")


def block_site(block: PoolMemory) -> SourceLocation | None:
    return site_location(object.__getattribute__(block, "_pool_site"))


def describe_block(block: PoolMemory) -> str:
    get = object.__getattribute__
    where = site_text(get(block, "_pool_site"))
    return (f"'{tag_text(get(block, '_pool_tag'))}' block #{get(block, '_pool_serial')} "
            f"({get(block, '_pool_size')} bytes, allocated at {where})")


# ---------------------------------------------------------------------- byte access


def _data(block: PoolMemory) -> bytearray:
    """The block's bytes, created on first use (zeroed, or the uninitialised pattern)."""
    data: bytearray | None = object.__getattribute__(block, "_pool_data")
    if data is None:
        get = object.__getattribute__
        size, fill = get(block, "_pool_size"), get(block, "_pool_fill")
        data = bytearray(size) if fill == 0 else bytearray(bytes((fill,)) * size)
        object.__setattr__(block, "_pool_data", data)
    return data


def _bounds(block: PoolMemory, key: int | slice, how: str) -> tuple[int, int]:
    """[start, end) of an access; an access outside the block is reported and clipped."""
    size: int = object.__getattribute__(block, "_pool_size")
    if isinstance(key, slice):
        if key.step not in (None, 1):
            raise ValueError("pool blocks are plain memory: slices with a step are not supported")
        start = 0 if key.start is None else key.start
        end = size if key.stop is None else key.stop
    else:
        start, end = key, key + 1
    if start < 0 or end > size or start > end:
        _report_overrun(block, start, end, how)
        start = min(max(start, 0), size)
        end = min(max(end, start), size)
    return start, end


def _report_overrun(block: PoolMemory, start: int, end: int, how: str) -> None:
    m = _machine.active
    if m is None:
        raise IndexError(f"{how} of bytes [{start}, {end}) outside {describe_block(block)}")
    m.report("pool.overrun",
             f"{how} of bytes [{start}, {end}) outside the {describe_block(block)}",
             objects={"block": describe_block(block)})


def _read(block: PoolMemory, key: int | slice) -> Any:
    start, end = _bounds(block, key, "read")
    data = _data(block)
    if isinstance(key, slice):
        return bytes(data[start:end])
    return data[start] if start < end else 0


def _write_key(block: PoolMemory, key: int | slice, value: Any) -> None:
    if isinstance(key, slice):
        start = 0 if key.start is None else key.start
        write_bytes(block, start, value)
    else:
        write_bytes(block, key, bytes((value & 0xFF,)))


def write_bytes(block: PoolMemory, start: int, value: Any, notify: bool = True) -> int:
    """Write ``value`` at ``start`` (C ``memcpy(p + start, value, len)``): bumps the version and
    tells MDL uses watching the range. Returns the number of bytes written.

    ``notify=False`` is for the provider filling a buffer it owns (a receive completing)."""
    raw = value if isinstance(value, bytes | bytearray) else bytes(value)
    s, end = _bounds(block, slice(start, start + len(raw)), "write")
    data = _data(block)
    data[s:end] = raw[s - start:end - start]
    _written(block, s, end, notify)
    return end - s


def fill_bytes(block: PoolMemory, start: int, length: int, fill: int) -> None:
    s, end = _bounds(block, slice(start, start + length), "write")
    _data(block)[s:end] = bytes((fill & 0xFF,)) * (end - s)
    _written(block, s, end, True)


def _written(block: PoolMemory, start: int, end: int, notify: bool) -> None:
    get = object.__getattribute__
    object.__setattr__(block, "version", get(block, "version") + 1)
    watches = get(block, "_pool_watches")
    if watches and notify and start < end:
        for watch in watches_of(watches):
            if watch.start < end and start < watch.end:
                watch.on_write(block, start, end)


def watches_of(watches: Any) -> list[Any]:
    """A block's ``_pool_watches`` as a list (a copy, in the order they started)."""
    if watches is None:
        return []
    if type(watches) is dict:
        return list(watches)
    return [watches]


def read_bytes(block: PoolMemory, start: int, length: int) -> bytes:
    s, end = _bounds(block, slice(start, start + length), "read")
    return bytes(_data(block)[s:end])


# ---------------------------------------------------------------------- reports from accesses


def _report_once(m: Machine, block: PoolMemory, rule_id: str, message: str) -> None:
    """One report per block, rule and driver line: a loop over a freed buffer is one bug."""
    site = caller_site()
    key = (rule_id, site[0] if site else "", site[1] if site else 0)
    seen = object.__getattribute__(block, "_pool_reported")
    if seen is None:
        seen = set()
        object.__setattr__(block, "_pool_reported", seen)
    if key in seen:
        return
    seen.add(key)
    m.report(rule_id, message, objects={"block": describe_block(block)},
             location=site_location(site))


def _touch_freed(block: PoolMemory, how: str) -> None:
    m = _machine.active
    if m is None:
        return  # a test inspecting a block after the run: nothing to report to
    freed_at = object.__getattribute__(block, "_pool_freed_at")
    _report_once(m, block, "pool.use_after_free",
                 f"{how} of the {describe_block(block)} freed at {site_text(freed_at)}")


def _check_paged(block: PoolMemory, how: str) -> None:
    m = _machine.active
    if m is None or m.irql <= APC_LEVEL or object.__getattribute__(block, "_pool_locks"):
        return
    _report_once(m, block, "irql.paged_pool",
                 f"{how} of the paged {describe_block(block)} at IRQL {m.irql}")


# ---------------------------------------------------------------------- the tracker


class _Fault:
    __slots__ = ("remaining", "tag")

    def __init__(self, remaining: int, tag: Tag | None) -> None:
        self.remaining = remaining
        self.tag = tag

    def matches(self, tag: int) -> bool:
        if self.tag is None:
            return True
        if isinstance(self.tag, int):
            return pool_tag(self.tag) == tag
        # A tag given as text matches whether it is written as in C ('kswE') or as pool tools
        # show it ('Ewsk'): scenario authors copy either.
        return pool_tag(self.tag) == tag or str(self.tag) == tag_text(tag)


class PoolTracker:
    """Per-machine pool state: live blocks, per-tag counts, leak check, fault injection."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.live: dict[int, PoolMemory] = {}  # serial -> block, in allocation order
        self.allocations = 0
        self.frees = 0
        self.failures = 0
        self._serial = 0
        self._faults: list[_Fault] = []
        self.low_resources = machine.subsystem(AllocationFaults)
        # Nonpaged bytes the driver holds, and how many it may (None: unlimited): past the
        # limit an allocation returns NULL, as when nonpaged pool is exhausted.
        self.nonpaged_bytes = 0
        self.nonpaged_limit: int | None = None

    def fail_allocations(self, count: int, tag: Tag | None = None) -> None:
        """The next ``count`` allocations (only those with ``tag``, if given) return NULL."""
        if count > 0:
            self._faults.append(_Fault(count, tag))

    def _inject_failure(self, tag: int) -> bool:
        for fault in self._faults:
            if fault.remaining > 0 and fault.matches(tag):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return True
        return False

    def allocate(self, size: int, tag: int, paged: bool, fill: int,
                 site: Site | None) -> PoolBlock | None:
        low = self.low_resources
        limit = self.nonpaged_limit
        if (low.countdown and low.this_one_fails()) or \
                (self._faults and self._inject_failure(tag)) or \
                (limit is not None and not paged and self.nonpaged_bytes + size > limit):
            self.failures += 1
            self.machine.emit("pool.fail", tag, size)
            return None
        self._serial += 1
        if paged:
            cls: type[PoolBlock] = PagedPoolBlock
        else:
            cls = PoolBlock
            self.nonpaged_bytes += size
        block = cls(size, tag, fill, self._serial, site)
        self.live[self._serial] = block
        self.allocations += 1
        if self.machine.trace is not None:
            self.machine.emit("pool.alloc", self._serial, tag, size)
        return block

    def release(self, block: PoolMemory, site: Site | None) -> None:
        get = object.__getattribute__
        serial = get(block, "_pool_serial")
        self.live.pop(serial, None)
        if type(block) is not PagedPoolBlock:  # type(): no attribute access of the block
            self.nonpaged_bytes -= get(block, "_pool_size")
        self.frees += 1
        object.__setattr__(block, "_pool_freed_at", site)
        object.__setattr__(block, "__class__", FreedPoolBlock)
        if self.machine.trace is not None:
            self.machine.emit("pool.free", serial)
        for watch in watches_of(get(block, "_pool_watches")):
            watch.on_free(block)

    def usage(self) -> dict[str, tuple[int, int]]:
        """Live blocks and bytes by tag, as poolmon shows them (``{"Ewsk": (3, 384)}``)."""
        out: dict[str, tuple[int, int]] = {}
        for block in self.live.values():
            key = tag_text(object.__getattribute__(block, "_pool_tag"))
            count, size = out.get(key, (0, 0))
            out[key] = (count + 1, size + object.__getattribute__(block, "_pool_size"))
        return out

    def check_unload(self) -> None:
        for block in list(self.live.values()):
            site = object.__getattribute__(block, "_pool_site")
            self.machine.report("pool.leak", f"{describe_block(block)} still allocated at unload",
                                objects={"tag": tag_text(block_tag(block)),
                                         "size": object.__getattribute__(block, "_pool_size")},
                                location=site_location(site))


# ---------------------------------------------------------------------- allocation DDIs


def _valid_pool2_flags(flags: int) -> bool:
    required = flags & 0xFFFFFFFF
    pool_types = required & _POOL_TYPE_FLAGS
    return (required & ~_KNOWN_REQUIRED_FLAGS) == 0 and pool_types in (
        POOL_FLAG_NON_PAGED, POOL_FLAG_NON_PAGED_EXECUTE, POOL_FLAG_PAGED)


def _allocate(m: Machine, ddi: str, size: int, tag: int, paged: bool, fill: int,
              site: Site | None) -> PoolBlock | None:
    if size < 0:
        raise ValueError(f"{ddi}: NumberOfBytes must not be negative ({size})")
    check_max_irql(m, ddi, DISPATCH_LEVEL)
    if paged and APC_LEVEL < m.irql <= DISPATCH_LEVEL:  # above DISPATCH: reported just above
        m.report("irql.paged_pool", f"{ddi} of paged pool at IRQL {m.irql}",
                 params=(m.irql, 0, 0), location=site_location(site))
    return m.subsystem(PoolTracker).allocate(size, tag, paged, fill, site)


def ExAllocatePool2(Flags: int, NumberOfBytes: int, Tag: Tag) -> PoolBlock | None:
    """Zeroed unless POOL_FLAG_UNINITIALIZED. NULL for a zero tag or invalid flags (as the
    docs say), or when the tracker injects a failure; POOL_FLAG_RAISE_ON_FAILURE raises."""
    m = _machine.active_machine()
    m.preemption_point()
    site = caller_site()
    tag = pool_tag(Tag)
    if tag == 0 or not _valid_pool2_flags(Flags):
        m.emit("pool.refused", "zero tag" if tag == 0 else f"invalid POOL_FLAGS 0x{Flags:X}")
        block = None
    else:
        fill = UNINITIALIZED_FILL if Flags & POOL_FLAG_UNINITIALIZED else 0
        block = _allocate(m, "ExAllocatePool2", NumberOfBytes, tag,
                          bool(Flags & POOL_FLAG_PAGED), fill, site)
    if block is None and Flags & POOL_FLAG_RAISE_ON_FAILURE:
        raise StatusException(STATUS_INSUFFICIENT_RESOURCES)
    return block


def ExAllocatePoolWithTag(PoolType: int, NumberOfBytes: int, Tag: Tag) -> PoolBlock | None:
    """Uninitialised memory (reads show UNINITIALIZED_FILL), NULL on failure."""
    m = _machine.active_machine()
    m.preemption_point()
    return _allocate(m, "ExAllocatePoolWithTag", NumberOfBytes, pool_tag(Tag),
                     bool(PoolType & BASE_POOL_TYPE_MASK), UNINITIALIZED_FILL, caller_site())


def ExAllocatePoolZero(PoolType: int, NumberOfBytes: int, Tag: Tag) -> PoolBlock | None:
    """wdm.h's inline zeroing wrapper (ExAllocatePoolWithTag + RtlZeroMemory)."""
    m = _machine.active_machine()
    m.preemption_point()
    return _allocate(m, "ExAllocatePoolZero", NumberOfBytes, pool_tag(Tag),
                     bool(PoolType & BASE_POOL_TYPE_MASK), 0, caller_site())


def ExAllocatePoolUninitialized(PoolType: int, NumberOfBytes: int, Tag: Tag) -> PoolBlock | None:
    m = _machine.active_machine()
    m.preemption_point()
    return _allocate(m, "ExAllocatePoolUninitialized", NumberOfBytes, pool_tag(Tag),
                     bool(PoolType & BASE_POOL_TYPE_MASK), UNINITIALIZED_FILL, caller_site())


def _free(m: Machine, P: Any, tag: int | None, ddi: str) -> None:
    site = caller_site()
    if isinstance(P, FreedPoolBlock):
        freed_at = object.__getattribute__(P, "_pool_freed_at")
        m.report("pool.double_free",
                 f"{ddi} of the {describe_block(P)}, already freed at {site_text(freed_at)}",
                 objects={"block": describe_block(P)}, location=site_location(site))
        return
    if not isinstance(P, PoolBlock):
        what = "NULL" if P is None else f"{type(P).__name__} {P!r}"
        if isinstance(P, PoolPointer):
            what = f"a pointer into the middle of the {describe_block(P.block)}"
        m.report("pool.bad_free", f"{ddi}({what}): not the start of a pool block",
                 location=site_location(site))
        return
    paged = isinstance(P, PagedPoolBlock)
    if check_max_irql(m, ddi, DISPATCH_LEVEL) and paged and m.irql > APC_LEVEL:
        m.report("irql.paged_pool", f"{ddi} of paged pool at IRQL {m.irql}",
                 objects={"block": describe_block(P)}, location=site_location(site))
    block_tag_value = object.__getattribute__(P, "_pool_tag")
    if tag is not None and tag != 0 and tag != block_tag_value:
        m.report("pool.wrong_tag",
                 f"{ddi} with tag '{tag_text(tag)}' of the {describe_block(P)}",
                 objects={"block": describe_block(P), "tag": tag_text(tag)},
                 params=(block_tag_value, tag, 0), location=site_location(site))
    coverage = m.coverage
    if coverage is not None:
        m.cover_here(coverage, "kernel", "paged pool" if paged else "nonpaged pool", "free")
    m.subsystem(PoolTracker).release(P, site)


def ExFreePoolWithTag(P: Any, Tag: Tag) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    _free(m, P, pool_tag(Tag), "ExFreePoolWithTag")


def ExFreePool(P: Any) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    _free(m, P, None, "ExFreePool")


# ---------------------------------------------------------------------- Rtl*Memory


Buffer = Any  # a PoolBlock, a PoolPointer, bytes, bytearray or memoryview


def _target(Destination: Buffer) -> tuple[Any, int]:
    """(block-or-bytearray, offset) of a destination address."""
    if isinstance(Destination, PoolPointer):
        return Destination.block, Destination.offset
    return Destination, 0


def _is_block(obj: object) -> bool:
    return isinstance(obj, PoolMemory)


def check_block_access(block: Any, how: str) -> None:
    """Report a driver's access to a freed block, or to a paged one above APC_LEVEL."""
    if isinstance(block, FreedPoolBlock):
        _touch_freed(block, how)
    elif isinstance(block, PagedPoolBlock):
        _check_paged(block, how)


def read_buffer(Source: Buffer, Length: int) -> bytes:
    """``Length`` bytes at an address (block, pointer or Python buffer), with the block checks."""
    base, offset = _target(Source)
    if _is_block(base):
        check_block_access(base, "read")
        return read_bytes(base, offset, Length)
    view = memoryview(base)[offset:offset + Length]
    if len(view) < Length:
        m = _machine.active_machine()
        m.report("pool.overrun", f"read of {Length} bytes from a {len(view)}-byte buffer")
    return bytes(view)


def _write_buffer(Destination: Buffer, data: bytes) -> None:
    base, offset = _target(Destination)
    if _is_block(base):
        check_block_access(base, "write")
        write_bytes(base, offset, data)
        return
    if isinstance(base, bytes):
        raise TypeError("cannot write into an immutable bytes object")
    view = memoryview(base)
    end = offset + len(data)
    if end > len(view):
        _machine.active_machine().report(
            "pool.overrun", f"write of bytes [{offset}, {end}) into a {len(view)}-byte buffer")
        end = len(view)
    view[offset:end] = data[:end - offset]


def RtlCopyMemory(Destination: Buffer, Source: Buffer, Length: int) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    _write_buffer(Destination, read_buffer(Source, Length))


RtlMoveMemory = RtlCopyMemory  # overlap is harmless: the source is read completely first


def RtlFillMemory(Destination: Buffer, Length: int, Fill: int) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    base, offset = _target(Destination)
    if _is_block(base):
        check_block_access(base, "write")
        fill_bytes(base, offset, Length, Fill)
    else:
        _write_buffer(Destination, bytes((Fill & 0xFF,)) * Length)


def RtlZeroMemory(Destination: Buffer, Length: int) -> None:
    RtlFillMemory(Destination, Length, 0)


def RtlCompareMemory(Source1: Buffer, Source2: Buffer, Length: int) -> int:
    """The number of leading bytes that match."""
    m = _machine.active_machine()
    m.preemption_point()
    a, b = read_buffer(Source1, Length), read_buffer(Source2, Length)
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return min(len(a), len(b))

