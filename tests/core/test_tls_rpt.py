"""TLS-RPT (RFC 8460) DNS records, from answer dicts."""

from __future__ import annotations

import pytest

from bulkauth.core.common.model import State
from bulkauth.core.tls_rpt import TlsRptAudit, audit_tls_rpt
from tests.core.txtkit import DOMAIN, codes, run, txt

RPT = f"_smtp._tls.{DOMAIN}"


def rpt(*records: str) -> TlsRptAudit:
    audit: TlsRptAudit = run(audit_tls_rpt(DOMAIN), RPT, txt(*records))
    return audit


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
