"""Everything an application stub sees, under its Win32 name: ``from mock_wsk.winsock.windows
import *`` stands for ``#include <winsock2.h> <ws2tcpip.h> <windows.h>``.

Nothing else belongs here (the user-mode counterpart of :mod:`mock_wsk.wdk`).
"""

# ruff: noqa: F401, F403
from mock_wsk.constants import (
    ISB_MAX,
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
    WSABASEERR,
    WSAECONNABORTED,
    WSAECONNRESET,
    WSAEFAULT,
    WSAEINPROGRESS,
    WSAEINTR,
    WSAEINVAL,
    WSAENETDOWN,
    WSAENOBUFS,
    WSAENOPROTOOPT,
    WSAENOTCONN,
    WSAENOTSOCK,
    WSAEOPNOTSUPP,
    WSAESHUTDOWN,
    WSAETIMEDOUT,
    WSAEWOULDBLOCK,
)
from mock_wsk.kernel.types import ULONG
from mock_wsk.winsock.win32 import (
    ERROR_INVALID_HANDLE,
    ERROR_NOT_FOUND,
    FALSE,
    INFINITE,
    TRUE,
    WAIT_IO_COMPLETION,
    WAIT_OBJECT_0,
    WAIT_TIMEOUT,
    CloseHandle,
    CreateEvent,
    CreateEventW,
    CreateThread,
    GetLastError,
    GetTickCount64,
    ResetEvent,
    SetEvent,
    SetLastError,
    Sleep,
    SleepEx,
    WaitForMultipleObjects,
    WaitForSingleObject,
    WaitForSingleObjectEx,
)
from mock_wsk.winsock.ws2_32 import *
from mock_wsk.wsk.structs import SOCKADDR_IN
