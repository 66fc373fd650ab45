"""Kernel rules (CONTRACTS.md section D): IRQL, spin locks, pool, IRPs, MDLs, liveness.

Each rule names the bug check Windows or Driver Verifier would raise; param1 of a violation is the
rule's own number (see mock_wsk.verifier), in the spirit of Driver Verifier's 0xC4 parameters.
"""

from mock_wsk.constants import BugCheck
from mock_wsk.verifier import Severity, define_rule

E, W = Severity.ERROR, Severity.WARNING
_DV = BugCheck.DRIVER_VERIFIER_DETECTED_VIOLATION
_IOV = BugCheck.DRIVER_VERIFIER_IOMANAGER_VIOLATION

# --- IRQL (D.19)
define_rule("irql.wait_above_apc", "Wait above APC_LEVEL", E, BugCheck.IRQL_NOT_LESS_OR_EQUAL,
            "No blocking wait (non-zero timeout) above APC_LEVEL.", "CONTRACTS D.19")
define_rule("irql.wait_in_dpc", "Wait in a DPC", E, BugCheck.ATTEMPTED_SWITCH_FROM_DPC,
            "A DPC runs at DISPATCH_LEVEL and can never wait for an object with a non-zero "
            "timeout.", "CONTRACTS D.19")
define_rule("irql.paged_code", "Pageable code at raised IRQL", E,
            BugCheck.DRIVER_IRQL_NOT_LESS_OR_EQUAL,
            "Pageable code (PAGED_CODE()) runs only at PASSIVE_LEVEL or APC_LEVEL.",
            "CONTRACTS D.19")
define_rule("irql.paged_pool", "Paged pool at raised IRQL", E, BugCheck.IRQL_NOT_LESS_OR_EQUAL,
            "Paged pool is allocated and touched only at PASSIVE_LEVEL or APC_LEVEL.",
            "CONTRACTS D.19")
define_rule("irql.raise_to_lower", "KeRaiseIrql to a lower IRQL", E, _DV,
            "KeRaiseIrql must not be used to lower the IRQL.", "WDK KeRaiseIrql")
define_rule("irql.lower_raises", "KeLowerIrql raises", E, _DV,
            "KeLowerIrql never raises: the new IRQL must be at most the current one.",
            "CONTRACTS D.19")
define_rule("irql.unexpected_at_exit", "Returned at a different IRQL", E,
            BugCheck.IRQL_UNEXPECTED_VALUE,
            "A routine returns at the IRQL it was called at (DPCs at DISPATCH_LEVEL, threads and "
            "work items at PASSIVE_LEVEL).", "CONTRACTS D.19")
define_rule("irql.too_high", "DDI called above its maximum IRQL", E,
            BugCheck.IRQL_NOT_LESS_OR_EQUAL,
            "Each DDI documents the highest IRQL it may be called at.", "CONTRACTS D.19")

# --- spin locks (D.19)
define_rule("spinlock.recursive_acquire", "Spin lock acquired twice", E, _DV,
            "A spin lock is not recursive: acquiring one already held by the same processor "
            "spins forever.", "CONTRACTS D.19")
define_rule("spinlock.release_not_held", "Releasing a spin lock not held", E, _DV,
            "Only the holder releases a spin lock.", "CONTRACTS D.19")
define_rule("spinlock.release_order", "Spin locks released out of order", E, _DV,
            "Spin locks must be released in LIFO order at the IRQL they were taken.",
            "CONTRACTS D.19")
define_rule("spinlock.wrong_irql", "Spin lock DDI at the wrong IRQL", E,
            BugCheck.IRQL_NOT_LESS_OR_EQUAL,
            "KeAcquireSpinLock runs at <= DISPATCH_LEVEL; the AtDpcLevel variants only at "
            "DISPATCH_LEVEL; a release happens at DISPATCH_LEVEL.", "CONTRACTS D.19")
define_rule("spinlock.held_at_exit", "Returned holding a spin lock", E, _DV,
            "A routine must release every spin lock it acquired before returning.",
            "CONTRACTS D.19")
define_rule("dpc.watchdog", "Long time at DISPATCH_LEVEL", W, BugCheck.DPC_WATCHDOG_VIOLATION,
            "Code at DISPATCH_LEVEL must not run long (stalls count against the DPC watchdog).",
            "CONTRACTS B.9, D.19")
define_rule("timer.freed_while_set", "Timer or DPC freed while queued", E,
            BugCheck.TIMER_OR_DPC_INVALID,
            "A KTIMER or KDPC must not be freed or re-initialised while set or queued.",
            "WDK KeCancelTimer")

# --- pool (D.20)
define_rule("pool.double_free", "Pool block freed twice", E, BugCheck.BAD_POOL_CALLER,
            "Pool blocks are freed once.", "CONTRACTS D.20")
define_rule("pool.use_after_free", "Pool block used after free", E,
            BugCheck.DRIVER_CAUGHT_MODIFYING_FREED_POOL,
            "A freed pool block is never touched again.", "CONTRACTS D.20")
define_rule("pool.wrong_tag", "Pool freed with the wrong tag", E, BugCheck.BAD_POOL_CALLER,
            "ExFreePoolWithTag must name the tag the block was allocated with.",
            "WDK ExFreePoolWithTag")
define_rule("pool.bad_free", "Freeing something that is not a pool block", E,
            BugCheck.BAD_POOL_CALLER, "Only pool blocks are freed with ExFreePool*.",
            "CONTRACTS D.20")
define_rule("pool.leak", "Pool leaked at unload", E, _DV,
            "No pool block is left allocated when the driver unloads (tag tracking).",
            "CONTRACTS D.20")
