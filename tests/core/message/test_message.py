"""Header parsing of stored messages: the split, the caps, From, envelope, clock, A-R fields."""

from __future__ import annotations

import re
from pathlib import Path

import dkim
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkauth.core.message.headers import (
    MAX_HEADER_FIELD_BYTES,
    MAX_HEADERS,
    MessageDefect,
    as_of_time,
    auth_results_fields,
    author_domain,
    envelope_of,
    host_matches,
    parse_auth_results,
    parse_date,
    parse_header_block,
    parse_mailbox_list,
    parse_path,
    parse_received,
    received_fields,
    receiver_results,
    split_lines,
    unfold,
)
from tests.paths import suite


def corpus() -> list[Path]:
    files = sorted((suite("perl-mail-dkim") / "corpus").glob("*.txt"))
    return files + sorted(suite("dkimpy-1.1.8-data").glob("*.m*"))


@pytest.mark.suite("perl-mail-dkim", "dkimpy-1.1.8-data")
def test_header_split_is_dkimpys_on_every_corpus_message() -> None:
    for path in corpus():
        raw = path.read_bytes()
        headers, body = dkim.rfc822_parse(raw)
        block = parse_header_block(raw)
        assert block.malformed is None
        assert [list(h) for h in block.headers] == headers, path.name
        mine = raw[block.body_offset :].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        assert (mine if block.body_offset < len(raw) else b"") == body, path.name


_LINES = st.lists(
    st.sampled_from(
        [
            b"From: a@b.example",
            b"Subject: x",
            b" folded",
            b"\tfolded",
            b"X-A:",
            b"",
            b"body",
            b"From x",
            b"a\r",
        ]
    ),
    max_size=12,
)


@settings(max_examples=600, deadline=None)
@given(
    st.lists(
        st.tuples(_LINES.map(lambda ls: ls[0] if ls else b""), st.sampled_from([b"\n", b"\r\n"])),
        max_size=12,
    )
)
def test_header_split_matches_dkimpy_or_reports_why(parts: list[tuple[bytes, bytes]]) -> None:
    raw = b"".join(line + eol for line, eol in parts)
    try:
        headers, body = dkim.rfc822_parse(raw)
        expected: object = headers
    except (dkim.MessageFormatError, IndexError):
        expected, body = "refused", None
    try:
        block = parse_header_block(raw)
    except MessageDefect as exc:
        # never raises anything else; not-a-message covers what dkimpy refuses or yields nothing for
        assert exc.code in ("input.empty", "input.not_a_message")
        assert expected in ("refused", [])
        return
    if block.malformed:
        assert expected == "refused"
        return
    assert [list(h) for h in block.headers] == expected
    rest = raw[block.body_offset :] if block.body_offset < len(raw) else b""
    assert rest.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") == body


@given(st.binary(max_size=60))
def test_line_helpers_equal_the_regexes(data: bytes) -> None:
    assert split_lines(data) == re.split(rb"\r?\n", data)
    assert unfold(data) == re.sub(rb"\r?\n", b"", data)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "input.empty"),
        (b"   \n\n", "input.empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "input.not_a_message"),
        (b" starts folded: x\n\nbody", "input.not_a_message"),
        (
            b"".join(b"X-H%d: v\n" % i for i in range(MAX_HEADERS + 1)) + b"\nbody",
            "input.too_many_headers",
        ),
        (b"X-Big: " + b"a" * MAX_HEADER_FIELD_BYTES + b"\n\nbody", "input.header_too_long"),
        (
            b"X-Big: a\n" + b" b\n" * (MAX_HEADER_FIELD_BYTES // 3) + b"\nbody",
            "input.header_too_long",
        ),
    ],
)
def test_unusable_input_is_a_defect_with_a_code(raw: bytes, code: str) -> None:
    with pytest.raises(MessageDefect) as exc:
        parse_header_block(raw)
    assert exc.value.code == code


def test_a_junk_line_stops_the_header_block() -> None:
    block = parse_header_block(b"From: a@b.example\nthis is not a field\nTo: c@d.example\n\nbody")
    assert block.malformed and "not a header field" in block.malformed
    assert block.get_all("From") == ["a@b.example"] and block.get_all("To") == []


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


def test_the_clock() -> None:
    block = parse_header_block(b"Date: Tue, 14 Nov 2023 22:13:20 +0000\n\nx")
    hop = parse_received("from a (a [192.0.2.1]) by b; Tue, 14 Nov 2023 22:14:00 +0000")
    assert as_of_time("received", hop, block, 5.0).to_dict() == {
        "time": "2023-11-14T22:14:00Z",
        "source": "received",
    }
    assert as_of_time("received", None, block, 5.0).source == "date"
    assert as_of_time("received", None, parse_header_block(b"X: y\n\nx"), 5.0).time == 5.0
    assert as_of_time("now", hop, block, 5.0).source == "now"
    assert as_of_time(1_000.0, hop, block, 5.0).to_dict()["source"] == "fixed"
    assert parse_date("Mon, 32 Foo 99999 25:61:61 +9999") is None
    assert parse_date("14 Nov 2023 22:14:00") == 1700000040.0  # no zone: UTC
