"""A byte budget on the items held between reading and writing (messages).

The ordered window bounds how many items are in flight; items of a job with a size (messages)
are also bounded by their bytes, so that an archive of 50 MB messages cannot fill memory the way
8 KB ones cannot. Worker processes are bounded by the parent's share of the budget (jobs.py);
a run in one process by this.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from bulkauth.pipeline.records import Record


class ByteBudget:
    """Bounds the bytes of the items held between reading and writing.

    The reader (a thread) waits while the budget is spent, but only when some of the spending is
    by items already being checked: those will finish and give it back. Bytes held only by
    items that have not started yet (the batch being read, or waiting for a window slot) must
    not make it wait, or it would wait for itself; the overshoot is bounded by one read batch.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.held = 0
        self.started = 0
        self.peak = 0
        self._cond = threading.Condition()

    def take(self, n: int) -> None:
        with self._cond:
            while self.held + n > self.limit and self.started > 0:
                self._cond.wait(0.5)
            self.held += n
            self.peak = max(self.peak, self.held)

    def start(self, n: int) -> None:
        with self._cond:
            self.started += n

    def give_back(self, n: int) -> None:
        with self._cond:
            self.held -= n
            self.started -= n
            self._cond.notify_all()


def budgeted(
    items: Iterator[Any],
    work: Callable[[Any], Awaitable[Record]],
    size: Callable[[Any], int],
    budget: ByteBudget,
) -> tuple[Iterator[Any], Callable[[Any], Awaitable[Record]]]:
    """``items`` read within ``budget``, and ``work`` that gives an item's bytes back when done.
    An item's size is taken before its work, which may drop the item's data."""

    def read() -> Iterator[Any]:
        for item in items:
            budget.take(size(item))
            yield item

    async def held_work(item: Any) -> Record:
        n = size(item)
        budget.start(n)
        try:
            return await work(item)
        finally:
            budget.give_back(n)

    return read(), held_work
