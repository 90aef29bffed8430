"""The discovery rule MTA-STS (RFC 8461), TLS-RPT (RFC 8460) and BIMI share, from answer dicts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkauth.core.bimi import audit_bimi
from bulkauth.core.common.model import Answer, Rcode, State
from bulkauth.core.common.step import Step, run_sync
from bulkauth.core.mta_sts import audit_mta_sts
from bulkauth.core.tls_rpt import audit_tls_rpt
from tests.core.txtkit import DOMAIN, codes, run, txt

STS = f"_mta-sts.{DOMAIN}"
RPT = f"_smtp._tls.{DOMAIN}"
BIMI = f"default._bimi.{DOMAIN}"

AUDITS: list[tuple[Callable[[str], Step[Any]], str]] = [
    (audit_mta_sts, STS),
    (audit_tls_rpt, RPT),
    (audit_bimi, BIMI),
]


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


# --- never raises -----------------------------------------------------------------------------

_PREFIXES = ["", "v=STSv1;", "v=TLSRPTv1;", "v=BIMI1;"]


@given(st.sampled_from(_PREFIXES), st.text(max_size=200), st.integers(min_value=1, max_value=3))
def test_audits_never_raise(prefix: str, tail: str, copies: int) -> None:
    answer = txt(*([prefix + tail] * copies))
    for audit, _ in AUDITS:
        result = run_sync(audit(DOMAIN), lambda _q: answer)
        json.dumps(result.to_dict())
        assert result.state in (State.VALID, State.INVALID)
