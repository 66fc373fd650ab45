"""The per-machine WSK provider state, its settings, and the two mechanisms every request uses:
running provider work in a DPC, and completing a request through the caller's IRP.

A harness configures the provider with :func:`configure_wsk` and reads results from
:func:`wsk_state` (``.stats``, ``.network``, ``.sockets``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from mock_wsk import fidelity
from mock_wsk.kernel.irp import irp_complete
from mock_wsk.machine import KDPC, Machine
from mock_wsk.status import STATUS_PENDING

if TYPE_CHECKING:
    from mock_wsk.wsk.network import Network

CALLBACK_IRQL_POLICIES = ("dispatch", "passive", "any")
TRANSPORTS = ("flow", "fixed_rtt")
COMPLETION_POLICIES = (None, "inline", "pended")


def _chosen(choice: str) -> Any:
    """A setting whose default is a fidelity choice, read when the settings are made (an
    override in force then applies). A partial, not a lambda: no Python frame per setting."""
    return field(default_factory=partial(fidelity.choose, choice))


@dataclass
class WskSettings:
    """What a scenario may set about the provider (see :func:`configure_wsk`)."""

    # IRQL of event callbacks: "dispatch", "passive" or "any" (asked per call at the
    # decision point; fifo answers DISPATCH_LEVEL).
    callback_irql: str = _chosen("wsk.callback_irql")
    # Force "inline" or "pended" completion of requests that may do either; None = decide.
    completion: str | None = None
    # Before this virtual time the provider NPI is not available (WskCaptureProviderNPI).
    provider_ready_at_ns: int = 0
    dead_socket_close_deadline_ns: int = _chosen("wsk.dead_socket_close_deadline_ns")
    deregister_hang_ns: int = _chosen("wsk.deregister_hang_ns")
    nodelay_supported: bool = True
    # Send path of connection sockets: "flow" (the TCP flow model: completion times and ISB
    # from bandwidth, RTT, window, loss; the link comes from the `network:` section) or
    # "fixed_rtt" (every send completes rtt_ns later; the ISB is default_isb until set).
    transport: str = _chosen("wsk.default_transport")
    default_isb: int = _chosen("wsk.default_isb")
    rtt_ns: int = _chosen("wsk.default_rtt_ns")
    local_address: str = "10.0.0.1"

    def validate(self) -> None:
        if self.callback_irql not in CALLBACK_IRQL_POLICIES:
            raise ValueError(f"callback_irql must be one of {CALLBACK_IRQL_POLICIES}, "
                             f"not {self.callback_irql!r}")
        if self.transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, not {self.transport!r}")
        if self.completion not in COMPLETION_POLICIES:
            raise ValueError(f"completion must be one of {COMPLETION_POLICIES}, "
                             f"not {self.completion!r}")
        for name in ("provider_ready_at_ns", "dead_socket_close_deadline_ns", "default_isb",
                     "rtt_ns", "deregister_hang_ns"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


class WskStats:
    """Counters a harness asserts on. Cheap: one dict increment per event."""

    __slots__ = ("callbacks", "returns", "not_entered", "disables", "completions",
                 "bytes_indicated", "datagrams_indicated")

    def __init__(self) -> None:
        self.bytes_indicated = 0  # stream bytes offered to WskReceiveEvent (each offer counted)
        self.datagrams_indicated = 0  # datagrams offered to WskReceiveFromEvent
        self.callbacks: dict[str, int] = {}  # callback name -> calls entered
        self.returns: dict[tuple[str, int], int] = {}  # (callback, status) -> count
        self.not_entered: dict[str, int] = {}  # deliveries dropped: callback not enabled
        self.disables: dict[str, int] = {}  # disable outcome name -> count
        self.completions: dict[str, int] = {}  # "inline" / "pended" -> requests


class Wsk:
    """Per-machine provider state (``m.subsystem(Wsk)``)."""

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        self.settings = WskSettings()
        self.stats = WskStats()
        self.sockets: dict[int, Any] = {}  # open sockets by id (WSK_SOCKET)
        self.all_sockets: list[Any] = []  # every socket ever created, for reports
        self.registrations: list[Any] = []
        self.next_socket_id = 1
        self._dpcs: list[KDPC] = []  # reusable KDPCs for provider work
        # Reusable completion DPCs, their routine and context preset (complete_later).
        self._completion_dpcs: list[KDPC] = []
        self._deliveries: list[Any] = []  # reusable callback-delivery DPCs (dispatch._Delivery)
        # Indications the client gave back by accepting every byte (network.Peer.send). A
        # deque: a list going from one item to none and back (one indication per peer send)
        # is reallocated both ways.
        self._free_indications: deque[Any] = deque()
        self._cpu_orders = _cpu_orders(len(machine.cpus))  # pick_cpu's options by home CPU
        self.network = _network_class()(self)

    # ------------------------------------------------------------------ provider work in DPCs

    def pick_cpu(self, home: int) -> int:
        """The CPU for provider work: ``home`` is the natural answer; others by decision."""
        m = self.m
        order = self._cpu_orders[home]
        if len(order) == 1 or m._trivial:
            return home
        return order[m.decide("cpu", order)]

    def run_in_dpc(self, cpu: int, name: str, fn: Callable[[Any], None], arg: Any) -> None:
        """Queue ``fn(arg)`` as a DPC on ``cpu`` (DISPATCH_LEVEL, may call driver code)."""
        pool = self._dpcs
        dpc = pool.pop() if pool else KDPC()
        dpc.DeferredRoutine = _dpc_trampoline
        dpc.DeferredContext = pool
        dpc.name = name
        self.m.queue_dpc(cpu, dpc, fn, arg)

    # ------------------------------------------------------------------ IRP completion

    def completion_is_inline(self) -> bool:
        forced = self.settings.completion
        if forced is not None:
            inline = forced == "inline"
        else:
            inline = self.m.decide("completion", ("inline", "pended")) == 0
        key = "inline" if inline else "pended"
        self.stats.completions[key] = self.stats.completions.get(key, 0) + 1
        return inline

    def finish(self, irp: Any, status: int, information: Any = 0, cpu: int | None = None) -> int:
        """Complete a request that is done now, inline or pended (the decision point chooses):
        returns what the WSK function returns (the status, or STATUS_PENDING)."""
        if self.completion_is_inline():
            irp_complete(self.m, irp, status, information, pending_returned=False)
            return status
        self.complete_later(irp, status, information, cpu)
        return STATUS_PENDING

    def fail(self, irp: Any, status: int) -> int:
        """A request refused synchronously: the IRP still completes (CONTRACTS C.17)."""
        if irp is not None:
            irp_complete(self.m, irp, status, 0, pending_returned=False)
        return status

    def complete_later(self, irp: Any, status: int, information: Any = 0,
                       cpu: int | None = None) -> None:
        """Complete a pended IRP from a DPC (its completion routine runs there)."""
        m = self.m
        if cpu is None:
            ctx = m.current
            cpu = self.pick_cpu(ctx.cpu.index if ctx is not None and ctx.cpu is not None else 0)
        pool = self._completion_dpcs
        m.queue_dpc(cpu, pool.pop() if pool else self.new_completion_dpc(), irp,
                    (status, information))

    def new_completion_dpc(self) -> KDPC:
        """One more DPC for :meth:`complete_later`'s pool: its routine and context preset; the
        routine puts it back when it runs."""
        dpc = KDPC("WskCompleteIrp")
        dpc.DeferredRoutine = _complete_pended
        dpc.DeferredContext = self
        return dpc

    # ------------------------------------------------------------------ results

    def metrics(self) -> dict[str, float]:
        """What scenarios assert with ``expect.metrics`` (the runner collects every subsystem's
        ``metrics()``): callback and disable counts, sockets, bytes, and each peer's view."""
        from mock_wsk.status import status_name
        from mock_wsk.wsk.events import DisableOutcome

        stats = self.stats
        out: dict[str, float] = {
            "wsk.sockets_open": len(self.sockets),
            "wsk.sockets_created": len(self.all_sockets),
            "wsk.bytes_indicated": stats.bytes_indicated,
            "wsk.datagrams_indicated": stats.datagrams_indicated,
            "wsk.connections_refused": self.network.refused,
        }
        for outcome in DisableOutcome:  # all three, so "== 0" can be asserted
            out[f"wsk.disables.{outcome.value}"] = stats.disables.get(outcome.value, 0)
        for name in _STANDARD_CALLBACKS:  # present at 0, so "== 0" can be asserted
            out[f"wsk.callbacks.{name}"] = 0
        for name, count in stats.callbacks.items():
            out[f"wsk.callbacks.{name}"] = count
        for name, count in stats.not_entered.items():
            out[f"wsk.not_entered.{name}"] = count
        for (name, status), count in stats.returns.items():
            shown = status_name(status) if isinstance(status, int) else "other"
            key = f"wsk.returns.{name}.{shown}"
            out[key] = out.get(key, 0) + count
        for key, count in stats.completions.items():
            out[f"wsk.completions.{key}"] = count
        for peer in self.network.peers.values():
            prefix = f"wsk.peer.{peer.name}."
            out[prefix + "bytes_sent"] = peer.tx_offset
            out[prefix + "segments_sent"] = peer.segments_sent
            out[prefix + "bytes_received"] = peer.bytes_received
            out[prefix + "sends_received"] = peer.sends_received
            out[prefix + "datagrams_received"] = peer.datagrams_received
            out[prefix + "connected"] = int(peer.sock is not None)
        return out

    # ------------------------------------------------------------------ unload checks

    def check_unload(self) -> None:
        """Called when the last driver unloaded: sockets and registrations left behind."""
        for sock in list(self.sockets.values()):
            self.m.report(
                "wsk.socket.leak",
                f"socket #{sock.id} ({sock.category.value}) was never closed",
                objects={"socket": sock.id, "created_at": sock.created_at},
                location=sock.created_at,
            )
        for reg in self.registrations:
            if reg.captures or not reg.deregistered:
                what = (f"{reg.captures} provider NPI capture(s) not released"
                        if reg.captures else "WskDeregister was never called")
                self.m.report("wsk.registration.leak", what, location=reg.registered_at)


