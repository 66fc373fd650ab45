"""IRPs: completion routines, reuse, cancel, IoCallDriver, and the IRP rules of C.17 / D.21.

The "provider" here is a few lines of test code using the provider-side helpers (irp_begin,
irp_complete, irp_set_cancel_handler), completing requests later from the machine's system
context, as the WSK provider does from its network events.
"""

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
from mock_wsk.kernel.driver import DEVICE_OBJECT, DRIVER_OBJECT
from mock_wsk.kernel.irp import (
    IO_NO_INCREMENT,
    IO_STATUS_BLOCK,
    IRP,
    IRP_MJ_INTERNAL_DEVICE_CONTROL,
    SL_PENDING_RETURNED,
    FreedIRP,
    IoAllocateIrp,
    IoBuildDeviceIoControlRequest,
    IoCallDriver,
    IoCancelIrp,
    IoCompleteRequest,
    IoFreeIrp,
    IoGetCurrentIrpStackLocation,
    IoGetNextIrpStackLocation,
    IoMarkIrpPending,
    IoReleaseCancelSpinLock,
    IoReuseIrp,
    IoSetCancelRoutine,
    IoSetCompletionRoutine,
    IrpTracker,
    irp_begin,
    irp_complete,
    irp_set_cancel_handler,
)
from mock_wsk.kernel.irql import KeGetCurrentIrql
from mock_wsk.kernel.sync import (
    KEVENT,
    Executive,
    KeInitializeEvent,
    KernelMode,
    KeSetEvent,
    KeWaitForSingleObject,
    NotificationEvent,
    SynchronizationEvent,
)
from mock_wsk.status import (
    STATUS_CANCELLED,
    STATUS_CONNECTION_RESET,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_NOT_SUPPORTED,
    STATUS_PENDING,
    STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
)
from mock_wsk.verifier import Policy, Severity

HERE = "test_kernel_irp.py"
US = 1_000  # ns


# ---------------------------------------------------------------------- a tiny provider


def provider_start(irp: IRP, owner: str = "WskSend") -> bool:
    return irp_begin(machine(), irp, owner)


def provider_send(irp: IRP, status: int = STATUS_SUCCESS, information: int = 0,
                  delay_ns: int = 10 * US, owner: str = "WskSend") -> bool:
    """Take the IRP now, complete it ``delay_ns`` later (from the system context)."""
    m = machine()
    if not irp_begin(m, irp, owner):
        return False
    m.call_later(delay_ns, irp_complete, m, irp, status, information)
    return True


def provider_hold_until_cancel(irp: IRP, owner: str = "WskReceive") -> None:
    """Keep the IRP pending; on IoCancelIrp, complete it cancelled a little later."""
    m = machine()
    assert irp_begin(m, irp, owner)

    def on_cancel(cancelled: IRP) -> None:
        m.call_later(5 * US, irp_complete, m, cancelled, STATUS_CANCELLED, 0)

    assert irp_set_cancel_handler(irp, on_cancel)


def new_event(kind: int = SynchronizationEvent) -> KEVENT:
    event = KEVENT("done")
    KeInitializeEvent(event, kind, False)
    return event


def wait(event: KEVENT) -> int:
    return KeWaitForSingleObject(event, Executive, KernelMode, False, None)


# ---------------------------------------------------------------------- the happy path


def test_send_complete_reuse_send_free_is_clean() -> None:
    seen: list[Any] = []

    def completion(device: Any, irp: IRP, context: KEVENT) -> int:
        seen.append((device, irp.IoStatus.Status, irp.IoStatus.Information,
                     irp.PendingReturned, KeGetCurrentIrql()))
        KeSetEvent(context, IO_NO_INCREMENT, False)
        return STATUS_MORE_PROCESSING_REQUIRED

    def entry(driver: Any, registry: Any) -> None:
        done = new_event()
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, completion, done, True, True, True)
        assert provider_send(irp, STATUS_SUCCESS, 100)
        assert irp.state == "pending" and irp.owner == "WskSend"
        wait(done)
        assert irp.state == "completed"
        IoReuseIrp(irp, STATUS_UNSUCCESSFUL)
        assert irp.state == "allocated" and irp.IoStatus.Status == STATUS_UNSUCCESSFUL
        IoSetCompletionRoutine(irp, completion, done, True, True, True)
        assert provider_send(irp, STATUS_CONNECTION_RESET, 0)
        wait(done)
        IoFreeIrp(irp)

    m = run_driver(entry)
    assert m.violations == []
    assert seen == [(None, STATUS_SUCCESS, 100, True, DISPATCH_LEVEL),
                    (None, STATUS_CONNECTION_RESET, 0, True, DISPATCH_LEVEL)]
    assert m.subsystem(IrpTracker).live == {}


