"""The `bulkauth domains` record for one domain: every section's audit, run side by side,
and the posture summary a warehouse can group by."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from bulkauth.core.bimi import BimiAudit, audit_bimi
from bulkauth.core.common.model import Problem, State
from bulkauth.core.common.psl import org_domain
from bulkauth.core.common.step import Step, parallel
from bulkauth.core.dkim.probe import DkimAudit, audit_dkim, mark_parked
from bulkauth.core.dmarc.audit import DmarcAudit, audit_dmarc
from bulkauth.core.dmarc.discovery import Method
from bulkauth.core.fixes import (
    destination_fixes,
    dkim_fixes,
    dmarc_fix,
    park_fix,
    transport_fixes,
)
from bulkauth.core.mta_sts import audit_mta_sts
from bulkauth.core.mx import MxAudit, audit_mx
from bulkauth.core.spf.audit import SpfAudit, audit_spf
from bulkauth.core.tls_rpt import audit_tls_rpt

SCHEMA = "bulkauth.domain/1"
SECTIONS = ("spf", "dmarc", "dkim", "mx", "mta_sts", "tls_rpt", "bimi")

#: posture values, from the most to the least protected (documented in the schema)
POSTURES = (
    "enforced",
    "monitoring",
    "unprotected",
    "broken",
    "parked",
    "nonexistent",
    "indeterminate",
)


#: the sections the posture is decided from
POSTURE_SECTIONS = ("spf", "dmarc", "dkim", "mx")


def audit_domain(
    domain: str,
    dmarc_discovery: Method = "psl",
    selectors: Sequence[str] = (),
    sections: Collection[str] = SECTIONS,
) -> Step[dict[str, Any]]:
    """The sections of one domain's record (without the input bookkeeping fields).

    ``sections``: which to audit (``--sections``); the others are ``None``, and so is the
    posture unless all of POSTURE_SECTIONS were audited, and ``exists`` without ``mx``.
    """
    audits: dict[str, Callable[[], Step[Any]]] = {
        "spf": lambda: audit_spf(domain),
        "dmarc": lambda: audit_dmarc(domain, dmarc_discovery),
        "dkim": lambda: audit_dkim(domain, selectors),
        "mx": lambda: audit_mx(domain),
        "mta_sts": lambda: audit_mta_sts(domain),
        "tls_rpt": lambda: audit_tls_rpt(domain),
        "bimi": lambda: audit_bimi(domain),
    }
    names = [s for s in SECTIONS if s in sections]
    got: dict[str, Any] = dict(
        zip(names, (yield from parallel(*(audits[n]() for n in names))), strict=True)
    )
    spf, dmarc, dkim, mx = (got.get(s) for s in POSTURE_SECTIONS)
    parked = spf is not None and mx is not None and is_parked(spf, mx)
    if parked and dkim is not None:
        got["dkim"] = dkim = mark_parked(dkim)
    if "bimi" in got:
        got["bimi"] = yield from _bimi_with_fallback(domain, got["bimi"], dmarc)
    _fixes(domain, got, parked)
    return {
        "exists": mx.domain_exists if mx is not None else None,
        "posture": (
            posture(spf, dmarc, dkim, mx, parked)
            if spf is not None and dmarc is not None and dkim is not None and mx is not None
            else None
        ),
        **{s: got[s].to_dict() if s in got else None for s in SECTIONS},
    }


def _fixes(domain: str, got: dict[str, Any], parked: bool) -> None:
    """The record to publish, on each problem that has one (core/fixes.py)."""
    spf, dmarc, dkim, mx = (got.get(s) for s in POSTURE_SECTIONS)
    if dmarc is not None:
        dmarc_fix(dmarc, parked, mx.domain_exists if mx is not None else None)
        destination_fixes(dmarc)
    if dkim is not None:
        dkim_fixes(domain, dkim)
    if spf is not None and dmarc is not None and mx is not None:
        park_fix(domain, spf, dmarc, mx)
    if mx is not None:
        transport_fixes(domain, mx, got.get("mta_sts"), got.get("tls_rpt"))


def is_parked(spf: SpfAudit, mx: MxAudit) -> bool:
    """A domain that neither sends nor receives mail: null MX (RFC 7505), or no MX and SPF -all only."""
    sends_nothing = spf.state is State.VALID and [r.split() for r in spf.records] == [
        ["v=spf1", "-all"]
    ]
    return mx.null_mx or (sends_nothing and mx.state is State.MISSING)


def _bimi_with_fallback(domain: str, bimi: BimiAudit, dmarc: DmarcAudit | None) -> Step[BimiAudit]:
    # BIMI falls back to the organisational domain's record, and needs an enforcing DMARC policy
    # (which is not judged when DMARC was not audited)
    org = org_domain(domain)
    if bimi.state is State.MISSING and org and org != domain:
        bimi = yield from audit_bimi(org)
    if bimi.state is State.VALID and dmarc is not None and not _enforced(dmarc):
        bimi.problems.append(
            Problem(
                "bimi.dmarc_not_enforced",
                "warning",
                "BIMI logos are shown only for domains with DMARC p=quarantine or p=reject at pct=100",
            )
        )
    return bimi


def _enforced(dmarc: DmarcAudit) -> bool:
    d = dmarc.discovery
    pct = d.record.pct if d.record else None
    return d.state is State.VALID and d.policy in ("quarantine", "reject") and (pct or 100) >= 100


def posture(
    spf: SpfAudit, dmarc: DmarcAudit, dkim: DkimAudit, mx: MxAudit, parked: bool
) -> dict[str, Any]:
    """One verdict per domain, with the reasons and every warning code, for group-by queries.

    enforced: DMARC quarantine/reject at 100% with a valid SPF record or a DKIM key;
    monitoring: DMARC p=none or pct<100; unprotected: no DMARC record; broken: an SPF or
    DMARC record with errors, or an enforcing policy that nothing can pass; parked: does not
    send or receive mail; nonexistent: NXDOMAIN; indeterminate: DNS failed for a deciding part.
    """
    reasons: list[str] = []
    warnings = sorted(
        {p.code for s in (spf, dmarc, dkim, mx) for p in s.problems if p.severity == "warning"}
    )
    sender_auth = spf.state is State.VALID or dkim.state is State.VALID
    if mx.domain_exists is False and spf.state is State.MISSING and dmarc.state is not State.VALID:
        verdict = "nonexistent"
        reasons.append("the domain does not exist (NXDOMAIN)")
    elif State.INDETERMINATE in (dmarc.state, spf.state) or mx.state is State.INDETERMINATE:
        verdict = "indeterminate"
        reasons.append(
            "DNS failed for "
            + ", ".join(
                n
                for n, s in (("spf", spf), ("dmarc", dmarc), ("mx", mx))
                if s.state is State.INDETERMINATE
            )
        )
    elif parked:
        verdict = "parked"
        reasons.append(
            "null MX" if mx.null_mx else "no MX and SPF -all: sends and receives no mail"
        )
        if not _enforced(dmarc):
            warnings.append("posture.parked_without_dmarc_reject")
            reasons.append("a parked domain should publish DMARC p=reject against spoofing")
    elif spf.state is State.INVALID or dmarc.state is State.INVALID:
        verdict = "broken"
        reasons += [
            f"{n} record has errors"
            for n, s in (("spf", spf), ("dmarc", dmarc))
            if s.state is State.INVALID
        ]
    elif dmarc.state is State.MISSING:
        verdict = "unprotected"
        reasons.append("no DMARC record: receivers apply no policy to forged mail")
    elif not _enforced(dmarc):
        verdict = "monitoring"
        d = dmarc.discovery
        reasons.append(f"DMARC policy {d.policy} at pct={d.record.pct if d.record else None}")
    elif not sender_auth:
        verdict = "broken"
        reasons.append(
            "DMARC enforces, but no valid SPF record or DKIM key was found: legitimate mail fails"
        )
    else:
        verdict = "enforced"
        reasons.append(
            f"DMARC {dmarc.discovery.policy}"
            + (" with SPF" if spf.state is State.VALID else "")
            + (" and DKIM" if dkim.state is State.VALID else "")
        )
    return {"verdict": verdict, "reasons": reasons, "warnings": warnings}
