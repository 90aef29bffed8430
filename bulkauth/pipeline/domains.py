"""`bulkauth domains`: a domain list in, one bulkauth.domain/1 record per line out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from bulkauth.core.common import psl
from bulkauth.core.common.names import NameError_, parse_domain
from bulkauth.core.domain import SCHEMA, SECTIONS, audit_domain
from bulkauth.dns.resolver import Resolver, drive
from bulkauth.pipeline.command import Source, run_command
from bulkauth.pipeline.config import RunConfig
from bulkauth.pipeline.jobs import Job, Work
from bulkauth.pipeline.pool import Outcome
from bulkauth.pipeline.records import Record, line_records
from bulkauth.pipeline.resume import Resumable
from bulkauth.pipeline.sinks import RecordSink
from bulkauth.pipeline.sources import Item, count_items, read_domain_list

if TYPE_CHECKING:
    from bulkauth.pipeline.probes import Assessed

RECORDS = line_records(SCHEMA, SECTIONS)


async def check_item(
    item: Item, resolver: Resolver, config: RunConfig, probes: Assessed | None = None
) -> Record:
    if item.defect is not None:
        code = "input.too_long" if "longer" in item.defect else "input.not_utf8"
        return RECORDS.invalid_input(item, code, item.defect)
    try:
        domain = parse_domain(item.text)
    except NameError_ as exc:
        return RECORDS.invalid_input(item, exc.code, str(exc))
    sections = await drive(
        audit_domain(domain, config.dmarc_discovery, config.selectors, config.sections or SECTIONS),
        resolver,
    )
    record = {**RECORDS.base(item), "domain": domain, "status": "ok", **sections}
    if probes is not None:
        from bulkauth.pipeline.probes import add_probes

        await add_probes(domain, record, resolver, probes)
    return record


def make_work(resolver: Resolver, config: RunConfig) -> Work:
    """The domains job for one process (see bulkauth.pipeline.jobs)."""

    probes = None
    if config.probe is not None:
        from bulkauth.net.prober import Prober
        from bulkauth.pipeline.probes import Assessed

        probes = Assessed(Prober(config.probe))

    async def work(item: Item) -> Record:
        return await check_item(item, resolver, config, probes)

    return work


def run_domains(
    paths: Sequence[str], config: RunConfig, extra: RecordSink | None = None
) -> Outcome:
    """Audit every domain of the lists (``outcome.skipped``: how many a resume skipped)."""
    if config.probe is not None:
        # one process: the probe cache, per-host bounds and --probe-rate are the run's, and
        # probing waits on the network, not on a core
        config = replace(config, workers=1)
    source = Source(
        lambda: read_domain_list(paths),
        lambda: count_items(paths),
        Resumable(
            lambda item: (item.line, item.text),
            lambda rec: (rec.get("line"), rec.get("input")),
            "input items",
        ),
    )
    return run_command(source, Job(make_work, warm=psl.load), RECORDS, config, extra)
