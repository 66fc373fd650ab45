"""The simulated Windows machine: virtual time, CPUs with IRQL, contexts, one decision point.

Like SimPy's ``Environment``, one object owns time and every context; unlike SimPy, contexts are
plain synchronous driver code (WDK-shaped stubs) running in greenlets, suspended at *preemption
points* - every DDI call - instead of at explicit yields.

The model, in a few sentences:

* Virtual time is an integer count of nanoseconds. Code runs in zero virtual time; the clock moves
  only to the next timed event (a timer, a wait timeout, a network event) when nothing is runnable.
* Each CPU has a stack of started contexts (a DPC sits on top of the thread it interrupted), a DPC
  queue and a queue of ready threads. The CPU's IRQL is the IRQL of the context on top.
* A DPC interrupts the context on top of its CPU whenever that context's IRQL is below
  DISPATCH_LEVEL; a thread that waits leaves its CPU; a woken thread is queued on a CPU chosen at
  the decision point.
* Every choice goes through :meth:`Machine.decide`, answered by the pluggable strategy. With the
  ``fifo`` strategy the current context runs until it waits or ends, and DPCs run inline (no
  greenlet, which keeps dispatch cheap); preemptive strategies run every context in its own
  greenlet and are asked at every preemption point.

Kernel objects (events, timers, pool, IRPs ...) live in :mod:`mock_wsk.kernel` and reach the
machine through :func:`active_machine`; subsystems attach per-machine state with
:meth:`Machine.subsystem`.
"""

from __future__ import annotations

import enum
import gc
import heapq
import threading
import traceback
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

import greenlet

from mock_wsk.constants import APC_LEVEL, DISPATCH_LEVEL, PASSIVE_LEVEL, high_level
from mock_wsk.scheduling import Decision, FifoStrategy, Strategy
from mock_wsk.verifier import (
    BugCheckHalt,
    Policy,
    SourceLocation,
    Verifier,
    Violation,
    code_location,
    is_mock_frame,
    short_path,
    stub_location,
)

T = TypeVar("T")

# The machine whose contexts are running right now (one at a time per process: greenlets never
# run in parallel). DDIs reach it through active_machine().
active: Machine | None = None


def active_machine() -> Machine:
    machine = active
    if machine is None:
        raise RuntimeError(
            "no simulated machine is running: kernel DDIs can only be called from driver code "
            "that a mock_wsk Machine runs (DriverEntry, a thread, a DPC, a work item, a callback)"
        )
    return machine


class ContextKind(enum.Enum):
    SYSTEM_THREAD = "thread"
    DPC = "dpc"
    WORK_ITEM = "workitem"
    USER_THREAD = "user"
    SYSTEM = "system"  # the machine's own context: timed events and provider internals


class CtxState(enum.IntEnum):
    READY = 0
    RUNNING = 1
    WAITING = 2
    SPINNING = 3  # on its CPU at DISPATCH_LEVEL, spinning for a held spin lock
    DONE = 4
    STALLED = 5  # on its CPU, busy-waiting (KeStallExecutionProcessor) until a virtual time


# The members as module constants, which hot paths read instead: in Python 3.11 reading a member
# off its Enum class (``CtxState.RUNNING``) goes through the slot of ``EnumType.__getattr__``, a
# Python-level call of ``type.__getattribute__`` (~850 instructions in callgrind; a global, a
# few dozen).
CTX_READY, CTX_RUNNING, CTX_WAITING = CtxState.READY, CtxState.RUNNING, CtxState.WAITING
CTX_SPINNING, CTX_DONE, CTX_STALLED = CtxState.SPINNING, CtxState.DONE, CtxState.STALLED
KIND_THREAD, KIND_DPC, KIND_WORK_ITEM = (ContextKind.SYSTEM_THREAD, ContextKind.DPC,
                                         ContextKind.WORK_ITEM)
KIND_SYSTEM = ContextKind.SYSTEM


