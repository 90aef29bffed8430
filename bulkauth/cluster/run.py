"""The driver of a cluster run (``--cluster ADDRESS``): cut, submit, track, assemble.

It connects to a Dask scheduler (``tcp://host:8786``) or starts a ``LocalCluster`` of N worker
processes (``local:N``), cuts the input into shards (bulkauth.cluster.shards), writes the
manifest, and submits every shard not yet done with Dask's ``retries``: a shard whose worker
is lost runs again elsewhere and replaces its part (bulkauth.cluster.task). As shards finish
it marks them done in the manifest and counts their records; when all are done it writes the
output from the parts in input order — the same file a local run writes — feeding the store
(--store, -o FILE.parquet) the same records on the way, and prints the local run's summary.
"""

from __future__ import annotations

import heapq
import logging
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from bulkauth.cluster import require_dask
from bulkauth.cluster.manifest import Manifest, new_manifest, part_path, parts_dir, resume_manifest
from bulkauth.cluster.shards import Fingerprint, Shard, cut_archives, cut_checks, cut_list
from bulkauth.cluster.task import ShardDone, ShardTask, run_shard
from bulkauth.core.common.model import Counters, Rcode
from bulkauth.pipeline.config import RunConfig
from bulkauth.pipeline.errors import BadInput, WorkerLost
from bulkauth.pipeline.inputs import input_notes, run_options
from bulkauth.pipeline.jobs import share
from bulkauth.pipeline.messages import MessageOptions
from bulkauth.pipeline.pool import Outcome
from bulkauth.pipeline.progress import RunProgress
from bulkauth.pipeline.records import Records
from bulkauth.pipeline.sinks import RecordSink
from bulkauth.pipeline.sources import count_items

#: times Dask runs a shard again after it raised (a lost worker is Dask's own to reschedule)
RETRIES = 2
#: lines per shard by default: big enough that a shard's start-up (~30 ms) is small beside
#: its work, small enough to spread a 10,000-domain list over tens of workers
SHARD_SIZE = 1_000
#: run options that do not change the records, so a resumed run may differ in them
_VOLATILE = {"output", "resume", "progress", "workers", "store", "parquet"}


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        self.signum = signum


def run_cluster(
    command: str,
    paths: Sequence[str],
    config: RunConfig,
    address: str,
    shard_size: int = SHARD_SIZE,
    extra: RecordSink | None = None,
    messages: MessageOptions | None = None,
    options: dict[str, Any] | None = None,
) -> Outcome:
    """Run ``command`` (domains, spf, messages) over the inputs on a Dask cluster.

    ``options``: the command's own options besides the shared ones (the manifest keeps them:
    a --resume with other options is refused); ``extra``: closed here whatever happens.
    """
    try:
        return _run(command, paths, config, address, shard_size, extra, messages, options or {})
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise BadInput(str(exc)) from None
    finally:
        if extra is not None:
            extra.close()


def check_cluster_options(address: str, config: RunConfig) -> None:
    """What --cluster refuses, before any work (exit 2)."""
    require_dask()
    if not (address.startswith(("tcp://", "tls://")) or _local_workers(address)):
        raise BadInput(f"--cluster {address}: give tcp://HOST:PORT (a Dask scheduler) or local:N")
    if not config.output:
        raise BadInput("--cluster writes its parts beside the output: give -o FILE")
    if config.record_dns or config.replay_dns or config.psl:
        raise BadInput("--cluster does not take --record-dns, --replay-dns or --psl yet")
    if config.probe is not None:
        raise BadInput("--cluster does not take --probe or --dnssec (probes run in one process)")


def _local_workers(address: str) -> int | None:
    if not address.startswith("local:"):
        return None
    try:
        n = int(address.removeprefix("local:"))
    except ValueError:
        return None
    return n if n >= 1 else None


