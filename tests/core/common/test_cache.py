"""TtlCache: expiry by TTL, the LRU bound, and negative entries as the resolver keeps them."""

from __future__ import annotations

from bulkauth.core.common.cache import TtlCache
from bulkauth.core.common.model import Answer, Query, Rcode, RType
from bulkauth.dns.resolver import MAX_TTL, NEGATIVE_MAX_TTL, cache_ttl


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_entries_live_for_their_ttl() -> None:
    clock = Clock()
    c: TtlCache[str, int] = TtlCache(10, clock)
    c.put("a", 1, 10)
    c.put("b", 2, 30)
    clock.now += 9.9
    assert (c.get("a"), c.get("b")) == (1, 2)
    clock.now += 0.1  # an entry is gone at its expiry instant, not after
    assert c.get("a") is None and c.get("b") == 2
    assert len(c) == 1  # the expired entry was dropped when met
    clock.now += 20
    assert c.get("b") is None and len(c) == 0


def test_no_ttl_or_no_room_keeps_nothing() -> None:
    c: TtlCache[str, int] = TtlCache(10)
    c.put("zero", 1, 0)
    c.put("negative", 1, -5)
    assert len(c) == 0
    none: TtlCache[str, int] = TtlCache(0)
    none.put("a", 1, 60)
    assert len(none) == 0 and none.get("a") is None


def test_the_least_recently_used_goes_first() -> None:
    c: TtlCache[str, int] = TtlCache(2)
    c.put("a", 1, 60)
    c.put("b", 2, 60)
    assert c.get("a") == 1  # a is now the most recently used
    c.put("c", 3, 60)
    assert (c.get("a"), c.get("b"), c.get("c")) == (1, None, 3) and len(c) == 2


def test_put_replaces_and_renews() -> None:
    clock = Clock()
    c: TtlCache[str, int] = TtlCache(2, clock)
    c.put("a", 1, 10)
    c.put("b", 2, 60)
    c.put("a", 3, 60)  # replaced: a new value, a new lifetime, and the most recent again
    clock.now += 30
    assert c.get("a") == 3
    c.put("c", 4, 60)
    assert c.get("b") is None and c.get("a") == 3 and c.get("c") == 4


def test_negative_answers_as_the_resolver_keeps_them() -> None:
    clock = Clock()
    cache: TtlCache[Query, Answer] = TtlCache(10, clock)
    nx, nodata, pos, fail = (Query(f"{n}.example", RType.TXT) for n in ("nx", "nd", "pos", "sf"))
    answers = {
        nx: Answer(Rcode.NXDOMAIN, ttl=86_400),  # capped at NEGATIVE_MAX_TTL (RFC 2308 5)
        nodata: Answer(Rcode.NOERROR, ttl=30),
        pos: Answer(Rcode.NOERROR, ((b"v=spf1 -all",),), ttl=10**9),  # capped at MAX_TTL
        fail: Answer(Rcode.SERVFAIL, ttl=300),  # a failure is asked again, never kept
    }
    for q, a in answers.items():
        cache.put(q, a, cache_ttl(a))
    assert cache_ttl(answers[nx]) == NEGATIVE_MAX_TTL and cache_ttl(answers[pos]) == MAX_TTL
    assert cache.get(fail) is None and len(cache) == 3
    clock.now += 30
    assert cache.get(nodata) is None and cache.get(nx) is answers[nx]
    clock.now += NEGATIVE_MAX_TTL
    assert cache.get(nx) is None and cache.get(pos) is answers[pos]
    for rcode in (Rcode.TIMEOUT, Rcode.REFUSED, Rcode.ERROR, Rcode.FORMERR, Rcode.BADNAME):
        assert cache_ttl(Answer(rcode, ttl=300)) == 0
