"""MemoryBackend: answers from a dict or a function, every query recorded, faults injected."""

from __future__ import annotations

import time

import anyio
import pytest

from bulkauth.core.common.model import Answer, Query, Rcode, RType
from bulkauth.dns.backends.memory import NOT_FOUND, MemoryBackend

pytestmark = pytest.mark.anyio

WWW = Query("www.example", RType.A)
HIT = Answer(Rcode.NOERROR, ("192.0.2.1",), ttl=60)


async def test_answers_from_a_dict_and_records_queries() -> None:
    b = MemoryBackend({WWW: HIT})
    assert await b.query(WWW) is HIT
    assert await b.query(Query("nope.example", RType.TXT)) is NOT_FOUND
    assert b.queries == [WWW, Query("nope.example", RType.TXT)]
    assert (b.count("www.example"), b.count(rtype=RType.TXT), b.count()) == (1, 1, 2)
    await b.aclose()
    assert b.closed


async def test_answers_from_a_function() -> None:
    b = MemoryBackend(lambda q: Answer(Rcode.NOERROR, (q.name,), ttl=1))
    assert (await b.query(Query("x.example", RType.TXT))).records == ("x.example",)


async def test_servfail_for_the_first_matching_queries_only() -> None:
    b = MemoryBackend({WWW: HIT})
    f = b.fault("servfail", "*.example", RType.A, times=2)
    assert [(await b.query(WWW)).rcode for _ in range(3)] == [
        Rcode.SERVFAIL,
        Rcode.SERVFAIL,
        Rcode.NOERROR,
    ]
    assert f.fired == 2 and b.count() == 3
    assert (await b.query(Query("www.other", RType.A))).rcode is Rcode.NXDOMAIN


async def test_raised_errors_are_mapped_at_the_boundary() -> None:
    b = MemoryBackend({WWW: HIT}, errors={ConnectionRefusedError: Rcode.REFUSED})
    b.fault("raise", "www.example", error=ConnectionRefusedError("nobody home"), times=1)
    b.fault("raise", "www.example", error=ValueError("odd"), times=1)
    refused, other, ok = [await b.query(WWW) for _ in range(3)]
    assert refused.rcode is Rcode.REFUSED and "nobody home" in refused.detail
    assert other.rcode is Rcode.ERROR and other.detail == "ValueError: odd"
    assert ok is HIT

    def broken(q: Query) -> Answer:
        raise OSError("disk on fire")

    assert (await MemoryBackend(broken).query(WWW)).rcode is Rcode.ERROR


async def test_delay_then_answer_and_timeout_never_answers() -> None:
    b = MemoryBackend({WWW: HIT})
    b.fault("delay", "www.example", delay=0.05, times=1)
    started = time.monotonic()
    assert await b.query(WWW) is HIT
    assert time.monotonic() - started >= 0.04  # the loop rounds timers to the millisecond
    b.fault("timeout", "www.example")
    with anyio.move_on_after(0.05) as scope:
        await b.query(WWW)
    assert scope.cancelled_caught