define_rule("pool.overrun", "Access outside a pool block", E,
            BugCheck.DRIVER_CORRUPTED_EXPOOL,
            "A driver may use at most the NumberOfBytes it allocated; accessing memory outside "
            "that range can corrupt the pool.", "WDK ExAllocatePool2")

# --- IRPs (C.17, D.21)
define_rule("irp.double_completion", "IRP completed twice", E,
            BugCheck.MULTIPLE_IRP_COMPLETE_REQUESTS, "An IRP is completed exactly once.",
            "CONTRACTS D.21")
define_rule("irp.free_while_pending", "IRP freed while pending", E, _IOV,
            "An IRP is not freed while it is pending.", "CONTRACTS D.21")
define_rule("irp.use_after_free", "IRP used after IoFreeIrp", E, _IOV,
            "A freed IRP is never used again.", "CONTRACTS D.21")
define_rule("irp.completion_return", "Completion routine returned the wrong status", E, _IOV,
            "The completion routine of a driver-allocated IRP returns "
            "STATUS_MORE_PROCESSING_REQUIRED.", "CONTRACTS C.17")
define_rule("irp.reuse_without_ioreuseirp", "IRP reused without IoReuseIrp", E, _IOV,
            "An IRP is reused only after its completion and IoReuseIrp.", "CONTRACTS C.17")
define_rule("irp.pending_at_unload", "IRP pending at unload", E,
            BugCheck.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS,
            "No IRP is pending when the driver unloads.", "CONTRACTS D.21")
define_rule("irp.leak", "IRP never freed", W, _DV,
            "Every IRP allocated with IoAllocateIrp is freed with IoFreeIrp.", "CONTRACTS D.21")
define_rule("irp.freed_after_cancel_before_completion", "Cancelled IRP freed too early", E, _IOV,
            "A cancelled IRP is freed only after its completion routine ran.", "CONTRACTS C.17")
define_rule("irp.no_stack_location", "No IRP stack location left", E,
            BugCheck.NO_MORE_IRP_STACK_LOCATIONS,
            "Every driver an IRP is passed to needs a stack location: allocate the IRP with "
            "enough of them (at least 1 for WSK), and never use the current location of an IRP "
            "that has none (a driver's own IRP at its top).", "WDK IoCallDriver, IoAllocateIrp")

# --- MDLs (C.15, D.20)
define_rule("mdl.free_while_in_use", "MDL freed while I/O uses it", E, _DV,
            "An MDL is unlocked or freed only when no I/O uses it.", "CONTRACTS D.20")
define_rule("mdl.changed_while_in_use", "Buffer changed under a pending request", E, _DV,
            "While a send is pending the MDL chain described by the WSK_BUF stays locked and "
            "unchanged.", "CONTRACTS C.15")
define_rule("mdl.leak", "MDL leaked at unload", E, BugCheck.DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS,
            "No MDL is left allocated or locked when the driver unloads.", "CONTRACTS D.20")
define_rule("mdl.use_after_free", "MDL used after IoFreeMdl", E, _DV,
            "An MDL is never used, passed or freed again after IoFreeMdl.", "CONTRACTS D.20")
define_rule("mdl.not_locked", "MDL pages not locked", E, _DV,
            "An MDL used for I/O or mapped describes locked pages (MmProbeAndLockPages) or "
            "nonpaged memory (MmBuildMdlForNonPagedPool).", "CONTRACTS C.15; WDK WSK_BUF")
define_rule("mdl.bad_range", "WSK_BUF outside its MDL chain", E, _DV,
            "WSK_BUF.Offset lies within the first MDL of the chain and Offset + Length within the "
            "bytes the chain describes.", "WDK WSK_BUF")
define_rule("mdl.misuse", "MDL lock state misused", E, _DV,
            "MmProbeAndLockPages is not called on locked pages, MmUnlockPages only undoes "
            "MmProbeAndLockPages, an MDL is unlocked before IoFreeMdl, and "
            "MmBuildMdlForNonPagedPool describes nonpaged memory only.",
            "WDK MmProbeAndLockPages, MmUnlockPages, MmBuildMdlForNonPagedPool")

# --- rundown protection, work items, threads
define_rule("rundown.release_without_acquire", "Rundown released without acquire", E, _DV,
            "ExReleaseRundownProtection pairs with a successful ExAcquireRundownProtection.",
            "WDK ExReleaseRundownProtection")
define_rule("workitem.misuse", "Work item misused", E, _IOV,
            "An IO_WORKITEM is not queued twice at once and not freed while queued.",
            "WDK IoQueueWorkItem")
define_rule("thread.leak", "System thread still running at unload", E,
            BugCheck.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS,
            "A driver waits for its system threads to exit before it unloads.",
            "WDK PsCreateSystemThread")

define_rule("kernel.unhandled_exception", "Exception not handled in driver code", E,
            BugCheck.KMODE_EXCEPTION_NOT_HANDLED,
            "An exception raised in kernel-mode code and not handled stops the machine.",
            "WDK Bug Check 0x1E")

# --- liveness (D.22)
define_rule("kernel.deadlock", "Deadlock", E, _DV,
            "Waiting for something only a blocked context can signal is a deadlock.",
            "CONTRACTS D.22")
define_rule("driver.unload_hang", "Unload never returns", E, BugCheck.DRIVER_POWER_STATE_FAILURE,
            "DriverUnload must return: everything it waits for must be able to finish.",
            "CONTRACTS D.22")
define_rule("machine.step_budget", "Step budget exceeded", E, _DV,
            "A context that never waits starves the machine (a busy loop, or a spin that can "
            "never end).", "CONTRACTS D.22")