def test_inline_completion_has_pending_returned_false() -> None:
    seen: list[bool] = []

    def completion(device: Any, irp: IRP, context: Any) -> int:
        seen.append(irp.PendingReturned)
        return STATUS_MORE_PROCESSING_REQUIRED

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, completion, None, True, True, True)
        assert provider_start(irp)
        irp_complete(machine(), irp, STATUS_SUCCESS, 0, pending_returned=False)
        IoFreeIrp(irp)

    m = run_driver(entry)
    assert seen == [False] and m.violations == []


def test_reuse_clears_the_completion_routine() -> None:
    def completion(device: Any, irp: IRP, context: Any) -> int:
        return STATUS_MORE_PROCESSING_REQUIRED

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, completion, None, True, True, True)
        assert IoGetNextIrpStackLocation(irp).CompletionRoutine is completion
        IoReuseIrp(irp, STATUS_SUCCESS)
        assert IoGetNextIrpStackLocation(irp).CompletionRoutine is None
        IoFreeIrp(irp)

    assert run_driver(entry).violations == []


# ---------------------------------------------------------------------- completion routine rules


def test_completion_routine_returning_success_is_reported_at_its_definition() -> None:
    lines: dict[str, int] = {}
    lines["def"] = next_line() + 1  # (the blank line)

    def completion(device: Any, irp: IRP, context: Any) -> int:
        return STATUS_SUCCESS

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, completion, None, True, True, True)
        provider_start(irp)
        irp_complete(machine(), irp, STATUS_SUCCESS)
        IoFreeIrp(irp)

    m = run_driver(entry)
    v = only(m, "irp.completion_return")
    assert_at(v, HERE, lines["def"])
    assert "STATUS_SUCCESS" in v.message
    assert rule_ids(m) == ["irp.completion_return"]


def test_error_without_invoke_on_error_is_reported_at_the_allocation() -> None:
    lines: dict[str, int] = {}

    def completion(device: Any, irp: IRP, context: Any) -> int:
        return STATUS_MORE_PROCESSING_REQUIRED  # pragma: no cover - never called

    def entry(driver: Any, registry: Any) -> None:
        lines["alloc"] = next_line()
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, completion, None, True, False, False)
        provider_start(irp)
        irp_complete(machine(), irp, STATUS_CONNECTION_RESET)
        IoFreeIrp(irp)

    m = run_driver(entry)
    v = only(m, "irp.completion_return")
    assert_at(v, HERE, lines["alloc"])
    assert "STATUS_CONNECTION_RESET" in v.message


def test_invoke_on_error_covers_a_failure() -> None:
    calls: list[int] = []

    def completion(device: Any, irp: IRP, context: Any) -> int:
        calls.append(irp.IoStatus.Status)
        return STATUS_MORE_PROCESSING_REQUIRED

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, completion, None, False, True, False)
        provider_start(irp)
        irp_complete(machine(), irp, STATUS_NOT_SUPPORTED)
        IoFreeIrp(irp)

    m = run_driver(entry)
    assert calls == [STATUS_NOT_SUPPORTED] and m.violations == []


@pytest.mark.parametrize(
    ("cancel", "status", "invoked"),
    [(True, STATUS_CANCELLED, True), (False, STATUS_CONNECTION_RESET, False),
     (False, STATUS_SUCCESS, False)],
)
def test_invoke_on_cancel_alone_covers_only_a_cancellation(cancel: bool, status: int,
                                                           invoked: bool) -> None:
    calls: list[int] = []

    def completion(device: Any, irp: IRP, context: Any) -> int:
        calls.append(irp.IoStatus.Status)
        return STATUS_MORE_PROCESSING_REQUIRED

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, completion, None, False, False, True)
        provider_start(irp, "WskReceive")
        if cancel:
            IoCancelIrp(irp)  # no canceller installed: only the flag is set
        irp_complete(machine(), irp, status)
        IoFreeIrp(irp)

    m = run_driver(entry)
    assert calls == ([status] if invoked else [])
    assert rule_ids(m) == ([] if invoked else ["irp.completion_return"])


