"""Header block parsing of stored messages: the split (as dkimpy does it), the caps, defects."""

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
    parse_header_block,
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
