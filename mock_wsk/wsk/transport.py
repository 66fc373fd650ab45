"""The seam between a connection and its transport model.

The provider needs three things from a transport: ``submit(send_id, length, on_complete)`` (call
``on_complete(send_id)`` when the peer has acknowledged all of it - WSK does not buffer sends,
CONTRACTS C.14), the current ideal send backlog ``isb``, and an ``on_isb_change(isb)`` hook it
sets to hear about changes. :class:`FixedRttTransport` is the default; the flow model
(``mock_wsk.transport.flow.TcpFlow``) plugs in behind the same three names.

Transports run in the machine's system context (timed events): they must never call driver code;
the provider queues a DPC for that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mock_wsk.machine import Machine


class Transport:
    """The interface (documentation as code): subclasses implement :meth:`submit`."""

    isb: int
    on_isb_change: Callable[[int], None] | None

    def submit(self, send_id: int, length: int, on_complete: Callable[[int], None]) -> None:
        raise NotImplementedError  # pragma: no cover - interface

    def abort(self) -> None:
        """The connection is gone: pending sends will never complete (the provider cancels)."""


class FixedRttTransport(Transport):
    """Every send completes one round trip after it is submitted; the ISB changes only when a
    scenario sets it (:meth:`set_isb`)."""

    __slots__ = ("m", "rtt_ns", "isb", "on_isb_change", "aborted")

    def __init__(self, m: Machine, rtt_ns: int, isb: int) -> None:
        self.m = m
        self.rtt_ns = rtt_ns
        self.isb = isb
        self.on_isb_change: Callable[[int], None] | None = None
        self.aborted = False

    def submit(self, send_id: int, length: int, on_complete: Callable[[int], None]) -> None:
        self.m.call_later(self.rtt_ns, self._acked, send_id, on_complete)

    def _acked(self, send_id: int, on_complete: Callable[[int], Any]) -> None:
        if not self.aborted:
            on_complete(send_id)

    def set_isb(self, isb: int) -> None:
        if isb != self.isb:
            self.isb = isb
            if self.on_isb_change is not None:
                self.on_isb_change(isb)

    def abort(self) -> None:
        self.aborted = True
