"""Reference user-mode application: keeps the ideal send backlog outstanding (CONTRACTS F.26-28).

The pattern the SIO_IDEAL_SEND_BACKLOG_QUERY page recommends for overlapped senders:

* ``setsockopt(SO_SNDBUF, 0)`` (parameter ``sndbuf``, default 0) so Winsock buffers nothing and
  the application's own outstanding sends are what TCP has to send (``ISB == SO_SNDBUF +
  outstanding sends x bytes per send``); ``sndbuf=dynamic`` leaves dynamic send buffering on;
* ``idealsendbacklogquery`` once connected, then an overlapped ``idealsendbacklognotify`` with an
  event, re-posted after every notification, each followed by a query of the new value;
* overlapped ``WSASend`` calls with a completion routine keep about ISB bytes outstanding; the
  routines run as APCs while the main thread waits alertably on the notification event.

At the end (after ``seconds`` of sending) it waits for its sends, calls ``shutdown(SD_SEND)`` --
which aborts the pending notification with WSA_OPERATION_ABORTED (F.27) -- reads that result,
closes the socket and exits with 0.

Parameters: ``seconds`` (2), ``send_size`` (65536), ``sndbuf`` (0 or ``dynamic``).
Results (read as driver.<name>): ``isb_initial``, ``isb_last``, ``isb_max``, ``isb_min``,
``isb_changes_seen``, ``bytes_completed``, ``send_errors``, ``final_change_error``,
``max_outstanding``.
"""

from mock_wsk.winsock.windows import *  # noqa: F403

isb_initial = 0
isb_last = 0
isb_max = 0
isb_min = 0
isb_changes_seen = 0
outstanding = 0
max_outstanding = 0
bytes_completed = 0
send_errors = 0
final_change_error = 0


def SendDone(dwError, cbTransferred, lpOverlapped, dwFlags):
    """Completion routine (an APC on the main thread, in its alertable wait)."""
    global outstanding, bytes_completed, send_errors
    outstanding -= SendSize
    if dwError:
        send_errors += 1
    else:
        bytes_completed += cbTransferred


def QueryIsb(s):
    global isb_last, isb_max, isb_min
    isb = ULONG()
    if idealsendbacklogquery(s, isb) == 0:
        isb_last = isb.value
        isb_max = max(isb_max, isb.value)
        isb_min = min(isb_min, isb.value) if isb_min else isb.value
    return isb_last


def main(argv):
    global SendSize, isb_initial, isb_changes_seen, outstanding, max_outstanding
    global final_change_error
    params = dict(arg.split("=", 1) for arg in argv[1:])
    seconds = float(params.get("seconds", 2))
    SendSize = int(params.get("send_size", 65536))
    sndbuf = params.get("sndbuf", "0")

    WSAStartup(0x0202, WSADATA())
    s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, None, 0, WSA_FLAG_OVERLAPPED)
    if connect(s, SOCKADDR_IN(AF_INET, 5001, "10.0.0.2"), 16) == SOCKET_ERROR:
        return 1
    if sndbuf != "dynamic":
        setsockopt(s, SOL_SOCKET, SO_SNDBUF, ULONG(int(sndbuf)), 4)
    isb_initial = QueryIsb(s)

    change_event = WSACreateEvent()
    change_ov = WSAOVERLAPPED(change_event)
    if idealsendbacklognotify(s, change_ov, None) != SOCKET_ERROR or \
            WSAGetLastError() != WSA_IO_PENDING:
        return 2

    deadline_ms = int(seconds * 1000)
    while GetTickCount64() < deadline_ms:
        while outstanding < isb_last:
            if WSASend(s, [WSABUF(SendSize)], 1, DWORD(), 0, WSAOVERLAPPED(), SendDone) \
                    == SOCKET_ERROR and WSAGetLastError() != WSA_IO_PENDING:
                return 3
            outstanding += SendSize
            max_outstanding = max(max_outstanding, outstanding)
        wait = WSAWaitForMultipleEvents(1, [change_event], FALSE, 100, TRUE)
        if wait == WSA_WAIT_EVENT_0:
            WSAResetEvent(change_event)
            if not WSAGetOverlappedResult(s, change_ov, DWORD(), FALSE, DWORD()):
                return 4
            isb_changes_seen += 1
            QueryIsb(s)
            if idealsendbacklognotify(s, change_ov, None) != SOCKET_ERROR or \
                    WSAGetLastError() != WSA_IO_PENDING:
                return 5

    while outstanding > 0:  # let the completion routines of the last sends run
        SleepEx(INFINITE, TRUE)
    shutdown(s, SD_SEND)  # F.27: the pending notification fails now
    WSAWaitForMultipleEvents(1, [change_event], FALSE, WSA_INFINITE, FALSE)
    if not WSAGetOverlappedResult(s, change_ov, DWORD(), TRUE, DWORD()):
        final_change_error = WSAGetLastError()
    closesocket(s)
    WSACloseEvent(change_event)
    WSACleanup()
    return 0
