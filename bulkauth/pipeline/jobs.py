"""Running a job over input items: in this process, or sharded over worker processes.

A ``Job`` says how one item becomes one record (domains, spf, messages). Checks are CPU-bound
Python once DNS answers come from the cache, so one event loop saturates one core; with
``workers > 1`` the items go out in batches, round robin, to worker processes that each run
the same async pipeline with their own resolver, and come back in batch order — so the output
is exactly what one process would write, in input order. Limits are split between workers so
``--qps`` and ``--concurrency`` stay global.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import threading
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import anyio
import orjson

from bulkauth.core.common.model import Counters
from bulkauth.dns.resolver import Resolver
from bulkauth.pipeline.budget import ByteBudget, budgeted
from bulkauth.pipeline.config import RunConfig, make_backend
from bulkauth.pipeline.errors import WorkerLost
from bulkauth.pipeline.pool import Outcome, run_ordered
from bulkauth.pipeline.progress import Brief, RunProgress
from bulkauth.pipeline.records import Record, Records
from bulkauth.pipeline.signals import Stop, take_early_signals
from bulkauth.pipeline.sinks import NdjsonSink, RecordSink, encode

Work = Callable[[Any], Awaitable[Record]]
#: builds the job's per-item function for one process, over that process's resolver
JobFactory = Callable[[Resolver, RunConfig], Work]


@dataclass(frozen=True, slots=True)
class Job:
    """How a job's items become records, and how they are shared out among processes."""

    factory: JobFactory
    #: items with the same key go to the same worker (see _Router); None: round robin
    key: Callable[[Any], str] | None = None
    #: the bytes an item holds (messages), so batches and what is in flight stay bounded
    size: Callable[[Any], int] | None = None
    #: items in progress per process; None: from the query concurrency (window_for)
    window: int | None = None
    #: items read at a time (large items want a small batch)
    read_batch: int = 512
    #: bytes of items held (read and not yet written), over all workers; with ``size`` only
    byte_budget: int = 256 * 1024 * 1024
    #: work every worker would do for itself (parsing the PSL), done once before the fork
    warm: Callable[[], object] | None = None


class Output:
    """Where a job's records go: the NDJSON sink, the progress counts, and an extra sink
    (the store) when the command line asks for one."""

    def __init__(
        self, sink: NdjsonSink, progress: RunProgress, extra: RecordSink | None = None
    ) -> None:
        self.sink = sink
        self.progress = progress
        self.extra = extra

    def write(self, rec: Record) -> None:
        line = encode(rec)
        self.sink.write_line(line)
        if self.extra is not None:
            self.extra.write(rec, line)
        self.progress.record(rec)

    def write_encoded(self, line: bytes, b: Brief) -> None:
        """A record a worker process encoded: the parent only copies bytes (and parses them
        again only for an extra sink, which wants the record's fields)."""
        self.sink.write_line(line)
        if self.extra is not None:
            self.extra.write(orjson.loads(line), line)
        self.progress.record_brief(b)

    def flush(self) -> None:
        self.sink.flush()


#: items per batch sent to a worker (fewer when they hold more than BATCH_BYTES); batches
#: outstanding per worker
BATCH = 64
BATCH_BYTES = 1024 * 1024
AHEAD = 8
#: seconds the items in flight have after a first signal, as in run_ordered
GRACE = 5.0


class _GraceOver(Exception):
    pass


@dataclass(slots=True)
class JobResult:
    outcome: Outcome
    counters: Counters
    backend: str


