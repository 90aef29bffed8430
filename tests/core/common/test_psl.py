"""Organisational domains against the official Public Suffix List checks (suite psl)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest

from bulkauth.core.common import psl
from bulkauth.core.common.psl import org_domain, public_suffix, same_organisation, to_ascii
from tests.paths import suite

SUITE = suite("psl") / "test_psl.txt"
needs_suite = pytest.mark.suite("psl")

_CHECK = re.compile(r"^checkPublicSuffix\((null|'[^']*'),\s*(null|'[^']*')\);")


def _vectors() -> list[tuple[str | None, str | None]]:
    if not SUITE.exists():
        return [("suite-missing", None)]  # one case, skipped by its suite mark
    out: list[tuple[str | None, str | None]] = []
    for line in SUITE.read_text(encoding="utf-8").splitlines():
        m = _CHECK.match(line.strip())
        if m:
            a, b = (None if g == "null" else g[1:-1] for g in m.groups())
            out.append((a, b))
    return out


VECTORS = _vectors()


@needs_suite
def test_suite_is_complete() -> None:
    # The suite README announces 78 active checks; a parser that silently drops lines would
    # otherwise pass with fewer.
    assert len(VECTORS) == 78


@needs_suite
@pytest.mark.parametrize(("given", "expected"), VECTORS, ids=[repr(v[0]) for v in VECTORS])
def test_psl_vector(given: str | None, expected: str | None) -> None:
    # The suite's null input is a JavaScript null; the closest value a `str` API takes is "".
    name = "" if given is None else given
    # The vectors answer U-labels for U-label input; we answer A-labels (the DNS form) for any
    # input, so the expectation is compared in A-labels too.
    want = None if expected is None else to_ascii(expected)
    assert org_domain(name) == want


def test_org_domain_examples() -> None:
    assert org_domain("a.b.example.co.uk") == "example.co.uk"
    assert org_domain("Mail.Example.COM.") == "example.com"
    assert org_domain("co.uk") is None
    assert org_domain("example") is None
    assert org_domain("a..example.com") is None
    assert org_domain("user.github.io") == "user.github.io"  # private section is honoured
    assert org_domain("_dmarc.食狮.com.cn") == "xn--85x722f.com.cn"


def test_public_suffix() -> None:
    assert public_suffix("a.b.example.co.uk") == "co.uk"
    assert public_suffix("www.食狮.公司.cn") == "xn--55qx5d.cn"
    assert public_suffix("b.c.mm") == "c.mm"
    assert public_suffix("") is None


def test_to_ascii_rejects_non_names() -> None:
    assert to_ascii("") is None
    assert to_ascii(".") is None
    assert to_ascii("a" * 250 + ".com") is None
    assert to_ascii("skull\u2620.com") is None  # a symbol IDNA 2008 disallows
    assert to_ascii("B\u00fccher.Example.") == "xn--bcher-kva.example"


def test_same_organisation() -> None:
    assert same_organisation("rua.example.com", "example.com")
    assert not same_organisation("example.net", "example.com")
    assert not same_organisation("a.github.io", "b.github.io")


@pytest.fixture
def packaged_afterwards() -> Iterator[None]:
    yield
    psl.use(_packaged(), "packaged")


def _packaged() -> bytes:
    import importlib.resources

    return (
        importlib.resources.files("publicsuffixlist")
        .joinpath("public_suffix_list.dat")
        .read_bytes()
    )


def test_the_packaged_list_says_what_it_is() -> None:
    identity = psl.identity()
    assert identity.source == "packaged"
    assert identity.sha256 == hashlib.sha256(_packaged()).hexdigest()
    assert identity.version and re.fullmatch(r"\d{4}-\d\d-\d\d_[\d-]+_UTC", identity.version)
    assert identity.label() == f"{identity.version} sha256:{identity.sha256}"


def test_naming_the_packaged_list_needs_no_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """The identity a run prints (spf --input never looks a domain up) without parsing the
    list, and the same identity as the parsed list's."""
    monkeypatch.setattr(psl, "_current", None)
    monkeypatch.setattr(psl, "_packaged_identity", None)
    unparsed = psl.identity()
    assert psl._current is None
    psl.load()
    assert psl._current is not None and psl.identity() == unparsed


def test_another_list_changes_the_organisational_domains(packaged_afterwards: None) -> None:
    assert org_domain("a.b.example.com") == "example.com"  # cached from here on
    mine = (
        b"// VERSION: mine-1\n// ===BEGIN ICANN DOMAINS===\ncom\n*.example.com\n!www.example.com\n"
    )
    identity = psl.use(mine, "my.dat")
    assert identity == psl.PslIdentity("my.dat", "mine-1", hashlib.sha256(mine).hexdigest())
    assert org_domain("a.b.example.com") == "a.b.example.com"  # the cache went with the list
    assert public_suffix("www.example.com") == "example.com"  # the exception rule
    assert public_suffix("x.co.uk") == "uk"  # co.uk is not in this list
    assert psl.text() == mine.decode()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xff\xfecom\n", "not UTF-8 text"),
        (b"com\nnet\n", "no '// ===BEGIN ICANN DOMAINS===' line"),
        (b"// ===BEGIN ICANN DOMAINS===\ncom\nexample.com A 192.0.2.1\n", "line 3: 'example.com A 192.0.2.1' is not a rule"),
        (b"// ===BEGIN ICANN DOMAINS===\ndomain,selector\n", "line 2"),
        (b"// ===BEGIN ICANN DOMAINS===\n// only comments\n", "it holds no rules"),
    ],
)  # fmt: skip
def test_what_is_not_a_list_is_refused_with_the_reason(data: bytes, why: str) -> None:
    before = psl.identity()
    with pytest.raises(psl.PslError, match=re.escape(why)) as caught:
        psl.use(data, "junk.txt")
    assert str(caught.value).startswith("junk.txt: not a Public Suffix List")
    assert psl.identity() == before  # the list in use is kept
