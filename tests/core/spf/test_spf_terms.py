"""ip4:/ip6: terms that can never match (spf.ip_host_bits, spf.ip_not_public), without DNS."""

from __future__ import annotations

import pytest

from bulkauth.core.spf.record import SpfRecord, parse_record
from bulkauth.core.spf.terms import check_ip_term, is_public_domain


def term(text: str) -> SpfRecord:
    return parse_record("v=spf1 " + text)


@pytest.mark.parametrize(
    ("text", "public", "codes", "corrected"),
    [
        ("ip4:234.5.6.78/24", True, ["spf.ip_host_bits", "spf.ip_not_public"], "ip4:234.5.6.0/24"),
        ("ip4:198.51.100.78/24", False, ["spf.ip_host_bits"], "ip4:198.51.100.0/24"),
        ("-ip4:203.0.113.9/25", False, ["spf.ip_host_bits"], "-ip4:203.0.113.0/25"),
        ("ip4:198.51.100.0/24", False, [], None),
        ("ip4:198.51.100.0/24", True, ["spf.ip_not_public"], None),
        ("ip4:10.1.2.0/24", True, ["spf.ip_not_public"], None),
        ("ip4:10.1.2.0/24", False, [], None),
        ("ip4:127.0.0.1", False, ["spf.ip_not_public"], None),
        ("ip4:224.0.0.0/4", False, ["spf.ip_not_public"], None),
        ("ip4:8.8.8.0/24", True, [], None),
        # a range only partly inside a special block is not flagged
        ("ip4:0.0.0.0/1", True, [], None),
        (
            "ip6:2001:db8::1/32",
            True,
            ["spf.ip_host_bits", "spf.ip_not_public"],
            "ip6:2001:db8::/32",
        ),
        ("ip6:ff02::1", False, ["spf.ip_not_public"], None),
        ("ip6:2a00:1450::/32", True, [], None),
    ],
)
def test_terms_that_never_match(
    text: str, public: bool, codes: list[str], corrected: str | None
) -> None:
    (m,) = term(text).mechanisms
    found = check_ip_term(m, public)
    assert [f.code for f in found] == codes
    host_bits = [f for f in found if f.code == "spf.ip_host_bits"]
    assert (host_bits[0].corrected if host_bits else None) == corrected


def test_public_domains() -> None:
    assert is_public_domain("example.net.uk") and is_public_domain("mail.google.com")
    for d in (
        "x.example",
        "example.com",
        "a.b.example.org",
        "host.test",
        "corp.internal",
        "x.home.arpa",
    ):
        assert not is_public_domain(d), d
