"""The Winsock 2 API an application stub calls, with Win32 names and parameter order.

Return conventions are Winsock's: 0 or a value on success, ``SOCKET_ERROR`` (or
``INVALID_SOCKET``) on failure with the reason in ``WSAGetLastError()``; an overlapped request
that did not finish returns ``SOCKET_ERROR`` with ``WSA_IO_PENDING``. Out-parameters are boxes
(``cb = DWORD(); WSASend(s, bufs, 1, cb, 0, ov, None)``), as for the WDK stubs.

Modelled: WSAStartup/WSACleanup, socket/WSASocketW, connect (a scripted peer: the connection
is established after ``connect_rtts`` round trips), WSASend (overlapped with an event or a
completion routine, or blocking), TransmitPackets/TransmitFile (lengths only), DisconnectEx,
shutdown, closesocket, CancelIoEx, setsockopt/getsockopt
(SO_SNDBUF), WSAGetOverlappedResult, WSAIoctl with SIO_IDEAL_SEND_BACKLOG_CHANGE / _QUERY and
their inline wrappers idealsendbacklognotify / idealsendbacklogquery. Receiving is not modelled.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from mock_wsk import machine as _machine
from mock_wsk.constants import (
    SD_BOTH,
    SD_RECEIVE,
    SD_SEND,
    SIO_IDEAL_SEND_BACKLOG_CHANGE,
    SIO_IDEAL_SEND_BACKLOG_QUERY,
    SO_SNDBUF,
    SOCKET_ERROR,
    TF_DISCONNECT,
    TF_REUSE_SOCKET,
    WSA_IO_PENDING,
    WSA_OPERATION_ABORTED,
    WSAECONNRESET,
    WSAEINVAL,
    WSAENOPROTOOPT,
    WSAENOTCONN,
    WSAENOTSOCK,
    WSAEOPNOTSUPP,
    WSAESHUTDOWN,
    invalid_socket,
)
from mock_wsk.kernel.types import Out, store, value_of
from mock_wsk.machine import Machine
from mock_wsk.status import (
    STATUS_CANCELLED,
    STATUS_CONNECTION_RESET,
    STATUS_PENDING,
    STATUS_SUCCESS,
)
from mock_wsk.transport.link import Links
from mock_wsk.verifier import stub_location
from mock_wsk.winsock.stack import WSAOVERLAPPED, Request, Socket, WinsockStack
from mock_wsk.winsock.win32 import (
    ERROR_INVALID_HANDLE,
    ERROR_NOT_FOUND,
    INFINITE,
    WAIT_IO_COMPLETION,
    WAIT_TIMEOUT,
    GetLastError,
    SetLastError,
    current_thread,
    wait_objects,
)
from mock_wsk.wsk.structs import AF_INET, IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_STREAM

SOL_SOCKET = 0xFFFF
WSA_FLAG_OVERLAPPED = 0x01
WSAEISCONN = 10056  # winerror.h
WSA_IO_INCOMPLETE = 996  # = ERROR_IO_INCOMPLETE
WSA_WAIT_EVENT_0 = 0
WSA_WAIT_IO_COMPLETION = WAIT_IO_COMPLETION
WSA_WAIT_TIMEOUT = WAIT_TIMEOUT
WSA_INFINITE = INFINITE
WSA_MAXIMUM_WAIT_EVENTS = 64
ULONG_SIZE = 4  # sizeof(ULONG): SIO_IDEAL_SEND_BACKLOG_QUERY's output
__all__ = [  # the names an application sees (re-exported by mock_wsk.winsock.windows)
    "AF_INET", "IPPROTO_TCP", "IPPROTO_UDP", "SOCK_DGRAM", "SOCK_STREAM", "SOL_SOCKET",
    "WSA_FLAG_OVERLAPPED", "WSAEISCONN", "WSA_WAIT_EVENT_0", "WSA_WAIT_IO_COMPLETION",
    "WSA_WAIT_TIMEOUT", "WSA_INFINITE", "WSA_IO_INCOMPLETE", "WSA_MAXIMUM_WAIT_EVENTS",
    "WSABUF", "WSADATA", "DWORD",
    "WSAOVERLAPPED", "INVALID_SOCKET", "WSAStartup", "WSACleanup", "WSAGetLastError",
    "WSASetLastError", "socket", "WSASocketW", "WSASocket", "connect", "WSASend", "shutdown",
    "closesocket", "CancelIoEx", "setsockopt", "getsockopt", "WSAGetOverlappedResult",
    "WSAIoctl", "idealsendbacklognotify", "idealsendbacklogquery", "WSACreateEvent",
    "WSASetEvent", "WSAResetEvent", "WSACloseEvent", "WSAWaitForMultipleEvents",
    "HasOverlappedIoCompleted", "DisconnectEx", "TransmitFile", "TransmitPackets",
    "TRANSMIT_PACKETS_ELEMENT",
]


class DWORD(Out):
    """``DWORD n;`` -- pass it where the API takes ``LPDWORD``."""


class WSADATA:
    __slots__ = ("wVersion", "wHighVersion")

    def __init__(self) -> None:
        self.wVersion = 0
        self.wHighVersion = 0


class WSABUF:
    """``WSABUF {len, buf}``: data is lengths only (pay per event, not per byte)."""

    __slots__ = ("len", "buf")

    def __init__(self, len: int, buf: Any = None) -> None:  # noqa: A002 (the Win32 field name)
        self.len = len
        self.buf = buf


def INVALID_SOCKET() -> int:
    return invalid_socket(_machine.active_machine().arch)


def _stack() -> tuple[Machine, WinsockStack]:
    m = _machine.active_machine()
    m.preemption_point()
    return m, m.subsystem(WinsockStack)


def _fail(error: int) -> int:
    SetLastError(error)
    return SOCKET_ERROR


def _socket(stack: WinsockStack, s: int) -> Socket | None:
    sock = stack.sockets.get(s)
    if sock is None or sock.closed:
        SetLastError(WSAENOTSOCK)
        return None
    return sock


def _claim(m: Machine, ov: WSAOVERLAPPED | None, api: str) -> bool:
    """A WSAOVERLAPPED belongs to one pending operation at a time."""
    if ov is not None and ov._request is not None and not ov._request.done:
        m.report("winsock.overlapped.in_use",
                 f"{api} with a WSAOVERLAPPED whose {ov._request.kind} is still pending",
                 objects={"socket": f"0x{ov._request.sock.handle:X}"})
        SetLastError(WSAEINVAL)  # the mock refuses rather than corrupting the pending request
        return False
    return True


def _wait_blocking(req: Request) -> None:
    wait_objects((req.waiter,), False, INFINITE, False, "blocking Winsock call")


_F = TypeVar("_F", bound=Callable[..., Any])


def _recorded(failed: Callable[[Any], bool]) -> Callable[[_F], _F]:
    """The API records what it returned to the application as ``call.return`` (its name and
    the error: 0 on success, else the thread's WSAGetLastError), as WSK and TDI requests do,
    so ``expect.statuses`` can say ``{call: WSAIoctl, status: WSA_IO_PENDING}``.
    ``failed(result)`` tells the API's own failure convention (SOCKET_ERROR, FALSE...)."""

    def wrap(fn: _F) -> _F:
        name = fn.__name__

        @functools.wraps(fn)
        def call(*args: Any) -> Any:
            result = fn(*args)
            m = _machine.active
            if m is not None and m.trace is not None:
                m.emit("call.return", name, GetLastError() if failed(result) else 0)
            return result

        return call  # type: ignore[return-value]

    return wrap


_SOCKET_ERROR_RETURNED = _recorded(lambda result: result == SOCKET_ERROR)
_FALSE_RETURNED = _recorded(lambda result: not result)


# ---------------------------------------------------------------------- startup and sockets


def WSAStartup(wVersionRequested: int, lpWSAData: WSADATA | None) -> int:
    if lpWSAData is not None:
        lpWSAData.wVersion = lpWSAData.wHighVersion = wVersionRequested
    return 0


def WSACleanup() -> int:
    return 0


def WSAGetLastError() -> int:
    return GetLastError()


def WSASetLastError(iError: int) -> None:
    SetLastError(iError)


def WSASocketW(af: int, type: int, protocol: int, lpProtocolInfo: Any, g: int,  # noqa: A002
               dwFlags: int) -> int:
    m, stack = _stack()
    if af != AF_INET or type not in (SOCK_STREAM, SOCK_DGRAM):
        SetLastError(WSAEOPNOTSUPP)
        return INVALID_SOCKET()
    sock = stack.new_socket(type == SOCK_STREAM, bool(dwFlags & WSA_FLAG_OVERLAPPED))
    return sock.handle


WSASocket = WSASocketW


def socket(af: int, type: int, protocol: int) -> int:  # noqa: A002
    """socket() creates overlapped-capable sockets, as on Windows."""
    return WSASocketW(af, type, protocol, None, 0, WSA_FLAG_OVERLAPPED)


@_SOCKET_ERROR_RETURNED
def connect(s: int, name: Any, namelen: int) -> int:
    """Connect to the scripted peer at ``name`` (blocking: returns once established)."""
    m, stack = _stack()
    sock = _socket(stack, s)
    if sock is None:
        return SOCKET_ERROR
    if sock.connected:
        return _fail(WSAEISCONN)
    if sock.stream:
        rtt_ns = m.subsystem(Links).params().rtt_ns  # the handshake: SYN, SYN-ACK
        wait_objects((), False, -(-rtt_ns * stack.settings.connect_rtts // 1_000_000), False,
                     "connect")
    stack.connect(sock)
    m.emit("winsock.connect", sock.handle)
    return 0


@_SOCKET_ERROR_RETURNED
def WSASend(s: int, lpBuffers: Sequence[WSABUF], dwBufferCount: int, lpNumberOfBytesSent: Any,
            dwFlags: int, lpOverlapped: WSAOVERLAPPED | None, lpCompletionRoutine: Any) -> int:
    length = sum(int(b.len) for b in list(lpBuffers)[:dwBufferCount])
    return _send(s, length, lpNumberOfBytesSent, lpOverlapped, lpCompletionRoutine, "WSASend")


def _send(s: int, length: int, lpNumberOfBytesSent: Any, lpOverlapped: WSAOVERLAPPED | None,
          lpCompletionRoutine: Any, api: str) -> int:
    """The send every API shares (WSASend, TransmitPackets, TransmitFile): 0 when done,
    SOCKET_ERROR with WSA_IO_PENDING when an overlapped send pends, or the error."""
    m, stack = _stack()
    sock = _socket(stack, s)
    if sock is None:
        return SOCKET_ERROR
    if sock.reset:
        return _fail(WSAECONNRESET)
    if not sock.connected or not sock.stream:
        return _fail(WSAENOTCONN)
    if sock.send_shutdown:
        return _fail(WSAESHUTDOWN)
    overlapped = sock.overlapped and (lpOverlapped is not None or lpCompletionRoutine is not None)
    if overlapped and not _claim(m, lpOverlapped, api):
        return SOCKET_ERROR
    req = Request(api, sock, length, lpOverlapped if overlapped else None,
                  lpCompletionRoutine if overlapped else None, current_thread())
    sock.last_send_at = stub_location()
    sock.submit_send(req)
    if not req.done:
        if overlapped:
            return _fail(WSA_IO_PENDING)
        _wait_blocking(req)
    if req.error:
        return _fail(req.error)
    store(lpNumberOfBytesSent, req.transferred)
    return 0


def _disconnect_send(sock: Socket, why: str) -> None:
    """A graceful disconnect in the send direction: what TCP holds is still delivered, and a
    pending SIO_IDEAL_SEND_BACKLOG_CHANGE fails (CONTRACTS F.27)."""
    if not sock.send_shutdown:
        sock.send_shutdown = True
        sock.abort_change(why)


class TRANSMIT_PACKETS_ELEMENT:
    """One element of TransmitPackets' array; only memory buffers are modelled (cLength)."""

    __slots__ = ("dwElFlags", "cLength", "pBuffer")

    def __init__(self, dwElFlags: int = 0, cLength: int = 0, pBuffer: Any = None) -> None:
        self.dwElFlags = dwElFlags
        self.cLength = cLength
        self.pBuffer = pBuffer


@_FALSE_RETURNED
def TransmitPackets(hSocket: int, lpPacketArray: Sequence[TRANSMIT_PACKETS_ELEMENT],
                    nElementCount: int, nSendSize: int, lpOverlapped: WSAOVERLAPPED | None,
                    dwFlags: int) -> bool:
    """mswsock.h extension (obtained through SIO_GET_EXTENSION_FUNCTION_POINTER on Windows;
    exported directly here). With TF_DISCONNECT or TF_REUSE_SOCKET the send direction is
    disconnected gracefully once the data is queued (fidelity: winsock.transmit_disconnect)."""
    length = sum(int(e.cLength) for e in list(lpPacketArray)[:nElementCount])
    return _transmit(hSocket, length, lpOverlapped, dwFlags, "TransmitPackets")


@_FALSE_RETURNED
def TransmitFile(hSocket: int, hFile: Any, nNumberOfBytesToWrite: int, nNumberOfBytesPerSend: int,
                 lpOverlapped: WSAOVERLAPPED | None, lpTransmitBuffers: Any,
                 dwReserved: int) -> bool:
    """mswsock.h: sends ``nNumberOfBytesToWrite`` bytes of a file (the file's contents are not
    modelled: only its length); the last parameter carries the TF_* flags, as on Windows."""
    return _transmit(hSocket, int(nNumberOfBytesToWrite), lpOverlapped, dwReserved,
                     "TransmitFile")


def _transmit(s: int, length: int, lpOverlapped: WSAOVERLAPPED | None, dwFlags: int,
              api: str) -> bool:
    result = _send(s, length, DWORD(), lpOverlapped, None, api)
    if result == SOCKET_ERROR and WSAGetLastError() != WSA_IO_PENDING:
        return False
    if dwFlags & (TF_DISCONNECT | TF_REUSE_SOCKET):
        _, stack = _stack()
        sock = _socket(stack, s)
        if sock is not None:
            _disconnect_send(sock, f"{api}(TF_DISCONNECT)")
    return result == 0


@_FALSE_RETURNED
def DisconnectEx(s: int, lpOverlapped: WSAOVERLAPPED | None, dwFlags: int,
                 dwReserved: int) -> bool:
    """mswsock.h: a graceful disconnect (TF_REUSE_SOCKET lets the socket be reused). The
    disconnect completes at once: the FIN exchange is not modelled
    (fidelity: winsock.transmit_disconnect)."""
    _, stack = _stack()
    sock = _socket(stack, s)
    if sock is None:
        return False
    if not sock.connected:
        _fail(WSAENOTCONN)
        return False
    _disconnect_send(sock, "DisconnectEx")
    return _complete_now(stack, sock, lpOverlapped, None, 0) == 0


@_SOCKET_ERROR_RETURNED
def shutdown(s: int, how: int) -> int:
    m, stack = _stack()
    sock = _socket(stack, s)
    if sock is None:
        return SOCKET_ERROR
    if how not in (SD_RECEIVE, SD_SEND, SD_BOTH):
        return _fail(WSAEINVAL)
    if not sock.connected:
        return _fail(WSAENOTCONN)
    if how in (SD_SEND, SD_BOTH):
        _disconnect_send(sock, "shutdown(SD_SEND)")
    return 0


@_SOCKET_ERROR_RETURNED
def closesocket(s: int) -> int:
    m, stack = _stack()
    sock = _socket(stack, s)
    if sock is None:
        return SOCKET_ERROR
    sock.close()
    del stack.sockets[s]
    return 0


@_FALSE_RETURNED
def CancelIoEx(hFile: int, lpOverlapped: WSAOVERLAPPED | None) -> bool:
    """Cancel the socket's pending operations (all, or the one using ``lpOverlapped``)."""
    m, stack = _stack()
    sock = stack.sockets.get(hFile)
    if sock is None:
        SetLastError(ERROR_INVALID_HANDLE)
        return False
    cancelled = False
    change = sock.change
    if change is not None and (lpOverlapped is None or change.overlapped is lpOverlapped):
        sock.abort_change("CancelIoEx")
        cancelled = True
    for req in list(sock.waiting):
        if lpOverlapped is None or req.overlapped is lpOverlapped:
            sock.waiting.remove(req)
            stack.complete(req, WSA_OPERATION_ABORTED, 0)
            cancelled = True
    if not cancelled:
        SetLastError(ERROR_NOT_FOUND)
    return cancelled


@_SOCKET_ERROR_RETURNED
def setsockopt(s: int, level: int, optname: int, optval: Any, optlen: int) -> int:
    m, stack = _stack()
    sock = _socket(stack, s)
    if sock is None:
        return SOCKET_ERROR
    if level != SOL_SOCKET or optname != SO_SNDBUF:
        return _fail(WSAENOPROTOOPT)
    value = int(value_of(optval))
    if value < 0 or optlen < 4:
        return _fail(WSAEINVAL)
    sock.sndbuf = value  # turns dynamic send buffering off for good (F.28)
    sock.promote()
    return 0


@_SOCKET_ERROR_RETURNED
def getsockopt(s: int, level: int, optname: int, optval: Any, optlen: Any) -> int:
    m, stack = _stack()
    sock = _socket(stack, s)
    if sock is None:
        return SOCKET_ERROR
    if level != SOL_SOCKET or optname != SO_SNDBUF:
        return _fail(WSAENOPROTOOPT)
    store(optval, sock.limit)
    store(optlen, 4)
    return 0


@_FALSE_RETURNED
def WSAGetOverlappedResult(s: int, lpOverlapped: WSAOVERLAPPED, lpcbTransfer: Any, fWait: bool,
                           lpdwFlags: Any) -> bool:
    m, stack = _stack()
    req = lpOverlapped._request
    if req is not None and not req.done:
        if not fWait:
            SetLastError(WSA_IO_INCOMPLETE)
            return False
        _wait_blocking(req)
    store(lpcbTransfer, lpOverlapped.InternalHigh)
    store(lpdwFlags, 0)
    error = _error_of(lpOverlapped)
    if error:
        SetLastError(error)
        return False
    return True


def _error_of(ov: WSAOVERLAPPED) -> int:
    if ov.Internal == STATUS_SUCCESS:
        return 0
    if ov.Internal == STATUS_CANCELLED:
        return WSA_OPERATION_ABORTED
    if ov.Internal == STATUS_CONNECTION_RESET:
        return WSAECONNRESET
    return WSAEINVAL


def HasOverlappedIoCompleted(lpOverlapped: WSAOVERLAPPED) -> bool:
    return lpOverlapped.Internal != STATUS_PENDING


# ---------------------------------------------------------------------- WSAIoctl


@_SOCKET_ERROR_RETURNED
def WSAIoctl(s: int, dwIoControlCode: int, lpvInBuffer: Any, cbInBuffer: int, lpvOutBuffer: Any,
             cbOutBuffer: int, lpcbBytesReturned: Any, lpOverlapped: WSAOVERLAPPED | None,
             lpCompletionRoutine: Any) -> int:
    m, stack = _stack()
    sock = _socket(stack, s)
    if sock is None:
        return SOCKET_ERROR
    if dwIoControlCode not in (SIO_IDEAL_SEND_BACKLOG_CHANGE, SIO_IDEAL_SEND_BACKLOG_QUERY):
        return _fail(WSAEINVAL)  # "not a valid command" (the mock models only these two)
    # Error precedence: fidelity choice winsock.isb_error_order.
    if not sock.stream or not stack.settings.isb_supported:
        return _fail(WSAEOPNOTSUPP)
    change = dwIoControlCode == SIO_IDEAL_SEND_BACKLOG_CHANGE
    if change and cbOutBuffer != 0:
        return _fail(WSAEINVAL)
    if not change and cbOutBuffer < ULONG_SIZE:
        return _fail(WSAEINVAL)
    if not sock.connected or sock.flow is None:
        return _fail(WSAENOTCONN)
    if not change:
        store(lpvOutBuffer, sock.flow.isb)
        store(lpcbBytesReturned, ULONG_SIZE)
        return _complete_now(stack, sock, lpOverlapped, lpCompletionRoutine, ULONG_SIZE)
    if sock.send_shutdown:
        return _fail(WSAESHUTDOWN)
    return _post_change(m, stack, sock, lpcbBytesReturned, lpOverlapped, lpCompletionRoutine)


def _complete_now(stack: WinsockStack, sock: Socket, ov: WSAOVERLAPPED | None, routine: Any,
                  transferred: int) -> int:
    """An overlapped request that finished at once still signals its event / queues its APC."""
    if sock.overlapped and (ov is not None or routine is not None):
        if not _claim(stack.m, ov, "WSAIoctl"):
            return SOCKET_ERROR
        req = Request("WSAIoctl", sock, 0, ov, routine, current_thread())
        stack.complete(req, 0, transferred)
    return 0


def _post_change(m: Machine, stack: WinsockStack, sock: Socket, lpcbBytesReturned: Any,
                 lpOverlapped: WSAOVERLAPPED | None, lpCompletionRoutine: Any) -> int:
    overlapped = sock.overlapped and (lpOverlapped is not None or lpCompletionRoutine is not None)
    if overlapped and not _claim(m, lpOverlapped, "WSAIoctl(SIO_IDEAL_SEND_BACKLOG_CHANGE)"):
        return SOCKET_ERROR
    if sock.change is not None:
        m.report("winsock.isb.second_change_pending",
                 f"SIO_IDEAL_SEND_BACKLOG_CHANGE on socket 0x{sock.handle:X} while another is "
                 "pending: the pending one fails",
                 objects={"socket": f"0x{sock.handle:X}",
                          "which_fails_chosen_by": "fidelity:winsock.second_change"})
        sock.abort_change("second CHANGE")
    req = Request("SIO_IDEAL_SEND_BACKLOG_CHANGE", sock, 0,
                  lpOverlapped if overlapped else None,
                  lpCompletionRoutine if overlapped else None, current_thread())
    sock.change = req
    sock.change_posts += 1
    stack.changes_posted += 1
    coverage = m.coverage
    if coverage is not None:
        m.cover_here(coverage, "winsock", "CHANGE",
                     "posted_overlapped" if overlapped else "posted_blocking")
    store(lpcbBytesReturned, 0)
    if overlapped:
        return _fail(WSA_IO_PENDING)
    _wait_blocking(req)  # CHANGE blocks even on a non-blocking socket (F.26)
    return _fail(req.error) if req.error else 0


def idealsendbacklognotify(s: int, lpOverlapped: WSAOVERLAPPED | None,
                           lpCompletionRoutine: Any) -> int:
    """ws2tcpip.h inline wrapper of SIO_IDEAL_SEND_BACKLOG_CHANGE."""
    return WSAIoctl(s, SIO_IDEAL_SEND_BACKLOG_CHANGE, None, 0, None, 0, DWORD(), lpOverlapped,
                    lpCompletionRoutine)


def idealsendbacklogquery(s: int, pISB: Any) -> int:
    """ws2tcpip.h inline wrapper of SIO_IDEAL_SEND_BACKLOG_QUERY (synchronous)."""
    return WSAIoctl(s, SIO_IDEAL_SEND_BACKLOG_QUERY, None, 0, pISB, ULONG_SIZE, DWORD(), None,
                    None)


# ---------------------------------------------------------------------- WSA events and waits


def WSACreateEvent() -> Any:
    from mock_wsk.winsock.win32 import CreateEventW

    return CreateEventW(None, True, False, "WSAEvent")  # manual reset, as documented


def WSASetEvent(hEvent: Any) -> bool:
    from mock_wsk.winsock.win32 import SetEvent

    return SetEvent(hEvent)


def WSAResetEvent(hEvent: Any) -> bool:
    from mock_wsk.winsock.win32 import ResetEvent

    return ResetEvent(hEvent)


def WSACloseEvent(hEvent: Any) -> bool:
    return True


def WSAWaitForMultipleEvents(cEvents: int, lphEvents: Sequence[Any], fWaitAll: bool,
                             dwTimeout: int, fAlertable: bool) -> int:
    return wait_objects(list(lphEvents)[:cEvents], fWaitAll, dwTimeout, fAlertable,
                        "WSAWaitForMultipleEvents")
