"""WSK rules: every client obligation of CONTRACTS.md sections A and B, and C.18.

One rule per obligation; each names the sentence of the docs it enforces and where that sentence
comes from (the SO_WSK_EVENT_CALLBACK seed page is ``seeds/002``). Provider *promises* are not
rules here: the mock keeps them, and its tests prove it.
"""

from mock_wsk.constants import BugCheck
from mock_wsk.verifier import Severity, define_rule

E, W = Severity.ERROR, Severity.WARNING
_DV = BugCheck.DRIVER_VERIFIER_DETECTED_VIOLATION
_IOV = BugCheck.DRIVER_VERIFIER_IOMANAGER_VIOLATION
_SEED = "seeds/002 SO_WSK_EVENT_CALLBACK"

# --- A. enabling and disabling event callbacks
define_rule("wsk.event.invalid_flag_for_category", "Event flag not valid for the socket", E, _DV,
            "Valid flags: listening -> WSK_EVENT_ACCEPT (+ connection flags); datagram -> "
            "WSK_EVENT_RECEIVE_FROM; connection-oriented -> WSK_EVENT_DISCONNECT, "
            "WSK_EVENT_RECEIVE, WSK_EVENT_SEND_BACKLOG; basic -> only the events of a registered "
            "extension interface.", f"CONTRACTS A.1; {_SEED}")
define_rule("wsk.event.enable_before_bind", "Event callback changed before bind", E, _DV,
            "On a listening or datagram socket, callbacks are enabled or disabled only after the "
            "socket has been bound to a local transport address.", f"CONTRACTS A.2; {_SEED}")
define_rule("wsk.event.enable_before_connect", "Event callback changed before connect", E, _DV,
            "On a connection-oriented socket, callbacks are enabled or disabled only after the "
            "socket has been connected to a remote transport address.", f"CONTRACTS A.2; {_SEED}")
define_rule("wsk.event.enable_with_irp", "IRP passed when enabling event callbacks", W, _DV,
            "A WSK application does not specify a pointer to an IRP when calling WskControlSocket "
            "to enable event callback functions (Windows tolerates it; the mock completes the "
            "IRP).", f"CONTRACTS A.3; {_SEED}")
define_rule("wsk.event.null_callback", "Enabling a callback whose dispatch slot is NULL", E, _DV,
            "Enabling a flag whose slot in the client dispatch table is NULL is refused.",
            "CONTRACTS A.3")
define_rule("wsk.event.disable_multiple_flags", "Disable of more or less than one event", E, _DV,
            "A WSK application must disable each event callback function independently: "
            "EventMask = exactly one event flag | WSK_EVENT_DISABLE.", f"CONTRACTS A.4; {_SEED}")
define_rule("wsk.event.bad_npi_id", "Wrong NpiId in WSK_EVENT_CALLBACK_CONTROL", E, _DV,
            "NpiId points to NPI_WSK_INTERFACE_ID for the standard events, or to the extension "
            "interface's NPI id for its events.", f"CONTRACTS A.5; {_SEED}")
define_rule("wsk.event.bad_input_size", "Wrong InputSize/InputBuffer/Level", E, _DV,
            "Level = SOL_SOCKET; InputSize = sizeof(WSK_EVENT_CALLBACK_CONTROL) for the socket's "
            "architecture (x64: 16, x86: 8); InputBuffer points to that structure.",
            f"CONTRACTS A.5; {_SEED}")
define_rule("wsk.event.bad_output_params", "Output parameters given with SO_WSK_EVENT_CALLBACK",
            E, _DV, "OutputSize = 0, OutputBuffer = NULL, OutputSizeReturned = NULL.",
            f"CONTRACTS A.5; {_SEED}")
define_rule("wsk.event.disable_inherited_on_listener", "Disabling an inherited flag on a listener",
            E, _DV, "After any connection-oriented event callbacks are enabled on a listening "
            "socket, they cannot be disabled on the listening socket.", f"CONTRACTS A.6; {_SEED}")
