"""The user-mode socket stack behind ws2_32 (AFD + TCP): sockets, send buffering, ISB requests.

Send buffering (CONTRACTS F.28). Every send's data goes to the connection's TCP flow at once;
what differs is when the *application's* request completes:

* A send completes as soon as it fits in the socket's send buffer (``buffered + length <=
  limit``, FIFO behind earlier incomplete sends) -- it has been "copied" -- or, at the latest,
  when the peer acknowledges its last byte.
* The limit is the ideal send backlog while ``SO_SNDBUF`` was never set (Windows' *dynamic send
  buffering*) and the fixed ``SO_SNDBUF`` value once it was. With ``SO_SNDBUF = 0`` nothing is
  buffered: a send completes only when acknowledged, and an overlapped sender keeps
  ``ISB == SO_SNDBUF + outstanding sends x bytes per send`` by itself.

ISB notification (F.26-27). At most one SIO_IDEAL_SEND_BACKLOG_CHANGE request is pending per
socket; it completes successfully when the flow publishes a new ISB, and fails -- WSAEINTR when
blocking, WSA_OPERATION_ABORTED when overlapped -- on shutdown(SD_SEND), reset, cancel,
closesocket, and when another CHANGE is issued (the *pending* one fails, the new one pends:
mock choice ``winsock.second_change``; the area's other choices are in
:mod:`mock_wsk.winsock.choices`).

Everything here runs either in the application's thread (requests) or in the machine's system
context (flow events): completing a request from there only sets events and queues APCs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from mock_wsk.constants import WSA_OPERATION_ABORTED, WSAECONNRESET, WSAEINTR
from mock_wsk.kernel.sync import KEVENT, NotificationEvent
from mock_wsk.machine import Context, Machine
from mock_wsk.status import (
    STATUS_CANCELLED,
    STATUS_CONNECTION_RESET,
    STATUS_PENDING,
    STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
)
from mock_wsk.transport.link import FlowDriver, Links
from mock_wsk.verifier import SourceLocation
from mock_wsk.winsock import rules as _rules  # noqa: F401  (registers the rules used here)
from mock_wsk.winsock.win32 import queue_apc


@dataclass(slots=True)
class WinsockSettings:
    """Scenario section ``winsock:``."""

    isb_supported: bool = True  # False: a provider without the ISB ioctls (WSAEOPNOTSUPP)
    repost_deadline_ns: int = 200_000_000
    connect_rtts: int = 1  # a blocking connect takes this many round trips (SYN, SYN-ACK)


_NTSTATUS_OF = {0: STATUS_SUCCESS, WSA_OPERATION_ABORTED: STATUS_CANCELLED,
                WSAEINTR: STATUS_CANCELLED, WSAECONNRESET: STATUS_CONNECTION_RESET}


class WSAOVERLAPPED:
    """``WSAOVERLAPPED``: ``hEvent`` is the application's; the rest belongs to the provider."""

    __slots__ = ("Internal", "InternalHigh", "Offset", "OffsetHigh", "hEvent", "_request")

    def __init__(self, hEvent: Any = None) -> None:
        self.Internal = STATUS_SUCCESS
        self.InternalHigh = 0
        self.Offset = 0
        self.OffsetHigh = 0
        self.hEvent = hEvent
        self._request: Request | None = None

    def __repr__(self) -> str:
        return f"<WSAOVERLAPPED Internal=0x{self.Internal:X} InternalHigh={self.InternalHigh}>"


class Request:
    """One Winsock operation (a send or a CHANGE), overlapped or blocking."""

    __slots__ = ("kind", "sock", "length", "overlapped", "routine", "thread", "done", "error",
                 "transferred", "waiter", "copied", "send_id")

    def __init__(self, kind: str, sock: Socket, length: int, overlapped: WSAOVERLAPPED | None,
                 routine: Any, thread: Context) -> None:
        self.kind = kind
        self.sock = sock
        self.length = length
        self.overlapped = overlapped
        self.routine = routine
        self.thread = thread
        self.done = False
        self.error = 0
        self.transferred = 0
        self.waiter = KEVENT(f"{kind}.done")
        self.waiter.Type = NotificationEvent
        self.copied = False
        self.send_id = 0
        if overlapped is not None:
            overlapped.Internal = STATUS_PENDING
            overlapped.InternalHigh = 0
            overlapped._request = self


