"""Every reference driver explores clean: no false positives (issue: "every reference driver
explores clean at the same budget"). One shipped scenario per reference stub, the same number
of random schedules each; a new reference stub must be added here."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.explore import explore
from harness.explore_section import ExploreSettings
from harness.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 100  # schedules per reference driver (its cheapest shipped scenario)

REFERENCE_SCENARIOS = {
    "datagram_receiver": "scenarios/wsk/datagram_receiver.yaml",
    "echo_server": "scenarios/wsk/echo_server_reset_kill.yaml",
    "echo_server_static": "scenarios/wsk/echo_server_static.yaml",
    "fixed_window_sender": "scenarios/send/fixed_window.yaml",
    "keepalive_echo_server": "scenarios/wsk/options/keepalive_echo_server.yaml",
    "send_pump": "scenarios/send/forced_close_with_sends_pending.yaml",
    "stop_and_wait_sender": "scenarios/send/stop_and_wait.yaml",
    "tdi_sender": "scenarios/tdi/shared_buffer_race.yaml",
    "timer_counter": "scenarios/kernel/timer_counter.yaml",
    "winsock_isb_abort": "scenarios/winsock/change_blocking_interrupted.yaml",
    "winsock_isb_app": "scenarios/winsock/isb_follows_link.yaml",
    "wsk_client": "scenarios/wsk/wsk_client.yaml",
}


def test_every_reference_stub_has_a_scenario_here() -> None:
    stubs = {p.stem for p in (ROOT / "driver_stubs").glob("*.py") if not p.stem.startswith("_")}
    assert stubs == set(REFERENCE_SCENARIOS)


@pytest.mark.parametrize("stub", sorted(REFERENCE_SCENARIOS))
def test_the_reference_driver_explores_clean(stub: str) -> None:
    scenario = load_scenario(ROOT / REFERENCE_SCENARIOS[stub])
    assert scenario.stub == stub
    result = explore(scenario, BUDGET, "random", 1)
    assert result.schedules == BUDGET
    assert result.bugs == [], result.summary()


@pytest.mark.parametrize("stub", sorted(REFERENCE_SCENARIOS))
def test_the_reference_driver_survives_any_of_its_first_allocations_failing(stub: str) -> None:
    """Low resources: each schedule may fail one of the first 8 allocations - pool, IRP or
    MDL (Driver Verifier's low resources simulation, explored). A reference driver checks every
    NULL, frees what it built on every error path and closes its sockets on IRPs allocated up
    front: no leak, no use of NULL, no socket left open, whatever fails."""
    scenario = load_scenario(ROOT / REFERENCE_SCENARIOS[stub])
    settings = scenario.sections.get("explore") or ExploreSettings()
    scenario = dataclasses.replace(scenario, sections={
        **scenario.sections, "explore": dataclasses.replace(settings, fail_allocations=8)})
    result = explore(scenario, BUDGET, "random", 2)
    assert result.bugs == [], result.summary()
