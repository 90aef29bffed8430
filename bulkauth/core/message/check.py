"""One stored message, checked end to end: the ``bulkauth.message/1`` record, sans-I/O.

The work is split along what it needs, so that the pipeline can run each part where it is
cheapest:

1. ``plan_message(raw, options, now)``: read the headers (From, envelope, clock, receiver's
   Authentication-Results, the DKIM and ARC key names). Pure parsing.
2. ``lookups(plan, options)``: a ``Step`` that asks DNS for everything at once: the DKIM/ARC keys,
   SPF's check_host() and DMARC policy discovery, side by side.
3. ``verify_crypto(raw, keys, as_of)``: the CPU-bound part, DKIM signatures and the ARC chain.
4. ``finish(plan, looked, signatures, arc)``: alignment, DMARC, comparison with history; the
   record's sections.

``verify_message`` runs all four with an answer function, for tests and tools.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bulkauth.core.arc.dkimpy import verify_arc_dkimpy
from bulkauth.core.arc.result import NO_ARC, ArcResult, ArcVerifier
from bulkauth.core.arc.verify import arc_headers, arc_key_names, verify_arc
from bulkauth.core.common.model import Answer, Problem, Query, RType
from bulkauth.core.common.step import Step, ask_all, parallel, run_sync
from bulkauth.core.dkim.history import KeyHistory
from bulkauth.core.dkim.verify import (
    Crypto,
    KeyRecord,
    KeyTable,
    MessageHashes,
    aggregate,
    dkim_headers,
    dkim_key_names,
    message_parts,
    verify_dkim,
)
from bulkauth.core.dmarc.alignment import evaluate
from bulkauth.core.dmarc.discovery import DmarcDiscovery, Method, discover_dmarc
from bulkauth.core.message.addresses import Envelope, FromInfo, author_domain, envelope_of
from bulkauth.core.message.auth_results import AuthResults, auth_results_fields, receiver_results
from bulkauth.core.message.clock import AsOf, AsOfMode, as_of_time, iso, parse_date
from bulkauth.core.message.headers import Header, HeaderBlock, MessageDefect, parse_header_block
from bulkauth.core.message.history import compare
from bulkauth.core.message.received import received_fields
from bulkauth.core.spf.evaluate import SpfResult, check_mailfrom, mailfrom_identity

SCHEMA = "bulkauth.message/1"
SECTIONS = ("dkim", "spf", "dmarc", "arc")


@dataclass(slots=True)
class CheckOptions:
    as_of: AsOfMode = "received"
    trusted_receiver: str | None = None
    dmarc_discovery: Method = "psl"
    crypto: Crypto = "openssl"
    #: keys selectors published before (--key-history): tried when today's key fails
    key_history: KeyHistory | None = None
    #: DMARC may count a DKIM pass made with a historical key (--dmarc-with-history)
    dmarc_with_history: bool = False
    #: who validates ARC chains: our RFC 8617 validator, or dkimpy's (the reference)
    arc_verifier: ArcVerifier = "bulkauth"


@dataclass(slots=True)
class Plan:
    block: HeaderBlock
    author: FromInfo
    envelope: Envelope
    as_of: AsOf
    results: list[AuthResults]
    receiver: AuthResults | None
    key_names: list[str]
    #: the message needs the CPU-bound verifier (it carries DKIM or ARC fields)
    signed: bool
    message_id: str | None
    date: float | None
    problems: list[Problem] = field(default_factory=list)


def plan_message(raw: bytes, options: CheckOptions, now: float) -> Plan:
    """Read what the message says about itself. Raises MessageDefect for non-messages."""
    block = parse_header_block(raw)
    received = received_fields(block)
    results = auth_results_fields(block)
    receiver = receiver_results(results, options.trusted_receiver)
    env = envelope_of(
        block, received, options.trusted_receiver, [receiver] if receiver else results[:1]
    )
    problems = list(env.problems)
    if block.malformed:
        problems.append(Problem("message.malformed_header", "error", block.malformed))
    signed = bool(dkim_headers(block.headers) or arc_headers(block.headers))
    return Plan(
        block=block,
        author=author_domain(block),
        envelope=env,
        as_of=as_of_time(options.as_of, env.received, block, now, options.trusted_receiver),
        results=results,
        receiver=receiver,
        key_names=key_names(block.headers) if signed else [],
        signed=signed,
        message_id=block.first("Message-ID"),
        date=parse_date(block.first("Date")),
        problems=problems,
    )


def key_names(headers: Sequence[Header]) -> list[str]:
    """Every key name the DKIM signatures and ARC sets of a message need, deduplicated, in
    order: what the pipeline prefetches before verification."""
    return list(dict.fromkeys([*dkim_key_names(headers), *arc_key_names(headers)]))


@dataclass(slots=True)
class SpfCheck:
    """The SPF section: the check's inputs, where they came from, and the result."""

    result: str
    code: str | None
    message: str
    identity: str | None = None  # "mailfrom" or "helo"
    domain: str | None = None
    outcome: SpfResult | None = None

    def to_dict(self, env: Envelope) -> dict[str, Any]:
        o = self.outcome
        return {
            "result": self.result,
            "code": self.code,
            "message": self.message,
            "identity": self.identity,
            "domain": self.domain,
            "mail_from": env.mail_from,
            "helo": env.helo,
            "client_ip": env.client_ip,
            "sources": {
                "mail_from": env.mail_from_source,
                "client_ip": "received" if env.client_ip else None,
                "helo": "received" if env.helo else None,
                "received_index": env.received.index if env.received else None,
            },
            "mechanism": o.mechanism if o else None,
            "explanation": o.explanation if o else "",
            "lookups": o.lookups if o else 0,
            "dns_failure": o.dns_failure.to_dict() if o and o.dns_failure else None,
        }


