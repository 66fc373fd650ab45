"""The ``network:`` scenario section and the link timeline actions (``set_link``, ``loss``).

``network:`` sets the path every TCP flow of the run starts with (flows of the WSK provider, the
TDI transport and the user-mode Winsock stack all open through
:class:`mock_wsk.transport.link.Links`)::

    network:
      bandwidth: 1Gbps
      rtt: 40ms
      receive_window: 16MiB     # the flow model's default 4 MiB is below 1 Gb/s x 40 ms
      read_rate: 200Mbps        # omit for an instant reader
      loss_rate_ppm: 0
      isb_quantum: 0            # 0 = one MSS
      isb_hysteresis_pct: 25
      memory_cap: 8MiB

Timeline actions change every open flow (and flows opened later)::

    - {at: 2s, action: set_link, bandwidth: 500Mbps, rtt: 80ms}
    - {at: 3s, action: loss}              # one congestion event; `timeout: true` for an RTO
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harness.actions import action
from harness.runner import RUN_SETUP_HOOKS
from harness.scenario import section_loader
from harness.units import parse_duration, parse_rate, parse_size
from harness.yaml_loader import error_at
from mock_wsk.transport.flow import FlowParams
from mock_wsk.transport.link import Links


def _plain_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {value!r}")
    return value


# Scenario key -> (FlowParams field, parser). `None` stays None where the field allows it
# (read_rate: instant reader; memory_cap: no pressure).
KEYS: dict[str, tuple[str, Callable[[object], int]]] = {
    "bandwidth": ("bandwidth_bps", parse_rate),
    "rtt": ("rtt_ns", parse_duration),
    "mss": ("mss", parse_size),
    "receive_window": ("receive_window", parse_size),
    "read_rate": ("read_rate_bps", parse_rate),
    "loss_rate_ppm": ("loss_rate_ppm", _plain_int),
    "initial_window_segments": ("initial_window_segments", _plain_int),
    "isb_quantum": ("isb_quantum", parse_size),
    "isb_hysteresis_pct": ("isb_hysteresis_pct", _plain_int),
    "memory_cap": ("memory_cap", parse_size),
}
_NULLABLE = {"read_rate", "memory_cap"}
# What set_link may change mid-run (the rest describe a connection from its start).
LINK_KEYS = ("bandwidth", "rtt", "receive_window", "read_rate", "memory_cap", "loss_rate_ppm")


def flow_kwargs(path: str, section: Mapping[str, Any], allowed: tuple[str, ...] | None = None,
                where: str = "network") -> dict[str, Any]:
    """FlowParams keyword arguments from scenario keys, every bad value located."""
    out: dict[str, Any] = {}
    for key, value in section.items():
        if key not in KEYS or (allowed is not None and key not in allowed):
            continue  # the schema (or the caller) reports unknown keys
        field, parse = KEYS[key]
        if value is None and key in _NULLABLE:
            out[field] = None
            continue
        try:
            out[field] = parse(value)
        except ValueError as exc:
            raise error_at(path, section, key, f"{where}.{key}: {exc}") from None
    try:
        FlowParams(**{"bandwidth_bps": 1, "rtt_ns": 1, **out})
    except ValueError as exc:  # the flow model's own range checks, located at the section
        bad = next((k for k in section if KEYS.get(k, ("",))[0] in str(exc)), None)
        if bad is not None:
            raise error_at(path, section, bad, f"{where}.{bad}: {exc}") from None
        raise error_at(path, section, next(iter(section), None), f"{where}: {exc}") from None
    return out


@section_loader("network")
def load_network(path: str, section: Any) -> dict[str, Any]:
    return flow_kwargs(path, section)


def _setup(run: Any) -> None:
    network = run.scenario.sections.get("network")
    if network:
        run.machine.subsystem(Links).defaults.update(network)


if _setup not in RUN_SETUP_HOOKS:
    RUN_SETUP_HOOKS.append(_setup)


def _runtime_kwargs(params: Mapping[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """Parse action parameters (already schema-checked as a timeline entry) at fire time."""
    unknown = [k for k in params if k not in allowed]
    if unknown:
        raise ValueError(f"unknown link parameter(s) {', '.join(unknown)}; "
                         f"expected some of {', '.join(allowed)}")
    out: dict[str, Any] = {}
    for key, value in params.items():
        field, parse = KEYS[key]
        out[field] = None if value is None and key in _NULLABLE else parse(value)
    return out


@action("set_link", "Change the path of every TCP flow now: bandwidth, rtt, receive_window, "
        "read_rate, memory_cap, loss_rate_ppm (units as in `network:`).")
def set_link(run: Any, params: dict[str, Any]) -> None:
    run.machine.subsystem(Links).set_link(**_runtime_kwargs(params, LINK_KEYS))


@action("loss", "One congestion event on every TCP flow now (cwnd halves; `timeout: true` for a "
        "retransmission timeout: cwnd = 1 MSS).")
def loss(run: Any, params: dict[str, Any]) -> None:
    run.machine.subsystem(Links).loss(bool(params.get("timeout", False)))
