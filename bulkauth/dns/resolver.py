"""The run-wide resolver: one object, shared by every check, over one backend.

Order of work for each question: normalise the name -> cache -> join an identical query already
in flight (single-flight) -> wait for the qps limit and an in-flight slot -> ask the backend
under a timeout -> retry failures with backoff -> cache the outcome. CNAMEs that the backend
could not follow (an authoritative server only follows them inside its own zone) are chased
here, with a hop limit.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import anyio

from bulkauth.core.common.cache import TtlCache
from bulkauth.core.common.model import Answer, Counters, Query, Rcode, Rdata, RType
from bulkauth.core.common.names import NameError_, normalize_query_name
from bulkauth.core.common.step import Step
from bulkauth.dns.backend import Backend
from bulkauth.dns.limits import Deadlines, InFlight, RateLimiter, RttEstimator
from bulkauth.dns.rounds import RETRYABLE, Grants, Round

T = TypeVar("T")
#: the longest an answer is kept, records and negative (RFC 2308 5: one to three hours): what a
#: hostile zone can pin in memory
MAX_TTL = 86_400
NEGATIVE_MAX_TTL = 3_600


def cache_ttl(answer: Answer) -> int:
    """How long the cache keeps an answer (0: not at all). Only authoritative outcomes (records,
    NODATA, NXDOMAIN) are kept; failures such as SERVFAIL or TIMEOUT are asked again."""
    rcode = answer.rcode
    if rcode is not Rcode.NOERROR and rcode is not Rcode.NXDOMAIN:
        return 0  # Answer.ok, tested inline: this runs per query
    ttl = answer.ttl
    cap = MAX_TTL if answer.records else NEGATIVE_MAX_TTL
    return cap if ttl > cap else ttl


@dataclass(slots=True)
class ResolverConfig:
    #: the longest a try waits; the last try of a query always waits this long
    timeout: float = 3.0
    retries: int = 2
    #: tries before the last wait the measured round-trip timeout (RFC 6298), at least this;
    #: 0 turns that off (every try waits ``timeout``)
    min_timeout: float = 0.3
    concurrency: int = 500
    qps: float = 0.0
    #: an LRU: what is shared (provider SPF trees, report receivers) stays; one-off names
    #: (DKIM probes, NXDOMAINs) pass through. ~700 bytes an entry as measured (PSS of a worker):
    #: 50,000 cost each process 33 MiB more than 10,000, which answered as many questions from
    #: the cache on the bench's 2,000 domains (11,768 v 11,760) and its 1,000,000 lines
    cache_entries: int = 10_000
    max_cnames: int = 8
    backoff: float = 0.05
    #: total retries the whole run may spend, so a dead resolver cannot stretch a run to days
    retry_budget: int = 100_000


class Resolver:
    def __init__(self, backend: Backend, config: ResolverConfig | None = None) -> None:
        self.backend = backend
        self.config = config or ResolverConfig()
        self.cache: TtlCache[Query, Answer] = TtlCache(self.config.cache_entries)
        self.counters = Counters()
        self._rate = RateLimiter(self.config.qps)
        self._inflight = InFlight(self.config.concurrency)
        self._deadlines = Deadlines(self.config.timeout)
        self._rtt = (
            RttEstimator(self.config.min_timeout, self.config.timeout)
            if 0 < self.config.min_timeout < self.config.timeout
            else None
        )
        self._flights: dict[Query, asyncio.Future[Answer] | None] = {}
        self._retries_left = self.config.retry_budget
        #: the backend can be asked without a coroutine a question (StartingBackend)
        self._rounds = callable(getattr(backend, "start", None))
        self._grants = Grants()

    async def aclose(self) -> None:
        await self.backend.aclose()

    async def resolve(self, q: Query) -> Answer:
        """Answer a question, following CNAMEs; never raises for DNS failures."""
        try:
            name = normalize_query_name(q.name)
        except NameError_ as exc:
            return Answer(Rcode.BADNAME, detail=str(exc))
        answer = await self._lookup(Query(name, q.rtype))
        if q.rtype is RType.CNAME or answer.records or not answer.cnames:
            return answer
        return await self._chase(name, q.rtype, answer)

    async def resolve_many(self, queries: Sequence[Query]) -> tuple[Answer, ...]:
        # Most answers in a bulk run come from the cache (shared provider records): serve
        # those without a task each, and gather only the misses.
        answers: list[Answer | None] = [self._cached_final(q) for q in queries]
        misses = [i for i, a in enumerate(answers) if a is None]
        self.counters.cache_hits += len(queries) - len(misses)
        if len(misses) == 1:
            answers[misses[0]] = await self.resolve(queries[misses[0]])
        elif misses and self._rounds:
            await self._ask_round(queries, misses, answers)
        elif misses:
            fetched = await asyncio.gather(*(self.resolve(queries[i]) for i in misses))
            for i, a in zip(misses, fetched, strict=True):
                answers[i] = a
        return tuple(a for a in answers if a is not None)

    async def _ask_round(
        self, queries: Sequence[Query], misses: list[int], answers: list[Answer | None]
    ) -> None:
        """The misses of a round, each asked as resolve() would, without a coroutine each
        (bulkauth.dns.rounds): all but those already in flight or cached behind a CNAME."""
        round_ = Round(self, answers)
        asks: list[tuple[int, Query]] = []
        others: list[tuple[int, Coroutine[Any, Any, Answer]]] = []
        flights = self._flights
        cache = self.cache
        for i in misses:
            q = queries[i]
            try:
                name = normalize_query_name(q.name)
            except NameError_ as exc:
                answers[i] = Answer(Rcode.BADNAME, detail=str(exc))
                continue
            if name != q.name:
                q = Query(name, q.rtype)
            if q in flights or q in cache:
                # a join, or a cached CNAME to chase: the coroutine path (rare)
                others.append((i, self.resolve(q)))
                continue
            flights[q] = None
            asks.append((i, q))
        round_.ask(asks)
        if not others:
            await round_.wait()
            return
        fetched = await asyncio.gather(round_.wait(), *(c for _, c in others))
        for (i, _), a in zip(others, fetched[1:], strict=True):
            answers[i] = a

    def all_cached(self, queries: Sequence[Query]) -> tuple[Answer, ...] | None:
        """Every answer from the cache, or None if one must be fetched: most rounds of a bulk
        run are answered whole from the cache, and need no coroutine at all."""
        answers = []
        for q in queries:
            a = self._cached_final(q)
            if a is None:
                return None
            answers.append(a)
        self.counters.cache_hits += len(answers)
        return tuple(answers)

    def _cached_final(self, q: Query) -> Answer | None:
        """A cached answer that needs no CNAME chasing, for a query whose name is already normal."""
        answer = self.cache.get(q)
        if answer is None or (answer.cnames and not answer.records and q.rtype is not RType.CNAME):
            return None
        return answer

    async def _chase(self, name: str, rtype: RType, answer: Answer) -> Answer:
        chain = list(answer.cnames)
        ttl = answer.ttl
        seen = {name}
        while answer.rcode is Rcode.NOERROR and not answer.records and answer.cnames:
            target = answer.cnames[-1]
            if target in seen or len(chain) > self.config.max_cnames:
                return Answer(
                    Rcode.ERROR,
                    cnames=tuple(chain),
                    detail=f"CNAME chain from {name} loops or exceeds {self.config.max_cnames} hops",
                )
            seen.add(target)
            answer = await self._lookup(Query(target, rtype))
            chain.extend(answer.cnames)
            ttl = min(ttl, answer.ttl)
        return replace(answer, cnames=tuple(chain), ttl=ttl)

    async def _lookup(self, q: Query) -> Answer:
        cached = self.cache.get(q)
        if cached is not None:
            self.counters.cache_hits += 1
            return cached
        flights = self._flights
        if q in flights:
            # a future only once someone joins: joins are rare, questions are not
            self.counters.joined += 1
            fut = flights[q]
            if fut is None:
                fut = flights[q] = asyncio.get_running_loop().create_future()
            return await asyncio.shield(fut)
        flights[q] = None
        try:
            answer = await self._ask(q)
        except BaseException as exc:
            self._abandon(q, exc)
            raise
        return self._settle(q, answer)

    def _settle(self, q: Query, answer: Answer) -> Answer:
        """A question's final answer: in canonical order, cached, given to those who joined."""
        if len(answer.records) > 1:
            # RRsets are unordered and servers rotate them: one canonical order makes every
            # record we write reproducible, whichever server or backend answered
            ordered = canonical_order(answer.records)
            if ordered != answer.records:  # replace() costs ~4 us: only when needed
                answer = replace(answer, records=ordered)
        self.cache.put(q, answer, cache_ttl(answer))
        fut = self._flights.pop(q)
        if fut is not None:
            fut.set_result(answer)
        return answer

    def _abandon(self, q: Query, exc: BaseException) -> None:
        """The asker of ``q`` was cancelled: joiners must not hang, they see a clean failure."""
        fut = self._flights.pop(q)
        if fut is not None:
            fut.set_result(Answer(Rcode.ERROR, detail=f"query abandoned: {exc!r}"))

    async def _ask(self, q: Query) -> Answer:
        """Ask the backend, trying again after failures; one frame for all tries, because a
        coroutine per try cost ~1 us of every query (bench/README.md)."""
        config = self.config
        counters = self.counters
        rtt = self._rtt
        inflight = self._inflight
        task = asyncio.current_task()
        assert task is not None
        attempt = 0
        while True:
            # a lost datagram costs the measured round-trip timeout, not the full one; the
            # last try waits the full timeout, so a slow server is still heard
            if rtt is None or attempt >= config.retries:
                seconds = config.timeout
            else:
                seconds = rtt.first if attempt == 0 else rtt.timeout(attempt)
            if self._rate.interval:
                await self._rate.acquire()
            if not inflight.take():
                await inflight.wait()
            counters.queries += 1
            # The deadline cancels this task rather than a cancel scope: anyio's move_on_after
            # costs ~17 us a query and a call_later timer ~20 us on uvloop, a Deadlines entry
            # ~1 us (bench/README.md). uncancel() tells our cancellation from one from outside.
            deadline = self._deadlines.arm(task, seconds)
            try:
                answer = await self.backend.query(q)
            except asyncio.CancelledError:
                if not Deadlines.disarm(deadline) or task.uncancel() > 0:
                    raise
                counters.timeouts += 1
                answer = Answer(Rcode.TIMEOUT, detail=f"no answer within {seconds:.3g}s")
            else:
                if Deadlines.disarm(deadline):  # the backend swallowed our cancellation
                    task.uncancel()
                if answer.rcode is Rcode.TIMEOUT:  # the backend's own transport gave up first
                    counters.timeouts += 1
                elif (
                    rtt is not None
                    and not counters.queries & 3  # a sample in four is plenty, and cheaper
                    and (answer.rcode is Rcode.NOERROR or answer.rcode is Rcode.NXDOMAIN)
                ):
                    rtt.sample(task.get_loop().time() - deadline.when + seconds)
            finally:
                inflight.release()
            rcode = answer.rcode
            if rcode not in RETRYABLE or attempt >= config.retries:
                break
            if self._retries_left <= 0:
                answer = replace(
                    answer, detail=(answer.detail + "; retry budget exhausted").lstrip("; ")
                )
                break
            self._retries_left -= 1
            attempt += 1
            counters.retries += 1
            delay = config.backoff * (2 ** (attempt - 1))
            await anyio.sleep(delay * (0.5 + random.random()))
        key = rcode._value_  # not .value: an enum property costs a descriptor call per query
        counters.by_rcode[key] = counters.by_rcode.get(key, 0) + 1
        if rcode is not Rcode.NOERROR and rcode is not Rcode.NXDOMAIN:
            counters.failures += 1
        return answer


def canonical_order(records: tuple[Rdata, ...]) -> tuple[Rdata, ...]:
    """An RRset holds one kind of value (text, MX, TXT strings), which sort by value."""
    try:
        return tuple(sorted(records))
    except TypeError:  # a mixed set (not from any backend of ours): any fixed order will do
        return tuple(sorted(records, key=repr))


#: a round of questions a check asks
Batch = tuple[Query, ...]


async def drive(step: Step[T], resolver: Resolver) -> T:
    """Run a sans-I/O check against the resolver: the whole async driver."""
    try:
        batch = next(step)
        while True:
            answers = resolver.all_cached(batch)
            if answers is None:
                answers = await resolver.resolve_many(batch)
            batch = step.send(answers)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def drive_from(step: Step[T], batch: Batch, resolver: Resolver) -> T:
    """``drive`` for a check already started, which asked ``batch`` (its first round): a caller
    that got its answer without a round (from a memo) needs no coroutine at all. The same loop
    as drive's, not a call from it: each await of a further frame costs every query."""
    try:
        while True:
            answers = resolver.all_cached(batch)
            if answers is None:
                answers = await resolver.resolve_many(batch)
            batch = step.send(answers)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
