"""Pool DDIs: allocation, tags, use after free, double free, leaks, paged pool, faults, Rtl*."""

from __future__ import annotations

from typing import Any

import pytest
from kernel_helpers import (
    assert_at,
    machine,
    next_line,
    no_unload,
    only,
    rule_ids,
    run_driver,
    violations,
)

from mock_wsk.constants import DISPATCH_LEVEL
from mock_wsk.kernel.irql import KeGetCurrentIrql
from mock_wsk.kernel.pool import (
    POOL_FLAG_NON_PAGED,
    POOL_FLAG_PAGED,
    POOL_FLAG_RAISE_ON_FAILURE,
    POOL_FLAG_UNINITIALIZED,
    UNINITIALIZED_FILL,
    ExAllocatePool2,
    ExAllocatePoolWithTag,
    ExAllocatePoolZero,
    ExFreePool,
    ExFreePoolWithTag,
    FreedPoolBlock,
    NonPagedPoolNx,
    PagedPool,
    PagedPoolBlock,
    PoolBlock,
    PoolTracker,
    RtlCompareMemory,
    RtlCopyMemory,
    RtlFillMemory,
    RtlZeroMemory,
    StatusException,
    pool_tag,
    tag_text,
)
from mock_wsk.kernel.sync import KSPIN_LOCK, KeAcquireSpinLock, KeReleaseSpinLock
from mock_wsk.kernel.types import KIRQL
from mock_wsk.status import STATUS_INSUFFICIENT_RESOURCES
from mock_wsk.verifier import Policy, Severity

HERE = "test_kernel_pool.py"
TAG = "kswE"  # written as in C source: 'kswE', shown by pool tools as "Ewsk"


def test_tags_are_c_multichar_constants_shown_reversed() -> None:
    assert pool_tag("kswE") == 0x6B737745
    assert pool_tag(0x6B737745) == 0x6B737745
    assert tag_text(pool_tag("kswE")) == "Ewsk"
    with pytest.raises(ValueError):
        pool_tag("toolong")


def test_block_is_a_struct_and_a_zeroed_byte_buffer() -> None:
    seen: dict[str, Any] = {}

    def entry(driver: Any, registry: Any) -> None:
        ctx = ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, TAG)
        assert ctx is not None
        ctx.Socket = "socket"
        seen["zero"] = ctx[0:16]
        v0 = ctx.version
        ctx[4:8] = b"abcd"
        seen["bumped"] = ctx.version > v0
        seen["bytes"] = bytes(ctx)
        seen["len"] = len(ctx)
        seen["socket"] = ctx.Socket
        seen["type"] = type(ctx)
        ExFreePoolWithTag(ctx, TAG)
        seen["freed_type"] = type(ctx)

    m = run_driver(entry)
    assert m.violations == []
    assert seen["zero"] == bytes(16)
    assert seen["bumped"] is True
    assert seen["bytes"] == b"\0" * 4 + b"abcd" + b"\0" * 8
    assert seen["len"] == 16 and seen["socket"] == "socket"
    assert seen["type"] is PoolBlock and seen["freed_type"] is FreedPoolBlock


def test_uninitialized_pool_is_not_zero() -> None:
    seen: dict[str, bytes] = {}

    def entry(driver: Any, registry: Any) -> None:
        a = ExAllocatePoolWithTag(NonPagedPoolNx, 4, TAG)
        b = ExAllocatePool2(POOL_FLAG_NON_PAGED | POOL_FLAG_UNINITIALIZED, 4, TAG)
        c = ExAllocatePoolZero(NonPagedPoolNx, 4, TAG)
        seen.update(a=a[0:4], b=b[0:4], c=c[0:4])
        for p in (a, b, c):
            ExFreePool(p)

    m = run_driver(entry)
    assert m.violations == []
    assert seen["a"] == seen["b"] == bytes([UNINITIALIZED_FILL]) * 4
    assert seen["c"] == bytes(4)


def test_use_after_free_reports_the_touching_line() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        ctx = ExAllocatePool2(POOL_FLAG_NON_PAGED, 32, TAG)
        lines["free"] = next_line()
        ExFreePoolWithTag(ctx, TAG)
        lines["touch"] = next_line()
        ctx.Socket = None

    m = run_driver(entry)
    v = only(m, "pool.use_after_free")
    assert_at(v, HERE, lines["touch"])
    assert f"{HERE}:{lines['free']}" in v.message  # where it was freed
    assert "Ewsk" in v.objects["block"]


