"""`bulkauth messages`: mail archives in, one bulkauth.message/1 record per message out.

Per message: read the headers, ask DNS for everything the message needs at once (DKIM/ARC keys,
SPF, DMARC) through the process's resolver, verify the signatures (canonicalisation, hashing,
RSA), put the record together. All of it is CPU-bound Python once DNS answers come from the
cache, so the messages are spread over worker processes (``bulkauth.pipeline.jobs``), each
running this whole pipeline: the parent only reads the archives and writes the records, so a
run scales with the cores instead of stopping at what one process can plan and assemble. SPF and
DMARC results are reused across messages with the same inputs for a few minutes (``Memo``).

Memory is bounded twice: by the ordered window (messages in flight) and by a byte budget on the
messages held, so that an archive of 50 MB messages cannot fill memory the way 8 KB ones cannot.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bulkauth.core.common import psl
from bulkauth.core.common.cache import TtlCache
from bulkauth.core.common.model import State
from bulkauth.core.dmarc.discovery import DmarcDiscovery
from bulkauth.core.message.check import (
    SCHEMA,
    SECTIONS,
    CheckOptions,
    Looked,
    Plan,
    finish,
    lookups,
    plan_message,
    spf_key,
    verify_crypto,
)
from bulkauth.core.message.headers import MessageDefect
from bulkauth.core.spf.evaluate import SpfResult
from bulkauth.dns.resolver import Resolver, drive
from bulkauth.pipeline.archives import Limits, MessageItem, count_messages, read_sources
from bulkauth.pipeline.config import RunConfig
from bulkauth.pipeline.jobs import Failed, Job, Output, Work, choose_workers, run_job
from bulkauth.pipeline.progress import RunProgress, brief
from bulkauth.pipeline.resume import skip_done
from bulkauth.pipeline.run import Outcome, Record, catch_signals_early, internal_error
from bulkauth.pipeline.sinks import NdjsonSink

#: messages read at a time: they are large
_READ_BATCH = 8
#: a run this small (when its size is known: folders) is checked in process: forking
#: workers and loading zones in the parent costs more than verifying a handful of messages
_SMALL_RUN = 50


@dataclass(slots=True)
class MessageOptions:
    check: CheckOptions = field(default_factory=CheckOptions)
    #: worker processes; None: one per core (in process for a small run); 0 or 1: in process
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
# one message


class Memo:
    """Recent SPF and DMARC results by their inputs: thousands of messages in an archive come
    from the same sender through the same servers. Bounded, and each entry lives ``ttl``
    seconds, so a long run sees DNS changes about as soon as the resolver cache does. DNS
    failures are never kept."""

    def __init__(
        self,
        max_entries: int = 50_000,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache: TtlCache[tuple[str, ...], Any] = TtlCache(max_entries, clock)
        self.ttl = ttl
        self.hits = 0

    def get(self, key: tuple[str, ...] | None) -> Any:
        if key is None:
            return None
        value = self._cache.get(key)
        if value is not None:
            self.hits += 1
        return value

    def put(self, key: tuple[str, ...] | None, value: Any) -> None:
        if key is not None:
            self._cache.put(key, value, self.ttl)


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
            sigs, arc = verify_crypto(
                raw, looked.keys, plan.as_of.time, options.check.crypto, block=plan.block
            )
        else:
            sigs, arc = [], None
        return {**_base(item), "status": "ok", **finish(plan, looked, sigs, arc)}
    finally:
        item.data = None  # the slot waits for its turn to be written: do not hold the bytes
        budget.give_back(held)


# --------------------------------------------------------------------------------------------
# the run


_RESUME_KEY = ("source", "path", "index", "offset")


def _item_size(item: MessageItem) -> int:
    return len(item.data) if item.data is not None else 0


def message_job(options: MessageOptions, budget: ByteBudget | None = None) -> Job:
    """The messages job: one process's part is this module's whole pipeline. ``budget`` bounds
    the bytes held by an in-process run (its reader takes from it); worker processes are
    bounded by the parent's byte budget instead."""

    def factory(resolver: Resolver, _config: RunConfig) -> tuple[Work, Failed]:
        own = budget or ByteBudget(options.byte_budget)
        memo = Memo()
        return lambda item: check_item(item, resolver, options, own, memo), failed_item

    return Job(
        factory,
        size=_item_size,
        brief_of=partial(brief, field="result"),
        window=options.window,
        read_batch=_READ_BATCH,
        byte_budget=options.byte_budget,
        warm=psl.load,
    )


def run_messages(
    paths: Sequence[str], config: RunConfig, options: MessageOptions | None = None
) -> Outcome:
    """Check every message of the archives, in this process or over worker processes."""
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
    remaining = None if total is None else total - skipped
    progress = RunProgress(remaining, config.progress, SECTIONS, field="result")
    sink = NdjsonSink(config.output, append=skipped > 0)
    workers = choose_workers(opts.workers, remaining, small=_SMALL_RUN)
    budget = ByteBudget(opts.byte_budget) if workers <= 1 else None
    if budget is not None:
        items = _budgeted(items, budget)
    try:
        result = run_job(items, message_job(opts, budget), config, Output(sink, progress), workers)
    finally:
        sink.close()
        progress.close()
    stopped = None
    if result.outcome.stopped_by is not None:
        stopped = signal.Signals(result.outcome.stopped_by).name
    progress.summary(result.counters, result.backend, skipped, stopped)
    return result.outcome
