"""IRQL DDIs: KeGetCurrentIrql, KeRaiseIrql, KeLowerIrql, PAGED_CODE and friends."""

from __future__ import annotations

from typing import Any

from mock_wsk import machine as _machine
from mock_wsk.constants import APC_LEVEL, DISPATCH_LEVEL, PASSIVE_LEVEL

# Importing the rule catalog registers the rules these DDIs report.
from mock_wsk.kernel import rules as _rules  # noqa: F401
from mock_wsk.kernel.types import store


def KeGetCurrentIrql() -> int:
    return _machine.active_machine().irql


def KeRaiseIrql(NewIrql: int, OldIrql: Any = None) -> int:
    m = _machine.active_machine()
    m.preemption_point()
    ctx = m.current
    assert ctx is not None
    old = ctx.irql
    if NewIrql < old:
        m.report("irql.raise_to_lower", f"KeRaiseIrql({NewIrql}) at IRQL {old}",
                 params=(NewIrql, old, 0))
    if NewIrql > m.high_level:
        m.report("irql.raise_to_lower", f"KeRaiseIrql({NewIrql}) above HIGH_LEVEL",
                 params=(NewIrql, old, 0))
        NewIrql = m.high_level
    ctx.irql = NewIrql
    store(OldIrql, old)
    return old


def KeRaiseIrqlToDpcLevel() -> int:
    return KeRaiseIrql(DISPATCH_LEVEL)


def KeLowerIrql(NewIrql: int) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    ctx = m.current
    assert ctx is not None
    if NewIrql > ctx.irql:
        m.report("irql.lower_raises", f"KeLowerIrql({NewIrql}) at IRQL {ctx.irql}",
                 params=(NewIrql, ctx.irql, 0))
        return
    set_irql(m, NewIrql)


def set_irql(m: _machine.Machine, new_irql: int) -> None:
    """Change the current IRQL; DPCs queued on this CPU run as soon as it drops below
    DISPATCH_LEVEL, before the caller goes on."""
    ctx = m.current
    assert ctx is not None
    ctx.irql = new_irql
    if new_irql < DISPATCH_LEVEL:
        ctx.stall_ns = 0  # the DPC watchdog counts one stretch at DISPATCH_LEVEL or above
    if new_irql < DISPATCH_LEVEL and ctx.cpu is not None and \
            ctx.cpu.dpcs and ctx.kind is not _machine.ContextKind.SYSTEM:
        m.deliver_dpcs(ctx)


def PAGED_CODE() -> None:
    m = _machine.active_machine()
    if m.irql > APC_LEVEL:
        m.report("irql.paged_code", f"PAGED_CODE() at IRQL {m.irql}", params=(m.irql, 0, 0))


def check_max_irql(m: _machine.Machine, ddi: str, max_irql: int) -> bool:
    """True when the current IRQL is allowed for ``ddi``; reports irql.too_high otherwise."""
    ctx = m.current  # m.irql, without the property call: nearly every DDI checks
    irql = ctx.irql if ctx is not None else PASSIVE_LEVEL
    if irql <= max_irql:
        return True
    m.report("irql.too_high", f"{ddi} called at IRQL {irql}; its maximum is {max_irql}",
             params=(irql, max_irql, 0))
    return False


def KeGetCurrentProcessorNumber() -> int:
    m = _machine.active_machine()
    ctx = m.current
    return ctx.cpu.index if ctx is not None and ctx.cpu is not None else 0


def KeQueryActiveProcessorCount(ActiveProcessors: Any = None) -> int:
    return len(_machine.active_machine().cpus)


def KeQueryInterruptTime() -> int:
    """100 ns units since boot (virtual)."""
    return _machine.active_machine().now // 100


def KeQuerySystemTime(CurrentTime: Any) -> None:
    """System time in 100 ns units since boot (fidelity: kernel.system_time_epoch)."""
    from mock_wsk.kernel.types import LARGE_INTEGER

    now = _machine.active_machine().now // 100
    if isinstance(CurrentTime, LARGE_INTEGER):
        CurrentTime.QuadPart = now
    else:
        store(CurrentTime, now)
