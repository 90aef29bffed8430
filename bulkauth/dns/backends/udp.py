"""UdpBackend: a lean pure-asyncio DNS stub transport (UDP, TCP on truncation).

Why not aiodns: aiodns 4 runs c-ares' event thread, which converts each answer to Python objects
and hands it to the loop under the GIL while holding the channel lock that the loop thread needs
to submit the next query; the two threads convoy and one process stops at ~5k queries/s on this
2-core machine. Plain sockets on the event loop, queries built by hand and replies parsed by
``bulkauth.dns.wire`` do ~3-4x that (bench/README.md).

Shape of the transport:

- one connected UDP socket per nameserver (optionally a few), re-opened every
  ``socket_max_uses`` queries so the source port changes over a long run (RFC 5452);
- EDNS0 with a 1232-byte payload (DNS flag day 2020: no fragmentation), and a retry without
  EDNS when a server answers FORMERR without an OPT record (RFC 6891 7);
- random 16-bit IDs from the OS's CSPRNG (drawn in batches); a datagram is accepted only when
  its ID, question name, type and class match a query outstanding on that socket. Anything else
  (late duplicates, spoofs, garbage) is dropped and counted, never allowed to fail a query;
- TC=1 -> the same question over TCP: a few persistent connections per server, pipelined
  (RFC 7766), 2-byte length framing;
- no timeouts or retries here: the Resolver above cancels a query after its timeout and this
  module forgets it (the pending map is cleaned in ``finally``). A server whose queries keep
  dying is backed off; round robin over the healthy ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import struct
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bulkauth.core.common.model import Answer, Query, Rcode
from bulkauth.dns.backend import parse_nameserver
from bulkauth.dns.backends.health import Health, RoundRobin
from bulkauth.dns.wire import WireError, build_query, parse_answer, reply_has_opt

#: EDNS0 UDP payload size we advertise (https://www.dnsflagday.net/2020/)
EDNS_PAYLOAD = 1232
_U16 = struct.Struct("!H")
#: outstanding queries per socket at most (of 65,536 IDs)
_MAX_PENDING = 30_000

#: what a pending query's future resolves to besides an Answer
_TRUNCATED = 1  # TC=1: ask again over TCP
_NO_EDNS = 2  # FORMERR without OPT: the server does not speak EDNS
_CLOSED = 3  # the TCP connection closed before the reply: ask again on a fresh one
_Outcome = Answer | int


class _Settle(Protocol):
    """What a reply settles: a future (``query``), or a ``_Call`` (``start``)."""

    def done(self) -> bool: ...

    def set_result(self, result: _Outcome, /) -> None: ...


#: an outstanding query: the lower-cased question a reply must echo, the Query, what the reply
#: settles, whether it was sent with EDNS. A tuple, not a class: this is built once per query.
_Pending = tuple[bytes, Query, _Settle, bool]


def system_nameservers(resolv_conf: str = "/etc/resolv.conf") -> list[str]:
    """The ``nameserver`` lines of resolv.conf, or 127.0.0.1 when there are none."""
    found: list[str] = []
    with contextlib.suppress(OSError):
        for line in Path(resolv_conf).read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                found.append(parts[1].split("%")[0])
    return found or ["127.0.0.1"]


@dataclass(slots=True)
class TransportStats:
    """What the transport saw, for the run summary and the tests."""

    sent: int = 0
    received: int = 0
    #: datagrams that matched no outstanding query (late, duplicated, spoofed, not DNS)
    unmatched: int = 0
    #: replies that matched a query but could not be parsed (the query keeps waiting)
    garbage: int = 0
    truncated: int = 0
    tcp: int = 0
    no_edns_retries: int = 0
    icmp_errors: int = 0
    sockets_opened: int = 0


class _Ids:
    """Random 16-bit query IDs, drawn from os.urandom a few thousand at a time."""

    __slots__ = ("_pool",)

    def __init__(self) -> None:
        self._pool: list[int] = []

    def take(self, busy: dict[int, _Pending]) -> int:
        pool = self._pool
        while True:
            if not pool:
                pool.extend(array("H", os.urandom(8192)))
            qid = pool.pop()
            if qid not in busy:
                return qid


def match_reply(data: bytes, pending: dict[int, _Pending]) -> _Pending | None:
    """The outstanding query a message answers, or None: a reply (QR set) under the ID of a
    query outstanding on this socket or connection, with exactly one question, the one asked.

    The one test for UDP and TCP alike: over TCP, too, a message that is not a reply to us (a
    query echoed back, a middlebox's junk) must not settle a query.
    """
    if len(data) < 12:
        return None
    p = pending.get((data[0] << 8) | data[1])
    if (
        p is None
        or not data[2] & 0x80
        or data[4] != 0
        or data[5] != 1
        or data[12 : 12 + len(p[0])].lower() != p[0]
    ):
        return None
    return p


class _UdpSocket:
    """One connected UDP socket and the queries outstanding on it.

    A plain non-blocking socket watched with ``loop.add_reader``, not a DatagramProtocol: the
    reader drains every queued datagram in one wake-up, which measured ~1.4x the datagram
    rate of uvloop's per-datagram protocol callbacks here (bench/README.md).
    """

    #: datagrams read per wake-up at most, so one busy socket cannot starve the loop
    BATCH = 256

    def __init__(
        self, server: _Server, sock: socket.socket, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.server = server
        self.stats = server.stats
        self.sock = sock
        self.fd = sock.fileno()
        self.loop = loop
        self.pending: dict[int, _Pending] = {}
        #: datagrams waiting for the end of this loop turn (see send)
        self.outbox: list[tuple[int, bytearray, _Settle]] = []
        self.writing = False
        self.uses = 0
        self.closed = False
        loop.add_reader(self.fd, self._readable)

    def send(self, qid: int, wire: bytearray, fut: _Settle) -> None:
        """Queue a datagram; every datagram queued in one loop turn goes out in one burst.

        Why: on loopback (and in VMs) a send that finds the server asleep pays for waking it,
        ~30 us here. Queries sent one by one as tasks run keep waking it; a burst wakes it
        once (measured 1.3-1.8x the query rate, bench/README.md).
        """
        if not self.outbox and not self.writing:
            self.loop.call_soon(self._flush)
        self.outbox.append((qid, wire, fut))

    def _flush(self) -> None:
        out, self.outbox = self.outbox, []
        send = self.sock.send
        pending = self.pending
        sent = 0
        for i, (qid, wire, fut) in enumerate(out):
            p = pending.get(qid)
            if p is None or p[2] is not fut:
                continue  # abandoned before it left
            try:
                send(wire)
                sent += 1
            except (BlockingIOError, InterruptedError):
                # the socket buffer is full: the rest goes when it drains
                self.outbox[:0] = out[i:]
                if not self.writing:
                    self.writing = True
                    self.loop.add_writer(self.fd, self._writable)
                break
            except OSError as exc:
                # on a connected socket an ICMP error (port unreachable) for an earlier
                # datagram surfaces on a later send: every query pending here is as lost
                self.stats.icmp_errors += 1
                self._fail_all(f"{self.server.label}: send: {exc.__class__.__name__}: {exc}")
                pending = self.pending
        self.stats.sent += sent

    def _writable(self) -> None:
        self.writing = False
        self.loop.remove_writer(self.fd)
        self._flush()

    def _readable(self) -> None:
        recv = self.sock.recv
        for _ in range(self.BATCH):
            try:
                data = recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # On a connected socket the kernel reports ICMP errors (port unreachable:
                # nothing listens) for *some* earlier datagram and we cannot tell which: fail
                # them all now rather than let each wait for its timeout.
                self.stats.icmp_errors += 1
                self._fail_all(f"{self.server.label}: {exc.__class__.__name__}: {exc}")
                continue
            self._datagram(data)

    def _datagram(self, data: bytes) -> None:
        stats = self.stats
        stats.received += 1
        p = match_reply(data, self.pending)
        if p is None:
            stats.unmatched += 1
            return
        qid = (data[0] << 8) | data[1]
        fut = p[2]
        if fut.done():
            # its query timed out a moment ago: the task is cancelled but has not yet run to
            # forget the query; the reply is as late as any other
            stats.unmatched += 1
            return
        if data[2] & 0x02:  # TC
            stats.truncated += 1
            del self.pending[qid]
            fut.set_result(_TRUNCATED)
            return
        if data[3] & 0x0F == 1 and p[3] and not reply_has_opt(data, len(p[0])):
            del self.pending[qid]
            fut.set_result(_NO_EDNS)
            return
        try:
            answer = parse_answer(data, p[1], len(p[0]))
        except WireError:
            # a reply that matches but does not parse may be a spoof or a broken middlebox:
            # keep waiting for a good one (the Resolver's timeout bounds the wait)
            stats.garbage += 1
            return
        del self.pending[qid]
        # a resolver that refuses us or fails everything is as bad as a dead one (health.py)
        self.server.note(answer.rcode)
        fut.set_result(answer)

    def _fail_all(self, detail: str) -> None:
        pending, self.pending = self.pending, {}
        for p in pending.values():
            if not p[2].done():
                # a strike for each query lost, so the retries of a burst go to another server
                self.server.note_failure()
                p[2].set_result(Answer(Rcode.ERROR, detail=detail))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self.fd)
            if self.writing:
                with contextlib.suppress(Exception):
                    self.loop.remove_writer(self.fd)
            self.sock.close()
            self._fail_all(f"{self.server.label}: socket closed")


class _TcpConnection(asyncio.Protocol):
    """One TCP connection to a server, with pipelined queries (RFC 7766 6.2.1.1)."""

    def __init__(self, server: _Server) -> None:
        self.server = server
        self.pending: dict[int, _Pending] = {}
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        # the buffer never holds more than one message and the start of the next (<= 64 KiB)
        while len(buf) >= 2:
            size = (buf[0] << 8) | buf[1]
            if len(buf) < 2 + size:
                break
            msg = bytes(buf[2 : 2 + size])
            del buf[: 2 + size]
            self._deliver(msg)

    def _deliver(self, data: bytes) -> None:
        stats = self.server.stats
        stats.received += 1
        p = match_reply(data, self.pending)
        if p is None:
            stats.unmatched += 1
            return
        qid = (data[0] << 8) | data[1]
        if p[2].done():  # timed out a moment ago (see _UdpSocket._datagram)
            stats.unmatched += 1
            return
        try:
            answer = parse_answer(data, p[1], len(p[0]))
        except WireError as exc:
            # over TCP there is no second datagram to wait for: a broken reply is the answer
            stats.garbage += 1
            answer = Answer(Rcode.ERROR, size=len(data), detail=f"malformed reply over TCP: {exc}")
        del self.pending[qid]
        self.server.note_alive()
        p[2].set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        pending, self.pending = self.pending, {}
        for p in pending.values():
            if not p[2].done():
                p[2].set_result(_CLOSED)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()


class _Server(Health):
    """One nameserver: its UDP sockets, TCP connections and health."""

    def __init__(
        self,
        host: str,
        port: int,
        stats: TransportStats,
        sockets: int,
        socket_max_uses: int,
        tcp_connections: int,
    ) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self.family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        self.label = f"[{host}]:{port}" if self.family == socket.AF_INET6 else f"{host}:{port}"
        self.stats = stats
        self.want_sockets = sockets
        self.socket_max_uses = socket_max_uses
        self.want_tcp = tcp_connections
        #: sockets in use for new queries, and retired ones still waiting for late replies
        self.udp: list[_UdpSocket] = []
        self.retired: list[_UdpSocket] = []
        self.tcp: list[_TcpConnection] = []
        self.tcp_opening = 0
        self.tcp_waiters: list[asyncio.Future[None]] = []
        self.opening: asyncio.Future[None] | None = None
        self.turn = 0

    def udp_socket(self) -> _UdpSocket | None:
        """A socket for the next query, or None when one must be opened first."""
        udp = self.udp
        if len(udp) < self.want_sockets:
            return None
        if len(udp) == 1:
            sock = udp[0]
        else:
            self.turn = (self.turn + 1) % len(udp)
            sock = udp[self.turn]
        sock.uses += 1
        if sock.uses >= self.socket_max_uses or sock.closed:
            # retire it: no new queries, closed once its outstanding ones are settled
            udp.remove(sock)
            self.retired.append(sock)
            self.reap()
        return sock

    def reap(self) -> None:
        if self.retired:
            keep = []
            for s in self.retired:
                if s.pending:
                    keep.append(s)
                else:
                    s.close()
            self.retired = keep

    async def open_udp(self) -> _UdpSocket:
        """Open sockets up to the wanted number (one opener at a time) and pick one."""
        while True:
            if self.opening is not None:
                await asyncio.shield(self.opening)
            else:
                self.opening = asyncio.get_running_loop().create_future()
                try:
                    self.udp = [s for s in self.udp if not s.closed]
                    while len(self.udp) < self.want_sockets:
                        self.udp.append(self._open_one())
                finally:
                    self.opening.set_result(None)
                    self.opening = None
            sock = self.udp_socket()
            if sock is not None:
                return sock

    def open_udp_now(self) -> _UdpSocket:
        """``open_udp`` for a caller without a coroutine (``UdpBackend.start``): opening a UDP
        socket never waits."""
        self.udp = [s for s in self.udp if not s.closed]
        while len(self.udp) < self.want_sockets:
            self.udp.append(self._open_one())
        sock = self.udp_socket()
        assert sock is not None
        return sock

    def _open_one(self) -> _UdpSocket:
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            # a deep receive buffer: hundreds of replies can land between two loop turns
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
            sock.connect((self.host, self.port))
            proto = _UdpSocket(self, sock, asyncio.get_running_loop())
        except BaseException:
            sock.close()
            raise
        self.stats.sockets_opened += 1
        return proto

    async def tcp_connection(self) -> _TcpConnection:
        """An idle connection, a new one while under the limit, else the least busy one."""
        while True:
            self.tcp = [c for c in self.tcp if not c.closed]
            for c in self.tcp:
                if not c.pending:
                    return c
            if len(self.tcp) + self.tcp_opening < self.want_tcp:
                self.tcp_opening += 1
                try:
                    _, conn = await asyncio.get_running_loop().create_connection(
                        lambda: _TcpConnection(self), self.host, self.port
                    )
                finally:
                    self.tcp_opening -= 1
                    waiters, self.tcp_waiters = self.tcp_waiters, []
                    for w in waiters:
                        if not w.done():
                            w.set_result(None)
                self.tcp.append(conn)
                return conn
            if self.tcp:
                # all busy and no more allowed: pipeline on the least loaded one
                return min(self.tcp, key=lambda c: len(c.pending))
            # the only allowed connections are still being opened: wait for them
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.tcp_waiters.append(waiter)
            await waiter

    def close(self) -> None:
        for s in (*self.udp, *self.retired):
            s.close()
        for c in self.tcp:
            c.close()
        self.udp, self.retired, self.tcp = [], [], []


class _Call:
    """A question sent by ``UdpBackend.start``: settled by the reader like a query's future,
    but calls ``done`` instead of waking a coroutine. What is rare goes through the coroutine
    path as a task: a truncated reply (TCP), a server without EDNS."""

    __slots__ = ("backend", "done_cb", "q", "qid", "server", "settled", "sock", "task")

    def __init__(
        self, backend: UdpBackend, server: _Server, q: Query, done: Callable[[Answer], None]
    ) -> None:
        self.backend = backend
        self.server = server
        self.q = q
        self.done_cb = done
        self.sock: _UdpSocket | None = None
        self.qid = 0
        self.settled = False
        self.task: asyncio.Task[None] | None = None

    def done(self) -> bool:
        return self.settled

    def set_result(self, outcome: _Outcome, /) -> None:
        """From the reader (or a socket failing): the reply's outcome."""
        self.settled = True
        server = self.server
        if server.retired:
            server.reap()
        if isinstance(outcome, Answer):
            self.done_cb(outcome)
        else:
            self.task = asyncio.get_running_loop().create_task(self._slow(outcome))

    async def _slow(self, outcome: _Outcome) -> None:
        server = self.server
        q = self.q
        try:
            wire, key = build_query(q, 0, self.backend.edns_payload)
            answer = await self.backend._slow(server, q, outcome, wire, key)
        except asyncio.CancelledError:
            return
        except OSError as exc:  # as query_from
            server.note_failure()
            answer = Answer(Rcode.ERROR, detail=f"{server.label}: {exc.__class__.__name__}: {exc}")
        self.done_cb(answer)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            return
        if self.settled:
            return
        self.settled = True
        # as a cancelled query(): a missed reply counts against the server
        server = self.server
        server.note_failure()
        sock = self.sock
        if sock is not None:
            pending = sock.pending
            p = pending.get(self.qid)
            if p is not None and p[2] is self:
                del pending[self.qid]
        if server.retired:
            server.reap()


class UdpBackend:
    """The Backend over plain UDP (and TCP on truncation) to one or more DNS servers.

    ``nameservers`` are ``HOST[:PORT]`` addresses (default: /etc/resolv.conf). The servers
    should be recursive resolvers; against an authoritative server, CNAMEs that leave its
    zones come back unfollowed and the Resolver chases them.
    """

    name = "udp"

    def __init__(
        self,
        nameservers: Sequence[str] | None = None,
        *,
        sockets_per_server: int = 1,
        socket_max_uses: int = 20_000,
        tcp_connections: int = 4,
        edns_payload: int = EDNS_PAYLOAD,
    ) -> None:
        specs = list(nameservers) if nameservers else system_nameservers()
        self.stats = TransportStats()
        self.edns_payload = edns_payload
        self._ids = _Ids()
        self._servers: list[_Server] = []
        for spec in specs:
            host, port = parse_nameserver(spec)
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise ValueError(
                    f"nameserver {spec!r}: give an IP address, not a host name"
                ) from None
            self._servers.append(
                _Server(
                    host,
                    port,
                    self.stats,
                    sockets=max(1, sockets_per_server),
                    socket_max_uses=max(1, socket_max_uses),
                    tcp_connections=max(1, tcp_connections),
                )
            )
        self._rotation = RoundRobin(self._servers)
        self._single = len(self._servers) == 1
        self._closed = False

    @property
    def nameservers(self) -> list[str]:
        return [s.label for s in self._servers]

    async def query(self, q: Query) -> Answer:
        return (await self.query_from(q))[0]

    async def query_from(self, q: Query) -> tuple[Answer, str]:
        """The answer and the server that gave it (HOST:PORT; "" when none was asked), which a
        recorded DNS snapshot names."""
        if self._closed:
            return Answer(Rcode.ERROR, detail="backend closed"), ""
        try:
            wire, key = build_query(q, 0, self.edns_payload)
        except WireError as exc:
            return Answer(Rcode.BADNAME, detail=str(exc)), ""
        server = self._servers[0] if self._single else self._rotation.pick()
        try:
            outcome = await self._udp(server, q, wire, key, self.edns_payload > 0)
            if isinstance(outcome, Answer):
                return outcome, server.label
            return await self._slow(server, q, outcome, wire, key), server.label
        except OSError as exc:
            server.note_failure()
            detail = f"{server.label}: {exc.__class__.__name__}: {exc}"
            return Answer(Rcode.ERROR, detail=detail), server.label

    def start(self, q: Query, done: Callable[[Answer], None]) -> _Call | Answer:
        """``query`` without a coroutine: the reader calls ``done`` with the Answer (see
        bulkauth.dns.backend.StartingBackend)."""
        if self._closed:
            return Answer(Rcode.ERROR, detail="backend closed")
        edns = self.edns_payload
        try:
            wire, key = build_query(q, 0, edns)
        except WireError as exc:
            return Answer(Rcode.BADNAME, detail=str(exc))
        server = self._servers[0] if self._single else self._rotation.pick()
        try:
            sock = server.udp_socket() or server.open_udp_now()
        except OSError as exc:  # as query_from
            server.note_failure()
            return Answer(Rcode.ERROR, detail=f"{server.label}: {exc.__class__.__name__}: {exc}")
        pending = sock.pending
        if len(pending) >= _MAX_PENDING:  # as _udp
            return Answer(Rcode.ERROR, detail=f"{server.label}: {len(pending)} queries in flight")
        qid = self._ids.take(pending)
        wire[0] = qid >> 8
        wire[1] = qid & 0xFF
        call = _Call(self, server, q, done)
        call.sock = sock
        call.qid = qid
        pending[qid] = (key, q, call, edns > 0)
        sock.send(qid, wire, call)
        return call

    async def _udp(
        self, server: _Server, q: Query, wire: bytearray, key: bytes, edns: bool
    ) -> _Outcome:
        sock = server.udp_socket() or await server.open_udp()
        pending = sock.pending
        if len(pending) >= _MAX_PENDING:
            # the ID space of one socket is 16 bits; the Resolver's in-flight limit keeps far
            # below this, a caller without one gets a failure rather than a spin for a free ID
            return Answer(Rcode.ERROR, detail=f"{server.label}: {len(pending)} queries in flight")
        qid = self._ids.take(pending)
        wire[0] = qid >> 8
        wire[1] = qid & 0xFF
        fut: asyncio.Future[_Outcome] = sock.loop.create_future()
        pending[qid] = (key, q, fut, edns)
        sock.send(qid, wire, fut)
        try:
            return await fut
        except asyncio.CancelledError:
            # the Resolver gave up on us (timeout): a missed reply counts against the server
            server.note_failure()
            raise
        finally:
            p = pending.get(qid)
            if p is not None and p[2] is fut:
                del pending[qid]
            if server.retired:
                server.reap()

    async def _slow(
        self, server: _Server, q: Query, outcome: _Outcome, wire: bytearray, key: bytes
    ) -> Answer:
        if outcome == _NO_EDNS:
            self.stats.no_edns_retries += 1
            wire, key = build_query(q, 0, 0)
            outcome = await self._udp(server, q, wire, key, False)
            if isinstance(outcome, Answer):
                return outcome
            if outcome == _NO_EDNS:  # pragma: no cover - a plain query cannot get this
                return Answer(Rcode.FORMERR)
        return await self._tcp(server, q, wire, key)

    async def _tcp(self, server: _Server, q: Query, wire: bytearray, key: bytes) -> Answer:
        self.stats.tcp += 1
        for _attempt in range(2):
            conn = await server.tcp_connection()
            if len(conn.pending) >= _MAX_PENDING:
                return Answer(Rcode.ERROR, detail=f"{server.label}: TCP connections saturated")
            qid = self._ids.take(conn.pending)
            wire[0] = qid >> 8
            wire[1] = qid & 0xFF
            fut: asyncio.Future[_Outcome] = asyncio.get_running_loop().create_future()
            conn.pending[qid] = (key, q, fut, True)
            try:
                conn.transport.write(_U16.pack(len(wire)) + wire)  # type: ignore[union-attr]
                self.stats.sent += 1
                outcome = await fut
            finally:
                p = conn.pending.get(qid)
                if p is not None and p[2] is fut:
                    del conn.pending[qid]
            if isinstance(outcome, Answer):
                return outcome
            # the server closed the connection under us (idle timeout, query limit): once more
        return Answer(Rcode.ERROR, detail=f"{server.label}: TCP connection closed before the reply")

    async def aclose(self) -> None:
        self._closed = True
        for s in self._servers:
            s.close()
        # let the transports run their connection_lost callbacks
        await asyncio.sleep(0)


__all__ = ["EDNS_PAYLOAD", "TransportStats", "UdpBackend", "match_reply", "system_nameservers"]