define_rule("wsk.event.disable_static", "Disabling a static event callback", E, _DV,
            "A statically enabled callback (WSK_SET_STATIC_EVENT_CALLBACKS) can never be disabled "
            "with SO_WSK_EVENT_CALLBACK.", "CONTRACTS A.7")
define_rule("wsk.static.after_socket_created", "Static callbacks set after the first socket", E,
            _DV, "WSK_SET_STATIC_EVENT_CALLBACKS is issued only before the client creates its "
            "first socket.", "CONTRACTS A.7")

# --- B. callback obligations
define_rule("wsk.callback.irql", "Callback returned at a different IRQL", E,
            BugCheck.IRQL_UNEXPECTED_VALUE,
            "Every WSK event callback may run at any IRQL <= DISPATCH_LEVEL and must return at "
            "the IRQL it was called at.", "CONTRACTS B.8")
define_rule("wsk.callback.wait", "Wait inside a WSK event callback", E, _DV,
            "A callback may start other WSK requests but must never wait for any WSK request to "
            "complete, not even at PASSIVE_LEVEL.", "CONTRACTS B.9; seeds/000")
define_rule("wsk.callback.bad_return", "Callback returned an undocumented status", E, _DV,
            "WskSendBacklogEvent and WskDisconnectEvent return STATUS_SUCCESS; WskReceiveEvent / "
            "WskReceiveFromEvent STATUS_SUCCESS, STATUS_PENDING or STATUS_DATA_NOT_ACCEPTED "
            "(BytesAccepted <= BytesIndicated); WskAcceptEvent STATUS_SUCCESS or "
            "STATUS_REQUEST_NOT_ACCEPTED.", "CONTRACTS B.10; seeds/000")
define_rule("wsk.socket.dead_not_closed", "Dead socket not closed", E, _DV,
            "A NULL data indication, a NULL accept socket or STATUS_FILE_FORCED_CLOSED means the "
            "socket is dead: the client must call WskCloseSocket as soon as possible.",
            "CONTRACTS B.11, C.16")
define_rule("wsk.backlog.ignores_isb_decrease", "Outstanding sends not lowered after an ISB "
            "decrease", W, _DV,
            "IdealBacklogSize is the amount of send data to keep outstanding; a send-backlog-aware "
            "client adjusts to each new value: after a WskSendBacklogEvent lowers it, the bytes "
            "passed to WskSend and not yet completed must fall to the new value (plus one send) "
            "within about one round trip (the mock looks once what was outstanding has drained, "
            "plus half an RTT and one send's wire time).",
            "CONTRACTS B.12; seeds/000; FLOW_MODEL.md (a loss: the pump must lower its "
            "outstanding bytes within one RTT of the notification)")
define_rule("wsk.ioctl.irp_required", "SIO_WSK_* query without an IRP", E, _DV,
            "SIO_WSK_QUERY_IDEAL_SEND_BACKLOG / SIO_WSK_QUERY_RECEIVE_BACKLOG require an IRP.",
            "CONTRACTS B.12")
define_rule("wsk.release.not_retained", "WskRelease of an indication not retained", E, _DV,
            "WskRelease returns a data indication list the client retained by returning "
            "STATUS_PENDING from its receive callback, once.", "CONTRACTS B.10")

# --- C. requests and close
define_rule("wsk.call.bad_state", "Request on a socket in the wrong state", E, _DV,
            "Each request is valid only in some socket states (WskSend only on a connected "
            "connection-oriented or stream socket; WskConnect after WskBind; ...).",
            "CONTRACTS C.13, B.12")
define_rule("wsk.call.irp_required", "Request without its required IRP", E, _DV,
            "WskSocket, WskBind, WskConnect, WskSend, WskReceive, WskDisconnect, WskCloseSocket "
            "... take a required IRP.", "CONTRACTS C.17; WDK wsk.h")
define_rule("wsk.socket.call_during_close", "WskCloseSocket while another call is in progress",
            E, _DV, "No other call on a socket may be in progress when WskCloseSocket is called.",
            "CONTRACTS C.18")
define_rule("wsk.socket.use_after_close", "Socket used after WskCloseSocket", E,
            BugCheck.PAGE_FAULT_IN_NONPAGED_AREA,
            "Nothing is called on a socket after WskCloseSocket.", "CONTRACTS C.18")
