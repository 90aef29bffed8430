"""MTA-STS (RFC 8461) DNS records, from answer dicts."""

from __future__ import annotations

import pytest

from bulkauth.core.common.model import State
from bulkauth.core.mta_sts import MtaStsAudit, audit_mta_sts
from tests.core.txtkit import DOMAIN, codes, run, txt

STS = f"_mta-sts.{DOMAIN}"


def sts(*records: str) -> MtaStsAudit:
    audit: MtaStsAudit = run(audit_mta_sts(DOMAIN), STS, txt(*records))
    return audit


def test_mta_sts_valid() -> None:
    audit = sts("v=STSv1; id=20240419T120000;")
    assert (
        audit.state is State.VALID and codes(audit) == [] and audit.policy_id == "20240419T120000"
    )
    d = audit.to_dict()
    assert d["policy_fetched"] is False
    assert d["policy_url"] == "https://mta-sts.example.com/.well-known/mta-sts.txt"
    assert d["id"] == "20240419T120000" and d["name"] == STS


def test_mta_sts_extension_fields_are_allowed() -> None:
    assert codes(sts("v=STSv1; id=abc; ext.1=value")) == []
    assert codes(sts("v=STSv1;id=abc ;  x=y;")) == []


@pytest.mark.parametrize(
    ("record", "code"),
    [
        ("v=STSv1", "mta_sts.bad_id"),  # no id=
        ("v=STSv1; id=", "mta_sts.bad_id"),
        ("v=STSv1; id=" + "a" * 33, "mta_sts.bad_id"),
        ("v=STSv1; id=2024-04-19", "mta_sts.bad_id"),
        ("v=STSv1; id=abc def", "mta_sts.bad_id"),
        ("v=STSv1;; id=abc", "mta_sts.syntax"),
        ("v=STSv1; id =abc", "mta_sts.syntax"),
        ("v=STSv1; id=abc; id=def", "mta_sts.syntax"),
        ("v=STSv1; id=abc; -x=y", "mta_sts.syntax"),
        ("v=STSv1; id=abc; x=a=b", "mta_sts.syntax"),
        ("v=STSv1; id=abc; flag", "mta_sts.syntax"),
        ("v=STSv1x; id=abc", "mta_sts.syntax"),
    ],
)
def test_mta_sts_errors(record: str, code: str) -> None:
    audit = sts(record)
    assert audit.state is State.INVALID and codes(audit) == [code]
    assert audit.problems[0].severity == "error"


def test_mta_sts_id_bounds() -> None:
    assert sts("v=STSv1; id=" + "a" * 32).policy_id == "a" * 32
    assert sts("v=STSv1; id=0").policy_id == "0"
