"""A tiny simulated network: the machine's address, ports, and scripted remote peers.

A :class:`Peer` is one remote endpoint. A scenario schedules its actions at virtual times::

    net = wsk_state(m).network
    peer = net.add_peer("10.0.0.2", 50000)
    net.at(1_000_000, peer.connect, 80)          # connect to the driver's listener on port 80
    net.at(2_000_000, peer.send, 3000, 2)         # 3000 bytes in 2 segments
    net.at(3_000_000, peer.close)                 # graceful close (or peer.reset())

A peer created with ``listen=True`` accepts the driver's WskConnect / WskSocketConnect. Peers
count what the driver sent them (``bytes_received``, a running ``digest`` of the send lengths and
their MDL digests, ``datagrams_received``) and keep a ``log`` of what happened to them.

Actions run in the machine's system context; anything that reaches driver code goes through
the provider (a DPC or a work item), never directly.
"""

from __future__ import annotations

from typing import Any

from mock_wsk.constants import (
    WSK_EVENT_ACCEPT,
    WSK_EVENT_DISCONNECT,
    WSK_EVENT_RECEIVE,
    WSK_FLAG_ABORTIVE,
)
from mock_wsk.status import (
    STATUS_CONNECTION_RESET,
    STATUS_FILE_FORCED_CLOSED,
)
from mock_wsk.verifier import code_location
from mock_wsk.wsk.dispatch import pump_datagrams, pump_receive, queue_receive
from mock_wsk.wsk.sockets import queue_of
from mock_wsk.wsk.structs import (
    AF_INET,
    PROVIDER_MDL,
    SOCKADDR_IN,
    WSK_BUF,
    WSK_DATA_INDICATION,
    WSK_DATAGRAM_INDICATION,
)

_DIGEST_MUL = 1_000_003
_MASK = 0xFFFFFFFFFFFFFFFF


def _indication(w: Any, length: int, digest: int) -> WSK_DATA_INDICATION:
    """One WSK_DATA_INDICATION -> WSK_BUF -> PROVIDER_MDL of ``length`` bytes: a recycled one
    (dispatch._recycle) when there is one, three allocations otherwise."""
    free = w._free_indications
    if free:
        node = free.pop()
        buf = node.Buffer
        buf.Offset = 0
        buf.Length = length
        mdl = buf.Mdl
        mdl.ByteCount = length
        mdl.ByteOffset = 0
        mdl.digest = digest
        return node
    return WSK_DATA_INDICATION(WSK_BUF(PROVIDER_MDL(length, digest), 0, length))


