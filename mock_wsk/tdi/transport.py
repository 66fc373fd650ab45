"""A buffering TDI transport device shared by several clients (CONTRACTS E.23-24).

Unlike WSK, a TDI transport *buffers* sends: a ``TDI_SEND`` completes as soon as its data is
copied into the connection's send buffer, and the buffer drains into the TCP flow; space comes
back when the peer acknowledges data. The buffer is per connection, or one pool shared by every
connection of the transport (``sharing: shared``), which is how two clients come to race for
the same space.

* A ``TDI_SEND`` that fits is accepted at once (``STATUS_SUCCESS``, ``Information`` = length).
* One that does not fit, with ``TDI_SEND_NON_BLOCKING``, completes with
  ``STATUS_DEVICE_NOT_READY`` and the connection is *owed* a send-possible indication.
  Without the flag it pends until space frees (FIFO per connection), then completes.
* When acknowledgements free space, every owed connection of that buffer whose refused send now
  fits and which registered ``TDI_EVENT_SEND_POSSIBLE`` gets one
  ``ClientEventSendPossible(TdiEventContext, ConnectionContext, BytesAvailable)`` in a DPC
  (DISPATCH_LEVEL), all with the same ``BytesAvailable`` snapshot: a hint another client may
  consume first (E.24). ``send_possible: never`` / ``refuse`` model transports that do not
  indicate (see :mod:`mock_wsk.tdi.choices`).
* Checks: the handler returns ``STATUS_SUCCESS`` (``tdi.send_possible.bad_return``); a client
  refused with DEVICE_NOT_READY issues another ``TDI_SEND`` on that connection within the stall
  deadline (``tdi.sender_stalled``).

Conservation (tested as a property): per connection ``accepted == flow.queued + flow.inflight +
acked``, and each buffer's ``used`` stays within ``0..capacity``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from mock_wsk.constants import (
    TDI_EVENT_SEND_POSSIBLE,
    TDI_SEND,
    TDI_SEND_NON_BLOCKING,
    TDI_SET_EVENT_HANDLER,
)
from mock_wsk.fidelity import choose
from mock_wsk.kernel.driver import DEVICE_OBJECT, DRIVER_OBJECT, FILE_DEVICE_NETWORK
from mock_wsk.kernel.irp import (
    IRP,
    IRP_MJ_INTERNAL_DEVICE_CONTROL,
    IoGetCurrentIrpStackLocation,
    irp_begin,
    irp_complete,
)
from mock_wsk.machine import KDPC, Machine
from mock_wsk.status import (
    STATUS_CANCELLED,
    STATUS_DEVICE_NOT_READY,
    STATUS_INVALID_DEVICE_REQUEST,
    STATUS_INVALID_DEVICE_STATE,
    STATUS_INVALID_PARAMETER,
    STATUS_PENDING,
    STATUS_SUCCESS,
    status_name,
)
from mock_wsk.tdi import rules as _rules  # noqa: F401  (registers the rules used here)
from mock_wsk.tdi.choices import SEND_POSSIBLE_MODES
from mock_wsk.transport.link import FlowDriver, Links
from mock_wsk.verifier import SourceLocation, code_location, stub_location

TDI_CONNECTION_FILE = 2  # tdi.h: FILE_OBJECT.FsContext2 of a connection endpoint


@dataclass(slots=True)
class TdiSettings:
    """The transport's configuration (scenario section ``tdi:``)."""

    buffer_size: int = 64 * 1024
    sharing: str = "per_connection"  # or "shared": one pool for every connection
    send_possible: str = "indicate"  # see mock_wsk.tdi.choices: indicate | never | refuse
    stall_deadline_ns: int = 500_000_000

    def __post_init__(self) -> None:
        if self.buffer_size <= 0:
            raise ValueError(f"buffer_size must be > 0, got {self.buffer_size}")
        if self.sharing not in ("per_connection", "shared"):
            raise ValueError(f"sharing must be per_connection or shared, got {self.sharing!r}")
        if self.send_possible not in SEND_POSSIBLE_MODES:
            raise ValueError(f"send_possible must be one of {', '.join(SEND_POSSIBLE_MODES)}")
        if self.stall_deadline_ns <= 0:
            raise ValueError("stall_deadline must be > 0")


class SendBuffer:
    """Send-buffer space: one per connection, or one shared by all (``sharing: shared``)."""

    __slots__ = ("capacity", "used", "peak", "members")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self.peak = 0
        self.members: list[TdiConnection] = []

    @property
    def free(self) -> int:
        return self.capacity - self.used

    def take(self, length: int) -> None:
        self.used += length
        if self.used > self.peak:
            self.peak = self.used