class Socket:
    """An AFD endpoint: state, flow, send buffer, the pending CHANGE."""

    def __init__(self, stack: WinsockStack, handle: int, stream: bool, overlapped: bool) -> None:
        self.stack = stack
        self.handle = handle
        self.stream = stream
        self.overlapped = overlapped  # created with WSA_FLAG_OVERLAPPED
        self.connected = False
        self.send_shutdown = False
        self.reset = False
        self.closed = False
        self.flow: FlowDriver | None = None
        self.sndbuf: int | None = None  # None: dynamic send buffering (follows the ISB)
        self.buffered = 0  # bytes of completed ("copied") sends not yet acknowledged
        self.waiting: deque[Request] = deque()  # sends not yet copied, FIFO
        self.sends: dict[int, Request] = {}  # every send still in the flow, by send id
        self._send_ids = 0
        self.change: Request | None = None
        # ISB-follower liveness (winsock.isb.not_reposted).
        self.change_posts = 0
        self.bytes_sent_app = 0
        self.last_send_at: SourceLocation | None = None
        self.not_reposted_reported = False

    @property
    def limit(self) -> int:
        if self.sndbuf is not None:
            return self.sndbuf
        return self.flow.isb if self.flow is not None else 0

    # ------------------------------------------------------------------ sends

    def submit_send(self, req: Request) -> None:
        assert self.flow is not None
        self._send_ids += 1
        req.send_id = self._send_ids
        self.sends[req.send_id] = req
        self.waiting.append(req)
        self.bytes_sent_app += req.length
        self.flow.submit(req.send_id, req.length)
        self.promote()

    def promote(self) -> None:
        """Complete waiting sends that now fit in the buffer (FIFO)."""
        while self.waiting and self.buffered + self.waiting[0].length <= self.limit:
            req = self.waiting.popleft()
            req.copied = True
            self.buffered += req.length
            self.stack.complete(req, 0, req.length)

    def acked(self, send_id: int, length: int) -> None:
        """System context: the flow acknowledged one send's last byte."""
        req = self.sends.pop(send_id, None)
        self.stack.bytes_acked += length
        if req is None:
            return
        if req.copied:
            self.buffered -= length
        elif not req.done:
            if self.waiting and self.waiting[0] is req:
                self.waiting.popleft()
            self.stack.complete(req, 0, length)
        self.promote()

    def isb_changed(self, old: int, new: int) -> None:
        """System context: the flow published a new ISB."""
        self.stack.isb_changes += 1
        if self.change is not None:
            req, self.change = self.change, None
            self.stack.changes_completed += 1
            coverage = self.stack.m.coverage
            if coverage is not None:
                self.stack.m.cover_here(coverage, "winsock", "CHANGE", "completed")
            self.stack.complete(req, 0, 0)
            self.stack.watch_repost(self)
        if self.sndbuf is None:
            self.promote()

    # ------------------------------------------------------------------ aborts

    def abort_change(self, why: str) -> None:
        req = self.change
        if req is None:
            return
        self.change = None
        self.stack.changes_aborted += 1
        self.stack.m.emit("winsock.change.abort", self.handle, why)
        coverage = self.stack.m.coverage
        if coverage is not None:
            self.stack.m.cover_here(coverage, "winsock", "CHANGE", "aborted: " + why)
        overlapped = req.overlapped is not None
        self.stack.complete(req, WSA_OPERATION_ABORTED if overlapped else WSAEINTR, 0)

    def fail_sends(self, error: int) -> None:
        """Sends not yet complete fail (close, cancel, reset)."""
        for req in list(self.waiting):
            self.stack.complete(req, error, 0)
        self.waiting.clear()

    def close(self) -> None:
        self.abort_change("closesocket")
        self.fail_sends(WSA_OPERATION_ABORTED)
        self.closed = True
        self.sends.clear()  # later acknowledgements have no request to complete


