"""RecordMemo, the static record trees of a bulk run: it must never change an outcome.

Each test runs the same checks with the memo (as ``spf --input`` does, over and over, so that
the plain-function walk over a whole memoised tree is what answers most of them) and without,
and compares result, mechanism, lookup and void counts, explanation and problem code. The lookup
and void limits (RFC 7208 4.6.4) are where a memo could change a verdict, so the worlds below
sit on both sides of them. The RFC 7208/4408 suites run through the memo in test_spf_suite.py.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

from bulkauth.core.common.model import MX, Answer, Query, Rcode, RType
from bulkauth.core.common.step import Step, answers_from, run_sync
from bulkauth.core.spf.evaluate import IncludeMemo, RecordMemo, SpfResult, check_host

T, A, AAAA, MXT = RType.TXT, RType.A, RType.AAAA, RType.MX
NODATA = Answer(Rcode.NOERROR, ttl=300)
TIMEOUT = Answer(Rcode.TIMEOUT)


def txt(*records: str) -> Answer:
    return Answer(Rcode.NOERROR, tuple((r.encode(),) for r in records), ttl=300)


def addrs(*a: str) -> Answer:
    return Answer(Rcode.NOERROR, a, ttl=300)


def mxs(*hosts: str) -> Answer:
    return Answer(Rcode.NOERROR, tuple(MX(10 + i, h) for i, h in enumerate(hosts)), ttl=300)


class Recorder:
    def __init__(self, table: dict[tuple[str, RType], Answer]) -> None:
        self.answer = answers_from(table)
        self.queries: list[Query] = []

    def __call__(self, q: Query) -> Answer:
        self.queries.append(q)
        return self.answer(q)


def outcome(r: SpfResult) -> tuple[object, ...]:
    code = r.problem.code if r.problem else None
    return r.result, r.mechanism, r.lookups, r.void_lookups, r.explanation, code


def run(step: Step[SpfResult], answer: Recorder) -> SpfResult:
    return run_sync(step, answer)


def both(
    table: dict[tuple[str, RType], Answer],
    memo: RecordMemo,
    ip: str,
    domain: str,
    sender: str = "",
) -> tuple[SpfResult, SpfResult]:
    sender = sender or f"u@{domain}"
    plain = run(check_host(ip, domain, sender, "h"), Recorder(table))
    kept = run(check_host(ip, domain, sender, "h", records=memo), Recorder(table))
    return plain, kept


# -- the memo saves the questions and the parsing ----------------------------------------------

PROVIDER = {
    ("_spf.prov.example", T): txt("v=spf1 include:_nb.prov.example a:relay.prov.example ~all"),
    ("_nb.prov.example", T): txt("v=spf1 ip4:192.0.2.0/25 ip6:2001:db8:1::/48 ~all"),
    ("relay.prov.example", A): addrs("198.51.100.7"),
    ("relay.prov.example", AAAA): addrs("2001:db8:2::7"),
    ("a.example", T): txt("v=spf1 mx/24 include:_spf.prov.example -all"),
    ("a.example", MXT): mxs("mx1.a.example", "mx2.a.example"),
    ("mx1.a.example", A): addrs("203.0.113.1"),
    ("mx2.a.example", A): addrs("203.0.113.200"),
    ("mx1.a.example", AAAA): NODATA,
    ("mx2.a.example", AAAA): NODATA,
}


def test_a_further_check_of_the_sender_asks_nothing() -> None:
    memo = RecordMemo()
    rec = Recorder(PROVIDER)
    # a client no term matches walks (and asks) the whole tree; the record is parsed then
    first = run(check_host("10.9.9.9", "a.example", "u@a.example", "h", records=memo), rec)
    asked = len(rec.queries)
    assert asked > 0 and first.result.value == "fail"
    for ip, want in [
        ("192.0.2.200", "fail"),
        ("198.51.100.7", "pass"),
        ("203.0.113.77", "pass"),  # mx/24
        ("10.0.0.1", "fail"),
    ]:
        r = run(check_host(ip, "a.example", "u@a.example", "h", records=memo), rec)
        assert r.result.value == want, ip
    assert len(rec.queries) == asked  # every further IPv4 check came from the memo
    assert memo.hits == 4
    # the first IPv6 client asks the AAAA side once, then no more
    run(check_host("2001:db8:2::7", "a.example", "u@a.example", "h", records=memo), rec)
    v6 = len(rec.queries)
    assert v6 > asked
    r = run(check_host("2001:db8:1::9", "a.example", "u@a.example", "h", records=memo), rec)
    assert r.result.value == "pass" and len(rec.queries) == v6


def test_results_equal_the_plain_evaluation_over_many_addresses() -> None:
    memo = RecordMemo()
    nets = ["192.0.2.0/24", "198.51.100.0/28", "203.0.113.0/24", "2001:db8:1::/120", "2001:db8:2::/124"]  # fmt: skip
    for net in nets:
        for a in list(ipaddress.ip_network(net))[::7]:
            plain, kept = both(PROVIDER, memo, str(a), "a.example")
            assert outcome(kept) == outcome(plain), a


def test_entries_live_no_longer_than_their_shortest_answer() -> None:
    now = [1000.0]
    memo = RecordMemo(clock=lambda: now[0])
    table = {**PROVIDER, ("relay.prov.example", A): dataclasses.replace(addrs("198.51.100.7"), ttl=60)}  # fmt: skip
    rec = Recorder(table)
    run(check_host("10.0.0.1", "a.example", "u@a.example", "h", records=memo), rec)
    asked = len(rec.queries)
    now[0] += 59
    run(check_host("10.0.0.2", "a.example", "u@a.example", "h", records=memo), rec)
    assert len(rec.queries) == asked
    now[0] += 2  # past the a term's 60 s: its record is asked again, and its answer
    run(check_host("10.0.0.3", "a.example", "u@a.example", "h", records=memo), rec)
    later = [q.name for q in rec.queries[asked:]]
    assert "_spf.prov.example" in later and "relay.prov.example" in later


def test_failures_are_not_kept() -> None:
    table = {**PROVIDER, ("relay.prov.example", A): TIMEOUT}
    memo = RecordMemo()
    for _ in range(2):
        plain, kept = both(table, memo, "10.0.0.1", "a.example")
        assert kept.result.value == "temperror" and outcome(kept) == outcome(plain)
    table[("relay.prov.example", A)] = addrs("10.0.0.1")
    plain, kept = both(table, memo, "10.0.0.1", "a.example")
    assert kept.result.value == "pass" and outcome(kept) == outcome(plain)


def test_mx_failure_loses_to_a_matching_exchange_as_without_the_memo() -> None:
    table = {**PROVIDER, ("mx1.a.example", A): TIMEOUT}
    memo = RecordMemo()
    for ip in ("203.0.113.201", "203.0.113.5", "10.1.1.1", "203.0.113.202"):
        plain, kept = both(table, memo, ip, "a.example")
        assert outcome(kept) == outcome(plain), ip


def test_terms_that_depend_on_the_client_are_evaluated_each_time() -> None:
    record = "v=spf1 ip4:192.0.2.0/24 exists:%{i}.allow.m.example include:%{l}.u.m.example -all"
    table = {
        ("m.example", T): txt(record),
        ("10.0.0.1.allow.m.example", A): addrs("127.0.0.2"),
        ("bob.u.m.example", T): txt("v=spf1 ip4:10.0.0.0/8 -all"),
    }
    memo = RecordMemo()
    for ip, sender in [
        ("10.0.0.1", "alice@m.example"),
        ("10.0.0.2", "alice@m.example"),
        ("10.0.0.2", "bob@m.example"),
        ("192.0.2.1", "carol@m.example"),
    ]:
        plain, kept = both(table, memo, ip, "m.example", sender)
        assert outcome(kept) == outcome(plain), (ip, sender)
    assert memo.hits == 1  # only the client inside ip4 never reached the exists term


def test_memo_is_bounded() -> None:
    memo = RecordMemo(max_domains=3)
    table = {(f"d{i}.example", T): txt("v=spf1 -all") for i in range(10)}
    for i in range(10):
        run(check_host("10.0.0.1", f"d{i}.example", "u@x", "h", records=memo), Recorder(table))
        assert len(memo) <= 3


def test_a_trace_evaluates_the_plain_way() -> None:
    memo = RecordMemo()
    rec = Recorder(PROVIDER)
    run(check_host("192.0.2.9", "a.example", "u@a.example", "h", records=memo), rec)
    asked = len(rec.queries)
    r = run(check_host("192.0.2.9", "a.example", "u@a.example", "h", records=memo, trace=True), rec)
    assert r.trace and len(rec.queries) > asked


# -- the limits (RFC 7208 4.6.4), where a memo could change a verdict --------------------------


def chain_world(
    terms_before: int, include_cost: int, voids: int
) -> dict[tuple[str, RType], Answer]:
    """A record with ``terms_before`` a terms, ``voids`` void a terms, then an include whose
    subtree costs ``include_cost`` lookups: around the 10-lookup and 2-void limits."""
    table: dict[tuple[str, RType], Answer] = {}
    sub = [f"include:p{i}.example" for i in range(1, include_cost)]
    table[("p0.example", T)] = txt(" ".join(["v=spf1", *sub, "ip4:192.0.2.0/24 ~all"]))
    for i in range(1, include_cost):
        table[(f"p{i}.example", T)] = txt(f"v=spf1 ip4:198.51.100.{i} ~all")
    terms = [f"a:h{i}.c.example" for i in range(terms_before)]
    terms += [f"a:nx{i}.c.example" for i in range(voids)]
    table[("c.example", T)] = txt(" ".join(["v=spf1", *terms, "include:p0.example -all"]))
    for i in range(terms_before):
        table[(f"h{i}.c.example", A)] = addrs("203.0.113.1")
        table[(f"h{i}.c.example", AAAA)] = NODATA
    return {**table, **{(f"nx{i}.c.example", A): NODATA for i in range(voids)}}


def test_the_limits_fall_where_they_fall_without_the_memo() -> None:
    ips = ["192.0.2.5", "198.51.100.1", "198.51.100.3", "203.0.113.1", "10.0.0.1", "2001:db8::1"]
    seen = set()
    for before in range(0, 10):
        for cost in range(1, 5):
            for voids in range(0, 4):
                table = chain_world(before, cost, voids)
                memo = RecordMemo()
                for ip in ips * 2:
                    plain, kept = both(table, memo, ip, "c.example")
                    assert outcome(kept) == outcome(plain), (before, cost, voids, ip)
                    seen.add(kept.problem.code if kept.problem else kept.result.value)
    assert {"spf.too_many_lookups", "spf.too_many_void_lookups", "pass", "fail"} <= seen


# -- random worlds ------------------------------------------------------------------------------

_IPS = ["192.0.2.1", "192.0.2.200", "198.51.100.9", "203.0.113.5", "2001:db8::5", "2001:db8:1::9"]
_NAMES = [f"d{i}.example" for i in range(7)]


@st.composite
def worlds(draw: st.DrawFn) -> dict[tuple[str, RType], Answer]:
    """Small SPF worlds with what the memo handles specially: a/mx with and without a domain
    and with CIDR lengths, void and failing lookups, too many MX, include chains that share
    subtrees and loop, redirects, records missing, doubled or malformed, macros, exists, ptr,
    exp=, and enough includes to reach the lookup limit."""
    table: dict[tuple[str, RType], Answer] = {}
    for i, name in enumerate(_NAMES):
        kind = draw(st.sampled_from(["record"] * 6 + ["none", "nxdomain", "two", "bad", "fail"]))
        if kind == "nxdomain":
            continue
        if kind == "none":
            table[(name, T)] = txt("not spf")
            continue
        if kind == "two":
            table[(name, T)] = txt("v=spf1 -all", "v=spf1 ~all")
            continue
        if kind == "bad":
            table[(name, T)] = txt("v=spf1 ip4:300.1.2.3 -all")
            continue
        if kind == "fail":
            table[(name, T)] = TIMEOUT
            continue
        below = _NAMES[i + 1 :] or _NAMES
        include = st.one_of(st.sampled_from(below), st.sampled_from(_NAMES)).map(
            lambda n: f"include:{n}"
        )
        term = st.one_of(
            include,
            include,
            include,
            st.sampled_from(["ip4:192.0.2.0/25", "ip4:198.51.100.9", "ip6:2001:db8::/64"]),
            st.sampled_from(["mx", "a", "a/24", "mx/16//48", "a//32", "mx:mx.example"]),
            st.sampled_from(["a:nx1.example", "a:nx2.example", "mx:nx3.example", "a:host.example"]),
            st.sampled_from(["a:slow.example", "mx:slowmx.example", "mx:many.example"]),
            st.sampled_from(["exists:%{i}.allow.example", "a:%{l}.host.example", "ptr"]),
            st.sampled_from(["include:%{d}.sub.example", "exists:host.example", "a:bad..name"]),
        )
        terms = draw(st.lists(term, max_size=5))
        tail = draw(st.sampled_from(["-all", "~all", "?all", "", "redirect", "redirect-macro"]))
        if tail == "redirect":
            tail = f"redirect={draw(st.sampled_from(below))}"
        elif tail == "redirect-macro":
            tail = "redirect=%{d}.sub.example"
        exp = draw(st.sampled_from(["", "exp=exp.example"]))
        table[(name, T)] = txt(" ".join(x for x in ["v=spf1", *terms, tail, exp] if x))
        table[(name, MXT)] = mxs(draw(st.sampled_from(["host.example", "mx.example", "slow.example"])))  # fmt: skip
        table[(name, A)] = addrs("198.51.100.9")
        table[(name, AAAA)] = addrs("2001:db8:1::9")
        table[(f"{name}.sub.example", T)] = txt("v=spf1 ip4:203.0.113.0/24 -all")
    table[("host.example", A)] = addrs("192.0.2.77", "203.0.113.5")
    table[("host.example", AAAA)] = addrs("2001:db8::5")
    table[("mx.example", MXT)] = mxs("host.example", "slow.example")
    table[("mx.example", A)] = addrs("192.0.2.200")
    table[("slow.example", A)] = TIMEOUT
    table[("slow.example", AAAA)] = TIMEOUT
    table[("slowmx.example", MXT)] = TIMEOUT
    table[("many.example", MXT)] = mxs(*(f"m{i}.example" for i in range(11)))
    table[("1.2.0.192.allow.example", A)] = addrs("127.0.0.2")
    table[("u.host.example", A)] = addrs("192.0.2.1")
    table[("exp.example", T)] = txt("%{i} is not one of %{d}'s")
    return table


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    worlds(),
    st.lists(
        st.tuples(st.sampled_from(_IPS), st.sampled_from(_NAMES), st.sampled_from(["u", "v"])),
        min_size=4,
        max_size=20,
    ),
)
def test_record_memo_never_changes_an_outcome(
    world: dict[tuple[str, RType], Answer], checks: list[tuple[str, str, str]]
) -> None:
    records = RecordMemo()
    memo = IncludeMemo()  # as spf --input runs: both memos, the include one below macro terms
    answer = answers_from(world)
    for ip, domain, local in checks * 2:
        sender = f"{local}@{domain}"
        want = run_sync(check_host(ip, domain, sender, "h"), answer)
        got = run_sync(check_host(ip, domain, sender, "h", memo=memo, records=records), answer)
        assert outcome(got) == outcome(want), (ip, domain, sender)
    target(float(records.hits))  # toward worlds where whole trees come from the memo
