"""Organisational domains from the Public Suffix List (RFC 7489 section 3.2).

The list is an input of the run, like the zones: by default the copy bundled with the
``publicsuffixlist`` package (no network, and every run of one installed version gives the same
answers), or the text of another list (``--psl FILE``; the caller reads the file, this module
only parses). Its ``identity`` (the list's own VERSION line and a SHA-256 of its bytes) goes
into the run's summary, store row and DNS snapshot, so that a replay uses the same
organisational domains. It includes the private section (``github.io``, ``blogspot.com``, ...),
as the RFC 7489 reference list does, so that two customers of a hosting suffix are two
organisations. Names are handled as A-labels, the form DNS queries use.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import re
from dataclasses import dataclass

import idna
from publicsuffixlist import PublicSuffixList

_MAX_NAME = 253
#: what every copy of the list published at publicsuffix.org has, and no other file does
_ICANN_MARK = "// ===BEGIN ICANN DOMAINS==="
_VERSION = re.compile(r"^//\s*VERSION:\s*(\S+)", re.MULTILINE)
#: one rule: labels (any script, so no character class of letters: Balinese marks are not \w;
#: '*' for a wildcard), an optional leading '!' (an exception)
_LABEL = r"(?:\*|[^\s./!*,;:@\"'<>=()\[\]{}|\\#?&%$+]+)"
_RULE = re.compile(rf"!?{_LABEL}(?:\.{_LABEL})*")


class PslError(ValueError):
    """Text that is not a Public Suffix List; the message says where and why."""


@dataclass(frozen=True, slots=True)
class PslIdentity:
    """Which list a run used: where it came from, its VERSION line, the SHA-256 of its bytes."""

    source: str  # "packaged" or the file given
    version: str | None
    sha256: str

    def label(self) -> str:
        """One line for the summary and the store's runs.psl_version."""
        return f"{self.version or 'unversioned'} sha256:{self.sha256}"

    def to_dict(self) -> dict[str, str | None]:
        return {"source": self.source, "version": self.version, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class _Loaded:
    psl: PublicSuffixList
    identity: PslIdentity
    text: str


_current: _Loaded | None = None


def parse(data: bytes, source: str) -> tuple[PublicSuffixList, PslIdentity, str]:
    """The list in ``data``, or PslError naming the first line that is not a rule."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PslError(
            f"{source}: not a Public Suffix List (not UTF-8 text: {exc.reason} at byte {exc.start})"
        ) from None
    if _ICANN_MARK not in text:
        raise PslError(
            f"{source}: not a Public Suffix List (no '{_ICANN_MARK}' line; the list is "
            "published at https://publicsuffix.org/list/public_suffix_list.dat)"
        )
    rules = 0
    for n, line in enumerate(text.splitlines(), 1):
        rule = line.strip()
        if not rule or rule.startswith("//"):
            continue
        if not _RULE.fullmatch(rule):
            raise PslError(
                f"{source}: not a Public Suffix List (line {n}: {rule[:60]!r} is not a rule)"
            )
        rules += 1
    if not rules:
        raise PslError(f"{source}: not a Public Suffix List (it holds no rules)")
    try:
        psl = PublicSuffixList(text)
    except (UnicodeError, ValueError) as exc:  # a label IDNA cannot encode
        raise PslError(f"{source}: not a Public Suffix List ({exc})") from None
    version = _VERSION.search(text)
    identity = PslIdentity(
        source, version.group(1) if version else None, hashlib.sha256(data).hexdigest()
    )
    return psl, identity, text


def use(data: bytes, source: str) -> PslIdentity:
    """Make the list in ``data`` the one every check uses (PslError if it is not a list)."""
    global _current
    psl, identity, text = parse(data, source)
    _current = _Loaded(psl, identity, text)
    org_domain.cache_clear()
    public_suffix.cache_clear()
    return identity


def _list() -> PublicSuffixList:
    return _loaded().psl


def _packaged() -> bytes:
    return importlib.resources.files("publicsuffixlist").joinpath("public_suffix_list.dat").read_bytes()  # fmt: skip


def _loaded() -> _Loaded:
    if _current is None:
        # the packaged list, on first use (~0.1 s to parse), then shared: lookups are read-only
        use(_packaged(), "packaged")
    assert _current is not None
    return _current


_packaged_identity: PslIdentity | None = None


def identity() -> PslIdentity:
    """The list in use (the packaged one unless ``use`` was given another). Naming the packaged
    list does not parse it: a run that never looks a domain up (``spf --input``) still
    prints which list it had, and parsing cost it 0.1-0.2 s of start-up."""
    global _packaged_identity
    if _current is not None:
        return _current.identity
    if _packaged_identity is None:
        data = _packaged()
        version = _VERSION.search(data.decode("utf-8", "replace"))
        _packaged_identity = PslIdentity(
            "packaged", version.group(1) if version else None, hashlib.sha256(data).hexdigest()
        )
    return _packaged_identity


def text() -> str:
    """The text of the list in use, which a DNS snapshot keeps so that a replay can use it."""
    return _loaded().text


def load() -> None:
    """Parse the list now (before worker processes fork, so that they share it)."""
    _loaded()


def to_ascii(name: str) -> str | None:
    """``name`` lower-cased, without a trailing dot, with U-labels turned into A-labels.

    None when the name cannot be a domain name: empty labels (a leading dot, ``a..b``), a label
    that IDNA 2008 rejects, or more than 253 octets.
    """
    n = name[:-1] if name.endswith(".") else name
    if not n.isascii():
        try:
            n = idna.encode(n, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            # Whole-name IDNA fails on labels such as "_dmarc"; such labels are ASCII already,
            # so convert only the labels that need it.
            try:
                n = ".".join(
                    label if label.isascii() else idna.alabel(idna.uts46_remap(label)).decode()
                    for label in n.split(".")
                )
            except (idna.IDNAError, UnicodeError, ValueError):
                return None
    n = n.lower()
    if not n or len(n) > _MAX_NAME or "" in n.split("."):
        return None
    return n


@functools.lru_cache(maxsize=8192)
def org_domain(name: str) -> str | None:
    """The organisational domain of ``name`` (the public suffix plus one label), or None.

    None when ``name`` is itself a public suffix (``co.uk``, an unlisted TLD) or not a valid
    domain name. An unlisted TLD counts as a public suffix (the PSL's ``*`` default rule).
    """
    n = to_ascii(name)
    if n is None:
        return None
    result: str | None = _list().privatesuffix(n)
    return result


@functools.lru_cache(maxsize=8192)
def public_suffix(name: str) -> str | None:
    """The public suffix of ``name`` (``co.uk`` for ``a.example.co.uk``), or None if invalid."""
    n = to_ascii(name)
    if n is None:
        return None
    result: str | None = _list().publicsuffix(n)
    return result


def same_organisation(a: str, b: str) -> bool:
    """Whether two names share an organisational domain (names that have none compare as is)."""
    oa, ob = org_domain(a), org_domain(b)
    return (oa or to_ascii(a)) == (ob or to_ascii(b))
