"""MTA-STS policies (RFC 8461 3.2, 3.3, 4.1) from fetch results, with no network."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkauth.core.common.model import State
from bulkauth.core.transport.mta_sts_policy import (
    MAX_POLICY_BYTES,
    Fetch,
    audit_policy,
    mx_matches,
    parse_policy,
)

URL = "https://mta-sts.example.com/.well-known/mta-sts.txt"
GOOD = b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"


def audit(body: bytes = GOOD, mx: list[str] | None = None, content_type: str = "text/plain"):
    fetch = Fetch(URL, 200, content_type, body)
    return audit_policy("example.com", "20240101", fetch, mx or ["mail.example.com"])


def codes(a) -> list[str]:
    return [p.code for p in a.problems]


def test_good_policy() -> None:
    a = audit(mx=["mail.example.com", "mx1.example.net"])
    assert a.state is State.VALID and codes(a) == [] and a.fetched
    assert a.policy is not None and a.policy.to_dict() == {
        "version": "STSv1",
        "mode": "enforce",
        "max_age": 604800,
        "mx": ["mail.example.com", "*.example.net"],
    }
    d = a.to_dict()
    assert d["id"] == "20240101" and d["http_status"] == 200 and d["mx_not_matched"] == []


def test_lf_only_lines_and_unknown_fields_are_tolerated() -> None:
    a = audit(GOOD.replace(b"\r\n", b"\n") + b"extension: whatever\n")
    assert a.state is State.VALID and codes(a) == []


def test_mx_not_matched_is_an_error_in_enforce_and_a_warning_in_testing() -> None:
    a = audit(mx=["mail.example.com", "other.example.org", "a.b.example.net"])
    assert a.state is State.INVALID and codes(a) == ["mta_sts_policy.mx_not_matched"]
    assert a.mx_not_matched == ["other.example.org", "a.b.example.net"]
    t = audit(GOOD.replace(b"enforce", b"testing"), mx=["other.example.org"])
    assert t.state is State.VALID
    assert codes(t) == ["mta_sts_policy.mode_testing", "mta_sts_policy.mx_not_matched"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"mode: enforce\nmx: a.example.com\nmax_age: 86400\n", "mta_sts_policy.bad_version"),
        (
            b"version: STSv2\nmode: enforce\nmx: a.example.com\nmax_age: 86400\n",
            "mta_sts_policy.bad_version",
        ),
        (
            b"version: STSv1\nmode: strict\nmx: a.example.com\nmax_age: 86400\n",
            "mta_sts_policy.bad_mode",
        ),
        (b"version: STSv1\nmode: enforce\nmx: a.example.com\n", "mta_sts_policy.bad_max_age"),
        (
            b"version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: 99999999999\n",
            "mta_sts_policy.bad_max_age",
        ),
        (
            b"version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: -1\n",
            "mta_sts_policy.bad_max_age",
        ),
        (b"version: STSv1\nmode: enforce\nmax_age: 86400\n", "mta_sts_policy.no_mx"),
        (
            b"version: STSv1\nmode: enforce\nmx: not a host\nmax_age: 86400\n",
            "mta_sts_policy.bad_mx",
        ),
        (b"<html><body>Welcome to nginx</body></html>", "mta_sts_policy.syntax"),
        (b"\xff\xfe\x00garbage", "mta_sts_policy.syntax"),
    ],
)
def test_malformed_policies(body: bytes, code: str) -> None:
    a = audit(body)
    assert a.state is State.INVALID and code in codes(a)


def test_warnings_do_not_change_the_state() -> None:
    a = audit(b"version: STSv1\nmode: none\nmax_age: 3600\nmode: enforce\n")
    assert a.state is State.VALID
    assert set(codes(a)) == {
        "mta_sts_policy.short_max_age",
        "mta_sts_policy.mode_none",
        "mta_sts_policy.duplicate_field",
    }


@pytest.mark.parametrize(
    ("fetch", "state", "code"),
    [
        (
            Fetch(URL, error="connect", detail="refused"),
            State.INDETERMINATE,
            "mta_sts_policy.fetch_failed",
        ),
        (
            Fetch(URL, error="timeout", detail="slow"),
            State.INDETERMINATE,
            "mta_sts_policy.fetch_failed",
        ),
        (Fetch(URL, error="tls", detail="bad cert"), State.INVALID, "mta_sts_policy.tls_invalid"),
        (Fetch(URL, error="too_large", detail="big"), State.INVALID, "mta_sts_policy.too_large"),
        (Fetch(URL, error="protocol", detail="x"), State.INVALID, "mta_sts_policy.http_error"),
        (
            Fetch(URL, 301, "text/html", location="https://x/"),
            State.INVALID,
            "mta_sts_policy.redirect",
        ),
        (Fetch(URL, 404, "text/plain"), State.INVALID, "mta_sts_policy.http_status"),
        (Fetch(URL, 200, "text/html", GOOD), State.INVALID, "mta_sts_policy.content_type"),
        (Fetch(URL, 200, None, GOOD), State.INVALID, "mta_sts_policy.content_type"),
        (
            Fetch(URL, 200, "text/plain", b"x" * (MAX_POLICY_BYTES + 1)),
            State.INVALID,
            "mta_sts_policy.too_large",
        ),
    ],
)
def test_fetch_faults(fetch: Fetch, state: State, code: str) -> None:
    a = audit_policy("example.com", None, fetch, ["mail.example.com"])
    assert a.state is state and codes(a) == [code] and not a.fetched and a.policy is None


def test_content_type_parameters_are_allowed() -> None:
    assert audit(content_type="text/plain; charset=utf-8").state is State.VALID


@pytest.mark.parametrize(
    ("pattern", "host", "ok"),
    [
        ("mail.example.com", "mail.example.com", True),
        ("mail.example.com", "MAIL.example.com.", True),
        ("*.example.com", "mx1.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("mail.example.com", "mx.example.com", False),
    ],
)
def test_mx_patterns(pattern: str, host: str, ok: bool) -> None:
    assert mx_matches(pattern, host) is ok


@given(st.binary(max_size=2000))
def test_any_bytes_parse_without_raising(body: bytes) -> None:
    policy, problems = parse_policy(body)
    assert len(policy.mx) <= 64 and all(p.code.startswith("mta_sts_policy.") for p in problems)
