"""The one tag-list tokenizer and its strictness options (DKIM, DKIM-Signature as dkimpy reads it,
DMARC, MTA-STS/TLS-RPT, BIMI).

Each option is held to the parser it replaced: the reference functions below are those parsers as
they were (``dkim/key.py``, ``dkim/verify.py``, ``dmarc/record.py``, ``smtpsec.py``), compared on
generated tag soup, so that every record and every problem message stays as it was.
"""

from __future__ import annotations

import re

import pytest
from dkim.util import InvalidTagValueList, parse_tag_value
from hypothesis import given
from hypothesis import strategies as st

from bulkauth.core.common.taglist import (
    BIMI,
    DKIM,
    DKIM_SIGNATURE,
    DMARC,
    MTA_STS,
    TLS_RPT,
    Syntax,
    Tag,
    TagListError,
    parse_tags,
    split_tags,
)

# --------------------------------------------------------------------------------------------
# the parsers the tokenizer replaced, as references

_FWS = " \t\r\n"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_VALUE = re.compile(r"^[\x21-\x3a\x3c-\x7e]+(?:[ \t\r\n]+[\x21-\x3a\x3c-\x7e]+)*$")


def _clip(s: str, n: int = 40) -> str:
    return s if len(s) <= n else s[:n] + "..."


def ref_dkim_key(text: str) -> list[tuple[str, str]] | str:
    """dkim/key.py parse_tag_list: the pairs, or the TagListError message."""
    tags: list[tuple[str, str]] = []
    seen: set[str] = set()
    for spec in text.split(";"):
        spec = spec.strip(_FWS)
        if not spec:
            continue
        name, eq, value = spec.partition("=")
        name, value = name.strip(_FWS), value.strip(_FWS)
        if not eq:
            return f"{_clip(spec)!r} is not a tag=value pair"
        if not _NAME.match(name):
            return f"{_clip(name)!r} is not a valid tag name"
        if value and not _VALUE.match(value):
            return f"the value of {name}= has characters a tag value cannot hold"
        if name in seen:
            return f"tag {name}= appears more than once"
        seen.add(name)
        tags.append((name, value))
    return tags


def ref_dkim_salvage(text: str) -> list[tuple[str, str]]:
    out: dict[str, str] = {}
    for spec in text.split(";"):
        name, eq, value = spec.partition("=")
        name = name.strip(_FWS)
        if eq and _NAME.match(name) and name not in out:
            out[name] = value.strip(_FWS)
    return list(out.items())


def ref_sts_fields(record: str) -> dict[str, str] | str:
    """smtpsec.py _fields: the fields, or the problem message."""
    out: dict[str, str] = {}
    parts = record.split(";")
    for i, raw in enumerate(parts):
        part = raw.strip(" \t")
        if not part:
            if i == len(parts) - 1:
                continue
            return "empty field between ';'"
        name, eq, value = part.partition("=")
        if not eq or not name or name != name.strip(" \t") or value != value.strip(" \t"):
            return f"{part[:40]!r} is not a name=value field"
        if name in out:
            return f"field {name}= appears twice"
        out[name] = value
    return out


def ref_dmarc(text: str, limit: int = 64) -> list[tuple[str, str, str, str | None]]:
    """dmarc/record.py's loop: (segment, tag, value, what happened) per non-empty segment."""
    out: list[tuple[str, str, str, str | None]] = []
    seen: set[str] = set()
    for raw in text.split(";", limit)[:limit]:
        seg = raw.strip(_FWS)
        if not seg:
            continue
        name, eq, value = seg.partition("=")
        name, value = name.rstrip(_FWS), value.strip(_FWS)
        if not eq or not re.match(r"[A-Za-z][A-Za-z0-9_]*\Z", name):
            out.append((seg, "", "", "malformed"))
            continue
        tag = name.lower()
        out.append((seg, tag, value, "duplicate" if tag in seen else None))
        seen.add(tag)
    return out


