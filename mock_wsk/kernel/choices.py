"""Kernel behaviour the WDK docs leave open, made once here (see mock_wsk.fidelity)."""

from mock_wsk.fidelity import define_choice
from mock_wsk.status import STATUS_TIMEOUT

define_choice(
    "kernel.unblockable_wait_status", int(STATUS_TIMEOUT),
    "A wait with a non-zero timeout above APC_LEVEL or in a DPC bug-checks.",
    "Under the record policy the run goes on: the illegal wait is reported and returns "
    "STATUS_TIMEOUT at once instead of blocking (it cannot block: nothing may run under it).")
define_choice(
    "kernel.cpu_time", "zero",
    "Silent: the docs describe real CPUs.",
    "Driver code runs in zero virtual time; the clock moves only to timed events, so results "
    "never depend on host speed. KeStallExecutionProcessor(n) in a thread or work item keeps "
    "its CPU for n microseconds of virtual time while the other CPUs run (a driver polling "
    "for another CPU's work progresses, as on hardware); in a DPC it takes zero time. At "
    "DISPATCH_LEVEL it is charged to the context for the DPC watchdog.")
define_choice(
    "kernel.dpc_watchdog_ns", 1_000_000,
    "Code at DISPATCH_LEVEL must not run long; Windows' single-DPC watchdog is ~20 ms of ticks.",
    "A conservative verifier threshold: more than 1 ms stalled at DISPATCH_LEVEL in one stretch "
    "is reported as dpc.watchdog (a warning).")
define_choice(
    "kernel.system_time_epoch", 0,
    "KeQuerySystemTime counts 100 ns units since 1601.",
    "The mock's epoch is boot, so absolute times are small and every run starts identically.")
define_choice(
    "kernel.thread_placement", "last-cpu-first",
    "Silent: the Windows scheduler's placement is not specified.",
    "A woken thread is queued on a CPU chosen at the decision point; the CPU it last ran on is "
    "option 0 (what fifo takes). A thread runs until it waits or ends; DPCs interrupt it.")
define_choice(
    "kernel.recursive_spinlock", "stop",
    "Acquiring a spin lock its holder already holds spins forever.",
    "The violation is reported and the run stops (whatever the policy): a machine spinning "
    "forever has nothing more to show.")
define_choice(
    "kernel.driver_exception", "KMODE_EXCEPTION_NOT_HANDLED",
    "An unhandled exception in kernel-mode code bug-checks (0x1E).",
    "A Python exception escaping driver code stops the machine with kernel.unhandled_exception "
    "at the driver's line, whatever the policy, instead of crashing the harness.")