class WinsockStack:
    """The machine's user-mode socket stack (``m.subsystem(WinsockStack)``)."""

    def __init__(self, m: Machine) -> None:
        self.m = m
        self.settings = WinsockSettings()
        self.sockets: dict[int, Socket] = {}
        self._next_handle = 0x100  # SOCKET values look like Windows handles: multiples of 4
        self.opened = 0
        self.bytes_acked = 0
        self.isb_changes = 0
        self.changes_posted = 0
        self.changes_completed = 0
        self.changes_aborted = 0

    def new_socket(self, stream: bool, overlapped: bool) -> Socket:
        handle = self._next_handle
        self._next_handle += 4
        sock = Socket(self, handle, stream, overlapped)
        self.sockets[handle] = sock
        self.opened += 1
        return sock

    def connect(self, sock: Socket) -> None:
        sock.connected = True
        if sock.stream:
            sock.flow = self.m.subsystem(Links).open(
                f"winsock.sock{sock.handle:x}", on_complete=sock.acked, on_isb=sock.isb_changed)

    def complete(self, req: Request, error: int, transferred: int) -> None:
        """Finish a request from any context: results, the event, the APC, a blocked caller."""
        if req.done:
            return
        req.done = True
        req.error = error
        req.transferred = transferred
        ov = req.overlapped
        if ov is not None:
            ov.Internal = _NTSTATUS_OF.get(error, STATUS_UNSUCCESSFUL)
            ov.InternalHigh = transferred
            ov._request = None
            if ov.hEvent is not None:
                ov.hEvent.State = 1
                ov.hEvent.signal_waiters(self.m)
            if req.routine is not None:
                queue_apc(self.m, req.thread, req.routine, error, transferred, ov, 0)
        req.waiter.State = 1
        req.waiter.signal_waiters(self.m)

    def watch_repost(self, sock: Socket) -> None:
        """After a CHANGE completed: the application should post the next one before it sends
        on for long (winsock.isb.not_reposted)."""
        self.m.call_later(self.settings.repost_deadline_ns, self._check_repost, sock,
                          sock.change_posts, sock.bytes_sent_app)

    def _check_repost(self, sock: Socket, posts: int, sent: int) -> None:
        if sock.closed or sock.reset or sock.send_shutdown or sock.not_reposted_reported:
            return
        if sock.change_posts != posts or sock.change is not None or sock.bytes_sent_app == sent:
            return
        sock.not_reposted_reported = True
        self.m.report(
            "winsock.isb.not_reposted",
            f"socket 0x{sock.handle:X} sent {sock.bytes_sent_app - sent} more bytes in the "
            f"{self.settings.repost_deadline_ns // 1_000_000} ms after its ISB notification "
            "completed, without posting SIO_IDEAL_SEND_BACKLOG_CHANGE again",
            objects={"socket": f"0x{sock.handle:X}",
                     "deadline_chosen_by": "fidelity:winsock.repost_deadline_ns"},
            location=sock.last_send_at,
        )

    def reset_all(self) -> None:
        """The peer resets every connection (timeline action ``winsock_reset``)."""
        for sock in list(self.sockets.values()):
            if not sock.connected or sock.flow is None:
                continue
            sock.reset = True
            sock.connected = False
            sock.flow.abort()
            sock.abort_change("reset")
            sock.fail_sends(WSAECONNRESET)
            for req in list(sock.sends.values()):
                self.complete(req, WSAECONNRESET, 0)
            sock.sends.clear()
            sock.buffered = 0

    def process_exited(self) -> None:
        """The OS closes every handle of an exiting process."""
        for sock in list(self.sockets.values()):
            sock.close()
        self.sockets.clear()

    def metrics(self) -> dict[str, float]:
        if not self.opened:
            return {}
        return {
            "winsock.sockets": self.opened,
            "winsock.bytes_acked": self.bytes_acked,
            "winsock.isb_changes": self.isb_changes,
            "winsock.changes_posted": self.changes_posted,
            "winsock.changes_completed": self.changes_completed,
            "winsock.changes_aborted": self.changes_aborted,
        }
