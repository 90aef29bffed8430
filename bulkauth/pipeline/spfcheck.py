"""`bulkauth spf`: RFC 7208 check_host for one (ip, sender, helo), or a file of them."""

from __future__ import annotations

from collections.abc import Sequence

from bulkauth.core.spf.evaluate import IncludeMemo, SpfResult, check_mailfrom, parse_ip
from bulkauth.dns.resolver import Resolver, drive
from bulkauth.pipeline.config import RunConfig, make_backend
from bulkauth.pipeline.jobs import Failed, Job, Output, Work, choose_workers, run_job
from bulkauth.pipeline.progress import RunProgress
from bulkauth.pipeline.run import Outcome, Record, catch_signals_early, internal_error
from bulkauth.pipeline.sinks import NdjsonSink
from bulkauth.pipeline.sources import Item, count_items, read_domain_list

SCHEMA = "bulkauth.spf/1"


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
) -> SpfResult:
    return await drive(check_mailfrom(ip, sender, helo, trace=trace, memo=memo), resolver)


def _base(item: Item) -> Record:
    return {"schema": SCHEMA, "source": item.source, "line": item.line, "input": item.text}


def make_work(resolver: Resolver, config: RunConfig) -> tuple[Work, Failed]:
    """The spf --input job for one process (see bulkauth.pipeline.jobs)."""
    trace = config.spf_trace
    memo = IncludeMemo()

    async def work(item: Item) -> Record:
        try:
            if item.defect:
                raise BadCheck(item.defect)
            ip, sender, helo = parse_check_line(item.text)
        except BadCheck as exc:
            error = {"code": "input.bad_check", "message": str(exc)}
            return {**_base(item), "status": "invalid_input", "error": error}
        result = await check_one(resolver, ip, sender, helo, trace, memo)
        return {**_base(item), "status": "ok", **result_record(ip, sender, helo, result)}

    return work, failed


def sender_domain(item: Item) -> str:
    """What a check's SPF tree depends on: the MAIL FROM domain (or the HELO name)."""
    parts = item.text.split(maxsplit=2)
    if len(parts) < 2:
        return ""
    domain = parts[1].rpartition("@")[2].strip("<>")
    return (domain or (parts[2] if len(parts) > 2 else "")).lower()


def failed(item: Item, exc: BaseException) -> Record:
    return {**_base(item), "status": "error", "error": internal_error(exc)}


def run_spf_file(paths: Sequence[str], config: RunConfig) -> Outcome:
    catch_signals_early()
    total = count_items(paths)
    sink = NdjsonSink(config.output)
    progress = RunProgress(total, config.progress, ())

    try:
        result = run_job(
            read_domain_list(paths),
            Job(make_work, key=sender_domain),
            config,
            Output(sink, progress),
            choose_workers(config.workers, total),
        )
    finally:
        sink.close()
        progress.close()
    progress.summary(result.counters, result.backend)
    return result.outcome


async def run_spf_one(
    ip: str, sender: str, helo: str, config: RunConfig
) -> tuple[Record, SpfResult]:
    resolver = Resolver(make_backend(config), config.resolver)
    try:
        result = await check_one(resolver, ip, sender, helo, trace=True)
    finally:
        await resolver.aclose()
    return result_record(ip, sender, helo, result), result
