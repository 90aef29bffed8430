"""Running a job over input items: in this process, or sharded over worker processes.

A job kind names how one item becomes one record ("domains", "spf"). Checks are CPU-bound
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
import signal
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import anyio

from bulkauth.core.model import Counters
from bulkauth.dns.resolver import Resolver
from bulkauth.pipeline.config import RunConfig, make_backend
from bulkauth.pipeline.progress import Brief, RunProgress, brief
from bulkauth.pipeline.run import Outcome, Record, Stop, run_ordered, take_early_signals
from bulkauth.pipeline.sinks import NdjsonSink, encode
from bulkauth.pipeline.sources import Item

Work = Callable[[Item], Awaitable[Record]]
Failed = Callable[[Item, BaseException], Record]
#: builds the job's per-item functions for one process, over that process's resolver
JobFactory = Callable[[Resolver, RunConfig], tuple[Work, Failed]]


class Output:
    """Where a job's records go: the NDJSON sink and the progress counts."""

    def __init__(self, sink: NdjsonSink, progress: RunProgress) -> None:
        self.sink = sink
        self.progress = progress

    def write(self, rec: Record) -> None:
        self.sink.write(rec)
        self.progress.record(rec)

    def write_encoded(self, line: bytes, b: Brief) -> None:
        """A record a worker process encoded: the parent only copies bytes."""
        self.sink.write_line(line)
        self.progress.record_brief(b)

    def flush(self) -> None:
        self.sink.flush()


#: items per batch sent to a worker; batches outstanding per worker
BATCH = 64
AHEAD = 8


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
    items: Iterator[Item],
    factory: JobFactory,
    config: RunConfig,
    emit: Callable[[Record], None],
    read_batch: Callable[[], list[Item]] | None = None,
) -> JobResult:
    stop = Stop()
    stop.install()  # before the backend: loading zone files can take a while
    try:
        resolver = Resolver(make_backend(config), config.resolver)
        work, failed = factory(resolver, config)
        try:
            outcome = await run_ordered(
                items,
                work,
                failed,
                emit,
                window=window_for(config),
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
    factory: JobFactory,
    config: RunConfig,
    inherited: list[multiprocessing.connection.Connection],
) -> None:
    """A worker process: batches in, each batch's records out, counters at the end."""
    # the parent decides when the run stops (a signal to the whole process group would
    # otherwise stop a worker between batches the parent has already sent); a worker whose
    # parent is gone sees its pipe close and ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for end in inherited:
        end.close()
    sizes: deque[int] = deque()

    def read_batch() -> list[Item]:
        try:
            batch: list[Item] | None = conn.recv()
        except EOFError:  # the parent died: stop
            return []
        if batch is None:
            return []
        sizes.append(len(batch))
        return batch

    out: list[tuple[bytes, Brief]] = []

    def emit(rec: Record) -> None:
        # encoded here, in parallel, rather than unpickled and encoded by the busy parent
        out.append((encode(rec), brief(rec)))
        if len(out) == sizes[0]:
            sizes.popleft()
            _send(conn, list(out))
            out.clear()

    async def main() -> JobResult:
        return await run_in_process(iter(()), factory, config, emit, read_batch)

    result = anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})
    _send(conn, ("done", result.counters, result.backend))
    conn.close()


def _send(conn: multiprocessing.connection.Connection, message: object) -> None:
    try:
        conn.send(message)
    except OSError:  # the parent is gone (killed): nobody is left to write the records
        os._exit(0)


class WorkerLost(Exception):
    """A worker process died (killed, out of memory); the output is whole up to its last line."""


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
    items: Iterator[Item],
    factory: JobFactory,
    config: RunConfig,
    output: Output,
    workers: int,
    key: Callable[[Item], str] | None = None,
) -> JobResult:
    # fork: the workers start in milliseconds with everything imported; spawn where there is none.
    # What every worker's run imports is imported here, once, rather than after the fork in each.
    import anyio._backends._asyncio  # noqa: F401
    import uvloop  # noqa: F401

    import bulkauth.dns.udp  # noqa: F401

    ctx: Any = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    part = share(config, workers)
    conns: list[multiprocessing.connection.Connection] = []
    procs = []
    for _ in range(workers):
        parent, child = ctx.Pipe()
        # the child must not hold any parent-side end (its own or its siblings'), or it
        # never sees EOF when the parent dies and lingers after a SIGKILL
        inherited = [*conns, parent]
        p = ctx.Process(target=_worker, args=(child, factory, part, inherited), daemon=True)
        p.start()
        child.close()
        conns.append(parent)
        procs.append(p)

    outcome = Outcome()
    stop: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop.append(signum)
        if len(stop) > 1:  # a second signal: stop at once
            raise SystemExit(128 + stop[0])

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    stop.extend(take_early_signals()[:1])
    route = _Router(workers, key)
    order: deque[int] = deque()  # the worker of each item taken, in input order
    queued: list[list[Item]] = [[] for _ in range(workers)]  # taken, not yet sent
    sent = [0] * workers  # batches sent whose records have not come back
    ready: list[deque[tuple[bytes, Brief]]] = [deque() for _ in range(workers)]

    def send(w: int) -> None:
        _to_worker(conns[w], queued[w], procs[w])
        queued[w] = []
        sent[w] += 1

    def write_head() -> None:
        w = order[0]
        if not ready[w]:
            if not sent[w]:
                # the head item waits in w's part-filled batch (every earlier item of w is
                # written, so w has nothing in flight): send it as it is
                send(w)
            if not conns[w].poll():  # about to wait: what is written so far reaches the file first
                output.flush()
            ready[w].extend(_from_worker(conns[w], procs[w]))
            sent[w] -= 1
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
            order.append(w)
            outcome.items += 1
            if len(queued[w]) == BATCH:
                while sent[w] >= AHEAD:
                    write_head()
                send(w)
        # after a signal too: what was taken is finished and written (at most a batch a worker)
        for w in range(workers):
            if queued[w]:
                while sent[w] >= AHEAD:
                    write_head()
                if queued[w]:
                    send(w)
        while order:
            write_head()
        counters = Counters()
        backend = ""
        for c, p in zip(conns, procs, strict=True):
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

    def __init__(self, workers: int, key: Callable[[Item], str] | None) -> None:
        self.workers = workers
        self.key = key
        self.load = [0] * workers  # items taken and not yet written
        self._n = 0

    def pick(self, item: Item) -> int:
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


def choose_workers(requested: int | None, total: int | None) -> int:
    """--workers, or by default one per core for inputs big enough to repay the start-up."""
    if requested is not None:
        return max(1, requested)
    if total is not None and total < 2_000:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def run_job(
    items: Iterator[Item],
    factory: JobFactory,
    config: RunConfig,
    output: Output,
    workers: int,
    key: Callable[[Item], str] | None = None,
) -> JobResult:
    """Run a job in this process, or over ``workers`` processes; ``key`` keeps items with the
    same key on one worker (see _Router)."""
    if workers <= 1:

        async def main() -> JobResult:
            return await run_in_process(items, factory, config, output.write)

        return anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})
    return run_sharded(items, factory, config, output, workers, key)
