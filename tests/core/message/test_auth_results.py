"""Authentication-Results fields (RFC 8601) and the receiver's own."""

from __future__ import annotations

from bulkauth.core.message.auth_results import (
    auth_results_fields,
    parse_auth_results,
    receiver_results,
)
from bulkauth.core.message.headers import parse_header_block


def test_authentication_results() -> None:
    ar = parse_auth_results(
        'mx.google.com; dkim=pass header.i=@a.example header.s=s1 header.b="AbC+/12"; '
        "spf=pass (google.com: domain of x designates 1.2.3.4 as permitted sender) smtp.mailfrom=x@a.example; "
        "dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=a.example; arc=none"
    )
    assert ar.authserv_id == "mx.google.com"
    assert [(r.method, r.result) for r in ar.results] == [
        ("dkim", "pass"),
        ("spf", "pass"),
        ("dmarc", "pass"),
        ("arc", "none"),
    ]
    assert ar.of("dkim")[0].props == {
        "header.i": "@a.example",
        "header.s": "s1",
        "header.b": "AbC+/12",
    }
    # Microsoft 365 writes no authserv-id
    ms = parse_auth_results(
        "spf=pass (sender IP is 1.2.3.4) smtp.mailfrom=a.example; dkim=fail header.d=a.example;"
        "dmarc=pass action=none header.from=a.example;compauth=pass reason=100"
    )
    assert ms.authserv_id is None and [r.method for r in ms.results] == [
        "spf",
        "dkim",
        "dmarc",
        "compauth",
    ]
    assert ms.results[3].reason == "100"
    assert parse_auth_results("example.net 1; none").results == []
    assert parse_auth_results(";;;=;x=").authserv_id is None


def test_receiver_results_selection() -> None:
    block = parse_header_block(
        b"Authentication-Results: top.example; dkim=fail\nAuthentication-Results: mx.b.example; dkim=pass\n\nx"
    )
    fields = auth_results_fields(block)
    top = receiver_results(fields, None)
    trusted = receiver_results(fields, "mx.b.example")
    assert top is not None and top.authserv_id == "top.example"
    assert trusted is not None and trusted.authserv_id == "mx.b.example"
    assert receiver_results(fields, "other.example") is None
