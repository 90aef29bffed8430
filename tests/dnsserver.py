"""A small programmable authoritative DNS server for wire-level tests.

It listens on 127.0.0.1 (UDP and TCP on the same ephemeral port) in a background thread with its
own asyncio loop, so tests running their own event loop (uvloop included) can talk to it over
real sockets. It answers from dnspython zones the way an authoritative server does (RFC 1034
4.3.2): AA bit, NXDOMAIN vs NODATA with the SOA in the authority section (negative TTL, RFC
2308), CNAMEs followed inside the zone only, wildcards (RFC 4592), empty non-terminals answered
NODATA (RFC 8020), REFUSED for names outside every zone. UDP answers larger than the client's
EDNS size (512 bytes without EDNS) are sent truncated (TC=1, empty sections) so the client has
to retry over TCP, where they are sent whole.

Faults are programmable per name pattern / type / transport, for the first N matches or with a
seeded probability: delay, drop, SERVFAIL, REFUSED, forced truncation, TCP connection closed,
garbage bytes, mismatched query ID, a reply without the QR bit. Every query received is logged (name, type, transport,
time) so tests can assert exactly what went over the wire.

    with DnsServer() as server:
        server.add_zone_text("example.com", 'www 60 IN A 192.0.2.1')
        server.fault("servfail", name="*.example.com", rtype="TXT", times=2)
        ... AiodnsBackend([server.nameserver]) ...
        assert server.count("www.example.com", "A") == 1
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.node
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

Transport = Literal["udp", "tcp"]
FaultKind = Literal[
    "delay",  # wait `delay` seconds, then go on (other faults may still apply)
    "drop",  # never answer
    "servfail",  # answer SERVFAIL
    "refused",  # answer REFUSED
    "formerr",  # answer FORMERR
    "truncate",  # UDP only: TC=1 with empty sections even if the answer fits
    "tcp_close",  # TCP only: read the query, then close the connection without answering
    "garbage",  # send `payload`, or the query ID followed by seeded random bytes
    "bad_id",  # the right answer under another query ID
    "no_qr",  # the right answer with the QR bit clear, as if it were a query
]

_MAX_CNAME_HOPS = 16
_MAX_TCP_MESSAGE = 65535
_ZONE_SUFFIXES = (".zone", ".db", ".txt")


@dataclass
class Fault:
    """One programmed misbehaviour. ``name`` is an fnmatch pattern on the lower-case query name
    without the trailing dot; ``rtype`` a type mnemonic ("TXT") or None for any."""

    kind: FaultKind
    name: str = "*"
    rtype: str | None = None
    transport: Transport | None = None
    delay: float = 0.0
    #: fire for the first `times` matching queries only (None: for ever)
    times: int | None = None
    #: fire with this probability, drawn from the server's seeded RNG
    probability: float = 1.0
    payload: bytes | None = None
    #: how many times it fired so far
    fired: int = 0

    def matches(self, name: str, rtype: str, transport: Transport) -> bool:
        if self.transport is not None and self.transport != transport:
            return False
        if self.rtype is not None and self.rtype.upper() != rtype:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        return fnmatch.fnmatchcase(name, self.name.lower().rstrip("."))


@dataclass(frozen=True, slots=True)
class Seen:
    """One query as received."""

    name: str
    rtype: str
    transport: Transport
    at: float  # time.monotonic()
    edns_payload: int  # the client's advertised UDP size, 0 without EDNS


class _Close:
    """Sentinel: close the TCP connection instead of answering."""


_CLOSE = _Close()


def origin_from_filename(path: Path) -> str:
    """``example.com.zone`` / ``example.com.db`` / ``example.com`` -> ``example.com``."""
    name = path.name
    for suffix in _ZONE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


class DnsServer:
    """Authoritative DNS server on 127.0.0.1:<ephemeral>, UDP and TCP. See the module doc."""

    def __init__(
        self, *, host: str = "127.0.0.1", seed: int = 0, max_udp_payload: int = 4096
    ) -> None:
        self.host = host
        self.port = 0
        #: the largest UDP answer we send whatever the client advertises
        self.max_udp_payload = max_udp_payload
        #: False: accept TCP connections and reset them at once (a server with TCP broken)
        self.tcp_enabled = True
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._zones: dict[dns.name.Name, dns.zone.Zone] = {}
        # per zone origin: names that exist only because something lives below them
        self._interior: dict[dns.name.Name, set[dns.name.Name]] = {}
        self._faults: list[Fault] = []
        self.log: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.tcp_connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    # ------------------------------------------------------------------ data

    @property
    def nameserver(self) -> str:
        """``127.0.0.1:PORT``, the form ``--nameserver`` and AiodnsBackend take."""
        return f"{self.host}:{self.port}"

    def add_zone(self, zone: dns.zone.Zone) -> dns.zone.Zone:
        """Serve a dnspython zone (absolute names: ``relativize=False``)."""
        if zone.relativize:
            raise ValueError("load zones with relativize=False")
        interior: set[dns.name.Name] = set()
        for n in zone.nodes:
            while n != zone.origin and n != dns.name.root:
                n = n.parent()
                interior.add(n)
        assert zone.origin is not None
        with self._lock:
            self._zones[zone.origin] = zone
            self._interior[zone.origin] = interior
        return zone

    def add_zone_text(
        self, origin: str, text: str, *, ttl: int = 300, soa_minimum: int = 300
    ) -> dns.zone.Zone:
        """Serve RFC 1035 master-file text; names are relative to ``origin`` unless absolute.

        An SOA and NS are added at the apex when the text has none, with SOA MINIMUM
        ``soa_minimum`` and TTL ``ttl`` (the negative TTL is the smaller of the two, RFC 2308).
        """
        o = dns.name.from_text(origin)
        # $TTL first: records without a TTL get `ttl`, not the last explicit one (RFC 2308 4)
        zone = dns.zone.from_text(
            f"$TTL {ttl}\n{text}", origin=o, relativize=False, check_origin=False
        )
        if zone.get_rdataset(o, dns.rdatatype.SOA) is None:
            node = zone.find_node(o, create=True)
            soa = f"ns1.{o} hostmaster.{o} 1 3600 600 86400 {soa_minimum}"
            node.replace_rdataset(dns.rdataset.from_text("IN", "SOA", ttl, soa))
            if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS) is None:
                node.replace_rdataset(dns.rdataset.from_text("IN", "NS", ttl, f"ns1.{o}"))
        return self.add_zone(zone)

    def add_records(
        self,
        origin: str,
        records: Mapping[str, Mapping[str, str | Iterable[str]]],
        *,
        ttl: int = 300,
        soa_minimum: int = 300,
    ) -> dns.zone.Zone:
        """Serve ``{name: {TYPE: rdata text or [texts]}}``; names relative to ``origin``, or
        absolute with a trailing dot, ``"@"`` for the apex. TXT rdata is master-file text:
        ``'"v=spf1 " "-all"'`` is one record of two strings."""
        lines = []
        for name, types in records.items():
            for rtype, values in types.items():
                for value in [values] if isinstance(values, str) else values:
                    lines.append(f"{name} {ttl} IN {rtype} {value}")
        return self.add_zone_text(origin, "\n".join(lines), ttl=ttl, soa_minimum=soa_minimum)

    def load(self, path: str | Path) -> list[dns.zone.Zone]:
        """Serve a master file, or every file under a directory (origin from the file name,
        ``example.com.zone`` -> ``example.com``, the convention of ``--zones``)."""
        p = Path(path)
        files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        if p.is_file():
            files = [p]
        zones = []
        for f in files:
            z = dns.zone.from_file(str(f), origin=origin_from_filename(f), relativize=False)
            zones.append(self.add_zone(z))
        return zones

    def clear_zones(self) -> None:
        with self._lock:
            self._zones.clear()
            self._interior.clear()

    # ---------------------------------------------------------------- faults

    def fault(
        self,
        kind: FaultKind,
        name: str = "*",
        rtype: str | None = None,
        *,
        transport: Transport | None = None,
        delay: float = 0.0,
        times: int | None = None,
        probability: float = 1.0,
        payload: bytes | None = None,
    ) -> Fault:
        """Program a fault; faults apply in the order added (delays add up, the first other
        matching fault decides the outcome). Returns it: ``.fired`` counts its uses."""
        f = Fault(kind, name, rtype, transport, delay, times, probability, payload)
        with self._lock:
            self._faults.append(f)
        return f

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # ----------------------------------------------------------------- stats

    def count(
        self, name: str | None = None, rtype: str | None = None, transport: Transport | None = None
    ) -> int:
        """Queries received matching every given filter (name compared without trailing dot)."""
        n = name.lower().rstrip(".") if name is not None else None
        with self._lock:
            return sum(
                1
                for s in self.log
                if (n is None or s.name == n)
                and (rtype is None or s.rtype == rtype.upper())
                and (transport is None or s.transport == transport)
            )

    def settle(self, tries: int = 20) -> None:
        """Return once every datagram sent to the server so far is in its log. It logs each as
        its handler starts, in arrival order, so a query answered now was preceded by the rest:
        without this, a client whose run has ended can read a count the server (a thread of
        the test's own process) has not caught up with, when the machine stalls."""
        for _ in range(tries):  # a fault programmed for every name may drop or mangle it
            with contextlib.suppress(dns.exception.DNSException, OSError):
                query = dns.message.make_query("settle.invalid.", "A")
                dns.query.udp(query, self.host, port=self.port, timeout=1.0)
                return
        raise TimeoutError(f"the test server on {self.nameserver} does not answer")

    @property
    def counts(self) -> Counter[tuple[str, str, Transport]]:
        with self._lock:
            return Counter((s.name, s.rtype, s.transport) for s in self.log)

    def reset_stats(self) -> None:
        with self._lock:
            self.log.clear()
            self.max_in_flight = self.in_flight
            self.tcp_connections = 0

    # ------------------------------------------------------------- lifecycle

    def __enter__(self) -> DnsServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("server already started")
        udp, tcp = self._bind()
        self.port = udp.getsockname()[1]
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"dnsserver:{self.port}", daemon=True)
        self._thread.start()
        ready.wait()
        asyncio.run_coroutine_threadsafe(self._open(udp, tcp), loop).result(timeout=5)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()
            self._loop = self._thread = None

    def _bind(self) -> tuple[socket.socket, socket.socket]:
        # UDP and TCP must share a port number: bind UDP to an ephemeral port, then try TCP on
        # it; another process may hold that TCP port, so retry a few times.
        for _ in range(20):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((self.host, 0))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, udp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                continue
            tcp.listen(128)
            udp.setblocking(False)
            tcp.setblocking(False)
            return udp, tcp
        raise RuntimeError("could not bind UDP and TCP on one port")

    async def _open(self, udp: socket.socket, tcp: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self), sock=udp)
        self._udp = transport
        self._tcp = await asyncio.start_server(self._tcp_client, sock=tcp)

    async def _close(self) -> None:
        if self._tcp is not None:
            self._tcp.close()
        for w in list(self._writers):
            w.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            await self._tcp.wait_closed()
        await asyncio.sleep(0)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------- transport

    async def _handle_udp(self, data: bytes, addr: tuple[str, int]) -> None:
        out = await self._serve(data, "udp")
        if isinstance(out, bytes) and self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(out, addr)

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.tcp_connections += 1
        if not self.tcp_enabled:
            # SO_LINGER 0: close() sends RST, as a host with nothing on the port would
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        self._writers.add(writer)
        # tracked so that stop() cancels it (Server.wait_closed does not wait for handlers in 3.11)
        me = asyncio.current_task()
        if me is not None:
            self._tasks.add(me)
            me.add_done_callback(self._tasks.discard)
        write_lock = asyncio.Lock()
        # clients pipeline several queries on one connection: answer each as it is ready
        pending: set[asyncio.Task[None]] = set()

        async def one(data: bytes) -> None:
            out = await self._serve(data, "tcp")
            if isinstance(out, _Close):
                writer.close()
            elif out is not None and not writer.is_closing():
                async with write_lock:
                    writer.write(struct.pack("!H", len(out)) + out)
                    with contextlib.suppress(ConnectionError):
                        await writer.drain()

        try:
            while not writer.is_closing():
                try:
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                    data = await reader.readexactly(length)
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                t = asyncio.get_running_loop().create_task(one(data))
                pending.add(t)
                t.add_done_callback(pending.discard)
            # the client stopped sending (EOF): still answer what it asked
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            for t in list(pending):
                t.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    # --------------------------------------------------------------- serving

    async def _serve(self, wire: bytes, transport: Transport) -> bytes | _Close | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            if len(wire) < 2:
                return None
            # FORMERR echoing the ID, flags QR set, no sections: what a server does with junk
            return wire[:2] + struct.pack("!HHHHH", 0x8000 | dns.rcode.FORMERR, 0, 0, 0, 0)
        if len(query.question) != 1 or query.opcode() != dns.opcode.QUERY:
            r = dns.message.make_response(query)
            r.set_rcode(dns.rcode.FORMERR if len(query.question) != 1 else dns.rcode.NOTIMP)
            return r.to_wire()
        q = query.question[0]
        name = q.name.to_text(omit_final_dot=True).lower()
        rtype = dns.rdatatype.to_text(q.rdtype)
        with self._lock:
            self.log.append(
                Seen(
                    name,
                    rtype,
                    transport,
                    time.monotonic(),
                    int(query.payload) if query.edns >= 0 else 0,
                )
            )
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            delay, fault = self._pick_faults(name, rtype, transport)
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            return self._respond(query, transport, fault)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _pick_faults(
        self, name: str, rtype: str, transport: Transport
    ) -> tuple[float, Fault | None]:
        delay = 0.0
        for f in self._faults:
            if not f.matches(name, rtype, transport):
                continue
            if f.kind == "truncate" and transport == "tcp":
                continue
            if f.kind == "tcp_close" and transport == "udp":
                continue
            if f.probability < 1.0 and self._rng.random() >= f.probability:
                continue
            f.fired += 1
            if f.kind == "delay":
                delay += f.delay
                continue
            return delay, f
        return delay, None

    def _respond(
        self, query: dns.message.Message, transport: Transport, fault: Fault | None
    ) -> bytes | _Close | None:
        kind = fault.kind if fault is not None else None
        if kind == "drop":
            return None
        if kind == "tcp_close":
            return _CLOSE
        if kind == "garbage":
            assert fault is not None
            if fault.payload is not None:
                return fault.payload
            return struct.pack("!H", query.id) + self._rng.randbytes(40)
        response = dns.message.make_response(query, our_payload=self.max_udp_payload)
        if kind in ("servfail", "refused", "formerr"):
            response.set_rcode(
                {
                    "servfail": dns.rcode.SERVFAIL,
                    "refused": dns.rcode.REFUSED,
                    "formerr": dns.rcode.FORMERR,
                }[kind]
            )
        else:
            self._answer(query, response)
        if kind == "bad_id":
            response.id = (query.id + 1) & 0xFFFF
        if kind == "no_qr":
            response.flags &= ~dns.flags.QR
        if transport == "tcp":
            limit = _MAX_TCP_MESSAGE
        elif query.edns >= 0:
            limit = min(max(512, query.payload), self.max_udp_payload)
        else:
            limit = 512
        if kind != "truncate":
            try:
                return response.to_wire(max_size=limit)
            except dns.exception.TooBig:
                if transport == "tcp":
                    raise
        # RFC 2181 9: drop the sections and set TC; the client must retry over TCP
        response.answer.clear()
        response.authority.clear()
        response.additional.clear()
        response.flags |= dns.flags.TC
        return response.to_wire()

    # ------------------------------------------------------ authoritative logic

    def _zone_for(self, name: dns.name.Name) -> dns.zone.Zone | None:
        n = name
        while True:
            z = self._zones.get(n)
            if z is not None or n == dns.name.root:
                return z
            n = n.parent()

    def _answer(self, query: dns.message.Message, response: dns.message.Message) -> None:
        q = query.question[0]
        with self._lock:
            zone = self._zone_for(q.name)
            interior = (
                self._interior.get(zone.origin, set())
                if zone is not None and zone.origin is not None
                else set()
            )
        if zone is None or q.rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.REFUSED)
            return
        response.flags |= dns.flags.AA
        name = q.name
        seen = {name}
        for _ in range(_MAX_CNAME_HOPS):
            node = zone.get_node(name)
            if node is None and name not in interior:
                node = self._wildcard(zone, interior, name)
            if node is None:
                if name not in interior:
                    response.set_rcode(dns.rcode.NXDOMAIN)
                self._add_soa(zone, response)
                return
            rds = node.get_rdataset(dns.rdataclass.IN, q.rdtype)
            if rds is not None:
                response.answer.append(_rrset(name, rds))
                return
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None or q.rdtype == dns.rdatatype.CNAME:
                self._add_soa(zone, response)  # NODATA
                return
            response.answer.append(_rrset(name, cname))
            target = cname[0].target
            # like NSD: follow only inside this zone; the client chases the rest
            if target in seen or self._zone_for(target) is not zone:
                return
            seen.add(target)
            name = target

    @staticmethod
    def _wildcard(
        zone: dns.zone.Zone, interior: set[dns.name.Name], name: dns.name.Name
    ) -> dns.node.Node | None:
        # RFC 4592: the closest encloser is the nearest existing ancestor; only `*.` below it
        # can match, so a wildcard never answers beneath an existing name.
        assert zone.origin is not None
        n = name.parent()
        while n != zone.origin and zone.get_node(n) is None and n not in interior:
            n = n.parent()
        return zone.get_node(dns.name.Name((b"*", *n.labels)))

    @staticmethod
    def _add_soa(zone: dns.zone.Zone, response: dns.message.Message) -> None:
        assert zone.origin is not None
        soa = zone.get_rdataset(zone.origin, dns.rdatatype.SOA)
        if soa is None:
            return
        rrset = _rrset(zone.origin, soa)
        # RFC 2308 3: the negative TTL is min(SOA TTL, SOA MINIMUM)
        rrset.ttl = min(soa.ttl, soa[0].minimum)
        response.authority.append(rrset)


def _rrset(name: dns.name.Name, rds: dns.rdataset.Rdataset) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(name, rds.ttl, list(rds))


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server._spawn(self.server._handle_udp(data, addr))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a client that went away: nothing to do
        pass


@contextlib.contextmanager
def serving(*zones_or_paths: dns.zone.Zone | str | Path, seed: int = 0) -> Iterator[DnsServer]:
    """``with serving(Path("data/zones")) as s:`` — a started server over the given data."""
    with DnsServer(seed=seed) as server:
        for z in zones_or_paths:
            if isinstance(z, dns.zone.Zone):
                server.add_zone(z)
            else:
                server.load(z)
        yield server
