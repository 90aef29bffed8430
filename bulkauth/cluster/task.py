"""What a Dask worker runs for one shard: the local command's own pipeline over the shard's
pieces, writing the shard's part of the output itself.

The part is written to a temporary file and renamed into place when the shard is whole, so
a shard that Dask runs again (its worker was lost, the task raised) never leaves half a part.
A copy that finishes after another copy's part is in place, or after the driver assembled
the output, throws its file away: a late copy can neither replace a part nor leave one
behind once the run is over. Only counts go back to the driver.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from bulkauth.cluster.manifest import assembled, part_path
from bulkauth.cluster.shards import Shard
from bulkauth.core.common.model import Counters
from bulkauth.pipeline.archives import read_file, read_mbox_range
from bulkauth.pipeline.command import Source, run_command
from bulkauth.pipeline.config import RunConfig, load_zones
from bulkauth.pipeline.jobs import Job, JobResult
from bulkauth.pipeline.messages import MessageOptions
from bulkauth.pipeline.progress import RunProgress
from bulkauth.pipeline.records import Records
from bulkauth.pipeline.sources import Item, read_domain_ranges


@dataclass(slots=True)
class ShardTask:
    """Everything a worker needs for one shard (pickled to it by Dask)."""

    command: str  # domains | spf | messages
    shard: Shard
    #: the worker's share of the run's options (bulkauth.pipeline.jobs.share)
    config: RunConfig
    #: the folder of the parts (absolute; shared with the driver)
    parts: str
    messages: MessageOptions | None = None


@dataclass(slots=True)
class ShardDone:
    """What a finished shard tells the driver: counts, never records."""

    number: int
    records: int
    by_status: dict[str, int]
    by_state: dict[str, dict[str, int]]
    counters: Counters
    backend: str
    zones: str | None
    seconds: float
    worker: str
    notes: list[str] = field(default_factory=list)


def run_shard(task: ShardTask) -> ShardDone:
    started = time.monotonic()
    final = part_path(task.parts, task.shard.number)
    tmp = final.with_name(f"{final.name}.{uuid.uuid4().hex}.tmp")
    config = replace(task.config, output=str(tmp), progress=False, resume=False, workers=1)
    if config.zones:
        # loaded here rather than by run_command, to name the zones in the driver's summary
        config.zone_set = load_zones(config)
    job, records = _job(task)
    got: list[tuple[JobResult, RunProgress]] = []
    try:
        outcome = run_command(
            Source(lambda: _items(task), lambda: None),
            job,
            records,
            config,
            report=lambda result, progress: got.append((result, progress)),
        )
        if outcome.stopped_by is not None:
            raise RuntimeError(f"shard {task.shard.number} stopped by signal {outcome.stopped_by}")
        if not (final.exists() or assembled(task.parts)):
            os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    result, progress = got[0]
    return ShardDone(
        task.shard.number,
        outcome.written,
        dict(progress.by_status),
        {s: dict(c) for s, c in progress.by_state.items()},
        result.counters,
        result.backend,
        config.zone_set.describe() if config.zone_set is not None else None,
        time.monotonic() - started,
        f"{socket.gethostname()}:{os.getpid()}",
    )


def _job(task: ShardTask) -> tuple[Job, Records[Any]]:
    """The command's job and records, as its local run builds them."""
    if task.command == "domains":
        from bulkauth.pipeline import domains

        return Job(domains.make_work), domains.RECORDS
    if task.command == "spf":
        from bulkauth.pipeline import spfcheck

        return Job(spfcheck.make_work), spfcheck.RECORDS
    from bulkauth.pipeline.messages import RECORDS, message_job

    assert task.messages is not None
    return message_job(task.messages), RECORDS


def _items(task: ShardTask) -> Iterator[Any]:
    if task.command != "messages":
        yield from _lines(task.shard)
        return
    assert task.messages is not None
    limits = task.messages.limits
    for p in task.shard.pieces:
        if p.kind == "range":
            items = read_mbox_range(p.path, p.source, p.start, p.end, limits, p.before)
        else:
            items = read_file(p.path, p.source, limits, "maildir" if p.kind else None, p.before)
        for it in items:
            it.path = p.shown  # as the local run names it (the worker opened it absolute)
            yield it


def _lines(shard: Shard) -> Iterator[Item]:
    pieces = shard.pieces
    i = 0
    while i < len(pieces):
        # the runs of one file, read over one open file
        j = i
        while j < len(pieces) and pieces[j].path == pieces[i].path:
            j += 1
        ranges = [(p.start, p.end, p.before) for p in pieces[i:j]]
        yield from read_domain_ranges(pieces[i].path, pieces[i].source, ranges)
        i = j
