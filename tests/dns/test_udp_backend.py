"""UdpBackend over real sockets on loopback (its wire parser: test_wire.py).

The programmable server of tests/dnsserver.py plays the authoritative server; a few tests run
a raw responder of their own to send exactly the bytes they need (garbage before the answer, a
server without EDNS).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rrset
import pytest

from bulkauth.core.common.model import MX, Answer, Query, Rcode, RType
from bulkauth.dns.backends.aiodns import AiodnsBackend
from bulkauth.dns.backends.udp import EDNS_PAYLOAD, UdpBackend, match_reply, system_nameservers
from bulkauth.dns.resolver import Resolver, ResolverConfig
from bulkauth.dns.wire import build_query
from tests.dnsserver import DnsServer, Transport

BIG_STRINGS = [bytes([ord("a") + i % 26]) * 255 for i in range(40)]  # 10,200 octets of TXT
BIG_TXT = " ".join(f'"{s.decode()}"' for s in BIG_STRINGS)

ZONE = f"""
@ IN MX 10 MX1.Example.COM.
@ IN MX 20 mx2.example.com.
@ IN TXT "v=spf1 " "include:_spf.example.net -all"
@ IN TXT "other"
www 60 IN A 192.0.2.1
www 60 IN AAAA 2001:db8::1
nullmx IN MX 0 .
alias 120 IN CNAME www
out 90 IN CNAME target.example.net.
nodata 30 IN CNAME www
big IN TXT {BIG_TXT}
mid IN TXT "{"m" * 200}" "{"n" * 200}" "{"o" * 200}"
*.wild IN TXT "wild"
a.b.ent IN A 192.0.2.9
"""


@pytest.fixture
def served(dns_server: DnsServer) -> DnsServer:
    dns_server.add_zone_text("example.com", ZONE, ttl=300, soa_minimum=45)
    return dns_server


@pytest.fixture
async def backend(served: DnsServer) -> AsyncIterator[UdpBackend]:
    b = UdpBackend([served.nameserver])
    try:
        yield b
    finally:
        await b.aclose()


async def ask(b: UdpBackend, name: str, rtype: RType) -> Answer:
    return await asyncio.wait_for(b.query(Query(name, rtype)), 2.0)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- answers


@pytest.mark.anyio
async def test_a_aaaa_and_edns(backend: UdpBackend, served: DnsServer) -> None:
    a = await ask(backend, "www.example.com", RType.A)
    assert (a.rcode, a.records, a.ttl, a.cnames) == (Rcode.NOERROR, ("192.0.2.1",), 60, ())
    assert a.size > 0
    aaaa = await ask(backend, "WWW.Example.com.", RType.AAAA)
    assert aaaa.records == ("2001:db8::1",)
    assert {s.edns_payload for s in served.log} == {1232}


@pytest.mark.anyio
async def test_mx_lower_case_without_trailing_dot_and_null_mx(backend: UdpBackend) -> None:
    a = await ask(backend, "example.com", RType.MX)
    assert sorted(a.mx(), key=lambda m: m.preference) == [
        MX(10, "mx1.example.com"),
        MX(20, "mx2.example.com"),
    ]
    null = await ask(backend, "nullmx.example.com", RType.MX)
    assert null.records == (MX(0, ""),)


@pytest.mark.anyio
async def test_txt_keeps_records_and_string_boundaries(backend: UdpBackend) -> None:
    a = await ask(backend, "example.com", RType.TXT)
    assert set(a.records) == {(b"v=spf1 ", b"include:_spf.example.net -all"), (b"other",)}
    # 600+ octets: more than 512, less than 1232: one EDNS datagram, no TCP
    mid = await ask(backend, "mid.example.com", RType.TXT)
    assert mid.records == ((b"m" * 200, b"n" * 200, b"o" * 200),)
    assert backend.stats.tcp == 0


@pytest.mark.anyio
async def test_cnames_inside_and_outside_the_zone(backend: UdpBackend) -> None:
    a = await ask(backend, "alias.example.com", RType.A)
    assert (a.records, a.cnames, a.ttl) == (("192.0.2.1",), ("www.example.com",), 60)
    out = await ask(backend, "out.example.com", RType.TXT)
    # the chain leaves the server's zones: returned for the Resolver to chase
    assert (out.rcode, out.records, out.cnames, out.ttl) == (
        Rcode.NOERROR,
        (),
        ("target.example.net",),
        90,
    )
    itself = await ask(backend, "alias.example.com", RType.CNAME)
    assert (itself.records, itself.cnames) == (("www.example.com",), ())


@pytest.mark.anyio
async def test_negative_answers_take_ttl_from_the_soa(backend: UdpBackend) -> None:
    nx = await ask(backend, "nope.example.com", RType.TXT)
    assert (nx.rcode, nx.records, nx.ttl) == (Rcode.NXDOMAIN, (), 45)  # min(SOA TTL, MINIMUM)
    nodata = await ask(backend, "www.example.com", RType.TXT)
    assert (nodata.rcode, nodata.records, nodata.ttl) == (Rcode.NOERROR, (), 45)
    after_cname = await ask(backend, "nodata.example.com", RType.TXT)
    assert (after_cname.cnames, after_cname.ttl) == (("www.example.com",), 30)
    ent = await ask(backend, "b.ent.example.com", RType.A)
    assert (ent.rcode, ent.records) == (Rcode.NOERROR, ())
    wild = await ask(backend, "x.wild.example.com", RType.TXT)
    assert wild.records == ((b"wild",),)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kind", "rcode"),
    [("servfail", Rcode.SERVFAIL), ("refused", Rcode.REFUSED), ("formerr", Rcode.FORMERR)],
)
async def test_error_rcodes(served: DnsServer, kind: str, rcode: Rcode) -> None:
    served.fault(kind, "www.example.com")  # type: ignore[arg-type]
    b = UdpBackend([served.nameserver])
    try:
        a = await ask(b, "www.example.com", RType.A)
    finally:
        await b.aclose()
    assert (a.rcode, a.records) == (rcode, ())
    # an EDNS server's FORMERR carries an OPT record: no retry without EDNS
    assert served.count("www.example.com", "A") == 1


@pytest.mark.anyio
async def test_outside_the_served_zones_is_refused(backend: UdpBackend) -> None:
    assert (await ask(backend, "example.org", RType.A)).rcode is Rcode.REFUSED


@pytest.mark.anyio
async def test_unusable_names_are_badname_without_a_query(
    backend: UdpBackend, served: DnsServer
) -> None:
    for name in ("a..example.com", "x" * 64 + ".example.com", ".".join(["a" * 60] * 5)):
        assert (await ask(backend, name, RType.A)).rcode is Rcode.BADNAME
    assert served.log == []


# ------------------------------------------------------------------------ truncation


@pytest.mark.anyio
async def test_large_txt_truncated_over_udp_then_whole_over_tcp(
    backend: UdpBackend, served: DnsServer
) -> None:
    a = await ask(backend, "big.example.com", RType.TXT)
    assert a.records == (tuple(BIG_STRINGS),)
    assert a.size > 10_000
    assert served.count("big.example.com", "TXT", "udp") == 1
    assert served.count("big.example.com", "TXT", "tcp") == 1
    assert (backend.stats.truncated, backend.stats.tcp) == (1, 1)


@pytest.mark.anyio
async def test_truncated_answers_share_a_few_pipelined_connections(served: DnsServer) -> None:
    served.fault("truncate", "*.wild.example.com")
    b = UdpBackend([served.nameserver], tcp_connections=2)
    try:
        answers = await asyncio.gather(
            *(ask(b, f"n{i}.wild.example.com", RType.TXT) for i in range(40))
        )
    finally:
        await b.aclose()
    assert all(a.records == ((b"wild",),) for a in answers)
    assert served.count(transport="tcp") == 40
    assert served.tcp_connections <= 2


@pytest.mark.anyio
async def test_tcp_connection_closed_under_a_query_is_retried_once(served: DnsServer) -> None:
    served.fault("truncate", "www.example.com")
    served.fault("tcp_close", "www.example.com", times=1)
    b = UdpBackend([served.nameserver])
    try:
        a = await ask(b, "www.example.com", RType.A)
    finally:
        await b.aclose()
    assert a.records == ("192.0.2.1",)
    assert served.count("www.example.com", "A", "tcp") == 2


@pytest.mark.anyio
async def test_truncated_answer_with_tcp_refused_is_an_error(served: DnsServer) -> None:
    served.fault("truncate", "www.example.com")
    served.tcp_enabled = False
    b = UdpBackend([served.nameserver])
    try:
        a = await ask(b, "www.example.com", RType.A)
    finally:
        await b.aclose()
    assert a.rcode is Rcode.ERROR


# -------------------------------------------------------------- hostile and broken servers


Reply = Callable[[bytes], list[bytes]]


class RawResponder(asyncio.DatagramProtocol):
    """A UDP 'server' that answers each query with whatever ``reply(query_wire)`` returns."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.queries: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.queries.append(data)
        assert self.transport is not None
        for out in self.reply(data):
            self.transport.sendto(out, addr)


