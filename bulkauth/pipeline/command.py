"""The run every command makes: its items in, one record each out, in input order.

A command gives its source (how to read and count its items, how to resume), its job (how an
item becomes a record: bulkauth.pipeline.jobs) and its records (bulkauth.pipeline.records);
the rest is the same for all: early signals, --resume, the progress bar, the output, the
worker processes, the summary, and what makes the whole run fail (bulkauth.pipeline.errors).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import islice
from typing import Generic, TypeVar

import orjson

from bulkauth.core.common.model import Rcode
from bulkauth.pipeline.config import RunConfig, load_zones
from bulkauth.pipeline.errors import BadInput
from bulkauth.pipeline.inputs import finish_recording, input_notes
from bulkauth.pipeline.jobs import Job, JobResult, Output, choose_workers, run_job
from bulkauth.pipeline.pool import Outcome
from bulkauth.pipeline.progress import RunProgress
from bulkauth.pipeline.records import Records
from bulkauth.pipeline.resume import Resumable, skip_done
from bulkauth.pipeline.signals import catch_signals_early
from bulkauth.pipeline.sinks import NdjsonSink, RecordSink

I = TypeVar("I")  # noqa: E741 - the conventional name for an input item

#: what a run that does not print its summary is given instead (run_command's ``report``)
Report = Callable[[JobResult, RunProgress], None]


class Source(Generic[I]):
    """Where a command's items come from: ``read`` them; ``count`` them (progress, worker
    count; None when unknown: stdin); how to ``resume`` (None: the command's output is not
    resumed, nor does a stop suggest it); a run known to have fewer than ``small`` items runs
    in this process, where workers would cost more. A plain class: a dataclass costs a run
    ~0.5 ms of start-up."""

    __slots__ = ("count", "read", "resume", "small")

    def __init__(
        self,
        read: Callable[[], Iterator[I]],
        count: Callable[[], int | None],
        resume: Resumable[I] | None = None,
        small: int = 2_000,
    ) -> None:
        self.read = read
        self.count = count
        self.resume = resume
        self.small = small


def run_command(
    source: Source[I],
    job: Job,
    records: Records[I],
    config: RunConfig,
    extra: RecordSink | None = None,
    report: Report | None = None,
) -> Outcome:
    """Run a command over its items; an input that cannot be read is the user's to fix.

    ``extra``: a second sink fed every record as well as the NDJSON (the store, --store);
    it is closed here whatever happens, and ended only when the run got to its end.
    ``report``: given the run's counts instead of the summary on stderr (a shard of a
    cluster run hands them to the driver, which sums them into the run's one summary).
    """
    try:
        return _run(source, job, records, config, extra, report)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise BadInput(str(exc)) from None
    finally:
        if extra is not None:
            extra.close()


def _run(
    source: Source[I],
    job: Job,
    records: Records[I],
    config: RunConfig,
    extra: RecordSink | None,
    report: Report | None = None,
) -> Outcome:
    catch_signals_early()
    if config.zones and config.zone_set is None:
        # once, before any item: a zone file that does not parse is exit 2 before work starts,
        # worker processes share the loaded set, and the summary can name the zones it holds
        config = replace(config, zone_set=load_zones(config))
    items = source.read()
    skipped = 0
    if source.resume is not None:
        items, skipped = skip_done(items, config, source.resume)
    total = source.count()
    remaining = None if total is None else total - skipped
    progress = RunProgress(remaining, config.progress, records.sections, field=records.field)
    sink = NdjsonSink(config.output, append=skipped > 0)
    workers = choose_workers(config.workers, remaining, small=source.small)
    # With an output file the extra sink (the store) gets this run's records from it once the
    # workers have exited, not as they come: DuckDB writing beside the workers made a
    # 1,000,000-domain run's peak 284 MiB PSS, one after the other ~180 (bench/README.md, issue
    # 17 item 4), for ~10% more wall time. Only an output that cannot be read back (stdout,
    # /dev/null, a pipe) feeds it live.
    readable = config.output if config.output and os.path.isfile(config.output) else None
    live = None if readable else extra
    try:
        if extra is not None:
            # after skip_done (which cut a torn last line off): the kept records are whole
            extra.start(skipped, config.output)
        result = run_job(items, job, records, config, Output(sink, progress, live), workers)
    finally:
        sink.close()
        progress.close()
    outcome = result.outcome
    # a run stopped by a signal keeps what it recorded too: a resumed run carries it on
    recorded = finish_recording(config)
    notes: list[str] = []
    if extra is not None:
        # a run stopped by a signal stops now rather than after filling the store: --resume
        # fills in what the store lacks from the file
        if readable and outcome.stopped_by is None:
            notes.append(_fill(extra, readable, skipped, sink.written, progress))
        extra.end(outcome.stopped_by)
    outcome.skipped = skipped
    if report is not None:
        report(result, progress)
        return outcome
    stopped = None
    if source.resume is not None and outcome.stopped_by is not None:
        stopped = signal.Signals(outcome.stopped_by).name
    notes[:0] = input_notes(config, result.counters.by_rcode.get(Rcode.NOTRECORDED.value, 0))
    progress.summary(
        result.counters,
        result.backend,
        skipped,
        stopped,
        zones=config.zone_set,
        notes=[*notes, recorded] if recorded else notes,
    )
    return outcome


def _fill(extra: RecordSink, path: str, start: int, count: int, progress: RunProgress) -> str:
    """Records ``start`` to ``start + count`` of the output file into ``extra``; the summary's
    line about it."""
    progress.say(f"storing {count:,} records ...")
    began = time.monotonic()
    with open(path, "rb") as f:
        for line in islice(f, start, start + count):
            extra.write(orjson.loads(line), line)
    return f"store: {count:,} records from {path} in {time.monotonic() - began:.1f}s"