@cache
def _network_class() -> type[Network]:
    """:class:`Network`, imported late (network imports this module) and once: an import
    statement in Wsk.__init__ cost ~0.6 us per machine, one machine per explored schedule."""
    from mock_wsk.wsk.network import Network

    return Network


@cache
def _cpu_orders(cpus: int) -> tuple[tuple[int, ...], ...]:
    """For each home CPU, the options of :meth:`Wsk.pick_cpu`: the home first, then the others
    in index order. Made once per CPU count: a request completing later asks each time, and a
    machine per explored schedule would rebuild them."""
    return tuple((home, *(i for i in range(cpus) if i != home)) for home in range(cpus))


def _dpc_trampoline(dpc: KDPC, pool: list[KDPC], fn: Callable[[Any], None], arg: Any) -> None:
    pool.append(dpc)  # already dequeued: reusable from here on
    fn(arg)


def _complete_pended(dpc: KDPC, w: Wsk, irp: Any, result: tuple[int, Any]) -> None:
    """The DPC of :meth:`Wsk.complete_later` (routine and context preset, as for sends)."""
    w._completion_dpcs.append(dpc)  # already dequeued: reusable from here on
    irp_complete(w.m, irp, result[0], result[1], pending_returned=True)


_STANDARD_CALLBACKS = ("WskAcceptEvent", "WskReceiveEvent", "WskDisconnectEvent",
                       "WskSendBacklogEvent", "WskReceiveFromEvent")


