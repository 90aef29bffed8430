"""`bulkauth messages`: mail archives in, one bulkauth.message/1 record per message out.

Per message, the event loop reads the headers, asks DNS for everything the message needs at once
(DKIM/ARC keys, SPF, DMARC) through the shared resolver, then hands the bytes and the key answers
to verifier processes for the CPU-bound part (canonicalisation, hashing, RSA), and puts the record
together when the verdicts come back. One verifier per core; small runs stay in process
(starting workers costs more than verifying a handful of messages). SPF and DMARC results are
reused across messages with the same inputs for a few minutes (``Memo``).

Memory is bounded twice: by the ordered window (messages in flight) and by a byte budget on the
messages held, so that an archive of 50 MB messages cannot fill memory the way 8 KB ones cannot.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import sys
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from bulkauth.core.dkimverify import Crypto, KeyRecord, verify_crypto
from bulkauth.core.dmarc import DmarcDiscovery
from bulkauth.core.message import MessageDefect
from bulkauth.core.model import State
from bulkauth.core.msgcheck import (
    SCHEMA,
    SECTIONS,
    CheckOptions,
    Looked,
    Plan,
    finish,
    lookups,
    plan_message,
    spf_key,
)
from bulkauth.core.spf import SpfResult
from bulkauth.dns.resolver import Resolver, drive
from bulkauth.pipeline.archives import Limits, MessageItem, count_messages, read_sources
from bulkauth.pipeline.config import RunConfig, make_backend
from bulkauth.pipeline.progress import RunProgress
from bulkauth.pipeline.resume import skip_done
from bulkauth.pipeline.run import (
    Outcome,
    Record,
    Stop,
    catch_signals_early,
    internal_error,
    run_ordered,
)
from bulkauth.pipeline.sinks import NdjsonSink

#: messages verified in process before a worker pool is worth starting
_INLINE_FIRST = 16
_READ_BATCH = 8

_Job = tuple[bytes, dict[str, KeyRecord], float, Crypto]
_Result = tuple[list[dict[str, Any]], dict[str, Any] | None]


@dataclass(slots=True)
class MessageOptions:
    check: CheckOptions = field(default_factory=CheckOptions)
    #: worker processes for verification; None: one per core; 0: verify in process
    workers: int | None = None
    limits: Limits = field(default_factory=Limits)
    #: bytes of message data held at once (in flight and read ahead)
    byte_budget: int = 256 * 1024 * 1024
    window: int = 256


# --------------------------------------------------------------------------------------------
# where a record's message is


def _base(item: MessageItem) -> Record:
    return {
        "schema": SCHEMA,
        "source": item.source,
        "path": item.path,
        "kind": item.kind,
        "index": item.index,
        "offset": item.offset,
        "size": item.size,
    }


def invalid_input(item: MessageItem, code: str, message: str) -> Record:
    return {**_base(item), "status": "invalid_input", "error": {"code": code, "message": message}}


def failed_item(item: MessageItem, exc: BaseException) -> Record:
    return {**_base(item), "status": "error", "error": internal_error(exc)}


# --------------------------------------------------------------------------------------------
# the byte budget


class ByteBudget:
    """Bounds the message bytes held between reading and writing.

    The reader (a thread) waits while the budget is spent, but only when some of the spending is
    by messages already being checked: those will finish and give it back. Bytes held only by
    messages that have not started yet (the batch being read, or waiting for a window slot) must
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


def _budgeted(items: Iterator[MessageItem], budget: ByteBudget) -> Iterator[MessageItem]:
    for it in items:
        budget.take(len(it.data) if it.data is not None else 0)
        yield it


# --------------------------------------------------------------------------------------------
# the verifier pool


class VerifierDied(Exception):
    """A verifier process ended while messages were waiting for it."""


