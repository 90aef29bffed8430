"""RFC 7208 ``check_host()``: the SPF evaluator, sans-I/O.

``check_host`` is a generator over ``bulkauth.core.common.step``: it yields DNS questions and is sent
the answers, so the same code runs under the async resolver and under a dict in tests. Inside,
permerror and temperror travel as private exceptions (they end the whole check, from any depth of
include); the public result is always a value, ``SpfResult``.

Choices where RFC 7208 leaves room (each one is what the openspf suite prefers or accepts):

* a target name that cannot be queried after expansion (an empty label, a label over 63 octets)
  is treated as non-existent: the mechanism does not match and no query is sent (4.8, 5/10);
* a lookup that returns no records (NXDOMAIN or NODATA) for a, mx or exists is a void lookup;
  the third one ends the check with permerror (4.6.4). The client's missing reverse DNS is not
  counted for ptr: the domain owner cannot control it (the suite's ptr-limit reasoning);
* an include or redirect back to a domain already being evaluated is permerror at once
  (``spf.loop``): it could only end in the lookup limit;
* for mx, a failed address lookup is temperror unless another exchange already matched;
* ``%{i}`` of an IPv6 address is lower-case dotted nibbles, as in the RFC 7208 7.4 example;
* without exp= (or when it cannot be used) the explanation is the empty string.
"""

from __future__ import annotations

import enum
import ipaddress
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from bulkauth.core.common.cache import TtlCache
from bulkauth.core.common.model import Answer, DnsFailure, Problem, Query, Rcode, Rdata, RType
from bulkauth.core.common.step import Step, ask, ask_all
from bulkauth.core.spf.macro import MacroString, MacroValues, expand
from bulkauth.core.spf.record import (
    Mechanism,
    Modifier,
    SpfRecord,
    SpfSyntaxError,
    clip,
    is_spf_record,
    is_toplabel,
    parse_explanation,
    parse_record,
    try_parse_record,
)

__all__ = [
    "LOOKUP_LIMIT",
    "MX_LIMIT",
    "PTR_LIMIT",
    "VOID_LIMIT",
    "IncludeMemo",
    "Mechanism",
    "Modifier",
    "RecordMemo",
    "SpfRecord",
    "SpfResult",
    "SpfSyntaxError",
    "Verdict",
    "check_host",
    "check_mailfrom",
    "is_spf_record",
    "mailfrom_identity",
    "parse_record",
    "query_name",
    "select_records",
    "try_parse_record",
]

LOOKUP_LIMIT = 10  # terms that query DNS (4.6.4)
VOID_LIMIT = 2  # lookups answered NXDOMAIN / NODATA (4.6.4)
MX_LIMIT = 10  # MX names per mx mechanism (4.6.4)
PTR_LIMIT = 10  # PTR names looked at per ptr mechanism / %{p} (4.6.4)
_TRACE_LIMIT = 400
_EXPLANATION_LIMIT = 2000


class Verdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


_QUALIFIER = {"+": Verdict.PASS, "-": Verdict.FAIL, "~": Verdict.SOFTFAIL, "?": Verdict.NEUTRAL}


@dataclass(slots=True)
class SpfResult:
    """The outcome of one check_host(). ``problem`` is set for permerror, temperror and none."""

    result: Verdict
    domain: str
    explanation: str = ""
    mechanism: str | None = None
    problem: Problem | None = None
    dns_failure: DnsFailure | None = None
    #: for a syntax permerror: the precise code, the offending term and the domain publishing it
    syntax: SpfSyntaxError | None = None
    syntax_domain: str = ""
    lookups: int = 0
    void_lookups: int = 0
    #: the terms evaluated, one line each; None when the check was run without a trace
    trace: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "result": self.result.value,
            "domain": self.domain,
            "explanation": self.explanation,
            "mechanism": self.mechanism,
            "problem": self.problem.to_dict() if self.problem else None,
            "lookups": self.lookups,
            "void_lookups": self.void_lookups,
        }
        if self.trace is not None:
            d["trace"] = list(self.trace)
        if self.dns_failure is not None:
            d["dns_failure"] = self.dns_failure.to_dict()
        if self.syntax is not None:
            d["syntax"] = {
                "code": self.syntax.code,
                "term": self.syntax.term,
                "domain": self.syntax_domain,
                "message": self.syntax.message,
            }
        return d


class _PermError(Exception):
    def __init__(
        self, code: str, message: str, syntax: SpfSyntaxError | None = None, domain: str = ""
    ) -> None:
        message = clip(message, 500)
        super().__init__(message)
        self.code = code
        self.message = message
        self.syntax = syntax
        self.domain = domain


class _TempError(Exception):
    def __init__(self, failure: DnsFailure) -> None:
        super().__init__(failure.name)
        self.failure = failure


@dataclass(slots=True)
class _Outcome:
    """What one (possibly nested) check_host returned: the verdict and where exp= lives."""

    verdict: Verdict
    mechanism: str | None = None
    exp: Modifier | None = None
    exp_domain: str = ""


