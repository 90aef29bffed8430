"""RFC5322.From, Return-Path and the envelope the receiving system saw."""

from __future__ import annotations

import pytest

from bulkauth.core.message.addresses import (
    author_domain,
    envelope_of,
    parse_mailbox_list,
    parse_path,
)
from bulkauth.core.message.auth_results import auth_results_fields
from bulkauth.core.message.headers import parse_header_block
from bulkauth.core.message.received import host_matches, received_fields


def test_from_domains_and_their_problems() -> None:
    def author(head: bytes) -> tuple[str | None, str | None]:
        info = author_domain(parse_header_block(head + b"\n\nbody"))
        return info.domain, info.problem.code if info.problem else None

    assert author(b"From: Alice <Alice@Example.COM.>") == ("example.com", None)
    assert author(b'From: "Doe, J" <j@b\xc3\xbccher.example>') == ("xn--bcher-kva.example", None)
    assert author(b"From: a@x.example, b@x.example") == ("x.example", None)
    assert author(b"From: a@x.example, b@y.example") == (None, "dmarc.multiple_from_domains")
    assert author(b"From: a@x.example\nFrom: a@x.example") == (None, "dmarc.multiple_from_fields")
    assert author(b"To: a@x.example") == (None, "dmarc.no_from")
    assert author(b"From: undisclosed") == (None, "dmarc.from_syntax")
    assert author(b"From: a@[192.0.2.1]") == (None, "dmarc.from_syntax")
    assert author(b"From: team: a@x.example, b@x.example;") == ("x.example", None)
    assert author(b"From: (comment, with comma) a@x.example") == ("x.example", None)


def test_mailbox_lists_respect_quotes_comments_and_brackets() -> None:
    boxes = parse_mailbox_list('"Doe, John" <john@a.example>, (x, (y)) z@b.example, <q@c.example>')
    assert [b.address for b in boxes] == ["john@a.example", "z@b.example", "q@c.example"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a@b.example>", "a@b.example"),
        ("<>", ""),
        (" a@b.example ", "a@b.example"),
        ("<@relay.example:a@b.example>", "a@b.example"),
        ("<broken", None),
        ("junk", None),
    ],
)
def test_return_path(value: str, expected: str | None) -> None:
    assert parse_path(value) == expected


def test_trusted_receiver_picks_the_hop_and_skips_local_hops() -> None:
    head = (
        b"Received: by 10.0.0.1 with SMTP id q; Tue, 14 Nov 2023 22:15:00 +0000\n"
        b"Received: from mx.b.example (mx.b.example [10.1.1.1]) by store.b.example with LMTP; "
        b"Tue, 14 Nov 2023 22:14:30 +0000\n"
        b"Received: from out.a.example (out.a.example [192.0.2.1]) by mx.b.example with ESMTPS; "
        b"Tue, 14 Nov 2023 22:14:00 +0000\n"
        b"Return-Path: <>\n\nbody"
    )
    block = parse_header_block(head)
    rec = received_fields(block)
    env = envelope_of(block, rec, None)
    # default: the topmost with a from clause (the LMTP hop), flagged as internal
    assert env.client_ip == "10.1.1.1" and env.received is not None and env.received.index == 1
    codes = {p.code for p in env.problems}
    assert {"envelope.skipped_local_hops", "envelope.internal_client"} <= codes
    env = envelope_of(block, rec, "mx.b.example")
    assert (env.client_ip, env.helo, env.mail_from, env.mail_from_source) == (
        "192.0.2.1",
        "out.a.example",
        "",
        "return-path",
    )
    env = envelope_of(block, rec, "nowhere.example")
    assert env.client_ip is None and "envelope.no_trusted_received" in {
        p.code for p in env.problems
    }
    assert host_matches("MX1.B.example.", ".b.example") and host_matches(
        "mx1.b.example", "*.b.example"
    )
    assert not host_matches("b.example", ".b.example") and not host_matches(None, "x")


def test_mail_from_falls_back_to_authentication_results_then_received() -> None:
    block = parse_header_block(
        b"Authentication-Results: mx.b.example; spf=pass smtp.mailfrom=bounce@a.example\n"
        b"Received: from o.a.example (o.a.example [192.0.2.1]) by mx.b.example (envelope-from <x@y.example>)"
        b"; Tue, 14 Nov 2023 22:14:00 +0000\n\nbody"
    )
    env = envelope_of(block, received_fields(block), None, auth_results_fields(block))
    assert (env.mail_from, env.mail_from_source) == ("bounce@a.example", "authentication-results")
    env = envelope_of(block, received_fields(block), None, [])
    assert (env.mail_from, env.mail_from_source) == ("x@y.example", "received-envelope-from")
