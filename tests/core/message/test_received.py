"""Received fields (RFC 5321 4.4) as MTAs write them."""

from __future__ import annotations

import pytest

from bulkauth.core.message.received import parse_received


@pytest.mark.parametrize(
    ("value", "helo", "ip", "by"),
    [
        # Postfix
        (
            "from mail.a.example (mail.a.example [192.0.2.1]) by mx.b.example (Postfix) with ESMTPS id X; "
            "Tue, 14 Nov 2023 22:14:00 +0000",
            "mail.a.example",
            "192.0.2.1",
            "mx.b.example",
        ),
        # Gmail, rDNS with a trailing dot
        (
            "from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41]) by mx.google.com "
            "with SMTPS id a1; Tue, 14 Nov 2023 22:14:00 -0800 (PST)",
            "mail-sor-f41.google.com",
            "209.85.220.41",
            "mx.google.com",
        ),
        # Exim: the peer as an address literal, the HELO in a comment
        (
            "from [192.0.2.7] (port=41234 helo=smtp.c.example) by mx.b.example with esmtps (TLS1.3) "
            "(Exim 4.96) (envelope-from <x@c.example>) id 1q; Tue, 14 Nov 2023 22:14:00 +0000",
            "smtp.c.example",
            "192.0.2.7",
            "mx.b.example",
        ),
        # qmail
        (
            "from unknown (HELO smtp.d.example) (198.51.100.9) by mx.b.example with SMTP; 14 Nov 2023 22:14:00 -0000",
            "smtp.d.example",
            "198.51.100.9",
            "mx.b.example",
        ),
        # Exchange: bare IPv6 in parentheses
        (
            "from BN8PR.outlook.example (2001:db8::12) by BN9PR.outlook.example (2001:db8::13) with Microsoft "
            "SMTP Server id 15.20; Tue, 14 Nov 2023 22:14:00 +0000",
            "BN8PR.outlook.example",
            "2001:db8::12",
            "bn9pr.outlook.example",
        ),
        # Sendmail with an IPv6 literal
        (
            "from host.e.example (host.e.example [IPv6:2001:db8::5]) by mx.b.example (8.17.1/8.17.1) with ESMTP "
            "id 3AE; Tue, 14 Nov 2023 22:14:00 +0000",
            "host.e.example",
            "2001:db8::5",
            "mx.b.example",
        ),
        # a local hop: no from clause
        (
            "by 2002:a05:6a10:1234:b0:500:1234:5678 with SMTP id x; Tue, 14 Nov 2023 22:14:00 -0800",
            None,
            None,
            "2002:a05:6a10:1234:b0:500:1234:5678",
        ),
    ],
)
def test_received_shapes(value: str, helo: str | None, ip: str | None, by: str) -> None:
    r = parse_received(value)
    assert (r.helo, r.client_ip, r.by) == (helo, ip, by)
    assert r.time is not None


def test_received_envelope_from_and_junk() -> None:
    r = parse_received(
        "from [192.0.2.7] (helo=x.example) by y.example (envelope-from <b@c.example>); bad date"
    )
    assert r.envelope_from == "b@c.example" and r.time is None
    junk = parse_received("((((( from ) [ by ;;;")
    assert junk.client_ip is None