class _Worker:
    """One verifier process and the batches it has been sent, answered in order."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.waiting: deque[list[asyncio.Future[_Result]]] = deque()
        self.alive = True
        self.reader: asyncio.Task[None] | None = None

    async def read_replies(self) -> None:
        assert self.proc.stdout is not None
        try:
            while True:
                head = await self.proc.stdout.readexactly(4)
                status, value = pickle.loads(
                    await self.proc.stdout.readexactly(int.from_bytes(head, "big"))
                )
                batch = self.waiting.popleft()
                if status != "ok":
                    for f in batch:
                        if not f.done():
                            f.set_exception(VerifierDied(f"the verifier failed: {value}"))
                    continue
                for f, r in zip(batch, value, strict=True):
                    if not f.done():
                        f.set_result(r)
        except (
            asyncio.IncompleteReadError,
            ConnectionError,
            pickle.UnpicklingError,
            IndexError,
        ) as exc:
            self.alive = False
            code = self.proc.returncode
            for batch in self.waiting:
                for f in batch:
                    if not f.done():
                        f.set_exception(
                            VerifierDied(f"the verifier process ended (exit {code}): {exc!r}")
                        )
            self.waiting.clear()


class Verifier:
    """Runs ``verify_crypto`` in process for the first messages, then in worker processes.

    Messages go to the workers in batches: a round trip costs the parent ~0.3 ms of CPU however
    small the message (measured: ~270 us for one message, ~15-30 us per message in batches of
    16), and the parent also reads, plans and writes every message, so one round trip per
    message would make it the bottleneck. A batch leaves when it is full (``max_batch``) or
    ``linger`` seconds after its first message arrived; each worker has at most two batches out
    (one being verified, one waiting in its pipe), and meanwhile messages pile up into the next.
    The workers are ``bulkauth.pipeline.verifyworker`` processes fed over pipes by the event
    loop: no helper threads competing with the loop for the GIL.
    """

    def __init__(
        self, workers: int | None, crypto: Crypto, max_batch: int = 32, linger: float = 0.01
    ) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.crypto = crypto
        self.max_batch = max_batch
        self.linger = linger
        self._timer: asyncio.TimerHandle | None = None
        self._procs: list[_Worker] = []
        self._starting: asyncio.Task[None] | None = None
        self._inline_left = _INLINE_FIRST if workers is None else 0
        self._pending: list[tuple[_Job, asyncio.Future[_Result]]] = []
        self.inline = 0
        self.pooled = 0
        self.batches = 0

    async def _start(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        for _ in range(self.workers - len([w for w in self._procs if w.alive])):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bulkauth.pipeline.verifyworker",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                start_new_session=True,
                env=env,
            )
            w = _Worker(proc)
            w.reader = asyncio.ensure_future(w.read_replies())
            self._procs.append(w)
        self._procs = [w for w in self._procs if w.alive]

    async def verify(self, raw: bytes, keys: dict[str, KeyRecord], as_of: float) -> _Result:
        if self.workers <= 0 or self._inline_left > 0:
            self._inline_left -= 1
            self.inline += 1
            return verify_crypto(raw, keys, as_of, self.crypto)
        if len([w for w in self._procs if w.alive]) < self.workers:
            if self._starting is None or self._starting.done():
                self._starting = asyncio.ensure_future(self._start())
            await asyncio.shield(self._starting)
        self.pooled += 1
        fut: asyncio.Future[_Result] = asyncio.get_running_loop().create_future()
        self._pending.append(((raw, keys, as_of, self.crypto), fut))
        if len(self._pending) >= self.max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.linger, self._linger_over)
        return await fut

    def _linger_over(self) -> None:
        self._timer = None
        self._flush(force=True)

    def _flush(self, force: bool = False) -> None:
        while self._pending and (force or len(self._pending) >= self.max_batch):
            alive = [w for w in self._procs if w.alive]
            if not alive:
                for _, f in self._pending:  # every worker is gone: say so for each message
                    if not f.done():
                        f.set_exception(VerifierDied("no verifier process is running"))
                self._pending.clear()
                return
            w = min(alive, key=lambda w: len(w.waiting))
            if len(w.waiting) >= 2:
                break  # the workers are busy: the next reply sends what piled up
            batch = [(job, f) for job, f in self._pending[: self.max_batch] if not f.done()]
            del self._pending[: self.max_batch]
            if not batch:
                continue
            data = pickle.dumps([job for job, _ in batch], protocol=pickle.HIGHEST_PROTOCOL)
            assert w.proc.stdin is not None
            w.proc.stdin.write(len(data).to_bytes(4, "big") + data)
            futs = [f for _, f in batch]
            w.waiting.append(futs)
            self.batches += 1
            for f in futs:
                f.add_done_callback(self._after_reply)

    def _after_reply(self, _: asyncio.Future[_Result]) -> None:
        # a batch came back (its futures are done): what piled up meanwhile can leave now
        if self._pending and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(0, self._linger_over)

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for w in self._procs:
            if w.proc.stdin is not None:
                w.proc.stdin.close()
        for w in self._procs:
            try:
                await asyncio.wait_for(w.proc.wait(), 5)
            except TimeoutError:
                w.proc.kill()
                await w.proc.wait()
            if w.reader is not None:
                w.reader.cancel()


# --------------------------------------------------------------------------------------------
# one message


class Memo:
    """Recent SPF and DMARC results by their inputs: thousands of messages in an archive come
    from the same sender through the same servers. Bounded, and each entry lives ``ttl``
    seconds, so a long run sees DNS changes about as soon as the resolver cache does. DNS
    failures are never kept."""

    def __init__(self, max_entries: int = 50_000, ttl: float = 300.0) -> None:
        self._entries: OrderedDict[tuple[str, ...], tuple[float, Any]] = OrderedDict()
        self.max_entries = max_entries
        self.ttl = ttl
        self.hits = 0

    def get(self, key: tuple[str, ...] | None) -> Any:
        if key is None:
            return None
        hit = self._entries.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return hit[1]

    def put(self, key: tuple[str, ...] | None, value: Any) -> None:
        if key is None or self.max_entries <= 0:
            return
        self._entries[key] = (time.monotonic() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


async def _lookups(plan: Plan, options: MessageOptions, resolver: Resolver, memo: Memo) -> Looked:
    skey = spf_key(plan)
    spf_k = ("spf", *skey) if skey else None
    dom = plan.author.domain
    dmarc_k = ("dmarc", dom, options.check.dmarc_discovery) if dom else None
    spf_known: SpfResult | None = memo.get(spf_k)
    dmarc_known: DmarcDiscovery | None = memo.get(dmarc_k)
    looked = await drive(lookups(plan, options.check, spf_known, dmarc_known), resolver)
    out = looked.spf.outcome
    if spf_known is None and out is not None and out.result.value != "temperror":
        memo.put(spf_k, out)
    if (
        dmarc_known is None
        and looked.dmarc is not None
        and looked.dmarc.state is not State.INDETERMINATE
    ):
        memo.put(dmarc_k, looked.dmarc)
    return looked


async def check_item(
    item: MessageItem,
    resolver: Resolver,
    verifier: Verifier,
    options: MessageOptions,
    budget: ByteBudget,
    memo: Memo,
) -> Record:
    held = len(item.data) if item.data is not None else 0
    budget.start(held)
    try:
        if item.error_code is not None:
            return invalid_input(item, item.error_code, item.error_message or item.error_code)
        raw = item.data or b""
        try:
            plan = plan_message(raw, options.check, time.time())
        except MessageDefect as exc:
            return invalid_input(item, exc.code, exc.message)
        looked = await _lookups(plan, options, resolver, memo)
        if plan.signed:
            try:
                sigs, arc = await verifier.verify(raw, looked.keys, plan.as_of.time)
            except VerifierDied as exc:
                return {
                    **_base(item),
                    "status": "error",
                    "error": {"code": "verifier.crashed", "message": str(exc)},
                }
        else:
            sigs, arc = [], None
        return {**_base(item), "status": "ok", **finish(plan, looked, sigs, arc)}
    finally:
        item.data = None  # the slot waits for its turn to be written: do not hold the bytes
        budget.give_back(held)


# --------------------------------------------------------------------------------------------
# progress


class MessageProgress(RunProgress):
    """Counts records by status and by each section's result."""

    def record(self, rec: dict[str, Any]) -> None:
        self.by_status[str(rec.get("status"))] += 1
        for s in self.sections:
            sec = rec.get(s)
            if isinstance(sec, dict):
                self.by_state[s][str(sec.get("result"))] += 1
        if self._bar is not None and self._task is not None:
            done = sum(self.by_status.values())
            rate = done / max(time.monotonic() - self.started, 1e-9)
            self._bar.update(self._task, completed=done, rate=f"{rate:,.0f}/s")


