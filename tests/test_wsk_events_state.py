"""The event-callback registry as a pure state machine (CONTRACTS A.4, A.6, A.7).

Direct tests of each transition, then a Hypothesis RuleBasedStateMachine: random enables,
disables with and without an IRP token, callback entries and returns on several "CPUs", accept
inheritance and close, checking the provider promises as invariants.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from mock_wsk.constants import (
    WSK_EVENT_ACCEPT,
    WSK_EVENT_DISCONNECT,
    WSK_EVENT_RECEIVE,
    WSK_EVENT_SEND_BACKLOG,
)
from mock_wsk.wsk.events import NO_TOKEN, DisableOutcome, EventRegistry

R, D, B = WSK_EVENT_RECEIVE, WSK_EVENT_DISCONNECT, WSK_EVENT_SEND_BACKLOG


def test_A4_disable_without_calls_in_flight_succeeds_and_blocks_entry() -> None:
    reg = EventRegistry()
    reg.enable(R | D)
    assert reg.disable(R, "irp") is DisableOutcome.SUCCESS
    assert not reg.try_begin(R)
    assert reg.try_begin(D)


def test_A4_disable_in_flight_with_irp_returns_pending_and_token_after_last_return() -> None:
    reg = EventRegistry()
    reg.enable(R)
    assert reg.try_begin(R) and reg.try_begin(R)  # two CPUs inside WskReceiveEvent
    assert reg.disable(R, "irp") is DisableOutcome.PENDING
    assert not reg.try_begin(R), "no new call begins once the disable is requested"
    assert reg.end(R) == []
    assert reg.end(R) == ["irp"]


def test_A4_disable_in_flight_without_irp_returns_event_pending() -> None:
    reg = EventRegistry()
    reg.enable(R)
    reg.try_begin(R)
    assert reg.disable(R) is DisableOutcome.EVENT_PENDING
    assert reg.disable_requested(R)
    assert reg.end(R) == [NO_TOKEN]
    assert not reg.disable_requested(R)


def test_A4_callback_disabling_itself_counts_as_in_flight() -> None:
    reg = EventRegistry()
    reg.enable(R)
    reg.try_begin(R)  # the caller is inside its own callback
    assert reg.calls_in_flight(R) == 1
    assert reg.disable(R, "irp") is DisableOutcome.PENDING


def test_A6_listener_flags_inherited_and_kept_across_accept_disable() -> None:
    listener = EventRegistry()
    listener.enable(WSK_EVENT_ACCEPT)
    listener.enable_inherited(R | D)
    listener.disable(WSK_EVENT_ACCEPT)
    listener.enable(WSK_EVENT_ACCEPT)
    accepted = EventRegistry()
    accepted.inherit_from(listener)
    assert accepted.enabled == R | D
    assert EventRegistry().enabled == 0, "a socket taken otherwise starts with nothing enabled"


def test_A7_static_flags_start_enabled() -> None:
    reg = EventRegistry(static=R)
    assert reg.enabled == R and reg.static == R


def test_C18_close_stops_entry_but_pending_disables_still_complete() -> None:
    reg = EventRegistry()
    reg.enable(R)
    reg.try_begin(R)
    reg.disable(R, "irp")
    reg.close()
    assert not reg.try_begin(R)
    assert reg.end(R) == ["irp"]
    assert reg.total_in_flight == 0


EVENTS = (R, D, B)


class RegistryMachine(RuleBasedStateMachine):
    """Model: per event, enabled?, calls in flight, and disables waiting (token, epoch)."""

    calls = Bundle("calls")

    def __init__(self) -> None:
        super().__init__()
        self.listener = EventRegistry()
        self.listener.enable(WSK_EVENT_ACCEPT)
        self.reg = EventRegistry()
        self.reg.inherit_from(self.listener)
        self.next_token = 0
        self.completed: dict[Any, int] = {}  # token -> times completed
        self.expected_pending: dict[int, list[Any]] = {e: [] for e in EVENTS}
        self.in_flight: dict[int, int] = {e: 0 for e in EVENTS}
        # Disable completed for an event, not re-enabled since: entry must be refused.
        self.sealed: set[int] = set()

    @rule(mask=st.sets(st.sampled_from(EVENTS), min_size=1))
    def enable(self, mask: set[int]) -> None:
        bits = 0
        for e in mask:
            bits |= e
            self.sealed.discard(e)
        self.reg.enable(bits)

    @rule(event=st.sampled_from(EVENTS), with_irp=st.booleans())
    def disable(self, event: int, with_irp: bool) -> None:
        token: Any = NO_TOKEN
        if with_irp:
            token = f"irp{self.next_token}"
            self.next_token += 1
        outcome = self.reg.disable(event, token)
        busy = self.in_flight[event] > 0
        # STATUS_PENDING exactly when calls are in flight and an IRP was given; EVENT_PENDING
        # exactly when in flight without one; SUCCESS otherwise.
        if not busy:
            assert outcome is DisableOutcome.SUCCESS
            self.sealed.add(event)
        elif with_irp:
            assert outcome is DisableOutcome.PENDING
            self.expected_pending[event].append(token)
        else:
            assert outcome is DisableOutcome.EVENT_PENDING
            self.expected_pending[event].append(NO_TOKEN)

    @rule(target=calls, event=st.sampled_from(EVENTS), cpu=st.integers(0, 3))
    def enter(self, event: int, cpu: int) -> Any:
        entered = self.reg.try_begin(event)
        if event in self.sealed:
            assert not entered, "a callback entered after its disable completed"
        if self.expected_pending[event] and not self.reg.enabled & event:
            assert not entered, "a call began after its disable was requested"
        if entered:
            self.in_flight[event] += 1
            return (event, cpu)
        return None

    @precondition(lambda self: any(self.in_flight.values()))
    @rule(call=calls)
    def leave(self, call: Any) -> None:
        if call is None:
            return
        event, _cpu = call
        if self.in_flight[event] == 0:
            return  # this call already returned (bundles may hand it out twice)
        self.in_flight[event] -= 1
        done = self.reg.end(event)
        if self.in_flight[event]:
            assert done == [], "a disable completed while calls were still in flight"
            return
        assert done == self.expected_pending[event]
        for token in done:
            if token is not NO_TOKEN:
                self.completed[token] = self.completed.get(token, 0) + 1
        if done and not self.reg.enabled & event:
            self.sealed.add(event)
        self.expected_pending[event] = []

    @rule()
    def accept_inheritance(self) -> None:
        accepted = EventRegistry()
        accepted.inherit_from(self.listener)
        assert accepted.enabled == self.listener.inherited

    @rule()
    def close(self) -> None:
        self.reg.close()
        self.sealed.update(EVENTS)

    @invariant()
    def irps_complete_exactly_once(self) -> None:
        assert all(count == 1 for count in self.completed.values())

    @invariant()
    def in_flight_matches(self) -> None:
        for e in EVENTS:
            assert self.reg.calls_in_flight(e) == self.in_flight[e]


TestRegistryMachine = RegistryMachine.TestCase
TestRegistryMachine.settings = settings(max_examples=150, stateful_step_count=40,
                                        deadline=None)
