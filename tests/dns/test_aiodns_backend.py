"""AiodnsBackend over real sockets, against the loopback test server (tests/dnsserver.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from bulkauth.core.common.model import MX, Answer, Query, Rcode, RType
from bulkauth.dns.backends.aiodns import AiodnsBackend, cares_server, tries_for
from tests.dnsserver import DnsServer, serving

pytestmark = pytest.mark.anyio

BIG_STRINGS = [bytes([ord("a") + i % 26]) * 255 for i in range(40)]  # 10,200 bytes of TXT
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
*.wild IN TXT "wild"
a.b.ent IN A 192.0.2.9
"""


@pytest.fixture
async def backend(dns_server: DnsServer) -> AsyncIterator[AiodnsBackend]:
    dns_server.add_zone_text("example.com", ZONE, ttl=300, soa_minimum=45)
    b = AiodnsBackend([dns_server.nameserver], timeout=1.0, negative_ttl=77)
    try:
        yield b
    finally:
        await b.aclose()


async def ask(b: AiodnsBackend, name: str, rtype: RType) -> Answer:
    return await b.query(Query(name, rtype))


async def test_a_and_aaaa(backend: AiodnsBackend) -> None:
    a = await ask(backend, "www.example.com", RType.A)
    assert (a.rcode, a.records, a.ttl, a.cnames) == (Rcode.NOERROR, ("192.0.2.1",), 60, ())
    aaaa = await ask(backend, "www.example.com", RType.AAAA)
    assert aaaa.records == ("2001:db8::1",)


async def test_mx_lower_case_without_trailing_dot(backend: AiodnsBackend) -> None:
    a = await ask(backend, "example.com", RType.MX)
    assert sorted(a.mx(), key=lambda m: m.preference) == [
        MX(10, "mx1.example.com"),
        MX(20, "mx2.example.com"),
    ]


async def test_null_mx(backend: AiodnsBackend) -> None:
    a = await ask(backend, "nullmx.example.com", RType.MX)
    assert a.records == (MX(0, ""),)


async def test_txt_keeps_records_and_string_boundaries(backend: AiodnsBackend) -> None:
    a = await ask(backend, "example.com", RType.TXT)
    assert sorted(a.records) == sorted(
        [(b"v=spf1 ", b"include:_spf.example.net -all"), (b"other",)]
    )
    assert sorted(a.txt_strings()) == ["other", "v=spf1 include:_spf.example.net -all"]


async def test_cname_in_zone_followed_by_the_server(
    backend: AiodnsBackend, dns_server: DnsServer
) -> None:
    a = await ask(backend, "alias.example.com", RType.A)
    assert (a.rcode, a.records, a.cnames, a.ttl) == (
        Rcode.NOERROR,
        ("192.0.2.1",),
        ("www.example.com",),
        60,
    )
    assert dns_server.count() == 1


async def test_cname_out_of_zone_is_returned_for_the_client_to_chase(
    backend: AiodnsBackend,
) -> None:
    a = await ask(backend, "out.example.com", RType.TXT)
    assert (a.rcode, a.records, a.cnames, a.ttl) == (Rcode.NOERROR, (), ("target.example.net",), 90)


async def test_cname_query_returns_the_cname_itself(backend: AiodnsBackend) -> None:
    a = await ask(backend, "alias.example.com", RType.CNAME)
    assert (a.records, a.cnames) == (("www.example.com",), ())


async def test_nodata_after_cname_takes_ttl_from_soa(backend: AiodnsBackend) -> None:
    a = await ask(backend, "nodata.example.com", RType.MX)
    assert (a.rcode, a.records, a.cnames) == (Rcode.NOERROR, (), ("www.example.com",))
    assert a.ttl == 30  # min(CNAME 30, SOA minimum 45)