@dataclass(slots=True)
class _Ctx:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    ip_int: int
    v6: bool
    sender: str
    helo: str
    receiver: str
    now: float | None
    lookups: int = 0
    voids: int = 0
    #: None: no trace is kept. Hot paths test it before formatting a note, because a bulk
    #: run wants only the verdict and the notes cost a third of an evaluation
    trace: list[str] | None = None
    stack: list[str] = field(default_factory=list)
    validated: list[str] | None = None  # %{p} / ptr: validated names, computed once
    memo: IncludeMemo | None = None
    # what an include subtree depended on, for the memo: the domains it evaluated, whether it
    # expanded a macro or used ptr (then it depends on more than the address), its answers'
    # shortest TTL
    visited: list[str] = field(default_factory=list)
    impure: int = 0
    ttl: float = float("inf")
    _values: MacroValues | None = None
    #: the static record trees of the run (RecordMemo), and its clock read once per check
    records: RecordMemo | None = None
    mono: float = 0.0

    def values(self) -> MacroValues:
        """The macro letters' values, worked out on first use: most records have no macros."""
        if self._values is None:
            addr, v6 = self.ip, self.v6
            local, _, sender_domain = self.sender.rpartition("@")
            self._values = MacroValues(
                s=self.sender,
                l=local,
                o=sender_domain,
                i=_dotted(addr),
                v="ip6" if v6 else "in-addr",
                h=self.helo,
                c=str(addr),
                r=self.receiver,
                t=str(int(time.time() if self.now is None else self.now)),
            )
        return self._values

    def saw(self, ans: Answer) -> None:
        if ans.ttl < self.ttl:
            self.ttl = ans.ttl

    def note(self, text: str) -> None:
        trace = self.trace
        if trace is None:
            return
        if len(trace) < _TRACE_LIMIT:
            trace.append(text if len(text) <= 300 else text[:297] + "...")
        elif len(trace) == _TRACE_LIMIT:
            trace.append("... (trace truncated)")

    def count_lookup(self, term: str) -> None:
        self.lookups += 1
        if self.lookups > LOOKUP_LIMIT:
            raise _PermError(
                "spf.too_many_lookups",
                f"more than {LOOKUP_LIMIT} DNS-querying terms (limit reached at {term!r})",
            )

    def count_void(self, name: str) -> None:
        self.voids += 1
        if self.voids > VOID_LIMIT:
            raise _PermError(
                "spf.too_many_void_lookups",
                f"more than {VOID_LIMIT} lookups returned no records (the last: {name})",
            )


def select_records(answer: Answer) -> list[str]:
    """The v=spf1 records among a TXT answer's records (4.5), each record's strings joined."""
    records = answer.records
    if (
        len(records) <= 4
        and sum(len(s) for r in records if isinstance(r, tuple) for s in r) <= 2048
    ):
        # the same provider records come up for every domain that includes them; small sets
        # only, so that hostile zones cannot pin much memory here (4,096 x 2 KB at most)
        return list(_small_spf_records(records))
    return [t for t in answer.txt_strings() if is_spf_record(t)]


@lru_cache(maxsize=4096)
def _small_spf_records(records: tuple[Rdata, ...]) -> tuple[str, ...]:
    return tuple(t for t in Answer(Rcode.NOERROR, records).txt_strings() if is_spf_record(t))


def mailfrom_identity(mailfrom: str, helo: str) -> tuple[str, str]:
    """(domain, sender) for the MAIL FROM check (RFC 7208 2.4 and 4.3).

    An empty reverse-path is checked as ``postmaster@<helo>``; a sender without a local-part gets
    ``postmaster``. Angle brackets are tolerated.
    """
    addr = mailfrom.strip().strip("<>")
    if not addr:
        return helo, f"postmaster@{helo}"
    local, at, dom = addr.rpartition("@")
    if not at:
        return addr, f"postmaster@{addr}"
    return dom, f"{local or 'postmaster'}@{dom}"


def check_mailfrom(
    ip: str | ipaddress.IPv4Address | ipaddress.IPv6Address,
    mailfrom: str,
    helo: str = "",
    *,
    receiver: str = "unknown",
    now: float | None = None,
    trace: bool = False,
    memo: IncludeMemo | None = None,
    records: RecordMemo | None = None,
) -> Step[SpfResult]:
    """check_host() for an SMTP MAIL FROM (or the HELO identity when MAIL FROM is empty)."""
    domain, sender = mailfrom_identity(mailfrom, helo)
    return check_host(
        ip,
        domain,
        sender,
        helo,
        receiver=receiver,
        now=now,
        trace=trace,
        memo=memo,
        records=records,
    )