def traced_call(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as the driver reaches it through a dispatch table: when tracing is on, every
    return to the driver is recorded as ``call.return`` (name, status) - the one place WSK
    requests return, refusals included, so ``expect.statuses`` sees them all. With tracing off
    the cost is one call layer and one attribute test.

    A hot request that records its own ``call.return`` at every return (and says so with a
    true ``RECORDS_RETURN`` attribute) is returned as it is: the same records, no layer."""
    from mock_wsk import machine as _machine

    if getattr(fn, "RECORDS_RETURN", False):
        return fn

    def call(*args: Any) -> Any:
        status = fn(*args)
        m = _machine.active
        if m is not None and m.trace is not None:
            m.emit("call.return", name, status)
        return status

    call.__name__ = call.__qualname__ = name
    call.__doc__ = fn.__doc__
    call.__wrapped__ = fn  # type: ignore[attr-defined]
    return call


def wsk_state(m: Machine) -> Wsk:
    """The machine's WSK provider: settings, stats, network, sockets."""
    return m.subsystem(Wsk)


def configure_wsk(m: Machine, **settings: Any) -> WskSettings:
    """Set provider settings for a scenario, e.g. ``configure_wsk(m, callback_irql="passive",
    completion="pended", dead_socket_close_deadline_ns=50_000_000)``."""
    state = wsk_state(m)
    for name, value in settings.items():
        if not hasattr(state.settings, name):
            raise ValueError(f"unknown WSK setting {name!r}; known: "
                             f"{', '.join(WskSettings.__dataclass_fields__)}")
        setattr(state.settings, name, value)
    state.settings.validate()
    return state.settings
