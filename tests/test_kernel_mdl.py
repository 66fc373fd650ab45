"""MDLs: build/lock/unlock/free, WSK_BUF chains held by a request, and the MDL rules."""

from __future__ import annotations

from typing import Any

import pytest
from kernel_helpers import assert_at, machine, next_line, only, rule_ids, run_driver

from mock_wsk.constants import DISPATCH_LEVEL
from mock_wsk.kernel.irp import IoAllocateIrp, IoFreeIrp
from mock_wsk.kernel.irql import KeLowerIrql, KeRaiseIrql
from mock_wsk.kernel.mdl import (
    MDL,
    MDL_MAPPED_TO_SYSTEM_VA,
    MDL_PAGES_LOCKED,
    MDL_SOURCE_IS_NONPAGED_POOL,
    IoAllocateMdl,
    IoFreeMdl,
    IoReadAccess,
    MdlTracker,
    MdlUse,
    MmBuildMdlForNonPagedPool,
    MmGetMdlByteCount,
    MmGetMdlVirtualAddress,
    MmGetSystemAddressForMdlSafe,
    MmProbeAndLockPages,
    MmUnlockPages,
    NormalPagePriority,
    mdl_chain_acquire,
)
from mock_wsk.kernel.pool import (
    POOL_FLAG_NON_PAGED,
    POOL_FLAG_PAGED,
    ExAllocatePool2,
    ExFreePool,
    PoolPointer,
)
from mock_wsk.kernel.sync import KernelMode

HERE = "test_kernel_mdl.py"
TAG = "kswE"


def nonpaged_mdl(size: int = 64, length: int | None = None) -> tuple[Any, MDL]:
    buf = ExAllocatePool2(POOL_FLAG_NON_PAGED, size, TAG)
    mdl = IoAllocateMdl(buf, size if length is None else length, False, False, None)
    MmBuildMdlForNonPagedPool(mdl)
    return buf, mdl


def acquire(mdl: MDL | None, offset: int, length: int, owner: str = "WskSend") -> MdlUse | None:
    return mdl_chain_acquire(machine(), mdl, offset, length, owner)


def release(use: MdlUse) -> int:
    return use.release(machine())


def test_build_send_release_free_is_clean() -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        buf, mdl = nonpaged_mdl(64)
        seen.append(bool(mdl.MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL))
        use = acquire(mdl, 8, 32)
        seen.append((mdl.in_use, use.length, use.segments == [(buf, 8, 32)]))
        seen.append(release(use))
        seen.append(mdl.in_use)
        IoFreeMdl(mdl)
        ExFreePool(buf)

    m = run_driver(entry)
    assert m.violations == []
    assert seen == [True, (1, 32, True), 32, 0]
    assert m.subsystem(MdlTracker).live == {}


def test_probe_and_lock_then_unlock() -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        buf = ExAllocatePool2(POOL_FLAG_PAGED, 32, TAG)
        mdl = IoAllocateMdl(buf, 32, False, False, None)
        MmProbeAndLockPages(mdl, KernelMode, IoReadAccess)
        seen.append((mdl.locked, bool(mdl.MdlFlags & MDL_PAGES_LOCKED)))
        release(acquire(mdl, 0, 32))
        MmUnlockPages(mdl)
        seen.append(mdl.locked)
        IoFreeMdl(mdl)
        ExFreePool(buf)

    m = run_driver(entry)
    assert m.violations == []
    assert seen == [(True, True), False]


def test_locked_paged_pool_may_be_touched_at_dispatch_until_unlocked() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        buf = ExAllocatePool2(POOL_FLAG_PAGED, 32, TAG)
        mdl = IoAllocateMdl(buf, 32, False, False, None)
        MmProbeAndLockPages(mdl, KernelMode, IoReadAccess)
        old = KeRaiseIrql(DISPATCH_LEVEL)
        buf[0:2] = b"ok"  # resident while locked
        KeLowerIrql(old)
        MmUnlockPages(mdl)
        old = KeRaiseIrql(DISPATCH_LEVEL)
        lines["touch"] = next_line()
        buf[0:2] = b"no"
        KeLowerIrql(old)
        IoFreeMdl(mdl)
        ExFreePool(buf)

    m = run_driver(entry)
    assert_at(only(m, "irql.paged_pool"), HERE, lines["touch"])
    assert rule_ids(m) == ["irql.paged_pool"]


