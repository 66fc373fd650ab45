"""The seam between a connection and its transport model.

The provider needs three things from a transport: ``submit(send_id, length, on_complete)`` (call
``on_complete(send_id, length)`` when the peer has acknowledged all of it - WSK does not buffer
sends, CONTRACTS C.14; ``send_id`` is an opaque token; ``sender(on_complete)`` binds the
callback once per socket), the current ideal send backlog ``isb``, and an
``on_isb_change(isb)`` hook it sets to hear about changes; ``abort()`` when the connection is
gone and ``nodelay_supported`` (C.13: a transport may refuse ``WSK_FLAG_NODELAY``).

Two transports: :class:`FlowTransport` (the default for connection sockets, WSK setting
``transport: flow``) binds one :class:`~mock_wsk.transport.flow.TcpFlow` per connection to the
machine clock through :class:`~mock_wsk.transport.link.Links`, so completion times and the ISB
follow bandwidth, RTT, window, loss and memory pressure. :class:`FixedRttTransport`
(``transport: fixed_rtt``) completes every send one fixed round trip later and changes the ISB
only when told: the simplest world for callback-logic tests that do not care about throughput.

Transports run in the machine's system context (timed events): they must never call driver code;
the provider queues a DPC for that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from mock_wsk.machine import Machine
from mock_wsk.transport.flow import FlowParams, TcpFlow, shared_params
from mock_wsk.transport.link import FlowDriver, Links, Series, initial_isb

# A send id is the owner's token for one send, opaque to the transport (WSK passes the send's
# MDL use): on_complete gets it back.
OnComplete = Callable[[Any, int], Any]
Submit = Callable[[Any, int], None]  # (send_id, length): a send bound to its on_complete


class Transport(Protocol):
    """The seam between WskSend and what carries the bytes: implementations say when each send
    is acknowledged (``on_complete(send_id, length)``) and what the ideal send backlog is."""

    isb: int
    on_isb_change: Callable[[int], None] | None
    nodelay_supported: bool = True
    corrupt_sends: int = 0  # sends whose bytes changed before the peer acknowledged them
    notifications_delivered: int = 0  # WskSendBacklogEvent calls the driver received

    def submit(self, send_id: Any, length: int, on_complete: OnComplete) -> None: ...

    def sender(self, on_complete: OnComplete) -> Submit:
        """``submit`` for a socket whose sends all complete through ``on_complete``, bound once:
        WskSend calls what this returns for every send (one call layer less than ``submit``)."""
        ...

    def abort(self) -> None:
        """The connection is gone: pending sends will never complete (the provider cancels)."""


class FixedRttTransport(Transport):
    """Every send completes one round trip after it is submitted; the ISB changes only when a
    scenario sets it (:meth:`set_isb`)."""

    __slots__ = ("m", "rtt_ns", "isb", "on_isb_change", "aborted", "nodelay_supported")

    def __init__(self, m: Machine, rtt_ns: int, isb: int, nodelay_supported: bool = True) -> None:
        self.m = m
        self.rtt_ns = rtt_ns
        self.isb = isb
        self.on_isb_change: Callable[[int], None] | None = None
        self.aborted = False
        self.nodelay_supported = nodelay_supported

    def submit(self, send_id: Any, length: int, on_complete: OnComplete) -> None:
        self.m.call_later(self.rtt_ns, self._acked, send_id, length, on_complete)

    def sender(self, on_complete: OnComplete) -> Submit:
        def submit(send_id: Any, length: int) -> None:
            self.submit(send_id, length, on_complete)

        return submit

    def _acked(self, send_id: Any, length: int, on_complete: OnComplete) -> None:
        if not self.aborted:
            on_complete(send_id, length)

    def set_isb(self, isb: int) -> None:
        if isb != self.isb:
            self.isb = isb
            if self.on_isb_change is not None:
                self.on_isb_change(isb)

    def abort(self) -> None:
        self.aborted = True


# The interned FlowParams of a connection by what it is built from: the link settings in force
# merged with the connection's overrides, with their types (1e7 == 10**7 and True == 1, but a
# flow computes with what it was given). A connection per explored schedule would otherwise
# build, validate and intern the same parameters every time. Bounded like flow._SHARED.
_LINK_PARAMS: dict[tuple[Any, ...], FlowParams] = {}
_LINK_PARAMS_MAX = 256


def _link_params(links: Links, overrides: dict[str, Any]) -> FlowParams:
    """``shared_params(links.params(**overrides))``, remembered."""
    settings = {**links.defaults, **overrides}
    key = (*settings.items(), *map(type, settings.values()))
    try:
        params = _LINK_PARAMS.get(key)
    except TypeError:  # an unhashable value: FlowParams says what is wrong with it
        return shared_params(links.params(**overrides))
    if params is None:
        params = shared_params(links.params(**overrides))
        if len(_LINK_PARAMS) >= _LINK_PARAMS_MAX:
            _LINK_PARAMS.clear()
        _LINK_PARAMS[key] = params
    return params


class FlowTransport(Transport):
    """One TCP connection's send direction through the flow model (FLOW_MODEL.md).

    A send completes when its last byte is acknowledged (``FlowDriver`` fires in the system
    context; the provider completes the IRP from a DPC). Every published ISB change goes to
    ``on_isb_change`` (the provider turns it into a ``WskSendBacklogEvent`` when enabled), and
    ``isb`` is what ``SIO_WSK_QUERY_IDEAL_SEND_BACKLOG`` answers. The flow is registered with
    :class:`Links` as ``name`` so ``set_link`` / ``loss`` reach it and its series are reported.
    """

    # Slots, and the FlowDriver (and its TcpFlow) made on first use: 10,000 idle connections
    # must fit in 2 KiB each. Until then the transport stands for its flow in Links (open
    # order, loss seed) and reads as a flow just created; the driver is built as it would have
    # been at creation, so every observable is the same (see FlowDriver). A send does not
    # touch it: WskSend calls the driver's own submit (:meth:`sender`). An abort before any
    # use is only noted (``_aborted_ns``) and replayed at its time when the driver is built:
    # a socket closed without sending (every explored schedule of a race) never builds one.
    __slots__ = ("_driver", "nodelay_supported", "m", "name", "_params", "_seed", "_created_ns",
                 "_aborted_ns", "on_isb_change", "notifications_delivered")

    def __init__(self, m: Machine, name: str, nodelay_supported: bool = True,
                 **overrides: Any) -> None:
        self.m = m
        self.name = name
        self.on_isb_change: Callable[[int], None] | None = None
        self.nodelay_supported = nodelay_supported
        links = m.subsystem(Links)
        self._params = _link_params(links, overrides)
        self._seed = links.register(self)
        self._created_ns = m.now
        self._driver: FlowDriver | None = None
        self._aborted_ns: int | None = None
        self.notifications_delivered = 0

    @property
    def driver(self) -> FlowDriver:
        """The connection's FlowDriver, built on first use."""
        driver = self._driver
        if driver is None:
            # The transport itself is the flow's on_isb callback (__call__): a bound method
            # would be one more object per connection.
            driver = self._driver = FlowDriver(self.m, self._params, self.name, None, self,
                                               self._seed, self._created_ns)
            if self._aborted_ns is not None:
                driver.abort(self._aborted_ns)
        return driver

    @property
    def flow(self) -> TcpFlow:
        """The connection's flow (built on first use)."""
        return self.driver.flow

    @property
    def isb(self) -> int:  # type: ignore[override]
        driver = self._driver
        return driver.isb if driver is not None else initial_isb(self._params)

    @property
    def outstanding(self) -> int:
        """Bytes the driver has passed to WskSend and that are not yet acknowledged."""
        driver = self._driver
        return driver.outstanding if driver is not None else 0

    @property
    def max_send(self) -> int:
        """The largest send so far: the outstanding-vs-ISB check's allowance."""
        driver = self._driver
        return driver.max_send if driver is not None else 0

    @property
    def closed(self) -> bool:
        driver = self._driver
        return driver.closed if driver is not None else self._aborted_ns is not None

    @property
    def first_submit_ns(self) -> int | None:
        driver = self._driver
        return driver.first_submit_ns if driver is not None else None

    @property
    def last_ack_ns(self) -> int | None:
        driver = self._driver
        return driver.last_ack_ns if driver is not None else None

    def metrics(self) -> dict[str, float]:
        return self.driver.metrics()

    def series(self) -> dict[str, Series]:
        return self.driver.series()

    def submit(self, send_id: Any, length: int, on_complete: OnComplete) -> None:
        self.sender(on_complete)(send_id, length)

    def sender(self, on_complete: OnComplete) -> Submit:
        """The FlowDriver's own submit: the provider's sends go straight to the flow's clock
        binding. Builds the driver (a socket asks at its first send, when submit would)."""
        driver = self.driver
        if driver.on_complete is None:
            driver.on_complete = on_complete  # the same callable for every send of a socket
        return driver.submit

    def __call__(self, old: int, new: int) -> None:
        """The flow published a new ISB (``FlowDriver.on_isb``): tell ``on_isb_change``."""
        if self.on_isb_change is not None:
            self.on_isb_change(new)

    def set_params(self, **changes: Any) -> None:
        self.driver.set_params(**changes)

    def loss(self, timeout: bool = False) -> None:
        self.driver.loss(timeout)

    def abort(self) -> None:
        driver = self._driver
        if driver is None:
            if self._aborted_ns is None:
                self._aborted_ns = self.m.now  # replayed when the driver is built
        elif not driver.closed:
            driver.abort()
