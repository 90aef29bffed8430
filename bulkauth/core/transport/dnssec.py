"""DNSSEC status of a domain's sections (``--dnssec``): the AD bit of each section's answer
from a validating resolver. The answers are the ones the audit already asked for, so the
resolver's cache serves them again."""

from __future__ import annotations

from collections.abc import Collection

from bulkauth.core.common.model import Query, RType
from bulkauth.core.common.step import Step, ask_all


def section_queries(domain: str) -> dict[str, Query]:
    """The answer each section stands on (DKIM has one per selector: none is chosen)."""
    return {
        "spf": Query(domain, RType.TXT),
        "dmarc": Query(f"_dmarc.{domain}", RType.TXT),
        "mx": Query(domain, RType.MX),
        "mta_sts": Query(f"_mta-sts.{domain}", RType.TXT),
        "tls_rpt": Query(f"_smtp._tls.{domain}", RType.TXT),
        "bimi": Query(f"default._bimi.{domain}", RType.TXT),
    }


def dnssec_status(domain: str, sections: Collection[str]) -> Step[dict[str, str | None]]:
    """secure (AD set), insecure (answered without AD) or None (DNS failed) per section."""
    wanted = {s: q for s, q in section_queries(domain).items() if s in sections}
    answers = yield from ask_all(wanted.values())
    return {
        s: None if a.failed else "secure" if a.authentic else "insecure"
        for s, a in zip(wanted, answers, strict=True)
    }