class FILE_OBJECT:
    """The connection endpoint's file object: ``FsContext`` is the transport's connection."""

    __slots__ = ("DeviceObject", "FsContext", "FsContext2")

    def __init__(self, device: Any, connection: TdiConnection) -> None:
        self.DeviceObject = device
        self.FsContext = connection
        self.FsContext2 = TDI_CONNECTION_FILE

    def __repr__(self) -> str:
        return f"<FILE_OBJECT tdi connection #{self.FsContext.id}>"


class TdiConnection:
    """One connection endpoint: its flow, its share of a buffer, the send-possible state."""

    def __init__(self, transport: TdiTransport, conn_id: int, context: Any,
                 buffer: SendBuffer) -> None:
        self.transport = transport
        self.id = conn_id
        self.context = context  # the client's ConnectionContext
        self.buffer = buffer
        self.file_object = FILE_OBJECT(transport.device, self)
        self.flow: FlowDriver = transport.m.subsystem(Links).open(
            f"tdi.conn{conn_id}", on_complete=self._acked)
        self.handlers: dict[int, tuple[Any, Any]] = {}  # EventType -> (handler, context)
        self.blocked: deque[tuple[IRP, int]] = deque()  # blocking sends waiting for space
        self.dpc = KDPC(f"TdiSendPossible#{conn_id}")
        self.dpc.DeferredRoutine = self._indicate_dpc
        self.closed = False
        self.owed = False  # refused with DEVICE_NOT_READY, not yet indicated
        self.refused_length = 0
        self.indicated = False  # an indication was delivered; no TDI_SEND since
        self.refused_at: SourceLocation | None = None
        self.stall_reported = False
        self._send_ids = 0
        # Counters (metrics).
        self.sends = 0
        self.accepted = 0
        self.acked = 0
        self.device_not_ready = 0
        self.indications = 0
        self.race_lost = 0

    # ------------------------------------------------------------------ requests

    def send(self, irp: IRP, flags: int, length: int) -> int:
        """TDI_SEND: returns the status the dispatch routine returns."""
        t = self.transport
        self.sends += 1
        after_indication = self.indicated
        self.indicated = False
        if self.closed:
            return t.finish(irp, STATUS_INVALID_DEVICE_STATE)
        if length > self.buffer.capacity:
            return t.finish(irp, choose("tdi.send_larger_than_buffer"))
        if not self.blocked and self.buffer.free >= length:
            self._accept(length)
            return t.finish(irp, STATUS_SUCCESS, length)
        if flags & TDI_SEND_NON_BLOCKING:
            self.device_not_ready += 1
            t.device_not_ready += 1
            if after_indication:
                self.race_lost += 1  # the space announced to us was taken first (E.24)
            coverage = t.m.coverage
            if coverage is not None:
                t.m.cover_here(coverage, "tdi", "send",
                               "device_not_ready_after_indication" if after_indication
                               else "device_not_ready")
            self.owed = True
            self.refused_length = length
            self.refused_at = stub_location()
            t.m.call_later(t.settings.stall_deadline_ns, self._check_stall, self.sends)
            return t.finish(irp, STATUS_DEVICE_NOT_READY)
        self.blocked.append((irp, length))
        t.m.emit("tdi.send.blocked", self.id, length)
        return STATUS_PENDING

    def _accept(self, length: int) -> None:
        """Copy ``length`` bytes into the buffer; the flow carries them from now on."""
        self.buffer.take(length)
        self.accepted += length
        self.transport.bytes_accepted += length
        self._send_ids += 1
        self.flow.submit(self._send_ids, length)

    def set_event_handler(self, event_type: int, handler: Any, context: Any) -> int:
        t = self.transport
        if event_type == TDI_EVENT_SEND_POSSIBLE and t.settings.send_possible == "refuse":
            t.registrations_refused += 1
            return int(choose("tdi.refuse_status"))
        if handler is None:
            self.handlers.pop(event_type, None)
        else:
            self.handlers[event_type] = (handler, context)
        return STATUS_SUCCESS

    def close(self) -> None:
        """Graceful: buffered data still drains; blocked sends complete as cancelled."""
        if self.closed:
            return
        self.closed = True
        self.owed = False
        self.handlers.clear()
        m = self.transport.m
        while self.blocked:
            irp, _ = self.blocked.popleft()
            irp_complete(m, irp, STATUS_CANCELLED, 0, pending_returned=True)

    # ------------------------------------------------------------------ the flow's side

    def _acked(self, send_id: int, length: int) -> None:
        """System context: the peer acknowledged one buffered send; its space is free."""
        self.buffer.used -= length
        self.acked += length
        self.transport.bytes_acked += length
        self.transport.space_freed(self.buffer)

    def _check_stall(self, sends_at_refusal: int) -> None:
        if self.closed or self.stall_reported or self.sends != sends_at_refusal:
            return
        self.stall_reported = True
        t = self.transport
        t.m.report(
            "tdi.sender_stalled",
            f"connection #{self.id} got STATUS_DEVICE_NOT_READY and issued no TDI_SEND for "
            f"{t.settings.stall_deadline_ns // 1_000_000} ms (transport send_possible: "
            f"{t.settings.send_possible}, indications received: {self.indications})",
            objects={"connection": self.id, "send_possible": t.settings.send_possible,
                     "deadline_chosen_by": "fidelity:tdi.stall_deadline_ns"},
            location=self.refused_at,
        )

    def _indicate_dpc(self, dpc: KDPC, context: Any, bytes_available: int, _: Any) -> None:
        """DISPATCH_LEVEL: call the client's ClientEventSendPossible once."""
        entry = self.handlers.get(TDI_EVENT_SEND_POSSIBLE)
        if self.closed or entry is None:
            return
        handler, event_context = entry
        t = self.transport
        self.indications += 1
        t.send_possible_calls += 1
        self.indicated = True
        t.m.emit("tdi.send_possible", self.id, bytes_available)
        coverage = t.m.coverage
        if coverage is not None:
            t.m.cover_here(coverage, "tdi", "ClientEventSendPossible",
                           "delivered_refused_since" if self.owed else "delivered")
        result = handler(event_context, self.context, bytes_available)
        if result != STATUS_SUCCESS:
            shown = status_name(result) if isinstance(result, int) else repr(result)
            t.m.report(
                "tdi.send_possible.bad_return",
                f"{getattr(handler, '__name__', 'ClientEventSendPossible')} returned {shown}",
                objects={"connection": self.id}, location=code_location(handler),
            )