def _run(
    command: str,
    paths: Sequence[str],
    config: RunConfig,
    address: str,
    shard_size: int,
    extra: RecordSink | None,
    messages: MessageOptions | None,
    own: dict[str, Any],
) -> Outcome:
    check_cluster_options(address, config)
    assert config.output is not None
    started = time.monotonic()
    shards, prints, total, records = _cut(command, paths, shard_size, messages)
    parts = parts_dir(config.output)
    opts = _manifest_options(config, own, shard_size)
    manifest = resume_manifest(parts, command, opts, prints) if config.resume else None
    if manifest is None:
        shutil.rmtree(parts, ignore_errors=True)
        parts.mkdir(parents=True)
        manifest = new_manifest(parts, command, opts, prints, shards)
    skipped = sum(manifest.records.values())
    progress = RunProgress(
        None if total is None else total - skipped,
        config.progress,
        records.sections,
        field=records.field,
    )
    counters = Counters()
    backends: set[str] = set()
    zones: str | None = None
    stopped: int | None = None
    pending = manifest.pending()
    done_now = 0
    workers = 0
    try:
        if manifest.assembled and Path(config.output).exists():
            pending = []  # a finished run resumed: nothing to do
        elif pending:
            with _client(address) as client:
                workers = max(1, len(client.scheduler_info()["workers"]))
                worker_config = _worker_config(config, min(workers, len(pending)))
                for done in _submit(client, command, pending, worker_config, parts, messages):
                    manifest.done(done.number, done.records)
                    done_now += 1
                    _add(counters, done.counters)
                    backends.add(done.backend)
                    zones = zones or done.zones
                    progress.add_counts(
                        done.by_status,
                        done.by_state,
                        f"shards {len(manifest.shards) - len(manifest.pending())}"
                        f"/{len(manifest.shards)}",
                    )
    except _Stopped as exc:
        stopped = exc.signum
    finally:
        progress.close()
    assembled = ""
    if stopped is None and not (manifest.assembled and Path(config.output).exists()):
        t = time.monotonic()
        n = _assemble(manifest, parts, config.output, command, paths, extra)
        assembled = f" ({n:,} records assembled in {time.monotonic() - t:.1f}s)"
    if extra is not None:
        extra.end(stopped)
    notes = input_notes(config, counters.by_rcode.get(Rcode.NOTRECORDED.value, 0))
    if zones:
        notes.insert(0, f"zones: {zones}")
    notes.append(
        f"cluster: {len(manifest.shards)} shards of {shard_size:,} "
        + ("lines" if command != "messages" else "messages")
        + f", {done_now} run now on {workers or 'no'} workers"
        + (
            f", {len(manifest.shards) - done_now - len(manifest.pending())} done before"
            if skipped
            else ""
        )
        + f"; {time.monotonic() - started:.1f}s in all{assembled}"
    )
    progress.summary(
        counters,
        "/".join(sorted(backends)) or "none",
        skipped,
        signal.Signals(stopped).name if stopped is not None else None,
        notes=notes,
    )
    written = sum(progress.by_status.values())
    return Outcome(items=written, written=written, stopped_by=stopped, skipped=skipped)


def _cut(
    command: str, paths: Sequence[str], shard_size: int, messages: MessageOptions | None
) -> tuple[list[Shard], Fingerprint, int | None, Records[Any]]:
    if command == "messages":
        from bulkauth.pipeline.messages import RECORDS as message_records

        assert messages is not None
        shards, prints = cut_archives(paths, shard_size, messages.limits)
        return shards, prints, sum(s.size for s in shards), message_records
    if command == "spf":
        from bulkauth.pipeline.spfcheck import RECORDS as spf_records

        shards, prints = cut_checks(paths, shard_size)
        return shards, prints, count_items(paths), spf_records
    from bulkauth.pipeline.domains import RECORDS as domain_records

    shards, prints = cut_list(paths, shard_size)
    return shards, prints, count_items(paths), domain_records


def _manifest_options(config: RunConfig, own: dict[str, Any], shard_size: int) -> dict[str, Any]:
    """What decides the records (and the cut): a resumed run must have the same."""
    shared = {k: v for k, v in run_options(config).items() if k not in _VOLATILE}
    doc = {**shared, **own, "shard_size": shard_size}
    # as JSON has them (tuples as lists), to compare with the manifest's copy
    result: dict[str, Any] = orjson.loads(orjson.dumps(doc, default=str))
    return result


def _worker_config(config: RunConfig, running: int) -> RunConfig:
    """The options a shard runs with: the run-wide limits (--qps, --concurrency, the retry
    budget) divided among the shards running at once, as among local worker processes."""
    mine = share(config, running)
    # absolute: a worker's working directory is its own
    zones = os.path.abspath(config.zones) if config.zones else None
    return replace(
        mine, output=None, store=None, parquet=None, zone_set=None, snapshot=None, zones=zones
    )


