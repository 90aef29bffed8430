"""Domain-list input: what users paste becomes a domain or a clear reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkauth.core.common.names import NameError_, normalize_query_name, parse_domain


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.com", "example.com"),
        ("  Example.COM.  ", "example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("_dmarc.example.com", "_dmarc.example.com"),
        ("a-b.c-d.example", "a-b.c-d.example"),
    ],
)
def test_accepts(text: str, expected: str) -> None:
    assert parse_domain(text) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "input.empty"),
        ("http://example.com/", "input.url"),
        ("example.com/path", "input.url"),
        ("user@example.com", "input.email"),
        ("192.0.2.1", "input.ip_literal"),
        ("[2001:db8::1]", "input.ip_literal"),
        ("2001:db8::1", "input.ip_literal"),
        ("exa mple.com", "input.whitespace"),
        ("exa\x00mple.com", "input.control_character"),
        ("bad\ufffdname.com", "input.not_utf8"),
        ("localhost", "input.single_label"),
        ("-bad-.example", "input.bad_label"),
        ("a..b.example", "name.empty_label"),
        ("x" * 64 + ".example", "name.label_too_long"),
        (".".join(["abcdefghi"] * 26) + ".com", "name.too_long"),
        ("example.123", "input.numeric_tld"),
        ("ex!ample.com", "input.bad_label"),
    ],
)
def test_rejects_with_code(text: str, code: str) -> None:
    with pytest.raises(NameError_) as err:
        parse_domain(text)
    assert err.value.code == code
    assert str(err.value)


def test_query_names_allow_what_macros_produce() -> None:
    assert normalize_query_name("1.2.0.192._spf.Example.COM.") == "1.2.0.192._spf.example.com"
    with pytest.raises(NameError_):
        normalize_query_name("a" * 64 + ".example")


@given(st.text(max_size=300))
def test_any_text_gives_a_name_or_a_clean_error(text: str) -> None:
    try:
        name = parse_domain(text)
    except NameError_ as exc:
        assert exc.code and str(exc)
    else:
        assert name == name.lower() and len(name) <= 253 and name.isascii()