class TdiDeviceObject(DEVICE_OBJECT):
    """The transport's ``\\Device\\Tcp``: IoCallDriver hands IRPs to its ``dispatch``."""

    DeviceType: int
    StackSize: int
    dispatch: Any


# The requests a TDI client sends, by minor function, as call.return records name them.
_REQUEST_NAMES: dict[Any, str] = {TDI_SEND: "TDI_SEND",
                                  TDI_SET_EVENT_HANDLER: "TDI_SET_EVENT_HANDLER"}


class TdiTransport:
    """The machine's TDI transport device (``m.subsystem(TdiTransport)``)."""

    def __init__(self, m: Machine) -> None:
        self.m = m
        self.settings = TdiSettings()
        self.driver = DRIVER_OBJECT("Tcp")
        self.device = TdiDeviceObject(self.driver, None)
        self.device.DeviceType = FILE_DEVICE_NETWORK
        self.device.StackSize = 1
        self.device.dispatch = self.dispatch  # IoCallDriver routes mock devices here
        self.driver.DeviceObject = self.device
        self.connections: list[TdiConnection] = []
        self._shared: SendBuffer | None = None
        self.bytes_accepted = 0
        self.bytes_acked = 0
        self.device_not_ready = 0
        self.send_possible_calls = 0
        self.registrations_refused = 0

    def configure(self, settings: TdiSettings) -> None:
        if self.connections:
            raise RuntimeError("configure the TDI transport before the first connection")
        self.settings = settings

    def buffers(self) -> list[SendBuffer]:
        if self._shared is not None:
            return [self._shared]
        return [c.buffer for c in self.connections]

    def open_connection(self, context: Any) -> TdiConnection:
        if self.settings.sharing == "shared":
            if self._shared is None:
                self._shared = SendBuffer(self.settings.buffer_size)
            buffer = self._shared
        else:
            buffer = SendBuffer(self.settings.buffer_size)
        conn = TdiConnection(self, len(self.connections) + 1, context, buffer)
        buffer.members.append(conn)
        self.connections.append(conn)
        self.m.emit("tdi.open", conn.id)
        return conn

    # ------------------------------------------------------------------ IRPs

    def dispatch(self, device: Any, irp: IRP) -> int:
        """IRP_MJ_INTERNAL_DEVICE_CONTROL, reached through IoCallDriver. What IoCallDriver
        returns to the client is recorded as ``call.return`` (the request's name, e.g.
        ``TDI_SEND``, and the status), as WSK records its requests, so ``expect.statuses``
        and trace patterns see TDI requests too."""
        location = IoGetCurrentIrpStackLocation(irp)
        minor = location.MinorFunction if location is not None else None
        status = self._dispatch(irp, location)
        m = self.m
        if m.trace is not None:
            m.emit("call.return", _REQUEST_NAMES.get(minor, "IoCallDriver"), status)
        return status

    def _dispatch(self, irp: IRP, location: Any) -> int:
        m = self.m
        if location is None or not irp_begin(m, irp, "TDI", advance=False):
            return STATUS_INVALID_DEVICE_STATE
        conn = getattr(location.FileObject, "FsContext", None)
        if location.MajorFunction != IRP_MJ_INTERNAL_DEVICE_CONTROL or \
                not isinstance(conn, TdiConnection) or conn.transport is not self:
            return self.finish(irp, STATUS_INVALID_DEVICE_REQUEST)
        params = location.Parameters
        minor = location.MinorFunction
        if minor == TDI_SEND:
            length = int(getattr(params, "SendLength", 0))
            if length < 0 or (length and irp.MdlAddress is None):
                return self.finish(irp, STATUS_INVALID_PARAMETER)
            return conn.send(irp, int(getattr(params, "SendFlags", 0)), length)
        if minor == TDI_SET_EVENT_HANDLER:
            status = conn.set_event_handler(int(params.EventType), params.EventHandler,
                                            params.EventContext)
            return self.finish(irp, status)
        return self.finish(irp, STATUS_INVALID_DEVICE_REQUEST)  # TDI_INVALID_REQUEST

    def finish(self, irp: IRP, status: int, information: int = 0) -> int:
        """Complete inline (in the caller's context) and return the status."""
        irp_complete(self.m, irp, status, information, pending_returned=False)
        return status

    # ------------------------------------------------------------------ space frees

    def space_freed(self, buffer: SendBuffer) -> None:
        """System context, after an ack: serve blocked sends, then announce space (in DPCs)."""
        for conn in buffer.members:
            while conn.blocked and buffer.free >= conn.blocked[0][1]:
                irp, length = conn.blocked.popleft()
                conn._accept(length)
                self._in_dpc(f"TdiSendComplete#{conn.id}", self._complete_blocked, irp, length)
        if self.settings.send_possible != "indicate":
            return
        free = buffer.free
        for conn in buffer.members:
            if conn.owed and not conn.closed and free >= conn.refused_length and \
                    TDI_EVENT_SEND_POSSIBLE in conn.handlers:
                conn.owed = False
                self.m.queue_dpc(self._dpc_cpu(), conn.dpc, free, None)

    def _complete_blocked(self, irp: IRP, length: int) -> None:
        irp_complete(self.m, irp, STATUS_SUCCESS, length, pending_returned=True)

    def _dpc_cpu(self) -> int:
        m = self.m
        order = [c.index for c in m.cpus]
        return order[m.decide("cpu", order)]

    def _in_dpc(self, name: str, fn: Any, *args: Any) -> None:
        dpc = KDPC(name)
        dpc.DeferredRoutine = lambda _dpc, _ctx, _a1, _a2: fn(*args)
        self.m.queue_dpc(self._dpc_cpu(), dpc)

    # ------------------------------------------------------------------ observation

    def check_invariants(self) -> None:
        """Bytes are conserved and no buffer is negative or over capacity (tests call this)."""
        for conn in self.connections:
            flow = conn.flow.flow
            # Everything accepted went to the flow, and the flow holds it as queued, in flight
            # or acknowledged. Our own count of acks may trail the flow's by the completions of
            # the batch being dispatched (callbacks run one at a time).
            assert conn.accepted == flow.sent_by_driver, (conn.id, conn.accepted)
            assert flow.sent_by_driver == (flow.queued + flow.inflight + flow.acknowledged
                                           + flow.abandoned), (conn.id, flow.stats())
            assert conn.acked <= flow.acknowledged, (conn.id, conn.acked, flow.acknowledged)
        for buffer in self.buffers():
            assert 0 <= buffer.used <= buffer.capacity, (buffer.used, buffer.capacity)
            assert buffer.used == sum(c.accepted - c.acked for c in buffer.members)

    def metrics(self) -> dict[str, float]:
        if not self.connections:
            return {}
        out: dict[str, float] = {
            "tdi.connections": len(self.connections),
            "tdi.bytes_accepted": self.bytes_accepted,
            "tdi.bytes_acked": self.bytes_acked,
            "tdi.device_not_ready": self.device_not_ready,
            "tdi.send_possible_calls": self.send_possible_calls,
            "tdi.registrations_refused": self.registrations_refused,
            "tdi.race_lost": sum(c.race_lost for c in self.connections),
            "tdi.buffer_peak": max(b.peak for b in self.buffers()),
        }
        for conn in self.connections:
            prefix = f"tdi.conn{conn.id}"
            out[f"{prefix}.bytes_acked"] = conn.acked
            out[f"{prefix}.device_not_ready"] = conn.device_not_ready
            out[f"{prefix}.send_possible_calls"] = conn.indications
            out[f"{prefix}.race_lost"] = conn.race_lost
        return out