def window_for(config: RunConfig) -> int:
    """Items in progress at once. A domain wants 7-55 queries at a time, so half as many items
    as query slots keep every slot busy; more only hold memory (a window of 1,000 domains cost
    ~85 MB more for the same rate, bench/README.md)."""
    return max(64, config.resolver.concurrency // 2)


async def run_in_process(
    items: Iterator[Any],
    job: Job,
    records: Records[Any],
    config: RunConfig,
    emit: Callable[[Record], None],
    read_batch: Callable[[], list[Any]] | None = None,
    budget: ByteBudget | None = None,
) -> JobResult:
    """``budget``: bounds the bytes of the items held (a job with a size, run in one process)."""
    stop = Stop()
    stop.install()  # before the backend: loading zone files can take a while
    try:
        resolver = Resolver(make_backend(config), config.resolver)
        work = job.factory(resolver, config)
        if budget is not None and job.size is not None:
            items, work = budgeted(items, work, job.size, budget)
        try:
            outcome = await run_ordered(
                items,
                work,
                records.failed,
                emit,
                window=job.window or window_for(config),
                batch=job.read_batch,
                read_batch=read_batch,
                stop=stop,
            )
        finally:
            await resolver.aclose()
    finally:
        stop.uninstall()
    return JobResult(outcome, resolver.counters, resolver.backend.name)


def share(config: RunConfig, workers: int) -> RunConfig:
    """Each worker's part of the run-wide limits."""
    r = config.resolver
    return replace(
        config,
        resolver=replace(
            r,
            qps=r.qps / workers if r.qps else 0.0,
            concurrency=max(1, r.concurrency // workers),
            retry_budget=max(1, r.retry_budget // workers),
        ),
    )


def _worker(
    conn: multiprocessing.connection.Connection,
    job: Job,
    records: Records[Any],
    config: RunConfig,
    inherited: list[multiprocessing.connection.Connection],
) -> None:
    """A worker process: batches in, each batch's records out, counters at the end.

    A thread receives batches and another sends records, so that neither side ever waits on a
    full pipe while the other waits on it: the parent may be sending a batch of large messages
    while this worker has a batch of records to give back.
    """
    # the parent decides when the run stops (a signal to the whole process group would
    # otherwise stop a worker between batches the parent has already sent); a worker whose
    # parent is gone sees its pipe close and ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for end in inherited:
        end.close()
    inbox: queue.SimpleQueue[list[Any] | None] = queue.SimpleQueue()
    outbox: queue.SimpleQueue[object] = queue.SimpleQueue()

    def receive() -> None:
        while True:
            try:
                batch: list[Any] | None = conn.recv()
            except (EOFError, OSError):  # the parent died: stop
                batch = None
            inbox.put(batch)
            if batch is None:
                return

    def send() -> None:
        while (message := outbox.get()) is not None:
            _send(conn, message)

    threading.Thread(target=receive, daemon=True).start()
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    sizes: deque[int] = deque()

    def read_batch() -> list[Any]:
        batch = inbox.get()
        if batch is None:
            return []
        sizes.append(len(batch))
        return batch

    out: list[tuple[bytes, Brief]] = []
    brief_of = records.brief

    def emit(rec: Record) -> None:
        # encoded here, in parallel, rather than unpickled and encoded by the busy parent
        out.append((encode(rec), brief_of(rec)))
        if len(out) == sizes[0]:
            sizes.popleft()
            outbox.put(list(out))
            out.clear()

    async def main() -> JobResult:
        return await run_in_process(iter(()), job, records, config, emit, read_batch)

    result = anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})
    outbox.put(("done", result.counters, result.backend))
    outbox.put(None)
    sender.join()
    conn.close()


def _send(conn: multiprocessing.connection.Connection, message: object) -> None:
    try:
        conn.send(message)
    except OSError:  # the parent is gone (killed): nobody is left to write the records
        os._exit(0)


def _to_worker(conn: multiprocessing.connection.Connection, message: object, proc: Any) -> None:
    # SIGPIPE is SIG_DFL for the CLI (`| head`); a dead worker must be an error, not our death
    old = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        conn.send(message)
    except OSError:
        raise _lost(proc) from None
    finally:
        signal.signal(signal.SIGPIPE, old)


def _from_worker(conn: multiprocessing.connection.Connection, proc: Any) -> Any:
    try:
        return conn.recv()
    except (EOFError, OSError):
        raise _lost(proc) from None


def _lost(proc: Any) -> WorkerLost:
    proc.join(timeout=1)
    return WorkerLost(
        f"worker process {proc.pid} ended unexpectedly (exit code {proc.exitcode}); "
        "the output is complete up to its last line: run again with --output FILE --resume"
    )


def run_sharded(
    items: Iterator[Any],
    job: Job,
    records: Records[Any],
    config: RunConfig,
    output: Output,
    workers: int,
) -> JobResult:
    # fork: the workers start in milliseconds with everything imported; spawn where there is none.
    # What every worker's run imports is imported here, once, rather than after the fork in each.
    import anyio._backends._asyncio  # noqa: F401
    import uvloop  # noqa: F401

    import bulkauth.dns.backends.udp  # noqa: F401

    if job.warm is not None:
        job.warm()
    ctx: Any = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    part = share(config, workers)
    conns: list[multiprocessing.connection.Connection] = []
    procs = []
    for _ in range(workers):
        parent, child = ctx.Pipe()
        # the child must not hold any parent-side end (its own or its siblings'), or it
        # never sees EOF when the parent dies and lingers after a SIGKILL
        inherited = [*conns, parent]
        p = ctx.Process(target=_worker, args=(child, job, records, part, inherited), daemon=True)
        p.start()
        child.close()
        conns.append(parent)
        procs.append(p)

    outcome = Outcome()
    stop: list[int] = []
    deadline: list[float] = []  # set at the first signal seen

    def on_signal(signum: int, _frame: object) -> None:
        stop.append(signum)
        if len(stop) > 1:  # a second signal: stop at once
            raise SystemExit(128 + stop[0])

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    stop.extend(take_early_signals()[:1])
    route = _Router(workers, job.key)
    size = job.size
    order: deque[int] = deque()  # the worker of each item taken, in input order
    queued: list[list[Any]] = [[] for _ in range(workers)]  # taken, not yet sent
    queued_bytes = [0] * workers
    sent: list[deque[int]] = [deque() for _ in range(workers)]  # bytes of each batch out
    sent_bytes = [0] * workers
    per_worker = max(1, job.byte_budget // workers)
    ready: list[deque[tuple[bytes, Brief]]] = [deque() for _ in range(workers)]

    def send(w: int) -> None:
        _to_worker(conns[w], queued[w], procs[w])
        sent[w].append(queued_bytes[w])
        sent_bytes[w] += queued_bytes[w]
        queued[w] = []
        queued_bytes[w] = 0

    def make_room(w: int) -> None:
        """Write records until worker w may take its queued batch: a few batches ahead, and
        within its share of the byte budget (a batch alone may exceed it: one huge message)."""
        while sent[w] and (len(sent[w]) >= AHEAD or sent_bytes[w] + queued_bytes[w] > per_worker):
            write_head()

    def wait_for(w: int) -> None:
        """Until worker w has records to give. After a signal, for GRACE seconds at most."""
        conn = conns[w]
        if conn.poll():
            return
        output.flush()  # about to wait: what is written so far reaches the file first
        # in short polls, not one blocking read: a signal must be able to end the wait
        while not conn.poll(0.2):
            if stop:
                if not deadline:
                    deadline.append(time.monotonic() + GRACE)
                elif time.monotonic() > deadline[0]:
                    raise _GraceOver

    def write_head() -> None:
        w = order[0]
        if not ready[w]:
            if not sent[w]:
                # the head item waits in w's part-filled batch (every earlier item of w is
                # written, so w has nothing in flight): send it as it is
                send(w)
            wait_for(w)
            ready[w].extend(_from_worker(conns[w], procs[w]))
            sent_bytes[w] -= sent[w].popleft()
        order.popleft()
        line, b = ready[w].popleft()
        output.write_encoded(line, b)
        route.done(w)
        outcome.written += 1

    try:
        for item in items:
            if stop:
                break
            w = route.pick(item)
            queued[w].append(item)
            if size is not None:
                queued_bytes[w] += size(item)
            order.append(w)
            outcome.items += 1
            if len(queued[w]) == BATCH or queued_bytes[w] >= BATCH_BYTES:
                make_room(w)
                if queued[w]:  # make_room may have sent it, for an item it had to write
                    send(w)
        # after a signal too: what was taken is finished and written (at most a batch a worker)
        for w in range(workers):
            if queued[w]:
                make_room(w)
                if queued[w]:
                    send(w)
        counters = Counters()
        backend = ""
        finished = True
        try:
            while order:
                write_head()
        except _GraceOver:  # the output is whole up to its last line; --resume goes on from there
            finished = False
            for p in procs:
                p.kill()
        for c, p in zip(conns, procs, strict=True) if finished else ():
            _to_worker(c, None, p)
            _, wc, backend = _from_worker(c, p)
            for f in ("queries", "cache_hits", "joined", "retries", "timeouts", "failures", "tcp"):
                setattr(counters, f, getattr(counters, f) + getattr(wc, f))
            for k, v in wc.by_rcode.items():
                counters.by_rcode[k] = counters.by_rcode.get(k, 0) + v
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
    outcome.stopped_by = stop[0] if stop else None
    return JobResult(outcome, counters, backend)


class _Router:
    """Which worker takes an item.

    Without a key, batches go round robin. With one (spf: the sender's domain), items with the
    same key go to the same worker, so each worker's cache warms to half the domains instead of
    all of them (a cold SPF tree costs several times a warm check). A worker that falls more
    than a batch behind the least loaded one gets no more: one domain that is most of the
    input (an archive's own domain) must not leave the other cores idle.
    """

    def __init__(self, workers: int, key: Callable[[Any], str] | None) -> None:
        self.workers = workers
        self.key = key
        self.load = [0] * workers  # items taken and not yet written
        self._n = 0

    def pick(self, item: Any) -> int:
        load = self.load
        if self.key is None:
            w = (self._n // BATCH) % self.workers
            self._n += 1
        else:
            w = zlib.crc32(self.key(item).encode("utf-8", "surrogatepass")) % self.workers
            if load[w] > BATCH:
                least = min(load)
                if load[w] > least + BATCH:
                    w = load.index(least)
        load[w] += 1
        return w

    def done(self, w: int) -> None:
        self.load[w] -= 1


def choose_workers(requested: int | None, total: int | None, small: int = 2_000) -> int:
    """--workers, or by default one per core for inputs of ``small`` items or more (or of
    unknown size), which repay the start-up."""
    if requested is not None:
        return max(1, requested)
    if total is not None and total < small:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def run_job(
    items: Iterator[Any],
    job: Job,
    records: Records[Any],
    config: RunConfig,
    output: Output,
    workers: int,
) -> JobResult:
    """Run a job in this process, or over ``workers`` processes."""
    if workers <= 1:
        budget = ByteBudget(job.byte_budget) if job.size is not None else None

        async def main() -> JobResult:
            return await run_in_process(items, job, records, config, output.write, budget=budget)

        return anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})
    return run_sharded(items, job, records, config, output, workers)
