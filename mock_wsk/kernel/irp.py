"""IRPs: IoAllocateIrp, IoCompleteRequest with completion routines, cancel, IoCallDriver.

The model keeps the parts of the I/O manager a WSK client depends on, and checks the client's
obligations (CONTRACTS C.17, D.21):

* Stack locations are numbered 1..StackCount as in the WDK; a fresh (or reused) IRP has
  ``CurrentLocation == StackCount + 1``; ``IoSetCompletionRoutine`` writes the *next* location,
  and whoever receives the IRP (``IoCallDriver``, or the WSK provider through :func:`irp_begin`)
  moves down one. Completion walks back up, calling each location's completion routine at the
  completing context's IRQL. At the top of a driver-allocated IRP the routine gets
  ``DeviceObject=None`` and must return STATUS_MORE_PROCESSING_REQUIRED: nobody else can finish
  an IRP the I/O manager did not build (``irp.completion_return``).
* The mock also tracks a lifecycle ``state``: ``allocated`` (fresh or after IoReuseIrp) ->
  ``pending`` (a request holds it; ``owner`` says which) -> ``completed`` -> ``allocated`` again
  (IoReuseIrp) or ``freed`` (IoFreeIrp). The rules are checks on that state.
* A freed IRP's ``__class__`` becomes :class:`FreedIRP`, so a driver reading ``Irp.IoStatus``
  after IoFreeIrp is reported at its own line, at no cost while the IRP is alive.

Provider-side helpers (:func:`irp_begin`, :func:`irp_complete`, :func:`irp_set_cancel_handler`)
are for the mock's WSK/TDI code, never for drivers.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, Generic, TypeVar, overload

from mock_wsk import machine as _machine
from mock_wsk.constants import DISPATCH_LEVEL, PASSIVE_LEVEL
from mock_wsk.kernel import rules as _rules  # noqa: F401  (registers the rules used here)
from mock_wsk.kernel.faults import AllocationFaults
from mock_wsk.kernel.irql import check_max_irql
from mock_wsk.kernel.pool import Site, caller_site, site_location, site_text
from mock_wsk.kernel.sync import (
    IO_NO_INCREMENT,  # wdm.h; defined once, in sync
    KSPIN_LOCK,
    KeAcquireSpinLock,
    KeReleaseSpinLock,
    KeSetEvent,
)
from mock_wsk.kernel.types import value_of
from mock_wsk.machine import Machine
from mock_wsk.status import (
    NT_SUCCESS,
    STATUS_CANCELLED,
    STATUS_INVALID_DEVICE_REQUEST,
    STATUS_INVALID_DEVICE_STATE,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_SUCCESS,
    status_name,
)
from mock_wsk.verifier import code_location

# Major function codes (wdm.h).
IRP_MJ_CREATE = 0x00
IRP_MJ_CLOSE = 0x02
IRP_MJ_READ = 0x03
IRP_MJ_WRITE = 0x04
IRP_MJ_DEVICE_CONTROL = 0x0E
IRP_MJ_INTERNAL_DEVICE_CONTROL = 0x0F
IRP_MJ_CLEANUP = 0x12
IRP_MJ_MAXIMUM_FUNCTION = 0x1B

# IO_STACK_LOCATION.Control bits (wdm.h).
SL_PENDING_RETURNED = 0x01
SL_ERROR_RETURNED = 0x02
SL_INVOKE_ON_CANCEL = 0x20
SL_INVOKE_ON_SUCCESS = 0x40
SL_INVOKE_ON_ERROR = 0x80


_SL_INVOKE_ALWAYS = SL_INVOKE_ON_SUCCESS | SL_INVOKE_ON_ERROR | SL_INVOKE_ON_CANCEL

IO_NETWORK_INCREMENT = 2  # wdm.h

# Lifecycle states (mock bookkeeping, not WDK fields).
ALLOCATED, PENDING, COMPLETED, FREED = "allocated", "pending", "completed", "freed"

CompletionRoutine = Callable[[Any, "IRP", Any], int]

# What ``from mock_wsk.kernel.irp import *`` gives a driver stub: the WDK names only (the
# provider-side irp_* helpers and the tracker are imported by name).
__all__ = [
    "IRP_MJ_CREATE", "IRP_MJ_CLOSE", "IRP_MJ_READ", "IRP_MJ_WRITE", "IRP_MJ_DEVICE_CONTROL",
    "IRP_MJ_INTERNAL_DEVICE_CONTROL", "IRP_MJ_CLEANUP", "IRP_MJ_MAXIMUM_FUNCTION",
    "SL_PENDING_RETURNED", "SL_ERROR_RETURNED", "SL_INVOKE_ON_CANCEL", "SL_INVOKE_ON_SUCCESS",
    "SL_INVOKE_ON_ERROR", "IO_NO_INCREMENT", "IO_NETWORK_INCREMENT", "IO_STATUS_BLOCK",
    "IO_STACK_LOCATION", "IRP", "IoGetCurrentIrpStackLocation", "IoGetNextIrpStackLocation",
    "IoSetNextIrpStackLocation", "IoSkipCurrentIrpStackLocation",
    "IoCopyCurrentIrpStackLocationToNext", "IoMarkIrpPending", "IoSetCompletionRoutine",
    "IoAllocateIrp", "IoFreeIrp", "IoReuseIrp", "IoBuildDeviceIoControlRequest", "IoCallDriver",
    "IoCompleteRequest", "IoSetCancelRoutine", "IoAcquireCancelSpinLock",
    "IoReleaseCancelSpinLock", "IoCancelIrp",
]


class IO_STATUS_BLOCK:
    __slots__ = ("Status", "Information")

    def __init__(self, Status: int = STATUS_SUCCESS, Information: int = 0) -> None:
        self.Status = Status
        self.Information = Information

    def __repr__(self) -> str:
        return f"IO_STATUS_BLOCK({status_name(self.Status)}, {self.Information})"


class IO_STACK_LOCATION:
    __slots__ = ("MajorFunction", "MinorFunction", "Flags", "Control", "_parameters",
                 "DeviceObject", "FileObject", "CompletionRoutine", "Context")

    def __init__(self) -> None:
        # ``Parameters`` is made on first access: most locations (a WSK client's own IRP)
        # never use it, and an idle connection's IRP must stay small.
        self._parameters: Any = None
        self.MajorFunction = self.MinorFunction = self.Flags = self.Control = 0
        self.DeviceObject: Any = None
        self.FileObject: Any = None
        self.CompletionRoutine: CompletionRoutine | None = None
        self.Context: Any = None

    @property
    def Parameters(self) -> Any:
        parameters = self._parameters
        if parameters is None:
            parameters = self._parameters = SimpleNamespace()
        return parameters

    @Parameters.setter
    def Parameters(self, value: Any) -> None:
        self._parameters = value

    def __repr__(self) -> str:
        return (f"<IO_STACK_LOCATION MJ=0x{self.MajorFunction:02X} MN=0x{self.MinorFunction:02X}"
                f" Control=0x{self.Control:02X}>")


# Mock-internal IRP fields a freed IRP may still be asked about (the provider's bookkeeping,
# the tracker, reprs) without it counting as the driver touching freed memory.
_INTERNAL = frozenset({
    "state", "owner", "completions", "serial", "driver_allocated", "alloc_location", "_site",
    "_holder", "_cancel_handler", "_freed_while_pending", "_freed_at", "_reported",
    "describe", "StackCount",
    # the storage behind the lazy AssociatedIrp and Tail and the _ColdField fields (the
    # driver-visible names report)
    "_associated", "_tail", "_cold",
})


_T = TypeVar("_T")


class _ColdField(Generic[_T]):
    """An IRP field that lives in the IRP's ``_cold`` dict (made on the first write) and reads
    as ``default`` while absent: IoReuseIrp drops the dict instead of resetting each field."""

    __slots__ = ("name", "default")

    def __init__(self, default: _T) -> None:
        self.name = ""
        self.default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, irp: None, owner: type | None = None) -> _ColdField[_T]: ...

    @overload
    def __get__(self, irp: IRP, owner: type | None = None) -> _T: ...

    def __get__(self, irp: IRP | None, owner: type | None = None) -> _T | _ColdField[_T]:
        if irp is None:
            return self
        cold = irp._cold
        if cold is None:
            return self.default
        value: _T = cold.get(self.name, self.default)
        return value

    def __set__(self, irp: IRP, value: _T) -> None:
        cold = irp._cold
        if cold is None:
            cold = irp._cold = {}
        cold[self.name] = value


class IRP:
    """``IRP``. WDK fields keep their names; ``Tail.Overlay.DriverContext`` is the four
    pointers a driver may use while it owns the IRP."""

    # Slots are laid out in this order: what a request (IoReuseIrp, the provider taking and
    # completing it) touches comes first, and what it never does (type, serial, allocation
    # site...) last: with thousands of connections each request's IRP is cold.
    __slots__ = (
        "state", "CurrentLocation", "StackCount", "stack", "IoStatus", "Cancel",
        "PendingReturned", "owner", "_holder", "_cancel_handler", "completions", "MdlAddress",
        "_cold", "_associated", "_tail", "_freed_while_pending",
        # never touched by a request
        "Type", "serial", "driver_allocated", "_site", "_freed_at", "_reported",
    )

    # WDK fields a WSK client's requests never touch: kept in ``_cold`` (made by the first
    # write), so that IoReuseIrp resets them all at once and an idle connection's IRP is 56
    # bytes smaller. They read as IoInitializeIrp leaves them until written.
    Size: _ColdField[int] = _ColdField(0)
    Flags: _ColdField[int] = _ColdField(0)
    RequestorMode: _ColdField[int] = _ColdField(0)
    CancelIrql: _ColdField[int] = _ColdField(PASSIVE_LEVEL)
    CancelRoutine: _ColdField[Any] = _ColdField(None)
    UserIosb: _ColdField[IO_STATUS_BLOCK | None] = _ColdField(None)
    UserEvent: _ColdField[Any] = _ColdField(None)
    UserBuffer: _ColdField[Any] = _ColdField(None)

    def __init__(self, StackSize: int, serial: int = 0, site: Site | None = None,
                 driver_allocated: bool = True) -> None:
        self.Type = 6  # IO_TYPE_IRP
        self.StackCount = StackSize
        # A tuple: the locations are fixed for the IRP's life, and it is smaller than a list.
        # One location (a driver's IRP to WSK) without the comprehension's frame.
        self.stack = ((IO_STACK_LOCATION(),) if StackSize == 1
                      else tuple([IO_STACK_LOCATION() for _ in range(StackSize)]))
        self.serial = serial
        self.driver_allocated = driver_allocated
        self._site = site
        self.completions = 0
        self._freed_at: Site | None = None
        self._reported: set[tuple[str, int]] | None = None
        # AssociatedIrp and Tail (three namespaces and a list, ~750 bytes) are made on first
        # access: a WSK client rarely touches them, and 10,000 idle connections each hold an
        # IRP. Until then they read as freshly initialized, which is all _initialize resets.
        self._associated: SimpleNamespace | None = None
        self._tail: SimpleNamespace | None = None
        self._cold: dict[str, Any] | None = None  # see _ColdField
        self.IoStatus = IO_STATUS_BLOCK()
        # What _initialize resets, as it leaves it, without its walk over locations that are
        # fresh already (one IRP per synchronous WSK call in most drivers).
        self.MdlAddress: Any = None
        self.PendingReturned = False
        self.CurrentLocation = StackSize + 1
        self.Cancel = False
        self.state = ALLOCATED
        self.owner = ""
        self._holder = ""  # "provider" or "dispatch" while pending
        self._cancel_handler: Callable[[IRP], None] | None = None
        self._freed_while_pending = False

    @property
    def AssociatedIrp(self) -> SimpleNamespace:
        associated = self._associated
        if associated is None:
            associated = self._associated = SimpleNamespace(SystemBuffer=None, MasterIrp=None)
        return associated

    @AssociatedIrp.setter
    def AssociatedIrp(self, value: SimpleNamespace) -> None:
        self._associated = value

    @property
    def Tail(self) -> SimpleNamespace:
        tail = self._tail
        if tail is None:
            tail = self._tail = SimpleNamespace(Overlay=SimpleNamespace(
                DriverContext=[None] * 4, Thread=None, ListEntry=None))
        return tail

    @Tail.setter
    def Tail(self, value: SimpleNamespace) -> None:
        self._tail = value

    def _initialize(self, status: int) -> None:
        """IoInitializeIrp: everything but the allocation bookkeeping starts over (in place:
        IoReuseIrp runs once per request, so it allocates nothing)."""
        self.MdlAddress = None
        if self._cold is not None:  # Size, Flags, RequestorMode, Cancel*, User*: _ColdField
            self._cold = None
        associated = self._associated
        if associated is not None:  # made by a first access: reset it as IoInitializeIrp does
            associated.SystemBuffer = associated.MasterIrp = None
        iosb = self.IoStatus
        iosb.Status = status
        iosb.Information = 0
        self.PendingReturned = False
        self.CurrentLocation = self.StackCount + 1
        self.Cancel = False
        tail = self._tail
        if tail is not None:
            overlay = tail.Overlay
            overlay.DriverContext[:] = (None, None, None, None)
            overlay.Thread = overlay.ListEntry = None
        # Each location as IO_STACK_LOCATION() makes it (in place: once per request).
        for location in self.stack:
            location.MajorFunction = location.MinorFunction = location.Flags = 0
            location.Control = 0
            parameters = location._parameters
            if parameters is not None and parameters.__dict__:
                location._parameters = None  # a fresh, empty one on the next access
            location.DeviceObject = location.FileObject = None
            location.CompletionRoutine = location.Context = None
        self.state = ALLOCATED
        self.owner = ""
        self._holder = ""
        self._cancel_handler = None
        self._freed_while_pending = False

    @property
    def alloc_location(self) -> Any:
        return site_location(self._site)

    def describe(self) -> str:
        where = f" in {self.owner}" if self.owner else ""
        return (f"IRP #{self.serial} ({self.state}{where}; allocated at {site_text(self._site)})")

    def __repr__(self) -> str:
        return f"<IRP #{self.serial} {self.state} {self.owner}>"


class FreedIRP(IRP):
    """An IRP after IoFreeIrp: reading or writing its fields is ``irp.use_after_free``."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        if name not in _INTERNAL and not name.startswith("__"):
            _touch_freed(self, f"read of Irp.{name}")
        return object.__getattribute__(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _INTERNAL:
            _touch_freed(self, f"write of Irp.{name}")
        object.__setattr__(self, name, value)


def _touch_freed(irp: IRP, how: str) -> None:
    m = _machine.active
    if m is None:
        return
    site = caller_site()
    key = (site[0] if site else "", site[1] if site else 0)
    seen = object.__getattribute__(irp, "_reported")
    if seen is None:
        seen = set()
        object.__setattr__(irp, "_reported", seen)
    if key in seen:
        return
    seen.add(key)
    freed_at = object.__getattribute__(irp, "_freed_at")
    m.report("irp.use_after_free",
             f"{how} of IRP #{irp.serial} after IoFreeIrp at {site_text(freed_at)}",
             objects={"irp": irp.describe()}, location=site_location(site))


# ---------------------------------------------------------------------- the tracker


class IrpTracker:
    """Per-machine IRP table: live IRPs for the unload check, the cancel spin lock, faults."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.live: dict[int, IRP] = {}
        self.cancel_lock = KSPIN_LOCK("IoCancelSpinLock")
        self._serial = 0
        self._fail = 0
        self.low_resources = machine.subsystem(AllocationFaults)

    def fail_allocations(self, count: int) -> None:
        """The next ``count`` IoAllocateIrp calls return NULL."""
        self._fail += max(0, count)

    def new_irp(self, stack_size: int, site: Site | None, driver_allocated: bool) -> IRP | None:
        low = self.low_resources
        if self._fail or (driver_allocated and low.countdown and low.this_one_fails()):
            if self._fail:
                self._fail -= 1
            self.machine.emit("irp.fail")
            return None
        self._serial += 1
        irp = IRP(stack_size, self._serial, site, driver_allocated)
        self.live[self._serial] = irp
        if self.machine.trace is not None:
            self.machine.emit("irp.alloc", self._serial, stack_size)
        return irp

    def pending(self) -> list[IRP]:
        return [irp for irp in self.live.values() if irp.state == PENDING]

    def check_unload(self) -> None:
        m = self.machine
        for irp in list(self.live.values()):
            where = site_location(irp._site)
            if irp.state == PENDING:
                m.report("irp.pending_at_unload",
                         f"IRP #{irp.serial} still pending in {irp.owner or 'a driver'} at unload",
                         objects={"irp": irp.describe()}, location=where)
            else:
                m.report("irp.leak", f"IRP #{irp.serial} ({irp.state}) never freed with IoFreeIrp",
                         objects={"irp": irp.describe()}, location=where)


def _release(m: Machine, irp: IRP, site: Site | None) -> None:
    """Forget an IRP and make further driver access to it a reported use after free."""
    m.subsystem(IrpTracker).live.pop(irp.serial, None)
    irp.state = FREED
    irp._freed_at = site
    object.__setattr__(irp, "__class__", FreedIRP)
    if m.trace is not None:
        m.emit("irp.free", irp.serial)


# ---------------------------------------------------------------------- stack locations


def IoGetCurrentIrpStackLocation(Irp: IRP) -> IO_STACK_LOCATION | None:
    index = Irp.CurrentLocation
    return Irp.stack[index - 1] if 1 <= index <= Irp.StackCount else None


def IoGetNextIrpStackLocation(Irp: IRP) -> IO_STACK_LOCATION | None:
    index = Irp.CurrentLocation - 1
    return Irp.stack[index - 1] if 1 <= index <= Irp.StackCount else None


def IoSetNextIrpStackLocation(Irp: IRP) -> None:
    Irp.CurrentLocation -= 1


def IoSkipCurrentIrpStackLocation(Irp: IRP) -> None:
    Irp.CurrentLocation += 1


def IoCopyCurrentIrpStackLocationToNext(Irp: IRP) -> None:
    """Everything but the completion routine, its context and the control flags (wdm.h)."""
    current, following = IoGetCurrentIrpStackLocation(Irp), IoGetNextIrpStackLocation(Irp)
    if current is None or following is None:
        _no_stack_location(_machine.active_machine(), Irp, "IoCopyCurrentIrpStackLocationToNext")
        return
    following.MajorFunction = current.MajorFunction
    following.MinorFunction = current.MinorFunction
    following.Flags = current.Flags
    following.Parameters = SimpleNamespace(**vars(current.Parameters))
    following.DeviceObject = current.DeviceObject
    following.FileObject = current.FileObject
    following.CompletionRoutine = None
    following.Context = None
    following.Control = 0


def IoMarkIrpPending(Irp: IRP) -> None:
    current = IoGetCurrentIrpStackLocation(Irp)
    if current is None:
        # At the top of a driver's own IRP there is no current location: wdm.h's macro would
        # write past the end of the IRP (a copy-pasted "if (Irp->PendingReturned)
        # IoMarkIrpPending(Irp)" in the completion routine of a driver-allocated IRP).
        _no_stack_location(_machine.active_machine(), Irp, "IoMarkIrpPending")
        return
    current.Control |= SL_PENDING_RETURNED


def _no_stack_location(m: Machine, irp: IRP, ddi: str) -> None:
    m.report("irp.no_stack_location",
             f"{ddi}: IRP #{irp.serial} has no such stack location (CurrentLocation="
             f"{irp.CurrentLocation}, StackCount={irp.StackCount})",
             objects={"irp": irp.describe()}, params=(irp.CurrentLocation, irp.StackCount, 0))


def IoSetCompletionRoutine(Irp: IRP, CompletionRoutine: CompletionRoutine | None, Context: Any,
                           InvokeOnSuccess: bool, InvokeOnError: bool,
                           InvokeOnCancel: bool) -> None:
    m = _machine.active or _machine.active_machine()
    ctx = m.current
    if m.preemptive or ctx is None or ctx.irql < DISPATCH_LEVEL:
        m.preemption_point()
    else:
        # Fifo at DISPATCH_LEVEL (a completion routine re-arming its IRP, a DPC): all the
        # preemption point would do is count the step (as in KeSetTimer).
        steps = m.steps = m.steps + 1
        if steps > m.step_budget:
            m.preemption_point()
    # A live IRP's class is exactly IRP (a freed one is FreedIRP): _alive's answer, no call.
    if type(Irp) is not IRP and not _alive(m, Irp, "IoSetCompletionRoutine"):
        return
    index = Irp.CurrentLocation - 2  # IoGetNextIrpStackLocation, inlined (0-based)
    if not 0 <= index < Irp.StackCount:
        _no_stack_location(m, Irp, "IoSetCompletionRoutine")
        return
    following = Irp.stack[index]
    following.CompletionRoutine = CompletionRoutine
    following.Context = Context
    if InvokeOnSuccess and InvokeOnError and InvokeOnCancel:  # the usual (TRUE, TRUE, TRUE)
        following.Control = _SL_INVOKE_ALWAYS
    else:
        following.Control = ((SL_INVOKE_ON_SUCCESS if InvokeOnSuccess else 0)
                             | (SL_INVOKE_ON_ERROR if InvokeOnError else 0)
                             | (SL_INVOKE_ON_CANCEL if InvokeOnCancel else 0))


def _alive(m: Machine, irp: Any, ddi: str) -> bool:
    """False (and reported) when ``irp`` was freed; TypeError when it is not an IRP at all."""
    if not isinstance(irp, IRP):
        raise TypeError(f"{ddi} needs an IRP, got {irp!r}")
    if irp.state != FREED:
        return True
    site = caller_site()
    m.report("irp.use_after_free",
             f"{ddi} on IRP #{irp.serial}, freed at {site_text(irp._freed_at)}",
             objects={"irp": irp.describe()}, location=site_location(site))
    return False


# ---------------------------------------------------------------------- allocation


def IoAllocateIrp(StackSize: int, ChargeQuota: bool) -> IRP | None:
    m = _machine.active or _machine.active_machine()
    m.preemption_point()
    ctx = m.current
    if ctx is not None and ctx.irql > DISPATCH_LEVEL:  # check_max_irql's test, inlined
        check_max_irql(m, "IoAllocateIrp", DISPATCH_LEVEL)
    if StackSize < 0:
        raise ValueError(f"IoAllocateIrp: StackSize must not be negative ({StackSize})")
    return m.subsystem(IrpTracker).new_irp(StackSize, caller_site(), True)


def IoFreeIrp(Irp: IRP) -> None:
    m = _machine.active or _machine.active_machine()
    m.preemption_point()
    ctx = m.current
    if ctx is not None and ctx.irql > DISPATCH_LEVEL:  # check_max_irql's test, inlined
        check_max_irql(m, "IoFreeIrp", DISPATCH_LEVEL)
    site = caller_site()
    if not isinstance(Irp, IRP):
        raise TypeError(f"IoFreeIrp needs an IRP, got {Irp!r}")
    if Irp.state == FREED:
        m.report("irp.use_after_free",
                 f"IoFreeIrp of IRP #{Irp.serial}, already freed at {site_text(Irp._freed_at)}",
                 objects={"irp": Irp.describe()}, location=site_location(site))
        return
    if Irp.state == PENDING:
        if Irp.Cancel:
            m.report("irp.freed_after_cancel_before_completion",
                     f"IoFreeIrp of cancelled IRP #{Irp.serial} before {Irp.owner or 'its owner'}"
                     " completed it (its completion routine has not run)",
                     objects={"irp": Irp.describe()}, location=site_location(site))
        else:
            m.report("irp.free_while_pending",
                     f"IoFreeIrp of IRP #{Irp.serial} while {Irp.owner or 'a driver'} holds it",
                     objects={"irp": Irp.describe()}, location=site_location(site))
        Irp._freed_while_pending = True
    _release(m, Irp, site)


def IoReuseIrp(Irp: IRP, Iostatus: int) -> None:
    """Reinitialise a completed IRP for another request (stack locations are cleared: set the
    completion routine again)."""
    m = _machine.active or _machine.active_machine()
    ctx = m.current
    if m.preemptive or ctx is None or ctx.irql < DISPATCH_LEVEL:
        m.preemption_point()
        ctx = m.current
    else:
        # Fifo at DISPATCH_LEVEL (a completion routine reusing its IRP): all the preemption
        # point would do is count the step (as in KeSetTimer).
        steps = m.steps = m.steps + 1
        if steps > m.step_budget:
            m.preemption_point()
    if ctx is not None and ctx.irql > DISPATCH_LEVEL:  # check_max_irql's test, inlined
        check_max_irql(m, "IoReuseIrp", DISPATCH_LEVEL)
    if type(Irp) is not IRP and not _alive(m, Irp, "IoReuseIrp"):
        return
    if Irp.state == PENDING:
        m.report("irp.reuse_without_ioreuseirp",
                 f"IoReuseIrp of IRP #{Irp.serial} while it is still pending in {Irp.owner}",
                 objects={"irp": Irp.describe()})
        return
    Irp._initialize(Iostatus)


def IoBuildDeviceIoControlRequest(IoControlCode: int, DeviceObject: Any, InputBuffer: Any,
                                  InputBufferLength: int, OutputBuffer: Any,
                                  OutputBufferLength: int, InternalDeviceIoControl: bool,
                                  Event: Any, IoStatusBlock: IO_STATUS_BLOCK | None) -> IRP | None:
    """A threaded IRP (TdiBuildInternalDeviceControlIrp uses this): when it completes, the I/O
    manager copies the status to ``IoStatusBlock``, signals ``Event`` and frees the IRP."""
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "IoBuildDeviceIoControlRequest", PASSIVE_LEVEL)
    stack_size = int(getattr(DeviceObject, "StackSize", 1) or 1)
    irp = m.subsystem(IrpTracker).new_irp(stack_size, caller_site(), False)
    if irp is None:
        return None
    irp.UserEvent = Event
    irp.UserIosb = IoStatusBlock
    irp.UserBuffer = OutputBuffer
    irp.AssociatedIrp.SystemBuffer = InputBuffer
    following = IoGetNextIrpStackLocation(irp)
    assert following is not None
    following.MajorFunction = (IRP_MJ_INTERNAL_DEVICE_CONTROL if InternalDeviceIoControl
                               else IRP_MJ_DEVICE_CONTROL)
    following.Parameters = SimpleNamespace(DeviceIoControl=SimpleNamespace(
        IoControlCode=IoControlCode, InputBufferLength=InputBufferLength,
        OutputBufferLength=OutputBufferLength, Type3InputBuffer=InputBuffer))
    return irp


# ---------------------------------------------------------------------- sending


def _new_request_ok(m: Machine, irp: IRP, taker: str) -> bool:
    """Can ``irp`` start a new request (or be passed on by the dispatch routine holding it)?"""
    state = irp.state
    if state == ALLOCATED or (state == PENDING and irp._holder == "dispatch"):
        return True
    if state == PENDING:
        why = f"it is still pending in {irp.owner}"
    else:
        why = "it completed and was not reinitialised with IoReuseIrp"
    m.report("irp.reuse_without_ioreuseirp", f"IRP #{irp.serial} passed to {taker}, but {why}",
             objects={"irp": irp.describe()})
    return False


def _start(irp: IRP, owner: str, holder: str) -> None:
    if irp.state == ALLOCATED:
        irp.Cancel = False
        irp.PendingReturned = False
        irp.IoStatus.Status = STATUS_SUCCESS
        irp.IoStatus.Information = 0
    irp.state = PENDING
    irp.owner = owner
    irp._holder = holder


def IoCallDriver(DeviceObject: Any, Irp: IRP) -> int:
    """Hand the IRP to the driver below: its next stack location becomes current.

    A mock provider device may carry a python ``dispatch(DeviceObject, Irp)`` callable instead
    of a driver's MajorFunction table; it takes the IRP with ``irp_begin(..., advance=False)``.
    """
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "IoCallDriver", DISPATCH_LEVEL)
    if not _alive(m, Irp, "IoCallDriver"):
        return STATUS_INVALID_DEVICE_STATE
    dispatch = getattr(DeviceObject, "dispatch", None)
    if not callable(dispatch) and not _new_request_ok(m, Irp, "IoCallDriver"):
        return STATUS_INVALID_DEVICE_STATE
    if Irp.CurrentLocation <= 1:
        _no_stack_location(m, Irp, "IoCallDriver")
        return STATUS_INVALID_DEVICE_STATE
    Irp.CurrentLocation -= 1
    current = Irp.stack[Irp.CurrentLocation - 1]
    current.DeviceObject = DeviceObject
    if callable(dispatch):
        return dispatch(DeviceObject, Irp)
    driver = DeviceObject.DriverObject
    _start(Irp, f"{driver.DriverName}", "dispatch")
    handler = driver.MajorFunction.get(current.MajorFunction)
    if handler is None:  # the I/O manager's IopInvalidDeviceRequest
        Irp.IoStatus.Status = STATUS_INVALID_DEVICE_REQUEST
        _complete(m, Irp)
        return STATUS_INVALID_DEVICE_REQUEST
    return handler(DeviceObject, Irp)


# ---------------------------------------------------------------------- completion


def _should_invoke(control: int, status: int, cancelled: bool) -> bool:
    if NT_SUCCESS(status):
        if control & SL_INVOKE_ON_SUCCESS:
            return True
    elif control & SL_INVOKE_ON_ERROR:
        return True
    return cancelled and bool(control & SL_INVOKE_ON_CANCEL)


def _complete(m: Machine, irp: IRP) -> None:
    """IoCompleteRequest's walk up the stack: run each location's completion routine until one
    returns STATUS_MORE_PROCESSING_REQUIRED; at the top, finish the IRP."""
    irp.completions += 1
    irp.state = COMPLETED
    irp.owner = ""
    irp._holder = ""
    irp._cancel_handler = None
    if m.trace is not None:
        m.emit("irp.complete", irp.serial, irp.IoStatus.Status, irp.IoStatus.Information)
    ran_top = None
    # Locals for the walk (one location for a driver's own IRP to WSK); CurrentLocation is
    # written before each routine runs and read back after it, which may move it.
    stack = irp.stack
    count = irp.StackCount
    index = irp.CurrentLocation
    while index <= count:
        location = stack[index - 1]
        control = location.Control
        pending = irp.PendingReturned = bool(control & SL_PENDING_RETURNED)
        routine: Any = location.CompletionRoutine  # None or callable; tested just below
        context = location.Context
        location.CompletionRoutine = location.Context = None
        location.Control = 0
        index += 1
        irp.CurrentLocation = index
        top = index > count
        if routine is None:
            invoke = False
        else:
            status = irp.IoStatus.Status
            cancelled = irp.Cancel or status == STATUS_CANCELLED
            if isinstance(status, int):  # _should_invoke, inlined: NT_SUCCESS is "bit 31 clear"
                invoke = (bool(control & SL_INVOKE_ON_SUCCESS) if not status & 0x80000000
                          else bool(control & SL_INVOKE_ON_ERROR)) or (
                              cancelled and bool(control & SL_INVOKE_ON_CANCEL))
            else:
                invoke = _should_invoke(control, status, cancelled)
        if invoke:
            device = None if top else stack[index - 1].DeviceObject
            result = routine(device, irp, context)
            if result == STATUS_MORE_PROCESSING_REQUIRED:
                if not top and irp.state == COMPLETED:
                    irp.state = PENDING  # the driver above took it back (e.g. to wait for it)
                    irp._holder = "dispatch"
                    irp.owner = getattr(routine, "__name__", "completion routine")
                return
            if top:
                ran_top = (routine, result)
                break
            if irp.state != COMPLETED:
                return  # freed or reused by the routine: nothing left to walk
            index = irp.CurrentLocation
        elif pending and not top:
            stack[index - 1].Control |= SL_PENDING_RETURNED
    _finish(m, irp, ran_top)


def _bad_completion_return(m: Machine, irp: IRP, routine: Any, result: Any) -> None:
    name = getattr(routine, "__name__", "completion routine")
    shown = status_name(result) if isinstance(result, int) else repr(result)
    m.report("irp.completion_return",
             f"{name} returned {shown} for driver-allocated IRP #{irp.serial}; it must return "
             "STATUS_MORE_PROCESSING_REQUIRED",
             objects={"irp": irp.describe()}, location=code_location(routine))


def _finish(m: Machine, irp: IRP, ran_top: tuple[Any, Any] | None) -> None:
    """The I/O manager's final processing once no routine kept the IRP."""
    if irp.driver_allocated:
        if ran_top is not None:
            _bad_completion_return(m, irp, *ran_top)
        else:
            m.report("irp.completion_return",
                     f"no completion routine ran for driver-allocated IRP #{irp.serial} completed"
                     f" with {status_name(irp.IoStatus.Status)}: set one with "
                     "IoSetCompletionRoutine(..., TRUE, TRUE, TRUE) that returns "
                     "STATUS_MORE_PROCESSING_REQUIRED",
                     objects={"irp": irp.describe()}, location=site_location(irp._site))
        return
    if irp.state != COMPLETED:
        return  # a routine freed or reused it
    if irp.UserIosb is not None:
        irp.UserIosb.Status = irp.IoStatus.Status
        irp.UserIosb.Information = irp.IoStatus.Information
    event = irp.UserEvent
    _release(m, irp, None)
    if event is not None:
        KeSetEvent(event, IO_NO_INCREMENT, False)


def _completable(m: Machine, irp: Any, ddi: str) -> bool:
    if not isinstance(irp, IRP):
        raise TypeError(f"{ddi} needs an IRP, got {irp!r}")
    if irp.state == FREED:
        if irp._freed_while_pending:
            return False  # already reported at IoFreeIrp; the completion has nowhere to go
        return _alive(m, irp, ddi)
    if irp.state == COMPLETED:
        m.report("irp.double_completion", f"{ddi} of IRP #{irp.serial}, already completed "
                 f"with {status_name(irp.IoStatus.Status)}", objects={"irp": irp.describe()},
                 params=(irp.serial, irp.completions, 0))
        return False
    return True


def IoCompleteRequest(Irp: IRP, PriorityBoost: int) -> None:
    """Complete with the status the driver put in ``Irp.IoStatus``."""
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "IoCompleteRequest", DISPATCH_LEVEL)
    if _completable(m, Irp, "IoCompleteRequest"):
        coverage = m.coverage
        if coverage is not None:
            m.cover_here(coverage, "kernel", "IRP", "IoCompleteRequest")
        _complete(m, Irp)