class Peer:
    """A scripted remote endpoint (see the module docstring)."""

    # Slots: a scenario may script 10,000 peers (``link``: per-peer path overrides, if any).
    __slots__ = ("net", "address", "port", "listen", "name", "sock", "tx_offset",
                 "segments_sent", "bytes_received", "sends_received", "digest",
                 "datagrams_received", "log", "link")

    def __init__(self, net: Network, address: str, port: int, listen: bool = False,
                 name: str | None = None) -> None:
        self.net = net
        self.address = address
        self.port = port
        self.listen = listen
        self.name = name or f"{address}:{port}"
        self.sock: Any = None  # the driver socket this peer is connected to
        self.tx_offset = 0  # stream bytes this peer sent
        self.segments_sent = 0
        self.bytes_received = 0
        self.sends_received = 0
        self.digest = 0
        self.datagrams_received = 0
        # (time, what) notes; the shared empty tuple until the first one (most peers of a
        # large scenario never get one).
        self.log: list[tuple[int, str]] | tuple[()] = ()
        self.link: dict[str, Any] | None = None

    @property
    def sockaddr(self) -> SOCKADDR_IN:
        return SOCKADDR_IN(AF_INET, self.port, self.address)

    def _note(self, what: str) -> None:
        log = self.log
        if not isinstance(log, list):
            log = self.log = []
        log.append((self.net.w.m.now, what))

    # ------------------------------------------------------------------ scripted actions

    def connect(self, port: int) -> None:
        """Connect to the driver's listener on ``port`` (refused if nobody listens)."""
        self.net.incoming_connection(self, port)

    def send(self, nbytes: int, segments: int = 1) -> None:
        """Send ``nbytes`` on the connection, arriving as ``segments`` segments now."""
        sock = self.sock
        if sock is None or sock.aborted or sock.dead:
            self._note(f"send {nbytes} dropped: not connected")
            return
        w = self.net.w
        # Hot path (one indication per peer send): lengths and digests only, no log entry.
        if segments == 1 or nbytes <= 1:
            self._segment(sock, nbytes)
        else:
            segments = min(segments, nbytes)
            base, extra = divmod(nbytes, segments)
            for index in range(segments):
                self._segment(sock, base + 1 if index < extra else base)
        self.segments_sent += segments
        if (not sock.indicating and not sock.paused and sock.events.enabled & WSK_EVENT_RECEIVE
                and not sock.receives):
            # pump_receive(), inlined for the common case: nothing posted, nothing indicating.
            sock.indicating = True
            queue_receive(w, sock)
        else:
            pump_receive(w, sock)

    def _segment(self, sock: Any, length: int) -> None:
        offset = self.tx_offset
        self.tx_offset = offset + length
        node = _indication(self.net.w, length, (offset * _DIGEST_MUL + length) & _MASK)
        tail = sock.rx_tail
        if tail is None:
            sock.rx = node
        else:
            tail.Next = node
        sock.rx_tail = node
        sock.rx_bytes += length

    def datagram(self, nbytes: int, to_port: int) -> None:
        """Send one datagram (zero-length allowed) to the driver's datagram socket."""
        sock = self.net.datagram_ports.get(to_port)
        if sock is None:
            self._note(f"datagram to port {to_port} dropped: no socket")
            return
        digest = (self.tx_offset * _DIGEST_MUL + nbytes) & _MASK
        self.tx_offset += nbytes
        queue_of(sock, "dgrams").append(WSK_DATAGRAM_INDICATION(
            WSK_BUF(PROVIDER_MDL(nbytes, digest), 0, nbytes), self.sockaddr))
        self._note(f"datagram {nbytes} bytes to port {to_port}")
        pump_datagrams(self.net.w, sock)

    def close(self) -> None:
        """Graceful close (FIN): the driver sees WskDisconnectEvent(Flags=0) and receives end."""
        sock = self.sock
        if sock is None:
            return
        self._note("close")
        sock.peer_closed = True
        self.net.w.m.emit("wsk.peer.close", sock.id)
        from mock_wsk.wsk.dispatch import DISCONNECT, deliver, pump_receive
        from mock_wsk.wsk.states import State

        old = sock.state
        if old is State.DISCONNECTING:
            sock.state = State.DISCONNECTED
        coverage = self.net.w.m.coverage
        if coverage is not None:
            from mock_wsk.wsk.sockets import cover_transition

            cover_transition(coverage, sock, old, "peer_close")
        pump_receive(self.net.w, sock)
        if sock.events.enabled & WSK_EVENT_DISCONNECT:
            deliver(self.net.w, sock, DISCONNECT, 0)

    def reset(self) -> None:
        """Abortive close (RST): WskDisconnectEvent(WSK_FLAG_ABORTIVE); requests fail."""
        sock = self.sock
        if sock is None:
            return
        self._note("reset")
        from mock_wsk.wsk.dispatch import DISCONNECT, deliver
        from mock_wsk.wsk.requests import abort_requests

        abort_requests(self.net.w, sock, STATUS_CONNECTION_RESET)
        if sock.events.enabled & WSK_EVENT_DISCONNECT:
            deliver(self.net.w, sock, DISCONNECT, WSK_FLAG_ABORTIVE)
        self.sock = None

    def kill(self) -> None:
        """The provider declares the driver's socket dead (a NULL indication; requests fail
        with STATUS_FILE_FORCED_CLOSED): the driver must close it (CONTRACTS B.11)."""
        if self.sock is not None:
            self.net.kill(self.sock)

    def set_isb(self, isb: int) -> None:
        """Change the ideal send backlog of this peer's connection (default transport)."""
        sock = self.sock
        if sock is not None and hasattr(sock.transport, "set_isb"):
            sock.transport.set_isb(isb)

    def received(self, length: int, digest: int) -> None:
        """Data the driver sent, acknowledged: counted, folded into the stream digest."""
        self.bytes_received += length
        self.sends_received += 1
        self.digest = (self.digest * _DIGEST_MUL + length * 31 + digest) & _MASK

    def __repr__(self) -> str:
        return f"<Peer {self.name}>"


