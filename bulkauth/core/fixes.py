"""The record to publish for problems whose remedy needs more than one section to decide:
DMARC (a parked domain goes straight to p=reject), report destinations, DKIM keys to rotate,
a domain with no mail at all (park it), MTA-STS and TLS-RPT for a domain that receives mail.

SPF's fixes are computed by its audit (``spf/fix.py``), which holds the include tree's
answers. Every fix here is applied to a zone and audited again in tests/core/test_fixes.py.
"""

from __future__ import annotations

from collections.abc import Callable

from bulkauth.core.common.model import DnsChange, Fix, Problem, State
from bulkauth.core.dkim.probe import DkimAudit
from bulkauth.core.dmarc.audit import DmarcAudit
from bulkauth.core.dmarc.record import parse_dmarc
from bulkauth.core.mta_sts import MtaStsAudit
from bulkauth.core.mx import MxAudit
from bulkauth.core.spf.audit import SpfAudit
from bulkauth.core.tls_rpt import TlsRptAudit

#: what a DKIM fix asks the user to fill in
NEW_KEY = "<base64 SubjectPublicKeyInfo of your new 2048-bit RSA key>"
ROTATE_CODES = ("dkim.key_too_small", "dkim.key_weak", "dkim.key_revoked")
ENFORCE_NOTE = (
    "when the aggregate reports show your own mail passing with aligned SPF or DKIM, "
    "move to p=quarantine, then p=reject"
)


def _replace(problems: list[Problem], wanted: Callable[[Problem], bool], fix: Fix) -> None:
    """Put `fix` on the problems `wanted` selects."""
    for i, p in enumerate(problems):
        if wanted(p):
            problems[i] = p.fixed_by(fix)


# -- DMARC ---------------------------------------------------------------------------------------


def mended_dmarc(text: str | None, where: str, parked: bool, enforce: bool = False) -> str:
    """A valid DMARC record keeping what `text` says validly; p=none to start (reject for a
    parked domain, quarantine when `enforce`), and a rua to receive the reports."""
    rec = parse_dmarc(text) if text else None
    policy = "reject" if parked else "quarantine" if enforce else (rec.p if rec else None) or "none"
    tags = ["v=DMARC1", f"p={policy}"]
    if rec is not None:
        if "sp" in rec.tags and rec.sp is not None:
            tags.append(f"sp={'reject' if parked else rec.sp}")
        if "pct" in rec.tags and rec.tags["pct"].strip() == str(rec.pct) and rec.pct != 100:
            tags.append(f"pct={rec.pct}")
    rua = [u.uri for u in rec.rua] if rec else []
    if rua or not parked:
        tags.append("rua=" + ",".join(rua or [f"mailto:dmarc-reports@{where}"]))
    if rec is not None:
        if rec.ruf:
            tags.append("ruf=" + ",".join(u.uri for u in rec.ruf))
        for t in ("adkim", "aspf"):
            if rec.tags.get(t, "").strip() in ("r", "s"):
                tags.append(f"{t}={rec.tags[t].strip()}")
    return "; ".join(tags)


def dmarc_fix(dmarc: DmarcAudit, parked: bool, exists: bool | None) -> None:
    """The record to publish for a missing, broken or monitoring-only DMARC record (none for
    a domain that does not exist: there is nothing to protect)."""
    d = dmarc.discovery
    if exists is False:
        return
    if d.state is State.MISSING:
        where = d.org_domain or d.domain
        value = mended_dmarc(None, where, parked)
        why = (
            f"{d.domain} sends no mail, so p=reject costs nothing and stops forged mail."
            if parked
            else f"Start monitoring: receivers send aggregate reports about mail from "
            f"{where} and its subdomains, and apply no policy yet."
        )
        fix = Fix(
            (DnsChange(f"_dmarc.{where}", "TXT", value, None),),
            why,
            None if parked else ENFORCE_NOTE,
        )
        _replace(dmarc.problems, lambda p: p.code == "dmarc.no_record", fix)
        return
    if d.state is State.INVALID:
        if d.own_records:
            where, texts = d.domain, d.own_records
        elif d.record is not None and d.policy_domain is not None:
            where, texts = d.policy_domain, [d.record.text]
        else:
            return
        value = mended_dmarc(texts[0], where, parked)
        changes = [DnsChange(f"_dmarc.{where}", "TXT", value, texts[0])]
        changes += [DnsChange(f"_dmarc.{where}", "TXT", None, t) for t in texts[1:]]
        fix = Fix(
            tuple(changes),
            "Receivers discard a record with errors (and all of them when there are several): "
            "this one record keeps what was valid.",
            None if parked or value.startswith("v=DMARC1; p=reject") else ENFORCE_NOTE,
        )
        _replace(dmarc.problems, lambda p: p.severity == "error", fix)
        return
    rec = d.record
    if d.state is State.VALID and rec is not None and not d.inherited and rec.p == "none":
        value = mended_dmarc(rec.text, d.domain, parked, enforce=True)
        why = (
            f"{d.domain} sends no mail, so p=reject costs nothing and stops forged mail."
            if parked
            else "p=none only watches: once the reports show your own mail aligned, "
            "p=quarantine sends forged mail to spam (then p=reject refuses it)."
        )
        fix = Fix((DnsChange(f"_dmarc.{d.domain}", "TXT", value, rec.text),), why)
        _replace(dmarc.problems, lambda p: p.code == "dmarc.p_none", fix)


