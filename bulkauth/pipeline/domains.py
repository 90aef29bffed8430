"""`bulkauth domains`: a domain list in, one bulkauth.domain/1 record per line out."""

from __future__ import annotations

import signal
from collections.abc import Sequence

from bulkauth.core.common import psl
from bulkauth.core.common.names import NameError_, parse_domain
from bulkauth.core.domain import SCHEMA, SECTIONS, audit_domain
from bulkauth.dns.resolver import Resolver, drive
from bulkauth.pipeline.config import RunConfig
from bulkauth.pipeline.jobs import Failed, Job, Output, Work, choose_workers, run_job
from bulkauth.pipeline.progress import RunProgress
from bulkauth.pipeline.resume import skip_done
from bulkauth.pipeline.run import Outcome, Record, catch_signals_early, internal_error
from bulkauth.pipeline.sinks import NdjsonSink
from bulkauth.pipeline.sources import Item, count_items, read_domain_list


def _base(item: Item) -> Record:
    return {"schema": SCHEMA, "source": item.source, "line": item.line, "input": item.text}


def invalid_input(item: Item, code: str, message: str) -> Record:
    return {**_base(item), "status": "invalid_input", "error": {"code": code, "message": message}}


async def check_item(item: Item, resolver: Resolver, config: RunConfig) -> Record:
    if item.defect is not None:
        code = "input.too_long" if "longer" in item.defect else "input.not_utf8"
        return invalid_input(item, code, item.defect)
    try:
        domain = parse_domain(item.text)
    except NameError_ as exc:
        return invalid_input(item, exc.code, str(exc))
    sections = await drive(
        audit_domain(domain, config.dmarc_discovery, config.selectors, config.sections or SECTIONS),
        resolver,
    )
    return {**_base(item), "domain": domain, "status": "ok", **sections}


def failed_item(item: Item, exc: BaseException) -> Record:
    return {**_base(item), "status": "error", "error": internal_error(exc)}


def make_work(resolver: Resolver, config: RunConfig) -> tuple[Work, Failed]:
    """The domains job for one process (see bulkauth.pipeline.jobs)."""

    async def work(item: Item) -> Record:
        return await check_item(item, resolver, config)

    return work, failed_item


def run_domains(paths: Sequence[str], config: RunConfig) -> tuple[Outcome, int]:
    """Run the audit; returns the outcome and how many items a resume skipped."""
    catch_signals_early()
    items, skipped = skip_done(
        read_domain_list(paths),
        config,
        lambda item: (item.line, item.text),
        lambda rec: (rec.get("line"), rec.get("input")),
        "input items",
    )
    total = count_items(paths)
    remaining = None if total is None else total - skipped
    progress = RunProgress(remaining, config.progress, SECTIONS)
    sink = NdjsonSink(config.output, append=skipped > 0)

    try:
        result = run_job(
            items,
            Job(make_work, warm=psl.load),
            config,
            Output(sink, progress),
            choose_workers(config.workers, remaining),
        )
    finally:
        sink.close()
        progress.close()
    outcome = result.outcome
    stopped = None
    if outcome.stopped_by is not None:
        stopped = signal.Signals(outcome.stopped_by).name
    progress.summary(result.counters, result.backend, skipped, stopped)
    return outcome, skipped
