"""The fidelity table: every choice the mock makes where the documentation is silent.

The mock must answer every call with a definite status and behaviour, so it sometimes decides
what Windows documents nowhere (the status for enabling an event before bind, the IRQL a callback
runs at by default...). Each such decision is a :class:`Choice` registered here and read with
:func:`choose` at the *one* place in the code where it takes effect, so that

* the project's docs can print the whole table (:func:`all_choices`);
* a violation caused by a chosen status can name it (``objects={"status_chosen_by":
  "fidelity:<id>"}``, see :func:`cite`), and a user can tell "Windows documents this" from
  "the mock chose";
* choices marked ``configurable`` can be overridden per machine or scenario (:func:`override`),
  for behaviour that plausibly differs between Windows versions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mock_wsk.status import (
    STATUS_BUFFER_TOO_SMALL,
    STATUS_DEVICE_NOT_READY,
    STATUS_INVALID_DEVICE_REQUEST,
    STATUS_INVALID_DEVICE_STATE,
    STATUS_INVALID_PARAMETER,
    STATUS_NOT_IMPLEMENTED,
    STATUS_NOT_SUPPORTED,
    STATUS_SUCCESS,
)


@dataclass(frozen=True, slots=True)
class Choice:
    """One decision the docs leave open: what the mock does, what the docs say, and why."""

    id: str
    value: Any
    docs_say: str
    why: str
    configurable: bool = False


_CHOICES: dict[str, Choice] = {}
_OVERRIDES: dict[str, Any] = {}


def define_choice(id: str, value: Any, docs_say: str, why: str,
                  configurable: bool = False) -> Choice:
    if id in _CHOICES:
        raise ValueError(f"fidelity choice {id!r} defined twice")
    choice = Choice(id, value, docs_say, why, configurable)
    _CHOICES[id] = choice
    return choice


def choose(id: str) -> Any:
    """The value of choice ``id`` (an override if one is active)."""
    if id in _OVERRIDES:
        return _OVERRIDES[id]
    return _CHOICES[id].value


def cite(id: str) -> str:
    """How a violation names the choice that produced its status: ``fidelity:<id>``."""
    if id not in _CHOICES:
        raise KeyError(id)
    return f"fidelity:{id}"


# Areas that define choices in modules of their own (imported so the table is complete).
CHOICE_MODULES: tuple[str, ...] = ("mock_wsk.kernel.choices", "mock_wsk.tdi.choices",
                                   "mock_wsk.winsock.stack")


def all_choices() -> list[Choice]:
    import importlib

    for name in CHOICE_MODULES:
        importlib.import_module(name)
    return list(_CHOICES.values())


@contextmanager
def override(**values: Any) -> Iterator[None]:
    """Temporarily override configurable choices (ids with dots spelled with ``__``)."""
    saved = dict(_OVERRIDES)
    try:
        for key, value in values.items():
            cid = key.replace("__", ".")
            if not _CHOICES[cid].configurable:
                raise ValueError(f"fidelity choice {cid!r} is not configurable")
            _OVERRIDES[cid] = value
        yield
    finally:
        _OVERRIDES.clear()
        _OVERRIDES.update(saved)


# ---------------------------------------------------------------------- SO_WSK_EVENT_CALLBACK

define_choice(
    "wsk.enable_before_bind", STATUS_INVALID_DEVICE_STATE,
    "The socket 'must' be bound (listen/datagram) or connected (connection-oriented) before "
    "SO_WSK_EVENT_CALLBACK; the failure status is not documented.",
    "The socket is in the wrong state for the request: STATUS_INVALID_DEVICE_STATE says exactly "
    "that (TDI maps TDI_INVALID_STATE to it).", configurable=True)
define_choice(
    "wsk.invalid_event_flag", STATUS_INVALID_PARAMETER,
    "Only the flags of the socket's category are valid; the status for others is not documented.",
    "A bad EventMask is a bad parameter.", configurable=True)
define_choice(
    "wsk.disable_static", STATUS_INVALID_DEVICE_STATE,
    "A statically enabled callback cannot be disabled; the status is not documented.",
    "The request is refused because of the socket's (client's) state, not its parameters.",
    configurable=True)
define_choice(
    "wsk.disable_inherited_on_listener", STATUS_INVALID_DEVICE_STATE,
    "Connection callbacks enabled on a listener 'cannot be disabled' there; status undocumented.",
    "Same reasoning as disabling a static callback.", configurable=True)
define_choice(
    "wsk.static_after_socket", STATUS_INVALID_DEVICE_STATE,
    "WSK_SET_STATIC_EVENT_CALLBACKS must come before the client's first socket; the status of a "
    "late call is not documented.",
    "Refused because of the client's state.", configurable=True)
define_choice(
    "wsk.bad_event_control", STATUS_INVALID_PARAMETER,
    "InputSize/OutputSize/NpiId/Level must have the documented values; failure status "
    "undocumented.",
    "Malformed parameters.", configurable=True)
define_choice(
    "wsk.disable_not_enabled", STATUS_SUCCESS,
    "Not documented: disabling a callback that is not enabled.",
    "Idempotent: the callback is already in the requested state, nothing can be in flight.")
define_choice(
    "wsk.enable_while_disable_pending", "enable wins",
    "Not documented: re-enabling a callback whose disable is still waiting for in-flight calls.",
    "The new enable takes effect at once; the earlier disable still completes (its IRP, if any) "
    "when the calls in flight have returned. A.4's promise holds until the re-enable.")

# ---------------------------------------------------------------------- other requests

define_choice(
    "wsk.unknown_ioctl", STATUS_NOT_SUPPORTED,
    "Not documented: a WskIoctl control code the provider does not know.",
    "STATUS_NOT_SUPPORTED is what the WSK docs use for 'the transport does not support this'; "
    "Wine answers STATUS_NOT_IMPLEMENTED for everything, which says 'the mock is incomplete'.",
    configurable=True)
define_choice(
    "wsk.unknown_option", STATUS_NOT_SUPPORTED,
    "Not documented: a socket option (WskSetOption/WskGetOption) the mock does not model.",
    "As for unknown ioctls.", configurable=True)
define_choice(
    "wsk.unknown_extension", STATUS_NOT_SUPPORTED,
    "Not documented: SIO_WSK_REGISTER_EXTENSION with an extension NPI id the provider lacks.",
    "The provider does not support that interface.", configurable=True)
define_choice(
    "wsk.unknown_client_control", STATUS_INVALID_DEVICE_REQUEST,
    "Not documented: an unknown WskControlClient control code.",
    "The classic 'this device does not handle this request' status.", configurable=True)
define_choice(
    "wsk.unmodelled_call", STATUS_NOT_IMPLEMENTED,
    "Members such as WskInspectComplete, WskSendMessages, WskConnectEx, WskSendEx, WskReceiveEx "
    "and WskGetAddressInfo are documented but not modelled by the mock.",
    "Answer definitely and honestly: the IRP completes with STATUS_NOT_IMPLEMENTED, so a stub "
    "that relies on them fails loudly instead of silently.")
define_choice(
    "wsk.bad_state", STATUS_INVALID_DEVICE_STATE,
    "A request on a socket in the wrong state (WskSend before connect...): status undocumented.",
    "The socket's state is wrong for the request.", configurable=True)
define_choice(
    "wsk.irp_required_missing", STATUS_INVALID_PARAMETER,
    "Requests that require an IRP do not document what happens without one.",
    "Windows would dereference NULL; the mock reports the rule and refuses the call.")
define_choice(
    "wsk.bad_irp", STATUS_INVALID_PARAMETER,
    "An IRP that cannot start a request (still pending, freed...) is a driver bug; no status.",
    "The IRP is not touched (it may belong to another request); the call is refused.")
define_choice(
    "wsk.after_close", STATUS_INVALID_DEVICE_STATE,
    "Calling a socket after WskCloseSocket is undefined (use after free).",
    "The mock reports wsk.socket.use_after_close and refuses the call without touching the IRP.")
define_choice(
    "wsk.capture_timeout", STATUS_DEVICE_NOT_READY,
    "WskCaptureProviderNPI: STATUS_DEVICE_NOT_READY 'the provider NPI was not yet available'; "
    "the status after a WaitTimeout in milliseconds expires is not listed separately.",
    "Expiry of the wait means the NPI was not yet available.")
define_choice(
    "wsk.abortive_request_status", "STATUS_CONNECTION_ABORTED / STATUS_CONNECTION_RESET",
    "Not documented: the status of requests pending when a connection is aborted.",
    "Local abort (WskDisconnect with WSK_FLAG_ABORTIVE): STATUS_CONNECTION_ABORTED; reset by the "
    "peer: STATUS_CONNECTION_RESET (the TDI mapping of the same events).")

# ---------------------------------------------------------------------- timing and scheduling

define_choice(
    "wsk.completion", "decide",
    "A WSK request may complete inline (the function returns the final status after the IRP "
    "completed) or later (STATUS_PENDING); the docs allow both.",
    "Asked at the decision point (fifo: inline) unless WskSettings.completion forces one; sends "
    "always pend because WSK completes them only when the peer acknowledged the data.",
    configurable=True)
define_choice(
    "wsk.callback_irql", "any",
    "Event callbacks run at IRQL <= DISPATCH_LEVEL; which one is not documented.",
    "'any' asks the decision point per call (fifo: DISPATCH_LEVEL, the usual case for network "
    "indications); exploration covers PASSIVE_LEVEL too (CONTRACTS B.8).", configurable=True)
define_choice(
    "wsk.dead_socket_close_deadline_ns", 1_000_000_000,
    "After a dead-socket signal the client must close the socket 'as soon as possible'.",
    "1 s of virtual time: ample for any sane driver, short enough to catch one that never "
    "closes. Scenarios can set WskSettings.dead_socket_close_deadline_ns.", configurable=True)
define_choice(
    "wsk.deregister_hang_ns", 10_000_000_000,
    "WskDeregister blocks until every socket is closed and every capture released (forever, if "
    "one leaked).",
    "After 10 s of virtual time still blocked, the mock reports wsk.deregister.sockets_open with "
    "the creation site of each open socket (the wait itself goes on, as on Windows).",
    configurable=True)
define_choice(
    "wsk.default_isb", 64 * 1024,
    "The ideal send backlog depends on the connection; no default is documented.",
    "64 KiB, the value Wine returns for SIO_IDEAL_SEND_BACKLOG_QUERY; the flow model replaces "
    "it per connection.", configurable=True)
define_choice(
    "wsk.default_rtt_ns", 1_000_000,
    "Not applicable: the network is simulated.",
    "1 ms round trip for the default transport (handshakes, send completion after the ack).",
    configurable=True)
define_choice(
    "wsk.bad_callback_return", "treated as the safe answer",
    "A callback returning an undocumented status is a client bug; the provider's reaction is "
    "not documented.",
    "After reporting wsk.callback.bad_return: WskReceiveEvent/WskReceiveFromEvent as "
    "STATUS_DATA_NOT_ACCEPTED (the data is kept), WskAcceptEvent as STATUS_REQUEST_NOT_ACCEPTED "
    "(the socket is closed), the others as STATUS_SUCCESS.")
define_choice(
    "wsk.sockaddr_port_order", "host order",
    "SOCKADDR_IN.sin_port is in network byte order (htons / RtlUshortByteSwap in C).",
    "The mock does not model byte order: sin_port holds the port number; a C port of a stub "
    "adds the byte swap.")
define_choice(
    "wsk.receive_event_reindication", "on WskReceive or re-enable",
    "After STATUS_DATA_NOT_ACCEPTED (or a partial BytesAccepted) the provider stops indicating "
    "until the client posts WskReceive.",
    "Indications resume once a posted WskReceive has been satisfied, or when the receive "
    "callback is enabled again.")

# ---------------------------------------------------------------------- send path

define_choice(
    "wsk.default_transport", "flow",
    "WSK does not buffer sends: a send completes when all its data has actually been sent.",
    "Connection sockets send through the deterministic TCP flow model (FLOW_MODEL.md): a "
    "WskSend completes when its last byte is acknowledged. The fixed round-trip transport "
    "(`wsk: {transport: fixed_rtt}`) remains for scenarios that need no flow model.",
    configurable=True)
define_choice(
    "wsk.link_without_network_section", "1 Gb/s, the WSK rtt setting",
    "Not applicable: the network is simulated.",
    "Without a `network:` section a flow takes the default link (1 Gb/s, FlowParams defaults) "
    "with the WSK `rtt` as its round trip, so the handshake and the data see the same RTT; a "
    "peer may carry `link` overrides for its own connection.")
define_choice(
    "wsk.handshake_time", "one WSK rtt",
    "Silent: connection establishment time is the transport's.",
    "WskConnect/WskSocketConnect complete one WSK `rtt` after the request (not the link's RTT "
    "when a `network:` section sets another).")
define_choice(
    "wsk.send_corruption", "any watched byte written or freed before the last ack",
    "While a send is pending the MDL chain stays locked and unchanged (CONTRACTS C.15).",
    "A send counts as corrupt on the wire (flow.corrupt_sends) when the driver wrote to or "
    "freed any byte it described before the send's last byte was acknowledged; the rule "
    "mdl.changed_while_in_use is reported at the write or free itself.")
define_choice(
    "wsk.utilization_window", "from the flow_mark action",
    "FLOW_MODEL.md: utilization is judged 'once slow start ends'.",
    "flow.*.utilization_since_mark measures from a `flow_mark` timeline action the scenario "
    "places after slow start; flow.*.utilization covers the whole run.")

# ---------------------------------------------------------------------- socket options
# WskSetOption / WskGetOption for the options of mock_wsk.wsk.options. The WDK pages
# (network/so-keepalive, so-reuseaddr, so-exclusiveaddruse, so-rcvbuf, so-broadcast,
# so-conditional-accept) give the call shape, the socket categories, the default and the IRP and
# before-bind obligations; they give no failure status.

define_choice(
    "wsk.bad_option_call", STATUS_INVALID_PARAMETER,
    "Each WSK socket option page gives Level, InputSize, InputBuffer, OutputSize, OutputBuffer "
    "and OutputSizeReturned for WskSetOption and WskGetOption; the status of a call that "
    "differs is not documented.",
    "Malformed parameters, as for SO_WSK_EVENT_CALLBACK (wsk.bad_event_control).",
    configurable=True)
define_choice(
    "wsk.option_buffer_too_small", STATUS_BUFFER_TOO_SMALL,
    "WskGetOption of a socket option: OutputSize = sizeof(ULONG); the status for a smaller "
    "OutputSize is not documented.",
    "The buffer cannot hold the ULONG: STATUS_BUFFER_TOO_SMALL, as the mock's SIO_WSK_QUERY_* "
    "ioctls answer a short OutputSize.", configurable=True)
define_choice(
    "wsk.option_wrong_category", STATUS_NOT_SUPPORTED,
    "Each option 'applies only to' some socket categories (SO_KEEPALIVE: listening and "
    "connection-oriented; SO_BROADCAST: datagram; ...); the status on another is not documented.",
    "The option is not supported on that kind of socket: STATUS_NOT_SUPPORTED, the status the "
    "WSK docs use for 'not supported by the transport' (Winsock answers WSAENOPROTOOPT).",
    configurable=True)
define_choice(
    "wsk.option_after_bind", STATUS_INVALID_DEVICE_STATE,
    "SO_REUSEADDR, SO_EXCLUSIVEADDRUSE and SO_CONDITIONAL_ACCEPT 'must' be set before the socket "
    "is bound (IPV6_V6ONLY too, per Winsock); the status of a late set is not documented.",
    "The socket is in the wrong state for the request (as wsk.enable_before_bind).",
    configurable=True)
define_choice(
    "wsk.option_reuse_conflict", STATUS_INVALID_PARAMETER,
    "Not documented for WSK: enabling SO_REUSEADDR while SO_EXCLUSIVEADDRUSE is enabled on the "
    "same socket, or the reverse ('Sharing Transport Addresses' treats them as alternatives).",
    "Refused, as Winsock refuses it with WSAEINVAL; the option already set keeps its value. "
    "Disabling either one is always accepted.", configurable=True)
define_choice(
    "wsk.conditional_accept", STATUS_NOT_SUPPORTED,
    "SO_CONDITIONAL_ACCEPT: 'Some transport protocols might not support conditional accept mode "
    "on listening sockets.'",
    "The mock does not model WskInspectEvent / WskAbortEvent / WskInspectComplete, so enabling "
    "conditional accept is refused the way such a transport refuses it; setting 0 and reading "
    "the option (0) succeed.", configurable=True)
define_choice(
    "wsk.default_rcvbuf", 64 * 1024,
    "SO_RCVBUF: 'The default size of a socket's receive buffer is transport-specific.'",
    "64 KiB, a typical TCP receive buffer on current Windows (older versions used 8 KiB); "
    "scenarios that depend on it should set it.", configurable=True)
define_choice(
    "wsk.option_boolean_values", "nonzero reads back as 1",
    "The on/off options document the values 0 and 1 only.",
    "As Winsock's BOOL options: any nonzero ULONG enables the option, and WskGetOption then "
    "returns 1. SO_RCVBUF stores the ULONG as given (0 included).")
define_choice(
    "wsk.option_inheritance", "SO_KEEPALIVE, SO_RCVBUF, TCP_NODELAY; at accept time",
    "SO_KEEPALIVE and SO_RCVBUF set on a listening socket apply to every connection it accepts "
    "(and the accepted socket may override them); the pages of the other options say nothing.",
    "A socket accepted from a listener (WskAcceptEvent or WskAccept) starts with the listener's "
    "SO_KEEPALIVE, SO_RCVBUF and TCP_NODELAY (Winsock: an accepted socket 'has the same "
    "properties' as the listener) as they were when the connection arrived; the address-sharing "
    "options, SO_CONDITIONAL_ACCEPT and IPV6_V6ONLY describe the listener's own bind, so an "
    "accepted socket reads their defaults.")
define_choice(
    "wsk.protocol_options", "TCP_NODELAY, IPV6_V6ONLY as in Winsock; IRP optional",
    "WSK Socket Options: 'The underlying network protocol might support additional socket "
    "options' - see the Windows Sockets 2 documentation; no WSK page for TCP_NODELAY or "
    "IPV6_V6ONLY.",
    "Both take a ULONG like the SOL_SOCKET options. TCP_NODELAY (Level IPPROTO_TCP, default 0) "
    "applies to listening, connection-oriented and stream sockets at any time; IPV6_V6ONLY "
    "(Level IPPROTO_IPV6, default 1: 'an IPv6 socket ... only operates over the IPv6 protocol') "
    "to every category but basic, and only before bind. No page requires an IRP: without one "
    "the request completes inline and OutputSizeReturned (if given) receives the byte count. "
    "WSK_SOCKET does not record the address family, so IPV6_V6ONLY is accepted on AF_INET "
    "sockets too.")
define_choice(
    "wsk.option_stream_sockets", "both roles",
    "The option pages predate stream sockets (WSK_FLAG_STREAM_SOCKET), which become listening or "
    "connection-oriented only when used.",
    "An option that applies to listening or to connection-oriented sockets applies to a stream "
    "socket too, whatever it later becomes.")
define_choice(
    "wsk.option_effects", "stored and returned only",
    "Each option changes transport behaviour (keep-alive probes, receive window, address "
    "sharing at bind, broadcast, Nagle, dual stack).",
    "The mock stores each value and returns it; the simulated network does not change: peers "
    "never vanish silently (nothing for keep-alives to detect), scripted peers are not limited "
    "by SO_RCVBUF, WskBind does not consult SO_REUSEADDR / SO_EXCLUSIVEADDRUSE, the send path "
    "keeps using the per-send WSK_FLAG_NODELAY, and the network is IPv4.")
