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
from mock_wsk.wsk.sockets import PROVIDER_TABLES
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


def _table(category: Category) -> Any:
    members = PROVIDER_DISPATCH_MEMBERS[category.value]
    cls = type(PROVIDER_DISPATCH_STRUCTS[category.value], (), {
        "__slots__": members,
        "__repr__": lambda self: f"<{type(self).__name__}>",
    })
    table = cls()
    for name in members:
        # traced_call: the one place a request returns to the driver (``call.return``).
        setattr(table, name, traced_call(name, _IMPLEMENTED.get(name) or
                                         requests.unmodelled(name)))
    return table


for _category in Category:
    PROVIDER_TABLES[_category] = _table(_category)

WSK_PROVIDER_BASIC_DISPATCH = type(PROVIDER_TABLES[Category.BASIC])
WSK_PROVIDER_LISTEN_DISPATCH = type(PROVIDER_TABLES[Category.LISTEN])
WSK_PROVIDER_DATAGRAM_DISPATCH = type(PROVIDER_TABLES[Category.DATAGRAM])
WSK_PROVIDER_CONNECTION_DISPATCH = type(PROVIDER_TABLES[Category.CONNECTION])
WSK_PROVIDER_STREAM_DISPATCH = type(PROVIDER_TABLES[Category.STREAM])