def ours_dmarc(text: str, limit: int = 64) -> list[tuple[str, str, str, str | None]]:
    return [
        (t.spec, "", "", "malformed") if t.fault in ("pair", "name") else tuple(t)  # type: ignore[misc]
        for t in split_tags(text, DMARC, limit)
    ]


def strict(text: str, syntax: Syntax[str]) -> list[tuple[str, str]] | str:
    try:
        return list(parse_tags(text, syntax).items())
    except TagListError as exc:
        return str(exc)


def sts(text: str) -> dict[str, str] | str:
    try:
        return parse_tags(text, MTA_STS)
    except TagListError as exc:
        if exc.fault == "empty":
            return "empty field between ';'"
        if exc.fault == "duplicate":
            return f"field {exc.name!s}= appears twice"
        return f"{str(exc.spec)[:40]!r} is not a name=value field"


# --------------------------------------------------------------------------------------------
# properties

_SOUP = st.lists(
    st.sampled_from(
        [
            *("a", "B", "v", "p", "1", "_", "-", "=", "==", ";", ";;", " ", "\t", "\r\n", "\n"),
            *("x y", "é", "\x00", "\x7f", ".", "DMARC1", "STSv1"),
        ]
    ),
    max_size=24,
).map("".join)


@given(_SOUP)
def test_dkim_option_is_the_rfc6376_parser(text: str) -> None:
    assert strict(text, DKIM) == ref_dkim_key(text)
    salvaged: dict[str, str] = {}
    for tag in split_tags(text, DKIM):
        if tag.fault in (None, "value") and tag.name not in salvaged:
            salvaged[tag.name] = tag.value
    assert list(salvaged.items()) == ref_dkim_salvage(text)


@given(_SOUP)
def test_bimi_option_reads_as_dkim(text: str) -> None:
    assert strict(text, BIMI) == ref_dkim_key(text)


@given(_SOUP)
def test_mta_sts_and_tls_rpt_options_are_rfc8461_fields(text: str) -> None:
    assert sts(text) == ref_sts_fields(text)
    assert TLS_RPT == MTA_STS


@given(_SOUP, st.integers(min_value=1, max_value=8))
def test_dmarc_option_is_the_dmarc_loop(text: str, limit: int) -> None:
    assert ours_dmarc(text, limit) == ref_dmarc(text, limit)


@given(
    st.lists(
        st.sampled_from(
            [b"a", b"B", b"1", b"_", b"=", b";", b" ", b"\r\n\t", b"d", b"==", b"\x0b", b"\xff"]
        ),
        max_size=16,
    ).map(b"".join)
)
def test_dkim_signature_option_is_dkimpys(value: bytes) -> None:
    try:
        expected: dict[bytes, bytes] | None = parse_tag_value(value)
    except InvalidTagValueList:
        expected = None
    try:
        got: dict[bytes, bytes] | None = parse_tags(value, DKIM_SIGNATURE)
    except TagListError:
        got = None
    assert got == expected


@given(_SOUP, st.sampled_from([DKIM, DMARC, MTA_STS]))
def test_strict_and_lenient_agree(text: str, syntax: Syntax[str]) -> None:
    """parse_tags is split_tags up to the first fault; neither raises anything else."""
    specs = split_tags(text, syntax)
    faults = [t for t in specs if t.fault is not None]
    try:
        got = parse_tags(text, syntax)
    except TagListError as exc:
        assert faults and (exc.fault, exc.spec) == (faults[0].fault, faults[0].spec)
    else:
        assert not faults and got == {t.name: t.value for t in specs}


_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,6}", fullmatch=True)
_VALUES = st.from_regex(r"[\x21-\x3a\x3c\x3e-\x7e]{1,10}", fullmatch=True)