MakeRaw = Callable[[Reply], Awaitable[RawResponder]]


@pytest.fixture
async def raw() -> AsyncIterator[MakeRaw]:
    created: list[asyncio.BaseTransport] = []

    async def make(reply: Reply) -> RawResponder:
        t, p = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: RawResponder(reply), local_addr=("127.0.0.1", 0)
        )
        created.append(t)
        return p

    yield make
    for t in created:
        t.close()


def good_reply(query_wire: bytes, edns: bool = True) -> bytes:
    q = dns.message.from_wire(query_wire)
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", "192.0.2.7"))
    if not edns:
        r.use_edns(False)
    return r.to_wire()


def port_of(proto: RawResponder) -> int:
    assert proto.transport is not None
    return int(proto.transport.get_extra_info("sockname")[1])


@pytest.mark.anyio
async def test_garbage_and_mismatched_replies_are_dropped_not_fatal(raw: MakeRaw) -> None:
    def reply(wire: bytes) -> list[bytes]:
        good = good_reply(wire)
        other_q = dns.message.make_response(dns.message.make_query("evil.example", "A"))
        other_q.id = int.from_bytes(wire[:2], "big")
        return [
            b"\x00",  # not even a header
            bytes([wire[0] ^ 0xFF, wire[1]]) + good[2:],  # another ID
            other_q.to_wire(),  # our ID, another question
            good[:-7],  # our ID and question, cut short: malformed
            good,
        ]

    server = await raw(reply)
    b = UdpBackend([f"127.0.0.1:{port_of(server)}"])
    try:
        a = await ask(b, "www.example.com", RType.A)
    finally:
        await b.aclose()
    assert a.records == ("192.0.2.7",)
    assert b.stats.garbage == 1
    assert b.stats.unmatched >= 2  # the last of the burst may arrive after we stopped reading


