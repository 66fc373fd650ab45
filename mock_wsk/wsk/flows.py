"""Per-connection send-path bookkeeping: which transport a connection gets, its metrics, the
measurement mark, forced close, and the ``wsk.backlog.ignores_isb_decrease`` check.

Metrics (``m.subsystem(WskFlows).metrics()``, collected by the harness) are named after the
connection: ``flow.<conn>.<name>``, where ``<conn>`` is the peer's name when it is a plain
identifier and ``s<socket id>`` otherwise. Aggregates drop the connection: ``flow.utilization``
(the first connection, the common single-connection case), ``flow.throughput_bps`` (all bytes
acknowledged over the span from the first send to the last acknowledgement),
``flow.isb_notifications`` (summed), ``flow.connections``. Time series (ISB, outstanding bytes,
throughput) are recorded by :class:`~mock_wsk.transport.link.FlowDriver` under the flow's name
``flow.<conn>`` and reported by :class:`~mock_wsk.transport.link.Links`.

The ISB-decrease check (FLOW_MODEL.md: "the pump must lower its outstanding bytes within one
RTT of the notification"): when a ``WskSendBacklogEvent`` carrying a *lower* value than the last
one the driver received returns, the provider computes when the bytes outstanding at that moment
will have drained if the driver stops topping up - the flow's acknowledgement horizon (about one
RTT; after an RTT decrease still the old one, after a loss the recovery stall), plus the wire
time and one RTT of anything still queued - and looks again then, plus half an RTT and one
send's wire time of slack. If the driver's outstanding bytes (passed to WskSend, not yet
completed) are still above the current ISB by more than its largest send, it reports the warning
once per connection. Only drivers that enabled the event are held to it; a fixed-window sender is
not. A driver that ignores the decrease keeps refilling to the old value, so it is above the new
one whenever the check looks: the slack costs no detection.
"""

from __future__ import annotations

from typing import Any

from mock_wsk.transport.link import DEFAULT_LINK, Links
from mock_wsk.wsk import rules as _rules  # noqa: F401  (registers the rules reported here)
from mock_wsk.wsk.core import Wsk, wsk_state
from mock_wsk.wsk.transport import FixedRttTransport, FlowTransport, Transport

_D = 8_000_000_000  # bits per byte x ns per second


class Connection:
    """One connection's send path as the metrics see it.

    It is also its transport's ``on_isb_change`` hook (:meth:`__call__`): one object per
    connection instead of a closure more, and :meth:`WskFlows.find` gets from a socket to its
    connection through it in O(1).
    """

    __slots__ = ("w", "name", "sock", "transport", "mark_acked", "mark_capacity",
                 "last_delivered", "check_seq", "reported")

    def __init__(self, w: Wsk, name: str, sock: Any, transport: Transport) -> None:
        self.w = w
        self.name = name
        self.sock = sock
        self.transport = transport
        self.mark_acked: int | None = None
        self.mark_capacity = 0
        self.last_delivered: int | None = None  # last ISB a WskSendBacklogEvent carried
        self.check_seq = 0
        self.reported = False

    def __call__(self, isb: int) -> None:
        """The transport's ideal send backlog changed (its ``on_isb_change``)."""
        from mock_wsk.wsk.dispatch import notify_isb  # late: dispatch imports the provider

        notify_isb(self.w, self.sock, isb)


