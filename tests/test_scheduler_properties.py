"""Properties of the scheduler, for any strategy and any seed (Hypothesis).

Random small driver programs: a few system threads, each running a sequence of operations -
a spin-lock section, an IRQL raise, a delay, a DPC (on its own CPU or a targeted one), a timer
with a DPC, a wait for an earlier thread's event. Waits only ever go to a lower-numbered thread,
and every thread signals its notification event when it ends, so no program can deadlock.

For every program, strategy and seed:

* every context that was created or started ends (threads, DPCs, timer DPCs, DriverEntry);
* every IRQL seen - by a context, and of every CPU at that moment - lies in [0, HIGH_LEVEL];
* mutual exclusion holds in the spin-lock sections, and no rule is broken;
* the same strategy and seed give the identical trace and decision list;
* replaying the decision list with ReplayStrategy gives the identical trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_helpers import run_driver

from mock_wsk.constants import DISPATCH_LEVEL
from mock_wsk.kernel.sync import LONG
from mock_wsk.machine import KDPC, Machine, active_machine
from mock_wsk.scheduling import Decision, ReplayDivergence, ReplayStrategy, Strategy, make_strategy
from mock_wsk.wdk import (
    FALSE,
    HANDLE,
    KEVENT,
    KSPIN_LOCK,
    KTIMER,
    LARGE_INTEGER,
    STATUS_SUCCESS,
    THREAD_ALL_ACCESS,
    Executive,
    InterlockedDecrement,
    InterlockedIncrement,
    KeAcquireSpinLock,
    KeAcquireSpinLockAtDpcLevel,
    KeDelayExecutionThread,
    KeGetCurrentIrql,
    KeInitializeDpc,
    KeInitializeEvent,
    KeInitializeTimer,
    KeInsertQueueDpc,
    KeLowerIrql,
    KeRaiseIrql,
    KeReleaseSpinLock,
    KeReleaseSpinLockFromDpcLevel,
    KernelMode,
    KeSetEvent,
    KeSetTargetProcessorDpc,
    KeSetTimer,
    KeStallExecutionProcessor,
    KeWaitForSingleObject,
    NotificationEvent,
    PsCreateSystemThread,
)

Op = tuple[str, int]

ops = st.one_of(
    st.tuples(st.just("lock"), st.just(0)),
    st.tuples(st.just("raise"), st.just(0)),
    st.tuples(st.just("delay"), st.integers(1, 50)),  # 100 ns units
    st.tuples(st.just("dpc"), st.integers(-1, 2)),  # -1: the current CPU; else a target
    st.tuples(st.just("timer"), st.integers(0, 30)),  # due in 100 ns units (0: now)
    st.tuples(st.just("wait"), st.integers(0, 2)),  # an earlier thread's event
)
programs = st.lists(st.lists(ops, max_size=6), min_size=1, max_size=3)


@dataclass
class Observed:
    irqls: list[int] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)
    dpcs_queued: int = 0
    dpcs_run: int = 0
    overlaps: int = 0
    counter: int = 0


def _observe(seen: Observed) -> None:
    seen.irqls.append(KeGetCurrentIrql())
    seen.irqls.extend(cpu.irql for cpu in active_machine().cpus)


def _run(program: list[list[Op]], strategy: Strategy, cpus: int) -> tuple[Machine, Observed]:
    seen = Observed()
    lock = KSPIN_LOCK("shared")
    inside = LONG()
    done = [KEVENT(f"done{i}") for i in range(len(program))]

    def section_at_dpc_level() -> None:
        KeAcquireSpinLockAtDpcLevel(lock)
        if InterlockedIncrement(inside) != 1:
            seen.overlaps += 1
        seen.counter += 1
        InterlockedDecrement(inside)
        KeReleaseSpinLockFromDpcLevel(lock)

    def dpc_routine(dpc: KDPC, context: Any, arg1: Any, arg2: Any) -> None:
        _observe(seen)
        assert KeGetCurrentIrql() == DISPATCH_LEVEL
        section_at_dpc_level()
        seen.dpcs_run += 1

    def new_dpc(target: int) -> KDPC:
        dpc = KDPC("work")
        KeInitializeDpc(dpc, dpc_routine, None)
        if target >= 0:
            KeSetTargetProcessorDpc(dpc, target % cpus)
        return dpc

    def thread(index: int) -> None:
        for kind, arg in program[index]:
            _observe(seen)
            if kind == "lock":
                old = KeAcquireSpinLock(lock)
                _observe(seen)
                KeReleaseSpinLockFromDpcLevel(lock)
                KeAcquireSpinLockAtDpcLevel(lock)
                if InterlockedIncrement(inside) != 1:
                    seen.overlaps += 1
                seen.counter += 1
                InterlockedDecrement(inside)
                KeReleaseSpinLock(lock, old)
            elif kind == "raise":
                old = KeRaiseIrql(DISPATCH_LEVEL)
                _observe(seen)
                KeLowerIrql(old)
            elif kind == "delay":
                KeDelayExecutionThread(KernelMode, FALSE, LARGE_INTEGER(-arg))
            elif kind == "dpc":
                if KeInsertQueueDpc(new_dpc(arg), None, None):
                    seen.dpcs_queued += 1
            elif kind == "timer":
                timer = KTIMER("t")
                KeInitializeTimer(timer)
                KeSetTimer(timer, LARGE_INTEGER(-arg) if arg else LARGE_INTEGER(0),
                           new_dpc(-1))
                seen.dpcs_queued += 1
            elif kind == "wait" and index > 0:
                KeWaitForSingleObject(done[arg % index], Executive, KernelMode, FALSE, None)
        seen.finished.append(index)
        KeSetEvent(done[index], 0, FALSE)

    def entry(driver: Any, registry: Any) -> None:
        for event in done:
            KeInitializeEvent(event, NotificationEvent, FALSE)
        for index in range(len(program)):
            PsCreateSystemThread(HANDLE(), THREAD_ALL_ACCESS, None, None, None, thread, index)

    m = run_driver(entry, cpus=cpus, strategy=strategy, step_budget=200_000)
    return m, seen


def _strategy(name: str, seed: int) -> Strategy:
    return make_strategy(name, seed)


@settings(max_examples=150)
@given(
    program=programs,
    name=st.sampled_from(["fifo", "random", "pct"]),
    seed=st.integers(0, 2**32 - 1),
    cpus=st.integers(1, 3),
)
def test_scheduler_properties(program: list[list[Op]], name: str, seed: int, cpus: int) -> None:
    m, seen = _run(program, _strategy(name, seed), cpus)

    # Nothing broke, nothing hung.
    assert m.halt is None and m.stuck is None
    assert m.violations == []

    # Every context created or started ran to its end.
    assert m.trace is not None
    created = {r[4][0] for r in m.trace if r[3] == "ctx.create"}
    started = {r[2] for r in m.trace if r[3] == "ctx.start"}
    ended = {r[2] for r in m.trace if r[3] == "ctx.end"}
    assert created <= started
    assert started == ended
    assert sorted(seen.finished) == list(range(len(program)))
    assert seen.dpcs_run == seen.dpcs_queued
    assert not m.waiting
    assert all(not cpu.stack and not cpu.dpcs and not cpu.ready for cpu in m.cpus)

    # IRQL stays within the architecture's range.
    assert all(0 <= irql <= m.high_level for irql in seen.irqls)

    # Mutual exclusion in every spin-lock section.
    assert seen.overlaps == 0
    lock_sections = sum(1 for ops_ in program for kind, _ in ops_ if kind == "lock")
    assert seen.counter == lock_sections + seen.dpcs_run

    # Determinism: the same strategy and seed replay byte for byte.
    again, _ = _run(program, _strategy(name, seed), cpus)
    assert again.trace == m.trace
    assert again.decisions == m.decisions

    # Replaying the recorded decisions gives the identical run.
    replay = ReplayStrategy(m.decisions, preemptive=m.strategy.preemptive)
    replayed, _ = _run(program, replay, cpus)
    assert replayed.trace == m.trace
    assert replay.exhausted
    if name != "fifo":  # fifo records nothing: every answer is the natural one
        assert replayed.decisions == m.decisions


def test_a_diverging_replay_is_the_callers_error_not_a_bug_check() -> None:
    """A recorded schedule that no longer fits (the scenario changed) raises ReplayDivergence
    out of the run - driver code (and its ``except Exception``) never sees it as its own."""
    swallowed: list[BaseException] = []

    def Worker(StartContext: Any) -> None:
        try:
            KeStallExecutionProcessor(1)  # a DDI: a preemption point, where the replay is asked
        except Exception as exc:  # noqa: BLE001 - a driver that swallows everything
            swallowed.append(exc)

    def DriverEntry(DriverObject: Any, RegistryPath: Any) -> int:
        try:
            for _ in range(2):
                PsCreateSystemThread(HANDLE(), THREAD_ALL_ACCESS, None, None, None, Worker, None)
        except Exception as exc:  # noqa: BLE001
            swallowed.append(exc)
        return STATUS_SUCCESS

    replay = ReplayStrategy([Decision("irql", 5, 1)])
    with pytest.raises(ReplayDivergence, match="recorded irql/5"):
        run_driver(DriverEntry, strategy=replay)
    assert swallowed == []


def test_random_strategy_draws_what_randrange_draws() -> None:
    """RandomStrategy inlines ``random.Random.randrange``'s draw loop: its answers, one option
    count after another, are exactly randrange's with the same seed (so seeds keep their
    schedules)."""
    import random

    from mock_wsk.scheduling import RandomStrategy

    for seed in (0, 1, 7, 123_456_789):
        strategy = RandomStrategy(seed)
        rng = random.Random(seed)
        for n in [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 100, 1, 1, 2, 3] * 20:
            assert strategy.choose("schedule", range(n)) == rng.randrange(n)
    with pytest.raises(ValueError, match="no options"):
        RandomStrategy(0).choose("schedule", ())
