"""MDLs: IoAllocateMdl, MmBuildMdlForNonPagedPool, MmProbeAndLockPages, IoFreeMdl, and the
provider's view of a WSK_BUF chain while a request uses it.

An :class:`MDL` describes ``ByteCount`` bytes of a buffer: ``StartVa`` is the buffer object
itself (a pool block or a Python bytes-like object) and ``ByteOffset`` the offset into it, so
``IoAllocateMdl(p + 16, 100, ...)`` describes bytes 16..115 of ``p``. No page arithmetic: the
mock tracks what the rules need (locked or not, in use by I/O or not, freed or not).

The WSK provider takes a chain for a request with :func:`mdl_chain_acquire`: the chain is
validated once, every MDL it covers is marked in use, and each pool block under it gets a
*watch* on the byte range the request uses. A driver writing into that range, or freeing the
block, while the request is pending is reported at once, at the driver's line
(``mdl.changed_while_in_use``, CONTRACTS C.15). No byte is copied or hashed: a write costs one
range comparison per outstanding use of that block, and the request's ``digest`` is built from
block identities and versions.
"""

from __future__ import annotations

import zlib
from typing import Any

from mock_wsk import machine as _machine
from mock_wsk.constants import APC_LEVEL, DISPATCH_LEVEL
from mock_wsk.kernel import rules as _rules  # noqa: F401  (registers the rules used here)
from mock_wsk.kernel.faults import AllocationFaults
from mock_wsk.kernel.irql import check_max_irql
from mock_wsk.kernel.pool import (
    FreedPoolBlock,
    PagedPoolBlock,
    PoolBlock,
    PoolMemory,
    PoolPointer,
    Site,
    block_serial,
    caller_site,
    check_block_access,
    describe_block,
    read_bytes,
    site_location,
    site_text,
    write_bytes,
)
from mock_wsk.machine import Machine

# MDL flags (wdm.h).
MDL_MAPPED_TO_SYSTEM_VA = 0x0001
MDL_PAGES_LOCKED = 0x0002
MDL_SOURCE_IS_NONPAGED_POOL = 0x0004
MDL_ALLOCATED_FIXED_SIZE = 0x0008
MDL_PARTIAL = 0x0010

# LOCK_OPERATION (wdm.h).
IoReadAccess = 0
IoWriteAccess = 1
IoModifyAccess = 2

# MM_PAGE_PRIORITY (wdm.h) and the mapping flags that may be OR'ed into it.
LowPagePriority = 0
NormalPagePriority = 16
HighPagePriority = 32
MdlMappingNoWrite = 0x80000000
MdlMappingNoExecute = 0x40000000

_MASK64 = 0xFFFFFFFFFFFFFFFF

# What ``from mock_wsk.kernel.mdl import *`` gives a driver stub: the WDK names only.
__all__ = [
    "MDL", "MDL_MAPPED_TO_SYSTEM_VA", "MDL_PAGES_LOCKED", "MDL_SOURCE_IS_NONPAGED_POOL",
    "MDL_ALLOCATED_FIXED_SIZE", "MDL_PARTIAL", "IoReadAccess", "IoWriteAccess", "IoModifyAccess",
    "LowPagePriority", "NormalPagePriority", "HighPagePriority", "MdlMappingNoWrite",
    "MdlMappingNoExecute", "IoAllocateMdl", "MmBuildMdlForNonPagedPool", "MmProbeAndLockPages",
    "MmUnlockPages", "IoFreeMdl", "MmGetSystemAddressForMdlSafe", "MmGetMdlByteCount",
    "MmGetMdlByteOffset", "MmGetMdlVirtualAddress",
]


