"""A round of questions asked without a coroutine per question.

A check asks its questions in rounds (``Resolver.resolve_many``): a domain audit's DKIM
discovery asks 54-69 at once, and rounds of that size carry ~80% of its queries. Asked one
coroutine each, a question paid for a task, coroutine frames resumed on its answer and a future,
and while it waited for an in-flight slot (most do, in a bulk run) a parked task. Here each
question is a small state machine that the transport's reader settles (``StartingBackend``);
the slot it frees goes to the next waiting question, sent with the others freed in that loop
turn, and only the round as a whole wakes its task (bench/README.md, issue 17 item 2a).

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

_NOERROR, _NXDOMAIN, _TIMEOUT, _CNAME = Rcode.NOERROR, Rcode.NXDOMAIN, Rcode.TIMEOUT, RType.CNAME

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

    def ask(self, asks: list[tuple[int, Query]]) -> None:
        """Ask each ``q`` (normal, not cached, not in flight: the caller registered it in the
        resolver's flights); its answer goes to ``answers[index]``."""
        resolver = self.resolver
        inflight = resolver._inflight
        paced = resolver._rate.interval
        live = self.live
        now = []
        for index, q in asks:
            question = Question(self, index, q)
            live.append(question)
            if paced:
                question.try_()
            elif inflight.take():
                now.append(question)
            else:
                question.state = _SLOT
                inflight.queue(question)
        self.left += len(asks)
        if now:
            start_tries(resolver, self.loop, now)

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
        granted = [question for question in queue if question.state == _GRANTED]
        if granted:
            start_tries(granted[0].round.resolver, granted[0].round.loop, granted)


class _Group:
    """The questions whose tries started together with one timeout: one deadline entry for
    them all (an entry per question cost ~0.5 us of each)."""

    __slots__ = ("entry", "live", "members", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.members: list[Question] = []
        self.live = 0
        self.entry: Deadline | None = None

    def cancel(self) -> None:
        """The deadline ran out: every member still waiting for this try times out."""
        members, self.members = self.members, []
        for question in members:
            if question.group is self:
                question.cancel()

    def leave(self) -> None:
        """A member's try ended before the deadline."""
        self.live -= 1
        if not self.live:
            if self.entry is not None:
                Deadlines.disarm(self.entry)
            self.members = []


def start_tries(
    resolver: Resolver, loop: asyncio.AbstractEventLoop, questions: list[Question]
) -> None:
    """Send a try of each question (each holds an in-flight slot): Resolver._ask's loop body
    up to the backend, and one deadline per timeout length for them all."""
    config = resolver.config
    rtt = resolver._rtt
    counters = resolver.counters
    backend: StartingBackend = resolver.backend  # type: ignore[assignment]
    start = backend.start
    first = config.timeout if rtt is None or config.retries <= 0 else rtt.first
    groups: dict[float, _Group] = {}
    for question in questions:
        attempt = question.attempt
        # a lost datagram costs the measured round-trip timeout, not the full one; the last
        # try waits the full timeout, so a slow server is still heard (as Resolver._ask)
        if not attempt:
            seconds = first
        elif rtt is None or attempt >= config.retries:
            seconds = config.timeout
        else:
            seconds = rtt.timeout(attempt)
        question.state = _ASKED
        counters.queries += 1
        started = start(question.q, question.answered)
        if isinstance(started, Answer):
            # settled on the next loop turn, as an awaited query would be: settling here could
            # recurse through every waiting question when the backend fails them all at once
            question.call = None
            question.timer = loop.call_soon(question._try_done, started)
            continue
        question.call = started
        group = groups.get(seconds)
        if group is None:
            group = groups[seconds] = _Group(seconds)
        group.members.append(question)
        question.group = group
    deadlines = resolver._deadlines
    for seconds, group in groups.items():
        group.live = len(group.members)
        group.entry = deadlines.arm(group, seconds, loop)


class Question:
    """One question of a round, through its tries."""

    __slots__ = (
        "attempt",
        "call",
        "group",
        "index",
        "q",
        "round",
        "state",
        "timer",
    )

    def __init__(self, round_: Round, index: int, q: Query) -> None:
        self.round = round_
        self.index = index
        self.q = q
        self.attempt = 0
        self.state = _TIMER
        self.call: Started | None = None
        self.group: _Group | None = None
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
            start_tries(self.round.resolver, self.round.loop, [self])
        else:
            self.state = _SLOT
            inflight.queue(self)

    # an in-flight waiter (InFlight.release hands the slot over by calling set_result)
    def done(self) -> bool:
        return self.state != _SLOT

    def set_result(self, _: None, /) -> None:
        self.state = _GRANTED
        self.round.resolver._grants.add(self)

    def cancel(self) -> None:
        """The try's time is up (its group's deadline ran out)."""
        if self.state != _ASKED:
            return
        group = self.group
        seconds = group.seconds if group is not None else 0.0
        self.group = None
        call = self.call
        if call is not None:
            self.call = None
            call.cancel()
        self.round.resolver.counters.timeouts += 1
        self._try_done(Answer(_TIMEOUT, detail=f"no answer within {seconds:.3g}s"))

    def answered(self, answer: Answer) -> None:
        """From the transport: the try's answer."""
        if self.state != _ASKED:
            return
        self.call = None
        group = self.group
        self.group = None
        resolver = self.round.resolver
        counters = resolver.counters
        rcode = answer.rcode
        if rcode is _TIMEOUT:  # the backend's own transport gave up first
            counters.timeouts += 1
        elif (
            (rtt := resolver._rtt) is not None
            and group is not None
            and group.entry is not None
            and not counters.queries & 3  # a sample in four, as Resolver._ask
            and (rcode is _NOERROR or rcode is _NXDOMAIN)
        ):
            rtt.sample(self.round.loop.time() - group.entry.when + group.seconds)
        if group is not None:
            group.leave()
        self._try_done(answer)

    def _try_done(self, answer: Answer) -> None:
        self.timer = None
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
        # Resolver._ask's counting and Resolver._settle, inline: this runs per question
        counters = resolver.counters
        key = rcode._value_
        counters.by_rcode[key] = counters.by_rcode.get(key, 0) + 1
        if rcode is not _NOERROR and rcode is not _NXDOMAIN:
            counters.failures += 1
        q = self.q
        answer = resolver._settle(q, answer)
        if q.rtype is _CNAME or answer.records or not answer.cnames:
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
            group = self.group
            if group is not None:
                self.group = None
                group.leave()
            if self.call is not None:
                self.call.cancel()
                self.call = None
            self.round.resolver._inflight.release()
        # a _SLOT waiter is skipped by InFlight.release now that done() is true
        self.round.resolver._abandon(self.q, exc)
