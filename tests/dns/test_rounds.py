"""A round of questions over the UdpBackend (bulkauth.dns.rounds): what resolve_many asks
without a coroutine per question must behave as the coroutine path does, on the wire: the same
answers and counters, retries, timeouts, TC -> TCP, the qps and in-flight limits, joins and
cancellation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from bulkauth.core.common.model import Answer, Counters, Query, Rcode, RType
from bulkauth.dns.backends.udp import UdpBackend
from bulkauth.dns.resolver import Resolver, ResolverConfig
from tests.dnsserver import DnsServer

pytestmark = pytest.mark.anyio

ZONE = """
short 1 IN TXT "v=spf1 -all"
www IN A 192.0.2.1
multi IN A 192.0.2.9
multi IN A 192.0.2.3
multi IN A 192.0.2.5
*.bulk IN A 192.0.2.2
big IN TXT "{big}"
sel._domainkey IN CNAME sel.dkim.provider.net.
loop1 IN CNAME loop2
loop2 IN CNAME loop1
away IN CNAME back.provider.net.
""".replace(
    "{big}",
    "x" * 250 + '" "' + "y" * 250 + '" "' + "z" * 250 + '" "' + "w" * 250 + '" "' + "v" * 250,
)

PROVIDER = """
sel.dkim IN TXT "v=DKIM1; k=rsa; p=MIGf"
back IN CNAME away.example.com.
"""

QUESTIONS = [
    Query("www.example.com", RType.A),
    Query("WWW.Example.COM.", RType.A),  # the same question, not normal: a join
    Query("multi.example.com", RType.A),
    Query("nope.example.com", RType.TXT),
    Query("www.example.com", RType.MX),
    Query("big.example.com", RType.TXT),  # 1,250 bytes of TXT: TC=1, then TCP
    Query("sel._domainkey.example.com", RType.TXT),
    Query("loop1.example.com", RType.A),
    Query("away.example.com", RType.A),
    Query("a." + "b" * 64 + ".example.com", RType.A),  # BADNAME
    Query("www.example.com", RType.A),  # twice in one round
    *(Query(f"q{i}.bulk.example.com", RType.A) for i in range(40)),
]


@pytest.fixture
def served(dns_server: DnsServer) -> DnsServer:
    dns_server.add_zone_text("example.com", ZONE, soa_minimum=1)
    dns_server.add_zone_text("provider.net", PROVIDER)
    return dns_server


@asynccontextmanager
async def resolver_for(
    server: DnsServer, *, rounds: bool = True, **config: float
) -> AsyncIterator[Resolver]:
    resolver = Resolver(UdpBackend([server.nameserver]), ResolverConfig(backoff=0.01, **config))  # type: ignore[arg-type]
    assert resolver._rounds
    resolver._rounds = rounds
    try:
        yield resolver
    finally:
        await resolver.aclose()


def _settled(r: Resolver, concurrency: int) -> None:
    """Nothing left behind: every slot free, no flight, no query pending on a socket."""
    assert r._inflight._free == concurrency
    assert not r._flights
    backend = r.backend
    assert isinstance(backend, UdpBackend)
    assert all(not s.pending for server in backend._servers for s in server.udp)


async def test_a_round_answers_and_counts_as_the_coroutine_path(served: DnsServer) -> None:
    got: dict[bool, tuple[tuple[Answer, ...], Counters, int]] = {}
    for rounds in (False, True):
        served.log.clear()
        async with resolver_for(served, rounds=rounds) as r:
            answers = await r.resolve_many(QUESTIONS)
            _settled(r, 500)
            got[rounds] = (answers, r.counters, len(served.log))
    assert got[True] == got[False]
    answers, counters, _ = got[True]
    assert answers[0].records == ("192.0.2.1",) and answers[1] == answers[0]
    assert answers[2].records == ("192.0.2.3", "192.0.2.5", "192.0.2.9")
    assert answers[5].txt_strings() == ["x" * 250 + "y" * 250 + "z" * 250 + "w" * 250 + "v" * 250]
    assert answers[6].cnames == ("sel.dkim.provider.net",)
    assert answers[7].rcode is Rcode.ERROR and "loop" in answers[7].detail
    assert answers[9].rcode is Rcode.BADNAME
    assert counters.joined == 2


async def test_retries_after_servfail_in_a_round(served: DnsServer) -> None:
    fault = served.fault("servfail", "www.example.com", times=2)
    async with resolver_for(served, retries=3) as r:
        a, b = await r.resolve_many(
            [Query("www.example.com", RType.A), Query("q1.bulk.example.com", RType.A)]
        )
        assert a.records == ("192.0.2.1",) and b.records == ("192.0.2.2",)
        assert fault.fired == 2 and served.count("www.example.com") == 3
        assert (r.counters.retries, r.counters.queries, r.counters.failures) == (2, 4, 0)
        _settled(r, 500)


async def test_timeouts_and_retries_are_counted_in_a_round(served: DnsServer) -> None:
    served.fault("drop", "www.example.com")
    async with resolver_for(served, timeout=0.2, retries=2) as r:
        t0 = time.monotonic()
        a, b = await r.resolve_many(
            [Query("www.example.com", RType.A), Query("q1.bulk.example.com", RType.A)]
        )
        assert time.monotonic() - t0 < 1.5
        assert a.rcode is Rcode.TIMEOUT and "0.2s" in a.detail and b.ok
        assert (r.counters.timeouts, r.counters.retries, r.counters.failures) == (3, 2, 1)
        assert served.count("www.example.com") == 3
        _settled(r, 500)


@pytest.mark.parametrize("rounds", [True, False], ids=["round", "coroutines"])
async def test_the_retry_budget_holds_in_a_round(served: DnsServer, rounds: bool) -> None:
    served.fault("refused", "*.bulk.example.com")
    async with resolver_for(served, rounds=rounds, retries=2, retry_budget=3) as r:
        asked = [Query(f"b{i}.bulk.example.com", RType.A) for i in range(4)]
        answers = await r.resolve_many(asked)
        assert all(a.rcode is Rcode.REFUSED for a in answers)
        assert r.counters.retries == 3 and served.count() == 7
        # each wanted a retry the budget no longer had
        assert all(a.detail == "retry budget exhausted" for a in answers)


async def test_in_flight_limit_in_a_round(served: DnsServer) -> None:
    served.fault("delay", "*.bulk.example.com", delay=0.15)
    async with resolver_for(served, concurrency=5) as r:
        t0 = time.monotonic()
        answers = await r.resolve_many(
            [Query(f"c{i}.bulk.example.com", RType.A) for i in range(20)]
        )
        elapsed = time.monotonic() - t0
        _settled(r, 5)
    assert all(a.ok for a in answers)
    assert served.max_in_flight == 5
    assert elapsed >= 4 * 0.15 * 0.95


async def test_qps_limit_in_a_round(served: DnsServer) -> None:
    n, qps = 60, 100
    async with resolver_for(served, qps=qps) as r:
        answers = await r.resolve_many([Query(f"p{i}.bulk.example.com", RType.A) for i in range(n)])
    assert all(a.records == ("192.0.2.2",) for a in answers)
    stamps = [s.at for s in served.log]
    rate = (n - 1) / (stamps[-1] - stamps[0])
    assert 80 <= rate <= 110, rate


async def test_a_joiner_of_a_round_shares_its_query(served: DnsServer) -> None:
    served.fault("delay", "www.example.com", delay=0.1)
    async with resolver_for(served) as r:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                r.resolve_many,
                [Query("www.example.com", RType.A), Query("x.bulk.example.com", RType.A)],
            )
            await anyio.sleep(0.02)
            joined = await r.resolve(Query("www.example.com", RType.A))
        assert joined.records == ("192.0.2.1",)
        assert served.count("www.example.com") == 1 and r.counters.joined == 1


async def test_a_cancelled_round_frees_everything_and_its_joiners_see_a_failure(
    served: DnsServer,
) -> None:
    served.fault("delay", "*.bulk.example.com", delay=0.5)
    async with resolver_for(served, concurrency=4) as r:
        asked = [Query(f"k{i}.bulk.example.com", RType.A) for i in range(10)]
        task = asyncio.ensure_future(r.resolve_many(asked))
        await anyio.sleep(0.05)
        joiner = asyncio.ensure_future(r.resolve(asked[0]))
        waiter = asyncio.ensure_future(r.resolve(asked[9]))  # waits for a slot: a join too
        await anyio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for fut in (joiner, waiter):
            a = await fut
            assert a.rcode is Rcode.ERROR and "query abandoned" in a.detail
        _settled(r, 4)
        # the resolver is still whole: a new round is answered
        await anyio.sleep(0.6)
        (a,) = await r.resolve_many([Query("www.example.com", RType.A)])
        assert a.ok
        assert r.counters.queries == 5  # 4 were sent, the 6 waiting never were