class MDL:
    """``MDL``. ``StartVa`` is the described buffer object, ``ByteOffset`` the offset into it."""

    # Slots are laid out in this order: what a request's acquire and release read come first,
    # together (one cache line of an MDL that went cold while its send was in flight).
    __slots__ = ("StartVa", "ByteCount", "ByteOffset", "Next",
                 # mock bookkeeping
                 "locked", "in_use", "freed",
                 "Size", "MdlFlags", "Process", "MappedSystemVa",
                 "serial", "_site", "_freed_at")

    def __init__(self, buffer: Any, offset: int, length: int, serial: int,
                 site: Site | None) -> None:
        self.Next: MDL | None = None
        self.Size = 0
        self.MdlFlags = 0
        self.Process: Any = None
        self.MappedSystemVa: Any = None
        self.StartVa = buffer
        self.ByteOffset = offset
        self.ByteCount = length
        self.locked = False  # pages locked (MmProbeAndLockPages) or nonpaged (built)
        self.in_use = 0  # requests using it right now
        self.freed = False
        self.serial = serial
        self._site = site
        self._freed_at: Site | None = None

    @property
    def buffer(self) -> Any:
        return self.StartVa

    @property
    def alloc_location(self) -> Any:
        return site_location(self._site)

    def describe(self) -> str:
        what = (describe_block(self.StartVa) if isinstance(self.StartVa, PoolMemory)
                else f"a {type(self.StartVa).__name__}")
        return (f"MDL #{self.serial} ({self.ByteCount} bytes at offset {self.ByteOffset} of "
                f"{what}; allocated at {site_text(self._site)})")

    def __repr__(self) -> str:
        state = "freed" if self.freed else ("locked" if self.locked else "unlocked")
        return f"<MDL #{self.serial} {self.ByteCount} bytes {state} in_use={self.in_use}>"