class WskFlows:
    """Per-machine registry of WSK connections' transports (``m.subsystem(WskFlows)``)."""

    def __init__(self, m: Any) -> None:
        self.m = m
        self.connections: list[Connection] = []
        self._names: set[str] = set()
        self.mark_ns: int | None = None
        self.samples: dict[str, float] = {}  # flow_sample snapshots, already metric-named

    def add(self, sock: Any, peer: Any, transport: Transport,
            name: str | None = None) -> Connection:
        """Register ``sock``'s connection; it becomes the transport's ``on_isb_change``.
        ``name``: :meth:`name_for`'s answer, if the caller has it already."""
        conn = Connection(wsk_state(self.m), name if name is not None else
                          self.name_for(sock, peer), sock, transport)
        self._names.add(conn.name)
        self.connections.append(conn)
        transport.on_isb_change = conn
        return conn

    def name_for(self, sock: Any, peer: Any) -> str:
        name = getattr(peer, "name", "")
        if not (isinstance(name, str) and name.isidentifier()) or name in self._names:
            name = f"s{sock.id}"
        return name

    def find(self, sock: Any) -> Connection | None:
        transport = sock.transport
        hook = getattr(transport, "on_isb_change", None) if transport is not None else None
        if type(hook) is Connection and hook.sock is sock:
            return hook  # the usual case, O(1): see Connection
        for conn in self.connections:
            if conn.sock is sock:
                return conn
        return None

    # ------------------------------------------------------------------ measurement mark

    def mark(self) -> None:
        """Start the ``*_since_mark`` measurements now (e.g. once slow start is over)."""
        now = self.m.now
        self.mark_ns = now
        for conn in self.connections:
            transport = conn.transport
            if isinstance(transport, FlowTransport):
                conn.mark_acked = transport.driver.acknowledged  # builds it: as eager
                conn.mark_capacity = transport.driver.capacity_bits(now)

    def sample(self, label: str) -> None:
        """Snapshot every connection now as ``flow.<conn>.<label>.<name>`` metrics: the ISB,
        the last ISB a WskSendBacklogEvent delivered, notifications so far, outstanding bytes."""
        for conn in self.connections:
            transport = conn.transport
            prefix = f"flow.{conn.name}.{label}."
            samples = self.samples
            samples[prefix + "isb"] = transport.isb
            samples[prefix + "isb_delivered"] = (conn.last_delivered
                                                 if conn.last_delivered is not None else -1)
            samples[prefix + "isb_notifications"] = transport.notifications_delivered
            if isinstance(transport, FlowTransport):
                samples[prefix + "outstanding"] = transport.outstanding
                samples[prefix + "cwnd"] = transport.flow.cwnd

    # ------------------------------------------------------------------ metrics

    def metrics(self) -> dict[str, float]:
        if not self.connections:
            return {}
        out: dict[str, float] = {"flow.connections": len(self.connections)}
        first_util: float | None = None
        first_since: float | None = None
        acked_total = notifications = corrupt = 0
        starts: list[int] = []
        ends: list[int] = []
        for conn in self.connections:
            per = self._connection_metrics(conn)
            for key, value in per.items():
                out[f"flow.{conn.name}.{key}"] = value
            notifications += int(per["isb_notifications"])
            corrupt += int(per["corrupt_sends"])
            transport = conn.transport
            if isinstance(transport, FlowTransport):
                driver = transport.driver
                acked_total += transport.flow.acknowledged
                if driver.first_submit_ns is not None:
                    starts.append(driver.first_submit_ns)
                if driver.last_ack_ns is not None:
                    ends.append(driver.last_ack_ns)
                if first_util is None and driver.first_submit_ns is not None:
                    first_util = per["utilization"]
                    first_since = per["utilization_since_mark"]
        span = max(ends) - min(starts) if starts and ends else 0
        out["flow.throughput_bps"] = acked_total * _D // span if span > 0 else 0
        out["flow.bytes_acked"] = acked_total
        out["flow.utilization"] = first_util if first_util is not None else 0.0
        out["flow.utilization_since_mark"] = first_since if first_since is not None else 0.0
        out["flow.isb_notifications"] = notifications
        out["flow.corrupt_sends"] = corrupt
        out.update(self.samples)
        return out

    def _connection_metrics(self, conn: Connection) -> dict[str, float]:
        transport = conn.transport
        per: dict[str, float] = {
            "isb_notifications": transport.notifications_delivered,
            "corrupt_sends": transport.corrupt_sends,
            "isb": transport.isb,
        }
        if not isinstance(transport, FlowTransport):
            return per
        driver = transport.driver
        base = driver.metrics()
        per.update(throughput_bps=base["throughput_bps"], utilization=base["utilization"],
                   time_to_fill_pipe_ns=base["time_to_fill_pipe_ns"],
                   bytes_acked=base["bytes_acked"], isb_changes=driver.isb_notifications)
        outstanding = driver.outstanding_series.points
        per["outstanding_max"] = max((v for _, v in outstanding), default=0)
        isb_points = driver.isb_series.points
        per["isb_max"] = max((v for _, v in isb_points), default=0)
        per["isb_min"] = min((v for _, v in isb_points), default=0)
        # Since the mark (the whole run without one): what "after slow start" means.
        acked = transport.flow.acknowledged
        end = driver.last_ack_ns
        since_util = 0.0
        since_bps = 0
        if conn.mark_acked is not None and self.mark_ns is not None:
            start_ns, start_acked, start_cap = self.mark_ns, conn.mark_acked, conn.mark_capacity
        elif driver.first_submit_ns is not None:
            start_ns, start_acked, start_cap = driver.first_submit_ns, 0, 0
        else:
            start_ns = None
        if start_ns is not None and end is not None and end > start_ns:
            capacity = driver.capacity_bits(end) - start_cap
            since_util = round((acked - start_acked) * 8 / capacity, 6) if capacity > 0 else 0.0
            since_bps = (acked - start_acked) * _D // (end - start_ns)
        per["utilization_since_mark"] = since_util  # fidelity: wsk.utilization_window
        per["throughput_since_mark_bps"] = since_bps
        return per