# ---------------------------------------------------------------------- cancel


def IoSetCancelRoutine(Irp: IRP, CancelRoutine: Any) -> Any:
    """Atomically exchange the cancel routine; returns the previous one."""
    m = _machine.active_machine()
    m.preemption_point()
    if not _alive(m, Irp, "IoSetCancelRoutine"):
        return None
    previous = Irp.CancelRoutine
    Irp.CancelRoutine = CancelRoutine
    return previous


def IoAcquireCancelSpinLock(Irql: Any) -> None:
    m = _machine.active_machine()
    KeAcquireSpinLock(m.subsystem(IrpTracker).cancel_lock, Irql)


def IoReleaseCancelSpinLock(Irql: Any) -> None:
    m = _machine.active_machine()
    KeReleaseSpinLock(m.subsystem(IrpTracker).cancel_lock, value_of(Irql))


def IoCancelIrp(Irp: IRP) -> bool:
    """Set ``Irp.Cancel`` and call whoever can cancel it: the provider's cancel handler, or
    the holder's cancel routine (called with the cancel spin lock held, which it releases with
    ``IoReleaseCancelSpinLock(Irp.CancelIrql)``). True if one was called."""
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "IoCancelIrp", DISPATCH_LEVEL)
    if not _alive(m, Irp, "IoCancelIrp"):
        return False
    Irp.Cancel = True
    m.emit("irp.cancel", Irp.serial, Irp.state)
    handler = Irp._cancel_handler
    coverage = m.coverage
    if coverage is not None:
        m.cover_here(coverage, "kernel", "IRP",
                     "cancel_provider" if Irp.state == PENDING and handler is not None
                     else "cancel_routine" if Irp.CancelRoutine is not None else "cancel_none")
    if Irp.state == PENDING and handler is not None:
        Irp._cancel_handler = None
        handler(Irp)
        return True
    routine = Irp.CancelRoutine
    if routine is None:
        return False
    Irp.CancelRoutine = None
    tracker = m.subsystem(IrpTracker)
    old = KeAcquireSpinLock(tracker.cancel_lock)
    Irp.CancelIrql = old
    current = IoGetCurrentIrpStackLocation(Irp)
    routine(current.DeviceObject if current is not None else None, Irp)
    return True