class MdlTracker:
    """Per-machine MDL table: leak check at unload, allocation fault injection."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.live: dict[int, MDL] = {}
        self._serial = 0
        self._fail = 0
        self.low_resources = machine.subsystem(AllocationFaults)

    def fail_allocations(self, count: int) -> None:
        """The next ``count`` IoAllocateMdl calls return NULL."""
        self._fail += max(0, count)

    def check_unload(self) -> None:
        for mdl in list(self.live.values()):
            state = " and still locked" if mdl.MdlFlags & MDL_PAGES_LOCKED else ""
            self.machine.report("mdl.leak", f"{mdl.describe()} never freed{state} at unload",
                                objects={"mdl": mdl.describe()},
                                location=site_location(mdl._site))


# ---------------------------------------------------------------------- helpers


def _split(address: Any) -> tuple[Any, int]:
    """(buffer object, offset) of an address: a block, ``block + n``, or a bytes-like object."""
    if isinstance(address, PoolPointer):
        return address.block, address.offset
    if isinstance(address, PoolMemory | bytes | bytearray | memoryview):
        return address, 0
    raise TypeError(f"not a buffer address: {address!r} (pass a pool block, block + offset, "
                    "or a bytes-like object)")


def _size(buffer: Any) -> int:
    if isinstance(buffer, PoolMemory):
        return int(object.__getattribute__(buffer, "_pool_size"))
    return len(memoryview(buffer))


def _address(mdl: MDL) -> Any:
    """The system address of the first described byte (what C gets from StartVa+ByteOffset)."""
    buffer, offset = mdl.StartVa, mdl.ByteOffset
    if offset == 0:
        return buffer
    if isinstance(buffer, PoolMemory):
        return PoolPointer(buffer, offset)
    return memoryview(buffer)[offset:]


def _alive(m: Machine, mdl: Any, ddi: str) -> bool:
    if not isinstance(mdl, MDL):
        raise TypeError(f"{ddi} needs an MDL, got {mdl!r}")
    if not mdl.freed:
        return True
    m.report("mdl.use_after_free", f"{ddi} on MDL #{mdl.serial}, freed at "
             f"{site_text(mdl._freed_at)}", objects={"mdl": mdl.describe()})
    return False


def _buffer_alive(m: Machine, mdl: MDL, ddi: str) -> bool:
    if isinstance(mdl.StartVa, FreedPoolBlock):
        check_block_access(mdl.StartVa, f"{ddi} of MDL #{mdl.serial} over")
        return False
    return True


def _lock_count(buffer: Any, delta: int) -> None:
    if isinstance(buffer, PoolMemory):
        count = object.__getattribute__(buffer, "_pool_locks")
        object.__setattr__(buffer, "_pool_locks", max(0, count + delta))


# ---------------------------------------------------------------------- DDIs


def IoAllocateMdl(VirtualAddress: Any, Length: int, SecondaryBuffer: bool, ChargeQuota: bool,
                  Irp: Any) -> MDL | None:
    """An MDL for ``Length`` bytes at ``VirtualAddress``; with an IRP, it becomes
    ``Irp.MdlAddress`` (or is chained after it when ``SecondaryBuffer``)."""
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "IoAllocateMdl", DISPATCH_LEVEL)
    buffer, offset = _split(VirtualAddress)
    if isinstance(buffer, FreedPoolBlock):
        check_block_access(buffer, "IoAllocateMdl over")
    available = _size(buffer) - offset
    if Length > available:
        what = describe_block(buffer) if isinstance(buffer, PoolMemory) else "buffer"
        m.report("pool.overrun", f"IoAllocateMdl of {Length} bytes at offset {offset} of the "
                 f"{what}: only {available} bytes are there", params=(Length, available, 0))
    tracker = m.subsystem(MdlTracker)
    low = tracker.low_resources
    if tracker._fail or (low.countdown and low.this_one_fails()):
        if tracker._fail:
            tracker._fail -= 1
        m.emit("mdl.fail")
        return None
    tracker._serial += 1
    mdl = MDL(buffer, offset, Length, tracker._serial, caller_site())
    tracker.live[mdl.serial] = mdl
    if Irp is not None:
        _attach(mdl, Irp, SecondaryBuffer)
    return mdl


def _attach(mdl: MDL, irp: Any, secondary: bool) -> None:
    head = irp.MdlAddress
    if not secondary or head is None:
        irp.MdlAddress = mdl
        return
    while head.Next is not None:
        head = head.Next
    head.Next = mdl


def MmBuildMdlForNonPagedPool(MemoryDescriptorList: MDL) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "MmBuildMdlForNonPagedPool", DISPATCH_LEVEL)
    mdl = MemoryDescriptorList
    if not _alive(m, mdl, "MmBuildMdlForNonPagedPool"):
        return
    _buffer_alive(m, mdl, "MmBuildMdlForNonPagedPool")
    if isinstance(mdl.StartVa, PagedPoolBlock):
        m.report("mdl.misuse", f"MmBuildMdlForNonPagedPool on MDL #{mdl.serial}, which describes "
                 "paged pool (lock it with MmProbeAndLockPages instead)",
                 objects={"mdl": mdl.describe()})
        return
    mdl.MdlFlags |= MDL_SOURCE_IS_NONPAGED_POOL
    mdl.MappedSystemVa = _address(mdl)
    mdl.locked = True


def MmProbeAndLockPages(MemoryDescriptorList: MDL, AccessMode: int, Operation: int) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "MmProbeAndLockPages", DISPATCH_LEVEL)
    mdl = MemoryDescriptorList
    if not _alive(m, mdl, "MmProbeAndLockPages") or not _buffer_alive(m, mdl,
                                                                       "MmProbeAndLockPages"):
        return
    if isinstance(mdl.StartVa, PagedPoolBlock) and m.irql > APC_LEVEL:
        m.report("irql.paged_pool", f"MmProbeAndLockPages of paged pool at IRQL {m.irql}",
                 objects={"mdl": mdl.describe()}, params=(m.irql, 0, 0))
    if mdl.locked:
        how = ("built for nonpaged pool" if mdl.MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL
               else "already locked")
        m.report("mdl.misuse", f"MmProbeAndLockPages on MDL #{mdl.serial}, {how}",
                 objects={"mdl": mdl.describe()})
        return
    mdl.MdlFlags |= MDL_PAGES_LOCKED
    mdl.locked = True
    _lock_count(mdl.StartVa, +1)


def MmUnlockPages(MemoryDescriptorList: MDL) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "MmUnlockPages", DISPATCH_LEVEL)
    mdl = MemoryDescriptorList
    if not _alive(m, mdl, "MmUnlockPages"):
        return
    if mdl.in_use:
        m.report("mdl.free_while_in_use",
                 f"MmUnlockPages of MDL #{mdl.serial} while {mdl.in_use} request(s) use it",
                 objects={"mdl": mdl.describe()})
    if not mdl.MdlFlags & MDL_PAGES_LOCKED:
        how = ("built by MmBuildMdlForNonPagedPool, not locked"
               if mdl.MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL else "not locked")
        m.report("mdl.misuse", f"MmUnlockPages of MDL #{mdl.serial}: it is {how}",
                 objects={"mdl": mdl.describe()})
        return
    mdl.MdlFlags &= ~(MDL_PAGES_LOCKED | MDL_MAPPED_TO_SYSTEM_VA)
    mdl.MappedSystemVa = None
    mdl.locked = False
    _lock_count(mdl.StartVa, -1)


def IoFreeMdl(Mdl: MDL) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "IoFreeMdl", DISPATCH_LEVEL)
    if not isinstance(Mdl, MDL):
        raise TypeError(f"IoFreeMdl needs an MDL, got {Mdl!r}")
    site = caller_site()
    if Mdl.freed:
        m.report("mdl.use_after_free", f"IoFreeMdl of MDL #{Mdl.serial}, already freed at "
                 f"{site_text(Mdl._freed_at)}", objects={"mdl": Mdl.describe()},
                 location=site_location(site))
        return
    if Mdl.in_use:
        m.report("mdl.free_while_in_use",
                 f"IoFreeMdl of MDL #{Mdl.serial} while {Mdl.in_use} request(s) use it",
                 objects={"mdl": Mdl.describe()}, location=site_location(site))
    elif Mdl.MdlFlags & MDL_PAGES_LOCKED:
        m.report("mdl.misuse", f"IoFreeMdl of MDL #{Mdl.serial} with its pages still locked "
                 "(call MmUnlockPages first)", objects={"mdl": Mdl.describe()},
                 location=site_location(site))
        _lock_count(Mdl.StartVa, -1)
    Mdl.freed = True
    Mdl._freed_at = site
    m.subsystem(MdlTracker).live.pop(Mdl.serial, None)


def MmGetSystemAddressForMdlSafe(Mdl: MDL, Priority: int) -> Any:
    """The described buffer (``StartVa + ByteOffset``); the MDL must be locked or built."""
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "MmGetSystemAddressForMdlSafe", DISPATCH_LEVEL)
    if not _alive(m, Mdl, "MmGetSystemAddressForMdlSafe"):
        return None
    if not Mdl.locked:
        m.report("mdl.not_locked", f"MmGetSystemAddressForMdlSafe of MDL #{Mdl.serial}, whose "
                 "pages are not locked", objects={"mdl": Mdl.describe()})
    address = _address(Mdl)
    if not Mdl.MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL:
        Mdl.MdlFlags |= MDL_MAPPED_TO_SYSTEM_VA
        Mdl.MappedSystemVa = address
    return address


def MmGetMdlByteCount(Mdl: MDL) -> int:
    return Mdl.ByteCount


def MmGetMdlByteOffset(Mdl: MDL) -> int:
    return Mdl.ByteOffset


def MmGetMdlVirtualAddress(Mdl: MDL) -> Any:
    return _address(Mdl)


# ---------------------------------------------------------------------- provider side


class _Watcher:
    """What a pool block's ``_pool_watches`` holds: an interest in bytes [start, end) of the
    block that a driver write or free there reports (``mdl.changed_while_in_use``)."""

    __slots__ = ("start", "end", "dirty", "reported")

    start: int
    end: int
    dirty: bool
    reported: bool
    owner: str  # the request whose MDL watches the bytes (the report names it)

    def on_write(self, block: PoolMemory, start: int, end: int) -> None:
        self._changed(f"bytes [{max(start, self.start)}, {min(end, self.end)}) of the "
                      f"{describe_block(block)} written")

    def on_free(self, block: PoolMemory) -> None:
        self._changed(f"the {describe_block(block)} freed")

    def _changed(self, what: str) -> None:
        if self.dirty:
            return
        self.dirty = True
        m = _machine.active
        if m is None:
            return  # reported at release
        self.reported = True
        owner = self.owner
        m.report("mdl.changed_while_in_use", f"{what} while {owner} uses them",
                 objects={"request": owner}, location=site_location(caller_site()))


class _Watch(_Watcher):
    """One pending request's interest in bytes [start, end) of one pool block."""

    __slots__ = ("use", "block")

    def __init__(self, use: MdlUse, block: PoolMemory, start: int, end: int) -> None:
        self.use = use
        self.block = block
        self.start = start
        self.end = end
        self.dirty = False
        self.reported = False

    @property
    def owner(self) -> str:  # type: ignore[override]
        return self.use.owner