def check_host(
    ip: str | ipaddress.IPv4Address | ipaddress.IPv6Address,
    domain: str,
    sender: str,
    helo: str = "",
    *,
    receiver: str = "unknown",
    now: float | None = None,
    trace: bool = False,
    memo: IncludeMemo | None = None,
    records: RecordMemo | None = None,
) -> Step[SpfResult]:
    """RFC 7208 check_host(<ip>, <domain>, <sender>); ``helo`` feeds %{h}, ``receiver`` %{r};
    ``trace`` keeps the terms evaluated in ``SpfResult.trace``; ``memo`` shares include
    verdicts between the checks of a run (IncludeMemo); ``records`` shares the parsed record
    trees and the answers of their a/mx terms (RecordMemo).

    Raises ValueError only for an ``ip`` that is not an IP address (a caller's bug); every
    property of DNS data ends in a result.
    """
    addr = parse_ip(ip) if isinstance(ip, str) else ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # 5/9: an IPv4-mapped address is an IPv4 client
    v6 = addr.version == 6
    local, at, sender_domain = sender.rpartition("@")
    if not at:
        local, sender_domain = "postmaster", sender
    ctx = _Ctx(
        addr,
        int(addr),
        v6,
        f"{local or 'postmaster'}@{sender_domain}",
        helo,
        receiver,
        now,
        trace=[] if trace else None,
        memo=None if trace else memo,
    )
    if records is not None and not trace:  # a trace shows every term: evaluated the plain way
        ctx.records = records
        ctx.mono = records.clock()
    start = _initial_domain(domain)
    if start is None:
        shown = clip(domain, 300)
        return SpfResult(
            Verdict.NONE,
            shown,
            problem=Problem(
                "spf.bad_domain", "info", f"{shown!r} is not a domain name that can be checked"
            ),
        )
    result = SpfResult(Verdict.NONE, start)
    try:
        if ctx.records is not None:
            try:
                out = _walk(ctx, ctx.records, start)
                ctx.records.hits += 1
            except _Unknown:
                # something to ask DNS, or a term that depends on the client: again from the
                # start on the path that can ask (the walk changed nothing but these counters)
                ctx.lookups = ctx.voids = 0
                ctx.stack.clear()
                out = yield from _check_static(ctx, ctx.records, start, 0)
        else:
            out = yield from _check(ctx, start, 0)
    except _PermError as exc:
        result.result = Verdict.PERMERROR
        result.problem = Problem(exc.code, "error", exc.message)
        result.syntax = exc.syntax
        result.syntax_domain = exc.domain
    except _TempError as exc:
        f = exc.failure
        result.result = Verdict.TEMPERROR
        result.dns_failure = f
        result.problem = Problem(
            "spf.dns_error", "error", f"DNS lookup failed: {f.name} {f.rtype} {f.rcode}"
        )
    else:
        result.result = out.verdict
        result.mechanism = out.mechanism
        if out.verdict is Verdict.NONE:
            result.problem = Problem("spf.no_record", "info", f"{start} publishes no SPF record")
        elif out.verdict is Verdict.FAIL and out.exp is not None:
            result.explanation = yield from _explain(ctx, out.exp, out.exp_domain)
    if ctx.trace is not None:  # not formatted for nothing: a bulk run keeps no trace
        ctx.note(f"result: {result.result.value}")
    result.lookups = min(ctx.lookups, LOOKUP_LIMIT + 1)
    result.void_lookups = ctx.voids
    result.trace = ctx.trace
    return result


# -- evaluation ---------------------------------------------------------------------------------


def _check(ctx: _Ctx, domain: str, depth: int) -> Step[_Outcome]:
    pad = "  " * depth
    ans = yield from ask(domain, RType.TXT)
    ctx.saw(ans)
    ctx.visited.append(domain)
    if ans.failed:
        ctx.note(f"{pad}{domain}: TXT lookup failed ({ans.rcode.value})")
        raise _TempError(DnsFailure.of(Query(domain, RType.TXT), ans))
    records = select_records(ans)
    if not records:
        ctx.note(f"{pad}{domain}: no SPF record")
        return _Outcome(Verdict.NONE)
    if len(records) > 1:
        ctx.note(f"{pad}{domain}: {len(records)} SPF records")
        raise _PermError(
            "spf.multiple_records", f"{domain} publishes {len(records)} v=spf1 records"
        )
    tracing = ctx.trace is not None
    if tracing:
        ctx.note(f"{pad}{domain}: {records[0]}")
    parsed = try_parse_record(records[0])
    if isinstance(parsed, SpfSyntaxError):
        raise _PermError("spf.syntax", f"{domain}: {parsed}", parsed, domain)
    ctx.stack.append(domain)
    try:
        for mech in parsed.mechanisms:
            kind = mech.kind
            # all / ip4 / ip6 need no DNS: decided here, without a generator per term
            if kind == "ip4" or kind == "ip6":
                if (kind == "ip6") != ctx.v6:
                    matched = False
                else:
                    shift = (128 if ctx.v6 else 32) - mech.prefix
                    matched = (ctx.ip_int >> shift) == (mech.network >> shift)
            elif kind == "all":
                matched = True
            else:
                matched = yield from _match(ctx, mech, domain, depth)
            if matched:
                verdict = _QUALIFIER[mech.qualifier]
                if tracing:
                    ctx.note(f"{pad}  {mech.text} -> match: {verdict.value}")
                return _Outcome(verdict, mech.text, parsed.exp, domain)
            if tracing and kind != "include":  # an include notes its own outcome
                ctx.note(f"{pad}  {mech.text} -> no match")
        if parsed.redirect is not None:
            return (yield from _redirect(ctx, parsed.redirect, domain, depth))
        ctx.note(f"{pad}  no match: neutral")
        return _Outcome(Verdict.NEUTRAL, None, parsed.exp, domain)
    finally:
        ctx.stack.pop()