define_rule("wsk.deregister.sockets_open", "WskDeregister blocked by open sockets", E,
            BugCheck.DRIVER_POWER_STATE_FAILURE,
            "WskDeregister waits until every socket is closed and every captured provider NPI is "
            "released: a leaked socket hangs it.", "CONTRACTS C.18")
define_rule("wsk.socket.leak", "Socket not closed at unload", E,
            BugCheck.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS,
            "Every socket is closed (WskCloseSocket) before the driver unloads.",
            "CONTRACTS C.18")
define_rule("wsk.npi.release_without_capture", "WskReleaseProviderNPI without a capture", E, _DV,
            "Each successful WskCaptureProviderNPI has exactly one matching "
            "WskReleaseProviderNPI.", "WDK WskCaptureProviderNPI")
define_rule("wsk.registration.leak", "WSK registration or capture left at unload", E,
            BugCheck.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS,
            "A WSK client releases every captured provider NPI and calls WskDeregister before it "
            "unloads.", "CONTRACTS C.18; WDK WskDeregister")

# --- socket options (WskSetOption / WskGetOption; mock_wsk.wsk.options)
_OPTION_PAGES = ("WDK network/so-keepalive, so-reuseaddr, so-exclusiveaddruse, so-rcvbuf, "
                 "so-broadcast, so-conditional-accept")
define_rule("wsk.option.irp_required", "Socket option set or read without an IRP", E, _DV,
            "A WSK application must specify a pointer to an IRP when calling the "
            "WskControlSocket function to set or retrieve the state of the socket option "
            "(SO_KEEPALIVE, SO_REUSEADDR, SO_EXCLUSIVEADDRUSE, SO_RCVBUF, SO_BROADCAST, "
            "SO_CONDITIONAL_ACCEPT).", _OPTION_PAGES)
define_rule("wsk.option.set_after_bind", "Socket option set after bind", E, _DV,
            "If a WSK application sets this socket option, it must do so before the socket is "
            "bound to a local transport address (SO_REUSEADDR, SO_EXCLUSIVEADDRUSE, "
            "SO_CONDITIONAL_ACCEPT; IPV6_V6ONLY per Winsock).",
            "WDK network/so-reuseaddr, so-exclusiveaddruse, so-conditional-accept; Winsock "
            "'Dual-Stack Sockets for IPv6 Winsock Applications'")
define_rule("wsk.option.wrong_category", "Socket option on a socket it does not apply to", E,
            _DV, "Each socket option applies only to some socket categories: SO_KEEPALIVE to "
            "listening and connection-oriented sockets; SO_REUSEADDR, SO_EXCLUSIVEADDRUSE and "
            "SO_RCVBUF to listening, datagram and connection-oriented sockets; SO_BROADCAST to "
            "datagram sockets; SO_CONDITIONAL_ACCEPT to listening sockets.", _OPTION_PAGES)
define_rule("wsk.option.bad_level", "Socket option with the wrong Level", E, _DV,
            "Level is the level the option is defined at: SOL_SOCKET for the SO_* options, "
            "IPPROTO_TCP for TCP_NODELAY, IPPROTO_IPV6 for IPV6_V6ONLY.",
            f"{_OPTION_PAGES}; ws2def.h, ws2ipdef.h")
define_rule("wsk.option.bad_input", "Socket option with the wrong InputSize/InputBuffer", E, _DV,
            "WskSetOption: InputSize = sizeof(ULONG) and InputBuffer points to the ULONG value; "
            "WskGetOption: InputSize = 0 and InputBuffer = NULL.", _OPTION_PAGES)
define_rule("wsk.option.bad_output", "Socket option with the wrong output parameters", E, _DV,
            "WskSetOption: OutputSize = 0, OutputBuffer = NULL, OutputSizeReturned = NULL; "
            "WskGetOption: OutputSize = sizeof(ULONG), OutputBuffer points to a ULONG that "
            "receives the value, OutputSizeReturned = NULL.", _OPTION_PAGES)