async def test_nxdomain_vs_nodata(backend: AiodnsBackend) -> None:
    nx = await ask(backend, "nope.example.com", RType.TXT)
    assert nx.nxdomain and nx.empty and nx.ttl == 77
    nodata = await ask(backend, "www.example.com", RType.MX)
    assert (nodata.rcode, nodata.records, nodata.ttl) == (Rcode.NOERROR, (), 77)
    assert not nodata.nxdomain and nodata.empty


async def test_empty_non_terminal_is_nodata_and_wildcard_answers(backend: AiodnsBackend) -> None:
    ent = await ask(backend, "b.ent.example.com", RType.A)
    assert ent.rcode is Rcode.NOERROR and ent.empty
    wild = await ask(backend, "x.y.wild.example.com", RType.TXT)
    assert wild.records == ((b"wild",),)


@pytest.mark.parametrize(
    ("kind", "rcode"),
    [("servfail", Rcode.SERVFAIL), ("refused", Rcode.REFUSED), ("formerr", Rcode.FORMERR)],
)
async def test_error_rcodes(
    backend: AiodnsBackend, dns_server: DnsServer, kind: str, rcode: Rcode
) -> None:
    dns_server.fault(kind, "www.example.com")  # type: ignore[arg-type]
    a = await ask(backend, "www.example.com", RType.A)
    assert a.rcode is rcode and a.failed and a.detail
    if kind == "formerr":
        # RFC 6891 7: c-ares asks once more without EDNS, then reports FORMERR
        assert [s.edns_payload for s in dns_server.log] == [1232, 0]
    else:
        assert dns_server.count() == 1  # no hidden retry in c-ares: the Resolver owns retries


async def test_name_outside_served_zones_is_refused(backend: AiodnsBackend) -> None:
    assert (await ask(backend, "example.org", RType.A)).rcode is Rcode.REFUSED


async def test_dropped_query_times_out(dns_server: DnsServer) -> None:
    dns_server.add_zone_text("example.com", "www IN A 192.0.2.1")
    dns_server.fault("drop")
    b = AiodnsBackend([dns_server.nameserver], timeout=0.3, tries=1)
    try:
        t0 = time.monotonic()
        a = await ask(b, "www.example.com", RType.A)
        assert a.rcode is Rcode.TIMEOUT and "ETIMEOUT" in a.detail
        assert time.monotonic() - t0 < 1.0
    finally:
        await b.aclose()


async def test_large_txt_truncated_over_udp_then_whole_over_tcp(
    backend: AiodnsBackend, dns_server: DnsServer
) -> None:
    a = await ask(backend, "big.example.com", RType.TXT)
    assert a.records == (tuple(BIG_STRINGS),)
    assert dns_server.count("big.example.com", "TXT", "udp") == 1
    assert dns_server.count("big.example.com", "TXT", "tcp") == 1
    assert dns_server.log[0].edns_payload >= 1232  # EDNS is on


async def test_forced_truncation_retried_over_tcp(
    backend: AiodnsBackend, dns_server: DnsServer
) -> None:
    dns_server.fault("truncate", "www.example.com")
    a = await ask(backend, "www.example.com", RType.A)
    assert a.records == ("192.0.2.1",)
    assert dns_server.count(transport="tcp") == 1


@pytest.mark.parametrize("how", ["tcp_close", "tcp_reset"])
async def test_truncated_answer_with_tcp_broken_is_a_failure(
    backend: AiodnsBackend, dns_server: DnsServer, how: str
) -> None:
    if how == "tcp_close":
        dns_server.fault("tcp_close")
    else:
        dns_server.tcp_enabled = False
    a = await ask(backend, "big.example.com", RType.TXT)
    assert (a.rcode, a.records) == (Rcode.ERROR, ())
    assert "ECONNREFUSED" in a.detail