def _redirect(ctx: _Ctx, mod: Modifier, domain: str, depth: int) -> Step[_Outcome]:
    pad = "  " * depth
    ctx.count_lookup(mod.text)
    target = yield from _target(ctx, mod.value, domain)
    if target is None:
        raise _PermError("spf.redirect_missing", f"{mod.text}: the target is not a valid name")
    if target in ctx.stack:
        raise _PermError("spf.loop", f"{mod.text} loops back to {target}")
    ctx.note(f"{pad}  {mod.text}")
    out = yield from _check(ctx, target, depth + 1)
    if out.verdict is Verdict.NONE:
        raise _PermError("spf.redirect_missing", f"{mod.text}: {target} has no SPF record")
    return out


def _match(ctx: _Ctx, mech: Mechanism, domain: str, depth: int) -> Step[bool]:
    """Whether a mechanism that queries DNS (include a mx ptr exists) matches."""
    kind = mech.kind
    ctx.count_lookup(mech.text)
    pad = "  " * depth
    if kind == "include":
        assert mech.domain is not None
        target = yield from _target(ctx, mech.domain, domain)
        if target is None:
            raise _PermError("spf.include_missing", f"{mech.text}: the target is not a valid name")
        if target in ctx.stack:
            raise _PermError("spf.loop", f"{mech.text} loops back to {target}")
        memo = ctx.memo
        if memo is None:
            out = yield from _check(ctx, target, depth + 1)
        else:
            out = yield from _include_memoized(ctx, memo, target, depth)
        if out.verdict is Verdict.NONE:
            raise _PermError("spf.include_no_spf", f"{mech.text}: {target} has no SPF record")
        matched = out.verdict is Verdict.PASS
        if not matched and ctx.trace is not None:
            ctx.note(f"{pad}  {mech.text} -> {out.verdict.value}: no match")
        return matched
    target = domain
    if mech.domain is not None:
        t = yield from _target(ctx, mech.domain, domain)
        if t is None:
            ctx.note(f"{pad}  {mech.text}: the target is not a valid name")
            return False
        target = t
    if kind == "a":
        matched = yield from _match_a(ctx, mech, target)
    elif kind == "mx":
        matched = yield from _match_mx(ctx, mech, target)
    elif kind == "exists":
        ans = yield from ask(target, RType.A)
        ctx.saw(ans)
        _raise_failed(ans, target, RType.A)
        if not ans.records:
            ctx.count_void(target)
        matched = bool(ans.addresses())
    else:  # ptr
        names = yield from _validated_names(ctx)
        matched = any(n == target or n.endswith("." + target) for n in names)
    return matched


def _include_memoized(ctx: _Ctx, memo: IncludeMemo, target: str, depth: int) -> Step[_Outcome]:
    """An include's subtree, or its verdict for this address from earlier in the run."""
    key = (target, ctx.ip_int, ctx.v6)
    hit = memo.get(key)
    if (
        hit is not None
        and ctx.lookups + hit.lookups <= LOOKUP_LIMIT
        and ctx.voids + hit.voids <= VOID_LIMIT
        and not any(d in ctx.stack for d in hit.domains)
    ):
        # the same terms, limits and loops as evaluating it again: only the queries are saved
        memo.hits += 1
        ctx.lookups += hit.lookups
        ctx.voids += hit.voids
        ctx.visited.extend(hit.domains)
        if hit.ttl < ctx.ttl:
            ctx.ttl = hit.ttl
        return _Outcome(hit.verdict)
    lookups, voids, impure, seen = ctx.lookups, ctx.voids, ctx.impure, len(ctx.visited)
    outer_ttl, ctx.ttl = ctx.ttl, float("inf")
    out = yield from _check(ctx, target, depth + 1)
    ttl = ctx.ttl
    ctx.ttl = min(outer_ttl, ttl)
    if ctx.impure == impure:
        memo.put(
            key,
            _Memoed(
                out.verdict,
                ctx.lookups - lookups,
                ctx.voids - voids,
                tuple(ctx.visited[seen:]),
                ttl,
            ),
        )
    return out


@dataclass(frozen=True, slots=True)
class _Memoed:
    verdict: Verdict
    lookups: int
    voids: int
    domains: tuple[str, ...]  # every domain whose record the subtree evaluated
    ttl: float


class IncludeMemo:
    """Verdicts of include subtrees for a client address, shared by a bulk run's checks.

    Most senders include the same few provider records, and a bulk run meets the same client
    addresses again and again: an include's verdict depends only on the address and the DNS
    data when no record in its tree expands a macro or uses ptr. A remembered verdict is used
    only where evaluating the subtree again would give the same outcome: within the lookup and
    void limits, with no loop back to a domain being evaluated, and no longer than the
    shortest TTL of the answers it came from. Bounded (least recently used goes first), so
    hostile input cannot grow it. Traced checks do not use it: the trace shows every term.
    """

    def __init__(
        self, max_entries: int = 65_536, clock: Callable[[], float] = time.monotonic
    ) -> None:
        cache: TtlCache[tuple[str, int, bool], _Memoed] = TtlCache(max_entries, clock)
        self._cache = cache
        #: the verdict kept for (include target, address, v6), while it lives: the cache's own
        #: method, not a wrapper around it, as this is asked for every include a check meets
        self.get: Callable[[tuple[str, int, bool]], _Memoed | None] = cache.get
        self.hits = 0  # verdicts used

    def __len__(self) -> int:
        return len(self._cache)

    def put(self, key: tuple[str, int, bool], value: _Memoed) -> None:
        self._cache.put(key, value, min(value.ttl, 86_400))