def _report_late_change(m: Machine, block: PoolMemory, owner: str) -> None:
    """A watched change that could not be reported when it happened (no running machine),
    reported when the request releases its MDLs."""
    m.report("mdl.changed_while_in_use",
             f"the {describe_block(block)} changed while {owner} used it",
             objects={"request": owner})


class MdlUse:
    """A request's hold on a WSK_BUF's MDL chain, from mdl_chain_acquire to :meth:`release`.

    ``segments`` lists (buffer, start, length) in order; ``digest`` is a deterministic token of
    the described content (equal for the same unchanged bytes of the same blocks).
    """

    # ``irp``: the request's IRP, for a provider that keeps the use as its pending request's
    # record (WskSend: one object per send in flight instead of an (irp, use) entry more).
    __slots__ = ("owner", "mdls", "segments", "length", "digest", "watches", "released", "irp")

    def __init__(self, owner: str, mdls: list[MDL], segments: list[tuple[Any, int, int]],
                 length: int, digest: int | None = None) -> None:
        self.owner = owner
        self.mdls = mdls
        self.segments = segments
        self.length = length
        self.watches: list[_Watch] = []
        self.released = False
        self.digest = _digest(segments) if digest is None else digest
        self.irp: Any = None

    @property
    def dirty(self) -> bool:
        """Whether a watched byte changed (written or freed) since the request took them."""
        return any(watch.dirty for watch in self.watches)

    def release(self, m: Machine) -> int:
        """The request is over: the MDLs are free to unlock again. Reports a change of the
        described bytes that could not be reported when it happened. Returns the length."""
        if self.released:
            raise RuntimeError(f"MdlUse of {self.owner} released twice")
        self.released = True
        for mdl in self.mdls:
            mdl.in_use -= 1
        for watch in self.watches:
            _drop_watch(watch.block, watch)
            if watch.dirty and not watch.reported:
                _report_late_change(m, watch.block, self.owner)
        return self.length

    def read(self) -> bytes:
        """The described bytes (costs per byte: for peers that really need the data)."""
        return _read(self.segments)

    def write(self, data: bytes, offset: int = 0) -> int:
        """The provider fills the described bytes (a receive completing), without tripping its
        own watch. Returns how many bytes fit."""
        return _write(self.segments, data, offset)