@contextmanager
def _client(address: str) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    n = _local_workers(address)
    # a stop on the driver: SIGTERM as SIGINT, and neither as a traceback
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def stop(signum: int, _frame: object) -> None:
        raise _Stopped(signum)

    for s in previous:
        signal.signal(s, stop)
    cluster = None
    try:
        if n is not None:
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
        else:
            try:
                client = Client(address, timeout=10)
            except OSError as exc:
                raise BadInput(f"--cluster {address}: cannot reach the scheduler ({exc})") from None
        try:
            yield client
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
        for s, handler in previous.items():
            signal.signal(s, handler)


def _submit(
    client: Any,
    command: str,
    pending: list[Shard],
    config: RunConfig,
    parts: Path,
    messages: MessageOptions | None,
) -> Iterator[ShardDone]:
    """Every pending shard on the cluster; yields them as they finish."""
    from distributed import as_completed

    run = uuid.uuid4().hex[:12]
    futures = {
        shard.number: client.submit(
            run_shard,
            ShardTask(command, shard, config, str(parts.resolve()), messages),
            key=f"bulkauth-{run}-shard-{shard.number:05d}",
            retries=RETRIES,
            pure=False,
        )
        for shard in pending
    }
    try:
        for future in as_completed(list(futures.values())):
            try:
                done: ShardDone = future.result()
            except BadInput:
                raise
            except Exception as exc:
                raise WorkerLost(
                    f"a shard failed ({type(exc).__name__}: {exc}); the shards done are kept: "
                    "rerun with --resume to redo the others"
                ) from None
            # released at once: Dask would otherwise run a finished shard again when the
            # worker holding its result is lost, and that copy could outlive the run
            futures.pop(done.number).release()
            yield done
    finally:
        client.cancel(list(futures.values()))


def _assemble(
    manifest: Manifest,
    parts: Path,
    output: str,
    command: str,
    paths: Sequence[str],
    extra: RecordSink | None,
) -> int:
    """The output from the parts, in input order, written whole then renamed into place."""
    files = [part_path(parts, s.number) for s in manifest.shards]
    tmp = Path(output + ".assembling")
    n = 0
    if extra is not None:
        extra.start(0, output)
    with open(tmp, "wb") as out:
        if command == "spf":
            lines = _merged(files, paths)  # a shard's checks are not contiguous
        elif extra is None:
            for f in files:
                with open(f, "rb") as part:
                    shutil.copyfileobj(part, out, 1024 * 1024)
            lines = iter(())
            n = sum(manifest.records.values())
        else:
            lines = (line for f in files for line in _read(f))
        for line in lines:
            out.write(line)
            if extra is not None:
                extra.write(orjson.loads(line), line)
            n += 1
    expected = sum(manifest.records.values())
    if n != expected:
        raise WorkerLost(f"the parts hold {n} records, the manifest {expected}: rerun the run")
    os.replace(tmp, output)
    manifest.assembled = True
    manifest.save()
    for f in files:  # the output holds them now
        f.unlink(missing_ok=True)
    for f in parts.glob("part-*.tmp"):  # of shards whose worker was lost mid-way
        f.unlink(missing_ok=True)
    return n


def _read(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        yield from f


def _merged(files: list[Path], paths: Sequence[str]) -> Iterator[bytes]:
    order = {p: i for i, p in enumerate(paths)}

    def keyed(path: Path) -> Iterator[tuple[tuple[int, int], bytes]]:
        for line in _read(path):
            rec = orjson.loads(line)
            yield (order.get(rec.get("source"), len(order)), int(rec.get("line") or 0)), line

    for _, line in heapq.merge(*(keyed(f) for f in files)):
        yield line


def _add(total: Counters, more: Counters) -> None:
    total.queries += more.queries
    total.cache_hits += more.cache_hits
    total.joined += more.joined
    total.retries += more.retries
    total.timeouts += more.timeouts
    total.failures += more.failures
    total.tcp += more.tcp
    for rcode, n in more.by_rcode.items():
        total.by_rcode[rcode] = total.by_rcode.get(rcode, 0) + n
