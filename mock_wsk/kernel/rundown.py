"""Run-down protection: EX_RUNDOWN_REF and the Ex*RundownProtection DDIs.

A driver takes a reference before it uses a shared object (or starts I/O on it) and releases it
afterwards; teardown calls ExWaitForRundownProtectionRelease, after which every acquire fails,
and waits until the last reference is gone. The wait is a real wait on the machine (a
:class:`RundownWait` dispatcher object), so a reference nobody releases shows up in the hang and
deadlock reports, with where references were taken and released.
"""

from __future__ import annotations

from typing import Any

from mock_wsk import machine as _machine
from mock_wsk.constants import APC_LEVEL, DISPATCH_LEVEL
from mock_wsk.kernel import rules as _rules  # noqa: F401  (registers the rules used here)
from mock_wsk.kernel.irql import check_max_irql
from mock_wsk.kernel.pool import Site, caller_site, site_text
from mock_wsk.kernel.sync import DispatcherObject, wait_for_objects
from mock_wsk.machine import Machine

# What ``from mock_wsk.kernel.rundown import *`` gives a driver stub: the WDK names only.
__all__ = [
    "EX_RUNDOWN_REF", "ExInitializeRundownProtection", "ExReInitializeRundownProtection",
    "ExAcquireRundownProtection", "ExAcquireRundownProtectionEx", "ExReleaseRundownProtection",
    "ExReleaseRundownProtectionEx", "ExWaitForRundownProtectionRelease", "ExRundownCompleted",
]


class EX_RUNDOWN_REF:
    """``EX_RUNDOWN_REF``; initialise with ExInitializeRundownProtection, as in C.

    ``Count`` is the number of references held. The mock also remembers where references were
    acquired and released (counts per driver line), for the report when a rundown never ends.
    """

    __slots__ = ("Count", "name", "rundown_active", "completed", "acquired_at", "released_at",
                 "gate")

    def __init__(self, name: str = "rundown") -> None:
        self.name = name
        self.gate = RundownWait(self)
        self._reset()

    def _reset(self) -> None:
        self.Count = 0
        self.rundown_active = False  # ExWaitForRundownProtectionRelease has been called
        self.completed = False  # ExRundownCompleted has been called
        self.acquired_at: dict[Site | None, int] = {}
        self.released_at: dict[Site | None, int] = {}

    def describe(self) -> str:
        text = f"rundown protection {self.name} ({self.Count} reference(s) held"
        if self.acquired_at:
            text += "; acquired at " + _sites(self.acquired_at)
        if self.released_at:
            text += "; released at " + _sites(self.released_at)
        return text + ")"

    def __repr__(self) -> str:
        return f"<EX_RUNDOWN_REF {self.name} Count={self.Count} active={self.rundown_active}>"


def _sites(counts: dict[Site | None, int]) -> str:
    return ", ".join(f"{site_text(site)} x{n}" for site, n in counts.items())


class RundownWait(DispatcherObject):
    """What ExWaitForRundownProtectionRelease waits on: signalled when no reference is held.
    Its name is the live description, so wait-for graphs say who still holds references."""

    __slots__ = ("ref",)

    def __init__(self, ref: EX_RUNDOWN_REF) -> None:
        super().__init__("rundown")
        self.ref = ref

    @property
    def name(self) -> str:
        return self.ref.describe()

    @name.setter
    def name(self, value: str) -> None:
        pass  # always derived from the reference

    def is_signaled(self) -> bool:
        return self.ref.Count == 0


def _count_site(counts: dict[Site | None, int]) -> None:
    site = caller_site()
    counts[site] = counts.get(site, 0) + 1


def ExInitializeRundownProtection(RunRef: EX_RUNDOWN_REF) -> None:
    RunRef._reset()


def ExReInitializeRundownProtection(RunRef: EX_RUNDOWN_REF) -> None:
    """Make a run-down reference usable again after its rundown completed."""
    m = _machine.active_machine()
    m.preemption_point()
    RunRef._reset()


def ExAcquireRundownProtection(RunRef: EX_RUNDOWN_REF) -> bool:
    """False once the rundown has started: the object is going away, do not use it."""
    return ExAcquireRundownProtectionEx(RunRef, 1)


def ExAcquireRundownProtectionEx(RunRef: EX_RUNDOWN_REF, Count: int) -> bool:
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "ExAcquireRundownProtection", DISPATCH_LEVEL)
    if RunRef.rundown_active:
        return False
    RunRef.Count += Count
    _count_site(RunRef.acquired_at)
    return True


def ExReleaseRundownProtection(RunRef: EX_RUNDOWN_REF) -> None:
    ExReleaseRundownProtectionEx(RunRef, 1)


def ExReleaseRundownProtectionEx(RunRef: EX_RUNDOWN_REF, Count: int) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "ExReleaseRundownProtection", DISPATCH_LEVEL)
    if Count > RunRef.Count:
        m.report("rundown.release_without_acquire",
                 f"ExReleaseRundownProtection releases {Count} reference(s) of {RunRef.name}, "
                 f"which holds {RunRef.Count}",
                 objects={"rundown": RunRef.describe()}, params=(Count, RunRef.Count, 0))
        return
    RunRef.Count -= Count
    _count_site(RunRef.released_at)
    if RunRef.Count == 0 and RunRef.rundown_active:
        RunRef.gate.signal_waiters(m)


def ExWaitForRundownProtectionRelease(RunRef: EX_RUNDOWN_REF) -> None:
    """Start the rundown (acquires fail from now on) and wait until no reference is held."""
    m = _machine.active_machine()
    m.preemption_point()
    if not check_max_irql(m, "ExWaitForRundownProtectionRelease", APC_LEVEL):
        return  # it could not block here; reported once, as the IRQL rule
    RunRef.rundown_active = True
    m.emit("rundown.wait", RunRef.name, RunRef.Count)
    if RunRef.Count:
        wait_for_objects(m, (RunRef.gate,), False, None, "ExWaitForRundownProtectionRelease")


def ExRundownCompleted(RunRef: EX_RUNDOWN_REF) -> None:
    """The rundown is over: the object stays run down until ExReInitializeRundownProtection."""
    m = _machine.active_machine()
    m.preemption_point()
    RunRef.completed = True


def rundown_waiters(m: Machine) -> list[str]:
    """Descriptions of the run-down references threads are waiting for (for hang reports)."""
    out = []
    for ctx in m.waiting.values():
        block: Any = ctx.wait
        for obj in getattr(block, "objects", ()):
            if isinstance(obj, RundownWait):
                out.append(f"{ctx.label} waits for {obj.ref.describe()}")
    return out
