"""Auditing a domain's published SPF record, for ``bulkauth domains``.

``audit_spf`` fetches the apex TXT set (and type SPF, only to flag it), then walks the
include/redirect tree the way a receiver would, but without a client address: every term is
counted, also past the limits, because "how many lookups does my record take?" is exactly what
users ask. The tree is fetched breadth-first, one batch of concurrent queries per level, so a
domain costs as many round trips as its tree is deep.

Counting rules (RFC 7208 4.6.4):

* lookups: include, a, mx, ptr, exists and a reachable redirect (a redirect next to ``all`` is
  never used and is not counted); an included record's terms count each time it is included;
* void lookups: a, mx and literal exists targets that answer NXDOMAIN or NODATA, from the point
  of view of an IPv4 client (``a`` asks for A records); targets with sender-dependent macros
  cannot be resolved ahead of a message and are counted as lookups only;
* ``ipv4_addresses`` is the size of the union of what pass-qualified ip4/a/mx terms authorise
  (through pass-qualified includes and redirect), an upper bound that ignores term order.

``spf.string_too_long``: a TXT character-string cannot exceed 255 octets on the wire, so this can
only come from data that was never on the wire (a zone file checked before publishing); it is an
error because such a record cannot be published. Its companion ``spf.string_join`` warns when a
record split into several strings glues two terms together at a string boundary (publishers who
expect the strings to be joined with a space; RFC 7208 3.3 joins them with nothing).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from bulkauth.core.common.model import Answer, DnsFailure, Problem, Query, RType, Severity, State
from bulkauth.core.common.step import Step, ask_all
from bulkauth.core.spf.evaluate import (
    LOOKUP_LIMIT,
    MX_LIMIT,
    VOID_LIMIT,
    query_name,
    select_records,
)
from bulkauth.core.spf.fix import Fixer, Node
from bulkauth.core.spf.macro import MacroString, MacroValues, expand
from bulkauth.core.spf.record import (
    Mechanism,
    SpfRecord,
    SpfSyntaxError,
    clip,
    is_spf_record,
    try_parse_record,
)
from bulkauth.core.spf.terms import check_ip_term, is_public_domain

#: distinct include/redirect domains fetched per audit (a hostile tree cannot run away)
MAX_DOMAINS = 100
#: nodes written out in ``tree`` (repeated includes are written each time)
MAX_RENDERED_NODES = 200
BROAD_IPV4_PREFIX = 16
BROAD_IPV6_PREFIX = 32
BROAD_IPV4_TOTAL = 65536
UDP_LIMIT = 512
_ALL_IPV4 = 1 << 32
_STATIC_VALUES = MacroValues(s="", l="", o="", i="", v="", h="", c="", r="", t="")


@dataclass(slots=True)
class SpfNode:
    """One record in the tree. ``lookups`` / ``void_lookups`` cover this record and its subtree."""

    domain: str
    record: str | None = None
    lookups: int = 0
    void_lookups: int = 0
    problems: list[Problem] = field(default_factory=list)
    #: (the term that pulls the child in, e.g. "include:_spf.example.com", the child)
    children: list[tuple[str, SpfNode]] = field(default_factory=list)
    #: ok, missing (no TXT), no_spf, multiple, syntax, dns_error, dynamic, loop, truncated
    status: str = "ok"
    all_qualifier: str | None = None
    #: pass-authorised IPv4 ranges as half-open [start, end) intervals (merged)
    ipv4: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self, budget: list[int] | None = None) -> dict[str, Any]:
        budget = budget if budget is not None else [MAX_RENDERED_NODES]
        budget[0] -= 1
        d: dict[str, Any] = {
            "domain": self.domain,
            "record": self.record,
            "status": self.status,
            "lookups": self.lookups,
            "void_lookups": self.void_lookups,
            "problems": [p.to_dict() for p in self.problems],
            "children": [],
        }
        for via, child in self.children:
            if budget[0] <= 0:
                d["truncated"] = True
                break
            d["children"].append({"via": clip(via, 300), **child.to_dict(budget)})
        return d


@dataclass(slots=True)
class SpfAudit:
    domain: str
    state: State
    records: list[str] = field(default_factory=list)
    lookups: int = 0
    void_lookups: int = 0
    all_qualifier: str | None = None
    ipv4_addresses: int = 0
    tree: SpfNode | None = None
    problems: list[Problem] = field(default_factory=list)
    dns_failure: DnsFailure | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "records": list(self.records),
            "lookups": self.lookups,
            "void_lookups": self.void_lookups,
            "all_qualifier": self.all_qualifier,
            "ipv4_addresses": self.ipv4_addresses,
            "problems": [p.to_dict() for p in self.problems],
            "dns_failure": self.dns_failure.to_dict() if self.dns_failure else None,
            "tree": self.tree.to_dict() if self.tree else None,
        }


def audit_spf(domain: str) -> Step[SpfAudit]:
    """Audit the SPF record published at ``domain`` (an A-label name, as from parse_domain)."""
    name = domain.rstrip(".").lower()
    txt_q, spf_q = Query(name, RType.TXT), Query(name, RType.SPF)
    txt, spf99 = yield from ask_all((txt_q, spf_q))
    audit = SpfAudit(name, State.VALID)
    if txt.failed:
        audit.state = State.INDETERMINATE
        audit.dns_failure = DnsFailure.of(txt_q, txt)
        return audit
    if spf99.ok and select_records(spf99):
        audit.problems.append(
            Problem(
                "spf.rr_type_99",
                "warning",
                "a record of the deprecated SPF RR type (99) is published; RFC 7208 3.1 retired "
                "it and receivers only read TXT: keep the TXT record, remove the SPF one",
            )
        )
    records = select_records(txt)
    audit.records = records
    if not records:
        audit.state = State.MISSING
        why = "the name does not exist" if txt.nxdomain else "no TXT record starts with v=spf1"
        audit.problems.insert(
            0, Problem("spf.no_record", "info", f"no SPF record at {name}: {why}")
        )
        return audit
    audit.problems.extend(_wire_problems(name, txt))
    if len(records) > 1:
        audit.problems.append(
            Problem(
                "spf.multiple_records",
                "error",
                f"{len(records)} v=spf1 records are published; receivers return permerror (4.5)",
            )
        )
        audit.state = State.INVALID
        return audit
    memo: dict[Query, Answer] = {txt_q: txt}
    truncated = yield from _fetch_tree(name, memo)
    walker = _Walker(memo, is_public_domain(name))
    root = walker.node(name, [])
    audit.tree = root
    audit.lookups = root.lookups
    audit.void_lookups = root.void_lookups
    audit.all_qualifier = walker.effective_all(name, [])
    audit.ipv4_addresses = sum(e - s for s, e in root.ipv4)
    audit.problems.extend(_summary_problems(audit, root, truncated))
    seen: set[tuple[str, str]] = {(p.code, p.message) for p in audit.problems}
    for p in walker.all_problems:
        if (p.code, p.message) not in seen:
            seen.add((p.code, p.message))
            audit.problems.append(p)
    if not walker.failures and root.record is not None:
        _attach_fix(audit, root, walker, memo)
    if any(p.severity == "error" for p in audit.problems):
        audit.state = State.INVALID
    elif walker.failures:
        audit.state = State.INDETERMINATE
        audit.dns_failure = walker.failures[0]
    return audit


#: problems a change to the domain's own record mends (SpfFixer)
FIXABLE = frozenset(
    {
        "spf.too_many_lookups",
        "spf.too_many_void_lookups",
        "spf.plus_all",
        "spf.neutral_all",
        "spf.void_lookup",
        "spf.ip_host_bits",
        "spf.ip_not_public",
    }
)


def _attach_fix(audit: SpfAudit, root: SpfNode, walker: _Walker, memo: dict[Query, Answer]) -> None:
    """The corrected record, on each problem of the domain's own record that it mends (the
    included records' problems are their publishers' to fix)."""
    own = {id(p) for p in root.problems}
    summary = (
        "spf.too_many_lookups",
        "spf.too_many_void_lookups",
        "spf.plus_all",
        "spf.neutral_all",
    )
    targets = [
        i
        for i, p in enumerate(audit.problems)
        if p.code in FIXABLE and (id(p) in own or p.code in summary)
    ]
    if not targets or root.record is None:
        return
    nodes = {d: Node(n.record, n.status, n.lookups, n.void_lookups) for d, n in walker.done.items()}
    fix = Fixer(root.domain, nodes, memo.get, walker.public).fix(root.record)
    for i in targets:
        audit.problems[i] = audit.problems[i].fixed_by(fix)


def _summary_problems(audit: SpfAudit, root: SpfNode, truncated: bool) -> list[Problem]:
    out: list[Problem] = []
    at_least = "at least " if truncated else ""
    if truncated:
        out.append(
            Problem(
                "spf.tree_truncated",
                "warning",
                f"the include tree reaches more than {MAX_DOMAINS} domains; "
                "counts are lower bounds",
            )
        )
    if root.lookups > LOOKUP_LIMIT:
        out.append(
            Problem(
                "spf.too_many_lookups",
                "error",
                f"the record takes {at_least}{root.lookups} DNS lookups; receivers stop at "
                f"{LOOKUP_LIMIT} with permerror (RFC 7208 4.6.4)",
            )
        )
    if root.void_lookups > VOID_LIMIT:
        out.append(
            Problem(
                "spf.too_many_void_lookups",
                "error",
                f"{root.void_lookups} lookups return no records; receivers allow {VOID_LIMIT} "
                "and then return permerror (RFC 7208 4.6.4)",
            )
        )
    q = audit.all_qualifier
    if q == "+":
        out.append(
            Problem("spf.plus_all", "warning", "the record ends in +all: every host may send")
        )
    elif q == "?":
        out.append(
            Problem(
                "spf.neutral_all", "warning", "the record ends in ?all: unlisted hosts get neutral"
            )
        )
    elif q is None and root.status == "ok":
        out.append(
            Problem(
                "spf.no_all",
                "warning",
                "the record has neither 'all' nor a usable redirect: unlisted hosts get neutral",
            )
        )
    if audit.ipv4_addresses > BROAD_IPV4_TOTAL:
        out.append(
            Problem(
                "spf.broad_range",
                "warning",
                f"the record authorises {audit.ipv4_addresses} IPv4 addresses",
            )
        )
    return out


# -- fetching -----------------------------------------------------------------------------------


def _is_static(ms: MacroString | None) -> bool:
    """True when the term's target does not depend on the message (no macros but %{d})."""
    return ms is None or ms.literal is not None or ms.letters <= {"d"}


