"""The provider dispatch tables, one shared object per socket category, reached as in C:
``Socket.Dispatch.WskSend(...)``. Members are attributes in the header's order
(``constants.PROVIDER_DISPATCH_MEMBERS``); members the mock does not model answer with the
fidelity status ``wsk.unmodelled_call``.
"""

from __future__ import annotations

from typing import Any

from mock_wsk.constants import PROVIDER_DISPATCH_MEMBERS, PROVIDER_DISPATCH_STRUCTS
from mock_wsk.wsk import requests
from mock_wsk.wsk.control import WskControlSocket
from mock_wsk.wsk.core import traced_call
from mock_wsk.wsk.sockets import PROVIDER_TABLES, TABLES_BY_NAME
from mock_wsk.wsk.states import Category

_IMPLEMENTED: dict[str, Any] = {
    "WskControlSocket": WskControlSocket,
    "WskCloseSocket": requests.WskCloseSocket,
    "WskBind": requests.WskBind,
    "WskConnect": requests.WskConnect,
    "WskListen": requests.WskListen,
    "WskAccept": requests.WskAccept,
    "WskSend": requests.WskSend,
    "WskReceive": requests.WskReceive,
    "WskDisconnect": requests.WskDisconnect,
    "WskRelease": requests.WskRelease,
    "WskGetLocalAddress": requests.WskGetLocalAddress,
    "WskGetRemoteAddress": requests.WskGetRemoteAddress,
    "WskSendTo": requests.WskSendTo,
}


def _tables(category: Category) -> tuple[Any, Any]:
    """The category's table class, and two instances: its members as they are, and the same
    through traced_call (for machines that trace)."""
    members = PROVIDER_DISPATCH_MEMBERS[category.value]
    cls = type(PROVIDER_DISPATCH_STRUCTS[category.value], (), {
        "__slots__": members,
        "__repr__": lambda self: f"<{type(self).__name__}>",
    })
    untraced, traced = cls(), cls()
    for name in members:
        fn = _IMPLEMENTED.get(name) or requests.unmodelled(name)
        setattr(untraced, name, fn)
        # traced_call: the one place a request returns to the driver (``call.return``).
        setattr(traced, name, traced_call(name, fn))
    return untraced, traced


for _category in Category:
    TABLES_BY_NAME[_category._name_] = _pair = _tables(_category)
    PROVIDER_TABLES[_category] = _pair[1]

WSK_PROVIDER_BASIC_DISPATCH = type(PROVIDER_TABLES[Category.BASIC])
WSK_PROVIDER_LISTEN_DISPATCH = type(PROVIDER_TABLES[Category.LISTEN])
WSK_PROVIDER_DATAGRAM_DISPATCH = type(PROVIDER_TABLES[Category.DATAGRAM])
WSK_PROVIDER_CONNECTION_DISPATCH = type(PROVIDER_TABLES[Category.CONNECTION])
WSK_PROVIDER_STREAM_DISPATCH = type(PROVIDER_TABLES[Category.STREAM])