def test_double_completion() -> None:
    def completion(device: Any, irp: IRP, context: Any) -> int:
        return STATUS_MORE_PROCESSING_REQUIRED

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, completion, None, True, True, True)
        provider_start(irp)
        irp_complete(machine(), irp, STATUS_SUCCESS)
        irp_complete(machine(), irp, STATUS_SUCCESS)
        assert irp.completions == 1
        IoFreeIrp(irp)

    m = run_driver(entry)
    assert rule_ids(m) == ["irp.double_completion"]


def test_mark_pending_in_the_top_completion_routine_has_no_stack_location() -> None:
    lines: dict[str, int] = {}

    def completion(device: Any, irp: IRP, context: Any) -> int:
        if irp.PendingReturned:
            lines["mark"] = next_line()
            IoMarkIrpPending(irp)  # copy-pasted from a filter driver: wrong for an own IRP
        return STATUS_MORE_PROCESSING_REQUIRED

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, completion, None, True, True, True)
        provider_start(irp)
        irp_complete(machine(), irp, STATUS_SUCCESS)
        IoFreeIrp(irp)

    m = run_driver(entry)
    assert_at(only(m, "irp.no_stack_location"), HERE, lines["mark"])


# ---------------------------------------------------------------------- lifetime rules


def test_free_while_pending_then_the_late_completion_is_silent() -> None:
    lines: dict[str, int] = {}

    def completion(device: Any, irp: IRP, context: Any) -> int:
        return STATUS_MORE_PROCESSING_REQUIRED  # pragma: no cover - never called

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, completion, None, True, True, True)
        provider_send(irp, delay_ns=50 * US)
        lines["free"] = next_line()
        IoFreeIrp(irp)

    m = run_driver(entry)
    v = only(m, "irp.free_while_pending")
    assert_at(v, HERE, lines["free"])
    assert "WskSend" in v.message
    assert rule_ids(m) == ["irp.free_while_pending"]


def test_reuse_without_ioreuseirp_after_completion() -> None:
    lines: dict[str, int] = {}
    results: list[bool] = []

    def completion(device: Any, irp: IRP, context: Any) -> int:
        return STATUS_MORE_PROCESSING_REQUIRED

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, completion, None, True, True, True)
        provider_start(irp)
        irp_complete(machine(), irp, STATUS_SUCCESS)
        lines["again"] = next_line()  # the provider's checks name the driver's line
        results.append(irp_begin(machine(), irp, "WskReceive"))
        IoFreeIrp(irp)

    m = run_driver(entry)
    assert results == [False]
    v = only(m, "irp.reuse_without_ioreuseirp")
    assert_at(v, HERE, lines["again"])
    assert "IoReuseIrp" in v.message
    assert rule_ids(m) == ["irp.reuse_without_ioreuseirp"]


def test_passing_a_pending_irp_to_a_second_request() -> None:
    results: list[bool] = []

    def completion(device: Any, irp: IRP, context: KEVENT) -> int:
        KeSetEvent(context, 0, False)
        return STATUS_MORE_PROCESSING_REQUIRED

    def entry(driver: Any, registry: Any) -> None:
        done = new_event()
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, completion, done, True, True, True)
        results.append(provider_send(irp))
        results.append(provider_send(irp, owner="WskReceive"))
        wait(done)
        IoFreeIrp(irp)

    m = run_driver(entry)
    assert results == [True, False]
    v = only(m, "irp.reuse_without_ioreuseirp")
    assert "still pending in WskSend" in v.message and "WskReceive" in v.message
    assert rule_ids(m) == ["irp.reuse_without_ioreuseirp"]


def test_pending_at_unload_and_leak() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        lines["pending"] = next_line()
        pending = IoAllocateIrp(1, False)
        provider_start(pending)
        lines["leaked"] = next_line()
        IoAllocateIrp(1, False)

    m = run_driver(entry, no_unload)
    assert rule_ids(m) == ["irp.pending_at_unload", "irp.leak"]
    assert_at(m.violations[0], HERE, lines["pending"])
    assert "WskSend" in m.violations[0].message
    assert_at(m.violations[1], HERE, lines["leaked"])
    assert m.violations[1].severity is Severity.WARNING


