"""DMARC policy discovery: which record applies to a domain.

Two methods: RFC 7489 6.6.3, falling back to the organisational domain from the Public Suffix
List, and RFC 9989 4.10, the DNS tree walk honouring ``psd=``. Sans-I/O: discovery is a ``Step``
that asks for TXT records and is given the answers (see ``bulkauth.core.common.step``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from bulkauth.core.common.model import Answer, DnsFailure, Problem, Query, RType, State
from bulkauth.core.common.psl import org_domain
from bulkauth.core.common.step import Step, ask_all
from bulkauth.core.dmarc.record import DmarcRecord, Policy, looks_like_dmarc, parse_dmarc

Method: TypeAlias = Literal["psl", "tree"]

#: RFC 9989 4.10: a tree walk never asks more than eight names
MAX_WALK_QUERIES = 8


@dataclass(slots=True)
class _Level:
    """What one ``_dmarc.<name>`` TXT query said."""

    name: str
    answer: Answer
    records: list[DmarcRecord]  # those starting with v=DMARC1
    rejected: list[DmarcRecord]  # tried to be DMARC records but receivers ignore them

    @property
    def single(self) -> DmarcRecord | None:
        return self.records[0] if len(self.records) == 1 else None


def _level(name: str, answer: Answer) -> _Level:
    records: list[DmarcRecord] = []
    rejected: list[DmarcRecord] = []
    if answer.ok:
        for s in answer.txt_strings():
            if not looks_like_dmarc(s):
                continue  # other TXT data at _dmarc (RFC 7489 6.6.3 step 2 discards it)
            rec = parse_dmarc(s)
            (records if rec.is_dmarc else rejected).append(rec)
    return _Level(name, answer, records, rejected)


def tree_walk_targets(domain: str) -> list[str]:
    """The names a RFC 9989 4.10 tree walk asks after ``domain`` itself, nearest first.

    With eight or more labels the walk jumps to seven, so that no walk exceeds eight queries.
    """
    labels = domain.split(".")
    x = len(labels)
    n = MAX_WALK_QUERIES - 1 if x >= MAX_WALK_QUERIES else x - 1
    return [".".join(labels[-k:]) for k in range(n, 0, -1)]


def _one_below(start: str, ancestor: str) -> str:
    """The name one label below ``ancestor`` on the way down to ``start``."""
    labels = start.split(".")
    return ".".join(labels[-(ancestor.count(".") + 2) :])


def _select(found: list[tuple[str, DmarcRecord]], start: str) -> tuple[str, DmarcRecord] | None:
    """The record that applies after a tree walk from ``start`` (RFC 9989 4.10.1 and 4.10.2).

    ``found`` holds the single valid records in walk order (longest name first); the walk
    stopped at the first with psd=y or psd=n. Preference: the organisational domain's record,
    else the public suffix domain's.
    """
    if not found:
        return None
    name, rec = found[-1]
    if rec.psd == "y" and name != start:
        org = _one_below(start, name)
        for n, r in found:
            if n == org:
                return n, r
    # psd=n: that domain is the organisational domain; no psd: the record with fewest labels
    return name, rec


@dataclass(slots=True)
class DmarcDiscovery:
    """Which DMARC record applies to ``domain``, and how it was found."""

    domain: str
    method: Method
    state: State
    policy_domain: str | None = None  # the domain whose record applies
    org_domain: str | None = None
    record: DmarcRecord | None = None
    inherited: bool = False
    policy: Policy | None = None  # for the domain itself (assumed to exist)
    subdomain_policy: Policy | None = None  # for its existing subdomains
    problems: list[Problem] = field(default_factory=list)
    failure: DnsFailure | None = None
    #: every DMARC-looking record at the domain's own _dmarc name, also those receivers
    #: discard (several, v= not first): what a fix must replace
    own_records: list[str] = field(default_factory=list)


def _failed(domain: str, method: Method, level: _Level, org: str | None) -> DmarcDiscovery:
    return DmarcDiscovery(
        domain,
        method,
        State.INDETERMINATE,
        org_domain=org,
        failure=DnsFailure.of(Query(f"_dmarc.{level.name}", RType.TXT), level.answer),
    )


def _multiple(level: _Level) -> Problem:
    return Problem(
        "dmarc.multiple_records",
        "error",
        f"_dmarc.{level.name} has {len(level.records)} DMARC records; receivers discard them all",
    )


def discover_dmarc(domain: str, method: Method = "psl") -> Step[DmarcDiscovery]:
    """Find the DMARC record that applies to ``domain`` (an A-label name).

    ``method="psl"``: RFC 7489 6.6.3, falling back to the organisational domain from the Public
    Suffix List. ``method="tree"``: RFC 9989 4.10, the DNS tree walk honouring ``psd=``. Every
    name is asked in one batch (parents are shared by thousands of domains and come from the
    cache), then the rules pick the record.
    """
    if method not in ("psl", "tree"):
        raise ValueError(f"unknown DMARC discovery method {method!r}")
    d = domain.rstrip(".").lower()
    org = org_domain(d) if method == "psl" else None
    if method == "tree":
        parents = tree_walk_targets(d)
    else:
        parents = [org] if org is not None and org != d else []
    names = [d, *parents]
    answers = yield from ask_all(Query(f"_dmarc.{n}", RType.TXT) for n in names)
    levels = [_level(n, a) for n, a in zip(names, answers, strict=True)]
    if method == "tree":
        return _discover_tree(d, levels)
    return _discover_psl(d, org, levels)


def _own_problems(own: _Level) -> list[Problem]:
    """Problems of the domain's own _dmarc name: several records, or near-miss records."""
    if len(own.records) > 1:
        return [_multiple(own)]
    if own.records:
        return []
    out: list[Problem] = []
    for rec in own.rejected:
        out.extend(p for p in rec.problems if p.severity == "error")
    return out


