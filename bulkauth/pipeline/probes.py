"""`domains --probe`: the connections after a domain's DNS audit, turned into its MTA-STS
policy, STARTTLS and DANE sections, its DNSSEC statuses (--dnssec) and its transport posture.

Names are resolved by the run's resolver, never the system's; connections go through the
run's Prober (rate, per-host bound, one STARTTLS probe per MX host for the run); every verdict
is made in core.transport.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from bulkauth.core.common.cache import TtlCache
from bulkauth.core.common.model import Problem, Query, RType, State
from bulkauth.core.common.step import ask_all
from bulkauth.core.transport.dane import ask_tlsa, dane_host
from bulkauth.core.transport.dnssec import dnssec_status
from bulkauth.core.transport.mta_sts_policy import PolicyAudit, audit_policy, policy_url
from bulkauth.core.transport.posture import transport_posture
from bulkauth.core.transport.starttls import (
    HostsSection,
    StarttlsHost,
    TlsObservation,
    assess_host,
    dane_section,
    starttls_section,
)
from bulkauth.dns.resolver import Resolver, drive
from bulkauth.net.prober import MAX_CACHED, RUN_TTL, Prober

#: MX hosts probed per domain, by preference (the mx section resolves at most 10)
MAX_PROBED_HOSTS = 5
PROBE_SECTIONS = ("mta_sts_policy", "starttls", "dane")


def _address(addresses: list[str]) -> str | None:
    v4 = [a for a in addresses if ":" not in a]
    return (v4 or addresses)[0] if addresses else None


class Assessed:
    """Each MX host's STARTTLS verdict, made once for the run as its probe is: judging a
    chain costs about as much as the rest of a domain's probe sections together."""

    def __init__(self, prober: Prober) -> None:
        self.prober = prober
        self._done: TtlCache[tuple[str, str, int], tuple[TlsObservation, StarttlsHost]] = TtlCache(
            MAX_CACHED
        )
        self.now = dt.datetime.now(dt.UTC)

    def host(self, host: str, seen: TlsObservation) -> StarttlsHost:
        key = (host, seen.address, seen.port)
        got = self._done.get(key)
        # the same probe (the prober's cached value), not one made again after an eviction
        if got is not None and got[0] is seen:
            return got[1]
        verdict = assess_host(host, seen, self.prober.roots, self.now)
        self._done.put(key, (seen, verdict), RUN_TTL)
        return verdict


async def add_probes(
    domain: str, record: dict[str, Any], resolver: Resolver, assessed: Assessed
) -> None:
    """Fill ``record``'s probe sections (the audit's sections are already in it)."""
    prober = assessed.prober
    o = prober.options
    mx = record.get("mx") or {}
    hosts = [h for h in mx.get("hosts", []) if h.get("host")][:MAX_PROBED_HOSTS]
    want_tls = "starttls" in o.probes or "dane" in o.probes

    async def policy() -> PolicyAudit | None:
        if "mta-sts" not in o.probes:
            return None
        return await _policy(
            domain,
            record,
            [h["host"] for h in mx.get("hosts", []) if h.get("host")],
            resolver,
            prober,
        )

    async def tls() -> list[tuple[str, TlsObservation | None]]:
        if not want_tls:
            return []

        async def one(h: dict[str, Any]) -> tuple[str, TlsObservation | None]:
            address = _address(h.get("addresses") or [])
            if address is None:
                return h["host"], None
            return h["host"], await prober.starttls(h["host"], address)

        return list(await asyncio.gather(*(one(h) for h in hosts)))

    got_policy, seen = await asyncio.gather(policy(), tls())
    starttls: HostsSection | None = None
    dane: HostsSection | None = None
    if want_tls:
        starttls = starttls_section(
            [assessed.host(host, obs) for host, obs in seen if obs is not None]
        )
    if "dane" in o.probes:
        names = [h for h, _ in seen]
        answers = await drive(ask_tlsa(names, o.smtp_port), resolver)
        chains = {h: (obs.chain if obs is not None and obs.chain else None) for h, obs in seen}
        results = [
            dane_host(h, a, chains[h], o.dnssec, o.smtp_port)
            for h, a in zip(names, answers, strict=True)
        ]
        dane = dane_section(
            [r for r in results if r is not None],
            [h for h, r in zip(names, results, strict=True) if r is None],
        )
    if got_policy is not None:
        record["mta_sts_policy"] = got_policy.to_dict()
        if record.get("mta_sts") is not None:
            record["mta_sts"]["policy_fetched"] = got_policy.fetched
    if starttls is not None and "starttls" in o.probes:
        record["starttls"] = starttls.to_dict()
    if dane is not None:
        record["dane"] = dane.to_dict()
    if o.dnssec:
        audited = [s for s, v in record.items() if isinstance(v, dict) and "state" in v]
        for section, status in (await drive(dnssec_status(domain, audited), resolver)).items():
            record[section]["dnssec"] = status
    posture = record.get("posture")
    if posture is not None and o.probes:
        posture["transport"] = transport_posture(got_policy, starttls, dane)
        found = [
            p
            for s in (got_policy, starttls, dane)
            if s is not None
            for p in s.problems
            if p.severity == "warning"
        ]
        posture["warnings"] = sorted({*posture["warnings"], *(p.code for p in found)})


async def _policy(
    domain: str, record: dict[str, Any], mx_hosts: list[str], resolver: Resolver, prober: Prober
) -> PolicyAudit:
    url = policy_url(domain)
    sts = record.get("mta_sts") or {}
    state = sts.get("state")
    audit = PolicyAudit(State.MISSING, url, sts.get("id"))
    if state in (None, State.MISSING.value):
        return audit
    if state == State.INDETERMINATE.value:
        audit.state = State.INDETERMINATE
        return audit
    host = f"mta-sts.{domain}"
    a4, a6 = await drive(ask_all((Query(host, RType.A), Query(host, RType.AAAA))), resolver)
    address = _address(a4.addresses() + a6.addresses())
    if address is None:
        failed = a4.failed or a6.failed
        audit.state = State.INDETERMINATE if failed else State.INVALID
        audit.problems.append(
            Problem(
                "mta_sts_policy.host_dns_failure" if failed else "mta_sts_policy.host_unresolvable",
                "info" if failed else "error",
                f"{host} " + ("could not be resolved" if failed else "has no A or AAAA record"),
            )
        )
        return audit
    fetch = await prober.policy(url, host, address)
    return audit_policy(domain, sts.get("id"), fetch, mx_hosts)