# --------------------------------------------------------------------------------------------
# resume


_RESUME_KEY = ("source", "path", "index", "offset")


# --------------------------------------------------------------------------------------------
# the run


@dataclass(slots=True)
class RunStats:
    skipped: int = 0
    verified_inline: int = 0
    verified_pooled: int = 0
    peak_bytes_held: int = 0
    results: dict[str, Counter[str]] = field(default_factory=dict)


async def run_messages(
    paths: Sequence[str], config: RunConfig, options: MessageOptions | None = None
) -> tuple[Outcome, RunStats]:
    """Check every message of the archives; returns the outcome and run statistics."""
    catch_signals_early()
    opts = options or MessageOptions()
    opts.check.dmarc_discovery = config.dmarc_discovery
    items, skipped = skip_done(
        read_sources(paths, opts.limits),
        config,
        lambda item: tuple(_base(item).get(k) for k in _RESUME_KEY),
        lambda rec: tuple(rec.get(k) for k in _RESUME_KEY),
        "messages",
    )
    total = count_messages(paths)
    progress = MessageProgress(
        None if total is None else total - skipped, config.progress, SECTIONS
    )
    stop = Stop()
    stop.install()  # before the backend: loading zone files can take a while
    try:
        return await _run(items, skipped, progress, config, opts, stop)
    finally:
        stop.uninstall()


async def _run(
    items: Iterator[MessageItem],
    skipped: int,
    progress: MessageProgress,
    config: RunConfig,
    opts: MessageOptions,
    stop: Stop,
) -> tuple[Outcome, RunStats]:
    resolver = Resolver(make_backend(config), config.resolver)
    verifier = Verifier(opts.workers, opts.check.crypto)
    budget = ByteBudget(opts.byte_budget)
    memo = Memo()
    sink = NdjsonSink(config.output, append=skipped > 0)

    def emit(rec: dict[str, Any]) -> None:
        sink.write(rec)
        progress.record(rec)

    try:
        outcome = await run_ordered(
            _budgeted(items, budget),
            lambda item: check_item(item, resolver, verifier, opts, budget, memo),
            failed_item,
            emit,
            window=opts.window,
            batch=_READ_BATCH,
            stop=stop,
        )
    finally:
        sink.close()
        progress.close()
        with anyio.CancelScope(shield=True):
            await verifier.aclose()
        await resolver.aclose()
    stopped = None
    if outcome.stopped_by is not None:
        stopped = signal.Signals(outcome.stopped_by).name
    progress.summary(resolver.counters, resolver.backend.name, skipped, stopped)
    stats = RunStats(
        skipped, verifier.inline, verifier.pooled, budget.peak, dict(progress.by_state)
    )
    return outcome, stats