@pytest.mark.anyio
async def test_server_without_edns_gets_a_plain_query(raw: MakeRaw) -> None:
    def reply(wire: bytes) -> list[bytes]:
        q = dns.message.from_wire(wire)
        if q.edns >= 0:  # an old server: FORMERR, and no OPT in it
            r = dns.message.make_response(q)
            r.use_edns(False)
            r.set_rcode(dns.rcode.FORMERR)
            return [r.to_wire()]
        return [good_reply(wire, edns=False)]

    server = await raw(reply)
    b = UdpBackend([f"127.0.0.1:{port_of(server)}"])
    try:
        a = await ask(b, "www.example.com", RType.A)
    finally:
        await b.aclose()
    assert a.records == ("192.0.2.7",)
    assert b.stats.no_edns_retries == 1
    assert len(server.queries) == 2


@pytest.mark.anyio
async def test_bad_id_times_out_and_cancellation_cleans_up(served: DnsServer) -> None:
    served.fault("bad_id", "www.example.com")
    b = UdpBackend([served.nameserver])
    r = Resolver(b, ResolverConfig(timeout=0.3, retries=1, backoff=0.01))
    try:
        a = await r.resolve(Query("www.example.com", RType.A))
        assert a.rcode is Rcode.TIMEOUT
        assert b.stats.unmatched >= 2
        # nothing is left waiting in the transport
        assert all(not s.pending for srv in b._servers for s in srv.udp)
        assert (await r.resolve(Query("alias.example.com", RType.A))).records == ("192.0.2.1",)
    finally:
        await r.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_reply_without_qr_settles_nothing(served: DnsServer, transport: Transport) -> None:
    # one matcher for UDP and TCP: a message with our ID and question but the QR bit clear
    # (a query reflected back, a confused middlebox) is not the answer, over either
    if transport == "tcp":
        served.fault("truncate", "www.example.com", transport="udp")
    served.fault("no_qr", "www.example.com", transport=transport)
    b = UdpBackend([served.nameserver])
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(b.query(Query("www.example.com", RType.A)), 0.3)
        assert b.stats.unmatched >= 1 and b.stats.tcp == (transport == "tcp")
        assert served.count("www.example.com", "A", transport) >= 1
        # the abandoned query left nothing waiting on either transport
        srv = b._servers[0]
        assert not any(s.pending for s in srv.udp) and not any(c.pending for c in srv.tcp)
    finally:
        await b.aclose()


