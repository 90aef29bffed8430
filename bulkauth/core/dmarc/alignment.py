"""DMARC for one message (RFC 7489 sections 3.1, 4.2 and 6.6): identifier alignment, the result,
and the disposition a receiver would apply. Sans-I/O: the policy discovery, the DKIM results and
the SPF result come in as values.

Alignment compares organisational domains from the Public Suffix List (RFC 7489 3.2) in relaxed
mode and exact names in strict mode. ``pct`` sampling (RFC 7489 6.6.4) is made reproducible: a
message is in the sample when a hash of its Message-ID falls under ``pct``, so that re-running an
audit gives the same dispositions; a message without a Message-ID counts as sampled. ``t=y``
(RFC 9989 testing mode) lowers the disposition one step, as an unsampled message's is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bulkauth.core.common.model import Problem, State
from bulkauth.core.common.psl import org_domain
from bulkauth.core.dmarc.discovery import DmarcDiscovery
from bulkauth.core.dmarc.record import Policy
from bulkauth.core.message.addresses import FromInfo

DmarcResult = Literal["pass", "fail", "none", "temperror", "permerror"]
Mode = Literal["r", "s"]

_LOWER: dict[Policy, Policy] = {"reject": "quarantine", "quarantine": "none", "none": "none"}


def aligned(identifier: str | None, author: str, mode: Mode) -> bool:
    """RFC 7489 3.1: strict needs the same name; relaxed the same organisational domain."""
    if not identifier:
        return False
    a, b = identifier.lower().rstrip("."), author.lower().rstrip(".")
    if mode == "s":
        return a == b
    oa, ob = org_domain(a), org_domain(b)
    return (oa or a) == (ob or b)


@dataclass(slots=True)
class Alignment:
    mode: Mode
    aligned: bool
    #: the authenticated domain that aligns (or, when none does, the first one that passed)
    domain: str | None
    #: every domain this method authenticated (passing DKIM d=, or the SPF-checked domain)
    authenticated: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "aligned": self.aligned,
            "domain": self.domain,
            "authenticated": self.authenticated,
        }


@dataclass(slots=True)
class DmarcVerdict:
    result: DmarcResult
    code: str | None = None
    message: str = ""
    from_domain: str | None = None
    policy_domain: str | None = None
    org_domain: str | None = None
    record: str | None = None
    policy: Policy | None = None
    pct: int | None = None
    testing: bool = False
    sampled: bool | None = None
    disposition: Policy = "none"
    dkim: Alignment | None = None
    spf: Alignment | None = None
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "code": self.code,
            "message": self.message,
            "from_domain": self.from_domain,
            "policy_domain": self.policy_domain,
            "org_domain": self.org_domain,
            "record": self.record,
            "policy": self.policy,
            "pct": self.pct,
            "testing": self.testing,
            "sampled": self.sampled,
            "disposition": self.disposition,
            "alignment": {
                "dkim": self.dkim.to_dict() if self.dkim else None,
                "spf": self.spf.to_dict() if self.spf else None,
            },
            "problems": [p.to_dict() for p in self.problems],
        }


def in_sample(message_id: str | None, pct: int) -> bool | None:
    """Whether a message falls in a ``pct`` sample, reproducibly; None when pct is 100."""
    if pct >= 100:
        return None
    if pct <= 0:
        return False
    if not message_id:
        return True
    bucket = (
        int.from_bytes(
            hashlib.sha256(message_id.strip().encode("utf-8", "replace")).digest()[:4], "big"
        )
        % 100
    )
    return bucket < pct


def evaluate(
    author: FromInfo,
    discovery: DmarcDiscovery | None,
    dkim_passes: Sequence[str],
    spf_result: str | None,
    spf_domain: str | None,
    message_id: str | None = None,
) -> DmarcVerdict:
    """The DMARC result and disposition of one message.

    ``dkim_passes`` are the d= domains of the signatures that passed; ``spf_domain`` is the
    domain check_host() evaluated (the MAIL FROM domain, or the HELO name for a null sender).
    """
    if author.domain is None:
        problem = author.problem or Problem("dmarc.from_syntax", "error", "no author domain")
        return DmarcVerdict("permerror", problem.code, problem.message, problems=[problem])
    v = DmarcVerdict("none", from_domain=author.domain)
    if discovery is None:
        return _end(v, "none", "dmarc.not_checked", "DMARC was not evaluated")
    v.org_domain = discovery.org_domain
    v.policy_domain = discovery.policy_domain
    v.problems = list(discovery.problems)
    if discovery.state is State.INDETERMINATE:
        f = discovery.failure
        where = f"{f.name} {f.rtype} {f.rcode}" if f else "a DNS lookup"
        return _end(v, "temperror", "dmarc.dns_error", f"DMARC policy discovery failed: {where}")
    rec = discovery.record
    if rec is None:
        if discovery.state is State.INVALID:
            first = next((p for p in discovery.problems if p.severity == "error"), None)
            return _end(
                v,
                "permerror",
                first.code if first else "dmarc.invalid_record",
                first.message if first else "the DMARC record cannot be used",
            )
        return _end(v, "none", "dmarc.no_record", f"no DMARC record applies to {author.domain}")
    v.record = rec.text
    v.policy = discovery.policy
    if v.policy is None:
        # RFC 7489 6.6.3: a record without a usable p= (and no rua) is as good as none
        first = next((p for p in discovery.problems if p.severity == "error"), None)
        return _end(
            v,
            "none",
            "dmarc.no_policy",
            "the DMARC record sets no usable policy" + (f": {first.message}" if first else ""),
        )
    v.pct = rec.pct
    v.testing = rec.testing
    passed = [d.lower().rstrip(".") for d in dkim_passes]
    dkim_hit = next((d for d in passed if aligned(d, author.domain, rec.adkim)), None)
    v.dkim = Alignment(
        rec.adkim, dkim_hit is not None, dkim_hit or (passed[0] if passed else None), passed
    )
    spf_ok = spf_result == "pass" and bool(spf_domain)
    spf_aligned = spf_ok and aligned(spf_domain, author.domain, rec.aspf)
    v.spf = Alignment(
        rec.aspf,
        spf_aligned,
        spf_domain if spf_ok else None,
        [spf_domain] if spf_ok and spf_domain else [],
    )
    if v.dkim.aligned or v.spf.aligned:
        how = " and ".join(m for m, a in (("DKIM", v.dkim.aligned), ("SPF", v.spf.aligned)) if a)
        return _end(
            v, "pass", None, f"{how} authenticated an identifier aligned with {author.domain}"
        )
    v.sampled = in_sample(message_id, rec.pct)
    policy: Policy = v.policy or "none"
    if v.sampled is False or rec.testing:
        policy = _LOWER[policy]
    v.disposition = policy
    return _end(
        v,
        "fail",
        "dmarc.not_aligned",
        f"neither DKIM nor SPF authenticated a domain aligned with {author.domain} "
        f"(adkim={rec.adkim}, aspf={rec.aspf})",
    )


def _end(v: DmarcVerdict, result: DmarcResult, code: str | None, message: str) -> DmarcVerdict:
    v.result, v.code, v.message = result, code, message
    return v
