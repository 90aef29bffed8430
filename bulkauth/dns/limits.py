"""Run-wide limits on DNS traffic: queries per second and queries in flight."""

from __future__ import annotations

import asyncio
import time
from collections import deque

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

    async def __aenter__(self) -> None:
        if self._free > 0:
            self._free -= 1
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # the slot reached us as we were cancelled
                self._release()
            raise  # a cancelled waiter stays queued; _release skips it

    async def __aexit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot passes to it: _free stays as it is
                return
        self._free += 1