def test_system_address_is_the_described_buffer() -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        buf = ExAllocatePool2(POOL_FLAG_NON_PAGED, 32, TAG)
        mdl = IoAllocateMdl(buf + 8, 16, False, False, None)
        MmBuildMdlForNonPagedPool(mdl)
        address = MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority)
        seen.append((type(address), address.offset, MmGetMdlByteCount(mdl)))
        address[0:3] = b"abc"
        seen.append(buf[8:11])
        seen.append(MmGetMdlVirtualAddress(mdl).offset)
        IoFreeMdl(mdl)
        ExFreePool(buf)

    m = run_driver(entry)
    assert m.violations == []
    assert seen == [(PoolPointer, 8, 16), b"abc", 8]


def test_mapping_a_locked_mdl_sets_the_mapped_flag() -> None:
    flags: list[int] = []

    def entry(driver: Any, registry: Any) -> None:
        buf = ExAllocatePool2(POOL_FLAG_PAGED, 8, TAG)
        mdl = IoAllocateMdl(buf, 8, False, False, None)
        MmProbeAndLockPages(mdl, KernelMode, IoReadAccess)
        assert MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority) is buf
        flags.append(mdl.MdlFlags)
        MmUnlockPages(mdl)
        flags.append(mdl.MdlFlags)
        IoFreeMdl(mdl)
        ExFreePool(buf)

    assert run_driver(entry).violations == []
    assert flags == [MDL_PAGES_LOCKED | MDL_MAPPED_TO_SYSTEM_VA, 0]


def test_irp_mdl_address_and_secondary_chaining() -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        buf = ExAllocatePool2(POOL_FLAG_NON_PAGED, 32, TAG)
        irp = IoAllocateIrp(1, False)
        first = IoAllocateMdl(buf, 16, False, False, irp)
        second = IoAllocateMdl(buf + 16, 16, True, False, irp)
        seen.append((irp.MdlAddress is first, first.Next is second))
        for mdl in (first, second):
            IoFreeMdl(mdl)
        IoFreeIrp(irp)
        ExFreePool(buf)

    assert run_driver(entry).violations == []
    assert seen == [(True, True)]


def test_chain_of_two_mdls_spans_both() -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        a, first = nonpaged_mdl(16)
        b, second = nonpaged_mdl(16)
        first.Next = second
        use = acquire(first, 10, 20)
        seen.append(use.segments == [(a, 10, 6), (b, 0, 14)])
        seen.append((first.in_use, second.in_use))
        release(use)
        for mdl in (first, second):
            IoFreeMdl(mdl)
        for buf in (a, b):
            ExFreePool(buf)

    assert run_driver(entry).violations == []
    assert seen == [True, (1, 1)]


# ---------------------------------------------------------------------- rules


def test_free_and_unlock_while_in_use() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        buf = ExAllocatePool2(POOL_FLAG_NON_PAGED, 32, TAG)
        mdl = IoAllocateMdl(buf, 32, False, False, None)
        MmProbeAndLockPages(mdl, KernelMode, IoReadAccess)
        use = acquire(mdl, 0, 32)
        lines["unlock"] = next_line()
        MmUnlockPages(mdl)
        lines["free"] = next_line()
        IoFreeMdl(mdl)
        release(use)
        ExFreePool(buf)

    m = run_driver(entry)
    assert rule_ids(m) == ["mdl.free_while_in_use", "mdl.free_while_in_use"]
    assert_at(m.violations[0], HERE, lines["unlock"])
    assert_at(m.violations[1], HERE, lines["free"])


def test_buffer_modified_while_in_use_is_reported_at_the_write() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        buf, mdl = nonpaged_mdl(64)
        use = acquire(mdl, 0, 32)
        buf[40:48] = b"elsewhr!"  # outside the range the send uses: a ring buffer does this
        lines["write"] = next_line()
        buf[4:8] = b"oops"
        buf[8:12] = b"more"  # the same request: one report is enough
        release(use)
        buf[0:4] = b"free"  # the send is over
        IoFreeMdl(mdl)
        ExFreePool(buf)

    m = run_driver(entry)
    v = only(m, "mdl.changed_while_in_use")
    assert_at(v, HERE, lines["write"])
    assert "[4, 8)" in v.message and "WskSend" in v.message
    assert rule_ids(m) == ["mdl.changed_while_in_use"]


