"""The answer cache: TTLs, negative caching, bounds."""

from __future__ import annotations

from bulkauth.core.common.model import Answer, Query, Rcode, RType
from bulkauth.dns.cache import AnswerCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_positive_and_negative_ttls() -> None:
    clock = Clock()
    c = AnswerCache(clock=clock, negative_max_ttl=30)
    pos, neg = Query("a.example", RType.A), Query("b.example", RType.A)
    c.put(pos, Answer(Rcode.NOERROR, ("192.0.2.1",), ttl=10))
    c.put(neg, Answer(Rcode.NXDOMAIN, ttl=300))  # capped at 30
    clock.now += 9.9
    assert c.get(pos) is not None and c.get(neg) is not None
    clock.now += 0.2
    assert c.get(pos) is None and c.get(neg) is not None
    clock.now += 20
    assert c.get(neg) is None


def test_failures_are_never_cached_and_size_is_bounded() -> None:
    c = AnswerCache(max_entries=2)
    c.put(Query("x.example", RType.A), Answer(Rcode.SERVFAIL, ttl=100))
    c.put(Query("y.example", RType.A), Answer(Rcode.TIMEOUT, ttl=100))
    assert len(c) == 0
    for n in "abc":
        c.put(Query(f"{n}.example", RType.A), Answer(Rcode.NOERROR, ("192.0.2.1",), ttl=100))
    assert len(c) == 2 and c.get(Query("a.example", RType.A)) is None