def test_use_after_free_of_bytes_and_len_and_once_per_line() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        buf = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG)
        ExFreePool(buf)
        for _ in range(5):
            lines["read"] = next_line()
            buf[0:4]
        lines["len"] = next_line()
        len(buf)

    m = run_driver(entry)
    found = violations(m, "pool.use_after_free")
    assert [v.location.line for v in found if v.location] == [lines["read"], lines["len"]]


def test_live_block_has_no_free_check() -> None:
    def entry(driver: Any, registry: Any) -> None:
        ctx = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG)
        for i in range(100):
            ctx.Counter = i
        ExFreePool(ctx)

    assert run_driver(entry).violations == []


def test_double_free() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG)
        ExFreePool(p)
        lines["second"] = next_line()
        ExFreePoolWithTag(p, TAG)

    m = run_driver(entry)
    assert_at(only(m, "pool.double_free"), HERE, lines["second"])
    assert rule_ids(m) == ["pool.double_free"]


def test_wrong_tag_and_right_tag() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG)
        q = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, 0x6B737745)
        lines["wrong"] = next_line()
        ExFreePoolWithTag(p, "xxxE")
        ExFreePoolWithTag(q, TAG)  # the same tag written as an int and as text

    m = run_driver(entry)
    v = only(m, "pool.wrong_tag")
    assert_at(v, HERE, lines["wrong"])
    assert "Exxx" in v.message and "Ewsk" in v.message
    assert rule_ids(m) == ["pool.wrong_tag"]


def test_bad_free() -> None:
    def entry(driver: Any, registry: Any) -> None:
        p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG)
        ExFreePool(None)
        ExFreePool(p + 4)  # a pointer into the middle of the block
        ExFreePool(bytearray(4))
        ExFreePool(p)

    m = run_driver(entry)
    assert rule_ids(m) == ["pool.bad_free"] * 3
    assert "middle" in m.violations[1].message


def test_leak_at_unload_names_the_allocation_line() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        lines["alloc"] = next_line()
        ExAllocatePool2(POOL_FLAG_NON_PAGED, 24, TAG)
        p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG)
        ExFreePool(p)

    m = run_driver(entry, no_unload)
    v = only(m, "pool.leak")
    assert_at(v, HERE, lines["alloc"])
    assert v.objects["tag"] == "Ewsk" and v.objects["size"] == "24"


def test_no_leak_when_unload_frees() -> None:
    blocks: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        blocks.append(ExAllocatePool2(POOL_FLAG_NON_PAGED, 24, TAG))

    def unload(driver: Any) -> None:
        ExFreePool(blocks.pop())

    assert run_driver(entry, unload).violations == []


def test_usage_counts_live_blocks_by_tag() -> None:
    usage: dict[str, tuple[int, int]] = {}

    def entry(driver: Any, registry: Any) -> None:
        a = ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, TAG)
        b = ExAllocatePool2(POOL_FLAG_NON_PAGED, 32, TAG)
        c = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, "1gaT")
        usage.update(machine().subsystem(PoolTracker).usage())
        for p in (a, b, c):
            ExFreePool(p)

    run_driver(entry)
    assert usage == {"Ewsk": (2, 48), "Tag1": (1, 8)}


def test_paged_pool_touched_at_dispatch() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        lock = KSPIN_LOCK("L")
        ctx = ExAllocatePool2(POOL_FLAG_PAGED, 16, TAG)
        assert type(ctx) is PagedPoolBlock
        ctx.State = 1  # PASSIVE_LEVEL: fine
        old = KIRQL()
        KeAcquireSpinLock(lock, old)
        lines["touch"] = next_line()
        ctx.State = 2
        KeReleaseSpinLock(lock, old)
        ctx[0:2] = b"ok"  # back at PASSIVE_LEVEL: fine
        ExFreePool(ctx)

    m = run_driver(entry)
    v = only(m, "irql.paged_pool")
    assert_at(v, HERE, lines["touch"])
    assert v.irql == DISPATCH_LEVEL
    assert rule_ids(m) == ["irql.paged_pool"]


