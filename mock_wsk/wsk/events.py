"""The per-socket event-callback registry: a pure state machine (no machine, no IRPs, no I/O).

It answers the questions of CONTRACTS A.4 and A.6-A.7 and nothing else:

* which callbacks are enabled (``enabled``), which of them can never be disabled (``static``),
  which connection callbacks a listener hands to the sockets it accepts (``inherited``);
* how many calls of each callback are in progress (:meth:`calls_in_flight`; from entry to
  return, the disabling caller's own call included);
* what a disable request does: :meth:`disable` returns ``SUCCESS`` (nothing in flight: disabled
  now), ``PENDING`` (in flight, the caller gave a completion token, e.g. an IRP) or
  ``EVENT_PENDING`` (in flight, no token). In every case the callback stops being *enterable* at
  once - no new call begins after the request - and :meth:`end` hands back the tokens whose
  disable completes when the last in-flight call returns.

Provider promise (A.4): after a disable has completed, :meth:`try_begin` refuses that event until
it is enabled again. ``tests/test_wsk_events_state.py`` checks it with Hypothesis.
"""

from __future__ import annotations

import enum
from typing import Any

from mock_wsk.constants import WSK_EVENT_RECEIVE

# A disable without a completion token (EVENT_PENDING) is queued as this marker.
NO_TOKEN: Any = None


class DisableOutcome(enum.Enum):
    SUCCESS = "success"  # nothing in flight: disabled now
    PENDING = "pending"  # in flight, token given: the token completes after the last return
    EVENT_PENDING = "event_pending"  # in flight, no token: disabled after the last return


class EventRegistry:
    """Enabled / static / inherited masks and per-event in-flight counts of one socket."""

    __slots__ = ("enabled", "static", "inherited", "receiving", "in_flight", "pending",
                 "closed")

    def __init__(self, static: int = 0) -> None:
        self.enabled = static
        self.static = static
        self.inherited = 0  # listeners only: connection flags applied to sockets they accept
        # WskReceiveEvent calls in flight: the one event called per packet keeps its count in
        # a slot, which the fused receive delivery (dispatch._deliver_receive) updates directly.
        self.receiving = 0
        # The other events' counts, and the disables: both dicts are created on first use (an
        # idle socket of 10,000 needs neither).
        self.in_flight: dict[int, int] | None = None
        # event flag -> tokens of disables waiting for that event's in-flight calls to return
        self.pending: dict[int, list[Any]] | None = None
        self.closed = False

    # ------------------------------------------------------------------ enabling

    def enable(self, mask: int) -> None:
        """Enable every flag of ``mask`` (validity is the caller's business)."""
        if not self.closed:
            self.enabled |= mask

    def enable_inherited(self, mask: int) -> None:
        """Listener: remember connection flags for sockets accepted through WskAcceptEvent.
        Kept apart from ``enabled`` so that disabling and re-enabling ACCEPT keeps them (A.6)."""
        self.inherited |= mask

    def inherit_from(self, listener: EventRegistry) -> None:
        """A socket accepted through the listener's WskAcceptEvent starts with its flags."""
        self.enabled |= listener.inherited

    # ------------------------------------------------------------------ disabling

    def disable(self, flag: int, token: Any = NO_TOKEN) -> DisableOutcome:
        """Disable one event. ``token`` (an IRP) completes when the disable does."""
        self.enabled &= ~flag
        if not self.calls_in_flight(flag):
            return DisableOutcome.SUCCESS
        pending = self.pending
        if pending is None:
            pending = self.pending = {}
        pending.setdefault(flag, []).append(token)
        return DisableOutcome.EVENT_PENDING if token is NO_TOKEN else DisableOutcome.PENDING

    def disable_requested(self, flag: int) -> bool:
        """A disable of ``flag`` was requested and waits for in-flight calls."""
        return self.pending is not None and flag in self.pending

    # ------------------------------------------------------------------ calls

    def try_begin(self, flag: int) -> bool:
        """A call of ``flag``'s callback is about to be entered: allowed only while enabled."""
        if not self.enabled & flag:
            return False
        if flag == WSK_EVENT_RECEIVE:
            self.receiving += 1
            return True
        in_flight = self.in_flight
        if in_flight is None:
            in_flight = self.in_flight = {}
        in_flight[flag] = in_flight.get(flag, 0) + 1
        return True

    def end(self, flag: int) -> list[Any]:
        """A call returned. Returns the tokens of the disables that complete now (the last
        in-flight call of that event returned); NO_TOKEN entries stand for EVENT_PENDING ones."""
        if flag == WSK_EVENT_RECEIVE:
            assert self.receiving, "end() without try_begin()"
            count = self.receiving = self.receiving - 1
        else:
            in_flight = self.in_flight
            assert in_flight is not None, "end() without try_begin()"
            count = in_flight[flag] - 1
            in_flight[flag] = count
        pending = self.pending
        if count or pending is None or flag not in pending:
            return _EMPTY
        return pending.pop(flag)

    def calls_in_flight(self, flag: int) -> int:
        if flag == WSK_EVENT_RECEIVE:
            return self.receiving
        in_flight = self.in_flight
        return in_flight.get(flag, 0) if in_flight is not None else 0

    @property
    def total_in_flight(self) -> int:
        """Calls of any callback in progress (asked when the socket closes)."""
        in_flight = self.in_flight
        return self.receiving + (sum(in_flight.values()) if in_flight is not None else 0)

    # ------------------------------------------------------------------ close

    def close(self) -> None:
        """WskCloseSocket: nothing new is entered; pending disables still complete on return."""
        self.closed = True
        self.enabled = 0
        self.inherited = 0

    def __repr__(self) -> str:
        counts = {WSK_EVENT_RECEIVE: self.receiving, **(self.in_flight or {})}
        busy = {f"{k:#x}": v for k, v in counts.items() if v}
        return (f"<EventRegistry enabled={self.enabled:#x} static={self.static:#x} "
                f"inherited={self.inherited:#x} in_flight={busy}>")


_EMPTY: list[Any] = []  # shared, never mutated: end()'s common answer costs no allocation
