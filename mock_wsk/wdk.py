"""Everything a driver stub sees, under its WDK name: ``from mock_wsk.wdk import *``.

DDIs, structures, constants and NTSTATUS values keep their WDK names and parameter order, so
logic ports between a C driver and a stub line by line. Nothing else belongs here.
"""

# ruff: noqa: F401, F403
from mock_wsk.constants import *
from mock_wsk.kernel.dpc import *
from mock_wsk.kernel.driver import (
    DEVICE_OBJECT,
    DRIVER_OBJECT,
    FILE_DEVICE_NETWORK,
    FILE_DEVICE_SECURE_OPEN,
    FILE_DEVICE_UNKNOWN,
    IoCreateDevice,
    IoDeleteDevice,
)
from mock_wsk.kernel.irp import *
from mock_wsk.kernel.irql import *
from mock_wsk.kernel.mdl import *
from mock_wsk.kernel.pool import *
from mock_wsk.kernel.rundown import *
from mock_wsk.kernel.sync import *
from mock_wsk.kernel.thread import *
from mock_wsk.kernel.types import *
from mock_wsk.machine import KDPC
from mock_wsk.status import *

# --- TDI (mock_wsk.tdi): the legacy buffering transport (IRP, MDL and pool DDIs come above).
from mock_wsk.tdi.api import (
    FILE_OBJECT,
    TDI_REQUEST_KERNEL_SEND,
    TDI_REQUEST_KERNEL_SET_EVENT,
    TdiBuildSend,
    TdiBuildSetEventHandler,
    TdiMockCloseConnection,
    TdiMockOpenConnection,
)

# --- WSK (mock_wsk.wsk): registration, provider/client dispatch tables, structures, addresses.
from mock_wsk.wsk.control import WSK_MOCK_EXTENSION_PROVIDER_DISPATCH, addressof
from mock_wsk.wsk.options import (
    IPPROTO_IP,
    IPPROTO_IPV6,
    IPV6_V6ONLY,
    SO_BROADCAST,
    SO_CONDITIONAL_ACCEPT,
    SO_EXCLUSIVEADDRUSE,
    SO_KEEPALIVE,
    SO_RCVBUF,
    SO_REUSEADDR,
    TCP_NODELAY,
)
from mock_wsk.wsk.provider import (
    WSK_CLIENT,
    WSK_PROVIDER_DISPATCH,
    WskCaptureProviderNPI,
    WskDeregister,
    WskRegister,
    WskReleaseProviderNPI,
)
from mock_wsk.wsk.sockets import WSK_SOCKET
from mock_wsk.wsk.structs import (
    AF_INET,
    AF_INET6,
    AF_UNSPEC,
    INADDR_ANY,
    IPPROTO_TCP,
    IPPROTO_UDP,
    MSG_BCAST,
    MSG_MCAST,
    NPI_MOCK_WSK_EXTENSION_ID,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOCKADDR,
    SOCKADDR_IN,
    SOCKADDR_IN6,
    WSK_BUF,
    WSK_CLIENT_CONNECTION_DISPATCH,
    WSK_CLIENT_DATAGRAM_DISPATCH,
    WSK_CLIENT_DISPATCH,
    WSK_CLIENT_LISTEN_DISPATCH,
    WSK_CLIENT_NPI,
    WSK_CLIENT_STREAM_DISPATCH,
    WSK_DATA_INDICATION,
    WSK_DATAGRAM_INDICATION,
    WSK_EVENT_CALLBACK_CONTROL,
    WSK_EXTENSION_CONTROL_IN,
    WSK_EXTENSION_CONTROL_OUT,
    WSK_MOCK_EXTENSION_CLIENT_DISPATCH,
    WSK_MOCK_EXTENSION_EVENT_PING,
    WSK_PROVIDER_NPI,
    WSK_REGISTRATION,
    WSK_TRANSPORT,
)
from mock_wsk.wsk.tables import (
    WSK_PROVIDER_BASIC_DISPATCH,
    WSK_PROVIDER_CONNECTION_DISPATCH,
    WSK_PROVIDER_DATAGRAM_DISPATCH,
    WSK_PROVIDER_LISTEN_DISPATCH,
    WSK_PROVIDER_STREAM_DISPATCH,
)
