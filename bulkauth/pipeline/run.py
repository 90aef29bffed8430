"""The bounded, ordered worker pool that every command runs on.

Records come out in input order: a reorder window of ``window`` items bounds memory (a slow
item holds back at most that many finished ones), and input order is what makes ``--resume``
exact — the N complete lines of an earlier output are the first N items. SIGINT/SIGTERM stop
intake, write every finished record that can be written in order, and report the signal.
"""

from __future__ import annotations

import gc
import signal
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import anyio
import anyio.abc

I = TypeVar("I")  # noqa: E741 - the conventional name for an input item

Record = dict[str, Any]

_BATCH = 512


def tune_gc() -> None:
    """Collect cyclic garbage less often: a run allocates a few objects per DNS question and
    keeps a large cache alive, so the default (a collection every 700 allocations) spent ~12%
    of the resolver's time in the collector (bench/README.md). Almost nothing we keep is
    cyclic; what is imported so far never will be garbage, so it is frozen out of the scans."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


@dataclass(slots=True)
class _Slot(Generic[I]):
    item: I
    done: anyio.Event
    record: Record | None = None


@dataclass(slots=True)
class Outcome:
    items: int = 0
    written: int = 0
    #: the signal that stopped the run early, if any
    stopped_by: int | None = None


async def run_ordered(
    items: Iterator[I],
    work: Callable[[I], Awaitable[Record]],
    failed: Callable[[I, BaseException], Record],
    emit: Callable[[Record], None],
    window: int,
    grace: float = 5.0,
    batch: int = _BATCH,
    read_batch: Callable[[], list[I]] | None = None,
) -> Outcome:
    """Run ``work`` on every item with at most ``window`` in progress; ``emit`` in input order.

    ``work`` must turn every expected failure into a record; if it raises anyway (a bug),
    ``failed`` makes the item's record so that no input is ever lost. After a first signal the
    items in flight have ``grace`` seconds to finish; a second signal stops at once. Items are
    read ``batch`` at a time off the event loop; large items (messages) want a small batch.
    ``read_batch``, when given, replaces that reading: it returns the next items as they come
    (an empty list at the end), e.g. one batch from a parent process.
    """
    outcome = Outcome()
    slots_send, slots_recv = anyio.create_memory_object_stream[_Slot[I]](window)
    capacity = anyio.Semaphore(window)

    async def worker(slot: _Slot[I]) -> None:
        try:
            slot.record = await work(slot.item)
        except Exception as exc:  # a bug must cost one record's detail, not the run
            slot.record = failed(slot.item, exc)
        finally:
            slot.done.set()

    async def writer() -> None:
        async with slots_recv:
            async for slot in slots_recv:
                await slot.done.wait()
                if slot.record is not None:
                    emit(slot.record)
                    outcome.written += 1
                capacity.release()

    batch_size = max(1, batch)

    def next_batch() -> list[I]:
        batch = []
        for item in items:
            batch.append(item)
            if len(batch) >= batch_size:
                break
        return batch

    async def intake(tg: anyio.abc.TaskGroup) -> None:
        async with slots_send:
            while True:
                # reading may block (stdin, slow disks): keep it off the event loop
                batch = await anyio.to_thread.run_sync(
                    read_batch or next_batch, abandon_on_cancel=True
                )
                if not batch:
                    return
                for item in batch:
                    await capacity.acquire()
                    slot = _Slot(item, anyio.Event())
                    outcome.items += 1
                    tg.start_soon(worker, slot)
                    await slots_send.send(slot)

    async with anyio.create_task_group() as tg:
        intake_scope = anyio.CancelScope()

        async def writer_then_finish() -> None:
            await writer()
            tg.cancel_scope.cancel()  # everything is written: stop the signal watcher too

        async def watch_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    if outcome.stopped_by is None:
                        # first signal: no new items; in-flight ones get a grace period
                        outcome.stopped_by = signum
                        intake_scope.cancel()
                        tg.cancel_scope.deadline = anyio.current_time() + grace
                    else:
                        tg.cancel_scope.cancel()

        tg.start_soon(watch_signals)
        tg.start_soon(writer_then_finish)
        with intake_scope:
            await intake(tg)
    return outcome


def internal_error(exc: BaseException) -> dict[str, str]:
    """The error part of a record for an unexpected exception (a bug): say so and where."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else "?"
    return {
        "code": "internal_error",
        "message": f"{type(exc).__name__}: {exc} (at {where}); please report this as a bug",
    }
