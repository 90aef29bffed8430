"""The bounded, ordered worker pool that every command runs on.

Records come out in input order: a reorder window of ``window`` items bounds memory (a slow
item holds back at most that many finished ones), and input order is what makes ``--resume``
exact — the N complete lines of an earlier output are the first N items. SIGINT/SIGTERM stop
intake, write every finished record that can be written in order, and report the signal.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from bulkauth.pipeline.records import Record
from bulkauth.pipeline.signals import Stop

I = TypeVar("I")  # noqa: E741 - the conventional name for an input item

_BATCH = 512
#: finished records held behind an unfinished one, in windows
BACKLOG = 4


@dataclass(slots=True)
class Outcome:
    items: int = 0
    written: int = 0
    #: the signal that stopped the run early, if any
    stopped_by: int | None = None
    #: items an earlier run had already written (--resume), not counted in ``items``
    skipped: int = 0


def done_record(record: Record) -> asyncio.Future[Record]:
    """An awaitable of a record already made, for a ``work`` that finished without waiting."""
    return _done(asyncio.get_running_loop(), record)


def _done(loop: asyncio.AbstractEventLoop, record: Record) -> asyncio.Future[Record]:
    fut: asyncio.Future[Record] = loop.create_future()
    fut.set_result(record)
    return fut


async def run_ordered(
    items: Iterator[I],
    work: Callable[[I], Awaitable[Record]],
    failed: Callable[[I, BaseException], Record],
    emit: Callable[[Record], None],
    window: int,
    grace: float = 5.0,
    batch: int = _BATCH,
    read_batch: Callable[[], list[I]] | None = None,
    stop: Stop | None = None,
) -> Outcome:
    """Run ``work`` on every item with at most ``window`` in progress; ``emit`` in input order.

    Finished records wait for a slow item ahead of them, up to ``BACKLOG`` windows of them:
    one item stuck on a cold DNS chain must not stop the others from starting (head-of-line
    blocking halved a cold bulk SPF run's rate), nor may it hold unbounded memory.

    ``work`` must turn every expected failure into a record; if it raises anyway (a bug),
    ``failed`` makes the item's record so that no input is ever lost. After a first signal
    (SIGINT/SIGTERM) no new item starts and the items in flight have ``grace`` seconds to
    finish; a second signal stops at once. What finished in order is written either way. Items
    are read ``batch`` at a time off the event loop; large items (messages) want a small batch.
    ``read_batch``, when given, replaces that reading: it returns the next items as they come
    (an empty list at the end), e.g. one batch from a parent process. ``stop``: signal
    handling installed earlier by the caller (else the pool installs its own).

    Plain asyncio tasks in a deque, the head awaited: a task group, an event and a memory
    stream per item (anyio) cost more than a cheap item's own work (bench/README.md). ``work``
    may return a future that is already done (``done_record``): its record is queued without
    a task, which costs more than a memoised SPF check itself (bench/README.md).
    """
    outcome = Outcome()
    loop = asyncio.get_running_loop()
    pending: deque[asyncio.Future[Record]] = deque()
    running = 0
    freed: asyncio.Future[None] | None = None  # set when a running item finishes
    batch_size = max(1, batch)
    own = stop is None
    if stop is None:
        stop = Stop()
        stop.install()
    stopping = stop.requested
    assert stopping is not None, "Stop.install() first"

    async def run_one(item: I, started: Awaitable[Record]) -> Record:
        try:
            return await started
        except Exception as exc:  # a bug must cost one record's detail, not the run
            return failed(item, exc)

    def cancel_all() -> None:
        for task in pending:
            task.cancel()

    def grace_then_cancel() -> None:
        loop.call_later(grace, cancel_all)

    stop.on_first = grace_then_cancel
    stop.on_second = cancel_all
    backlog = window * BACKLOG

    def write_finished() -> None:
        while pending and pending[0].done():
            task = pending.popleft()
            if task.cancelled():  # stopped after the grace period: what follows is not written
                cancel_all()
                pending.clear()
                return
            emit(task.result())
            outcome.written += 1

    async def head_done() -> None:
        # asyncio.wait, not await: waiting must never cancel the item itself
        await asyncio.wait((pending[0],))
        write_finished()

    def finished(_task: asyncio.Future[Record]) -> None:
        nonlocal running
        running -= 1
        if freed is not None and not freed.done():
            freed.set_result(None)

    async def slot_free() -> None:
        nonlocal freed
        freed = loop.create_future()
        await asyncio.wait((freed, stopping), return_when=asyncio.FIRST_COMPLETED)
        freed = None
        write_finished()

    def next_batch() -> list[I]:
        chunk = []
        for item in items:
            chunk.append(item)
            if len(chunk) >= batch_size:
                break
        return chunk

    def start_reading() -> asyncio.Future[list[I]]:
        # reading may block (stdin, slow disks, a parent process): off the event loop
        return asyncio.ensure_future(
            anyio.to_thread.run_sync(read_batch or next_batch, abandon_on_cancel=True)
        )

    reading: asyncio.Future[list[I]] | None = None
    try:
        reading = start_reading()
        while not stopping.done():
            while True:
                # write what finishes while the next items are read: a parent process sends
                # more only when it has the records of what it sent (jobs.py)
                waits: list[asyncio.Future[Any]] = [reading, stopping]
                if pending:
                    waits.append(pending[0])
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                write_finished()
                if reading.done() or stopping.done():
                    break
            if not reading.done():
                reading.cancel()
                break
            chunk = reading.result()
            if not chunk:
                break
            # the next batch is read while this one runs: when items finish without waiting
            # (memoised checks), a thread hop per batch would otherwise be all the loop does
            # between batches, and on a busy machine a hop can take milliseconds
            reading = start_reading()
            for item in chunk:
                while len(pending) >= backlog:
                    await head_done()
                while running >= window and not stopping.done():
                    await slot_free()
                if stopping.done():
                    break
                outcome.items += 1
                try:
                    started = work(item)
                except Exception as exc:
                    started = _done(loop, failed(item, exc))
                if isinstance(started, asyncio.Future) and started.done():
                    # finished already (work answered from memory): no task, no slot
                    pending.append(started)
                    continue
                task = loop.create_task(run_one(item, started))
                task.add_done_callback(finished)
                running += 1
                pending.append(task)
            write_finished()
        while pending:
            await head_done()
    except BaseException:
        cancel_all()
        raise
    finally:
        if reading is not None and not reading.done():
            reading.cancel()
        stop.on_first = stop.on_second = None
        if own:
            stop.uninstall()
    outcome.stopped_by = stop.signum
    return outcome