# ---------------------------------------------------------------------- opening a transport


def open_transport(w: Wsk, sock: Any, peer: Any) -> Transport:
    """The transport of a newly connected socket, as the WSK settings say (``transport``).

    The flow model takes its link from the scenario's ``network:`` section (``Links``
    defaults); without one, the WSK ``rtt_ns`` setting is the path's RTT so that a scenario
    that never mentions the network sees the same round trip as the handshake. A peer may
    carry ``link`` overrides (a dict of FlowParams fields) for its own connection.
    """
    settings = w.settings
    flows = w.m.subsystem(WskFlows)
    if settings.transport == "fixed_rtt":
        fixed = FixedRttTransport(w.m, settings.rtt_ns, settings.default_isb,
                                  settings.nodelay_supported)
        flows.add(sock, peer, fixed)
        return fixed
    links = w.m.subsystem(Links)
    overrides: dict[str, Any] = {}
    if links.defaults == DEFAULT_LINK:  # fidelity: wsk.link_without_network_section
        overrides["rtt_ns"] = settings.rtt_ns
    overrides.update(getattr(peer, "link", None) or {})
    name = flows.name_for(sock, peer)
    transport = FlowTransport(w.m, f"flow.{name}", settings.nodelay_supported, **overrides)
    conn = flows.add(sock, peer, transport, name)
    if flows.mark_ns is not None:  # opened after the mark: measure from its first send
        conn.mark_acked = None
    return transport


# ---------------------------------------------------------------------- ISB decrease check


def backlog_delivered(w: Wsk, sock: Any, isb: int) -> None:
    """A WskSendBacklogEvent carrying ``isb`` returned: count it; arm the decrease check."""
    transport = sock.transport
    if transport is None:
        return
    transport.notifications_delivered += 1
    if not isinstance(transport, FlowTransport):
        return
    flows = w.m.subsystem(WskFlows)
    conn = flows.find(sock)
    if conn is None:
        return
    previous = conn.last_delivered
    conn.last_delivered = isb
    if previous is None or isb >= previous or conn.reported:
        return
    flow = transport.flow
    params = flow.params
    bps = params.bandwidth_bps
    now = w.m.now
    # What a driver that stopped topping up at once still has outstanding drains by then:
    # everything released is acknowledged at the ack horizon (whatever RTT it left under),
    # what is still queued leaves at the link rate and takes one RTT more.
    drained = max(flow.ack_horizon, now) + -(-flow.queued * _D // bps)
    if flow.queued:
        drained += params.rtt_ns
    wire_ns = -(-transport.max_send * _D // bps)
    delay = drained - now + params.rtt_ns // 2 + wire_ns
    conn.check_seq += 1
    w.m.call_later(delay, _check_decrease, w, conn, conn.check_seq, isb, w.m.now)


def _check_decrease(w: Wsk, conn: Connection, seq: int, notified: int, at_ns: int) -> None:
    transport = conn.transport
    assert isinstance(transport, FlowTransport)
    if seq != conn.check_seq or conn.reported or transport.driver.closed:
        return  # a later decrease re-armed the check, or the connection is gone
    isb = transport.isb
    outstanding = transport.outstanding
    allowance = transport.max_send
    if outstanding <= isb + allowance:
        return
    conn.reported = True
    sock = conn.sock
    w.m.report(
        "wsk.backlog.ignores_isb_decrease",
        f"socket #{sock.id}: WskSendBacklogEvent lowered the ideal send backlog to {notified} "
        f"bytes at t={at_ns} ns; {w.m.now - at_ns} ns later the driver still has {outstanding} "
        f"bytes outstanding (ISB now {isb}, allowance one send of {allowance})",
        objects={"socket": sock.id, "isb": isb, "outstanding": outstanding},
        location=_backlog_location(sock),
    )


def _backlog_location(sock: Any) -> Any:
    from mock_wsk.verifier import code_location

    fn = getattr(sock.client_dispatch, "WskSendBacklogEvent", None) if sock.client_dispatch \
        else None
    return code_location(fn)


# ---------------------------------------------------------------------- forced close


def forced_close(w: Wsk, sock: Any) -> bool:
    """The provider declares a connected socket dead (a timeline event): pending and new
    requests fail with STATUS_FILE_FORCED_CLOSED, a NULL indication goes to the receive
    callback if enabled, and the driver must call WskCloseSocket within the dead-socket
    deadline (``wsk.socket.dead_not_closed``). False if the socket was not open."""
    from mock_wsk.wsk.states import State

    if sock.state >= State.CLOSING or sock.dead:
        return False
    w.network.kill(sock)
    return True