class ThreadExit(BaseException):
    """Unwinds a system thread that called PsTerminateSystemThread."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class Context:
    """One execution context: a thread, a DPC, a work item or a user thread."""

    __slots__ = (
        "id",
        "kind",
        "name",
        "routine",
        "args",
        "irql",
        "entry_irql",
        "state",
        "cpu",
        "last_cpu",
        "glet",
        "wait",
        "wait_status",
        "held_locks",
        "spinning_on",
        "callbacks",
        "exit_status",
        "on_exit",
        "stall_ns",
    )

    def __init__(
        self,
        ctx_id: int,
        kind: ContextKind,
        name: str,
        routine: Callable[..., Any] | None,
        args: tuple[Any, ...],
        irql: int,
    ) -> None:
        self.id = ctx_id
        self.kind = kind
        self.name = name
        self.routine = routine
        self.args = args
        self.irql = irql
        self.entry_irql = irql
        self.state = CTX_READY
        self.cpu: Cpu | None = None
        self.last_cpu: Cpu | None = None
        self.glet: greenlet.greenlet | None = None
        self.wait: Any = None  # the kernel's wait block while WAITING
        self.wait_status = 0
        self.held_locks: list[Any] = []  # spin locks, in acquisition order
        self.spinning_on: Any = None
        self.callbacks: list[str] = []  # WSK callbacks this context is inside, innermost last
        self.exit_status = 0
        self.on_exit: list[Callable[[Context], None]] = []
        self.stall_ns = 0

    @property
    def label(self) -> str:
        return f"{self.kind.value}#{self.id} ({self.name})"

    def __repr__(self) -> str:
        return f"<Context {self.label} {self.state.name} irql={self.irql}>"


class KDPC:
    """``KDPC``: a deferred procedure call object (initialise with KeInitializeDpc).

    It lives here because the DPC queues are the machine's: a CPU's queue holds KDPCs with the
    two system arguments they were inserted with.
    """

    __slots__ = ("DeferredRoutine", "DeferredContext", "Number", "inserted", "name", "started")

    def __init__(self, name: str = "") -> None:
        self.DeferredRoutine: Any = None
        self.DeferredContext: Any = None
        self.Number: int | None = None
        self.inserted = False
        self.name = name
        # The detail of its runs' ``ctx.start`` trace record, made once per name rather than
        # once per run (pooled DPCs are renamed: the record's name is checked by identity).
        self.started: tuple[str, str] = ("dpc", name)

    def __repr__(self) -> str:
        return f"<KDPC {self.name}>"


class Cpu:
    __slots__ = ("index", "stack", "dpcs", "ready", "dpc_ctx")

    def __init__(self, index: int) -> None:
        self.index = index
        self.stack: list[Context] = []  # started contexts; the top one owns the CPU
        self.dpcs: deque[tuple[KDPC, Any, Any]] = deque()
        self.ready: deque[Context] = deque()
        # Fifo mode runs DPCs inline, one at a time per CPU: one reusable context each, made on
        # the first inline DPC (preemptive runs, thousands a second when exploring, never
        # need it).
        self.dpc_ctx: Context | None = None

    def new_dpc_ctx(self) -> Context:
        ctx = self.dpc_ctx = Context(0, KIND_DPC, "dpc", None, (), DISPATCH_LEVEL)
        ctx.cpu = self
        ctx.state = CTX_RUNNING
        return ctx

    @property
    def irql(self) -> int:
        return self.stack[-1].irql if self.stack else PASSIVE_LEVEL

    def __repr__(self) -> str:
        return f"<Cpu {self.index} irql={self.irql} stack={len(self.stack)} dpcs={len(self.dpcs)}>"


# Decision(kind, n, choice) without the named tuple's Python-level __new__ (a frame per
# decision): the same tuple, built in C.
_new_decision = tuple.__new__

# What a CPU would do if chosen to step.
_RUN, _DPC, _READY = 0, 1, 2


class StepBudgetExceeded(Exception):
    pass


# Greenlets of finished contexts, ready to run the next context (per OS thread: a greenlet only
# ever runs in the thread that created it). Exploration starts thousands of contexts a second.
_pool = threading.local()
_POOL_MAX = 64


def _idle_greenlets() -> list[greenlet.greenlet]:
    idle: list[greenlet.greenlet] | None = getattr(_pool, "idle", None)
    if idle is None:
        idle = _pool.idle = []
    return idle


def _context_worker(machine: Machine, ctx: Context) -> None:
    """The body of every context greenlet: run a context to its end, then wait (holding no
    reference to it or its machine) to be handed the next one by :meth:`Machine._resume`.
    An exception leaving a context ends the greenlet and reaches the scheduler, as before."""
    while True:
        machine._context_main(ctx)
        sched = machine._sched
        idle = machine._idle  # this thread's pool (Machine.run set it)
        machine = ctx = None  # type: ignore[assignment]
        if sched is None or len(idle) >= _POOL_MAX:
            return  # back to the parent (the scheduler), like any finished greenlet
        idle.append(greenlet.getcurrent())
        machine, ctx = sched.switch()


class Machine:
    """A simulated multi-CPU Windows machine."""

    def __init__(
        self,
        cpus: int = 2,
        arch: str = "x64",
        strategy: Strategy | None = None,
        policy: Policy = Policy.RECORD,
        seed: int = 0,
        trace: bool = True,
        step_budget: int = 50_000_000,
    ) -> None:
        if cpus < 1:
            raise ValueError("a machine needs at least one CPU")
        if arch not in ("x64", "x86"):
            raise ValueError(f"unknown architecture {arch!r}; expected x64 or x86")
        self.arch = arch
        self.high_level = high_level(arch)
        self.seed = seed
        self.now = 0
        self.cpus = [Cpu(i) for i in range(cpus)]
        self.strategy: Strategy = strategy or FifoStrategy()
        self.preemptive = self.strategy.preemptive
        # Fifo answers every question with 0: skip asking and recording (replays trivially).
        self._trivial = isinstance(self.strategy, FifoStrategy)
        self.verifier = Verifier(policy)
        self.decisions: list[Decision] = []
        # Exploration's coverage: distinct (state, event) pairs, filled when a set is given (None
        # by default, so ordinary runs pay one attribute test where a pair could be noted).
        # Every pair is a tuple whose first item is its area: "sched" (decide()), "wsk",
        # "kernel", "tdi", "winsock". Noting a pair never emits a trace record or decides.
        self.coverage: set[Hashable] | None = None
        self.trace: list[tuple[Any, ...]] | None = [] if trace else None
        self.steps = 0
        self.step_budget = step_budget
        self.halt: BugCheckHalt | None = None
        self.stuck: Violation | None = None
        self.current: Context | None = None
        self.waiting: dict[int, Context] = {}
        self._events: list[tuple[int, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = 0
        self._cancelled: set[int] = set()  # seqs of call_at entries withdrawn before they ran
        self._next_id = 1
        self._sched: greenlet.greenlet | None = None
        self._idle: list[greenlet.greenlet] = []
        self._forced: tuple[Cpu, int] | None = None
        self._stop_requested = False
        self._subsystems: dict[type, Any] = {}
        self.system = Context(0, KIND_SYSTEM, "system", None, (), DISPATCH_LEVEL)
        self.system.cpu = self.cpus[0]

    # ------------------------------------------------------------------ subsystems and records

    def subsystem(self, cls: type[T]) -> T:
        """Per-machine state of a kernel subsystem (pool tracker, IRP table, WSK provider...)."""
        obj = self._subsystems.get(cls)
        if obj is None:
            obj = cls(self)  # type: ignore[call-arg]
            self._subsystems[cls] = obj
        return obj

    def subsystems(self) -> list[Any]:
        return list(self._subsystems.values())

    def emit(self, event: str, *detail: Any) -> None:
        """Append a trace record (nothing when tracing is off; callers may test self.trace)."""
        if self.trace is not None:
            ctx = self.current
            cpu = ctx.cpu.index if ctx is not None and ctx.cpu is not None else -1
            self.trace.append((self.now, cpu, ctx.id if ctx is not None else 0, event, detail))

    def report(
        self,
        rule_id: str,
        message: str,
        objects: dict[str, object] | None = None,
        params: tuple[int, int, int] = (0, 0, 0),
        location: SourceLocation | None = None,
        context: Context | None = None,
    ) -> Violation | None:
        """The one place a contract violation is made (delegates the policy to the verifier)."""
        ctx = context or self.current
        violation = self.verifier.make(
            rule_id,
            message,
            time_ns=self.now,
            cpu=ctx.cpu.index if ctx is not None and ctx.cpu is not None else None,
            irql=ctx.irql if ctx is not None else None,
            context=ctx.label if ctx is not None else "machine",
            location=location or stub_location(),
            objects=objects,
            params=params,
        )
        if violation is not None:
            self.emit("violation", rule_id, message)
        return violation

    @property
    def violations(self) -> list[Violation]:
        return self.verifier.violations

    # ------------------------------------------------------------------ the decision point

    def decide(self, kind: str, options: Sequence[Hashable]) -> int:
        """The single seeded decision point: every choice of the simulation is asked here."""
        n = len(options)
        if n <= 1 or self._trivial:
            return 0
        choice = self.strategy.choose(kind, options)
        if not 0 <= choice < n:
            raise ValueError(f"strategy answered {choice} to a {n}-way {kind} decision")
        self.decisions.append(_new_decision(Decision, (kind, n, choice)))
        coverage = self.coverage
        if coverage is not None:
            # State: the asking context (name, IRQL, innermost WSK callback) and what is on
            # every CPU; event: which answer the question got.
            ctx = self.current
            names = []  # a plain loop: a comprehension is a function call of its own
            for cpu in self.cpus:
                stack = cpu.stack
                names.append(stack[-1].name if stack else "")
            tops = tuple(names)
            if ctx is None:
                coverage.add(("sched", "", -1, "", tops, kind, n, choice))
            else:
                callbacks = ctx.callbacks
                coverage.add(("sched", ctx.name, ctx.irql, callbacks[-1] if callbacks else "",
                              tops, kind, n, choice))
        return choice

    def cover_here(self, coverage: set[Hashable], area: str, obj: str, event: str) -> None:
        """Note the pair ``(area, obj, event, context kind, IRQL)`` of the current context (a
        context inside a WSK callback is ``"<kind>+callback"``). Callers test
        ``m.coverage is not None`` first and pass it, so ordinary runs never get here."""
        ctx = self.current
        if ctx is None:
            coverage.add((area, obj, event, "", -1))
        else:
            kind = ctx.kind._value_  # not .value: an enum property, slow on the hot path
            coverage.add((area, obj, event, kind + "+callback" if ctx.callbacks else kind,
                          ctx.irql))

    # ------------------------------------------------------------------ time

    def call_at(self, time_ns: int, fn: Callable[..., Any], *args: Any) -> int:
        """Run ``fn(*args)`` in the system context at virtual time ``time_ns`` (never earlier
        than now). Returns a sequence number handlers can use to recognise stale entries, and
        :meth:`cancel_call` to withdraw the entry."""
        now = self.now
        if time_ns < now:  # not max(): a builtin call costs more than the compare
            time_ns = now
        seq = self._seq
        self._seq = seq + 1
        heapq.heappush(self._events, (time_ns, seq, fn, args))
        return seq

    def call_later(self, delay_ns: int, fn: Callable[..., Any], *args: Any) -> int:
        """:meth:`call_at` ``now + delay_ns`` (inlined: peers and drivers' periodic work
        schedule their next step this way)."""
        now = self.now
        time_ns = now + delay_ns
        if time_ns < now:
            time_ns = now
        seq = self._seq
        self._seq = seq + 1
        heapq.heappush(self._events, (time_ns, seq, fn, args))
        return seq

    def cancel_call(self, seq: int) -> None:
        """Withdraw a :meth:`call_at` entry that has not run yet (a satisfied wait's timeout, a
        cancelled or re-set timer): it never runs, and the clock never moves to its time just
        for it. Only pass the sequence number of an entry still pending."""
        self._cancelled.add(seq)

    def next_event_time(self) -> int | None:
        events = self._events
        cancelled = self._cancelled
        while events and events[0][1] in cancelled:
            cancelled.discard(heapq.heappop(events)[1])
        return events[0][0] if events else None

    # ------------------------------------------------------------------ contexts

    def _new_id(self) -> int:
        ctx_id = self._next_id
        self._next_id = ctx_id + 1
        return ctx_id

    def spawn(
        self,
        kind: ContextKind,
        name: str,
        routine: Callable[..., Any],
        args: tuple[Any, ...] = (),
        cpu: int | None = None,
    ) -> Context:
        """Create a thread-like context (system thread, work item, user thread), ready to run."""
        ctx_id = self._next_id
        self._next_id = ctx_id + 1
        ctx = Context(ctx_id, kind, name, routine, args, PASSIVE_LEVEL)
        if self.trace is not None:
            self.emit("ctx.create", ctx_id, kind._value_, name)
        self._make_ready(ctx, self.cpus[cpu] if cpu is not None else None)
        return ctx

    def queue_dpc(self, cpu_index: int, dpc: KDPC, arg1: Any = None, arg2: Any = None) -> bool:
        """KeInsertQueueDpc's mechanism: False if the DPC is already queued."""
        if dpc.inserted:
            return False
        dpc.inserted = True
        cpu = self.cpus[cpu_index]
        cpu.dpcs.append((dpc, arg1, arg2))
        ctx = self.current
        trace = self.trace
        if trace is not None:  # emit(), inlined: every timer and network event comes here
            if ctx is None:
                trace.append((self.now, -1, 0, "dpc.queue", (dpc.name, cpu_index)))
            else:
                here = ctx.cpu
                trace.append((self.now, here.index if here is not None else -1, ctx.id,
                              "dpc.queue", (dpc.name, cpu_index)))
        # A DPC queued on the CPU that is running below DISPATCH interrupts it right away.
        # (The IRQL first: the callers on hot paths, DPCs and the system context, stop there.)
        if (
            ctx is not None
            and ctx.irql < DISPATCH_LEVEL
            and ctx.cpu is cpu
            and ctx.kind is not KIND_SYSTEM
        ):
            self.deliver_dpcs(ctx)
        return True

    def _make_ready(self, ctx: Context, preferred: Cpu | None = None) -> None:
        # fidelity: kernel.thread_placement (the last CPU is option 0)
        ctx.state = CTX_READY
        home = preferred or ctx.last_cpu or (self.current.cpu if self.current else None)
        if home is None:
            home = self.cpus[0]
        cpus = self.cpus
        if preferred is None and len(cpus) > 1:
            if self._trivial:
                pass  # decide() would answer 0: the home CPU
            elif len(cpus) == 2:
                other = cpus[1] if home is cpus[0] else cpus[0]
                if self.decide("cpu", (home.index, other.index)):
                    home = other
            else:
                order = [home] + [c for c in cpus if c is not home]
                home = order[self.decide("cpu", [c.index for c in order])]
        home.ready.append(ctx)

    def wake(self, ctx: Context, status: int) -> None:
        """Make a waiting context ready with the status its wait returns."""
        if ctx.state is not CTX_WAITING:
            return
        self.waiting.pop(ctx.id, None)
        ctx.wait_status = status
        ctx.wait = None
        if self.trace is not None:
            self.emit("ctx.wake", ctx.id, status)
        self._make_ready(ctx)

    def block_current(self) -> int:
        """Suspend the current thread-like context until :meth:`wake`; returns the wait status."""
        ctx = self.current
        assert ctx is not None and ctx.glet is not None, "only threads can block"
        cpu = ctx.cpu
        assert cpu is not None and cpu.stack and cpu.stack[-1] is ctx
        cpu.stack.pop()
        ctx.last_cpu = cpu
        ctx.cpu = None
        ctx.state = CTX_WAITING
        self.waiting[ctx.id] = ctx
        if self.trace is not None:
            self.emit("ctx.block", ctx.id)
        self.current = None
        assert self._sched is not None
        self._sched.switch()
        return ctx.wait_status

    def spin_current(self, lock: Any) -> None:
        """The current context spins for ``lock`` (held on another CPU) until it is released."""
        ctx = self.current
        assert ctx is not None
        ctx.state = CTX_SPINNING
        ctx.spinning_on = lock
        self.emit("ctx.spin", ctx.id, getattr(lock, "name", "lock"))
        if ctx.glet is None or self._sched is None:
            # Inline (fifo) code cannot be suspended; the lock's owner can never run before it
            # returns, so this is a hang the deadlock check reports.
            self._report_stuck([ctx])
            raise BugCheckHalt(self.stuck)  # type: ignore[arg-type]
        self.current = None
        self._sched.switch()

    def stall_current(self, duration_ns: int) -> None:
        """The current thread-like context busy-waits ``duration_ns``: it keeps its CPU (only
        what interrupts its IRQL runs there) while the clock moves on and the other CPUs run,
        as on real hardware, so a driver polling for another CPU's work makes progress.
        DPCs and the system context stall in zero time (fidelity: kernel.cpu_time)."""
        ctx = self.current
        if ctx is None or ctx.kind is KIND_DPC or ctx.kind is KIND_SYSTEM or \
                ctx.glet is None or self._sched is None or duration_ns <= 0:
            return
        ctx.state = CTX_STALLED
        if self.trace is not None:
            self.emit("ctx.stall", ctx.id, duration_ns)
        self.call_at(self.now + duration_ns, self._end_stall, ctx)
        self.current = None
        self._sched.switch()

    @staticmethod
    def _end_stall(ctx: Context) -> None:
        if ctx.state is CTX_STALLED:
            ctx.state = CTX_RUNNING  # its CPU's loop resumes it once nothing above runs

    def unspin(self, ctx: Context) -> None:
        if ctx.state is CTX_SPINNING:
            ctx.state = CTX_RUNNING
            ctx.spinning_on = None

    def preemption_point(self) -> None:
        """Called at the start of every DDI: the place where other CPUs may run first."""
        steps = self.steps = self.steps + 1
        if steps > self.step_budget:
            self._step_budget_exceeded()
        ctx = self.current
        if ctx is None:
            return
        if not self.preemptive:
            if ctx.irql < DISPATCH_LEVEL:
                cpu = ctx.cpu
                if cpu is not None and cpu.dpcs and ctx.kind is not KIND_SYSTEM:
                    self.deliver_dpcs(ctx)
            return
        if ctx.glet is None:
            return  # the system context is never preempted
        # Most preemption points have one CPU with work (the asker's): count first (what
        # _candidates would return, without building it) and ask nothing then.
        count = 0
        running, ready = CTX_RUNNING, CTX_READY
        for cpu in self.cpus:
            stack = cpu.stack
            if stack:
                top = stack[-1]
                if (cpu.dpcs and top.irql < DISPATCH_LEVEL) or top.state is running or \
                        top.state is ready:
                    count += 1
            elif cpu.dpcs or cpu.ready:
                count += 1
        if count <= 1:
            return
        candidates, keys = self._candidates_keyed()
        pick = candidates[self.decide("schedule", keys)]
        if pick[1] == _RUN and pick[0] is ctx.cpu:
            return
        self._forced = pick
        self.current = None
        assert self._sched is not None
        self._sched.switch()

    def deliver_dpcs(self, ctx: Context) -> None:
        """Run the CPU's queued DPCs on top of ``ctx`` before it goes on (its IRQL dropped below
        DISPATCH_LEVEL, or a DPC was just queued on its CPU), as the DISPATCH_LEVEL software
        interrupt would. Fifo mode runs them inline; preemptive modes switch to the scheduler,
        which runs them (``ctx``'s CPU offers nothing else while it has DPCs) and resumes ``ctx``
        later."""
        cpu = ctx.cpu
        assert cpu is not None
        if self.preemptive:
            if ctx.glet is not None and self._sched is not None:
                self._forced = (cpu, _DPC)
                self.current = None
                self._sched.switch()
            return
        if ctx is cpu.dpc_ctx:
            # A DPC that lowered its IRQL (reported when it returns): the reusable inline
            # context cannot nest, so the queued DPCs run after it.
            return
        while cpu.dpcs and cpu.stack[-1] is ctx and ctx.irql < DISPATCH_LEVEL:
            self._run_dpc_inline(cpu)
        self.current = ctx

    def _step_budget_exceeded(self) -> None:
        self.steps = 0  # let the report itself run
        ctx = self.current
        self.report(
            "machine.step_budget",
            f"more than {self.step_budget} preemption points without finishing: a context "
            "that never waits (a busy loop?)",
            objects={"context": ctx.label if ctx else "machine"},
        )
        raise StepBudgetExceeded(self.step_budget)

    # ------------------------------------------------------------------ the scheduler loop

    def _candidates_keyed(self) -> tuple[list[tuple[Cpu, int]], list[Hashable]]:
        """What each CPU would do if chosen to step (run its top context, a DPC, or its next
        ready thread) and the strategy's stable key of each (the context id, or ("dpc", cpu)
        for a DPC not yet started), built in one pass: asked at every preemption point with
        more than one CPU at work."""
        out: list[tuple[Cpu, int]] = []
        keys: list[Hashable] = []
        running, ready = CTX_RUNNING, CTX_READY
        for cpu in self.cpus:
            stack = cpu.stack
            if stack:
                top = stack[-1]
                if cpu.dpcs and top.irql < DISPATCH_LEVEL:
                    out.append((cpu, _DPC))
                    keys.append(("dpc", cpu.index))
                elif top.state is running or top.state is ready:
                    out.append((cpu, _RUN))
                    keys.append(top.id)
            elif cpu.dpcs:
                out.append((cpu, _DPC))
                keys.append(("dpc", cpu.index))
            elif cpu.ready:
                out.append((cpu, _READY))
                keys.append(cpu.ready[0].id)
        return out, keys

    def request_stop(self) -> None:
        """Make :meth:`run` return once the current context yields (the clock stays put)."""
        self._stop_requested = True

    def run(self, until_ns: int | None = None) -> None:
        """Run until nothing is left to do, the clock would pass ``until_ns``, a stop request,
        or a bug check."""
        global active
        if self.halt is not None or self.stuck is not None:
            return
        self._stop_requested = False
        previous = active
        active = self
        self._sched = greenlet.getcurrent()
        self._idle = _idle_greenlets()  # this thread's pool (the scheduler runs in this thread)
        # The trace grows by millions of small tuples; the cyclic GC would walk it again and
        # again (tripling the cost of a traced event). Nothing in a run relies on it.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._loop(until_ns)
        except BugCheckHalt as halt:
            self.halt = halt
            self.emit("bugcheck", halt.violation.rule.id)
        except StepBudgetExceeded:
            self.stuck = self.verifier.violations[-1]
        except Exception as exc:  # fidelity: kernel.driver_exception
            self._unhandled_exception(exc)
        finally:
            self.current = None
            active = previous
            if gc_was_enabled:
                gc.enable()
        if self._stop_requested:
            self._stop_requested = False
        elif until_ns is not None and self.halt is None and self.now < until_ns:
            self.now = until_ns

    def _loop(self, until_ns: int | None) -> None:
        if not self.preemptive:
            self._loop_fifo(until_ns)
            return
        events = self._events
        cancelled = self._cancelled
        heappop = heapq.heappop
        while not self._stop_requested:
            pick = self._forced
            if pick is not None:
                self._forced = None
            else:
                candidates, keys = self._candidates_keyed()
                if len(candidates) > 1:
                    pick = candidates[self.decide("schedule", keys)]
                elif candidates:
                    pick = candidates[0]
                elif self._spin_cycle():
                    # Timed events (a periodic timer) would keep the clock running forever.
                    self._check_stuck()
                    return
            if pick is None:
                # Nothing runnable: move the clock to the next timed event.
                if not events or (until_ns is not None and events[0][0] > until_ns):
                    self._check_stuck()
                    return
                time_ns, seq, fn, args = heappop(events)
                if cancelled and seq in cancelled:
                    cancelled.discard(seq)
                    continue
                if time_ns > self.now:
                    self.now = time_ns
                self.current = self.system
                fn(*args)
                self.current = None
                continue
            cpu, what = pick
            if what == _DPC:
                dpc, arg1, arg2 = cpu.dpcs.popleft()
                dpc.inserted = False
                ctx = Context(self._new_id(), KIND_DPC, dpc.name, dpc.DeferredRoutine,
                              (dpc, dpc.DeferredContext, arg1, arg2), DISPATCH_LEVEL)
                ctx.cpu = cpu
                cpu.stack.append(ctx)
                self._resume(ctx)
            elif what == _READY:
                ctx = cpu.ready.popleft()
                ctx.cpu = cpu
                cpu.stack.append(ctx)
                self._resume(ctx)
            else:
                self._resume(cpu.stack[-1])

    def _loop_fifo(self, until_ns: int | None) -> None:
        """The fifo strategy's loop: the first CPU with work runs (the answer decide() would
        give, so nothing is asked); DPCs run inline. The hot path of every timed event, so
        :meth:`_run_dpc_inline` is inlined here (keep the two in step) and what the loop reads
        on every turn is held in locals."""
        cpus = self.cpus
        events = self._events
        cancelled = self._cancelled
        heappop = heapq.heappop
        resume = self._resume
        system = self.system
        trace = self.trace
        running, ready = CTX_RUNNING, CTX_READY
        while not self._stop_requested:
            for cpu in cpus:
                stack = cpu.stack
                dpcs = cpu.dpcs
                if dpcs and (not stack or stack[-1].irql < DISPATCH_LEVEL):
                    # A DPC interrupts whatever runs below DISPATCH_LEVEL: _run_dpc_inline.
                    dpc, arg1, arg2 = dpcs.popleft()
                    dpc.inserted = False
                    ctx = cpu.dpc_ctx or cpu.new_dpc_ctx()
                    ctx_id = ctx.id = self._next_id
                    self._next_id = ctx_id + 1
                    name = ctx.name = dpc.name
                    routine = ctx.routine = dpc.DeferredRoutine
                    stack.append(ctx)
                    self.current = ctx
                    if trace is not None:
                        started = dpc.started
                        if started[1] is not name:
                            started = dpc.started = ("dpc", name)
                        trace.append((self.now, cpu.index, ctx_id, "ctx.start", started))
                    routine(dpc, dpc.DeferredContext, arg1, arg2)
                    if ctx.held_locks or ctx.irql != DISPATCH_LEVEL or ctx.on_exit or \
                            ctx.callbacks or ctx.stall_ns:
                        self.current = ctx
                        self._end_inline_dpc(ctx, cpu)
                    else:
                        stack.pop()
                        if trace is not None:
                            trace.append((self.now, cpu.index, ctx_id, "ctx.end", ()))
                    self.current = None
                    break
                if stack:
                    top = stack[-1]
                    state = top.state
                    if state is running or state is ready:
                        resume(top)
                        break
                elif cpu.ready:
                    ctx = cpu.ready.popleft()
                    ctx.cpu = cpu
                    stack.append(ctx)
                    resume(ctx)
                    break
            else:
                # Nothing runnable: move the clock to the next timed event.
                if not events or (until_ns is not None and events[0][0] > until_ns):
                    self._check_stuck()
                    return
                time_ns, seq, fn, args = heappop(events)
                if cancelled and seq in cancelled:  # withdrawn: the clock does not go there
                    cancelled.discard(seq)
                    continue
                if time_ns > self.now:
                    self.now = time_ns
                self.current = system
                fn(*args)
                self.current = None

    def _resume(self, ctx: Context) -> None:
        self.current = ctx
        ctx.state = CTX_RUNNING
        glet = ctx.glet
        if glet is None:
            sched = self._sched
            idle = self._idle
            if idle:
                # A greenlet's first switch costs ~10 us (its stack is set up); a finished
                # context's greenlet waits in _context_worker for the next context instead.
                glet = idle.pop()
                if glet.parent is not sched:
                    glet.parent = sched
            else:
                glet = greenlet.greenlet(_context_worker, parent=sched)
            ctx.glet = glet
            glet.switch(self, ctx)
        else:
            glet.switch()

    def _context_main(self, ctx: Context) -> None:
        trace = self.trace
        if trace is not None:  # the context's id is the record's own ctx field
            cpu = ctx.cpu
            trace.append((self.now, cpu.index if cpu is not None else -1, ctx.id, "ctx.start",
                          (ctx.kind._value_, ctx.name)))
        try:
            assert ctx.routine is not None
            ctx.routine(*ctx.args)
        except ThreadExit as exit_:
            ctx.exit_status = exit_.status
        self.current = ctx
        self._finish(ctx)

    def _run_dpc_inline(self, cpu: Cpu) -> None:
        """Fifo mode: run the CPU's next DPC right here, in its reusable DPC context.

        This is the hot path of every timer and network event (:meth:`_loop_fifo` has its own
        copy: keep the two in step): only the fields a DPC can have changed are reset, and only
        after it returns."""
        dpc, arg1, arg2 = cpu.dpcs.popleft()
        dpc.inserted = False
        ctx = cpu.dpc_ctx or cpu.new_dpc_ctx()
        ctx_id = ctx.id = self._next_id
        self._next_id = ctx_id + 1
        name = ctx.name = dpc.name
        routine = ctx.routine = dpc.DeferredRoutine
        stack = cpu.stack
        stack.append(ctx)
        self.current = ctx
        trace = self.trace
        if trace is not None:
            started = dpc.started
            if started[1] is not name:
                started = dpc.started = ("dpc", name)
            trace.append((self.now, cpu.index, ctx_id, "ctx.start", started))
        routine(dpc, dpc.DeferredContext, arg1, arg2)
        self.current = ctx
        if ctx.held_locks or ctx.irql != DISPATCH_LEVEL or ctx.on_exit or ctx.callbacks or \
                ctx.stall_ns:
            self._end_inline_dpc(ctx, cpu)
        else:
            stack.pop()
            if trace is not None:
                trace.append((self.now, cpu.index, ctx_id, "ctx.end", ()))

    def _end_inline_dpc(self, ctx: Context, cpu: Cpu) -> None:
        """An inline DPC returned with something to check or reset: the exit checks, then the
        reusable context made clean for the next DPC."""
        self._finish(ctx)
        for lock in ctx.held_locks:  # the reusable context must not stay an owner
            lock.owner = None
        ctx.held_locks.clear()
        ctx.on_exit.clear()
        ctx.callbacks.clear()
        ctx.irql = DISPATCH_LEVEL
        ctx.cpu = cpu
        ctx.state = CTX_RUNNING
        ctx.stall_ns = 0

    def _finish(self, ctx: Context) -> None:
        """Exit checks every context owes the kernel, then leave the CPU."""
        if ctx.held_locks:
            names = ", ".join(getattr(lock, "name", "lock") for lock in ctx.held_locks)
            self.report(
                "spinlock.held_at_exit",
                f"{ctx.label} returned still holding spin lock(s) {names}",
                location=code_location(ctx.routine),
            )
        if ctx.irql != ctx.entry_irql:
            self.report(
                "irql.unexpected_at_exit",
                f"{ctx.label} returned at IRQL {ctx.irql}, entered at {ctx.entry_irql}",
                params=(ctx.irql, ctx.entry_irql, 0),
                location=code_location(ctx.routine),
            )
        # DONE before the exit hooks run: a thread object is signalled once its thread ended,
        # and the hook that wakes its waiters checks exactly that.
        ctx.state = CTX_DONE
        for hook in ctx.on_exit:
            hook(ctx)
        cpu = ctx.cpu
        if cpu is not None and cpu.stack and cpu.stack[-1] is ctx:
            cpu.stack.pop()
        ctx.last_cpu = cpu
        ctx.cpu = None
        if self.trace is not None:
            self.trace.append((self.now, cpu.index if cpu else -1, ctx.id, "ctx.end", ()))

    def _unhandled_exception(self, exc: Exception) -> None:
        frames = traceback.extract_tb(exc.__traceback__)
        driver_frames = [f for f in frames if not is_mock_frame(f.filename)]
        frame = driver_frames[-1] if driver_frames else (frames[-1] if frames else None)
        location = (SourceLocation(short_path(frame.filename), frame.lineno or 0, frame.name)
                    if frame is not None else None)
        policy = self.verifier.policy
        self.verifier.policy = Policy.RECORD  # this one always stops the machine, below
        try:
            violation = self.report(
                "kernel.unhandled_exception",
                f"{type(exc).__name__}: {exc}",
                location=location,
                objects={"exception": type(exc).__name__},
            )
        finally:
            self.verifier.policy = policy
        assert violation is not None
        self.halt = BugCheckHalt(violation)
        self.emit("bugcheck", violation.rule.id)

    # ------------------------------------------------------------------ liveness

    def _check_stuck(self) -> None:
        spinners = [
            top
            for cpu in self.cpus
            for top in cpu.stack[-1:]
            if top.state is CTX_SPINNING
        ]
        if spinners:
            self._report_stuck(spinners)

    def _spin_cycle(self) -> bool:
        """Some CPU spins on a lock that can never be released: following lock holders leads
        back into a cycle of spinners, or to a holder that has ended (no timed event can
        change either)."""
        for cpu in self.cpus:
            top = cpu.stack[-1] if cpu.stack else None
            if top is None or top.state is not CTX_SPINNING:
                continue
            seen = {top.id}
            owner = getattr(top.spinning_on, "owner", None)
            while owner is not None and owner.state is CTX_SPINNING and owner.id not in seen:
                seen.add(owner.id)
                owner = getattr(owner.spinning_on, "owner", None)
            if owner is not None and (owner.id in seen or owner.state is CTX_DONE):
                return True
        return False

    def _report_stuck(self, spinners: list[Context]) -> None:
        chain = "; ".join(
            f"{c.label} spins on {getattr(c.spinning_on, 'name', 'lock')} held by "
            f"{getattr(getattr(c.spinning_on, 'owner', None), 'label', '?')}"
            for c in spinners
        )
        self.stuck = self.report(
            "kernel.deadlock",
            f"no context can make progress: {chain}",
            objects={"wait_for": chain},
            context=spinners[0],
        )

    def wait_for_graph(self) -> list[str]:
        """Who waits for what, one line a blocked context (for hang and deadlock reports)."""
        lines = []
        for ctx in sorted(self.waiting.values(), key=lambda c: c.id):
            describe = getattr(ctx.wait, "describe", None)
            lines.append(f"{ctx.label} waits for {describe() if describe else ctx.wait}")
        for cpu in self.cpus:
            for ctx in cpu.stack:
                if ctx.state is CTX_SPINNING:
                    lines.append(f"{ctx.label} spins on {getattr(ctx.spinning_on, 'name', '?')}")
        return lines

    # ------------------------------------------------------------------ helpers for DDIs

    @property
    def irql(self) -> int:
        ctx = self.current
        return ctx.irql if ctx is not None else PASSIVE_LEVEL

    def can_block(self) -> bool:
        ctx = self.current
        return ctx is not None and ctx.glet is not None and ctx.irql <= APC_LEVEL