def _spf_step(plan: Plan) -> tuple[SpfCheck, Step[SpfResult] | None]:
    env = plan.envelope
    missing = []
    if env.client_ip is None:
        missing.append("the client IP (no usable Received field from the receiving system)")
    if env.mail_from is None:
        missing.append("MAIL FROM (no Return-Path)")
    elif env.mail_from == "" and not env.helo:
        missing.append("the HELO name, needed for a null MAIL FROM")
    if missing:
        return SpfCheck(
            "none", "spf.no_envelope", "the archive lacks " + " and ".join(missing)
        ), None
    assert env.client_ip is not None and env.mail_from is not None
    ipaddress.ip_address(env.client_ip)  # parse_received only keeps valid addresses
    helo = env.helo or ""
    domain, _ = mailfrom_identity(env.mail_from, helo)
    identity = "helo" if not env.mail_from.strip("<>") else "mailfrom"
    check = SpfCheck("none", None, "", identity, domain.lower().rstrip("."))
    step = check_mailfrom(
        env.client_ip, env.mail_from, helo, receiver=env.receiver or "unknown", now=plan.as_of.time
    )
    return check, step


@dataclass(slots=True)
class Looked:
    keys: dict[str, KeyRecord]
    spf: SpfCheck
    dmarc: DmarcDiscovery | None


def spf_key(plan: Plan) -> tuple[str, str, str, str] | None:
    """What check_host() depends on for this message, to reuse a result; None if no check."""
    env = plan.envelope
    if env.client_ip is None or env.mail_from is None:
        return None
    return env.client_ip, env.mail_from.lower(), (env.helo or "").lower(), env.receiver or ""


def lookups(
    plan: Plan,
    options: CheckOptions,
    spf_known: SpfResult | None = None,
    dmarc_known: DmarcDiscovery | None = None,
) -> Step[Looked]:
    """Every DNS question the message needs, asked side by side.

    ``spf_known`` / ``dmarc_known`` are results the caller already has for the same inputs (an
    archive holds thousands of messages from one sender); their steps are then skipped.
    """
    spf_check, spf_step = _spf_step(plan)
    if spf_known is not None and spf_step is not None:
        spf_step.close()
        spf_step = None
    dmarc_step = None
    if plan.author.domain is not None and dmarc_known is None:
        dmarc_step = discover_dmarc(plan.author.domain, options.dmarc_discovery)
    steps: list[Step[Any]] = [ask_all(Query(n, RType.TXT) for n in plan.key_names)]
    if spf_step is not None:
        steps.append(spf_step)
    if dmarc_step is not None:
        steps.append(dmarc_step)
    results = yield from parallel(*steps)
    keys = {n: KeyRecord.of(a) for n, a in zip(plan.key_names, results[0], strict=True)}
    pos = 1
    outcome: SpfResult | None = spf_known
    if spf_step is not None:
        outcome = results[pos]
        pos += 1
    if outcome is not None:
        spf_check.outcome = outcome
        spf_check.result = outcome.result.value
        spf_check.domain = outcome.domain or spf_check.domain
        if outcome.problem is not None:
            spf_check.code, spf_check.message = outcome.problem.code, outcome.problem.message
        else:
            spf_check.message = (
                f"matched {outcome.mechanism}" if outcome.mechanism else "no mechanism matched"
            )
    dmarc = results[pos] if dmarc_step is not None else dmarc_known
    return Looked(keys, spf_check, dmarc)


