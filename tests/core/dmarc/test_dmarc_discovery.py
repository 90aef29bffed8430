"""DMARC policy discovery (RFC 7489 PSL, RFC 9989 tree walk), driven by answer dicts."""

from __future__ import annotations

import pytest

from bulkauth.core.common.model import Answer, Query, RType, State
from bulkauth.core.dmarc.discovery import discover_dmarc, tree_walk_targets
from tests.core.dmarc.dmarckit import METHODS, SERVFAIL, TIMEOUT, asked, drive, txt

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
