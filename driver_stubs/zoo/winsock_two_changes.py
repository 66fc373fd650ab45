"""Bug class: two SIO_IDEAL_SEND_BACKLOG_CHANGE requests pending on one socket (CONTRACTS F.26).

The application posts a notification, then -- forgetting it already has one (say, from a
second code path) -- posts another with a new WSAOVERLAPPED. Only one may be pending: the first
fails with WSA_OPERATION_ABORTED. Caught as ``winsock.isb.second_change_pending`` (a warning:
the application survives, but the path that waits on the first request sees a spurious error).

Results: ``first_error`` (WSA_OPERATION_ABORTED), ``second_error`` (after shutdown).
"""

from mock_wsk.winsock.windows import *  # noqa: F403

first_error = 0
second_error = 0


def main(argv):
    global first_error, second_error
    WSAStartup(0x0202, WSADATA())
    s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)
    connect(s, SOCKADDR_IN(AF_INET, 5001, "10.0.0.2"), 16)
    first_event, second_event = WSACreateEvent(), WSACreateEvent()
    first, second = WSAOVERLAPPED(first_event), WSAOVERLAPPED(second_event)
    idealsendbacklognotify(s, first, None)
    idealsendbacklognotify(s, second, None)  # BUG: the first one is still pending
    WSAWaitForMultipleEvents(1, [first_event], FALSE, WSA_INFINITE, FALSE)
    if not WSAGetOverlappedResult(s, first, DWORD(), FALSE, DWORD()):
        first_error = WSAGetLastError()
    shutdown(s, SD_SEND)
    if not WSAGetOverlappedResult(s, second, DWORD(), TRUE, DWORD()):
        second_error = WSAGetLastError()
    closesocket(s)
    return 0
