"""audit_spf(): the published-record audit behind ``bulkauth domains``, driven from dicts."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from bulkauth.core.common.model import MX, Answer, Query, Rcode, RType, State
from bulkauth.core.common.step import Step, answers_from, run_sync
from bulkauth.core.spf.audit import MAX_DOMAINS, SpfAudit, audit_spf

T, A, MXT, SPF = RType.TXT, RType.A, RType.MX, RType.SPF
TIMEOUT = Answer(Rcode.TIMEOUT)
Table = dict[tuple[str, RType], Answer]


def txt(*records: str | tuple[str, ...]) -> Answer:
    out = []
    for r in records:
        strings = (r,) if isinstance(r, str) else r
        out.append(tuple(s.encode() for s in strings))
    return Answer(Rcode.NOERROR, tuple(out))


def addrs(*a: str) -> Answer:
    return Answer(Rcode.NOERROR, a)


class Driver:
    """Runs an audit over a dict and keeps the batches, to check what is fetched together."""

    def __init__(self, table: Table) -> None:
        self.answer = answers_from(table)
        self.batches: list[tuple[Query, ...]] = []

    def run(self, step: Step[SpfAudit]) -> SpfAudit:
        try:
            batch = step.send(None)  # type: ignore[arg-type]
            while True:
                self.batches.append(batch)
                batch = step.send(tuple(self.answer(q) for q in batch))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def audit(table: Table, domain: str = "example.com") -> SpfAudit:
    return Driver(table).run(audit_spf(domain))


def codes(a: SpfAudit) -> dict[str, str]:
    return {p.code: p.severity for p in a.problems}


def message(a: SpfAudit, code: str) -> str:
    return next(p.message for p in a.problems if p.code == code)


def test_valid_record() -> None:
    table = {
        ("example.com", T): txt(
            "google-site-verification=abc",
            "v=spf1 ip4:192.0.2.0/24 a mx include:_spf.provider.example -all",
        ),
        ("example.com", A): addrs("198.51.100.10"),
        ("example.com", MXT): Answer(Rcode.NOERROR, (MX(10, "mx1.example.com"),)),
        ("mx1.example.com", A): addrs("198.51.100.20"),
        ("_spf.provider.example", T): txt("v=spf1 ip4:203.0.113.0/25 ~all"),
    }
    a = audit(table)
    assert a.state is State.VALID
    assert a.records == ["v=spf1 ip4:192.0.2.0/24 a mx include:_spf.provider.example -all"]
    assert (a.lookups, a.void_lookups, a.all_qualifier) == (3, 0, "-")
    assert a.ipv4_addresses == 256 + 1 + 1 + 128
    assert a.problems == []
    assert a.tree is not None and a.tree.children[0][0] == "include:_spf.provider.example"
    d = a.to_dict()
    json.dumps(d)
    assert set(d) == {
        "state", "records", "lookups", "void_lookups", "all_qualifier", "ipv4_addresses",
        "problems", "dns_failure", "tree",
    }  # fmt: skip
    assert d["tree"]["children"][0]["via"] == "include:_spf.provider.example"
    assert d["tree"]["children"][0]["domain"] == "_spf.provider.example"


def test_missing_and_indeterminate() -> None:
    for table in ({}, {("example.com", T): Answer(Rcode.NOERROR)}, {("example.com", T): txt("x")}):
        a = audit(table)
        assert a.state is State.MISSING
        assert codes(a) == {"spf.no_record": "info"}
    a = audit({("example.com", T): TIMEOUT})
    assert a.state is State.INDETERMINATE
    assert a.dns_failure is not None and (a.dns_failure.name, a.dns_failure.rcode) == (
        "example.com",
        "TIMEOUT",
    )
    assert a.to_dict()["dns_failure"]["type"] == "TXT"


def test_rr_type_99() -> None:
    a = audit({("example.com", T): txt("v=spf1 -all"), ("example.com", SPF): txt("v=spf1 -all")})
    assert codes(a) == {"spf.rr_type_99": "warning"}
    assert a.state is State.VALID
    # servers that time out on type 99 are common; that is not a failure of the SPF section
    a = audit({("example.com", T): txt("v=spf1 -all"), ("example.com", SPF): TIMEOUT})
    assert a.state is State.VALID and a.problems == []


def test_two_records() -> None:
    a = audit({("example.com", T): txt("v=spf1 -all", "v=spf1 ip4:192.0.2.1 -all")})
    assert a.state is State.INVALID
    assert codes(a) == {"spf.multiple_records": "error"}
    assert len(a.records) == 2


def test_syntax_error_names_the_term() -> None:
    a = audit({("example.com", T): txt("v=spf1 ip4:192.0.2.300 -all")})
    assert a.state is State.INVALID
    assert codes(a) == {"spf.syntax": "error"}
    assert "ip4:192.0.2.300" in message(a, "spf.syntax")
    assert "spf.syntax.bad_ip4" in message(a, "spf.syntax")


def test_twelve_lookups_counted_past_the_limit() -> None:
    table: Table = {
        ("example.com", T): txt(
            "v=spf1 include:a.example include:b.example a mx ptr exists:%{i}.x.example -all"
        ),
        ("a.example", T): txt("v=spf1 a:h1.a.example a:h2.a.example a:h3.a.example ~all"),
        ("b.example", T): txt("v=spf1 include:c.example mx:b.example ~all"),
        ("c.example", T): txt("v=spf1 a:h.c.example ~all"),
        ("example.com", A): addrs("192.0.2.1"),
        ("example.com", MXT): Answer(Rcode.NOERROR, (MX(0, "mx.example.com"),)),
        ("b.example", MXT): Answer(Rcode.NOERROR, (MX(0, "mx.example.com"),)),
    }
    for host in ("h1.a.example", "h2.a.example", "h3.a.example", "h.c.example"):
        table[(host, A)] = addrs("198.51.100.1")
    a = audit(table)
    # root: include include a mx ptr exists = 6; a.example 3; b.example include+mx 2; c 1
    assert a.lookups == 12
    assert a.state is State.INVALID
    assert codes(a)["spf.too_many_lookups"] == "error"
    assert "12 DNS lookups" in message(a, "spf.too_many_lookups")
    assert codes(a)["spf.ptr"] == "warning"
    assert a.tree is not None and a.tree.lookups == 12


def test_void_lookups() -> None:
    table = {
        ("example.com", T): txt("v=spf1 a:gone1.example mx:gone2.example include:i.example -all"),
        ("i.example", T): txt("v=spf1 a:gone3.example ~all"),
        ("gone2.example", MXT): Answer(Rcode.NOERROR),
    }
    a = audit(table)
    assert a.void_lookups == 3
    assert codes(a)["spf.too_many_void_lookups"] == "error"
    assert a.state is State.INVALID
    two = {**table, ("i.example", T): txt("v=spf1 ip4:192.0.2.1 ~all")}
    a = audit(two)
    assert a.void_lookups == 2 and a.state is State.VALID
    assert codes(a) == {"spf.void_lookup": "warning"}


def test_loops() -> None:
    table = {
        ("example.com", T): txt("v=spf1 include:a.example -all"),
        ("a.example", T): txt("v=spf1 include:b.example ~all"),
        ("b.example", T): txt("v=spf1 include:a.example ~all"),
    }
    a = audit(table)
    assert codes(a)["spf.loop"] == "error" and a.state is State.INVALID
    assert "b.example: include:a.example loops back to a.example" in message(a, "spf.loop")
    a = audit({("example.com", T): txt("v=spf1 ip4:192.0.2.1 redirect=example.com")})
    assert codes(a)["spf.loop"] == "error"


def test_missing_targets() -> None:
    base = {("example.com", T): txt("v=spf1 include:gone.example include:text.example -all")}
    base[("text.example", T)] = txt("not spf")
    a = audit(base)
    assert codes(a)["spf.include_missing"] == "error"
    assert codes(a)["spf.include_no_spf"] == "error"
    assert "gone.example" in message(a, "spf.include_missing")
    a = audit({("example.com", T): txt("v=spf1 redirect=gone.example")})
    assert codes(a)["spf.redirect_missing"] == "error"


def test_dns_failure_inside_the_tree() -> None:
    table = {
        ("example.com", T): txt("v=spf1 include:slow.example -all"),
        ("slow.example", T): Answer(Rcode.SERVFAIL),
    }
    a = audit(table)
    assert a.state is State.INDETERMINATE
    assert codes(a) == {"spf.include_temperror": "warning"}
    assert a.dns_failure is not None and a.dns_failure.name == "slow.example"
    assert a.dns_failure.rcode == "SERVFAIL"
    # errors found elsewhere are certain: the section is invalid whatever the failed part holds
    table[("example.com", T)] = txt("v=spf1 include:slow.example ptr:x -all bogus")
    assert audit(table).state is State.INVALID


def test_deep_nesting_fetches_one_level_per_round() -> None:
    depth = 15
    table: Table = {("example.com", T): txt("v=spf1 include:n1.example include:m.example -all")}
    table[("m.example", T)] = txt("v=spf1 ip4:192.0.2.1 ~all")
    for i in range(1, depth):
        table[(f"n{i}.example", T)] = txt(f"v=spf1 include:n{i + 1}.example ~all")
    table[(f"n{depth}.example", T)] = txt("v=spf1 ip4:198.51.100.1 ~all")
    d = Driver(table)
    a = d.run(audit_spf("example.com"))
    assert a.lookups == depth + 1
    assert codes(a)["spf.too_many_lookups"] == "error"
    # apex TXT+SPF, then one batch per level; siblings share a batch
    assert len(d.batches) == depth + 1
    assert {q.name for q in d.batches[1]} == {"n1.example", "m.example"}
    node = a.tree
    levels = 0
    while node is not None and node.children:
        node = node.children[0][1]
        levels += 1
    assert levels == depth


def test_repeated_include_counts_twice_but_is_fetched_once() -> None:
    table = {
        ("example.com", T): txt("v=spf1 include:a.example include:b.example -all"),
        ("a.example", T): txt("v=spf1 include:shared.example ~all"),
        ("b.example", T): txt("v=spf1 include:shared.example ~all"),
        ("shared.example", T): txt("v=spf1 a:h.shared.example ~all"),
        ("h.shared.example", A): addrs("192.0.2.1"),
    }
    d = Driver(table)
    a = d.run(audit_spf("example.com"))
    assert a.lookups == 2 + 2 + 2
    asked = [q for b in d.batches for q in b]
    assert asked.count(Query("shared.example", T)) == 1


def test_all_qualifiers() -> None:
    def q(record: str, extra: Table | None = None) -> SpfAudit:
        return audit({("example.com", T): txt(record), **(extra or {})})

    assert codes(q("v=spf1 +all"))["spf.plus_all"] == "warning"
    assert q("v=spf1 +all").ipv4_addresses == 1 << 32
    assert codes(q("v=spf1 ip4:192.0.2.1 ?all")) == {"spf.neutral_all": "warning"}
    assert codes(q("v=spf1 ip4:192.0.2.1")) == {"spf.no_all": "warning"}
    r = q("v=spf1 redirect=r.example", {("r.example", T): txt("v=spf1 ip4:192.0.2.1 ~all")})
    assert r.all_qualifier == "~" and r.problems == []
    assert r.ipv4_addresses == 1
    r = q("v=spf1 -all redirect=r.example")
    assert codes(r) == {"spf.redirect_with_all": "warning"}
    assert r.lookups == 0  # the redirect is never evaluated
    r = q("v=spf1 include:open.example -all", {("open.example", T): txt("v=spf1 +all")})
    assert codes(r)["spf.plus_all"] == "warning"


def test_broad_ranges() -> None:
    a = audit({("example.com", T): txt("v=spf1 ip4:10.0.0.0/8 -ip4:172.16.0.0/12 -all")})
    assert codes(a) == {"spf.broad_range": "warning"}
    assert a.ipv4_addresses == 1 << 24  # the "-" range authorises nothing
    assert any("16777216" in p.message for p in a.problems)
    a = audit({("example.com", T): txt("v=spf1 ip4:192.0.2.0/16 ip4:198.51.0.0/16 -all")})
    assert a.ipv4_addresses == 131072
    assert "131072" in message(a, "spf.broad_range")
    a = audit({("example.com", T): txt("v=spf1 ip6:2001::/16 -all")})
    assert codes(a) == {"spf.broad_range": "warning"}


def test_udp_size_estimate() -> None:
    verifications = [f"site-verification-{i}=" + "x" * 60 for i in range(6)]
    a = audit({("example.com", T): txt("v=spf1 -all", *verifications)})
    assert codes(a) == {"spf.udp_too_large": "warning"}
    # header 12 + question (13 + 4) + RRs (2 + 10 + rdlength): 12 + 12 and 6 x (12 + 1 + 80)
    assert "about 611 bytes" in message(a, "spf.udp_too_large")
    a = audit({("example.com", T): txt("v=spf1 -all", *verifications[:4])})
    assert a.problems == []


def test_strings() -> None:
    a = audit({("example.com", T): txt(("v=spf1 ip4:192.0.2.1 " + "a" * 290 + " -all",))})
    assert codes(a).get("spf.string_too_long") == "error"
    glued = txt(("v=spf1 include:a.example", "include:b.example -all"))
    a = audit(
        {
            ("example.com", T): glued,
            ("a.exampleinclude:b.example", T): txt("v=spf1 -all"),
        }
    )
    assert codes(a)["spf.string_join"] == "warning"
    assert "'include:a.example' and 'include:b.example'" in message(a, "spf.string_join")
    # a split inside a term is legal and common
    split = txt(("v=spf1 ip4:192.0.2.1 ip4:198.51.", "100.7 -", "all"))
    a = audit({("example.com", T): split})
    assert a.problems == [] and a.ipv4_addresses == 2


def test_unknown_modifier_and_mx_limit_and_macros() -> None:
    many = Answer(Rcode.NOERROR, tuple(MX(i, f"mx{i}.example.com") for i in range(11)))
    table = {
        ("example.com", T): txt("v=spf1 mx include:%{l}.users.example x-foo=bar -all"),
        ("example.com", MXT): many,
    }
    a = audit(table)
    c = codes(a)
    assert c["spf.unknown_modifier"] == "warning"
    assert c["spf.too_many_mx"] == "error"
    assert a.lookups == 2  # the macro include still costs a lookup
    assert a.tree is not None
    dynamic = [n for via, n in a.tree.children if via.startswith("include:")]
    assert dynamic[0].status == "dynamic"


def test_tree_is_bounded() -> None:
    table: Table = {
        ("example.com", T): txt("v=spf1 " + " ".join(f"include:i{i}.example" for i in range(8)))
    }
    for i in range(8):
        kids = " ".join(f"include:i{i}-{j}.example" for j in range(20))
        table[(f"i{i}.example", T)] = txt(f"v=spf1 {kids} ~all")
        for j in range(20):
            table[(f"i{i}-{j}.example", T)] = txt("v=spf1 ip4:192.0.2.1 ~all")
    a = audit(table)
    assert codes(a)["spf.tree_truncated"] == "warning"
    assert "at least" in message(a, "spf.too_many_lookups")
    assert a.lookups >= MAX_DOMAINS - 1
    rendered = json.dumps(a.to_dict())
    assert len(rendered) < 200_000


_TERMS = st.sampled_from(
    [
        "a", "mx", "ptr", "+all", "-all", "?all", "include:x.example", "include:y.example",
        "include:example.com", "redirect=x.example", "redirect=y.example", "exists:%{i}.e.example",
        "ip4:192.0.2.0/24", "ip4:10.0.0.0/8", "ip6:2001:db8::/32", "a:nx.example", "mx:x.example",
        "include:%{d}.z.example", "bogus", "x=y", "a/24", "mx//64", "exp=x.example",
    ]
)  # fmt: skip
_RECORD = st.lists(_TERMS, max_size=12).map(lambda t: " ".join(["v=spf1", *t]))


@settings(max_examples=200, deadline=None)
@given(_RECORD, _RECORD, _RECORD, st.sampled_from([Rcode.NOERROR, Rcode.NXDOMAIN, Rcode.TIMEOUT]))
def test_audit_always_returns_an_audit(root: str, x: str, y: str, rcode: Rcode) -> None:
    table: Table = {
        ("example.com", T): txt(root),
        ("x.example", T): txt(x),
        ("y.example", T): txt(y) if rcode is Rcode.NOERROR else Answer(rcode),
        ("example.com", A): addrs("192.0.2.1"),
        ("example.com", MXT): Answer(Rcode.NOERROR, (MX(1, "mx.example.com"),)),
        ("x.example", MXT): Answer(Rcode.NOERROR, (MX(1, "mx.example.com"),)),
        ("mx.example.com", A): addrs("192.0.2.2"),
    }
    a = audit(table)
    assert a.state in (State.VALID, State.INVALID, State.INDETERMINATE)
    assert a.lookups >= 0 and a.void_lookups >= 0
    if a.state is State.VALID:
        assert a.lookups <= 10 and a.void_lookups <= 2
    json.dumps(a.to_dict())


def test_target_with_an_empty_label_is_an_error_in_the_audit() -> None:
    """RFC 7208 leaves `a:foo..example` undefined (permerror or no match): the audit flags it."""
    from bulkauth.dns.backends.zonefile import ZoneSet

    zones = ZoneSet.from_text(
        '@ 60 IN SOA ns. h. 1 2 3 4 5\n@ IN TXT "v=spf1 a:foo..example include:%{d}..x -all"\n',
        "t.example.",
    )
    audit = run_sync(audit_spf("t.example"), zones.answer)
    assert audit.state is State.INVALID
    assert [p.code for p in audit.problems].count("spf.invalid_target") == 2