def test_use_after_free_of_irp_fields_and_ddis() -> None:
    lines: dict[str, int] = {}
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        lines["free"] = next_line()
        IoFreeIrp(irp)
        seen.append(type(irp))
        lines["read"] = next_line()
        seen.append(irp.IoStatus.Status)
        lines["set"] = next_line()
        IoSetCompletionRoutine(irp, None, None, True, True, True)
        lines["again"] = next_line()
        IoFreeIrp(irp)

    m = run_driver(entry)
    assert seen[0] is FreedIRP
    found = violations(m, "irp.use_after_free")
    assert [v.location.line for v in found if v.location] == [
        lines["read"], lines["set"], lines["again"]]
    assert f"{HERE}:{lines['free']}" in found[0].message


def test_fail_allocations() -> None:
    got: list[Any] = []

    def setup(m: Any) -> None:
        m.subsystem(IrpTracker).fail_allocations(1)

    def entry(driver: Any, registry: Any) -> None:
        got.append(IoAllocateIrp(1, False))
        irp = IoAllocateIrp(1, False)
        got.append(irp)
        IoFreeIrp(irp)

    m = run_driver(entry, setup=setup)
    assert got[0] is None and isinstance(got[1], IRP)
    assert m.violations == []


# ---------------------------------------------------------------------- cancel


def test_cancel_flow_is_clean() -> None:
    seen: list[Any] = []

    def completion(device: Any, irp: IRP, context: KEVENT) -> int:
        seen.append((irp.IoStatus.Status, irp.Cancel))
        KeSetEvent(context, IO_NO_INCREMENT, False)
        return STATUS_MORE_PROCESSING_REQUIRED

    def entry(driver: Any, registry: Any) -> None:
        done = new_event()
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, completion, done, True, True, True)
        provider_hold_until_cancel(irp)
        seen.append(IoCancelIrp(irp))
        seen.append(irp.state)  # the provider completes it a little later
        wait(done)
        IoFreeIrp(irp)

    m = run_driver(entry)
    assert m.violations == []
    assert seen == [True, "pending", (STATUS_CANCELLED, True)]


def test_freeing_a_cancelled_irp_before_its_completion() -> None:
    lines: dict[str, int] = {}

    def completion(device: Any, irp: IRP, context: Any) -> int:
        return STATUS_MORE_PROCESSING_REQUIRED  # pragma: no cover - never called

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, completion, None, True, True, True)
        provider_hold_until_cancel(irp)
        IoCancelIrp(irp)
        lines["free"] = next_line()
        IoFreeIrp(irp)

    m = run_driver(entry)
    assert_at(only(m, "irp.freed_after_cancel_before_completion"), HERE, lines["free"])
    assert rule_ids(m) == ["irp.freed_after_cancel_before_completion"]


def test_cancel_without_a_canceller_returns_false() -> None:
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        seen.append(IoCancelIrp(irp))
        seen.append(irp.Cancel)
        IoFreeIrp(irp)

    m = run_driver(entry)
    assert seen == [False, True] and m.violations == []


def test_cancel_handler_refused_when_already_cancelled() -> None:
    seen: list[bool] = []

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        irp.Cancel = True
        seen.append(irp_set_cancel_handler(irp, lambda i: None))
        IoFreeIrp(irp)

    run_driver(entry)
    assert seen == [False]


# ---------------------------------------------------------------------- IoCallDriver


def _lower_device(dispatch: Any) -> DEVICE_OBJECT:
    lower = DRIVER_OBJECT("Lower")
    lower.MajorFunction[IRP_MJ_INTERNAL_DEVICE_CONTROL] = dispatch
    device = DEVICE_OBJECT(lower, None)
    device.StackSize = 1
    return device


