"""The ``wsk:`` and ``peers:`` scenario sections and the scripted-peer timeline actions.

``wsk:`` sets the mock WSK provider (:class:`mock_wsk.wsk.WskSettings`)::

    wsk:
      callback_irql: any            # dispatch | passive | any (asked per call)
      completion: pended            # inline | pended | any (asked per request)
      provider_ready_at: 5ms        # WskCaptureProviderNPI waits (or fails) until then
      dead_socket_close_deadline: 100ms
      deregister_hang: 1s           # WskDeregister still blocked after this -> reported
      nodelay_supported: false
      default_isb: 64KiB
      rtt: 1ms                      # the default transport's round trip (sends, connects)
      local_address: 10.0.0.1

``peers:`` lists scripted remote endpoints. ``listen: PORT`` makes a peer accept the driver's
WskConnect / WskSocketConnect on ``address:PORT``; other peers connect to the driver
(``peer_connect``) from ``address:port`` (default 50000 + their index)::

    peers:
      - {name: server, address: 10.0.0.2, listen: 7000}
      - {name: client, address: 10.0.0.3}

Timeline actions drive them (every size accepts units, ``peer`` names an entry of ``peers:``)::

    - {at: 1ms, action: peer_connect, peer: client, port: 80}
    - {at: 2ms, action: peer_send, peer: client, bytes: 3000, segments: 2}
    - {at: 3ms, action: peer_datagram, peer: client, bytes: 0, to_port: 5353, count: 2}
    - {at: 4ms, action: peer_close, peer: client}     # graceful (FIN)
    - {at: 4ms, action: peer_reset, peer: client}     # abortive (RST)
    - {at: 4ms, action: peer_kill, peer: client}      # the provider declares the socket dead

The provider's counters are metrics (``wsk.callbacks.WskReceiveEvent``, ``wsk.disables.pending``,
``wsk.sockets_open``, ``wsk.bytes_indicated``, ``wsk.peer.client.bytes_received``...; see
:meth:`mock_wsk.wsk.core.Wsk.metrics`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.actions import action
from harness.errors import ScenarioError
from harness.patterns import register_event_fields
from harness.runner import RUN_SETUP_HOOKS
from harness.scenario import SCENARIO_CHECKS, section_loader
from harness.suggest import did_you_mean
from harness.units import parse_duration, parse_size
from harness.yaml_loader import error_at
from mock_wsk.wsk import configure_wsk, wsk_state

# The provider's trace events beyond those harness.patterns already names.
register_event_fields("wsk.callback.return", ("name", "socket", "status"))
register_event_fields("wsk.event.disable", ("socket", "flags", "outcome"))
register_event_fields("wsk.event.enable", ("socket", "flags"))
register_event_fields("wsk.socket", ("socket", "category"))
register_event_fields("wsk.close", ("socket",))
register_event_fields("wsk.register", ())


def _choice(*allowed: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if value not in allowed:
            hint = did_you_mean(str(value), allowed)
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}"
                             + (f" (did you mean {hint!r}?)" if hint else ""))
        return str(value)

    return parse


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _address(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected an address such as 10.0.0.1, got {value!r}")
    return value


def _completion(value: object) -> str | None:
    text = _choice("inline", "pended", "any")(value)
    return None if text == "any" else text  # WskSettings: None = ask the decision point


# Scenario key -> (WskSettings field, parser).
WSK_KEYS: dict[str, tuple[str, Callable[[object], Any]]] = {
    "callback_irql": ("callback_irql", _choice("dispatch", "passive", "any")),
    "completion": ("completion", _completion),
    "provider_ready_at": ("provider_ready_at_ns", parse_duration),
    "dead_socket_close_deadline": ("dead_socket_close_deadline_ns", parse_duration),
    "deregister_hang": ("deregister_hang_ns", parse_duration),
    "nodelay_supported": ("nodelay_supported", _bool),
    "default_isb": ("default_isb", parse_size),
    "rtt": ("rtt_ns", parse_duration),
    "local_address": ("local_address", _address),
}

PEER_KEYS = ("name", "address", "listen", "port")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # a peer name is part of metric names
FIRST_PEER_PORT = 50000


def _unknown_key(path: str, section: Mapping[str, Any], known: tuple[str, ...] | list[str],
                 where: str) -> None:
    for key in section:
        if key not in known:
            hint = did_you_mean(str(key), known)
            raise error_at(path, section, key, f"unknown key {key!r} in {where}",
                           hint=f"did you mean {hint!r}?" if hint else
                           "expected one of: " + ", ".join(known), at_key=True)


@section_loader("wsk")
def load_wsk(path: str, section: Any) -> dict[str, Any]:
    """``wsk:`` -> keyword arguments of :func:`mock_wsk.wsk.configure_wsk`."""
    if not isinstance(section, Mapping):
        raise ScenarioError("wsk: expected a mapping of provider settings", path=path)
    _unknown_key(path, section, list(WSK_KEYS), "wsk")
    out: dict[str, Any] = {}
    for key, value in section.items():
        field, parse = WSK_KEYS[key]
        try:
            out[field] = parse(value)
        except ValueError as exc:
            raise error_at(path, section, key, f"wsk.{key}: {exc}") from None
    return out


@dataclass(frozen=True, slots=True)
class PeerSpec:
    name: str
    address: str
    port: int
    listen: bool
    line: int | None


def _port(path: str, entry: Mapping[str, Any], key: str) -> int:
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise error_at(path, entry, key, f"peers.{key}: expected a port 1..65535, got {value!r}")
    return value


@section_loader("peers")
def load_peers(path: str, section: Any) -> tuple[PeerSpec, ...]:
    """``peers:`` -> one :class:`PeerSpec` per entry (unique names, valid ports)."""
    from harness.yaml_loader import position_of

    if not isinstance(section, list):
        raise ScenarioError("peers: expected a list of peers", path=path)
    specs: list[PeerSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(section):
        if not isinstance(entry, Mapping):
            raise error_at(path, section, index, "peers: each peer is a mapping "
                           "{name, address, listen?, port?}")
        _unknown_key(path, entry, PEER_KEYS, "a peer")
        for required in ("name", "address"):
            if required not in entry:
                raise error_at(path, section, index, f"peer without {required!r}")
        name = entry["name"]
        if not isinstance(name, str) or not _NAME.match(name):
            raise error_at(path, entry, "name", f"peer name {name!r} must be an identifier "
                           "(letters, digits, _): it becomes part of metric names")
        if name in seen:
            raise error_at(path, entry, "name", f"two peers are named {name!r}")
        seen.add(name)
        try:
            address = _address(entry["address"])
        except ValueError as exc:
            raise error_at(path, entry, "address", f"peers.address: {exc}") from None
        listen = "listen" in entry
        if listen:
            port = _port(path, entry, "listen")
            if "port" in entry:
                raise error_at(path, entry, "port", "a listening peer's port is its `listen` "
                               "port; give one of them", at_key=True)
        else:
            port = _port(path, entry, "port") if "port" in entry else FIRST_PEER_PORT + index
        specs.append(PeerSpec(name, address, port, listen, position_of(section, index).line))
    return tuple(specs)


# ---------------------------------------------------------------------- run setup

# Action -> (required parameters, optional parameters).
PEER_ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "peer_connect": (("peer", "port"), ()),
    "peer_send": (("peer", "bytes"), ("segments",)),
    "peer_datagram": (("peer", "bytes", "to_port"), ("count",)),
    "peer_close": (("peer",), ()),
    "peer_reset": (("peer",), ()),
    "peer_kill": (("peer",), ()),
}
_SIZE_PARAMS = ("bytes",)
_INT_PARAMS = ("port", "to_port", "segments", "count")


_SIZES: dict[tuple[type, Any], int] = {}


def _size(value: Any) -> int:
    """parse_size, memoized (a schedule explorer re-runs the same timeline thousands of times);
    only valid sizes are remembered, so errors are raised (and located) as before."""
    key = (type(value), value)  # 1 and True and 1.0 stay apart
    try:
        return _SIZES[key]
    except KeyError:
        pass
    except TypeError:  # unhashable: parse_size says what is wrong with it
        return parse_size(value)
    size = parse_size(value)
    if len(_SIZES) >= 4096:
        _SIZES.clear()
    _SIZES[key] = size
    return size


def _check_peer_actions(s: Any) -> None:
    """Peer actions name existing peers and well-formed parameters: bad input located at the
    timeline entry, reported when the file loads (so `harness validate` sees it too)."""
    _check_events(s, {p.name for p in s.sections.get("peers", ())})


SCENARIO_CHECKS.append(_check_peer_actions)


def _check_events(s: Any, names: set[str]) -> None:
    for event in s.timeline:
        spec = PEER_ACTIONS.get(event.action)
        if spec is None:
            continue
        required, optional = spec
        params = event.params

        def bad(message: str, hint: str | None = None, event: Any = event) -> ScenarioError:
            return ScenarioError(f"{event.action}: {message}", path=s.path, line=event.line,
                                 hint=hint)

        for key in params:
            if key not in required and key not in optional:
                hint = did_you_mean(str(key), required + optional)
                raise bad(f"unknown parameter {key!r}", f"did you mean {hint!r}?" if hint else
                          "expected: " + ", ".join(required + optional))
        for key in required:
            if key not in params:
                raise bad(f"missing parameter {key!r}")
        peer = params["peer"]
        if not isinstance(peer, str):
            raise bad(f"peer: expected the name of a peer, got {peer!r}",
                      ("peers: " + ", ".join(sorted(names))) if names else
                      "declare it under `peers:`")
        if peer not in names:
            hint = did_you_mean(str(peer), names)
            raise bad(f"unknown peer {peer!r}", f"did you mean {hint!r}?" if hint else
                      ("peers: " + ", ".join(sorted(names))) if names else
                      "declare it under `peers:`")
        for key in _SIZE_PARAMS:
            if key in params:
                try:
                    _size(params[key])
                except ValueError as exc:
                    raise bad(f"{key}: {exc}") from None
        for key in _INT_PARAMS:
            value = params.get(key, 1)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad(f"{key}: expected a positive whole number, got {value!r}")


def _setup(run: Any) -> None:
    sections = run.scenario.sections
    settings = sections.get("wsk")
    peers: tuple[PeerSpec, ...] = sections.get("peers", ())
    uses_peers = any(e.action in PEER_ACTIONS for e in run.scenario.timeline)
    if settings is None and not peers and not uses_peers:
        return  # not a WSK scenario: no provider state at all
    m = run.machine
    configure_wsk(m, **(settings or {}))
    net = wsk_state(m).network
    for spec in peers:
        net.add_peer(spec.address, spec.port, listen=spec.listen, name=spec.name)


if _setup not in RUN_SETUP_HOOKS:
    RUN_SETUP_HOOKS.append(_setup)


# ---------------------------------------------------------------------- timeline actions


def _peer(run: Any, params: Mapping[str, Any]) -> Any:
    name = params["peer"]
    for peer in wsk_state(run.machine).network.peers.values():
        if peer.name == name:
            return peer
    raise LookupError(f"no peer {name!r}")  # _check_peer_actions made this unreachable


@action("peer_connect", "A peer connects to the driver's listening socket on `port` (refused if "
        "nobody listens there).", peer=True)
def peer_connect(run: Any, params: dict[str, Any]) -> None:
    _peer(run, params).connect(int(params["port"]))


@action("peer_send", "A connected peer sends `bytes` (size units) as `segments` segments "
        "(default 1).", peer=True)
def peer_send(run: Any, params: dict[str, Any]) -> None:
    _peer(run, params).send(_size(params["bytes"]), int(params.get("segments", 1)))


@action("peer_datagram", "A peer sends `count` (default 1) datagrams of `bytes` (0 allowed) back "
        "to back to the driver's datagram socket bound to `to_port`.", peer=True)
def peer_datagram(run: Any, params: dict[str, Any]) -> None:
    peer = _peer(run, params)
    nbytes, to_port = _size(params["bytes"]), int(params["to_port"])
    for _ in range(int(params.get("count", 1))):
        peer.datagram(nbytes, to_port)


@action("peer_close", "A peer closes its connection gracefully (FIN): WskDisconnectEvent, "
        "receives end.", peer=True)
def peer_close(run: Any, params: dict[str, Any]) -> None:
    _peer(run, params).close()


@action("peer_reset", "A peer resets its connection (RST): WskDisconnectEvent with "
        "WSK_FLAG_ABORTIVE, pending requests fail.", peer=True)
def peer_reset(run: Any, params: dict[str, Any]) -> None:
    _peer(run, params).reset()


@action("peer_kill", "The provider declares the driver's socket to this peer dead: a NULL "
        "indication, requests fail with STATUS_FILE_FORCED_CLOSED; the driver must close it.")
def peer_kill(run: Any, params: dict[str, Any]) -> None:
    _peer(run, params).kill()
