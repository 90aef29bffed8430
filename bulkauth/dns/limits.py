"""Run-wide limits on DNS traffic: queries per second, queries in flight, per-query deadlines."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

import anyio


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
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await anyio.sleep(slot - now)


class InFlight:
    """At most ``limit`` queries outstanding to the backend at once, served first come first.

    Not asyncio.Semaphore: its acquire() scans every waiter (Python 3.11), and a bulk run keeps
    thousands waiting, so each query paid for the whole queue (10% of the resolver's time in
    bench/clients.py). Not anyio's either: its acquire() yields to the loop even when a slot is
    free. Here a freed slot is handed straight to the oldest waiter: O(1) both ways.
    """

    def __init__(self, limit: int) -> None:
        self._free = max(1, limit)
        self._waiters: deque[asyncio.Future[None]] = deque()

    def take(self) -> bool:
        """Take a slot if one is free, without waiting (the common case: no await at all)."""
        if self._free > 0:
            self._free -= 1
            return True
        return False

    async def wait(self) -> None:
        """Wait for a slot, after ``take()`` found none."""
        fut = asyncio.get_running_loop().create_future()
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

    def __init__(self, when: float, task: asyncio.Task[Any] | None) -> None:
        self.when = when
        self.task = task
        self.state = ARMED


ARMED, DONE, FIRED = 0, 1, 2


class Deadlines:
    """Cancels a task that overruns a fixed timeout; what ``asyncio.timeout`` does, cheaper.

    Every query has the same timeout, so deadlines expire in the order they were set: a FIFO
    and one loop timer serve them all. A timer per query (``call_later``) cost ~20 us of the
    resolver's ~45 us per query on uvloop (bench/README.md); this costs an append.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._queue: deque[Deadline] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def arm(self, task: asyncio.Task[Any]) -> Deadline:
        loop = task.get_loop()
        entry = Deadline(loop.time() + self.seconds, task)
        self._queue.append(entry)
        if self._timer is None:
            self._timer = loop.call_at(entry.when, self._expire, loop)
        return entry

    @staticmethod
    def disarm(entry: Deadline) -> bool:
        """Stop the clock; True when it had already run out (the task was cancelled by us)."""
        if entry.state == FIRED:
            return True
        entry.state = DONE
        entry.task = None  # no reference to a finished task while the entry waits its turn
        return False

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        queue = self._queue
        while queue:
            entry = queue[0]
            if entry.state == ARMED:
                if entry.when > now:
                    self._timer = loop.call_at(entry.when, self._expire, loop)
                    return
                entry.state = FIRED
                if entry.task is not None:
                    entry.task.cancel()
            queue.popleft()
