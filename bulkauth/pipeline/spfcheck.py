"""`bulkauth spf`: RFC 7208 check_host for one (ip, sender, helo), or a file of them."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence

from bulkauth.core.common.step import Step
from bulkauth.core.spf.evaluate import (
    IncludeMemo,
    RecordMemo,
    SpfResult,
    check_mailfrom,
    parse_ip,
)
from bulkauth.dns.resolver import Batch, Resolver, drive, drive_from
from bulkauth.pipeline.command import Source, run_command
from bulkauth.pipeline.config import RunConfig, make_backend
from bulkauth.pipeline.inputs import finish_recording
from bulkauth.pipeline.jobs import Job, Work
from bulkauth.pipeline.pool import Outcome, done_record
from bulkauth.pipeline.records import Record, line_records
from bulkauth.pipeline.sinks import RecordSink
from bulkauth.pipeline.sources import Item, count_items, read_domain_list

SCHEMA = "bulkauth.spf/1"
RECORDS = line_records(SCHEMA)


class BadCheck(ValueError):
    pass


def parse_check_line(text: str) -> tuple[str, str, str]:
    """'IP SENDER [HELO]' -> (ip, sender, helo); raises BadCheck with a reason."""
    parts = text.split()
    if len(parts) not in (2, 3):
        raise BadCheck(f"expected 'IP SENDER [HELO]', got {len(parts)} fields")
    ip, sender = parts[0], parts[1]
    helo = parts[2] if len(parts) == 3 else ""
    try:
        parse_ip(ip.strip("[]"))
    except ValueError:
        raise BadCheck(f"{ip[:60]!r} is not an IP address") from None
    if sender == "<>":  # the null reverse-path: RFC 7208 2.4 checks the HELO identity
        if not helo:
            raise BadCheck("an empty sender (<>) needs a HELO name to check")
        sender = ""
    return ip.strip("[]"), sender, helo


def result_record(ip: str, sender: str, helo: str, result: SpfResult) -> Record:
    d = result.to_dict()
    return {"schema": SCHEMA, "ip": ip, "sender": sender, "helo": helo, **d}


async def check_one(
    resolver: Resolver,
    ip: str,
    sender: str,
    helo: str,
    trace: bool = False,
    memo: IncludeMemo | None = None,
    records: RecordMemo | None = None,
) -> SpfResult:
    step = check_mailfrom(ip, sender, helo, trace=trace, memo=memo, records=records)
    return await drive(step, resolver)


def make_work(resolver: Resolver, config: RunConfig) -> Work:
    """The spf --input job for one process (see bulkauth.pipeline.jobs)."""
    trace = config.spf_trace
    memo = IncludeMemo()
    # checks go to workers by sender domain (run_spf_file's key), so each worker's trees are
    # those of its own senders
    records = RecordMemo()

    def work(item: Item) -> Awaitable[Record]:
        try:
            if item.defect:
                raise BadCheck(item.defect)
            ip, sender, helo = parse_check_line(item.text)
        except BadCheck as exc:
            return done_record(RECORDS.invalid_input(item, "input.bad_check", str(exc)))
        step = check_mailfrom(ip, sender, helo, trace=trace, memo=memo, records=records)
        try:
            batch = next(step)
        except StopIteration as stop:
            # answered from the memos: most checks of a bulk run; no task, no driver
            return done_record(record(item, ip, sender, helo, stop.value))
        return finish(item, ip, sender, helo, step, batch)

    async def finish(
        item: Item, ip: str, sender: str, helo: str, step: Step[SpfResult], batch: Batch
    ) -> Record:
        result = await drive_from(step, batch, resolver)
        return record(item, ip, sender, helo, result)

    return work


def record(item: Item, ip: str, sender: str, helo: str, result: SpfResult) -> Record:
    # the keys of {**RECORDS.base(item), "status": "ok", **result_record(...)}, in that order,
    # in one dict: merging three cost more than the memoised check itself
    return {
        "schema": SCHEMA,
        "source": item.source,
        "line": item.line,
        "input": item.text,
        "status": "ok",
        "ip": ip,
        "sender": sender,
        "helo": helo,
        **result.to_dict(),
    }


def sender_domain(item: Item) -> str:
    """What a check's SPF tree depends on: the MAIL FROM domain (or the HELO name)."""
    parts = item.text.split(maxsplit=2)
    if len(parts) < 2:
        return ""
    domain = parts[1].rpartition("@")[2].strip("<>")
    return (domain or (parts[2] if len(parts) > 2 else "")).lower()


def run_spf_file(
    paths: Sequence[str], config: RunConfig, extra: RecordSink | None = None
) -> Outcome:
    """Check every 'IP SENDER [HELO]' line of the files."""
    source = Source(lambda: read_domain_list(paths), lambda: count_items(paths))
    return run_command(source, Job(make_work, key=sender_domain), RECORDS, config, extra)


async def run_spf_one(
    ip: str, sender: str, helo: str, config: RunConfig
) -> tuple[Record, SpfResult]:
    resolver = Resolver(make_backend(config), config.resolver)
    try:
        result = await check_one(resolver, ip, sender, helo, trace=True)
    finally:
        await resolver.aclose()
    finish_recording(config)
    return result_record(ip, sender, helo, result), result