class SpanUse(_Watcher):
    """The usual WskSend's hold: one locked MDL over one live pool block, watched.

    The same observable behaviour as an :class:`MdlUse` of one MDL and one segment with one
    :class:`_Watch`, in one object instead of six (the use, its watch, three lists and a
    segment): the use is its own watch. Sends hold it until the peer acknowledges them, so with
    many connections in flight fewer objects is fewer cache misses as well as less work.
    """

    # ``irp`` as in MdlUse; the fields a send's acknowledgement reads come first, together.
    __slots__ = ("irp", "length", "digest", "released", "mdl", "block", "owner")

    # No __init__: mdl_chain_acquire, the one maker, fills a bare instance (a class call
    # with an __init__ costs a second interpreter loop, once per send).
    irp: Any
    length: int
    digest: int
    released: bool
    mdl: MDL
    block: PoolMemory
    owner: str

    @property
    def mdls(self) -> list[MDL]:
        return [self.mdl]

    @property
    def segments(self) -> list[tuple[Any, int, int]]:
        return [(self.block, self.start, self.length)]

    @property
    def watches(self) -> list[SpanUse]:
        return [self]

    def release(self, m: Machine) -> int:
        """:meth:`MdlUse.release` for one MDL and one watch."""
        if self.released:
            raise RuntimeError(f"MdlUse of {self.owner} released twice")
        self.released = True
        self.mdl.in_use -= 1
        block = self.block
        # _drop_watch, inlined. object.__getattribute__: the block may have been freed (a
        # FreedPoolBlock reports a plain read).
        watches = object.__getattribute__(block, "_pool_watches")
        if watches is self:
            object.__setattr__(block, "_pool_watches", None)
        elif type(watches) is dict:
            watches.pop(self, None)
        if self.dirty and not self.reported:
            _report_late_change(m, block, self.owner)
        return self.length

    def read(self) -> bytes:
        return _read(self.segments)

    def write(self, data: bytes, offset: int = 0) -> int:
        return _write(self.segments, data, offset)


