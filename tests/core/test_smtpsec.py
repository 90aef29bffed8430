"""MTA-STS (RFC 8461), TLS-RPT (RFC 8460) and BIMI DNS records, from answer dicts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkauth.core.common.model import Answer, Query, Rcode, RType, State
from bulkauth.core.common.step import Step, run_sync
from bulkauth.core.smtpsec import (
    BimiAudit,
    MtaStsAudit,
    RecordAudit,
    TlsRptAudit,
    audit_bimi,
    audit_mta_sts,
    audit_tls_rpt,
)

DOMAIN = "example.com"
STS = f"_mta-sts.{DOMAIN}"
RPT = f"_smtp._tls.{DOMAIN}"
BIMI = f"default._bimi.{DOMAIN}"


def txt(*records: str) -> Answer:
    return Answer(Rcode.NOERROR, tuple((r.encode(),) for r in records), ttl=300)


def run(step: Step[Any], name: str, answer: Answer) -> Any:
    asked: list[Query] = []

    def reply(q: Query) -> Answer:
        asked.append(q)
        return answer

    result = run_sync(step, reply)
    assert asked == [Query(name, RType.TXT)]  # exactly one question, at the right name
    json.dumps(result.to_dict())
    return result


def codes(audit: RecordAudit) -> list[str]:
    return [p.code for p in audit.problems]


def sts(*records: str) -> MtaStsAudit:
    audit: MtaStsAudit = run(audit_mta_sts(DOMAIN), STS, txt(*records))
    return audit


def rpt(*records: str) -> TlsRptAudit:
    audit: TlsRptAudit = run(audit_tls_rpt(DOMAIN), RPT, txt(*records))
    return audit


def bimi(*records: str) -> BimiAudit:
    audit: BimiAudit = run(audit_bimi(DOMAIN), BIMI, txt(*records))
    return audit


AUDITS: list[tuple[Callable[[str], Step[Any]], str]] = [
    (audit_mta_sts, STS),
    (audit_tls_rpt, RPT),
    (audit_bimi, BIMI),
]


# --- shared discovery rules -------------------------------------------------------------------


@pytest.mark.parametrize(("audit", "name"), AUDITS)
@pytest.mark.parametrize("empty", [Answer(Rcode.NXDOMAIN), Answer(Rcode.NOERROR)])
def test_absent_record_is_missing(
    audit: Callable[[str], Step[Any]], name: str, empty: Answer
) -> None:
    result = run(audit(DOMAIN), name, empty)
    assert result.state is State.MISSING and result.problems == [] and result.record is None


@pytest.mark.parametrize(("audit", "name"), AUDITS)
@pytest.mark.parametrize("rcode", [Rcode.SERVFAIL, Rcode.TIMEOUT])
def test_dns_failure_is_indeterminate(
    audit: Callable[[str], Step[Any]], name: str, rcode: Rcode
) -> None:
    result = run(audit(DOMAIN), name, Answer(rcode))
    assert result.state is State.INDETERMINATE
    assert result.to_dict()["dns_failure"] == {"name": name, "type": "TXT", "rcode": rcode.value}


@pytest.mark.parametrize(
    ("audit", "name", "prefix", "record"),
    [
        (audit_mta_sts, STS, "mta_sts", "v=STSv1; id=1"),
        (audit_tls_rpt, RPT, "tls_rpt", "v=TLSRPTv1; rua=mailto:r@example.com"),
        (audit_bimi, BIMI, "bimi", "v=BIMI1; l=https://example.com/l.svg"),
    ],
)
def test_discovery(audit: Callable[[str], Step[Any]], name: str, prefix: str, record: str) -> None:
    # Records without the version are discarded; the one that remains is graded.
    ok = run(audit(DOMAIN), name, txt("unrelated verification token", record))
    assert ok.record == record and ok.state is State.VALID
    two = run(audit(DOMAIN), name, txt(record, record + "2"))
    assert two.state is State.INVALID and codes(two) == [f"{prefix}.multiple_records"]
    other = run(audit(DOMAIN), name, txt("something else"))
    assert other.state is State.INVALID and codes(other) == [f"{prefix}.syntax"]
    # Versions are case-sensitive (%s in the ABNF); say so rather than "no record".
    lower = run(audit(DOMAIN), name, txt(record.lower()))
    assert codes(lower) == [f"{prefix}.syntax"] and "exactly" in lower.problems[0].message


# --- MTA-STS ----------------------------------------------------------------------------------


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


# --- TLS-RPT ----------------------------------------------------------------------------------


def test_tls_rpt_valid() -> None:
    audit = rpt("v=TLSRPTv1; rua=mailto:tls@example.com, https://reports.example.net/tlsrpt")
    assert audit.state is State.VALID and codes(audit) == []
    assert audit.rua == ["mailto:tls@example.com", "https://reports.example.net/tlsrpt"]
    assert audit.to_dict()["rua"] == audit.rua


@pytest.mark.parametrize(
    "uri",
    [
        "ftp://example.com/x",
        "mailto:nobody",
        "http://example.com/r",
        "https://",
        "tls@example.com",
        "",
    ],
)
def test_tls_rpt_invalid_uri(uri: str) -> None:
    audit = rpt(f"v=TLSRPTv1; rua=mailto:ok@example.com,{uri}")
    assert audit.state is State.INVALID and codes(audit) == ["tls_rpt.invalid_uri"]
    assert audit.rua == ["mailto:ok@example.com"]


@pytest.mark.parametrize(
    "record",
    [
        "v=TLSRPTv1",
        "v=TLSRPTv1; rua=",
        "v=TLSRPTv1; ruf=mailto:x@example.com",  # typo: no rua=
        "v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com",
        "v=TLSRPTv1;; rua=mailto:a@example.com",
    ],
)
def test_tls_rpt_syntax(record: str) -> None:
    audit = rpt(record)
    assert audit.state is State.INVALID and "tls_rpt.syntax" in codes(audit)


def test_tls_rpt_uri_list_is_bounded() -> None:
    audit = rpt("v=TLSRPTv1; rua=" + ",".join(f"mailto:r{i}@example.com" for i in range(500)))
    assert audit.state is State.VALID and len(audit.rua) == 32


# --- BIMI -------------------------------------------------------------------------------------


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


# --- never raises -----------------------------------------------------------------------------

_PREFIXES = ["", "v=STSv1;", "v=TLSRPTv1;", "v=BIMI1;"]


@given(st.sampled_from(_PREFIXES), st.text(max_size=200), st.integers(min_value=1, max_value=3))
def test_audits_never_raise(prefix: str, tail: str, copies: int) -> None:
    answer = txt(*([prefix + tail] * copies))
    for audit, _ in AUDITS:
        result = run_sync(audit(DOMAIN), lambda _q: answer)
        json.dumps(result.to_dict())
        assert result.state in (State.VALID, State.INVALID)