def test_buffer_freed_while_in_use() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        buf, mdl = nonpaged_mdl(16)
        use = acquire(mdl, 0, 16)
        lines["free"] = next_line()
        ExFreePool(buf)
        release(use)
        IoFreeMdl(mdl)

    m = run_driver(entry)
    v = only(m, "mdl.changed_while_in_use")
    assert_at(v, HERE, lines["free"])
    assert "freed" in v.message


def test_receive_fill_by_the_provider_is_not_a_change() -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        buf, mdl = nonpaged_mdl(8)
        use = mdl_chain_acquire(machine(), mdl, 2, 6, "WskReceive")
        seen.append(use.write(b"hello!!!"))
        seen.append(use.read())
        release(use)
        seen.append(buf[0:8])
        IoFreeMdl(mdl)
        ExFreePool(buf)

    m = run_driver(entry)
    assert m.violations == []
    assert seen == [6, b"hello!", b"\0\0hello!"]


def test_digest_is_stable_for_unchanged_bytes_and_changes_with_them() -> None:
    digests: list[int] = []
    general_digests: list[int] = []

    def entry(driver: Any, registry: Any) -> None:
        buf, mdl = nonpaged_mdl(16)
        for _ in range(2):
            use = acquire(mdl, 0, 16)
            digests.append(use.digest)
            release(use)
        # The general (multi-segment) path computes the same token for the same segment.
        general_digests.append(MdlUse("WskSend", [], [(buf, 0, 16)], 16).digest)
        buf[0:1] = b"x"
        use = acquire(mdl, 0, 16)
        digests.append(use.digest)
        release(use)
        IoFreeMdl(mdl)
        ExFreePool(buf)

    run_driver(entry)
    assert digests[0] == digests[1] != digests[2]
    assert general_digests == [digests[0]]
    fresh: list[int] = []
    for _ in range(2):  # the same driver on two fresh machines: the same token
        run_driver(lambda driver, registry: fresh.append(_digest_once()))
    assert fresh[0] == fresh[1] == digests[0]


def _digest_once() -> int:
    buf, mdl = nonpaged_mdl(16)
    use = acquire(mdl, 0, 16)
    digest = use.digest
    release(use)
    IoFreeMdl(mdl)
    ExFreePool(buf)
    return digest


def test_not_locked_mdl_is_refused() -> None:
    lines: dict[str, int] = {}
    got: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        buf = ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, TAG)
        mdl = IoAllocateMdl(buf, 16, False, False, None)
        lines["send"] = next_line()  # the provider's checks name the driver's line
        got.append(mdl_chain_acquire(machine(), mdl, 0, 16, "WskSend"))
        IoFreeMdl(mdl)
        ExFreePool(buf)

    m = run_driver(entry)
    assert got == [None]
    assert_at(only(m, "mdl.not_locked"), HERE, lines["send"])


@pytest.mark.parametrize(
    ("offset", "length", "why"),
    [(16, 1, "not within the first MDL"), (20, 0, "not within the first MDL"),
     (8, 9, "past the end")],
)
def test_bad_range(offset: int, length: int, why: str) -> None:
    got: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        buf, mdl = nonpaged_mdl(16)
        got.append(acquire(mdl, offset, length))
        assert mdl.in_use == 0
        IoFreeMdl(mdl)
        ExFreePool(buf)

    m = run_driver(entry)
    assert got == [None]
    assert why in only(m, "mdl.bad_range").message


def test_null_mdl_is_fine_only_for_zero_length() -> None:
    got: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        empty = acquire(None, 0, 0)
        got.append(empty.length if empty else "refused")
        got.append(acquire(None, 0, 10))

    m = run_driver(entry)
    assert got == [0, None]
    assert rule_ids(m) == ["mdl.bad_range"]


def test_lock_state_misuse() -> None:
    def entry(driver: Any, registry: Any) -> None:
        paged = ExAllocatePool2(POOL_FLAG_PAGED, 16, TAG)
        paged_mdl = IoAllocateMdl(paged, 16, False, False, None)
        MmBuildMdlForNonPagedPool(paged_mdl)  # paged memory
        MmUnlockPages(paged_mdl)  # never locked
        MmProbeAndLockPages(paged_mdl, KernelMode, IoReadAccess)
        MmProbeAndLockPages(paged_mdl, KernelMode, IoReadAccess)  # twice
        IoFreeMdl(paged_mdl)  # still locked
        buf, built = nonpaged_mdl(16)
        MmUnlockPages(built)  # built, not locked
        IoFreeMdl(built)
        ExFreePool(buf)
        ExFreePool(paged)

    m = run_driver(entry)
    assert rule_ids(m) == ["mdl.misuse"] * 5
    messages = [v.message for v in m.violations]
    assert "paged pool" in messages[0]
    assert "not locked" in messages[1]
    assert "already locked" in messages[2]
    assert "still locked" in messages[3]
    assert "MmBuildMdlForNonPagedPool" in messages[4]