def _read(segments: list[tuple[Any, int, int]]) -> bytes:
    parts = []
    for buffer, start, length in segments:
        if isinstance(buffer, PoolMemory):
            parts.append(read_bytes(buffer, start, length))
        else:
            parts.append(bytes(memoryview(buffer)[start:start + length]))
    return b"".join(parts)


def _write(segments: list[tuple[Any, int, int]], data: bytes, offset: int) -> int:
    written = 0
    for buffer, start, length in segments:
        if offset >= length:
            offset -= length
            continue
        chunk = data[written:written + length - offset]
        if not chunk:
            break
        if isinstance(buffer, PoolMemory):
            write_bytes(buffer, start + offset, chunk, notify=False)
        else:
            memoryview(buffer)[start + offset:start + offset + len(chunk)] = chunk
        written += len(chunk)
        offset = 0
    return written


def _digest(segments: list[tuple[Any, int, int]]) -> int:
    parts: list[tuple[int, ...]] = []
    for buffer, start, length in segments:
        if isinstance(buffer, PoolMemory):
            version = object.__getattribute__(buffer, "version")
            parts.append((0, block_serial(buffer), version, start, length))  # as the fast path
        else:
            crc = zlib.crc32(memoryview(buffer)[start:start + length])
            parts.append((1, crc, start, length))
    return hash(tuple(parts)) & _MASK64  # ints only: deterministic across processes


def _chain_segments(m: Machine, first: MDL, offset: int, length: int,
                    owner: str) -> tuple[list[MDL], list[tuple[Any, int, int]]] | None:
    if offset > first.ByteCount or (length and offset == first.ByteCount):
        m.report("mdl.bad_range", f"{owner}: Offset {offset} is not within the first MDL "
                 f"({first.ByteCount} bytes)", objects={"mdl": first.describe()},
                 params=(offset, first.ByteCount, 0))
        return None
    mdls: list[MDL] = []
    segments: list[tuple[Any, int, int]] = []
    mdl: MDL | None = first
    remaining = length
    while remaining > 0:
        if mdl is None:
            m.report("mdl.bad_range", f"{owner}: Length {length} from Offset {offset} runs "
                     f"{remaining} bytes past the end of the MDL chain",
                     objects={"mdl": first.describe()}, params=(length, length - remaining, 0))
            return None
        if not _alive(m, mdl, owner) or not _buffer_alive(m, mdl, owner):
            return None
        if not mdl.locked:
            m.report("mdl.not_locked", f"{owner}: MDL #{mdl.serial} is neither locked "
                     "(MmProbeAndLockPages) nor built (MmBuildMdlForNonPagedPool)",
                     objects={"mdl": mdl.describe()})
            return None
        take = min(mdl.ByteCount - offset, remaining)
        if take > 0:
            segments.append((mdl.StartVa, mdl.ByteOffset + offset, take))
        mdls.append(mdl)
        remaining -= take
        offset = 0
        mdl = mdl.Next
    return mdls, segments