def test_io_call_driver_to_a_dispatch_routine_that_pends_then_completes() -> None:
    held: list[IRP] = []
    seen: list[Any] = []

    def dispatch(device: Any, irp: IRP) -> int:
        location = IoGetCurrentIrpStackLocation(irp)
        seen.append((location.MajorFunction, location.MinorFunction, location.DeviceObject
                     is device, irp.state))
        IoMarkIrpPending(irp)
        held.append(irp)
        return STATUS_PENDING

    def completion(device: Any, irp: IRP, context: KEVENT) -> int:
        seen.append((device, irp.IoStatus.Status, irp.IoStatus.Information, irp.PendingReturned))
        KeSetEvent(context, 0, False)
        return STATUS_MORE_PROCESSING_REQUIRED

    def entry(driver: Any, registry: Any) -> None:
        done = new_event()
        device = _lower_device(dispatch)
        irp = IoAllocateIrp(2, False)
        following = IoGetNextIrpStackLocation(irp)
        following.MajorFunction = IRP_MJ_INTERNAL_DEVICE_CONTROL
        following.MinorFunction = 7
        IoSetCompletionRoutine(irp, completion, done, True, True, True)
        seen.append(IoCallDriver(device, irp))
        lower = held.pop()
        lower.IoStatus.Status = STATUS_SUCCESS
        lower.IoStatus.Information = 5
        IoCompleteRequest(lower, IO_NO_INCREMENT)
        wait(done)
        IoFreeIrp(irp)

    m = run_driver(entry)
    assert m.violations == []
    assert seen == [(IRP_MJ_INTERNAL_DEVICE_CONTROL, 7, True, "pending"), STATUS_PENDING,
                    (None, STATUS_SUCCESS, 5, True)]


def test_io_call_driver_without_a_stack_location() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(0, False)
        lines["call"] = next_line()
        IoCallDriver(_lower_device(lambda d, i: STATUS_SUCCESS), irp)
        IoFreeIrp(irp)

    m = run_driver(entry)
    assert_at(only(m, "irp.no_stack_location"), HERE, lines["call"])


def test_threaded_irp_signals_its_event_and_is_freed_by_the_io_manager() -> None:
    seen: list[Any] = []

    class ProviderDevice:
        StackSize = 1

        def dispatch(self, device: Any, irp: IRP) -> int:
            m = machine()
            assert irp_begin(m, irp, "TDI_SEND", advance=False)
            irp_complete(m, irp, STATUS_SUCCESS, 42, pending_returned=False)
            return STATUS_SUCCESS

    def entry(driver: Any, registry: Any) -> None:
        event = new_event(NotificationEvent)
        iosb = IO_STATUS_BLOCK()
        provider = ProviderDevice()
        irp = IoBuildDeviceIoControlRequest(0x3, provider, None, 0, None, 0, True, event, iosb)
        seen.append(IoGetNextIrpStackLocation(irp).MajorFunction)
        seen.append(IoCallDriver(provider, irp))
        wait(event)
        seen.append((iosb.Status, iosb.Information, irp.state))

    m = run_driver(entry)
    assert m.violations == []
    assert seen == [IRP_MJ_INTERNAL_DEVICE_CONTROL, STATUS_SUCCESS, (STATUS_SUCCESS, 42, "freed")]
    assert m.subsystem(IrpTracker).live == {}


def test_driver_cancel_routine_runs_with_the_cancel_spin_lock() -> None:
    seen: list[Any] = []
    held: list[IRP] = []

    def cancel_routine(device: Any, irp: IRP) -> None:
        seen.append(("cancel", KeGetCurrentIrql(), irp.Cancel))
        IoReleaseCancelSpinLock(irp.CancelIrql)
        irp.IoStatus.Status = STATUS_CANCELLED
        IoCompleteRequest(irp, IO_NO_INCREMENT)

    def dispatch(device: Any, irp: IRP) -> int:
        IoMarkIrpPending(irp)
        IoSetCancelRoutine(irp, cancel_routine)
        held.append(irp)
        return STATUS_PENDING

    def completion(device: Any, irp: IRP, context: Any) -> int:
        seen.append(("completion", irp.IoStatus.Status))
        return STATUS_MORE_PROCESSING_REQUIRED

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        IoGetNextIrpStackLocation(irp).MajorFunction = IRP_MJ_INTERNAL_DEVICE_CONTROL
        IoSetCompletionRoutine(irp, completion, None, True, True, True)
        IoCallDriver(_lower_device(dispatch), irp)
        seen.append(IoCancelIrp(irp))
        seen.append(KeGetCurrentIrql())
        IoFreeIrp(irp)

    m = run_driver(entry)
    assert m.violations == []
    assert seen == [("cancel", DISPATCH_LEVEL, True), ("completion", STATUS_CANCELLED), True, 0]
    assert held[0].state == "freed"