def test_reply_matching_checks_qr_id_and_question() -> None:
    q = Query("www.example.com", RType.A)
    wire, key = build_query(q, 0x1234, 0)
    fut: Any = object()  # never touched by the matcher
    pending: dict[int, Any] = {0x1234: (key, q, fut, False)}
    reply = bytearray(wire)
    reply[2] |= 0x80  # QR
    assert match_reply(bytes(reply), pending) is pending[0x1234]
    shouted = bytes(reply).replace(b"www", b"WwW")  # 0x20 mixed case still matches
    assert match_reply(shouted, pending) is pending[0x1234]
    other_id = bytearray(reply)
    other_id[1] ^= 1
    two_questions = bytearray(reply)
    two_questions[5] = 2
    other_name = bytes(reply).replace(b"www", b"wwx")
    for bad in (bytes(wire), bytes(other_id), bytes(two_questions), other_name, bytes(reply[:11])):
        assert match_reply(bad, pending) is None


@pytest.mark.anyio
async def test_nothing_listening_fails_fast(dns_server: DnsServer) -> None:
    b = UdpBackend([f"127.0.0.1:{free_udp_port()}"])
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        a = await ask(b, "www.example.com", RType.A)
    finally:
        await b.aclose()
    assert a.rcode is Rcode.ERROR  # ICMP port unreachable, not a 2-second wait
    assert loop.time() - started < 1.0


@pytest.mark.anyio
async def test_a_dead_server_is_backed_off(served: DnsServer) -> None:
    with DnsServer() as dead:
        dead.fault("drop")
        b = UdpBackend([dead.nameserver, served.nameserver])
        r = Resolver(b, ResolverConfig(timeout=0.2, retries=3, backoff=0.01, cache_entries=0))
        try:
            answers = [await r.resolve(Query("www.example.com", RType.A)) for _ in range(12)]
        finally:
            await r.aclose()
        assert all(a.records == ("192.0.2.1",) for a in answers)
        # after three misses the dead one is skipped until its back-off ends
        assert len(dead.log) <= 4
        assert served.count("www.example.com", "A") == 12


@pytest.mark.anyio
async def test_source_port_changes_as_sockets_retire(
    backend: UdpBackend, served: DnsServer
) -> None:
    b = UdpBackend([served.nameserver], socket_max_uses=5)
    try:
        for i in range(12):
            await ask(b, f"q{i}.wild.example.com", RType.TXT)
    finally:
        await b.aclose()
    assert b.stats.sockets_opened >= 3


