"""The DMARC section of a domain record: policy discovery, then the report destinations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bulkauth.core.common.model import Problem, State
from bulkauth.core.common.step import Step
from bulkauth.core.dmarc.destinations import ReportDestination, audit_report_destinations
from bulkauth.core.dmarc.discovery import DmarcDiscovery, Method, discover_dmarc


@dataclass(slots=True)
class DmarcAudit:
    discovery: DmarcDiscovery
    report_destinations: list[ReportDestination] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def state(self) -> State:
        return self.discovery.state

    def to_dict(self) -> dict[str, Any]:
        d, rec = self.discovery, self.discovery.record
        return {
            "state": d.state.value,
            "domain": d.policy_domain,
            "org_domain": d.org_domain,
            "record": rec.text if rec else None,
            "inherited": d.inherited,
            "method": d.method,
            "policy": d.policy,
            "subdomain_policy": d.subdomain_policy,
            "pct": rec.pct if rec else None,
            "tags": dict(rec.tags) if rec else {},
            "rua": [u.uri for u in rec.rua] if rec else [],
            "ruf": [u.uri for u in rec.ruf] if rec else [],
            "report_destinations": [r.to_dict() for r in self.report_destinations],
            "problems": [p.to_dict() for p in self.problems],
            "dns_failure": d.failure.to_dict() if d.failure else None,
        }


def audit_dmarc(domain: str, method: Method = "psl") -> Step[DmarcAudit]:
    """The DMARC section of a domain record."""
    disc = yield from discover_dmarc(domain, method)
    if disc.record is None or disc.policy_domain is None:
        return DmarcAudit(disc, [], list(disc.problems))
    dests, problems = yield from audit_report_destinations(disc.policy_domain, disc.record)
    return DmarcAudit(disc, dests, [*disc.problems, *problems])