def destination_fixes(dmarc: DmarcAudit) -> None:
    """RFC 7489 7.1: an external report destination must say it accepts the domain's reports."""
    policy_domain = dmarc.discovery.policy_domain
    if policy_domain is None:
        return
    for dest in {
        r.domain for r in dmarc.report_destinations if r.external and r.authorized is False
    }:
        name = f"{policy_domain}._report._dmarc.{dest}"
        fix = Fix(
            (DnsChange(name, "TXT", "v=DMARC1", None),),
            f"{dest} must publish this record to accept DMARC reports about {policy_domain} "
            "(RFC 7489 7.1): ask its owner, or send the reports to an address of your own.",
        )
        _replace(dmarc.problems, _unauthorized_at(name), fix)


def _unauthorized_at(name: str) -> Callable[[Problem], bool]:
    return lambda p: p.code == "dmarc.report_unauthorized" and name in p.message


# -- DKIM ----------------------------------------------------------------------------------------


def rotation_selector(selector: str) -> str:
    """The selector to rotate to: named after the old one and the new key's size."""
    return f"{selector}-rsa2048"


def dkim_fixes(domain: str, dkim: DkimAudit) -> None:
    for k in dkim.keys:
        codes = {p.code for p in k.problems} & set(ROTATE_CODES)
        if not codes or k.cname is not None:
            continue  # a key behind a CNAME is its provider's to rotate
        new = rotation_selector(k.selector)
        revoked = "dkim.key_revoked" in codes
        why = (
            f"The key at {k.selector} is revoked and verifies nothing: sign with a new "
            f"2048-bit RSA key at selector {new}, then remove the revoked record."
            if revoked
            else f"Sign with a new 2048-bit RSA key at selector {new} (RFC 8301: keys under "
            "1024 bits are rejected, 2048 is the size to use), then remove the old key."
        )
        fix = Fix(
            (
                DnsChange(f"{new}._domainkey.{domain}", "TXT", f"v=DKIM1; k=rsa; p={NEW_KEY}"),
                DnsChange(f"{k.selector}._domainkey.{domain}", "TXT", None, k.record),
            ),
            why,
            "remove the old record a few days after signing moved to the new key (mail in "
            f"transit still carries the old signature); audit with --selectors {new}",
        )
        _replace(dkim.problems, _about_selector(k.selector), fix)


def _about_selector(selector: str) -> Callable[[Problem], bool]:
    prefix = f"selector {selector}: "
    return lambda p: p.code in ROTATE_CODES and p.message.startswith(prefix)


# -- mail or no mail -----------------------------------------------------------------------------


def park_fix(domain: str, spf: SpfAudit, dmarc: DmarcAudit, mx: MxAudit) -> None:
    """A domain that publishes neither MX nor SPF shows no sign of mail: if that is so, say
    it, so that mail forged in its name fails everywhere. (DKIM is no sign either way: keys
    are found only at the selectors guessed, and a section's fixes must not depend on
    whether --sections audited DKIM.)"""
    if not (mx.state is State.MISSING and mx.domain_exists and spf.state is State.MISSING):
        return
    own = dmarc.discovery.own_records
    fix = Fix(
        (
            DnsChange(domain, "MX", "0 .", None),
            DnsChange(domain, "TXT", "v=spf1 -all", None),
            DnsChange(f"_dmarc.{domain}", "TXT", "v=DMARC1; p=reject", own[0] if own else None),
        ),
        f"If {domain} sends and receives no mail, say so: a null MX (RFC 7505), SPF that "
        "authorises no host and DMARC p=reject make forged mail from it fail everywhere.",
        "if it does receive mail, publish MX records instead",
    )
    _replace(mx.problems, lambda p: p.code == "mx.none", fix)


def transport_fixes(
    domain: str, mx: MxAudit, mta_sts: MtaStsAudit | None, tls_rpt: TlsRptAudit | None
) -> None:
    """Starter MTA-STS and TLS-RPT records for a domain that receives mail without them."""
    if mx.state is not State.VALID or mx.null_mx:
        return
    hosts = [h.host for h in mx.hosts]
    if mta_sts is not None and mta_sts.state is State.MISSING:
        policy = f"https://mta-sts.{domain}/.well-known/mta-sts.txt"
        mta_sts.problems.append(
            Problem(
                "mta_sts.no_record",
                "info",
                "no MTA-STS policy: senders use TLS to the MX only when offered, which an "
                "attacker on the path can strip (RFC 8461)",
                Fix(
                    (DnsChange(f"_mta-sts.{domain}", "TXT", "v=STSv1; id=1", None),),
                    "Tells senders to require TLS with a valid certificate for the MX hosts "
                    "the policy lists.",
                    f"first serve the policy at {policy}: 'version: STSv1', 'mode: testing', "
                    + ", ".join(f"'mx: {h}'" for h in hosts[:5])
                    + ", 'max_age: 604800'; move to 'mode: enforce' when the TLS reports are "
                    "clean, and change id= whenever the policy changes",
                ),
            )
        )
    if tls_rpt is not None and tls_rpt.state is State.MISSING:
        tls_rpt.problems.append(
            Problem(
                "tls_rpt.no_record",
                "info",
                "no TLS-RPT record: senders cannot tell you when TLS delivery to the MX fails "
                "(RFC 8460)",
                Fix(
                    (
                        DnsChange(
                            f"_smtp._tls.{domain}",
                            "TXT",
                            f"v=TLSRPTv1; rua=mailto:tls-reports@{domain}",
                            None,
                        ),
                    ),
                    "Senders mail a daily report of TLS failures to your MX hosts to this address.",
                ),
            )
        )