@given(st.dictionaries(_NAMES, _VALUES, max_size=8), st.sampled_from(["; ", ";", ";\t"]))
def test_a_written_tag_list_reads_back(tags: dict[str, str], sep: str) -> None:
    text = sep.join(f"{k}={v}" for k, v in tags.items())
    for syntax in (DKIM, MTA_STS, BIMI):
        assert parse_tags(text, syntax) == tags
    assert parse_tags(text.encode(), DKIM_SIGNATURE) == {
        k.encode(): v.encode() for k, v in tags.items()
    }
    lowered = {k.lower(): v for k, v in tags.items()}
    if len(lowered) == len(tags):
        assert parse_tags(text, DMARC) == lowered


# --------------------------------------------------------------------------------------------
# each option, by example


def test_dkim() -> None:
    assert list(parse_tags(" a = 1 ;b=two words;\r\n c= ;", DKIM).items()) == [
        ("a", "1"),
        ("b", "two words"),
        ("c", ""),
    ]
    assert parse_tags("a=1;;b=2", DKIM) == {"a": "1", "b": "2"}  # ";;" tolerated
    for bad, fault in (
        ("a", "pair"),
        ("a=1;a=2", "duplicate"),
        ("=1", "name"),
        ("a b=1", "name"),
        ("a=x;y", "pair"),
        ("a=\x01", "value"),
        ("a=\x01;a=1", "value"),
    ):
        with pytest.raises(TagListError) as exc:
            parse_tags(bad, DKIM)
        assert exc.value.fault == fault, bad
    with pytest.raises(TagListError, match=r"^tag a= appears more than once$"):
        parse_tags("a=1; a=2", DKIM)


def test_dkim_signature() -> None:
    assert parse_tags(b" v=1; a=rsa-sha256;\r\n\tb=abc ;", DKIM_SIGNATURE) == {
        b"v": b"1",
        b"a": b"rsa-sha256",
        b"b": b"abc",
    }
    assert parse_tags(b"a1-x=1", DKIM_SIGNATURE) == {b"a1-x": b"1"}  # dkimpy checks one letter
    for bad in (b"a=1;;b=2", b";a=1", b"1a=2", b"a=1;a=2", b"a"):
        with pytest.raises(TagListError):
            parse_tags(bad, DKIM_SIGNATURE)


def test_dmarc() -> None:
    got = split_tags("v=DMARC1;; P=reject; p=none; junk ;rua", DMARC)
    assert got == [
        Tag("v=DMARC1", "v", "DMARC1", None),
        Tag("P=reject", "p", "reject", None),
        Tag("p=none", "p", "none", "duplicate"),
        Tag("junk", "junk", "", "pair"),
        Tag("rua", "rua", "", "pair"),
    ]
    assert [t.name for t in split_tags("a=1;b=2;c=3;d=4", DMARC, limit=2)] == ["a", "b"]
    assert split_tags("1x=2", DMARC)[0].fault == "name"


def test_mta_sts_and_tls_rpt() -> None:
    assert parse_tags("v=STSv1; id=20240101;", MTA_STS) == {"v": "STSv1", "id": "20240101"}
    assert parse_tags("v=TLSRPTv1;rua=mailto:r@example.com", TLS_RPT)["rua"] == (
        "mailto:r@example.com"
    )
    for bad, fault in (
        ("v=STSv1;; id=1", "empty"),
        ("v=STSv1; id = 1", "pair"),
        ("v=STSv1; =1", "pair"),
        ("v=STSv1; id=1; id=2", "duplicate"),
    ):
        with pytest.raises(TagListError) as exc:
            parse_tags(bad, MTA_STS)
        assert exc.value.fault == fault, bad
    # CR LF is not WSP: it stays part of the name, which the record grades (extension names)
    assert parse_tags("v=STSv1;\r\nid=1", MTA_STS) == {"v": "STSv1", "\r\nid": "1"}


def test_bimi() -> None:
    # BIMI takes the DKIM syntax: white space around "=" is fine, unlike in MTA-STS
    assert parse_tags("v=BIMI1; l = https://e.example/l.svg", BIMI) == {
        "v": "BIMI1",
        "l": "https://e.example/l.svg",
    }
    with pytest.raises(TagListError, match="is not a tag=value pair"):
        parse_tags("v=BIMI1; logo", BIMI)
