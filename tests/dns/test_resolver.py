"""The Resolver over AiodnsBackend and the loopback server: cache, single-flight, limits,
retries, timeouts and CNAME chasing, observed on the wire."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from bulkauth.core.common.model import Query, Rcode, RType
from bulkauth.dns.backends.aiodns import AiodnsBackend
from bulkauth.dns.resolver import Resolver, ResolverConfig
from tests.dnsserver import DnsServer

pytestmark = pytest.mark.anyio

ZONE = """
short 1 IN TXT "v=spf1 -all"
long 300 IN TXT "v=spf1 ~all"
www IN A 192.0.2.1
*.bulk IN A 192.0.2.2
sel._domainkey IN CNAME sel.dkim.provider.net.
loop1 IN CNAME loop2
loop2 IN CNAME loop1
away IN CNAME back.provider.net.
"""

PROVIDER = """
sel.dkim IN TXT "v=DKIM1; k=rsa; p=MIGf"
back IN CNAME away.example.com.
"""


@pytest.fixture
def served(dns_server: DnsServer) -> DnsServer:
    dns_server.add_zone_text("example.com", ZONE, soa_minimum=1)
    dns_server.add_zone_text("provider.net", PROVIDER)
    return dns_server


@asynccontextmanager
async def resolver_for(
    server: DnsServer,
    *,
    negative_ttl: int = 300,
    tries: int | None = None,
    backend_timeout: float = 2.0,
    **config: float,
) -> AsyncIterator[Resolver]:
    backend = AiodnsBackend(
        [server.nameserver], timeout=backend_timeout, tries=tries, negative_ttl=negative_ttl
    )
    resolver = Resolver(backend, ResolverConfig(backoff=0.01, **config))  # type: ignore[arg-type]
    try:
        yield resolver
    finally:
        await resolver.aclose()


async def test_positive_cache_honours_ttl(served: DnsServer) -> None:
    async with resolver_for(served) as r:
        for _ in range(3):
            a = await r.resolve(Query("short.example.com", RType.TXT))
            assert a.txt_strings() == ["v=spf1 -all"] and a.ttl == 1
        assert served.count("short.example.com") == 1
        assert r.counters.cache_hits == 2
        await anyio.sleep(1.1)
        assert (await r.resolve(Query("short.example.com", RType.TXT))).ok
        assert served.count("short.example.com") == 2
        # a long TTL is still cached
        await r.resolve(Query("long.example.com", RType.TXT))
        await r.resolve(Query("long.example.com", RType.TXT))
        assert served.count("long.example.com") == 1


async def test_negative_cache_expires_with_the_negative_ttl(served: DnsServer) -> None:
    # pycares hides the SOA of NXDOMAIN/NODATA answers (see bulkauth/dns/backends/aiodns.py), so the
    # backend's negative_ttl is the negative TTL; the zone's SOA minimum is 1 s as well, so
    # c-ares' own cache expires at the same time.
    async with resolver_for(served, negative_ttl=1) as r:
        for _ in range(2):
            assert (await r.resolve(Query("nope.example.com", RType.TXT))).nxdomain
            assert (await r.resolve(Query("www.example.com", RType.MX))).empty
        assert served.count("nope.example.com") == 1
        assert served.count("www.example.com", "MX") == 1
        await anyio.sleep(1.1)
        assert (await r.resolve(Query("nope.example.com", RType.TXT))).nxdomain
        assert served.count("nope.example.com") == 2


async def test_failures_are_not_cached(served: DnsServer) -> None:
    served.fault("servfail", "www.example.com", times=1)
    async with resolver_for(served, retries=0) as r:
        assert (await r.resolve(Query("www.example.com", RType.A))).rcode is Rcode.SERVFAIL
        assert (await r.resolve(Query("www.example.com", RType.A))).records == ("192.0.2.1",)
        assert served.count("www.example.com") == 2


async def test_single_flight_sends_one_query_for_fifty_askers(served: DnsServer) -> None:
    served.fault("delay", "www.example.com", delay=0.1)
    async with resolver_for(served) as r:
        answers = await r.resolve_many([Query("www.example.com", RType.A)] * 50)
        assert {a.records for a in answers} == {("192.0.2.1",)}
        assert served.count() == 1
        assert (r.counters.queries, r.counters.joined) == (1, 49)


async def test_qps_limit_spaces_queries(served: DnsServer) -> None:
    n, qps = 120, 100
    async with resolver_for(served, qps=qps) as r:
        t0 = time.monotonic()
        answers = await r.resolve_many([Query(f"q{i}.bulk.example.com", RType.A) for i in range(n)])
        elapsed = time.monotonic() - t0
    assert all(a.records == ("192.0.2.2",) for a in answers)
    assert served.count() == n
    stamps = [s.at for s in served.log]
    rate = (n - 1) / (stamps[-1] - stamps[0])
    assert 80 <= rate <= 110, rate
    assert elapsed >= (n - 1) / qps * 0.95


async def test_in_flight_limit(served: DnsServer) -> None:
    served.fault("delay", "*.bulk.example.com", delay=0.15)
    async with resolver_for(served, concurrency=5) as r:
        t0 = time.monotonic()
        answers = await r.resolve_many(
            [Query(f"c{i}.bulk.example.com", RType.A) for i in range(20)]
        )
        elapsed = time.monotonic() - t0
    assert all(a.ok for a in answers)
    assert served.max_in_flight == 5
    assert elapsed >= 4 * 0.15 * 0.95  # 20 queries, 5 at a time


async def test_retries_after_servfail(served: DnsServer) -> None:
    fault = served.fault("servfail", "www.example.com", times=2)
    async with resolver_for(served, retries=3) as r:
        a = await r.resolve(Query("www.example.com", RType.A))
        assert a.records == ("192.0.2.1",)
        assert fault.fired == 2 and served.count() == 3
        assert r.counters.retries == 2
        assert r.counters.queries == 3 and r.counters.failures == 0


async def test_retries_exhausted_report_the_failure(served: DnsServer) -> None:
    served.fault("refused", "www.example.com")
    async with resolver_for(served, retries=2) as r:
        a = await r.resolve(Query("www.example.com", RType.A))
        assert a.rcode is Rcode.REFUSED
        assert served.count() == 3 and r.counters.retries == 2 and r.counters.failures == 1


async def test_timeout_after_retries_is_counted(served: DnsServer) -> None:
    served.fault("drop", "www.example.com")
    # c-ares would wait 2 s: the Resolver's 0.2 s deadline is the one that fires
    async with resolver_for(served, tries=1, timeout=0.2, retries=2) as r:
        t0 = time.monotonic()
        a = await r.resolve(Query("www.example.com", RType.A))
        assert a.rcode is Rcode.TIMEOUT
        assert time.monotonic() - t0 < 1.5
        assert (r.counters.timeouts, r.counters.retries, r.counters.failures) == (3, 2, 1)
        assert served.count() == 3


async def test_backend_timeout_is_retried_too(served: DnsServer) -> None:
    # here c-ares gives up first (ETIMEOUT -> Rcode.TIMEOUT), still a retryable failure
    served.fault("drop", "www.example.com", times=1)
    async with resolver_for(served, tries=1, backend_timeout=0.2, timeout=2.0, retries=1) as r:
        a = await r.resolve(Query("www.example.com", RType.A))
        assert a.records == ("192.0.2.1",)
        assert r.counters.retries == 1 and served.count() == 2


async def test_cross_zone_cname_is_chased_by_the_resolver(served: DnsServer) -> None:
    async with resolver_for(served) as r:
        a = await r.resolve(Query("sel._domainkey.example.com", RType.TXT))
        assert a.txt_strings() == ["v=DKIM1; k=rsa; p=MIGf"]
        assert a.cnames == ("sel.dkim.provider.net",)
        assert served.count("sel._domainkey.example.com") == 1
        assert served.count("sel.dkim.provider.net") == 1


@pytest.mark.parametrize(
    "name", ["loop1.example.com", "away.example.com"], ids=["in-zone", "cross-zone"]
)
async def test_cname_loop_is_an_error_not_a_hang(served: DnsServer, name: str) -> None:
    async with resolver_for(served) as r:
        with anyio.fail_after(3):
            a = await r.resolve(Query(name, RType.A))
        assert a.rcode is Rcode.ERROR and "loop" in a.detail
        assert served.count() <= 3
