"""Bug class: an ISB follower that never re-posts its notification (CONTRACTS F.26, F.28).

Like ``winsock_isb_app`` but after the first SIO_IDEAL_SEND_BACKLOG_CHANGE completes it only
queries the value once and keeps sending with it: every later change (the rest of slow start,
a bandwidth step) goes unnoticed and the amount it keeps outstanding goes stale. Caught as
``winsock.isb.not_reposted``; the stale backlog also shows in the throughput.

Parameters: ``seconds`` (1), ``send_size`` (65536).
"""

from mock_wsk.winsock.windows import *  # noqa: F403

outstanding = 0
isb_used = 0


def SendDone(dwError, cbTransferred, lpOverlapped, dwFlags):
    global outstanding
    outstanding -= SendSize


def main(argv):
    global SendSize, outstanding, isb_used
    params = dict(arg.split("=", 1) for arg in argv[1:])
    SendSize = int(params.get("send_size", 65536))
    deadline_ms = int(float(params.get("seconds", 1)) * 1000)
    WSAStartup(0x0202, WSADATA())
    s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)
    connect(s, SOCKADDR_IN(AF_INET, 5001, "10.0.0.2"), 16)
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, ULONG(0), 4)
    isb = ULONG()
    idealsendbacklogquery(s, isb)
    isb_used = isb.value
    event = WSACreateEvent()
    ov = WSAOVERLAPPED(event)
    idealsendbacklognotify(s, ov, None)
    while GetTickCount64() < deadline_ms:
        while outstanding < isb_used:
            WSASend(s, [WSABUF(SendSize)], 1, DWORD(), 0, WSAOVERLAPPED(), SendDone)
            outstanding += SendSize
        if WSAWaitForMultipleEvents(1, [event], FALSE, 10, TRUE) == WSA_WAIT_EVENT_0:
            WSAResetEvent(event)
            idealsendbacklogquery(s, isb)
            isb_used = isb.value  # BUG: no idealsendbacklognotify again
    while outstanding > 0:
        SleepEx(INFINITE, TRUE)
    closesocket(s)
    return 0
