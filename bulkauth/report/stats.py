"""What a report says about a run, counted in one pass over its records (pure: dicts in,
counts out). Memory is bounded by the number of distinct values (codes, policies, key sizes,
destinations), not by the number of records; the per-item table rows are the report's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bulkauth.report.diff import SECTIONS, problems_of

POSTURES = (
    "enforced",
    "monitoring",
    "unprotected",
    "broken",
    "parked",
    "nonexistent",
    "indeterminate",
)
STATES = ("valid", "invalid", "missing", "indeterminate")
#: distinct values kept per counter: beyond this the rest is counted as "(other)"
MAX_DISTINCT = 10_000


class BoundedCounter(Counter[str]):
    """A Counter that folds new keys into "(other)" once it holds MAX_DISTINCT of them."""

    def bump(self, key: str, n: int = 1) -> None:
        if key not in self and len(self) >= MAX_DISTINCT:
            key = "(other)"
        self[key] += n


@dataclass(slots=True)
class DomainStats:
    records: int = 0
    by_status: BoundedCounter = field(default_factory=BoundedCounter)
    posture: BoundedCounter = field(default_factory=BoundedCounter)
    states: dict[str, BoundedCounter] = field(
        default_factory=lambda: {s: BoundedCounter() for s in SECTIONS}
    )
    codes: BoundedCounter = field(default_factory=BoundedCounter)
    code_severity: dict[str, str] = field(default_factory=dict)
    code_example: dict[str, str] = field(default_factory=dict)
    fixable: BoundedCounter = field(default_factory=BoundedCounter)
    dmarc_policy: BoundedCounter = field(default_factory=BoundedCounter)
    spf_lookups: BoundedCounter = field(default_factory=BoundedCounter)
    dkim_keys: BoundedCounter = field(default_factory=BoundedCounter)
    unauthorized: BoundedCounter = field(default_factory=BoundedCounter)

    def add(self, r: dict[str, Any]) -> None:
        self.records += 1
        self.by_status.bump(str(r.get("status")))
        if r.get("status") != "ok":
            return
        posture = r.get("posture") or {}
        self.posture.bump(str(posture.get("verdict") or "not decided"))
        for s in SECTIONS:
            sec = r.get(s)
            self.states[s].bump(sec["state"] if isinstance(sec, dict) else "not audited")
        for p in problems_of(r):
            code = str(p.get("code"))
            self.codes.bump(code)
            self.code_severity.setdefault(code, str(p.get("severity")))
            if code not in self.code_example and len(self.code_example) < MAX_DISTINCT:
                self.code_example[code] = str(p.get("message"))[:300]
            if "fix" in p:
                self.fixable.bump(code)
        dmarc = r.get("dmarc") or {}
        if dmarc:
            self.dmarc_policy.bump(str(dmarc.get("policy") or "no policy"))
            for d in dmarc.get("report_destinations") or ():
                if d.get("external") and d.get("authorized") is False:
                    self.unauthorized.bump(str(d.get("domain")))
        spf = r.get("spf") or {}
        if spf.get("state") in ("valid", "invalid"):
            n = spf.get("lookups")
            self.spf_lookups.bump("11+" if isinstance(n, int) and n > 10 else str(n))
        for k in (r.get("dkim") or {}).get("keys") or ():
            if k.get("revoked"):
                self.dkim_keys.bump("revoked")
            else:
                bits = k.get("key_bits")
                self.dkim_keys.bump(f"{k.get('key_type') or '?'} {bits or '?'}".strip())


@dataclass(slots=True)
class MessageStats:
    records: int = 0
    by_status: BoundedCounter = field(default_factory=BoundedCounter)
    results: dict[str, BoundedCounter] = field(
        default_factory=lambda: {s: BoundedCounter() for s in ("dkim", "spf", "dmarc", "arc")}
    )
    dkim_failures: BoundedCounter = field(default_factory=BoundedCounter)
    key_gone: BoundedCounter = field(default_factory=BoundedCounter)
    key_gone_passed_then: int = 0
    #: signatures verified with a key from the key history (today's key gone or changed)
    saved_by_history: BoundedCounter = field(default_factory=BoundedCounter)
    disposition: dict[str, BoundedCounter] = field(default_factory=dict)
    codes: BoundedCounter = field(default_factory=BoundedCounter)
    code_example: dict[str, str] = field(default_factory=dict)

    def add(self, r: dict[str, Any]) -> None:
        self.records += 1
        self.by_status.bump(str(r.get("status")))
        if r.get("status") != "ok":
            return
        for s, c in self.results.items():
            c.bump(str((r.get(s) or {}).get("result")))
        then = {
            (d.get("d"), d.get("selector")): d.get("result")
            for d in ((r.get("history") or {}).get("dkim") or ())
        }
        for sig in (r.get("dkim") or {}).get("signatures") or ():
            if sig.get("result") != "pass":
                self.dkim_failures.bump(str(sig.get("code") or sig.get("result")))
            if sig.get("key_source") == "history" and sig.get("result") == "pass":
                self.saved_by_history.bump(f"{sig.get('s')}._domainkey.{sig.get('d')}")
            if sig.get("code") in ("dkim.key_not_found", "dkim.key_revoked"):
                self.key_gone.bump(f"{sig.get('s')}._domainkey.{sig.get('d')}")
                if then.get((sig.get("d"), sig.get("s"))) == "pass":
                    self.key_gone_passed_then += 1
        dmarc = r.get("dmarc") or {}
        frm = str(dmarc.get("from_domain") or "(no From domain)")
        if frm not in self.disposition and len(self.disposition) >= MAX_DISTINCT:
            frm = "(other)"
        self.disposition.setdefault(frm, BoundedCounter()).bump(str(dmarc.get("disposition")))
        for p in r.get("problems") or ():
            code = str(p.get("code"))
            self.codes.bump(code)
            self.code_example.setdefault(code, str(p.get("message"))[:300])