@pytest.mark.anyio
async def test_same_answers_as_the_aiodns_backend(served: DnsServer) -> None:
    udp = UdpBackend([served.nameserver])
    ares = AiodnsBackend([served.nameserver], timeout=1.0)
    questions = [
        ("www.example.com", RType.A),
        ("www.example.com", RType.AAAA),
        ("example.com", RType.MX),
        ("example.com", RType.TXT),
        ("alias.example.com", RType.A),
        ("out.example.com", RType.TXT),
        ("big.example.com", RType.TXT),
        ("nullmx.example.com", RType.MX),
        ("nope.example.com", RType.TXT),
        ("x.wild.example.com", RType.TXT),
    ]
    try:
        for name, rtype in questions:
            x = await ask(udp, name, rtype)
            y = await asyncio.wait_for(ares.query(Query(name, rtype)), 2)
            assert (x.rcode, sorted(map(repr, x.records)), x.cnames) == (
                y.rcode,
                sorted(map(repr, y.records)),
                y.cnames,
            ), name
            if x.records:  # aiodns cannot see the SOA of a negative answer: TTLs differ there
                assert x.ttl == y.ttl
    finally:
        await udp.aclose()
        await ares.aclose()


def test_nameservers_must_be_addresses(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="IP address"):
        UdpBackend(["dns.example.com"])
    assert UdpBackend(["[::1]:5353", "127.0.0.1"]).nameservers == ["[::1]:5353", "127.0.0.1:53"]
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nsearch x\n")
    assert system_nameservers(str(conf)) == ["192.0.2.53", "fe80::1"]
    assert system_nameservers(str(tmp_path / "missing")) == ["127.0.0.1"]


@pytest.mark.anyio
@pytest.mark.parametrize("min_timeout", [0.1, 0.0])
async def test_a_lost_answer_costs_the_round_trip_timeout_not_the_full_one(
    raw: MakeRaw, min_timeout: float
) -> None:
    """Over a fast path the first try of a query waits the measured round-trip timeout (here
    about its floor, 0.1 s); only the last try waits the full timeout (2 s). --min-timeout 0: every try
    waits the full timeout, as before."""
    lost: list[bytes] = []

    def reply(wire: bytes) -> list[bytes]:
        if b"\x04lost" in wire and not lost:
            lost.append(wire)  # the first datagram for lost.example.com goes nowhere
            return []
        return [good_reply(wire)]

    server = await raw(reply)
    b = UdpBackend([f"127.0.0.1:{port_of(server)}"])
    cfg = ResolverConfig(timeout=2.0, min_timeout=min_timeout, retries=2, backoff=0.01)
    r = Resolver(b, cfg)
    try:
        for i in range(40):  # round trips to learn from (one in four is sampled)
            assert (await r.resolve(Query(f"w{i}.example.com", RType.A))).rcode is Rcode.NOERROR
        started = time.monotonic()
        a = await r.resolve(Query("lost.example.com", RType.A))
        took = time.monotonic() - started
    finally:
        await r.aclose()
    assert a.records == ("192.0.2.7",) and r.counters.timeouts == 1 and len(lost) == 1
    if min_timeout:
        assert took < 1.0  # the round-trip timeout: ~0.1 s here, more on a busy machine
    else:
        assert took >= 1.99


@pytest.mark.anyio
async def test_a_reply_to_a_query_that_just_timed_out_is_dropped(raw: MakeRaw) -> None:
    """The deadline cancels the query's future at once, but the query is forgotten only when
    its task next runs: a reply in between is late, not an error in the reader."""
    server = await raw(lambda wire: [])
    b = UdpBackend([f"127.0.0.1:{port_of(server)}"])
    try:
        sock = await b._servers[0].open_udp()
        q = Query("www.example.com", RType.A)
        wire, key = build_query(q, 0x1234, EDNS_PAYLOAD)
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        fut.cancel()
        sock.pending[0x1234] = (key, q, fut, True)
        sock._datagram(good_reply(bytes(wire)))
        assert b.stats.unmatched == 1
    finally:
        await b.aclose()
