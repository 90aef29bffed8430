"""The Resolver's own logic over MemoryBackend, without a socket: retries with backoff, the
retry budget, timeouts, single-flight, CNAME chasing and the cache. (test_resolver.py watches
the same machinery on the wire, over aiodns and the loopback server.)"""

from __future__ import annotations

import asyncio
import time

import pytest

from bulkauth.core.common.model import Answer, Query, Rcode, RType
from bulkauth.dns.backends.memory import MemoryBackend
from bulkauth.dns.resolver import Resolver, ResolverConfig

pytestmark = pytest.mark.anyio

TXT = RType.TXT
SPF = Query("example.com", TXT)
RECORD = Answer(Rcode.NOERROR, ((b"v=spf1 -all",),), ttl=300)


def resolver(backend: MemoryBackend, **config: float) -> Resolver:
    return Resolver(backend, ResolverConfig(**{"backoff": 0.01, **config}))  # type: ignore[arg-type]


def cname(target: str, ttl: int = 300) -> Answer:
    """What an authoritative server says of a CNAME whose target is in another zone."""
    return Answer(Rcode.NOERROR, cnames=(target,), ttl=ttl)


async def test_names_are_normalised_before_the_backend_sees_them() -> None:
    b = MemoryBackend({SPF: RECORD})
    r = resolver(b)
    assert (await r.resolve(Query("Example.COM.", TXT))).records == RECORD.records
    bad = await r.resolve(Query("a..b", TXT))
    assert bad.rcode is Rcode.BADNAME and b.queries == [SPF]


async def test_failures_are_retried_until_an_answer() -> None:
    b = MemoryBackend({SPF: RECORD})
    b.fault("servfail", times=2)
    r = resolver(b, retries=2)
    assert await r.resolve(SPF) is RECORD
    assert b.count() == 3 and r.counters.retries == 2
    assert r.counters.failures == 0 and r.counters.by_rcode == {"NOERROR": 1}


async def test_backoff_waits_grow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bulkauth.dns.resolver.random.random", lambda: 0.5)  # no jitter
    asked: list[float] = []

    def answer(q: Query) -> Answer:
        asked.append(time.monotonic())
        return Answer(Rcode.SERVFAIL)

    r = resolver(MemoryBackend(answer), backoff=0.05, retries=2)
    got = await r.resolve(SPF)
    assert got.rcode is Rcode.SERVFAIL and r.counters.failures == 1
    first, second = asked[1] - asked[0], asked[2] - asked[1]
    assert first >= 0.04 and second >= 0.09  # backoff, then twice that (timers round to ms)


async def test_answers_are_not_retried_and_errors_give_up_after_the_retries() -> None:
    b = MemoryBackend({SPF: RECORD})
    b.fault("raise", "broken.example", error=OSError("unreachable"))
    r = resolver(b, retries=3)
    assert (await r.resolve(Query("absent.example", TXT))).rcode is Rcode.NXDOMAIN
    assert b.count("absent.example") == 1  # NXDOMAIN is an answer, not a failure
    broken = await r.resolve(Query("broken.example", TXT))
    assert broken.rcode is Rcode.ERROR and "unreachable" in broken.detail
    assert b.count("broken.example") == 4


async def test_the_retry_budget_bounds_the_whole_run() -> None:
    b = MemoryBackend({SPF: RECORD})
    b.fault("servfail")
    r = resolver(b, retries=2, retry_budget=1)
    first = await r.resolve(Query("a.example", TXT))
    second = await r.resolve(Query("b.example", TXT))
    assert (b.count("a.example"), b.count("b.example")) == (2, 1)
    assert "retry budget exhausted" in first.detail and "retry budget exhausted" in second.detail
    assert r.counters.retries == 1


async def test_a_backend_that_never_answers_times_out() -> None:
    b = MemoryBackend({SPF: RECORD})
    b.fault("timeout", "example.com")
    r = resolver(b, timeout=0.05, retries=1)
    started = time.monotonic()
    got = await r.resolve(SPF)
    assert got.rcode is Rcode.TIMEOUT and "0.05s" in got.detail
    assert b.count() == 2 and r.counters.timeouts == 2
    assert time.monotonic() - started < 1.0
    assert r.cache.get(SPF) is None  # a timeout is asked again next time


async def test_concurrent_askers_share_one_query() -> None:
    b = MemoryBackend({SPF: RECORD})
    b.fault("delay", delay=0.05, times=1)
    r = resolver(b)
    answers = await asyncio.gather(*(r.resolve(SPF) for _ in range(5)))
    assert all(a is RECORD for a in answers)
    assert b.count() == 1 and r.counters.joined == 4 and r.counters.queries == 1