def _finish(disc: DmarcDiscovery, rec: DmarcRecord | None, where: str | None) -> DmarcDiscovery:
    """Fill in the applied record, its policies and the state."""
    disc.record, disc.policy_domain = rec, where
    if rec is None:
        if not disc.problems:
            disc.problems.append(
                Problem(
                    "dmarc.no_record",
                    "warning",
                    f"no DMARC record applies to {disc.domain}: receivers apply no policy and "
                    f"send no reports",
                )
            )
            disc.state = State.MISSING
        else:
            disc.state = State.INVALID
        return disc
    disc.inherited = where != disc.domain
    if disc.inherited:
        # The domain is a subdomain of where the record lives: sp (else p) applies to it, and
        # to its own subdomains. The record's p=none warning is about the other domain.
        disc.policy = disc.subdomain_policy = rec.subdomain_policy
        disc.problems.extend(p for p in rec.problems if p.code != "dmarc.p_none")
        if rec.declared_subdomain_policy == "none" and rec.policy is not None:
            disc.problems.append(
                Problem(
                    "dmarc.p_none",
                    "warning",
                    f"the policy inherited from {where} for its subdomains is none: "
                    f"monitoring only",
                )
            )
    else:
        disc.policy = rec.policy
        disc.problems.extend(rec.problems)
    disc.state = State.INVALID if any(p.severity == "error" for p in disc.problems) else State.VALID
    return disc


def _discover_psl(d: str, org: str | None, levels: list[_Level]) -> DmarcDiscovery:
    own = levels[0]
    if own.answer.failed:
        return _failed(d, "psl", own, org)
    disc = DmarcDiscovery(d, "psl", State.VALID, org_domain=org, problems=_own_problems(own))
    disc.own_records = [r.text for r in own.records + own.rejected]
    parent = levels[1] if len(levels) > 1 else None
    if own.single is not None:
        rec = own.single
        _finish(disc, rec, d)
        if parent is None:
            disc.subdomain_policy = rec.subdomain_policy
        elif parent.answer.ok and parent.single is not None:
            # a subdomain of a non-organisational domain falls back to the organisational one
            disc.subdomain_policy = parent.single.subdomain_policy
        else:
            disc.subdomain_policy = None
        return disc
    if own.records or parent is None:
        # RFC 7489 6.6.3 step 5: several records end discovery; no org domain to fall back to
        return _finish(disc, None, None)
    if parent.answer.failed:
        return _failed(d, "psl", parent, org)
    if len(parent.records) > 1:
        disc.problems.append(_multiple(parent))
    return _finish(disc, parent.single, parent.name if parent.single else None)


def _walk(levels: list[_Level], problems: list[Problem]) -> list[tuple[str, DmarcRecord]] | _Level:
    """Walk the parents in order; the found records, or the level whose query failed."""
    found: list[tuple[str, DmarcRecord]] = []
    for lvl in levels:
        if lvl.answer.failed:
            return lvl
        if len(lvl.records) > 1:
            problems.append(_multiple(lvl))
            continue
        rec = lvl.single
        if rec is not None:
            found.append((lvl.name, rec))
            if rec.psd in ("y", "n"):
                break
    return found


def _discover_tree(d: str, levels: list[_Level]) -> DmarcDiscovery:
    own, parents = levels[0], levels[1:]
    if own.answer.failed:
        return _failed(d, "tree", own, None)
    disc = DmarcDiscovery(d, "tree", State.VALID, problems=_own_problems(own))
    disc.own_records = [r.text for r in own.records + own.rejected]
    if own.single is not None:
        rec = own.single
        _finish(disc, rec, d)
        # What a subdomain of d would get: the walk from it meets d's record first.
        chain: list[tuple[str, DmarcRecord]] = [(d, rec)]
        if rec.psd not in ("y", "n"):
            walked = _walk(parents, [])
            if isinstance(walked, _Level):
                disc.org_domain, disc.subdomain_policy = None, None
                return disc
            chain.extend(walked)
        child = _select(chain, "*." + d)
        disc.subdomain_policy = child[1].subdomain_policy if child else None
        own_org = _select(chain, d)
        disc.org_domain = own_org[0] if own_org else d
        return disc
    walked = _walk(parents, disc.problems)
    if isinstance(walked, _Level):
        return _failed(d, "tree", walked, None)
    chosen = _select(walked, d)
    if walked and walked[-1][1].psd == "y":
        disc.org_domain = _one_below(d, walked[-1][0])
    elif walked:
        disc.org_domain = walked[-1][0]
    else:
        disc.org_domain = d
    if chosen is None:
        return _finish(disc, None, None)
    return _finish(disc, chosen[1], chosen[0])