# -- the static record tree ---------------------------------------------------------------------
#
# What an evaluation learns that does not depend on the client: a domain's record (parsed once)
# and, for the a/mx terms whose target has no macro, their DNS answers. A bulk run meets the same
# senders with thousands of client addresses: with these kept, each further check of a sender is
# address matching over pre-resolved networks, with no question to the resolver and no parsing.
# The walk below is _check's, term by term, with the same lookup and void counting, the same loop
# check and the same errors at the same points; only where the data comes from differs. Terms
# with a macro, exists and ptr (they depend on the client or the sender) go to _match / _redirect,
# the plain evaluation, and so does every include or redirect below them.

_MISSING = object()


class _Node:
    """One domain's SPF record as an evaluation sees it, and its a/mx answers once asked."""

    __slots__ = ("data", "error", "expires", "none", "record", "redirect", "targets")

    def __init__(self, domain: str, ans: Answer, now: float) -> None:
        self.expires = now + min(ans.ttl, _MEMO_MAX_TTL)
        self.none = False
        self.error: tuple[str, str, SpfSyntaxError | None, str] | None = None
        self.record: SpfRecord | None = None
        #: per mechanism: the query name of include/a/mx, None for a malformed one, "" for a
        #: term evaluated the plain way (a macro in it, exists, ptr; ip4/ip6/all need none)
        self.targets: tuple[str | None, ...] = ()
        self.redirect: str | None = ""
        #: (mechanism index, v6) -> the a term's addresses as ints, or the mx term's (all its
        #: exchanges'), or None for a void lookup, or an int: the mx term's MX count over the limit
        self.data: dict[tuple[int, bool], tuple[int, ...] | int | None] = {}
        records = select_records(ans)
        if not records:
            self.none = True
            return
        if len(records) > 1:
            self.error = (
                "spf.multiple_records",
                f"{domain} publishes {len(records)} v=spf1 records",
                None,
                "",
            )
            return
        parsed = try_parse_record(records[0])
        if isinstance(parsed, SpfSyntaxError):
            self.error = ("spf.syntax", f"{domain}: {parsed}", parsed, domain)
            return
        self.record = parsed
        self.targets = tuple(_static_target(m, domain) for m in parsed.mechanisms)
        red = parsed.redirect
        if red is not None and red.value.literal is not None:
            self.redirect = query_name(red.value.literal)

    def keep(
        self, key: tuple[int, bool], value: tuple[int, ...] | int | None, ttl: float, now: float
    ) -> None:
        """Keep a term's answers for as long as the shortest of them lives: the whole node
        expires then and is built again (its record asked again too), never used stale."""
        if ttl <= 0:
            return
        self.data[key] = value
        if now + ttl < self.expires:
            self.expires = now + ttl


_MEMO_MAX_TTL = 86_400


def _static_target(mech: Mechanism, domain: str) -> str | None:
    kind = mech.kind
    if kind not in ("include", "a", "mx"):
        return ""
    ms = mech.domain
    if ms is None:
        return domain  # a / mx without a domain: the current one (include always has one)
    if ms.literal is None:
        return ""
    return query_name(ms.literal)


