"""Fidelity choices of the TDI transport (registered in :mod:`mock_wsk.fidelity`'s table)."""

from __future__ import annotations

from mock_wsk.fidelity import define_choice
from mock_wsk.status import STATUS_INVALID_BUFFER_SIZE, STATUS_INVALID_PARAMETER

SEND_POSSIBLE_MODES = ("indicate", "never", "refuse")

define_choice(
    "tdi.send_possible_mode", "indicate",
    "Only a transport that buffers sends calls ClientEventSendPossible; 'some transports never "
    "indicate' it (CONTRACTS E.24). ReactOS refuses the registration; other transports accept it "
    "and ignore it (the NT SMB transport logs 'unsupported' and returns success; AppleTalk "
    "refuses it with STATUS_INVALID_DEVICE_REQUEST on most devices).",
    "Scenario setting tdi.send_possible: 'indicate' (default: the buffering transport of the "
    "seed page), 'never' (registration succeeds, no indication ever comes: the silent case a "
    "client cannot detect), 'refuse' (registration completes with STATUS_INVALID_PARAMETER, "
    "TDI_BAD_EVENT_TYPE on NT, as ReactOS).", configurable=True)
define_choice(
    "tdi.refuse_status", STATUS_INVALID_PARAMETER,
    "ReactOS refuses TDI_EVENT_SEND_POSSIBLE; the status is an implementation detail.",
    "TDI_BAD_EVENT_TYPE, which tdistat.h maps to STATUS_INVALID_PARAMETER on NT.")
define_choice(
    "tdi.indicate_threshold", "the refused send's length",
    "ClientEventSendPossible is called 'when the transport has internal buffer space available "
    "to accept a resubmitted send'; how much space triggers it is not documented.",
    "Indicate once the free space would hold the send that was refused (a smaller indication "
    "could only fail again). Every owed client of the buffer is indicated in the same pass with "
    "the same BytesAvailable snapshot, so two clients can race for it (E.24's hint semantics).")
define_choice(
    "tdi.send_larger_than_buffer", STATUS_INVALID_BUFFER_SIZE,
    "Not documented: a TDI_SEND longer than the transport's whole send buffer.",
    "TDI_BUFFER_TOO_BIG (STATUS_INVALID_BUFFER_SIZE): it could never be accepted, so waiting "
    "for space would hang; the mock's buffer never holds more than its capacity.")
define_choice(
    "tdi.other_event_types", "accepted, never indicated",
    "TDI_SET_EVENT_HANDLER for the other event types (receive, disconnect...).",
    "The mock models only the send side: other handlers are stored and never called.")
define_choice(
    "tdi.stall_deadline_ns", 500_000_000,
    "A client 'must not depend on' send-possible alone (CONTRACTS E.24); no timing is given.",
    "tdi.sender_stalled is reported when a client that got STATUS_DEVICE_NOT_READY issues no "
    "TDI_SEND on that connection for 500 ms of virtual time (scenario: tdi.stall_deadline).",
    configurable=True)