# ---------------------------------------------------------------------- provider side


def irp_begin(m: Machine, Irp: IRP, owner: str, advance: bool = True) -> bool:
    """The provider takes ``Irp`` for a new request (``owner``, e.g. ``"WskSend"``).

    Reports and returns False when the IRP cannot start a request (freed, still pending
    elsewhere, completed but not reused, no stack location left); the provider must then not
    complete it. Otherwise it is marked pending with ``Cancel`` and ``IoStatus`` reset, and its
    next stack location (where the caller's completion routine is) becomes current.
    ``advance=False`` is for a provider ``dispatch`` reached through IoCallDriver, which already
    moved the stack.
    """
    if type(Irp) is IRP and Irp.state == ALLOCATED and advance and Irp.CurrentLocation > 1:
        # The usual request on a fresh or reused IRP: every check below passes; _start inlined.
        Irp.CurrentLocation -= 1
        Irp.Cancel = False
        Irp.PendingReturned = False
        iosb = Irp.IoStatus
        iosb.Status = STATUS_SUCCESS
        iosb.Information = 0
        Irp.state = PENDING
        Irp.owner = owner
        Irp._holder = "provider"
        if m.trace is not None:
            m.emit("irp.begin", Irp.serial, owner)
        return True
    if not isinstance(Irp, IRP):
        raise TypeError(f"irp_begin needs an IRP (handle a NULL Irp before), got {Irp!r}")
    if Irp.state == FREED:
        return _alive(m, Irp, owner)
    if not _new_request_ok(m, Irp, owner):
        return False
    if advance:
        if Irp.CurrentLocation <= 1:
            _no_stack_location(m, Irp, owner)
            return False
        Irp.CurrentLocation -= 1
    _start(Irp, owner, "provider")
    if m.trace is not None:
        m.emit("irp.begin", Irp.serial, owner)
    return True