class RecordMemo:
    """The static record trees of a bulk run's sender domains (see _Node), shared by its checks.

    A node lives no longer than the shortest TTL of the answers it holds (and at most a day);
    failed answers are never kept, so a DNS failure is asked again by the next check, as
    without the memo. Bounded: past ``max_domains`` nodes it starts afresh, so hostile input
    cannot grow it. Traced checks do not use it (the trace shows every term's evaluation)."""

    def __init__(
        self, max_domains: int = 20_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.nodes: dict[str, _Node] = {}
        self.max_domains = max_domains
        self.clock = clock
        self.hits = 0  # checks evaluated wholly from the memo (by _walk)

    def __len__(self) -> int:
        return len(self.nodes)

    def put(self, domain: str, node: _Node, now: float) -> None:
        if node.expires <= now:
            return
        nodes = self.nodes
        if len(nodes) >= self.max_domains and domain not in nodes:
            nodes.clear()
        nodes[domain] = node


def _check_static(ctx: _Ctx, memo: RecordMemo, domain: str, depth: int) -> Step[_Outcome]:
    """_check over the static record tree (the trace is off on this path)."""
    now = ctx.mono
    node = memo.nodes.get(domain)
    if node is None or node.expires <= now:
        ans = yield from ask(domain, RType.TXT)
        if ans.failed:
            raise _TempError(DnsFailure.of(Query(domain, RType.TXT), ans))
        node = _Node(domain, ans, now)
        memo.put(domain, node, now)
    if node.none:
        return _Outcome(Verdict.NONE)
    if node.error is not None:
        raise _PermError(*node.error)
    rec = node.record
    assert rec is not None
    targets = node.targets
    stack = ctx.stack
    stack.append(domain)
    try:
        v6 = ctx.v6
        ip_int = ctx.ip_int
        bits = 128 if v6 else 32
        for i, mech in enumerate(rec.mechanisms):
            kind = mech.kind
            if kind == "ip4" or kind == "ip6":
                if (kind == "ip6") != v6:
                    continue
                shift = bits - mech.prefix
                matched = (ip_int >> shift) == (mech.network >> shift)
            elif kind == "all":
                matched = True
            else:
                target = targets[i]
                if target == "":
                    matched = yield from _match(ctx, mech, domain, depth)
                elif kind == "include":
                    ctx.count_lookup(mech.text)
                    if target is None:
                        raise _PermError(
                            "spf.include_missing", f"{mech.text}: the target is not a valid name"
                        )
                    if target in stack:
                        raise _PermError("spf.loop", f"{mech.text} loops back to {target}")
                    out = yield from _check_static(ctx, memo, target, depth + 1)
                    if out.verdict is Verdict.NONE:
                        raise _PermError(
                            "spf.include_no_spf", f"{mech.text}: {target} has no SPF record"
                        )
                    matched = out.verdict is Verdict.PASS
                else:
                    ctx.count_lookup(mech.text)
                    if target is None:
                        matched = False
                    else:
                        data = node.data.get((i, v6), _MISSING)
                        if data is _MISSING:
                            if kind == "a":
                                data = yield from _fetch_a(ctx, node, i, target)
                            else:
                                data = yield from _fetch_mx(ctx, node, mech, i, target)
                        if data is None:
                            ctx.count_void(target)
                            matched = False
                        elif isinstance(data, int):
                            raise _PermError(
                                "spf.too_many_mx",
                                f"{mech.text}: {target} has {data} MX records (limit {MX_LIMIT})",
                            )
                        else:
                            assert isinstance(data, tuple)
                            shift = bits - (mech.cidr6 if v6 else mech.cidr4)
                            want = ip_int >> shift
                            matched = False
                            for a in data:
                                if (a >> shift) == want:
                                    matched = True
                                    break
            if matched:
                return _Outcome(_QUALIFIER[mech.qualifier], mech.text, rec.exp, domain)
        red = rec.redirect
        if red is None:
            return _Outcome(Verdict.NEUTRAL, None, rec.exp, domain)
        target = node.redirect
        if target == "":
            return (yield from _redirect(ctx, red, domain, depth))
        ctx.count_lookup(red.text)
        if target is None:
            raise _PermError("spf.redirect_missing", f"{red.text}: the target is not a valid name")
        if target in stack:
            raise _PermError("spf.loop", f"{red.text} loops back to {target}")
        out = yield from _check_static(ctx, memo, target, depth + 1)
        if out.verdict is Verdict.NONE:
            raise _PermError("spf.redirect_missing", f"{red.text}: {target} has no SPF record")
        return out
    finally:
        stack.pop()


class _Unknown(Exception):
    """_walk met what the memo does not hold (or a term that depends on the client)."""


def _walk(ctx: _Ctx, memo: RecordMemo, domain: str) -> _Outcome:
    """_check_static as a plain function, for a tree the memo holds whole: most checks of a bulk
    run. A generator per include level and a round through the driver cost more than the
    address matching itself. Raises _Unknown where _check_static would ask DNS or evaluate a
    term the plain way; every other step is _check_static's, in the same order (the tests
    hold the two, and the plain evaluation, to the same outcomes)."""
    node = memo.nodes.get(domain)
    if node is None or node.expires <= ctx.mono:
        raise _Unknown
    if node.none:
        return _Outcome(Verdict.NONE)
    if node.error is not None:
        raise _PermError(*node.error)
    rec = node.record
    assert rec is not None
    targets = node.targets
    stack = ctx.stack
    stack.append(domain)
    try:
        v6 = ctx.v6
        ip_int = ctx.ip_int
        bits = 128 if v6 else 32
        for i, mech in enumerate(rec.mechanisms):
            kind = mech.kind
            if kind == "ip4" or kind == "ip6":
                if (kind == "ip6") != v6:
                    continue
                shift = bits - mech.prefix
                matched = (ip_int >> shift) == (mech.network >> shift)
            elif kind == "all":
                matched = True
            else:
                target = targets[i]
                if target == "":
                    raise _Unknown
                if kind == "include":
                    ctx.count_lookup(mech.text)
                    if target is None:
                        raise _PermError(
                            "spf.include_missing", f"{mech.text}: the target is not a valid name"
                        )
                    if target in stack:
                        raise _PermError("spf.loop", f"{mech.text} loops back to {target}")
                    out = _walk(ctx, memo, target)
                    if out.verdict is Verdict.NONE:
                        raise _PermError(
                            "spf.include_no_spf", f"{mech.text}: {target} has no SPF record"
                        )
                    matched = out.verdict is Verdict.PASS
                else:
                    ctx.count_lookup(mech.text)
                    if target is None:
                        matched = False
                    else:
                        data = node.data.get((i, v6), _MISSING)
                        if data is _MISSING:
                            raise _Unknown
                        if data is None:
                            ctx.count_void(target)
                            matched = False
                        elif isinstance(data, int):
                            raise _PermError(
                                "spf.too_many_mx",
                                f"{mech.text}: {target} has {data} MX records (limit {MX_LIMIT})",
                            )
                        else:
                            assert isinstance(data, tuple)
                            shift = bits - (mech.cidr6 if v6 else mech.cidr4)
                            want = ip_int >> shift
                            matched = False
                            for a in data:
                                if (a >> shift) == want:
                                    matched = True
                                    break
            if matched:
                return _Outcome(_QUALIFIER[mech.qualifier], mech.text, rec.exp, domain)
        red = rec.redirect
        if red is None:
            return _Outcome(Verdict.NEUTRAL, None, rec.exp, domain)
        target = node.redirect
        if target == "":
            raise _Unknown
        ctx.count_lookup(red.text)
        if target is None:
            raise _PermError("spf.redirect_missing", f"{red.text}: the target is not a valid name")
        if target in stack:
            raise _PermError("spf.loop", f"{red.text} loops back to {target}")
        out = _walk(ctx, memo, target)
        if out.verdict is Verdict.NONE:
            raise _PermError("spf.redirect_missing", f"{red.text}: {target} has no SPF record")
        return out
    finally:
        stack.pop()


def _ints(addresses: Sequence[str], version: int) -> tuple[int, ...]:
    out = []
    for text in addresses:
        a = _version_and_int(text)
        if a is not None and a[0] == version:
            out.append(a[1])
    return tuple(out)


def _fetch_a(ctx: _Ctx, node: _Node, i: int, target: str) -> Step[tuple[int, ...] | None]:
    """An a term's answer as _match_a reads it: None for a void lookup, else the addresses."""
    rtype = RType.AAAA if ctx.v6 else RType.A
    ans = yield from ask(target, rtype)
    _raise_failed(ans, target, rtype)
    data = _ints(ans.addresses(), 6 if ctx.v6 else 4) if ans.records else None
    node.keep((i, ctx.v6), data, ans.ttl, ctx.mono)
    return data


def _fetch_mx(
    ctx: _Ctx, node: _Node, mech: Mechanism, i: int, target: str
) -> Step[tuple[int, ...] | int | None]:
    """An mx term's answers as _match_mx reads them: None for a void lookup, the MX count when
    over the limit, else every exchange's addresses (which one matched does not matter)."""
    ans = yield from ask(target, RType.MX)
    _raise_failed(ans, target, RType.MX)
    if not ans.records:
        node.keep((i, ctx.v6), None, ans.ttl, ctx.mono)
        return None
    mxs = ans.mx()
    if len(mxs) > MX_LIMIT:
        node.keep((i, ctx.v6), len(mxs), ans.ttl, ctx.mono)
        return len(mxs)
    names = list(dict.fromkeys(m.exchange for m in sorted(mxs, key=lambda m: m.preference)))
    names = [n for n in names if n]
    rtype = RType.AAAA if ctx.v6 else RType.A
    answers = yield from ask_all(Query(n, rtype) for n in names)
    version = 6 if ctx.v6 else 4
    ttl = float(ans.ttl)
    found: list[int] = []
    failure: DnsFailure | None = None
    for n, a in zip(names, answers, strict=True):
        if a.failed:
            failure = failure or DnsFailure.of(Query(n, rtype), a)
        else:
            found.extend(_ints(a.addresses(), version))
            ttl = min(ttl, a.ttl)
    data = tuple(found)
    if failure is not None:
        # as _match_mx: another exchange matching wins over the failure, else temperror; a
        # failure is not kept, so the next check asks again
        shift = (128 if ctx.v6 else 32) - (mech.cidr6 if ctx.v6 else mech.cidr4)
        want = ctx.ip_int >> shift
        if any((x >> shift) == want for x in data):
            return data
        raise _TempError(failure)
    node.keep((i, ctx.v6), data, ttl, ctx.mono)
    return data


def _match_a(ctx: _Ctx, mech: Mechanism, target: str) -> Step[bool]:
    rtype = RType.AAAA if ctx.v6 else RType.A
    ans = yield from ask(target, rtype)
    ctx.saw(ans)
    _raise_failed(ans, target, rtype)
    if not ans.records:
        ctx.count_void(target)
        return False
    return _in_any(ctx, ans.addresses(), mech.cidr6 if ctx.v6 else mech.cidr4)


def _match_mx(ctx: _Ctx, mech: Mechanism, target: str) -> Step[bool]:
    ans = yield from ask(target, RType.MX)
    ctx.saw(ans)
    _raise_failed(ans, target, RType.MX)
    if not ans.records:
        ctx.count_void(target)
        return False
    mxs = ans.mx()
    if len(mxs) > MX_LIMIT:
        raise _PermError(
            "spf.too_many_mx", f"{mech.text}: {target} has {len(mxs)} MX records (limit {MX_LIMIT})"
        )
    names = list(dict.fromkeys(m.exchange for m in sorted(mxs, key=lambda m: m.preference)))
    names = [n for n in names if n]  # "MX 0 ." (null MX, RFC 7505) names no host
    rtype = RType.AAAA if ctx.v6 else RType.A
    answers = yield from ask_all(Query(n, rtype) for n in names)
    cidr = mech.cidr6 if ctx.v6 else mech.cidr4
    failure: DnsFailure | None = None
    for n, a in zip(names, answers, strict=True):
        ctx.saw(a)
        if a.failed:
            failure = failure or DnsFailure.of(Query(n, rtype), a)
        elif _in_any(ctx, a.addresses(), cidr):
            return True
    if failure is not None:
        raise _TempError(failure)
    return False


def _validated_names(ctx: _Ctx) -> Step[list[str]]:
    """PTR names of the client that forward-confirm (5.5), at most PTR_LIMIT of them."""
    ctx.impure += 1
    if ctx.validated is not None:
        return ctx.validated
    rev = _reverse_name(ctx.ip)
    ans = yield from ask(rev, RType.PTR)
    names: list[str] = []
    if ans.ok:
        for r in ans.records[:PTR_LIMIT]:
            if isinstance(r, str):
                n = r.rstrip(".").lower()
                if n and query_name(n) is not None:
                    names.append(n)
    names = list(dict.fromkeys(names))
    rtype = RType.AAAA if ctx.v6 else RType.A
    answers = yield from ask_all(Query(n, rtype) for n in names)
    validated = []
    for n, a in zip(names, answers, strict=True):
        # 5.5: a DNS error on one name skips that name
        if a.ok and _in_any(ctx, a.addresses(), 128 if ctx.v6 else 32):
            validated.append(n)
    ctx.validated = validated
    return validated


def _explain(ctx: _Ctx, exp: Modifier, domain: str) -> Step[str]:
    """6.2: fetch and expand the explanation; every failure means no explanation."""
    try:
        target = yield from _target(ctx, exp.value, domain)
    except (_PermError, _TempError):
        return ""
    if target is None:
        return ""
    ans = yield from ask(target, RType.TXT)
    if ans.failed or len(ans.records) != 1:
        return ""
    strings = ans.txt_strings()
    if len(strings) != 1:
        return ""
    ms = parse_explanation(strings[0])
    if ms is None:
        return ""
    text = yield from _expand(ctx, ms, domain)
    return text[:_EXPLANATION_LIMIT]


# -- helpers ------------------------------------------------------------------------------------


def _expand(ctx: _Ctx, ms: MacroString, domain: str) -> Step[str]:
    if ms.literal is not None:
        return ms.literal
    ctx.impure += 1
    values = ctx.values()
    if "p" in ms.letters:
        names = yield from _validated_names(ctx)
        values = _with_p(values, _pick_p(names, domain))
    return expand(ms, values, domain)


def _target(ctx: _Ctx, ms: MacroString, domain: str) -> Step[str | None]:
    text = ms.literal if ms.literal is not None else (yield from _expand(ctx, ms, domain))
    return query_name(text)


@lru_cache(maxsize=8192)
def query_name(text: str) -> str | None:
    """A target name fit for a query (lower case, no trailing dot), or None when malformed.

    Expansions over 253 characters lose labels on the left (7.3).
    """
    name = text[:-1] if text.endswith(".") else text
    if len(name) > 253:
        parts = name.split(".")
        while parts and len(".".join(parts)) > 253:
            parts.pop(0)
        name = ".".join(parts)
    if not name:
        return None
    for label in name.split("."):
        if not label or len(label.encode("utf-8", "surrogateescape")) > 63:
            return None
    return name.lower()


def _initial_domain(domain: str) -> str | None:
    """4.3: a malformed or single-label <domain> gives "none" before any query."""
    name = query_name(domain.strip())
    if name is None or "." not in name:
        return None
    return name if is_toplabel(name.rsplit(".", 1)[1]) else None


def _raise_failed(ans: Answer, name: str, rtype: RType) -> None:
    if ans.failed:
        raise _TempError(DnsFailure.of(Query(name, rtype), ans))


@lru_cache(maxsize=65536)
def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """ipaddress.ip_address, remembered: a bulk run meets the same client and record
    addresses over and over, and parsing one costs more than the rest of matching it."""
    return ipaddress.ip_address(text)


@lru_cache(maxsize=65536)
def _version_and_int(text: str) -> tuple[int, int] | None:
    try:
        a = ipaddress.ip_address(text)
    except ValueError:
        return None
    return a.version, int(a)


def _in_any(ctx: _Ctx, addresses: Sequence[str], prefix: int) -> bool:
    bits = 128 if ctx.v6 else 32
    shift = bits - prefix
    want = ctx.ip_int >> shift
    version = ctx.ip.version
    for text in addresses:
        a = _version_and_int(text)
        if a is not None and a[0] == version and (a[1] >> shift) == want:
            return True
    return False


def _dotted(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if addr.version == 4:
        return str(addr)
    return ".".join(f"{int(addr):032x}")


def _reverse_name(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if addr.version == 4:
        return ".".join(reversed(str(addr).split("."))) + ".in-addr.arpa"
    return ".".join(reversed(f"{int(addr):032x}")) + ".ip6.arpa"


def _pick_p(names: list[str], domain: str) -> str:
    """7.3: prefer <domain> itself, then a subdomain of it, then any validated name."""
    if not names:
        return "unknown"
    if domain in names:
        return domain
    for n in names:
        if n.endswith("." + domain):
            return n
    return names[0]


def _with_p(values: MacroValues, p: str) -> MacroValues:
    return MacroValues(
        values.s, values.l, values.o, values.i, values.v, values.h, values.c, values.r, values.t, p
    )
