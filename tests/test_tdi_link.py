"""The shared clock binding of the flow model (FlowDriver, Links) and the `network:` section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import ScenarioError
from harness.network_section import loss, set_link
from harness.scenario import load_scenario
from mock_wsk.machine import Machine
from mock_wsk.transport.link import SERIES_CAP, Links, _Sampler


def test_flow_driver_completes_sends_on_the_machine_clock() -> None:
    m = Machine(cpus=1)
    done: list[tuple[int, int, int]] = []
    isb: list[tuple[int, int]] = []
    links = m.subsystem(Links)
    links.defaults.update(bandwidth_bps=1_000_000_000, rtt_ns=10_000_000)
    flow = links.open("f", on_complete=lambda i, n: done.append((m.now, i, n)),
                      on_isb=lambda old, new: isb.append((old, new)))
    for send_id in range(1, 41):
        flow.submit(send_id, 65536)
    m.run()
    assert [d[1] for d in done] == list(range(1, 41))  # FIFO, each once
    assert done[0][0] >= 10_000_000  # an RTT at least
    assert all(a[0] <= b[0] for a, b in zip(done, done[1:], strict=False))
    assert isb and all(new > old for old, new in isb)  # slow start grows the ISB
    metrics = links.metrics()
    assert metrics["link.bytes_acked"] == 40 * 65536
    assert metrics["link.isb_notifications"] == len(isb)
    assert 0 < metrics["link.utilization"] <= 1
    assert set(links.series()) == {"f.isb", "f.outstanding", "f.throughput_bps"}


def test_set_link_and_loss_reach_every_flow() -> None:
    m = Machine(cpus=1)
    links = m.subsystem(Links)
    flows = [links.open(f"f{i}") for i in range(2)]
    for f in flows:
        for send_id in range(200):
            f.submit(send_id, 65536)
    run: Any = type("R", (), {"machine": m})()
    m.call_at(200_000_000, set_link, run, {"bandwidth": "100Mbps", "rtt": "20ms"})
    m.run(300_000_000)
    assert all(f.flow.params.bandwidth_bps == 100_000_000 for f in flows)
    assert all(f.flow.params.rtt_ns == 20_000_000 for f in flows)
    cwnd = [f.flow.cwnd for f in flows]
    m.call_at(m.now, loss, run, {})
    m.run(m.now + 1)
    assert all(f.flow.cwnd < before for f, before in zip(flows, cwnd, strict=True))
    assert links.open("later").flow.params.bandwidth_bps == 100_000_000


def test_aborted_flow_stops_and_returns_pending_sends() -> None:
    m = Machine(cpus=1)
    completed: list[int] = []
    flow = m.subsystem(Links).open("f", on_complete=lambda i, n: completed.append(i))
    for send_id in range(5):
        flow.submit(send_id, 1000)
    assert flow.abort() == [0, 1, 2, 3, 4]
    m.run()
    assert completed == [] and flow.closed


def test_sampler_stays_bounded() -> None:
    sampler = _Sampler()
    for t in range(5 * SERIES_CAP):
        sampler.add(t * 1000, t)
    assert len(sampler.points) < SERIES_CAP
    assert sampler.points[0] == (0, 0)


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text("name: x\ndriver: {stub: tdi_sender}\n" + body)
    return path


def test_network_section_parses_units(tmp_path: Path) -> None:
    s = load_scenario(_write(tmp_path, "network: {bandwidth: 1Gbps, rtt: 40ms, "
                             "receive_window: 16MiB, read_rate: null, memory_cap: 8MiB, "
                             "isb_hysteresis_pct: 10}\n"))
    assert s.sections["network"] == {
        "bandwidth_bps": 1_000_000_000, "rtt_ns": 40_000_000, "receive_window": 16 << 20,
        "read_rate_bps": None, "memory_cap": 8 << 20, "isb_hysteresis_pct": 10}


@pytest.mark.parametrize("body, line", [
    ("network:\n  bandwidth: 1Gbs\n", 4),
    ("network:\n  rtt: 0ms\n", 4),
    ("network:\n  bandwith: 1Gbps\n", 4),
])
def test_network_section_errors_are_located(tmp_path: Path, body: str, line: int) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, body))
    assert info.value.line == line