async def test_joiners_of_an_abandoned_query_see_a_failure_not_a_hang() -> None:
    b = MemoryBackend({SPF: RECORD})
    b.fault("timeout")
    r = resolver(b, timeout=5.0)
    asker = asyncio.ensure_future(r.resolve(SPF))
    await asyncio.sleep(0.01)
    joiner = asyncio.ensure_future(r.resolve(SPF))
    await asyncio.sleep(0.01)
    asker.cancel()
    got = await asyncio.wait_for(joiner, 1.0)
    assert got.rcode is Rcode.ERROR and "abandoned" in got.detail


async def test_cross_zone_cnames_are_chased_with_the_least_ttl() -> None:
    key = Query("sel._domainkey.example.com", TXT)
    b = MemoryBackend(
        {
            key: cname("sel.dkim.provider.net", ttl=600),
            Query(key.name, RType.CNAME): Answer(
                Rcode.NOERROR, ("sel.dkim.provider.net",), ttl=600
            ),
            Query("sel.dkim.provider.net", TXT): cname("k1.keys.other.org", ttl=120),
            Query("k1.keys.other.org", TXT): Answer(Rcode.NOERROR, ((b"v=DKIM1; p=",),), ttl=300),
        }
    )
    r = resolver(b)
    got = await r.resolve(key)
    assert got.records == ((b"v=DKIM1; p=",),)
    assert got.cnames == ("sel.dkim.provider.net", "k1.keys.other.org") and got.ttl == 120
    # asked for the CNAME itself: the record, not where it leads
    own = await r.resolve(Query("sel._domainkey.example.com", RType.CNAME))
    assert own.records == ("sel.dkim.provider.net",) and own.cnames == ()
    assert b.count(rtype=RType.CNAME) == 1


async def test_a_chase_ending_in_nxdomain_keeps_the_chain() -> None:
    b = MemoryBackend({SPF: cname("gone.provider.net")})
    got = await resolver(b).resolve(SPF)
    assert got.rcode is Rcode.NXDOMAIN and got.cnames == ("gone.provider.net",)


async def test_cname_loops_across_zones_fail() -> None:
    b = MemoryBackend(
        {
            Query("a.example.com", TXT): cname("b.provider.net"),
            Query("b.provider.net", TXT): cname("a.example.com"),
        }
    )
    got = await resolver(b).resolve(Query("a.example.com", TXT))
    assert got.rcode is Rcode.ERROR and "loops" in got.detail
    assert b.count() == 2  # each name asked once


async def test_the_cname_chain_is_limited() -> None:
    hops = {Query(f"h{i}.example", TXT): cname(f"h{i + 1}.example") for i in range(10)}
    b = MemoryBackend(hops)
    got = await resolver(b, max_cnames=3).resolve(Query("h0.example", TXT))
    assert got.rcode is Rcode.ERROR and "exceeds 3 hops" in got.detail
    assert b.count() == 4


async def test_negative_answers_are_cached_failures_are_not() -> None:
    b = MemoryBackend({Query("nodata.example", TXT): Answer(Rcode.NOERROR, ttl=60)})
    b.fault("servfail", "flaky.example")
    r = resolver(b, retries=0)
    for _ in range(3):
        assert (await r.resolve(Query("absent.example", TXT))).rcode is Rcode.NXDOMAIN
        assert (await r.resolve(Query("nodata.example", TXT))).records == ()
        assert (await r.resolve(Query("flaky.example", TXT))).rcode is Rcode.SERVFAIL
    assert (b.count("absent.example"), b.count("nodata.example")) == (1, 1)
    assert b.count("flaky.example") == 3 and r.counters.cache_hits == 4


async def test_a_zero_ttl_answer_is_not_cached() -> None:
    b = MemoryBackend({SPF: Answer(Rcode.NOERROR, ((b"v=spf1",),), ttl=0)})
    r = resolver(b)
    await r.resolve(SPF)
    await r.resolve(SPF)
    assert b.count() == 2


async def test_resolve_many_asks_only_the_misses_and_orders_records() -> None:
    b = MemoryBackend(
        {
            SPF: RECORD,
            Query("mx.example", RType.A): Answer(Rcode.NOERROR, ("192.0.2.9", "192.0.2.1"), ttl=60),
        }
    )
    r = resolver(b)
    await r.resolve(SPF)
    got = await r.resolve_many([SPF, Query("mx.example", RType.A), SPF])
    assert got[1].records == ("192.0.2.1", "192.0.2.9")  # one canonical order
    assert b.count() == 2 and r.all_cached([SPF, Query("mx.example", RType.A)]) is not None
