"""Run-wide limits on DNS traffic: queries per second, queries in flight, per-query deadlines
and the round-trip estimate that sets them."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from typing import Any, Protocol

import anyio


class SlotWaiter(Protocol):
    """What waits for an in-flight slot: a future, or a round's question (dns/rounds.py),
    which sends from the callback that frees the slot instead of waking a coroutine."""

    def done(self) -> bool: ...

    def set_result(self, result: None, /) -> None: ...


class Cancellable(Protocol):
    """What a deadline cancels: a task, or a round's question."""

    def cancel(self) -> Any: ...


class RateLimiter:
    """Spaces query starts so that no more than ``qps`` begin in any second (0 = unlimited).

    A virtual-time scheduler rather than a token bucket with a burst: each caller reserves the
    next free slot and sleeps until it, so the rate holds under retries and bursts alike.
    """

    def __init__(self, qps: float) -> None:
        self.interval = 1.0 / qps if qps > 0 else 0.0
        self._next = 0.0

    async def acquire(self) -> None:
        if not self.interval:
            return
        wait = self.reserve()
        if wait > 0:
            await anyio.sleep(wait)

    def reserve(self) -> float:
        """Take the next start slot: the seconds to wait for it (0: now). For a caller that
        waits with a timer rather than a coroutine (a round's question)."""
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        return slot - now


class InFlight:
    """At most ``limit`` queries outstanding to the backend at once, served first come first.

    Not asyncio.Semaphore: its acquire() scans every waiter (Python 3.11), and a bulk run keeps
    thousands waiting, so each query paid for the whole queue (10% of the resolver's time in
    bench/clients.py). Not anyio's either: its acquire() yields to the loop even when a slot is
    free. Here a freed slot is handed straight to the oldest waiter: O(1) both ways.
    """

    def __init__(self, limit: int) -> None:
        self._free = max(1, limit)
        self._waiters: deque[SlotWaiter] = deque()

    def take(self) -> bool:
        """Take a slot if one is free, without waiting (the common case: no await at all)."""
        if self._free > 0:
            self._free -= 1
            return True
        return False

    def queue(self, waiter: SlotWaiter) -> None:
        """Hand the next free slot to ``waiter`` (``set_result(None)``), after ``take()`` found
        none; a waiter that is ``done()`` by then is skipped."""
        self._waiters.append(waiter)

    async def wait(self) -> None:
        """Wait for a slot, after ``take()`` found none."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # the slot reached us as we were cancelled
                self.release()
            raise  # a cancelled waiter stays queued; release() skips it

    def release(self) -> None:
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot passes to it: _free stays as it is
                return
        self._free += 1


class Deadline:
    __slots__ = ("state", "task", "when")

    def __init__(self, when: float, task: Cancellable | None) -> None:
        self.when = when
        self.task = task
        self.state = ARMED


ARMED, DONE, FIRED = 0, 1, 2
#: a timer this late (seconds) means the loop stalled: deadlines wait for it to read I/O
STALL = 0.05
#: round-trip timeouts are rounded up to this (seconds), so that there are few lengths
STEP = 0.05


class Deadlines:
    """Cancels a task that overruns its timeout; what ``asyncio.timeout`` does, cheaper.

    Deadlines of the same length expire in the order they were set: a FIFO and one loop timer
    per length serve them all. A timer per query (``call_later``) cost ~20 us of the
    resolver's ~45 us per query on uvloop (bench/README.md); this costs an append. Lengths
    are few: the full timeout, and round-trip timeouts rounded up to STEP (RttEstimator).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._fifos: dict[float, _Fifo] = {}

    def arm(
        self,
        task: Cancellable,
        seconds: float,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Deadline:
        """Cancel ``task`` in ``seconds`` unless disarmed first; ``loop`` is the task's loop
        (given for a target that is not a task)."""
        fifo = self._fifos.get(seconds)
        if fifo is None:
            fifo = self._fifos[seconds] = _Fifo(seconds)
        if loop is None:
            assert isinstance(task, asyncio.Task)
            loop = task.get_loop()
        return fifo.arm(task, loop)

    @staticmethod
    def disarm(entry: Deadline) -> bool:
        """Stop the clock; True when it had already run out (the task was cancelled by us)."""
        if entry.state == FIRED:
            return True
        entry.state = DONE
        entry.task = None  # no reference to a finished task while the entry waits its turn
        return False


class _Fifo:
    """The deadlines of one length, in the order they expire."""

    __slots__ = ("_due", "_queue", "_timer", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._queue: deque[Deadline] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0

    def arm(self, task: Cancellable, loop: asyncio.AbstractEventLoop) -> Deadline:
        entry = Deadline(loop.time() + self.seconds, task)
        self._queue.append(entry)
        if self._timer is None:
            self._due = entry.when
            self._timer = loop.call_at(entry.when, self._expire, loop)
        return entry

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        late = now - self._due
        if late > STALL:
            # the loop was busy (or not scheduled) past the deadline: replies may be waiting
            # unread in the socket, and timers run before I/O. Give the queries as long again
            # to be read before any is called lost (spurious timeouts: bench/README.md)
            self._due = now + late
            self._timer = loop.call_at(self._due, self._expire, loop)
            return
        self._timer = None
        queue = self._queue
        while queue:
            entry = queue[0]
            if entry.state == ARMED:
                if entry.when > now:
                    self._due = entry.when
                    self._timer = loop.call_at(entry.when, self._expire, loop)
                    return
                entry.state = FIRED
                if entry.task is not None:
                    entry.task.cancel()
            queue.popleft()


class RttEstimator:
    """How long an answer takes, smoothed as TCP does (RFC 6298 2): the timeout of a query's
    first tries, so that a lost datagram costs a few round trips instead of the full timeout.

    On a path with 20 ms round trips and 1% of answers lost, a 3 s timeout left a bulk run
    waiting on its last few lost answers for most of its time (bench/README.md, latency). The
    last try of a query still waits the full timeout, so a slow server is answered as before.
    """

    __slots__ = ("ceiling", "first", "floor", "rttvar", "srtt")

    def __init__(self, floor: float, ceiling: float) -> None:
        self.floor = floor
        self.ceiling = ceiling
        self.srtt = 0.0  # 0: no sample yet
        self.rttvar = 0.0
        #: the first try's timeout, kept current by sample(): read once per query
        self.first = ceiling

    def sample(self, rtt: float) -> None:
        srtt = self.srtt
        if srtt == 0.0:
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            self.rttvar += (abs(srtt - rtt) - self.rttvar) / 4
            self.srtt = srtt + (rtt - srtt) / 8
        self.first = self.timeout(0)

    def timeout(self, attempt: int) -> float:
        """The timeout of try ``attempt`` (0-based) before the last: the RTO, doubled each
        try (RFC 6298 5.5), between the floor and the full timeout."""
        if self.srtt == 0.0:
            return self.ceiling
        rto = (self.srtt + 4 * self.rttvar) * (1 << attempt)
        if rto <= self.floor:
            return self.floor
        # rounded up to STEP: deadlines of one length share a FIFO (Deadlines)
        rto = math.ceil(rto / STEP) * STEP
        return self.ceiling if rto > self.ceiling else rto