class PortSet:
    """The bound local ports: a bit per port in 64-port words, kept only for words with a port
    in them. Consecutive ports (ephemeral ones, a server's 10,000 connections) share a word,
    rather than each costing a set entry and an int object (~100 bytes a connection); and a
    machine (one per explored schedule) binding a port or two makes no 8 KiB bitmap."""

    __slots__ = ("_words",)

    def __init__(self) -> None:
        self._words: dict[int, int] = {}  # port >> 6 -> its word's bits (never 0)

    def __contains__(self, port: int) -> bool:
        return bool(self._words.get(port >> 6, 0) >> (port & 63) & 1)

    def add(self, port: int) -> None:
        words = self._words
        key = port >> 6
        words[key] = words.get(key, 0) | 1 << (port & 63)

    def discard(self, port: int) -> None:
        words = self._words
        key = port >> 6
        word = words.get(key, 0) & ~(1 << (port & 63))
        if word:
            words[key] = word
        else:
            words.pop(key, None)


class Network:
    """The machine's view of the network: listeners, bound ports, peers."""

    def __init__(self, w: Any) -> None:
        self.w = w
        self.listeners: dict[int, Any] = {}  # port -> listening socket
        self.datagram_ports: dict[int, Any] = {}
        self.bound = PortSet()
        self.peers: dict[tuple[str, int], Peer] = {}
        self._ephemeral = 49152
        self.refused = 0

    def add_peer(self, address: str, port: int, listen: bool = False,
                 name: str | None = None) -> Peer:
        peer = Peer(self, address, port, listen, name)
        self.peers[(address, port)] = peer
        return peer

    def at(self, time_ns: int, action: Any, *args: Any) -> None:
        """Run a peer action at virtual time ``time_ns``."""
        self.w.m.call_at(time_ns, action, *args)

    def peer_at(self, address: Any) -> Peer | None:
        if address is None:
            return None
        _, addr, port = address.key
        return self.peers.get((addr, port))

    # ------------------------------------------------------------------ ports

    def bind(self, sock: Any, address: Any) -> bool:
        """Reserve the local port (0: an ephemeral one). False if it is taken."""
        port = address.sin_port if address is not None else 0
        if port == 0:
            while self._ephemeral in self.bound:
                self._ephemeral += 1
            port = self._ephemeral
            self._ephemeral += 1
        elif port in self.bound:
            return False
        self.bound.add(port)
        sock.local = SOCKADDR_IN(AF_INET, port, self.w.settings.local_address)
        return True

    def forget(self, sock: Any) -> None:
        """A closed socket releases its port and its peer."""
        local = sock.local
        if local is not None:
            port = local.sin_port
            if self.listeners.get(port) is sock:
                del self.listeners[port]
            if self.datagram_ports.get(port) is sock:
                del self.datagram_ports[port]
            if self.listeners.get(port) is None and self.datagram_ports.get(port) is None \
                    and sock.remote is None:
                self.bound.discard(port)
        peer = sock.peer
        if peer is not None and peer.sock is sock:
            peer._note("driver closed the connection")
            peer.sock = None
        if sock.transport is not None:
            sock.transport.abort()

    # ------------------------------------------------------------------ connections

    def incoming_connection(self, peer: Peer, port: int) -> None:
        from mock_wsk.wsk.dispatch import ACCEPT, deliver
        from mock_wsk.wsk.requests import connect_socket, offer_to_accept
        from mock_wsk.wsk.sockets import WSK_SOCKET
        from mock_wsk.wsk.states import Category

        listener = self.listeners.get(port)
        if listener is None or listener.dead:
            self.refused += 1
            peer._note(f"connect to port {port} refused")
            return
        accept_cb = getattr(listener.client_dispatch, "WskAcceptEvent", None)
        new = WSK_SOCKET(self.w, listener.client, Category.CONNECTION, None, None,
                         code_location(accept_cb), listener.home_cpu)
        new.local = SOCKADDR_IN(AF_INET, port, self.w.settings.local_address)
        connect_socket(self.w, new, peer)
        peer._note(f"connected to port {port} (socket #{new.id})")
        if listener.events.enabled & WSK_EVENT_ACCEPT:
            deliver(self.w, listener, ACCEPT, new)
        else:
            offer_to_accept(self.w, listener, new)

    def reject(self, sock: Any) -> None:
        """The client refused (or never took) an incoming connection: the peer sees a reset."""
        from mock_wsk.wsk.states import State

        sock.state = State.CLOSED
        peer = sock.peer
        if peer is not None:
            peer._note("connection refused by the driver")
            peer.sock = None

    def kill(self, sock: Any) -> None:
        from mock_wsk.wsk.dispatch import indicate_dead
        from mock_wsk.wsk.requests import abort_requests

        sock.dead = True
        abort_requests(self.w, sock, STATUS_FILE_FORCED_CLOSED)
        indicate_dead(self.w, sock)
