"""User-mode Winsock application obligations (CONTRACTS F.26-28).

User-mode code does not bug-check the machine: a broken obligation fails the application (an
error code it did not expect, a stall, lost throughput). These rules therefore carry bug-check
code 0 (none), and with the ``bugcheck`` policy an error-severity one still stops the run,
as a failed assertion would.
"""

from mock_wsk.verifier import Severity, define_rule
from mock_wsk.winsock import choices as _choices  # noqa: F401  (the area's fidelity choices)

_NO_BUGCHECK = 0  # user mode: no bug check applies

define_rule(
    "winsock.isb.second_change_pending", "Second SIO_IDEAL_SEND_BACKLOG_CHANGE while one is "
    "pending", Severity.WARNING, _NO_BUGCHECK,
    "Only one pended SIO_IDEAL_SEND_BACKLOG_CHANGE request is allowed at a time; issuing "
    "another makes the pending one fail with WSAEINTR or WSA_OPERATION_ABORTED.",
    "CONTRACTS F.26-27; SIO_IDEAL_SEND_BACKLOG_CHANGE remarks")
define_rule(
    "winsock.isb.not_reposted", "ISB notification not re-posted while sending", Severity.WARNING,
    _NO_BUGCHECK,
    "An application that follows the ISB re-posts SIO_IDEAL_SEND_BACKLOG_CHANGE after each "
    "notification (then queries the new value); one that keeps sending without it misses every "
    "later change (bandwidth, RTT, loss) and keeps a stale amount outstanding.",
    "CONTRACTS F.26, F.28; SIO_IDEAL_SEND_BACKLOG_QUERY usage")
define_rule(
    "winsock.overlapped.in_use", "WSAOVERLAPPED reused while its operation is pending",
    Severity.ERROR, _NO_BUGCHECK,
    "A WSAOVERLAPPED structure belongs to its operation until the operation completes; it must "
    "not be passed to another overlapped call before then.",
    "WSAOVERLAPPED; WSASend / WSAIoctl remarks")