def _static_target(ms: MacroString | None, domain: str) -> str | None:
    """The name a term queries when it does not depend on the message; None if it does
    (or when the name is malformed: see _invalid_target)."""
    if ms is None:
        return domain
    if ms.literal is not None:
        return query_name(ms.literal)
    if ms.letters <= {"d"}:
        return query_name(expand(ms, _STATIC_VALUES, domain))
    return None


def _record_of(answer: Answer | None) -> SpfRecord | None:
    if answer is None or answer.failed:
        return None
    records = select_records(answer)
    if len(records) != 1:
        return None
    parsed = try_parse_record(records[0])
    return None if isinstance(parsed, SpfSyntaxError) else parsed


def _fetch_tree(root: str, memo: dict[Query, Answer]) -> Step[bool]:
    """Fetch every record, a/mx target and MX host the tree needs, level by level.

    Returns True when the MAX_DOMAINS cap stopped the walk.
    """
    domains = {root}
    new_records: list[tuple[str, SpfRecord]] = []
    rec = _record_of(memo[Query(root, RType.TXT)])
    if rec is not None:
        new_records.append((root, rec))
    mx_queries: list[Query] = []
    truncated = False
    while new_records or mx_queries:
        wanted: dict[Query, None] = {}
        txt_domains: list[str] = []
        for q in mx_queries:
            for mx in memo[q].mx() if len(memo[q].records) <= MX_LIMIT else []:
                if mx.exchange:
                    wanted[Query(mx.exchange, RType.A)] = None
        for dom, rec in new_records:
            targets: list[tuple[str, MacroString | None]] = [
                (m.kind, m.domain)
                for m in rec.mechanisms
                if m.kind in ("include", "a", "mx", "exists")
            ]
            if rec.redirect is not None and not rec.has_all:
                targets.append(("redirect", rec.redirect.value))
            for kind, ms in targets:
                t = _static_target(ms, dom)
                if t is None:
                    continue
                if kind in ("include", "redirect"):
                    if t in domains:
                        continue
                    if len(domains) >= MAX_DOMAINS:
                        truncated = True
                        continue
                    domains.add(t)
                    txt_domains.append(t)
                    wanted[Query(t, RType.TXT)] = None
                elif kind == "mx":
                    wanted[Query(t, RType.MX)] = None
                else:
                    wanted[Query(t, RType.A)] = None
        batch = [q for q in wanted if q not in memo]
        answers = yield from ask_all(batch)
        memo.update(zip(batch, answers, strict=True))
        mx_queries = [q for q in batch if q.rtype is RType.MX]
        new_records = []
        for t in txt_domains:
            rec = _record_of(memo[Query(t, RType.TXT)])
            if rec is not None:
                new_records.append((t, rec))
    return truncated


