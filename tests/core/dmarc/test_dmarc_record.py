"""DMARC record parsing: tags, effective policies, problems."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkauth.core.dmarc.record import DmarcRecord, parse_dmarc
from tests.core.dmarc.dmarckit import codes, severity


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