def irp_complete(m: Machine, Irp: IRP, status: int, information: int = 0,
                 pending_returned: bool = True) -> None:
    """The provider completes ``Irp``: sets IoStatus and PendingReturned (False when the
    request finished before the DDI returned), then runs completion as IoCompleteRequest does.
    Runs in the current context at its IRQL."""
    # _completable answers True without a report for a live IRP that is not completed.
    if (type(Irp) is not IRP or Irp.state == COMPLETED) and \
            not _completable(m, Irp, "IoCompleteRequest"):
        return
    iosb = Irp.IoStatus
    iosb.Status = status
    iosb.Information = information
    coverage = m.coverage
    if coverage is not None:
        m.cover_here(coverage, "kernel", "IRP",
                     "provider_complete_cancelled" if status == STATUS_CANCELLED
                     else "provider_complete_pended" if pending_returned
                     else "provider_complete_inline")
    index = Irp.CurrentLocation
    if 0 < index == Irp.StackCount and isinstance(status, int):
        # The usual request: one location left, the caller's own at the top of its IRP (a
        # driver's IRP to WSK). The steps below and _complete's walk for that one location,
        # without the loop, the call and the SL_PENDING_RETURNED bit written and read back.
        location = Irp.stack[index - 1]
        control = location.Control
        Irp.PendingReturned = pending_returned
        Irp.completions += 1
        Irp.state = COMPLETED
        Irp.owner = Irp._holder = ""
        Irp._cancel_handler = None
        if m.trace is not None:
            m.emit("irp.complete", Irp.serial, status, information)
        routine: Any = location.CompletionRoutine
        context = location.Context
        location.CompletionRoutine = location.Context = None
        location.Control = 0
        Irp.CurrentLocation = index + 1
        if routine is not None and (
                (control & SL_INVOKE_ON_SUCCESS if not status & 0x80000000
                 else control & SL_INVOKE_ON_ERROR)
                or ((Irp.Cancel or status == STATUS_CANCELLED)
                    and control & SL_INVOKE_ON_CANCEL)):
            result = routine(None, Irp, context)
            if result != STATUS_MORE_PROCESSING_REQUIRED:
                _finish(m, Irp, (routine, result))
            return
        _finish(m, Irp, None)
        return
    # IoGetCurrentIrpStackLocation, inlined
    current = Irp.stack[index - 1] if 1 <= index <= Irp.StackCount else None
    if current is not None:
        if pending_returned:
            current.Control |= SL_PENDING_RETURNED
        else:
            current.Control &= ~SL_PENDING_RETURNED
    Irp.PendingReturned = pending_returned
    _complete(m, Irp)


def irp_set_cancel_handler(Irp: IRP, fn: Callable[[IRP], None] | None) -> bool:
    """Install (or clear, with None) the provider's handler for IoCancelIrp on ``Irp``; it is
    called as ``fn(Irp)`` in the cancelling context, once, and the provider then completes the
    IRP with STATUS_CANCELLED (now or later). Returns False, installing nothing, if the IRP was
    already cancelled: the provider should complete it as cancelled itself."""
    if fn is not None and Irp.Cancel:
        return False
    Irp._cancel_handler = fn
    return True
