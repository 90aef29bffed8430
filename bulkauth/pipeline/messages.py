"""`bulkauth messages`: mail archives in, one bulkauth.message/1 record per message out.

Per message: read the headers, ask DNS for everything the message needs at once (DKIM/ARC keys,
SPF, DMARC) through the process's resolver, verify the signatures (canonicalisation, hashing,
RSA), put the record together. All of it is CPU-bound Python once DNS answers come from the
cache, so the messages are spread over worker processes (``bulkauth.pipeline.jobs``), each
running this whole pipeline: the parent only reads the archives and writes the records, so a
run scales with the cores instead of stopping at what one process can plan and assemble. SPF and
DMARC results are reused across messages with the same inputs for a few minutes (``Memo``).

Memory is bounded twice: by the ordered window (messages in flight) and by a byte budget on the
messages held (``bulkauth.pipeline.budget``), so that an archive of 50 MB messages cannot fill
memory the way 8 KB ones cannot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
from bulkauth.pipeline.command import Source, run_command
from bulkauth.pipeline.config import RunConfig
from bulkauth.pipeline.jobs import Job, Work
from bulkauth.pipeline.pool import Outcome
from bulkauth.pipeline.records import Record, Records
from bulkauth.pipeline.resume import Resumable
from bulkauth.pipeline.sinks import RecordSink

#: messages read at a time: they are large
_READ_BATCH = 8
#: a run this small (when its size is known: folders) is checked in process: forking
#: workers and loading zones in the parent costs more than verifying a handful of messages
_SMALL_RUN = 50


@dataclass(slots=True)
class MessageOptions:
    check: CheckOptions = field(default_factory=CheckOptions)
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


RECORDS = Records(_base, SECTIONS, field="result")


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
    memo: Memo,
) -> Record:
    try:
        if item.error_code is not None:
            return RECORDS.invalid_input(
                item, item.error_code, item.error_message or item.error_code
            )
        raw = item.data or b""
        try:
            plan = plan_message(raw, options.check, time.time())
        except MessageDefect as exc:
            return RECORDS.invalid_input(item, exc.code, exc.message)
        looked = await _lookups(plan, options, resolver, memo)
        if plan.signed:
            sigs, arc = verify_crypto(
                raw,
                looked.keys,
                plan.as_of.time,
                options.check.crypto,
                block=plan.block,
                history=options.check.key_history,
                arc_verifier=options.check.arc_verifier,
                clock_trusted=plan.as_of.trusted,
            )
        else:
            sigs, arc = [], None
        finished = finish(plan, looked, sigs, arc, options.check.dmarc_with_history)
        return {**_base(item), "status": "ok", **finished}
    finally:
        item.data = None  # the slot waits for its turn to be written: do not hold the bytes


# --------------------------------------------------------------------------------------------
# the run


_RESUME_KEY = ("source", "path", "index", "offset")


def _item_size(item: MessageItem) -> int:
    return len(item.data) if item.data is not None else 0


def message_job(options: MessageOptions) -> Job:
    """The messages job: one process's part is this module's whole pipeline."""

    def factory(resolver: Resolver, _config: RunConfig) -> Work:
        memo = Memo()
        return lambda item: check_item(item, resolver, options, memo)

    return Job(
        factory,
        size=_item_size,
        window=options.window,
        read_batch=_READ_BATCH,
        byte_budget=options.byte_budget,
        warm=psl.load,
    )


def run_messages(
    paths: Sequence[str],
    config: RunConfig,
    options: MessageOptions | None = None,
    extra: RecordSink | None = None,
) -> Outcome:
    """Check every message of the archives, in this process or over worker processes."""
    opts = options or MessageOptions()
    opts.check.dmarc_discovery = config.dmarc_discovery
    source = Source(
        lambda: read_sources(paths, opts.limits),
        lambda: count_messages(paths),
        Resumable(
            lambda item: tuple(_base(item).get(k) for k in _RESUME_KEY),
            lambda rec: tuple(rec.get(k) for k in _RESUME_KEY),
            "messages",
        ),
        small=_SMALL_RUN,
    )
    return run_command(source, message_job(opts), RECORDS, config, extra)
