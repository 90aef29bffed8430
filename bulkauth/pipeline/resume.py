"""--resume: skip the input items that an earlier, interrupted run already wrote.

Records are written in input order, so the N complete records of the earlier output are the
first N items. The last of them is compared with the N-th item so that an output written from
another input is refused rather than silently continued.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from itertools import islice
from typing import Generic, TypeVar

from bulkauth.pipeline.config import RunConfig
from bulkauth.pipeline.records import Record
from bulkauth.pipeline.sinks import ResumeMismatch, complete_records, last_record

I = TypeVar("I")  # noqa: E741 - the conventional name for an input item


class Resumable(Generic[I]):
    """How an item and the record written for it are matched, and what the items are called
    (a plain class: a dataclass costs a run ~0.5 ms of start-up)."""

    __slots__ = ("item_key", "record_key", "what")

    def __init__(
        self,
        item_key: Callable[[I], Hashable],
        record_key: Callable[[Record], Hashable],
        what: str,
    ) -> None:
        self.item_key = item_key
        self.record_key = record_key
        self.what = what


def skip_done(items: Iterator[I], config: RunConfig, keys: Resumable[I]) -> tuple[Iterator[I], int]:
    """Returns the items still to do and how many were skipped."""
    if not (config.resume and config.output):
        return items, 0
    done = complete_records(config.output)
    if done == 0:
        return items, 0
    skipped = sum(1 for _ in islice(items, done - 1))
    last_item = next(items, None)
    last = last_record(config.output)
    if last_item is None or last is None or keys.record_key(last) != keys.item_key(last_item):
        raise ResumeMismatch(
            f"{config.output} holds {done} records but they do not match the first {done} "
            f"{keys.what}; was it written from another input? Remove it or choose another --output."
        )
    return items, skipped + 1