@pytest.mark.parametrize(
    "payload",
    [None, b"\x00", b"\xff" * 600],
    ids=["same-id-junk", "one-byte", "junk-600"],
)
async def test_garbage_reply_is_a_failure_never_an_exception(
    dns_server: DnsServer, payload: bytes | None
) -> None:
    dns_server.add_zone_text("example.com", "www IN A 192.0.2.1")
    dns_server.fault("garbage", "www.example.com", payload=payload)
    b = AiodnsBackend([dns_server.nameserver], timeout=0.3, tries=1)
    try:
        a = await ask(b, "www.example.com", RType.A)
        assert a.rcode is Rcode.ERROR and "EBADRESP" in a.detail
    finally:
        await b.aclose()


async def test_reply_with_wrong_id_is_ignored(dns_server: DnsServer) -> None:
    dns_server.add_zone_text("example.com", "www IN A 192.0.2.1")
    dns_server.fault("bad_id")
    b = AiodnsBackend([dns_server.nameserver], timeout=0.3, tries=1)
    try:
        assert (await ask(b, "www.example.com", RType.A)).rcode is Rcode.TIMEOUT
    finally:
        await b.aclose()


async def test_slow_answer_after_fast_ones_needs_more_than_one_cares_try(
    dns_server: DnsServer,
) -> None:
    # c-ares learns the server's RTT and then waits max(250 ms, 5 x RTT) per try, whatever the
    # configured timeout: tries_for() gives it room to wait for a 400 ms answer.
    dns_server.add_zone_text("example.com", "*.fast IN A 192.0.2.1\nslow IN A 192.0.2.2")
    dns_server.fault("delay", "slow.example.com", delay=0.4)
    single = AiodnsBackend([dns_server.nameserver], timeout=2.0, tries=1)
    default = AiodnsBackend([dns_server.nameserver], timeout=2.0)
    try:
        for b in (single, default):
            for i in range(5):
                assert (await ask(b, f"w{i}.fast.example.com", RType.A)).ok
        assert (await ask(single, "slow.example.com", RType.A)).rcode is Rcode.TIMEOUT
        assert (await ask(default, "slow.example.com", RType.A)).records == ("192.0.2.2",)
    finally:
        await single.aclose()
        await default.aclose()


async def test_bad_names_and_unsupported_types(
    backend: AiodnsBackend, dns_server: DnsServer
) -> None:
    long_label = await ask(backend, "a" * 64 + ".example.com", RType.A)
    assert long_label.rcode is Rcode.BADNAME
    spf = await ask(backend, "example.com", RType.SPF)
    assert spf.rcode is Rcode.NOTIMP
    # c-ares would read "\\a" as "a" and stop at NUL: such names must not reach it
    for name in ("ex\\ample.com", "www\x00.evil.example.com", "a b.example.com", "x+y.example.com"):
        assert (await ask(backend, name, RType.A)).rcode is Rcode.BADNAME, name
    assert dns_server.count() == 0


async def test_soa_and_ns(backend: AiodnsBackend) -> None:
    soa = await ask(backend, "example.com", RType.SOA)
    assert soa.records == ("ns1.example.com. hostmaster.example.com. 1 3600 600 86400 45",)
    assert (await ask(backend, "example.com", RType.NS)).records == ("ns1.example.com",)


async def test_cares_keeps_its_own_cache(backend: AiodnsBackend, dns_server: DnsServer) -> None:
    # Pinned because it matters for benchmarks and for tests that change zones (DESIGN.md 6):
    # the second ask never reaches the server. If this starts failing, c-ares' cache went away.
    for _ in range(2):
        assert (await ask(backend, "www.example.com", RType.A)).ok
    assert dns_server.count("www.example.com", "A") == 1


async def test_connection_refused_is_a_failure(dns_server: DnsServer) -> None:
    port = dns_server.port
    dns_server.stop()
    b = AiodnsBackend([f"127.0.0.1:{port}"], timeout=0.3, tries=1)
    try:
        assert (await ask(b, "www.example.com", RType.A)).failed
    finally:
        await b.aclose()


