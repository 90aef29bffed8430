"""The transport part of a domain's posture: how well mail *to* the domain is protected in
transit, from the probe sections (the DNS-only verdict is about spoofing, not transport)."""

from __future__ import annotations

from typing import Any

from bulkauth.core.common.model import State
from bulkauth.core.transport.mta_sts_policy import PolicyAudit
from bulkauth.core.transport.starttls import HostsSection

#: from the best protected to the least (documented in the schema)
TRANSPORTS = (
    "dane",
    "mta_sts",
    "opportunistic",
    "plaintext",
    "broken",
    "no_mx",
    "indeterminate",
)


def transport_posture(
    policy: PolicyAudit | None, starttls: HostsSection | None, dane: HostsSection | None
) -> dict[str, Any]:
    """dane: every TLSA-publishing MX matched, DNSSEC-validated; mta_sts: an enforced policy
    over working STARTTLS; opportunistic: STARTTLS works, nothing makes senders insist;
    plaintext: no MX offers STARTTLS; broken: a mechanism that makes senders refuse or defer
    mail (DANE mismatch, enforced policy not served or not matching, a bad certificate);
    no_mx: nothing to deliver to; indeterminate: no MX could be reached."""
    reasons: list[str] = []
    enforce = policy is not None and policy.policy is not None and policy.policy.mode == "enforce"
    if dane is not None and dane.state is State.INVALID:
        level = "broken"
        reasons.append("DANE: " + "; ".join(p.code for p in dane.problems if p.severity == "error"))
    elif policy is not None and policy.state is State.INVALID:
        level = "broken"
        reasons.append(
            "MTA-STS policy: " + ", ".join(p.code for p in policy.problems if p.severity == "error")
        )
    elif starttls is not None and starttls.state is State.INVALID:
        offered = any(h.starttls for h in starttls.hosts)
        level = "broken" if offered else "plaintext"
        reasons.append(
            "STARTTLS: " + ", ".join(p.code for p in starttls.problems if p.severity == "error")
        )
    elif (
        dane is not None
        and dane.state is State.VALID
        and all(h.dnssec == "secure" for h in dane.hosts)
    ):
        level = "dane"
        reasons.append("every MX with TLSA records matched them, DNSSEC-validated")
    elif enforce and (starttls is None or starttls.state is State.VALID):
        level = "mta_sts"
        reasons.append("MTA-STS policy in enforce mode")
        if dane is not None and dane.state is State.VALID:
            reasons.append("TLSA records matched too; their DNSSEC status was not asked (--dnssec)")
    elif starttls is not None and starttls.state is State.VALID:
        level = "opportunistic"
        reasons.append("STARTTLS with a valid certificate, but no policy makes senders insist")
    elif starttls is not None and starttls.state is State.MISSING:
        level = "no_mx"
        reasons.append("no MX host to probe")
    else:
        level = "indeterminate"
        reasons.append("no MX host could be reached" if starttls is not None else "not probed")
    return {"level": level, "reasons": reasons}
