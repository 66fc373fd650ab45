"""Socket categories and states: which event flags and which requests each one allows.

Pure tables and a tiny transition function, in the h11 style: a request that is not allowed in
the socket's state is answered with the reason, and the provider turns that reason into the
``wsk.call.bad_state`` violation.
"""

from __future__ import annotations

import enum

from mock_wsk.constants import (
    WSK_EVENT_ACCEPT,
    WSK_EVENT_DISCONNECT,
    WSK_EVENT_RECEIVE,
    WSK_EVENT_RECEIVE_FROM,
    WSK_EVENT_SEND_BACKLOG,
    WSK_FLAG_BASIC_SOCKET,
    WSK_FLAG_CONNECTION_SOCKET,
    WSK_FLAG_DATAGRAM_SOCKET,
    WSK_FLAG_LISTEN_SOCKET,
    WSK_FLAG_STREAM_SOCKET,
)


class Category(enum.Enum):
    BASIC = "basic"
    LISTEN = "listen"
    DATAGRAM = "datagram"
    CONNECTION = "connection"
    STREAM = "stream"


CATEGORY_OF_FLAGS: dict[int, Category] = {
    WSK_FLAG_BASIC_SOCKET: Category.BASIC,
    WSK_FLAG_LISTEN_SOCKET: Category.LISTEN,
    WSK_FLAG_CONNECTION_SOCKET: Category.CONNECTION,
    WSK_FLAG_DATAGRAM_SOCKET: Category.DATAGRAM,
    WSK_FLAG_STREAM_SOCKET: Category.STREAM,
}


class State(enum.IntEnum):
    """Ordered roughly by life cycle, so ``state >= BOUND`` reads 'bound or later'."""

    CREATED = 0
    BOUND = 1
    LISTENING = 2
    CONNECTING = 3
    CONNECTED = 4
    DISCONNECTING = 5  # our send direction shut down gracefully
    DISCONNECTED = 6  # both directions done, or aborted/reset
    CLOSING = 7  # WskCloseSocket called, waiting for callbacks in flight
    CLOSED = 8


CONNECTION_EVENTS = WSK_EVENT_DISCONNECT | WSK_EVENT_RECEIVE | WSK_EVENT_SEND_BACKLOG

# CONTRACTS A.1: the standard event flags valid per category (basic sockets: extension events).
VALID_EVENTS: dict[Category, int] = {
    Category.BASIC: 0,
    Category.LISTEN: WSK_EVENT_ACCEPT | CONNECTION_EVENTS,
    Category.DATAGRAM: WSK_EVENT_RECEIVE_FROM,
    Category.CONNECTION: CONNECTION_EVENTS,
    Category.STREAM: WSK_EVENT_ACCEPT | CONNECTION_EVENTS,
}

# VALID_EVENTS by category name: an enum member hashes in Python (Enum.__hash__), its name (a
# str) in C, and this is looked up for every socket and at every enable and disable.
VALID_EVENTS_BY_NAME: dict[str, int] = {category._name_: flags
                                        for category, flags in VALID_EVENTS.items()}

# Which slot of which client table serves each standard event.
CALLBACK_OF_EVENT: dict[int, str] = {
    WSK_EVENT_ACCEPT: "WskAcceptEvent",
    WSK_EVENT_RECEIVE: "WskReceiveEvent",
    WSK_EVENT_DISCONNECT: "WskDisconnectEvent",
    WSK_EVENT_SEND_BACKLOG: "WskSendBacklogEvent",
    WSK_EVENT_RECEIVE_FROM: "WskReceiveFromEvent",
}


def is_listening_role(category: Category, state: State, stream_listens: bool) -> bool:
    return category is Category.LISTEN or (category is Category.STREAM and stream_listens)


def events_ready(category: Category, state: State, listener: bool) -> str | None:
    """CONTRACTS A.2: None when SO_WSK_EVENT_CALLBACK may be used now, else the rule id broken.
    ``listener``: :func:`is_listening_role` of the socket (its caller has asked already)."""
    if listener or category is Category.DATAGRAM:
        return None if state >= State.BOUND else "wsk.event.enable_before_bind"
    if category is Category.CONNECTION or category is Category.STREAM:
        ok = State.CONNECTED <= state <= State.DISCONNECTED
        return None if ok else "wsk.event.enable_before_connect"
    return None


def is_connected(state: State) -> bool:
    return state is State.CONNECTED


def can_send(category: Category, state: State) -> str | None:
    """CONTRACTS C.13: WskSend only on a connected connection-oriented or stream socket."""
    if category not in (Category.CONNECTION, Category.STREAM):
        return f"WskSend on a {category.value} socket"
    if state is not State.CONNECTED:
        return f"WskSend on a socket that is {state.name.lower()}, not connected"
    return None


def can_receive(category: Category, state: State) -> str | None:
    if category not in (Category.CONNECTION, Category.STREAM):
        return f"WskReceive on a {category.value} socket"
    if state not in (State.CONNECTED, State.DISCONNECTING, State.DISCONNECTED):
        return f"WskReceive on a socket that is {state.name.lower()}"
    return None


def can_bind(state: State) -> str | None:
    return None if state is State.CREATED else f"WskBind on a socket that is {state.name.lower()}"


def can_connect(category: Category, state: State) -> str | None:
    if category not in (Category.CONNECTION, Category.STREAM):
        return f"WskConnect on a {category.value} socket"
    if state is not State.BOUND:
        return ("WskConnect on a socket that is not bound (call WskBind first)"
                if state is State.CREATED else f"WskConnect on a {state.name.lower()} socket")
    return None


def can_disconnect(state: State) -> str | None:
    if state in (State.CONNECTED, State.DISCONNECTING):
        return None
    return f"WskDisconnect on a socket that is {state.name.lower()}"
