"""A round of questions asked without a coroutine per question.

A check asks its questions in rounds (``Resolver.resolve_many``): a domain audit's DKIM
discovery asks 54-69 at once, and rounds of that size carry ~80% of its queries. Asked one
coroutine each, a question paid for three coroutine frames resumed on its answer, a task, and
a future (~9 us of ~29 us CPU a query over UDP, bench/README.md, issue 17 item 2a). Here each
question is a small state machine that the transport's reader settles (``StartingBackend``):
the slot it frees goes straight to the next waiting question, and only the round as a whole
wakes its task.

It does what ``Resolver._ask`` and ``Resolver._lookup`` do, step for step: the qps limit, an
in-flight slot, the adaptive timeout of each try, retries with backoff within the run's
budget, the counters, the cache, single-flight, CNAME chasing. Keep the two in step.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from typing import TYPE_CHECKING

from bulkauth.core.common.model import Answer, Query, Rcode, RType
from bulkauth.dns.backend import Started, StartingBackend
from bulkauth.dns.limits import Deadline, Deadlines

if TYPE_CHECKING:
    from bulkauth.dns.resolver import Resolver

#: failures worth asking again; NXDOMAIN/NOERROR are answers, FORMERR/BADNAME will not change
RETRYABLE = frozenset({Rcode.TIMEOUT, Rcode.SERVFAIL, Rcode.REFUSED, Rcode.ERROR})


class Round:
    """The questions of one ``resolve_many`` call that are asked here."""

    __slots__ = ("answers", "chases", "future", "left", "live", "loop", "resolver")

    def __init__(self, resolver: Resolver, answers: list[Answer | None]) -> None:
        self.resolver = resolver
        self.answers = answers
        self.loop = asyncio.get_running_loop()
        self.future: asyncio.Future[None] = self.loop.create_future()
        self.left = 0
        self.live: list[Question] = []
        self.chases: list[asyncio.Task[None]] = []

    def ask(self, index: int, q: Query) -> None:
        """Ask ``q`` (normal, not cached, not in flight: the caller registered it in the
        resolver's flights); its answer goes to ``answers[index]``."""
        question = Question(self, index, q)
        self.left += 1
        self.live.append(question)
        question.try_()

    async def wait(self) -> None:
        if not self.left:
            return
        try:
            await self.future
        except BaseException as exc:
            # the asker was cancelled: forget every question, free its slot, and let those
            # who joined one see a clean failure (as Resolver._lookup does)
            for question in self.live:
                question.abandon(exc)
            for task in self.chases:
                task.cancel()
            raise

    def settled(self, question: Question, answer: Answer) -> None:
        self.answers[question.index] = answer
        self.left -= 1
        if not self.left and not self.future.done():
            self.future.set_result(None)

    async def _chase(self, question: Question, answer: Answer) -> None:
        q = question.q
        try:
            answer = await self.resolver._chase(q.name, q.rtype, answer)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug: the round must not wait for ever
            if not self.future.done():
                self.future.set_exception(exc)
            return
        self.settled(question, answer)


#: where a question is: waiting for its start (rate limit or backoff), for a slot, given a slot
#: (to be sent at the end of the loop turn), asked, done
_TIMER, _SLOT, _GRANTED, _ASKED, _DONE = 0, 1, 2, 3, 4


class Grants:
    """Questions given a slot by a question that was settled, sent together once the loop
    turn's other callbacks have run. Sent at once, a question freed by an answer or a timeout
    would pick its server before the rest of the reader's batch (or of the expired deadlines)
    had scored theirs, and keep asking a server that is failing (tests/dns/test_faults.py);
    an awaited query, too, sends only when its task next runs."""

    __slots__ = ("queue",)

    def __init__(self) -> None:
        self.queue: list[Question] = []

    def add(self, question: Question) -> None:
        if not self.queue:
            question.round.loop.call_soon(self.send)
        self.queue.append(question)

    def send(self) -> None:
        queue, self.queue = self.queue, []
        for question in queue:
            if question.state == _GRANTED:
                question._send()


class Question:
    """One question of a round, through its tries."""

    __slots__ = (
        "attempt",
        "call",
        "deadline",
        "index",
        "q",
        "round",
        "seconds",
        "state",
        "timer",
    )

    def __init__(self, round_: Round, index: int, q: Query) -> None:
        self.round = round_
        self.index = index
        self.q = q
        self.attempt = 0
        self.seconds = 0.0
        self.state = _TIMER
        self.call: Started | None = None
        self.deadline: Deadline | None = None
        self.timer: asyncio.Handle | None = None

    def try_(self) -> None:
        """Start a try: the qps limit first, then a slot (Resolver._ask's loop, one turn)."""
        self.timer = None
        rate = self.round.resolver._rate
        if rate.interval:
            wait = rate.reserve()
            if wait > 0:
                self.state = _TIMER
                self.timer = self.round.loop.call_later(wait, self._slot)
                return
        self._slot()

    def _slot(self) -> None:
        self.timer = None
        inflight = self.round.resolver._inflight
        if inflight.take():
            self._send()
        else:
            self.state = _SLOT
            inflight.queue(self)

    # an in-flight waiter (InFlight.release hands the slot over by calling set_result)
    def done(self) -> bool:
        return self.state != _SLOT

    def set_result(self, _: None, /) -> None:
        self.state = _GRANTED
        self.round.resolver._grants.add(self)

    def _send(self) -> None:
        round_ = self.round
        resolver = round_.resolver
        config = resolver.config
        rtt = resolver._rtt
        attempt = self.attempt
        if rtt is None or attempt >= config.retries:
            seconds = config.timeout
        else:
            seconds = rtt.first if attempt == 0 else rtt.timeout(attempt)
        self.seconds = seconds
        self.state = _ASKED
        resolver.counters.queries += 1
        backend: StartingBackend = resolver.backend  # type: ignore[assignment]
        started = backend.start(self.q, self.answered)
        if isinstance(started, Answer):
            # settled on the next loop turn, as an awaited query would be: settling here could
            # recurse through every waiting question when the backend fails them all at once
            self.call = None
            self.timer = round_.loop.call_soon(self._try_done, started)
            return
        self.call = started
        self.deadline = resolver._deadlines.arm(self, seconds, round_.loop)

    # a deadline's target (Deadlines cancels it when the try's time is up)
    def cancel(self) -> None:
        if self.state != _ASKED:
            return
        call = self.call
        if call is not None:
            self.call = None
            call.cancel()
        self.round.resolver.counters.timeouts += 1
        self._try_done(Answer(Rcode.TIMEOUT, detail=f"no answer within {self.seconds:.3g}s"))

    def answered(self, answer: Answer) -> None:
        """From the transport: the try's answer."""
        if self.state != _ASKED:
            return
        self.call = None
        deadline = self.deadline
        if deadline is not None:
            Deadlines.disarm(deadline)
        resolver = self.round.resolver
        counters = resolver.counters
        rcode = answer.rcode
        if rcode is Rcode.TIMEOUT:  # the backend's own transport gave up first
            counters.timeouts += 1
        elif (
            (rtt := resolver._rtt) is not None
            and deadline is not None
            and not counters.queries & 3  # a sample in four, as Resolver._ask
            and (rcode is Rcode.NOERROR or rcode is Rcode.NXDOMAIN)
        ):
            rtt.sample(self.round.loop.time() - deadline.when + self.seconds)
        self._try_done(answer)

    def _try_done(self, answer: Answer) -> None:
        self.timer = None
        self.deadline = None
        round_ = self.round
        resolver = round_.resolver
        self.state = _TIMER
        resolver._inflight.release()
        config = resolver.config
        rcode = answer.rcode
        if rcode in RETRYABLE and self.attempt < config.retries:
            if resolver._retries_left > 0:
                resolver._retries_left -= 1
                self.attempt += 1
                resolver.counters.retries += 1
                delay = config.backoff * (2 ** (self.attempt - 1))
                self.timer = round_.loop.call_later(delay * (0.5 + random.random()), self.try_)
                return
            answer = replace(
                answer, detail=(answer.detail + "; retry budget exhausted").lstrip("; ")
            )
        self.state = _DONE
        resolver._count(answer)
        answer = resolver._settle(self.q, answer)
        q = self.q
        if q.rtype is RType.CNAME or answer.records or not answer.cnames:
            round_.settled(self, answer)
            return
        round_.chases.append(round_.loop.create_task(round_._chase(self, answer)))

    def abandon(self, exc: BaseException) -> None:
        """The round's asker went away: forget this question, as a cancelled _lookup would."""
        state = self.state
        if state == _DONE:
            return
        self.state = _DONE
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if state == _GRANTED:
            self.round.resolver._inflight.release()
        elif state == _ASKED:
            if self.deadline is not None:
                Deadlines.disarm(self.deadline)
            if self.call is not None:
                self.call.cancel()
                self.call = None
            self.round.resolver._inflight.release()
        # a _SLOT waiter is skipped by InFlight.release now that done() is true
        self.round.resolver._abandon(self.q, exc)
