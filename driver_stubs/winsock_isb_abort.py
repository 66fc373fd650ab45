"""Reference application: how a pending SIO_IDEAL_SEND_BACKLOG_CHANGE ends without a change.

It connects, posts the notification (nothing is sent, so the ISB stays put and the request
stays pending), then ends it the way parameter ``how`` says, and records what it saw
(CONTRACTS F.27):

* ``shutdown`` -- ``shutdown(SD_SEND)``; then tries a new CHANGE (``repost_error``);
* ``close`` -- ``closesocket``; the result is read with WSAGetOverlappedResult afterwards;
* ``cancel`` -- ``CancelIoEx(s, &overlapped)``;
* ``reset`` -- waits; the scenario's ``winsock_reset`` action resets the connection;
* ``blocking`` -- a second thread posts a *blocking* CHANGE; the main thread then calls
  ``shutdown(SD_SEND)`` and joins it.

``routine=1`` uses a completion routine (run as an APC in an alertable SleepEx) instead of an
event. Results: ``post_error`` (WSA_IO_PENDING expected), ``change_error`` (how it ended),
``repost_error``, ``change_done``.
"""

from mock_wsk.winsock.windows import *  # noqa: F403

post_error = 0
change_error = 0
repost_error = 0
change_done = 0
Socket = None


def ChangeDone(dwError, cbTransferred, lpOverlapped, dwFlags):
    global change_error, change_done
    change_error = dwError
    change_done = 1


def BlockingWaiter(lpParameter):
    global change_error, change_done
    if idealsendbacklognotify(Socket, None, None) == SOCKET_ERROR:
        change_error = WSAGetLastError()
    change_done = 1
    return 0


def main(argv):
    global Socket, post_error, change_error, repost_error, change_done
    params = dict(arg.split("=", 1) for arg in argv[1:])
    how = params.get("how", "shutdown")
    use_routine = params.get("routine", "0") == "1"
    WSAStartup(0x0202, WSADATA())
    s = Socket = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)
    if connect(s, SOCKADDR_IN(AF_INET, 5001, "10.0.0.2"), 16) == SOCKET_ERROR:
        return 1

    if how == "blocking":
        thread = CreateThread(None, 0, BlockingWaiter, None, 0, None)
        Sleep(50)
        shutdown(s, SD_SEND)
        WaitForSingleObject(thread, INFINITE)
        closesocket(s)
        return 0

    event = WSACreateEvent()
    ov = WSAOVERLAPPED(event)
    if idealsendbacklognotify(s, ov, ChangeDone if use_routine else None) == SOCKET_ERROR:
        post_error = WSAGetLastError()
    Sleep(50)  # nothing is sent: the ISB does not change, the request stays pending

    if how == "shutdown":
        shutdown(s, SD_SEND)
    elif how == "close":
        closesocket(s)
    elif how == "cancel":
        CancelIoEx(s, ov)
    # how == "reset": the scenario resets the connection while we wait below

    if use_routine:
        SleepEx(INFINITE, TRUE)  # the completion routine runs here, as an APC
    else:
        WSAWaitForMultipleEvents(1, [event], FALSE, WSA_INFINITE, FALSE)
        change_done = 1
        if not WSAGetOverlappedResult(s, ov, DWORD(), FALSE, DWORD()):
            change_error = WSAGetLastError()

    if how == "shutdown":
        if idealsendbacklognotify(s, WSAOVERLAPPED(event), None) == SOCKET_ERROR:
            repost_error = WSAGetLastError()
    if how != "close":
        closesocket(s)
    WSACloseEvent(event)
    return 0