# -- walking ------------------------------------------------------------------------------------


class _Walker:
    """Builds the tree from fetched answers; each domain's subtree is computed once."""

    def __init__(self, memo: dict[Query, Answer], public: bool = True) -> None:
        self.memo = memo
        #: a public domain's record: private and documentation ranges are flagged too
        self.public = public
        self.done: dict[str, SpfNode] = {}
        self.all_problems: list[Problem] = []
        self.failures: list[DnsFailure] = []

    def node(self, domain: str, stack: list[str]) -> SpfNode:
        cached = self.done.get(domain)
        if cached is not None:
            return cached
        node = self._build(domain, stack)
        self.done[domain] = node
        return node

    def _problem(self, node: SpfNode, code: str, severity: Severity, message: str) -> None:
        p = Problem(code, severity, clip(message, 500))
        node.problems.append(p)
        self.all_problems.append(p)

    def _build(self, domain: str, stack: list[str]) -> SpfNode:
        node = SpfNode(domain)
        q = Query(domain, RType.TXT)
        ans = self.memo.get(q)
        if ans is None:
            node.status = "truncated"
            return node
        if ans.failed:
            node.status = "dns_error"
            self.failures.append(DnsFailure.of(q, ans))
            return node
        records = select_records(ans)
        if not records:
            node.status = "missing" if not ans.records else "no_spf"
            return node
        if stack:  # the apex answer was already looked at by audit_spf
            for p in _wire_problems(domain, ans):
                node.problems.append(p)
                self.all_problems.append(p)
        if len(records) > 1:
            node.status = "multiple"
            self._problem(
                node,
                "spf.multiple_records",
                "error",
                f"{domain} publishes {len(records)} v=spf1 records; receivers return permerror",
            )
            return node
        node.record = records[0]
        parsed = try_parse_record(records[0])
        if isinstance(parsed, SpfSyntaxError):
            node.status = "syntax"
            self._problem(node, "spf.syntax", "error", f"{domain}: {parsed} [{parsed.code}]")
            return node
        self._walk_record(node, parsed, [*stack, domain])
        return node

    def _walk_record(self, node: SpfNode, rec: SpfRecord, stack: list[str]) -> None:
        domain = node.domain
        lookups = rec.lookup_terms
        voids = 0
        ranges: list[tuple[int, int]] = []
        for m in rec.mechanisms:
            passes = m.qualifier == "+"
            kind = m.kind
            for f in check_ip_term(m, self.public):
                self._problem(node, f.code, "warning", f"{domain}: {f.message}")
            if kind == "all":
                if node.all_qualifier is None:
                    node.all_qualifier = m.qualifier
                if passes:
                    ranges.append((0, _ALL_IPV4))
                    if len(stack) > 1:
                        self._problem(
                            node,
                            "spf.plus_all",
                            "warning",
                            f"{domain} ends in +all: including it authorises every host",
                        )
            elif kind == "ip4":
                if m.prefix < BROAD_IPV4_PREFIX and passes:
                    self._broad(node, m, 1 << (32 - m.prefix))
                if passes:
                    ranges.append((m.network, m.network + (1 << (32 - m.prefix))))
            elif kind == "ip6":
                if m.prefix < BROAD_IPV6_PREFIX and passes:
                    self._broad(node, m, None)
            elif kind == "ptr":
                self._problem(
                    node,
                    "spf.ptr",
                    "warning",
                    f"{domain}: {m.text!r}: RFC 7208 5.5 says ptr SHOULD NOT be used "
                    "(slow, unreliable, heavy on the reverse DNS servers)",
                )
            elif kind in ("a", "mx", "exists"):
                v, r = self._address_term(node, m)
                voids += v
                if passes:
                    ranges.extend(r)
            elif kind == "include":
                child = self._child(node, m.domain, m.text, stack, "include")
                if child is not None:
                    lookups += child.lookups
                    voids += child.void_lookups
                    if passes:
                        ranges.extend(child.ipv4)
        for mod in rec.unknown_modifiers:
            self._problem(
                node,
                "spf.unknown_modifier",
                "warning",
                f"{domain}: unknown modifier {mod.text!r} is ignored by receivers",
            )
        if rec.redirect is not None:
            if rec.has_all:
                self._problem(
                    node,
                    "spf.redirect_with_all",
                    "warning",
                    f"{domain}: {rec.redirect.text!r} is never used because the record has 'all'",
                )
            else:
                child = self._child(node, rec.redirect.value, rec.redirect.text, stack, "redirect")
                if child is not None:
                    lookups += child.lookups
                    voids += child.void_lookups
                    ranges.extend(child.ipv4)
        node.lookups = lookups
        node.void_lookups = voids
        node.ipv4 = _merge(ranges)

    def _invalid_target(self, node: SpfNode, term: str) -> None:
        # RFC 7208 leaves it undefined (rfc7208-tests "invalid-domain-empty-label"): some
        # receivers treat the term as no match, others return permerror. Either way it is
        # a broken record, so the audit calls it an error.
        self._problem(
            node,
            "spf.invalid_target",
            "error",
            f"{node.domain}: {clip(term, 300)!r} names no valid domain (an empty or over-long "
            "label); receivers disagree whether that is permerror or no match",
        )

    def _broad(self, node: SpfNode, m: Mechanism, count: int | None) -> None:
        size = f" ({count} addresses)" if count is not None else ""
        self._problem(
            node,
            "spf.broad_range",
            "warning",
            f"{node.domain}: {m.text!r} authorises a very large range{size}",
        )

    def _address_term(self, node: SpfNode, m: Mechanism) -> tuple[int, list[tuple[int, int]]]:
        """Void count and authorised ranges of one a / mx / exists term (IPv4 view)."""
        if m.kind == "exists" and m.domain is None:
            return 0, []
        target = _static_target(m.domain, node.domain)
        if target is None:
            if _is_static(m.domain):
                self._invalid_target(node, m.text)
            return 0, []
        rtype = RType.MX if m.kind == "mx" else RType.A
        q = Query(target, rtype)
        ans = self.memo.get(q)
        if ans is None:
            return 0, []
        if ans.failed:
            self.failures.append(DnsFailure.of(q, ans))
            self._problem(
                node,
                "spf.lookup_temperror",
                "warning",
                f"{node.domain}: {m.text!r}: {target} {rtype.name} lookup failed "
                f"({ans.rcode.value}); "
                "receivers would return temperror",
            )
            return 0, []
        if not ans.records:
            self._problem(
                node,
                "spf.void_lookup",
                "warning",
                f"{node.domain}: {m.text!r}: {target} has no {rtype.name} records (a void lookup)",
            )
            return 1, []
        if m.kind == "exists":
            return 0, []
        if m.kind == "a":
            return 0, _cidr_ranges(ans.addresses(), m.cidr4)
        mxs = ans.mx()
        if len(mxs) > MX_LIMIT:
            self._problem(
                node,
                "spf.too_many_mx",
                "error",
                f"{node.domain}: {m.text!r}: {target} has {len(mxs)} MX records; receivers "
                f"return permerror above {MX_LIMIT}",
            )
            return 0, []
        ranges: list[tuple[int, int]] = []
        for mx in mxs:
            a = self.memo.get(Query(mx.exchange, RType.A)) if mx.exchange else None
            if a is not None and a.ok:
                ranges.extend(_cidr_ranges(a.addresses(), m.cidr4))
        if m.cidr4 < BROAD_IPV4_PREFIX and m.qualifier == "+":
            self._broad(node, m, None)
        return 0, ranges

    def _child(
        self, node: SpfNode, ms: MacroString | None, via: str, stack: list[str], kind: str
    ) -> SpfNode | None:
        target = _static_target(ms, node.domain)
        if target is None and _is_static(ms):
            self._invalid_target(node, via)
            return None
        if target is None:
            child = SpfNode(clip(ms.text if ms else "", 300), status="dynamic")
            child.problems.append(
                Problem(
                    "spf.dynamic_target",
                    "info",
                    f"{clip(via, 300)}: the target depends on the message (macros); not followed",
                )
            )
            node.children.append((via, child))
            return None
        if target in stack:
            loop = SpfNode(target, status="loop")
            self._problem(
                node,
                "spf.loop",
                "error",
                f"{node.domain}: {via} loops back to {target}; receivers return permerror",
            )
            node.children.append((via, loop))
            return None
        child = self.node(target, stack)
        node.children.append((via, child))
        status = child.status
        if status == "missing":
            code = "spf.include_missing" if kind == "include" else "spf.redirect_missing"
            self._problem(
                node,
                code,
                "error",
                f"{node.domain}: {via}: {target} has no TXT record (receivers return permerror)",
            )
        elif status == "no_spf":
            code = "spf.include_no_spf" if kind == "include" else "spf.redirect_missing"
            self._problem(
                node,
                code,
                "error",
                f"{node.domain}: {via}: {target} has no v=spf1 record (receivers return permerror)",
            )
        elif status == "dns_error":
            ans = self.memo[Query(target, RType.TXT)]
            self._problem(
                node,
                "spf.include_temperror",
                "warning",
                f"{node.domain}: {via}: the TXT lookup of {target} failed ({ans.rcode.value}); "
                "receivers would return temperror",
            )
        return child

    def effective_all(self, domain: str, seen: list[str]) -> str | None:
        """The qualifier of the ``all`` that ends evaluation: the record's, or its redirect's."""
        node = self.done.get(domain)
        if node is None or node.status != "ok" or domain in seen:
            return None
        if node.all_qualifier is not None:
            return node.all_qualifier
        for via, child in node.children:
            if via.lower().startswith("redirect="):
                return self.effective_all(child.domain, [*seen, domain])
        return None


