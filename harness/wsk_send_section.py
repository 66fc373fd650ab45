"""Send-path timeline actions: ``forced_close`` and ``flow_mark``.

::

    timeline:
      - {at: 500ms, action: flow_mark}                   # measure "*_since_mark" from here
      - {at: 900ms, action: flow_sample, label: before_step}
      - {at: 1s, action: forced_close, peer: server}     # one connection (or all without `peer`)

``forced_close`` is the provider declaring a connection dead (a transport failure, an interface
going away): pending sends and every new request fail with ``STATUS_FILE_FORCED_CLOSED``, a
receive callback gets a NULL indication, and the driver must call ``WskCloseSocket`` within
``wsk.dead_socket_close_deadline`` (``wsk.socket.dead_not_closed``, CONTRACTS B.11, C.16).
``socket: N`` selects socket #N instead of a peer's connection.

``flow_sample`` records, under ``label``, each connection's state at that instant as metrics
``flow.<conn>.<label>.isb`` (published ISB), ``.isb_delivered`` (the last value a
WskSendBacklogEvent carried to the driver, -1 if none), ``.isb_notifications``, ``.outstanding``
and ``.cwnd``: expectations can then follow the ISB through a timeline of steps.

``flow_mark`` starts the ``flow.<conn>.utilization_since_mark`` /
``throughput_since_mark_bps`` measurements (and ``flow.utilization_since_mark``): put it after
slow start to state "≥ 95 % once slow start is over" as an expectation.
"""

from __future__ import annotations

from typing import Any

from harness.actions import action
from mock_wsk.wsk import wsk_state
from mock_wsk.wsk.flows import WskFlows, forced_close


def _selected(run: Any, params: dict[str, Any]) -> list[Any]:
    unknown = [k for k in params if k not in ("peer", "socket")]
    if unknown:
        raise ValueError(f"forced_close: unknown parameter(s) {', '.join(unknown)}; "
                         "expected `peer` or `socket`")
    w = wsk_state(run.machine)
    if "socket" in params:
        sock = w.sockets.get(int(params["socket"]))
        return [sock] if sock is not None else []
    if "peer" in params:
        name = params["peer"]
        peers = [p for p in w.network.peers.values() if p.name == name]
        if not peers:
            raise ValueError(f"forced_close: no peer named {name!r}")
        return [p.sock for p in peers if p.sock is not None]
    return [s for s in list(w.sockets.values()) if s.peer is not None]


@action("forced_close", "The provider declares a connection dead now (`peer: NAME`, `socket: N`, "
        "or every connection): pending and new sends fail with STATUS_FILE_FORCED_CLOSED; the "
        "driver must close the socket within wsk.dead_socket_close_deadline.")
def forced_close_action(run: Any, params: dict[str, Any]) -> None:
    w = wsk_state(run.machine)
    for sock in _selected(run, params):
        forced_close(w, sock)


@action("flow_mark", "Start the `*_since_mark` flow measurements now (e.g. after slow start).")
def flow_mark(run: Any, params: dict[str, Any]) -> None:
    run.machine.subsystem(WskFlows).mark()


@action("flow_sample", "Snapshot every connection now as metrics flow.<conn>.<label>.{isb, "
        "isb_delivered, isb_notifications, outstanding, cwnd} (`label`: an identifier).")
def flow_sample(run: Any, params: dict[str, Any]) -> None:
    label = params.get("label")
    if not isinstance(label, str) or not label.isidentifier():
        raise ValueError(f"flow_sample: `label` must be an identifier, got {label!r}")
    run.machine.subsystem(WskFlows).sample(label)