def mdl_chain_acquire(m: Machine, Mdl: MDL | None, Offset: int, Length: int,
                      owner: str, watch: bool = True) -> MdlUse | SpanUse | None:
    """Take a WSK_BUF (``Mdl``, ``Offset``, ``Length``) for request ``owner``.

    Reports and returns None when the chain cannot be used (NULL with a length, freed, not
    locked, Offset outside the first MDL, Length past the chain). Otherwise every MDL covering
    the range is marked in use and, with ``watch`` (sends: the bytes must stay unchanged),
    driver writes into the range are reported until :meth:`MdlUse.release`.
    """
    if (type(Mdl) is MDL and Mdl.locked and not Mdl.freed and 0 <= Offset
            and 0 < Length <= Mdl.ByteCount - Offset and type(Mdl.StartVa) in _LIVE_BLOCKS):
        # The usual WskSend: one valid MDL over a live pool block (the general path below in
        # a few lines; the digest is the one _digest computes for the same single segment).
        block: Any = Mdl.StartVa
        start = Mdl.ByteOffset + Offset
        Mdl.in_use += 1
        digest = hash(((0, block._pool_serial, block.version, start, Length),)) & _MASK64
        if watch:
            # A SpanUse is its own watch (_add_watch, inlined: a live PoolBlock, plain
            # attribute access works).
            span = _new_span(SpanUse)
            span.irp = None
            span.length = Length
            span.digest = digest
            span.released = span.dirty = span.reported = False
            span.mdl = Mdl
            span.block = block
            span.owner = owner
            span.start = start
            span.end = start + Length
            watches = block._pool_watches
            if watches is None:
                block._pool_watches = span  # the block's only watch: itself, no dict
            elif type(watches) is dict:
                watches[span] = None
            else:
                block._pool_watches = {watches: None, span: None}
            return span
        return MdlUse(owner, [Mdl], [(block, start, Length)], Length, digest)
    if Mdl is None:
        if Length == 0:
            return MdlUse(owner, [], [], 0)
        m.report("mdl.bad_range", f"{owner}: WSK_BUF has no MDL but Length {Length}",
                 params=(Length, 0, 0))
        return None
    if not _alive(m, Mdl, owner):
        return None
    chain = _chain_segments(m, Mdl, Offset, Length, owner)
    if chain is None:
        return None
    mdls, segments = chain
    for mdl in mdls:
        mdl.in_use += 1
    use = MdlUse(owner, mdls, segments, Length)
    if watch:
        for buffer, start, length in segments:
            if isinstance(buffer, PoolMemory):
                _add_watch(use, buffer, start, start + length)
    return use


_LIVE_BLOCKS = (PoolBlock, PagedPoolBlock)
_new_span = object.__new__


def _add_watch(use: MdlUse, block: PoolMemory, start: int, end: int) -> None:
    watch = _Watch(use, block, start, end)
    watches = object.__getattribute__(block, "_pool_watches")
    if watches is None:
        object.__setattr__(block, "_pool_watches", watch)  # the only one (see watches_of)
    elif type(watches) is dict:
        watches[watch] = None
    else:
        object.__setattr__(block, "_pool_watches", {watches: None, watch: None})
    use.watches.append(watch)


def _drop_watch(block: PoolMemory, watch: _Watcher) -> None:
    """A request ends: ``watch`` leaves the block's watches (O(1), however many requests
    watch the same block: a ring of sends over one buffer). The block may have been freed."""
    watches = object.__getattribute__(block, "_pool_watches")
    if watches is watch:
        object.__setattr__(block, "_pool_watches", None)
    elif type(watches) is dict:
        watches.pop(watch, None)