def _cidr_ranges(addresses: list[str], prefix: int) -> list[tuple[int, int]]:
    out = []
    size = 1 << (32 - prefix)
    for text in addresses:
        parts = text.split(".")
        if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 for p in parts):
            continue
        n = (int(parts[0]) << 24) | (int(parts[1]) << 16) | (int(parts[2]) << 8) | int(parts[3])
        start = n & ~(size - 1) & 0xFFFFFFFF
        out.append((start, start + size))
    return out


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if not ranges:
        return []
    ranges = sorted(ranges)
    out = [ranges[0]]
    for s, e in ranges[1:]:
        ls, le = out[-1]
        if s <= le:
            if e > le:
                out[-1] = (ls, e)
        else:
            out.append((s, e))
    return out


def _wire_problems(name: str, ans: Answer) -> list[Problem]:
    """Problems of the TXT answer itself: string sizes, glued terms, UDP size."""
    out: list[Problem] = []
    qname = sum(len(label.encode("utf-8", "surrogateescape")) + 1 for label in name.split(".")) + 1
    size = 12 + qname + 4
    for rec in ans.records:
        if not isinstance(rec, tuple):
            continue
        size += 2 + 10 + sum(1 + len(s) for s in rec)
        if not is_spf_record(b"".join(rec).decode("utf-8", "replace")):
            continue
        for s in rec:
            if len(s) > 255:
                out.append(
                    Problem(
                        "spf.string_too_long",
                        "error",
                        f"{name}: a TXT string of {len(s)} octets; the limit is 255, split the "
                        "record into several strings",
                    )
                )
        for left, right in itertools.pairwise(rec):
            glued = _glued_terms(left, right)
            if glued is not None:
                out.append(
                    Problem(
                        "spf.string_join",
                        "warning",
                        f"{name}: the record's strings are joined without a space (RFC 7208 "
                        f"3.3), which turns {glued[0]!r} and {glued[1]!r} into one term; end "
                        "the first string with a space",
                    )
                )
    if size > UDP_LIMIT:
        out.append(
            Problem(
                "spf.udp_too_large",
                "warning",
                f"{name}: the TXT answer is about {size} bytes, over the {UDP_LIMIT}-byte UDP "
                "limit; receivers without EDNS must retry over TCP, some fail",
            )
        )
    return out


def _glued_terms(left: bytes, right: bytes) -> tuple[str, str] | None:
    """Two complete terms that the string boundary glues together, if that is what happened.

    Splitting a record anywhere is legal (even inside a term); it is a mistake only when both
    sides of the boundary are whole terms on their own, so the author expected a separator.
    """
    if not left or not right or left.endswith(b" ") or right.startswith(b" "):
        return None
    head = left.rsplit(b" ", 1)[-1].decode("ascii", "replace")
    tail = right.split(b" ", 1)[0].decode("ascii", "replace")
    if head.lower() == "v=spf1" or not _is_term(head) or not _is_term(tail):
        return None
    return clip(head, 100), clip(tail, 100)


def _is_term(text: str) -> bool:
    return not isinstance(try_parse_record("v=spf1 " + text), SpfSyntaxError)