def test_nameserver_strings_always_carry_the_port() -> None:
    assert cares_server("127.0.0.1") == "127.0.0.1:53"
    assert cares_server("127.0.0.1:5300") == "127.0.0.1:5300"
    assert cares_server("::1") == "[::1]:53"
    assert cares_server("[::1]:5300") == "[::1]:5300"
    with pytest.raises(ValueError, match="IP address"):
        cares_server("dns.example.net")
    with pytest.raises(ValueError, match="port"):
        cares_server("127.0.0.1:0")


def test_tries_cover_the_timeout() -> None:
    assert tries_for(0.2) == 1
    assert tries_for(0.5) == 2  # 250 + 500 ms
    assert tries_for(3.0) == 4  # 250 + 500 + 1000 + 2000 ms
    assert tries_for(1e9) == 8


async def test_async_tests_run_on_uvloop() -> None:
    assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")


async def test_server_serves_a_zone_directory_and_record_dicts(tmp_path: Path) -> None:
    (tmp_path / "example.org.zone").write_text(
        '$TTL 600\n@ IN SOA ns. host. 1 2 3 4 60\n@ IN NS ns.\n@ IN TXT "v=spf1 -all"\n'
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "example.net").write_text(
        "@ 600 IN SOA ns. host. 1 2 3 4 60\n@ 600 IN NS ns.\nwww 600 IN A 192.0.2.7\n"
    )
    with serving(tmp_path) as server:
        server.add_records(
            "example.com", {"@": {"MX": "10 mx.example.com."}, "mx": {"A": ["192.0.2.8"]}}
        )
        b = AiodnsBackend([server.nameserver])
        try:
            assert (await ask(b, "example.org", RType.TXT)).txt_strings() == ["v=spf1 -all"]
            assert (await ask(b, "www.example.net", RType.A)).records == ("192.0.2.7",)
            assert (await ask(b, "example.com", RType.MX)).records == (MX(10, "mx.example.com"),)
            assert (await ask(b, "mx.example.com", RType.A)).records == ("192.0.2.8",)
        finally:
            await b.aclose()


# --- the test server itself (other tests rely on its wire behaviour) ---------------------------


def _udp(server: DnsServer, name: str, payload: int | None = None) -> dns.message.Message:
    if payload is None:
        q = dns.message.make_query(name, "TXT")
    else:
        q = dns.message.make_query(name, "TXT", use_edns=0, payload=payload)
    return dns.query.udp(q, "127.0.0.1", port=server.port, timeout=2)


def test_server_truncates_at_512_without_edns_and_at_the_advertised_size(
    dns_server: DnsServer,
) -> None:
    strings = " ".join(f'"{c * 250}"' for c in "xyz")  # a ~800-byte answer
    dns_server.add_zone_text("example.com", f"mid IN TXT {strings}")
    for payload, truncated in [(None, True), (600, True), (1232, False)]:
        r = _udp(dns_server, "mid.example.com", payload)
        assert bool(r.flags & dns.flags.TC) is truncated, payload
        assert bool(r.answer) is not truncated
        assert r.flags & dns.flags.AA
    whole = dns.query.tcp(
        dns.message.make_query("mid.example.com", "TXT"), "127.0.0.1", port=dns_server.port
    )
    assert not whole.flags & dns.flags.TC and len(whole.answer[0][0].strings) == 3


def test_server_probabilistic_faults_are_reproducible() -> None:
    def rcodes(seed: int) -> list[int]:
        with DnsServer(seed=seed) as server:
            server.add_zone_text("example.com", "www IN TXT x")
            server.fault("servfail", probability=0.5)
            return [_udp(server, "www.example.com").rcode() for _ in range(20)]

    first = rcodes(7)
    assert first == rcodes(7)
    assert set(first) == {dns.rcode.NOERROR, dns.rcode.SERVFAIL}
