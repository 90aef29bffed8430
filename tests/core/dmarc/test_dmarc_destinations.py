"""DMARC report destinations (RFC 7489 7.1) and the domain's DMARC section, driven by answer dicts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bulkauth.core.common.model import Answer, Rcode, RType, State
from bulkauth.core.dmarc.audit import audit_dmarc
from bulkauth.core.dmarc.destinations import MAX_DESTINATIONS
from tests.core.dmarc.dmarckit import NODATA, SERVFAIL, TIMEOUT, addr, asked, drive, mx, txt

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
