"""MX audit: hosts and preferences, null MX (RFC 7505), and whether the hosts resolve."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from bulkauth.core.common.model import MX, DnsFailure, Problem, Query, RType, State, state_from
from bulkauth.core.common.step import Step, ask, ask_all

#: hosts whose addresses we look up; a hostile MX set of thousands must not fan out
MAX_HOSTS_RESOLVED = 10


@dataclass(slots=True)
class MxHost:
    preference: int
    host: str
    addresses: list[str] = field(default_factory=list)
    resolves: bool | None = None  # None: not checked or DNS failed
    cname: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "preference": self.preference,
            "host": self.host,
            "addresses": self.addresses,
            "resolves": self.resolves,
            "cname": self.cname,
        }


@dataclass(slots=True)
class MxAudit:
    state: State
    hosts: list[MxHost] = field(default_factory=list)
    null_mx: bool = False
    #: False when the domain itself does not exist (NXDOMAIN), None when DNS could not say
    domain_exists: bool | None = True
    problems: list[Problem] = field(default_factory=list)
    dns_failure: DnsFailure | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "hosts": [h.to_dict() for h in self.hosts],
            "null_mx": self.null_mx,
            "problems": [p.to_dict() for p in self.problems],
            "dns_failure": self.dns_failure.to_dict() if self.dns_failure else None,
        }


def _is_address_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def audit_mx(domain: str) -> Step[MxAudit]:
    q = Query(domain, RType.MX)
    answer = yield from ask(q.name, q.rtype)
    if answer.failed:
        return MxAudit(
            State.INDETERMINATE, domain_exists=None, dns_failure=DnsFailure.of(q, answer)
        )
    if answer.empty:
        problem = Problem(
            "mx.none",
            "info",
            "no MX records: mail is delivered to the domain's own address, if any (RFC 5321 5.1)"
            if not answer.nxdomain
            else "the domain does not exist (NXDOMAIN)",
        )
        return MxAudit(State.MISSING, domain_exists=not answer.nxdomain, problems=[problem])

    records = sorted(answer.mx(), key=lambda m: (m.preference, m.exchange))
    problems: list[Problem] = []
    if any(m.exchange == "" for m in records):
        if len(records) == 1 and records[0].preference == 0:
            return MxAudit(State.VALID, null_mx=True, hosts=[MxHost(0, "")])
        problems.append(
            Problem(
                "mx.null_mixed",
                "error",
                "a null MX ('.') must be the only MX record, with preference 0 (RFC 7505 3)",
            )
        )
    hosts = [MxHost(m.preference, m.exchange) for m in records if m.exchange]
    for h in hosts:
        if _is_address_literal(h.host):
            h.resolves = False
            problems.append(
                Problem(
                    "mx.address_literal", "error", f"MX {h.host} is an address, not a host name"
                )
            )
    hosts_to_check = [h for h in hosts if not _is_address_literal(h.host)][:MAX_HOSTS_RESOLVED]
    if len(hosts) > MAX_HOSTS_RESOLVED:
        problems.append(
            Problem(
                "mx.too_many_hosts",
                "warning",
                f"{len(hosts)} MX hosts; only the first {MAX_HOSTS_RESOLVED} were resolved",
            )
        )
    yield from _resolve_hosts(hosts_to_check, problems)
    checked = [h for h in hosts_to_check if h.resolves is not None]
    if checked and not any(h.resolves for h in checked):
        problems.append(
            Problem(
                "mx.no_host_resolves",
                "error",
                "no MX host has an address: mail cannot be delivered",
            )
        )
    return MxAudit(state_from(problems), hosts=hosts, problems=problems)


def _resolve_hosts(hosts: list[MxHost], problems: list[Problem]) -> Step[None]:
    queries = [Query(h.host, t) for h in hosts for t in (RType.A, RType.AAAA)]
    answers = yield from ask_all(queries)
    for i, h in enumerate(hosts):
        a4, a6 = answers[2 * i], answers[2 * i + 1]
        # no address found while one of the two lookups failed: unknown, not "does not resolve"
        if (a4.failed or a6.failed) and not (a4.addresses() or a6.addresses()):
            failed = a4 if a4.failed else a6
            problems.append(
                Problem(
                    "mx.host_dns_failure",
                    "warning",
                    f"could not resolve MX host {h.host}: {failed.rcode}",
                )
            )
            continue
        h.addresses = a4.addresses() + a6.addresses()
        h.resolves = bool(h.addresses)
        chain = a4.cnames or a6.cnames
        if chain:
            h.cname = chain[-1]
            problems.append(
                Problem(
                    "mx.cname", "warning", f"MX host {h.host} is a CNAME (RFC 2181 10.3 forbids it)"
                )
            )
        if not h.resolves:
            problems.append(
                Problem(
                    "mx.host_unresolvable", "warning", f"MX host {h.host} has no A or AAAA record"
                )
            )


__all__ = ["MX", "MxAudit", "MxHost", "audit_mx"]
