"""DMARC records, discovery and report destinations, driven by answer dicts (no sockets)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkauth.core.common.model import MX, Answer, Query, Rcode, RType, State
from bulkauth.core.common.step import Step, answers_from
from bulkauth.core.dmarc.audit import audit_dmarc
from bulkauth.core.dmarc.destinations import MAX_DESTINATIONS
from bulkauth.core.dmarc.discovery import Method, discover_dmarc, tree_walk_targets
from bulkauth.core.dmarc.record import DmarcRecord, parse_dmarc

T = TypeVar("T")
METHODS: tuple[Method, ...] = ("psl", "tree")
Table = Mapping[tuple[str, RType], Answer]


def codes(rec: DmarcRecord) -> list[str]:
    return [p.code for p in rec.problems]


def severity(rec: DmarcRecord, code: str) -> str:
    return next(p.severity for p in rec.problems if p.code == code)


def txt(*records: str) -> Answer:
    return Answer(Rcode.NOERROR, tuple((r.encode(),) for r in records), ttl=300)


def mx(*hosts: str) -> Answer:
    return Answer(Rcode.NOERROR, tuple(MX(10, h) for h in hosts), ttl=300)


def addr(*ips: str) -> Answer:
    return Answer(Rcode.NOERROR, ips, ttl=300)


NODATA = Answer(Rcode.NOERROR)
SERVFAIL = Answer(Rcode.SERVFAIL, detail="upstream failed")
TIMEOUT = Answer(Rcode.TIMEOUT)


def drive(step: Step[T], table: Table) -> tuple[T, list[tuple[Query, ...]]]:
    """Run a check against a table; also return the batches it asked, to check concurrency."""
    answer = answers_from(table)
    batches: list[tuple[Query, ...]] = []
    try:
        batch = step.send(None)  # type: ignore[arg-type]
        while True:
            batches.append(batch)
            batch = step.send(tuple(answer(q) for q in batch))
    except StopIteration as stop:
        return stop.value, batches


def asked(batches: list[tuple[Query, ...]]) -> list[str]:
    return [q.name for b in batches for q in b]


# --------------------------------------------------------------------------------------------
# parse_dmarc


def test_full_record() -> None:
    rec = parse_dmarc(
        "v=DMARC1; p=quarantine; sp=reject; np=reject; adkim=s; aspf=r; fo=1:d; "
        "rua=mailto:agg@example.com,mailto:x@reports.example.net!10m; ruf=mailto:f@example.com; "
        "t=n; psd=u"
    )
    assert rec.is_dmarc
    assert (rec.p, rec.sp, rec.np, rec.adkim, rec.aspf) == (
        "quarantine",
        "reject",
        "reject",
        "s",
        "r",
    )
    assert rec.fo == ("1", "d")
    assert [u.address for u in rec.rua] == ["agg@example.com", "x@reports.example.net"]
    assert rec.rua[1].size_limit == 10 * 1024 * 1024
    assert rec.rua[1].uri == "mailto:x@reports.example.net!10m"
    assert rec.ruf[0].domain == "example.com"
    assert (rec.policy, rec.subdomain_policy, rec.nonexistent_policy) == (
        "quarantine",
        "reject",
        "reject",
    )
    assert rec.problems == []
    json.dumps(rec.to_dict())


def test_case_and_whitespace() -> None:
    # Tag names and keyword values are ABNF quoted strings: case-insensitive.
    rec = parse_dmarc("v = DMARC1 ;  P = Reject ; ADKIM=S; Rua = MAILTO:A@Example.COM ;")
    assert rec.is_dmarc and rec.p == "reject" and rec.adkim == "s"
    assert rec.rua[0].domain == "example.com"
    assert rec.tags == {"v": "DMARC1", "p": "Reject", "adkim": "S", "rua": "MAILTO:A@Example.COM"}
    assert rec.problems == []


def test_defaults() -> None:
    rec = parse_dmarc("v=DMARC1; p=quarantine; rua=mailto:d@example.com")
    assert (rec.adkim, rec.aspf, rec.pct, rec.fo, rec.rf, rec.ri) == (
        "r",
        "r",
        100,
        ("0",),
        ("afrf",),
        86400,
    )
    assert rec.subdomain_policy == rec.nonexistent_policy == "quarantine"
    assert rec.psd == "u" and not rec.testing
    assert codes(rec) == []


def test_np_falls_back_to_sp_then_p() -> None:
    rec = parse_dmarc("v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com")
    assert rec.nonexistent_policy == "quarantine"
    rec = parse_dmarc("v=DMARC1; p=quarantine; np=reject; rua=mailto:d@example.com")
    assert (rec.subdomain_policy, rec.nonexistent_policy) == ("quarantine", "reject")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("p=reject; v=DMARC1", "dmarc.v_not_first"),
        ("rua=mailto:a@example.com; v=DMARC1; p=none", "dmarc.v_not_first"),
        ("v=DMARC2; p=reject", "dmarc.syntax"),
        ("v=dmarc1; p=reject", "dmarc.syntax"),  # the version is case-sensitive
        ("v=DMARC1 p=reject", "dmarc.syntax"),  # missing ';' swallows the rest into v
        ("p=reject", "dmarc.syntax"),
        ("", "dmarc.syntax"),
        (" ; ;", "dmarc.syntax"),
    ],
)
def test_not_a_dmarc_record(text: str, code: str) -> None:
    rec = parse_dmarc(text)
    assert not rec.is_dmarc
    assert codes(rec)[0] == code and severity(rec, code) == "error"
    assert rec.policy is rec.subdomain_policy is rec.nonexistent_policy is None


def test_syntax_error_in_remainder_keeps_the_rest() -> None:
    rec = parse_dmarc("v=DMARC1; p=reject; this is junk; 9x=1; rua=mailto:d@example.com")
    assert rec.is_dmarc and rec.policy == "reject"
    assert codes(rec).count("dmarc.syntax") == 2
    assert len(rec.rua) == 1


def test_empty_segments_are_tolerated() -> None:
    rec = parse_dmarc("v=DMARC1;; p=reject;;rua=mailto:d@example.com;")
    assert rec.is_dmarc and codes(rec) == []


def test_no_policy_with_rua_acts_as_none() -> None:
    rec = parse_dmarc("v=DMARC1; rua=mailto:d@example.com")
    assert codes(rec) == ["dmarc.no_policy"]
    assert severity(rec, "dmarc.no_policy") == "error"
    assert (rec.policy, rec.subdomain_policy, rec.nonexistent_policy) == ("none",) * 3


def test_no_policy_without_rua_applies_nothing() -> None:
    rec = parse_dmarc("v=DMARC1; adkim=s")
    assert "dmarc.no_policy" in codes(rec) and "dmarc.no_rua" in codes(rec)
    assert rec.policy is None


def test_invalid_policy_with_valid_rua_is_none() -> None:
    # RFC 7489 6.6.3: the error stands, and the record acts as p=none.
    rec = parse_dmarc("v=DMARC1; p=maybe; sp=reject; rua=mailto:d@example.com")
    assert codes(rec) == ["dmarc.invalid_policy"]
    assert rec.p is None and rec.policy == "none" and rec.subdomain_policy == "none"


def test_invalid_policy_with_only_invalid_rua_applies_nothing() -> None:
    rec = parse_dmarc("v=DMARC1; p=maybe; rua=d@example.com")
    assert set(codes(rec)) == {"dmarc.invalid_policy", "dmarc.invalid_uri"}
    assert rec.policy is None


@pytest.mark.parametrize(("tag", "code"), [("sp", "dmarc.invalid_sp"), ("np", "dmarc.invalid_np")])
def test_invalid_sp_np_demote_the_record(tag: str, code: str) -> None:
    rec = parse_dmarc(f"v=DMARC1; p=reject; {tag}=maybe; rua=mailto:d@example.com")
    assert codes(rec) == [code]
    assert severity(rec, code) == "error"
    assert rec.p == "reject" and rec.policy == "none"


@pytest.mark.parametrize(
    ("tag", "value", "code"),
    [
        ("adkim", "x", "dmarc.invalid_adkim"),
        ("aspf", "relaxed", "dmarc.invalid_aspf"),
        ("fo", "0:2", "dmarc.invalid_fo"),
        ("fo", "", "dmarc.invalid_fo"),
        ("rf", "iodef", "dmarc.invalid_rf"),
        ("ri", "1h", "dmarc.invalid_ri"),
        ("ri", "4294967296", "dmarc.invalid_ri"),
        ("t", "yes", "dmarc.invalid_t"),
        ("psd", "maybe", "dmarc.invalid_psd"),
    ],
)
def test_invalid_values_are_errors_and_defaults_stay(tag: str, value: str, code: str) -> None:
    rec = parse_dmarc(f"v=DMARC1; p=reject; rua=mailto:d@example.com; {tag}={value}")
    assert code in codes(rec) and severity(rec, code) == "error"
    assert rec.policy == "reject"  # only the bad tag is discarded
    default = DmarcRecord(text="")
    field = {"t": "testing"}.get(tag, tag)
    assert getattr(rec, field) == getattr(default, field)


@pytest.mark.parametrize("value", ["150", "-1", "abc", "1000", "", "50.5", "\uff15\uff10"])
def test_invalid_pct_is_discarded(value: str) -> None:
    rec = parse_dmarc(f"v=DMARC1; p=reject; pct={value}; rua=mailto:d@example.com")
    assert "dmarc.invalid_pct" in codes(rec) and severity(rec, "dmarc.invalid_pct") == "error"
    assert rec.pct == 100
    assert "dmarc.pct_partial" not in codes(rec)


def test_pct_partial_and_removed() -> None:
    rec = parse_dmarc("v=DMARC1; p=quarantine; pct=25; rua=mailto:d@example.com")
    assert rec.pct == 25
    assert severity(rec, "dmarc.pct_partial") == "warning"
    assert severity(rec, "dmarc.removed_tag") == "info"
    assert "dmarc.pct_partial" not in codes(parse_dmarc("v=DMARC1; p=none; pct=25"))
    assert "dmarc.pct_partial" not in codes(parse_dmarc("v=DMARC1; p=reject; pct=100"))


def test_removed_tags_rf_ri() -> None:
    rec = parse_dmarc("v=DMARC1; p=reject; rf=afrf; ri=3600; rua=mailto:d@example.com")
    assert codes(rec) == ["dmarc.removed_tag", "dmarc.removed_tag"]
    assert rec.ri == 3600 and rec.rf == ("afrf",)


def test_unknown_tag_is_a_warning() -> None:
    rec = parse_dmarc("v=DMARC1; p=reject; rua=mailto:d@example.com; x_custom=1")
    assert codes(rec) == ["dmarc.unknown_tag"]
    assert severity(rec, "dmarc.unknown_tag") == "warning"
    assert rec.tags["x_custom"] == "1"


def test_duplicate_tag_keeps_first() -> None:
    rec = parse_dmarc("v=DMARC1; p=reject; P=none; rua=mailto:d@example.com")
    assert codes(rec) == ["dmarc.duplicate_tag"]
    assert rec.policy == "reject" and rec.tags["p"] == "reject"


def test_p_none_and_no_rua() -> None:
    rec = parse_dmarc("v=DMARC1; p=none")
    assert codes(rec) == ["dmarc.p_none", "dmarc.no_rua"]
    assert {p.severity for p in rec.problems} == {"warning"}


def test_weaker_subdomain_policies() -> None:
    rec = parse_dmarc("v=DMARC1; p=reject; sp=none; np=quarantine; rua=mailto:d@example.com")
    assert codes(rec) == ["dmarc.sp_weaker", "dmarc.np_weaker"]
    rec = parse_dmarc("v=DMARC1; p=quarantine; sp=reject; np=reject; rua=mailto:d@example.com")
    assert codes(rec) == []


def test_psd_and_testing() -> None:
    rec = parse_dmarc("v=DMARC1; p=reject; psd=y; t=y; rua=mailto:d@example.com")
    assert rec.psd == "y" and rec.testing
    assert severity(rec, "dmarc.psd") == "info"
    assert severity(rec, "dmarc.testing") == "warning"
    assert "dmarc.testing" not in codes(parse_dmarc("v=DMARC1; p=none; t=y"))


@pytest.mark.parametrize(
    "uri",
    [
        "https://example.com/report",
        "d@example.com",
        "mailto:",
        "mailto:@example.com",
        "mailto:d@",
        "mailto:d@example",
        "mailto:d@exa mple.com",
        "mailto:d@[192.0.2.1]",
        "mailto:d@example.com!10x",
        "mailto:d!x@example.com",
        "mailto:a b@example.com",
    ],
)
def test_invalid_uri(uri: str) -> None:
    rec = parse_dmarc(f"v=DMARC1; p=reject; rua={uri}")
    assert "dmarc.invalid_uri" in codes(rec)
    assert severity(rec, "dmarc.invalid_uri") == "error"
    assert rec.rua == ()


@pytest.mark.parametrize(
    ("uri", "address", "size"),
    [
        ("mailto:d@example.com!10m", "d@example.com", 10 << 20),
        ("mailto:d@example.com!500", "d@example.com", 500),
        ("mailto:d@example.com!2K", "d@example.com", 2048),
        ("mailto:d%2Bdmarc@example.com", "d+dmarc@example.com", None),
        ("mailto:d@example.com?subject=dmarc", "d@example.com", None),
        ("mailto:d@b\u00fccher.example", "d@xn--bcher-kva.example", None),
    ],
)
def test_valid_uri(uri: str, address: str, size: int | None) -> None:
    rec = parse_dmarc(f"v=DMARC1; p=reject; rua={uri}")
    assert codes(rec) == []
    assert rec.rua[0].address == address and rec.rua[0].size_limit == size


def test_uri_list_keeps_valid_items() -> None:
    rec = parse_dmarc("v=DMARC1; p=reject; rua=mailto:a@example.com, http://x, ,mailto:b@x.org")
    assert [u.address for u in rec.rua] == ["a@example.com", "b@x.org"]
    assert codes(rec).count("dmarc.invalid_uri") == 2


def test_bounds_on_hostile_records() -> None:
    rec = parse_dmarc("v=DMARC1; p=reject; " + "; ".join(f"x{i}=1" for i in range(500)))
    assert rec.is_dmarc and "dmarc.syntax" in codes(rec)
    assert len(rec.problems) < 80
    rec = parse_dmarc("v=DMARC1; p=reject; rua=" + ",".join(["mailto:a@example.com"] * 100))
    assert len(rec.rua) == 32 and "dmarc.invalid_uri" in codes(rec)


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_parse_never_raises(text: str) -> None:
    rec = parse_dmarc(text)
    json.dumps(rec.to_dict())
    if not rec.is_dmarc:
        assert rec.policy is None and any(p.severity == "error" for p in rec.problems)


_TAG_VALUES = st.sampled_from(
    [
        "p=none",
        "p=quarantine",
        "p=reject",
        "sp=reject",
        "np=none",
        "adkim=s",
        "aspf=r",
        "pct=50",
        "fo=0:1:d:s",
        "rua=mailto:a@example.com",
        "ruf=mailto:f@example.org!1m",
        "t=y",
        "psd=n",
        "zz=whatever",
        "p=bogus",
        "rua=nomailto",
        "pct=999",
        "garbage",
        "",
    ]
)


@given(st.lists(_TAG_VALUES, max_size=12), st.sampled_from([";", " ; ", ";\t"]))
@settings(max_examples=300, deadline=None)
def test_parse_tag_soup(parts: list[str], sep: str) -> None:
    rec = parse_dmarc(sep.join(["v=DMARC1", *parts]))
    assert rec.is_dmarc
    errors = any(p.severity == "error" for p in rec.problems)
    if rec.p is not None and not errors:
        assert rec.policy == rec.p
    if not any(x.startswith("p=") for x in parts):
        assert "dmarc.no_policy" in codes(rec)


# --------------------------------------------------------------------------------------------
# discovery

GOOD = "v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@example.co.uk"


def test_own_record_psl() -> None:
    table = {("_dmarc.example.co.uk", RType.TXT): txt(GOOD, "some other text")}
    d, batches = drive(discover_dmarc("example.co.uk"), table)
    assert d.state is State.VALID and not d.inherited
    assert d.policy_domain == "example.co.uk" and d.org_domain == "example.co.uk"
    assert (d.policy, d.subdomain_policy) == ("reject", "quarantine")
    assert asked(batches) == ["_dmarc.example.co.uk"]


def test_inherited_via_psl() -> None:
    table = {("_dmarc.example.co.uk", RType.TXT): txt(GOOD)}
    d, batches = drive(discover_dmarc("a.b.example.co.uk", "psl"), table)
    assert d.state is State.VALID and d.inherited and d.method == "psl"
    assert d.policy_domain == "example.co.uk"
    assert (d.policy, d.subdomain_policy) == ("quarantine", "quarantine")
    # both names in one batch: the org domain's answer usually comes from the cache
    assert batches == [
        (
            Query("_dmarc.a.b.example.co.uk", RType.TXT),
            Query("_dmarc.example.co.uk", RType.TXT),
        )
    ]


def test_inherited_via_tree_walk() -> None:
    table = {("_dmarc.example.co.uk", RType.TXT): txt(GOOD)}
    d, batches = drive(discover_dmarc("a.b.example.co.uk", "tree"), table)
    assert d.state is State.VALID and d.inherited and d.method == "tree"
    assert d.policy_domain == "example.co.uk" and d.org_domain == "example.co.uk"
    assert d.policy == "quarantine"
    assert asked(batches) == [
        "_dmarc.a.b.example.co.uk",
        "_dmarc.b.example.co.uk",
        "_dmarc.example.co.uk",
        "_dmarc.co.uk",
        "_dmarc.uk",
    ]
    assert len(batches) == 1


def test_tree_walk_picks_the_record_with_fewest_labels() -> None:
    # RFC 9989 4.10.2 rule 3: without psd tags the organisational domain is the highest name
    # with a record, and policy discovery prefers its record to the nearer one.
    table = {
        ("_dmarc.b.example.co.uk", RType.TXT): txt("v=DMARC1; p=none; rua=mailto:x@example.co.uk"),
        ("_dmarc.example.co.uk", RType.TXT): txt(GOOD),
    }
    d, _ = drive(discover_dmarc("a.b.example.co.uk", "tree"), table)
    assert d.policy_domain == "example.co.uk" and d.policy == "quarantine"


def test_tree_walk_stops_at_psd_n() -> None:
    table = {
        ("_dmarc.b.example.co.uk", RType.TXT): txt(
            "v=DMARC1; p=reject; sp=none; psd=n; rua=mailto:x@example.co.uk"
        ),
        ("_dmarc.example.co.uk", RType.TXT): txt(GOOD),
        # beyond the stop: a failure there cannot change the result
        ("_dmarc.co.uk", RType.TXT): SERVFAIL,
    }
    d, _ = drive(discover_dmarc("a.b.example.co.uk", "tree"), table)
    assert d.state is State.VALID
    assert d.policy_domain == "b.example.co.uk" and d.org_domain == "b.example.co.uk"
    assert d.policy == "none"  # sp of the psd=n record
    assert "dmarc.p_none" in [p.code for p in d.problems]  # about the inherited sp=none
    assert "dmarc.psd" in [p.code for p in d.problems]


def test_tree_walk_psd_y_record_applies_when_org_has_none() -> None:
    table = {
        ("_dmarc.gov.example", RType.TXT): txt(
            "v=DMARC1; p=reject; np=reject; psd=y; rua=mailto:psd@gov.example"
        )
    }
    d, _ = drive(discover_dmarc("mail.agency.gov.example", "tree"), table)
    assert d.state is State.VALID and d.inherited
    assert d.policy_domain == "gov.example" and d.org_domain == "agency.gov.example"
    assert d.policy == "reject"
    psd = next(p for p in d.problems if p.code == "dmarc.psd")
    assert psd.severity == "info"


def test_tree_walk_psd_y_prefers_org_record() -> None:
    table = {
        ("_dmarc.agency.gov.example", RType.TXT): txt(
            "v=DMARC1; p=quarantine; rua=mailto:a@agency.gov.example"
        ),
        ("_dmarc.gov.example", RType.TXT): txt("v=DMARC1; p=reject; psd=y"),
    }
    d, _ = drive(discover_dmarc("mail.agency.gov.example", "tree"), table)
    assert d.policy_domain == "agency.gov.example" and d.policy == "quarantine"


def test_tree_walk_targets_are_bounded() -> None:
    # RFC 9989 4.10's own example: eight queries at most.
    name = "a.b.c.d.e.f.g.h.i.j.mail.example.com"
    assert tree_walk_targets(name) == [
        "g.h.i.j.mail.example.com",
        "h.i.j.mail.example.com",
        "i.j.mail.example.com",
        "j.mail.example.com",
        "mail.example.com",
        "example.com",
        "com",
    ]
    assert tree_walk_targets("example.com") == ["com"]
    assert tree_walk_targets("com") == []
    assert len(tree_walk_targets("h.g.f.e.d.c.b.a")) == 7  # eight labels: parent, then one by one
    _, batches = drive(discover_dmarc(".".join("x" * 30) + ".com", "tree"), {})
    assert len(asked(batches)) == 8


def test_missing() -> None:
    table = {("_dmarc.example.com", RType.TXT): txt("google-site-verification=abc")}
    for method in METHODS:
        d, _ = drive(discover_dmarc("example.com", method), table)
        assert d.state is State.MISSING and d.record is None and d.policy is None
        assert [p.code for p in d.problems] == ["dmarc.no_record"]


def test_multiple_records_psl_applies_none() -> None:
    table = {
        ("_dmarc.mail.example.com", RType.TXT): txt("v=DMARC1; p=reject", "v=DMARC1; p=none"),
        ("_dmarc.example.com", RType.TXT): txt(GOOD),
    }
    d, _ = drive(discover_dmarc("mail.example.com", "psl"), table)
    assert d.state is State.INVALID and d.record is None and d.policy is None
    assert [p.code for p in d.problems] == ["dmarc.multiple_records"]
    assert d.problems[0].severity == "error"


def test_multiple_records_tree_walks_on() -> None:
    table = {
        ("_dmarc.mail.example.com", RType.TXT): txt("v=DMARC1; p=reject", "v=DMARC1; p=none"),
        ("_dmarc.example.com", RType.TXT): txt(GOOD),
    }
    d, _ = drive(discover_dmarc("mail.example.com", "tree"), table)
    assert d.state is State.INVALID and d.inherited
    assert d.policy_domain == "example.com" and d.policy == "quarantine"
    assert "dmarc.multiple_records" in [p.code for p in d.problems]


def test_multiple_records_at_org_domain() -> None:
    table = {("_dmarc.example.com", RType.TXT): txt(GOOD, GOOD)}
    d, _ = drive(discover_dmarc("mail.example.com", "psl"), table)
    assert d.state is State.INVALID and d.record is None
    assert [p.code for p in d.problems] == ["dmarc.multiple_records"]


def test_near_miss_record_is_invalid_not_missing() -> None:
    table = {("_dmarc.example.com", RType.TXT): txt("v=dmarc1; p=reject")}
    d, _ = drive(discover_dmarc("example.com"), table)
    assert d.state is State.INVALID and d.record is None
    assert [p.code for p in d.problems] == ["dmarc.syntax"]
    table = {("_dmarc.example.com", RType.TXT): txt("p=reject; v=DMARC1")}
    d, _ = drive(discover_dmarc("example.com"), table)
    assert [p.code for p in d.problems] == ["dmarc.v_not_first"]


@pytest.mark.parametrize("failure", [SERVFAIL, TIMEOUT])
def test_dns_failure_is_indeterminate(failure: Answer) -> None:
    table = {("_dmarc.example.com", RType.TXT): failure}
    for method in METHODS:
        d, _ = drive(discover_dmarc("example.com", method), table)
        assert d.state is State.INDETERMINATE and d.record is None
        assert d.failure is not None
        assert d.failure.to_dict()["name"] == "_dmarc.example.com"
        assert d.failure.rcode == failure.rcode.value


def test_dns_failure_at_org_domain_is_indeterminate() -> None:
    table = {("_dmarc.example.com", RType.TXT): SERVFAIL}
    d, _ = drive(discover_dmarc("mail.example.com", "psl"), table)
    assert d.state is State.INDETERMINATE
    d, _ = drive(discover_dmarc("a.mail.example.com", "tree"), table)
    assert d.state is State.INDETERMINATE and d.failure is not None
    assert d.failure.name == "_dmarc.example.com"


def test_parent_failure_only_hides_subdomain_policy() -> None:
    table = {
        ("_dmarc.mail.example.com", RType.TXT): txt(GOOD),
        ("_dmarc.example.com", RType.TXT): SERVFAIL,
    }
    for method in METHODS:
        d, _ = drive(discover_dmarc("mail.example.com", method), table)
        assert d.state is State.VALID and d.policy == "reject"
        assert d.subdomain_policy is None


def test_subdomain_policy_of_a_non_org_domain() -> None:
    # sp in a record below the organisational domain is not what its subdomains get: their
    # discovery falls back to the organisational domain (RFC 9989 on "sp").
    table = {
        ("_dmarc.mail.example.com", RType.TXT): txt("v=DMARC1; p=reject; sp=none"),
        ("_dmarc.example.com", RType.TXT): txt(
            "v=DMARC1; p=none; sp=quarantine; rua=mailto:d@example.com"
        ),
    }
    for method in METHODS:
        d, _ = drive(discover_dmarc("mail.example.com", method), table)
        assert (d.policy, d.subdomain_policy) == ("reject", "quarantine")
        assert d.org_domain == "example.com"


def test_org_domain_own_record_psd_n_stops() -> None:
    table = {
        ("_dmarc.mail.example.com", RType.TXT): txt("v=DMARC1; p=reject; sp=quarantine; psd=n"),
        ("_dmarc.example.com", RType.TXT): txt("v=DMARC1; p=none"),
        ("_dmarc.com", RType.TXT): SERVFAIL,
    }
    d, _ = drive(discover_dmarc("mail.example.com", "tree"), table)
    assert d.org_domain == "mail.example.com" and d.subdomain_policy == "quarantine"


def test_inherited_p_none_warning_follows_the_subdomain_policy() -> None:
    table = {
        ("_dmarc.example.com", RType.TXT): txt(
            "v=DMARC1; p=none; sp=reject; rua=mailto:d@example.com"
        )
    }
    d, _ = drive(discover_dmarc("mail.example.com"), table)
    assert d.policy == "reject"
    assert "dmarc.p_none" not in [p.code for p in d.problems]


def test_unknown_method_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="method"):
        drive(discover_dmarc("example.com", "dns"), {})  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# report destinations and the audit

POLICY = (
    "v=DMARC1; p=reject; rua=mailto:agg@reports.example.net,mailto:me@example.com; "
    "ruf=mailto:f@reports.example.net"
)
BASE: dict[tuple[str, RType], Answer] = {
    ("_dmarc.example.com", RType.TXT): txt(POLICY),
    ("reports.example.net", RType.MX): mx("mx.example.net"),
    ("example.com", RType.MX): mx("mx.example.com"),
}


def dest(audit: Any, uri_part: str) -> dict[str, Any]:
    for d in audit.to_dict()["report_destinations"]:
        if uri_part in d["uri"]:
            return d  # type: ignore[no-any-return]
    raise AssertionError(uri_part)


def test_external_authorized() -> None:
    table = {
        **BASE,
        ("example.com._report._dmarc.reports.example.net", RType.TXT): txt("v=DMARC1"),
    }
    audit, batches = drive(audit_dmarc("example.com"), table)
    assert len(batches) == 2  # discovery, then every destination check at once
    assert set(asked(batches[1:])) == {
        "reports.example.net",
        "example.com._report._dmarc.reports.example.net",
        "example.com",
    }
    assert dest(audit, "agg@") == {
        "uri": "mailto:agg@reports.example.net",
        "tag": "rua",
        "domain": "reports.example.net",
        "external": True,
        "authorized": True,
        "accepts_mail": True,
    }
    assert dest(audit, "f@")["tag"] == "ruf"
    internal = dest(audit, "me@")
    assert internal["external"] is False and internal["authorized"] is True
    assert [p.code for p in audit.problems] == []
    assert audit.state is State.VALID


def test_external_authorized_by_wildcard() -> None:
    table = {**BASE, ("*._report._dmarc.reports.example.net", RType.TXT): txt("v=DMARC1;")}
    audit, batches = drive(audit_dmarc("example.com"), table)
    assert dest(audit, "agg@")["authorized"] is True
    assert "*._report._dmarc.reports.example.net" in asked(batches[2:])
    assert audit.problems == []


def test_external_unauthorized() -> None:
    table = {
        **BASE,
        ("example.com._report._dmarc.reports.example.net", RType.TXT): txt("v=spf1 -all"),
    }
    audit, _ = drive(audit_dmarc("example.com"), table)
    assert dest(audit, "agg@")["authorized"] is False
    probs = [p for p in audit.problems if p.code == "dmarc.report_unauthorized"]
    assert len(probs) == 1 and probs[0].severity == "warning"
    assert "rua and ruf" in probs[0].message
    assert audit.state is State.VALID  # a warning does not change the state


def test_external_authorization_dns_failure_is_unknown() -> None:
    table = {**BASE, ("example.com._report._dmarc.reports.example.net", RType.TXT): TIMEOUT}
    audit, _ = drive(audit_dmarc("example.com"), table)
    assert dest(audit, "agg@")["authorized"] is None
    assert audit.problems == []


def test_same_organisation_is_not_external() -> None:
    table = {
        ("_dmarc.example.com", RType.TXT): txt(
            "v=DMARC1; p=reject; rua=mailto:d@dmarc.example.com"
        ),
        ("dmarc.example.com", RType.MX): mx("mx.example.com"),
    }
    audit, batches = drive(audit_dmarc("example.com"), table)
    assert dest(audit, "d@")["external"] is False
    assert not any("_report" in n for n in asked(batches))


@pytest.mark.parametrize(
    ("answers", "accepts"),
    [
        ({("reports.example.net", RType.MX): mx("")}, False),  # RFC 7505 null MX
        (
            {
                ("reports.example.net", RType.MX): NODATA,
                ("reports.example.net", RType.A): addr("192.0.2.1"),
            },
            True,
        ),
        (
            {
                ("reports.example.net", RType.MX): NODATA,
                ("reports.example.net", RType.AAAA): addr("2001:db8::1"),
            },
            True,
        ),
        (
            {("reports.example.net", RType.MX): NODATA, ("reports.example.net", RType.A): NODATA},
            False,
        ),
        ({("reports.example.net", RType.MX): Answer(Rcode.NXDOMAIN)}, False),
        ({("reports.example.net", RType.MX): SERVFAIL}, None),
        (
            {("reports.example.net", RType.MX): NODATA, ("reports.example.net", RType.A): SERVFAIL},
            None,
        ),
    ],
)
def test_destination_accepts_mail(
    answers: dict[tuple[str, RType], Answer], accepts: bool | None
) -> None:
    table = {
        ("_dmarc.example.com", RType.TXT): txt(
            "v=DMARC1; p=reject; rua=mailto:a@reports.example.net"
        ),
        ("example.com._report._dmarc.reports.example.net", RType.TXT): txt("v=DMARC1"),
        **answers,
    }
    audit, _ = drive(audit_dmarc("example.com"), table)
    assert dest(audit, "a@")["accepts_mail"] is accepts
    no_mail = [p for p in audit.problems if p.code == "dmarc.report_domain_no_mail"]
    assert len(no_mail) == (1 if accepts is False else 0)
    assert all(p.severity == "warning" for p in no_mail)


def test_inherited_policy_authorisation_names_the_policy_domain() -> None:
    table = {
        **BASE,
        ("_dmarc.mail.example.com", RType.TXT): NODATA,
        ("example.com._report._dmarc.reports.example.net", RType.TXT): txt("v=DMARC1"),
    }
    audit, batches = drive(audit_dmarc("mail.example.com"), table)
    assert audit.to_dict()["domain"] == "example.com" and audit.to_dict()["inherited"] is True
    assert "mail.example.com._report._dmarc.reports.example.net" not in asked(batches)
    assert dest(audit, "agg@")["authorized"] is True


def test_destination_checks_are_bounded() -> None:
    uris = ",".join(f"mailto:d@r{i}.example.net" for i in range(20))
    table = {("_dmarc.example.com", RType.TXT): txt(f"v=DMARC1; p=reject; rua={uris}")}
    audit, batches = drive(audit_dmarc("example.com"), table)
    mx_asked = [q for b in batches for q in b if q.rtype is RType.MX]
    assert len(mx_asked) == MAX_DESTINATIONS
    unchecked = audit.report_destinations[-1]
    assert unchecked.authorized is None and unchecked.accepts_mail is None


def test_audit_to_dict() -> None:
    table = {
        **BASE,
        ("example.com._report._dmarc.reports.example.net", RType.TXT): txt("v=DMARC1"),
    }
    audit, _ = drive(audit_dmarc("example.com", "tree"), table)
    d = audit.to_dict()
    assert set(d) >= {
        "state",
        "domain",
        "record",
        "inherited",
        "method",
        "policy",
        "subdomain_policy",
        "pct",
        "tags",
        "rua",
        "ruf",
        "report_destinations",
        "problems",
    }
    assert d["state"] == "valid" and d["method"] == "tree" and d["record"] == POLICY
    assert d["rua"] == ["mailto:agg@reports.example.net", "mailto:me@example.com"]
    assert d["pct"] == 100 and d["tags"]["p"] == "reject"
    json.dumps(d)


def test_audit_missing_and_indeterminate_to_dict() -> None:
    audit, batches = drive(audit_dmarc("example.com"), {})
    d = audit.to_dict()
    assert d["state"] == "missing" and d["record"] is None and d["report_destinations"] == []
    assert len(batches) == 1
    audit, _ = drive(audit_dmarc("example.com"), {("_dmarc.example.com", RType.TXT): SERVFAIL})
    d = audit.to_dict()
    assert d["state"] == "indeterminate" and d["dns_failure"]["rcode"] == "SERVFAIL"
    assert d["problems"] == []
    json.dumps(d)