def test_paged_pool_allocated_at_dispatch() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        lock = KSPIN_LOCK("L")
        old = KeAcquireSpinLock(lock)
        assert KeGetCurrentIrql() == DISPATCH_LEVEL
        lines["alloc"] = next_line()
        p = ExAllocatePoolWithTag(PagedPool, 8, TAG)
        KeReleaseSpinLock(lock, old)
        ExFreePool(p)

    m = run_driver(entry)
    assert_at(only(m, "irql.paged_pool"), HERE, lines["alloc"])
    assert rule_ids(m) == ["irql.paged_pool"]


def test_nonpaged_pool_at_dispatch_is_fine() -> None:
    def entry(driver: Any, registry: Any) -> None:
        lock = KSPIN_LOCK("L")
        old = KeAcquireSpinLock(lock)
        p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG)
        p.Field = 1
        p[0:1] = b"x"
        ExFreePool(p)
        KeReleaseSpinLock(lock, old)

    assert run_driver(entry).violations == []


def test_fail_allocations_by_tag() -> None:
    got: list[bool] = []

    def setup(m: Any) -> None:
        m.subsystem(PoolTracker).fail_allocations(2, tag=TAG)

    def entry(driver: Any, registry: Any) -> None:
        other = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, "1gaT")
        got.append(other is not None)
        for _ in range(3):
            p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG)
            got.append(p is not None)
            if p is not None:
                ExFreePool(p)
        ExFreePool(other)

    m = run_driver(entry, setup=setup)
    assert got == [True, False, False, True]
    assert m.subsystem(PoolTracker).failures == 2
    assert m.violations == []


def test_fail_allocations_matches_the_displayed_tag_too() -> None:
    got: list[Any] = []

    def setup(m: Any) -> None:
        m.subsystem(PoolTracker).fail_allocations(1, tag="Ewsk")

    def entry(driver: Any, registry: Any) -> None:
        got.append(ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG))

    run_driver(entry, setup=setup)
    assert got == [None]


def test_raise_on_failure_raises_the_status() -> None:
    caught: list[int] = []

    def setup(m: Any) -> None:
        m.subsystem(PoolTracker).fail_allocations(1)

    def entry(driver: Any, registry: Any) -> None:
        try:
            ExAllocatePool2(POOL_FLAG_NON_PAGED | POOL_FLAG_RAISE_ON_FAILURE, 8, TAG)
        except StatusException as exc:
            caught.append(exc.status)

    run_driver(entry, setup=setup)
    assert caught == [STATUS_INSUFFICIENT_RESOURCES]


@pytest.mark.parametrize(
    ("flags", "tag"),
    [(0, TAG), (POOL_FLAG_NON_PAGED | POOL_FLAG_PAGED, TAG), (POOL_FLAG_NON_PAGED | 0x10, TAG),
     (POOL_FLAG_NON_PAGED, 0)],
)
def test_invalid_flags_or_zero_tag_return_null(flags: int, tag: Any) -> None:
    got: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        got.append(ExAllocatePool2(flags, 8, tag))

    m = run_driver(entry)
    assert got == [None] and m.violations == []


def test_overrun_is_reported_and_clipped() -> None:
    lines: dict[str, int] = {}
    seen: dict[str, Any] = {}

    def entry(driver: Any, registry: Any) -> None:
        p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG)
        lines["write"] = next_line()
        p[6:] = b"abcd"
        seen["bytes"] = p[0:8]
        seen["len"] = len(p)
        ExFreePool(p)

    m = run_driver(entry)
    assert_at(only(m, "pool.overrun"), HERE, lines["write"])
    assert seen == {"bytes": b"\0" * 6 + b"ab", "len": 8}


def test_rtl_memory_functions() -> None:
    seen: dict[str, Any] = {}

    def entry(driver: Any, registry: Any) -> None:
        p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG)
        q = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG)
        v0 = p.version
        RtlFillMemory(p, 8, 0x41)
        RtlCopyMemory(p + 2, b"xyz", 3)
        seen["p"] = p[0:8]
        RtlCopyMemory(q, p, 8)
        seen["same"] = RtlCompareMemory(p, q, 8)
        RtlZeroMemory(q + 4, 4)
        seen["q"] = q[0:8]
        seen["prefix"] = RtlCompareMemory(p, q, 8)
        seen["bumped"] = p.version - v0
        ExFreePool(p)
        ExFreePool(q)

    m = run_driver(entry)
    assert m.violations == []
    assert seen["p"] == b"AAxyzAAA"
    assert seen["q"] == b"AAxy\0\0\0\0"
    assert seen["same"] == 8 and seen["prefix"] == 4
    assert seen["bumped"] == 2