def finish(
    plan: Plan,
    looked: Looked,
    signatures: list[dict[str, Any]],
    arc: dict[str, Any] | None,
    dmarc_with_history: bool = False,
) -> dict[str, Any]:
    """The record's sections (everything but where the message came from)."""
    dkim_result = aggregate(s["result"] for s in signatures)
    live = [s for s in signatures if s["result"] == "pass" and s.get("key_source") != "history"]
    by_history = [s for s in signatures if s["result"] == "pass" and s not in live]
    # a pass with a key from the history proves the key signed, not that DNS vouches for it
    # today: DMARC counts it only when asked to
    counted = live + by_history if dmarc_with_history else live
    passes = [s["d"] for s in counted if s.get("d")]
    spf = looked.spf
    verdict = evaluate(
        plan.author,
        looked.dmarc,
        passes,
        spf.result,
        spf.domain if spf.outcome is not None else None,
        plan.message_id,
    )
    arc_section = arc or ArcResult(message=NO_ARC).to_dict()
    history = compare(
        plan.receiver, signatures, spf.result, verdict.result, arc_section["result"], spf.code
    )
    return {
        "message_id": plan.message_id,
        "date": iso(plan.date),
        "from": plan.author.to_dict(),
        "envelope": plan.envelope.to_dict(),
        "as_of": plan.as_of.to_dict(),
        "dkim": {
            "result": dkim_result,
            # where the pass came from: "dns" when a signature passed with today's key,
            # "history" when only keys from the history verified (null: no pass)
            "pass_source": "dns" if live else "history" if by_history else None,
            "history_passes": len(by_history),
            "signatures": signatures,
        },
        "spf": spf.to_dict(plan.envelope),
        "dmarc": verdict.to_dict(),
        "arc": arc_section,
        "history": history.to_dict() if history else None,
        "problems": [p.to_dict() for p in plan.problems],
    }


def verify_crypto(
    raw: bytes,
    keys: KeyTable,
    as_of: float,
    crypto: Crypto = "openssl",
    arc: bool = True,
    block: HeaderBlock | None = None,
    history: KeyHistory | None = None,
    arc_verifier: ArcVerifier = "bulkauth",
    clock_trusted: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Everything CPU-bound about one message: its DKIM signatures and ARC chain. ``block``:
    the message's header block when the caller has parsed it already; ``clock_trusted``:
    whether ``as_of`` may fail a signature for a future ``t=`` (``AsOf.trusted``). Never raises.
    """
    try:
        block, body = message_parts(raw, block)
    except MessageDefect:
        return [], None  # the caller parsed the same bytes; it reports the defect
    # one body canonicalisation for the DKIM signatures and the AMSs alike
    hashes = MessageHashes(block.headers, body)
    sigs = verify_dkim(
        block.headers,
        body,
        keys,
        as_of,
        crypto,
        block.malformed,
        hashes=hashes,
        history=history,
        clock_trusted=clock_trusted,
    )
    arc_out: dict[str, Any] | None = None
    if arc and arc_verifier == "dkimpy":
        arc_out = verify_arc_dkimpy(raw, block.headers, keys).to_dict()
    elif arc:
        arc_out = verify_arc(
            block.headers, body, keys, as_of, crypto, hashes, block.malformed, clock_trusted
        ).to_dict()
    return [s.to_dict() for s in sigs], arc_out


def verify_message(
    raw: bytes,
    answer: Callable[[Query], Answer],
    options: CheckOptions | None = None,
    now: float = 0.0,
) -> dict[str, Any]:
    """All four parts in one call, DNS answered by ``answer`` (tests, tools). Raises
    MessageDefect for input that is not a message."""
    opts = options or CheckOptions()
    plan = plan_message(raw, opts, now)
    looked = run_sync(lookups(plan, opts), answer)
    sigs, arc = (
        verify_crypto(
            raw,
            looked.keys,
            plan.as_of.time,
            opts.crypto,
            block=plan.block,
            history=opts.key_history,
            arc_verifier=opts.arc_verifier,
            clock_trusted=plan.as_of.trusted,
        )
        if plan.signed
        else ([], None)
    )
    return finish(plan, looked, sigs, arc, opts.dmarc_with_history)