def test_pending_returned_propagates_through_an_intermediate_location() -> None:
    held: list[IRP] = []

    def dispatch(device: Any, irp: IRP) -> int:
        IoMarkIrpPending(irp)
        held.append(irp)
        return STATUS_PENDING

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(2, False)
        IoGetNextIrpStackLocation(irp).MajorFunction = IRP_MJ_INTERNAL_DEVICE_CONTROL
        seen_flags: list[int] = []

        def completion(device: Any, irp: IRP, context: Any) -> int:
            seen_flags.append(irp.PendingReturned)
            return STATUS_MORE_PROCESSING_REQUIRED

        IoSetCompletionRoutine(irp, completion, None, True, True, True)
        IoCallDriver(_lower_device(dispatch), irp)
        assert IoGetCurrentIrpStackLocation(irp).Control & SL_PENDING_RETURNED
        IoCompleteRequest(held[0], IO_NO_INCREMENT)
        assert seen_flags == [True]
        IoFreeIrp(irp)

    assert run_driver(entry).violations == []


def test_bugcheck_policy_halts_at_double_completion() -> None:
    reached: list[str] = []

    def completion(device: Any, irp: IRP, context: Any) -> int:
        return STATUS_MORE_PROCESSING_REQUIRED

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        IoSetCompletionRoutine(irp, completion, None, True, True, True)
        provider_start(irp)
        irp_complete(machine(), irp, STATUS_SUCCESS)
        irp_complete(machine(), irp, STATUS_SUCCESS)
        reached.append("after")

    m = run_driver(entry, policy=Policy.BUGCHECK)
    assert m.halt is not None
    assert m.halt.violation.rule.id == "irp.double_completion"
    assert m.halt.blue_screen().startswith("*** STOP: 0x00000044")
    assert reached == []


@pytest.mark.parametrize("stack_size", [1, 3])
def test_stack_locations_count_down_from_the_top(stack_size: int) -> None:
    seen: list[int] = []

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(stack_size, False)
        seen.append(irp.CurrentLocation)
        assert IoGetCurrentIrpStackLocation(irp) is None
        assert IoGetNextIrpStackLocation(irp) is irp.stack[stack_size - 1]
        provider_start(irp)
        seen.append(irp.CurrentLocation)
        assert IoGetCurrentIrpStackLocation(irp) is irp.stack[stack_size - 1]
        IoFreeIrp(irp)  # pending: reported, but the numbering is what this test checks

    m = run_driver(entry)
    assert seen == [stack_size + 1, stack_size]
    assert rule_ids(m) == ["irp.free_while_pending"]


def test_rarely_used_fields_read_as_initialized_and_ioreuseirp_resets_them() -> None:
    # Size, Flags, RequestorMode, CancelIrql, CancelRoutine and User* live apart from the
    # fields every request touches (made on the first write): they must still behave as plain
    # IRP fields that IoReuseIrp reinitializes.
    seen: list[Any] = []

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        seen.append((irp.Size, irp.Flags, irp.RequestorMode, irp.CancelIrql, irp.CancelRoutine,
                     irp.UserIosb, irp.UserEvent, irp.UserBuffer))
        iosb = IO_STATUS_BLOCK()
        irp.UserIosb = iosb
        irp.Flags = 0x40
        irp.UserBuffer = b"x"
        seen.append((irp.UserIosb is iosb, irp.Flags, irp.UserBuffer, irp.UserEvent))
        IoReuseIrp(irp, 0)
        seen.append((irp.UserIosb, irp.Flags, irp.UserBuffer))
        IoFreeIrp(irp)

    m = run_driver(entry)
    assert m.violations == []
    assert seen == [(0, 0, 0, 0, None, None, None, None), (True, 0x40, b"x", None),
                    (None, 0, None)]


def test_use_after_free_of_a_rarely_used_irp_field() -> None:
    lines: dict[str, int] = {}

    def entry(driver: Any, registry: Any) -> None:
        irp = IoAllocateIrp(1, False)
        IoFreeIrp(irp)
        lines["write"] = next_line()
        irp.UserBuffer = b"late"
        lines["read"] = next_line()
        _ = irp.CancelRoutine

    m = run_driver(entry)
    found = violations(m, "irp.use_after_free")
    assert [v.location.line for v in found if v.location] == [lines["write"], lines["read"]]