def test_rtl_copy_into_freed_block_is_use_after_free() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG)
        ExFreePool(p)
        lines["copy"] = next_line()
        RtlCopyMemory(p, b"abc", 3)

    m = run_driver(entry)
    assert_at(only(m, "pool.use_after_free"), HERE, lines["copy"])


def test_bugcheck_policy_halts_the_machine_at_a_double_free() -> None:
    reached: list[str] = []

    def entry(driver: Any, registry: Any) -> None:
        p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG)
        ExFreePool(p)
        ExFreePool(p)
        reached.append("after the bug check")

    m = run_driver(entry, policy=Policy.BUGCHECK)
    assert m.halt is not None
    assert m.halt.violation.rule.id == "pool.double_free"
    assert reached == []
    assert "BAD_POOL_CALLER" in m.halt.blue_screen() or "0x000000C2" in m.halt.blue_screen()


def test_pool_leak_is_an_error_rule() -> None:
    def entry(driver: Any, registry: Any) -> None:
        ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG)

    m = run_driver(entry, no_unload)
    assert only(m, "pool.leak").severity is Severity.ERROR


def test_iterating_a_freed_block_or_a_pointer_ends() -> None:
    seen: dict[str, Any] = {}

    def entry(driver: Any, registry: Any) -> None:
        p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 4, TAG)
        p[0:4] = b"abcd"
        seen["pointer"] = list(p + 2)
        ExFreePool(p)
        seen["freed"] = list(p)  # a use after free, but it must not loop forever

    m = run_driver(entry)
    assert seen == {"pointer": [ord("c"), ord("d")], "freed": list(b"abcd")}
    assert rule_ids(m) == ["pool.use_after_free"]


def test_star_import_gives_only_wdk_names() -> None:
    namespace: dict[str, Any] = {}
    exec("from mock_wsk.kernel.pool import *", namespace)
    assert "ExAllocatePool2" in namespace and "POOL_FLAG_NON_PAGED" in namespace
    assert "PoolTracker" not in namespace and "caller_site" not in namespace


def test_caller_site_and_stub_location_name_the_calling_line() -> None:
    """The site caches (by code object and instruction offset) still give each call's own line,
    one shared object per place."""
    import inspect

    from mock_wsk.kernel.pool import caller_site
    from mock_wsk.verifier import stub_location

    def driver_code() -> list[Any]:
        first = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        out = [caller_site(), stub_location()]
        for _ in range(2):
            out += [caller_site(), stub_location()]  # noqa: PERF401 - one line, two calls
        out.append(first)
        return out

    for _ in range(2):
        a_site, a_loc, b_site, b_loc, c_site, c_loc, first = driver_code()
        assert a_site is not None and a_loc is not None
        assert a_site[1:] == (first, "driver_code") and a_site[0] == __file__
        assert (a_loc.line, a_loc.function) == (first, "driver_code")
        assert b_site is not None and b_loc is not None
        assert b_site[1] == b_loc.line == first + 2
        assert c_site is b_site and c_loc is b_loc  # the same place: the same object


def test_nonpaged_pool_runs_out_at_its_limit_and_freeing_makes_room() -> None:
    got: list[Any] = []

    def entry(DriverObject: Any, RegistryPath: Any) -> None:
        blocks = [ExAllocatePool2(POOL_FLAG_NON_PAGED, 64 * 1024, b"Lim ") for _ in range(5)]
        paged = ExAllocatePool2(POOL_FLAG_PAGED, 1024 * 1024, b"Lim ")  # another pool
        got.append([b is not None for b in blocks] + [paged is not None])
        ExFreePool(blocks[0])
        again = ExAllocatePool2(POOL_FLAG_NON_PAGED, 64 * 1024, b"Lim ")
        got.append(again is not None)
        for block in [*blocks[1:4], again, paged]:
            ExFreePool(block)

    def limit(m: Any) -> None:
        m.subsystem(PoolTracker).nonpaged_limit = 4 * 64 * 1024

    m = run_driver(entry, setup=limit)
    assert got == [[True, True, True, True, False, True], True]
    assert m.violations == []
    assert m.subsystem(PoolTracker).nonpaged_bytes == 0
    assert [r[4] for r in m.trace or () if r[3] == "pool.fail"] == [(pool_tag(b"Lim "),
                                                                     64 * 1024)]
