"""BIMI assertion records, from answer dicts."""

from __future__ import annotations

import pytest

from bulkauth.core.bimi import BimiAudit, audit_bimi
from bulkauth.core.common.model import State
from tests.core.txtkit import DOMAIN, codes, run, txt

BIMI = f"default._bimi.{DOMAIN}"


def bimi(*records: str) -> BimiAudit:
    audit: BimiAudit = run(audit_bimi(DOMAIN), BIMI, txt(*records))
    return audit


def test_bimi_with_logo_and_certificate() -> None:
    audit = bimi("v=BIMI1; l=https://example.com/logo.svg; a=https://example.com/vmc.pem")
    assert audit.state is State.VALID and codes(audit) == []
    d = audit.to_dict()
    assert d["logo"] == "https://example.com/logo.svg"
    assert d["authority"] == "https://example.com/vmc.pem"
    assert d["selector"] == "default" and d["declined"] is False and d["logo_fetched"] is False


def test_bimi_without_certificate_is_info() -> None:
    audit = bimi("v=BIMI1; l=https://example.com/logo.svg")
    assert audit.state is State.VALID and codes(audit) == ["bimi.no_vmc"]
    assert audit.problems[0].severity == "info"
    assert codes(bimi("v=BIMI1; l=https://example.com/logo.svg; a=")) == ["bimi.no_vmc"]


@pytest.mark.parametrize("record", ["v=BIMI1; l=; a=;", "v=BIMI1; l=", "v=BIMI1;l= ;a= "])
def test_bimi_declined(record: str) -> None:
    audit = bimi(record)
    assert audit.state is State.VALID and audit.declined and codes(audit) == ["bimi.declined"]
    assert audit.problems[0].severity == "info"


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("v=BIMI1; l=http://example.com/logo.svg; a=https://e.com/v.pem", ["bimi.logo_not_https"]),
        ("v=BIMI1; l=example.com/logo.svg; a=https://e.com/v.pem", ["bimi.logo_not_https"]),
        (
            "v=BIMI1; l=https://example.com/logo.svg; a=http://e.com/v.pem",
            ["bimi.authority_not_https"],
        ),
        ("v=BIMI1; a=https://e.com/v.pem", ["bimi.syntax"]),  # no l=
        ("v=BIMI1", ["bimi.syntax"]),
        ("v=BIMI1; l=https://e.com/l.svg; l=https://e.com/m.svg", ["bimi.syntax"]),
        ("v=BIMI1; garbage; l=https://e.com/l.svg", ["bimi.syntax"]),
        ("v=BIMI2; l=https://e.com/l.svg; a=https://e.com/v.pem", ["bimi.syntax"]),
    ],
)
def test_bimi_errors(record: str, expected: list[str]) -> None:
    audit = bimi(record)
    assert audit.state is State.INVALID and codes(audit) == expected


def test_bimi_other_selector() -> None:
    name = f"brand._bimi.{DOMAIN}"
    audit = run(
        audit_bimi(DOMAIN, "brand"),
        name,
        txt("v=BIMI1; l=https://e.com/l.svg; a=https://e.com/v.pem"),
    )
    assert audit.state is State.VALID and audit.to_dict()["selector"] == "brand"
