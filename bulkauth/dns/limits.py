"""Run-wide limits on DNS traffic: queries per second and queries in flight."""

from __future__ import annotations

import asyncio
import time

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
    """At most ``limit`` queries outstanding to the backend at once.

    An asyncio semaphore, not anyio's: anyio's acquire() yields to the event loop even when a
    slot is free (a cancellation checkpoint), one extra loop turn per query; that alone cost
    ~20% of the resolver's throughput (bench/README.md).
    """

    def __init__(self, limit: int) -> None:
        self._sem = asyncio.Semaphore(max(1, limit))

    async def __aenter__(self) -> None:
        await self._sem.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._sem.release()
