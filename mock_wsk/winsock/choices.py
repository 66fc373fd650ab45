"""Fidelity choices of the user-mode Winsock stack (registered in :mod:`mock_wsk.fidelity`)."""

from __future__ import annotations

from mock_wsk.fidelity import define_choice

define_choice(
    "winsock.second_change", "the pending CHANGE fails, the new one pends",
    "'The application issues a SIO_IDEAL_SEND_BACKLOG_CHANGE IOCTL when there is already a "
    "pended notification request' is listed among the failure cases, without saying which of "
    "the two fails.",
    "The pending request is the one 'interrupted'; the new one replaces it, so an application "
    "always has exactly one pending (what 'only one pended request is allowed' keeps).")
define_choice(
    "winsock.isb_error_order", "WSAENOTSOCK, WSAEOPNOTSUPP, WSAEINVAL, WSAENOTCONN",
    "Each error is documented, their precedence is not.",
    "Handle, then protocol support (datagram or no ISB support), then the buffer parameters, "
    "then the connection state; after shutdown(SD_SEND) a new CHANGE fails with WSAESHUTDOWN.")
define_choice(
    "winsock.close_inflight_data", "still delivered",
    "closesocket with overlapped sends pending: the sends fail with WSA_OPERATION_ABORTED; what "
    "happens to data TCP already has is a linger question.",
    "Default linger (graceful): data already handed to TCP is still delivered; the flow model "
    "keeps carrying even the data of the aborted sends (it cannot take data back).")
define_choice(
    "winsock.repost_deadline_ns", 200_000_000,
    "Not documented: how soon an ISB-following application re-posts the notification.",
    "winsock.isb.not_reposted is reported when a socket keeps sending for 200 ms of virtual "
    "time after a CHANGE completed without posting a new one (scenario: "
    "winsock.repost_deadline).", configurable=True)
define_choice(
    "winsock.overlapped_internal", "NTSTATUS",
    "WSAOVERLAPPED.Internal is reserved for the provider.",
    "As on Windows it holds an NTSTATUS (STATUS_PENDING while pending, so "
    "HasOverlappedIoCompleted works); read results with WSAGetOverlappedResult, which in the "
    "mock also answers after the socket was closed.")
define_choice(
    "winsock.transmit_disconnect", "at once, after the data is queued",
    "A pending CHANGE fails on a graceful send-direction disconnect: DisconnectEx, or "
    "TransmitFile/TransmitPackets with TF_DISCONNECT or TF_REUSE_SOCKET (the seed page lists "
    "them); when the FIN exchange completes is not part of the ISB contract.",
    "DisconnectEx completes at once and TF_DISCONNECT disconnects the send direction as soon as "
    "the transmitted data is queued (the data is still delivered); both fail a pending CHANGE "
    "at that moment, as shutdown(SD_SEND) does. File contents are not modelled, only lengths.")
