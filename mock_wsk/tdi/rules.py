"""TDI client obligations (CONTRACTS E.23-24, seed ClientEventSendPossible)."""

from mock_wsk.constants import BugCheck
from mock_wsk.tdi import choices as _choices  # noqa: F401  (the area's fidelity choices)
from mock_wsk.verifier import Severity, define_rule

define_rule(
    "tdi.send_possible.bad_return", "ClientEventSendPossible returned a status other than "
    "STATUS_SUCCESS", Severity.ERROR, BugCheck.DRIVER_VERIFIER_DETECTED_VIOLATION,
    "ClientEventSendPossible can return STATUS_SUCCESS (its only documented return value).",
    "CONTRACTS E.24; WDK ClientEventSendPossible")
define_rule(
    "tdi.sender_stalled", "TDI sender stalled waiting for send-possible", Severity.ERROR,
    BugCheck.DRIVER_VERIFIER_DETECTED_VIOLATION,
    "Some transports never indicate send-possible (ReactOS refuses the registration): a client "
    "must not depend on it alone; after STATUS_DEVICE_NOT_READY it must resubmit on its own "
    "(a timer, the next completion) too.", "CONTRACTS E.24")