def test_mdl_use_after_free() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        buf, mdl = nonpaged_mdl(16)
        IoFreeMdl(mdl)
        lines["send"] = next_line()
        mdl_chain_acquire(machine(), mdl, 0, 16, "WskSend")
        lines["again"] = next_line()
        IoFreeMdl(mdl)
        ExFreePool(buf)

    m = run_driver(entry)
    assert rule_ids(m) == ["mdl.use_after_free", "mdl.use_after_free"]
    assert_at(m.violations[0], HERE, lines["send"])
    assert_at(m.violations[1], HERE, lines["again"])


def test_mdl_leak_names_the_allocation_line() -> None:
    lines: dict[str, int] = {}
    blocks: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        buf = ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, TAG)
        blocks.append(buf)
        lines["alloc"] = next_line()
        mdl = IoAllocateMdl(buf, 16, False, False, None)
        MmProbeAndLockPages(mdl, KernelMode, IoReadAccess)

    def unload(driver: Any) -> None:
        ExFreePool(blocks.pop())

    m = run_driver(entry, unload)
    v = only(m, "mdl.leak")
    assert_at(v, HERE, lines["alloc"])
    assert "still locked" in v.message


def test_mdl_longer_than_its_buffer_is_an_overrun() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        buf = ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, TAG)
        lines["alloc"] = next_line()
        mdl = IoAllocateMdl(buf + 8, 16, False, False, None)
        IoFreeMdl(mdl)
        ExFreePool(buf)

    m = run_driver(entry)
    assert_at(only(m, "pool.overrun"), HERE, lines["alloc"])


def test_fail_allocations() -> None:
    got: list[Any] = []

    def setup(m: Any) -> None:
        m.subsystem(MdlTracker).fail_allocations(1)

    def entry(driver: Any, registry: Any) -> None:
        buf = ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, TAG)
        got.append(IoAllocateMdl(buf, 16, False, False, None))
        mdl = IoAllocateMdl(buf, 16, False, False, None)
        got.append(type(mdl))
        IoFreeMdl(mdl)
        ExFreePool(buf)

    m = run_driver(entry, setup=setup)
    assert got == [None, MDL] and m.violations == []


def test_two_sends_over_one_block_are_watched_separately() -> None:
    # The usual send is its own watch (no dict on the block); a second one over the same block
    # shares an ordered set with it. Either way a write reports once, for the send whose range
    # it hits, and a released send stops watching.
    lines: dict[str, int] = {}
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        buf, mdl = nonpaged_mdl(64)
        first = acquire(mdl, 0, 16, "WskSend#1")
        second = acquire(mdl, 32, 16, "WskSend#2")
        seen.append((first.segments, first.mdls == [mdl], first.watches == [first]))
        lines["write"] = next_line()
        buf[36:40] = b"oops"
        seen.append((first.dirty, second.dirty))
        release(second)
        buf[36:40] = b"free"  # the second send is over: nobody watches these bytes now
        release(first)
        buf[0:4] = b"free"
        seen.append(mdl.in_use)
        IoFreeMdl(mdl)
        ExFreePool(buf)

    m = run_driver(entry)
    v = only(m, "mdl.changed_while_in_use")
    assert_at(v, HERE, lines["write"])
    assert "WskSend#2" in v.message
    assert seen[1:] == [(False, True), 0]
    assert seen[0][1:] == (True, True) and seen[0][0][0][1:] == (0, 16)


def test_dirty_of_a_chained_use() -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        a, first = nonpaged_mdl(10)
        b, second = nonpaged_mdl(20)
        first.Next = second
        use = acquire(first, 0, 30)
        seen.append((type(use) is MdlUse, use.dirty))
        b[0:1] = b"!"
        seen.append(use.dirty)
        release(use)
        for mdl, buf in ((first, a), (second, b)):
            IoFreeMdl(mdl)
            ExFreePool(buf)

    m = run_driver(entry)
    assert seen == [(True, False), True]
    assert rule_ids(m) == ["mdl.changed_while_in_use"]
