"""Organisational domains from the Public Suffix List (RFC 7489 section 3.2).

The list is the copy bundled with the ``publicsuffixlist`` package: no network, and every run of
one installed version gives the same answers. It includes the private section (``github.io``,
``blogspot.com``, ...), as the RFC 7489 reference list does, so that two customers of a hosting
suffix are two organisations. Names are handled as A-labels, the form DNS queries use.
"""

from __future__ import annotations

import functools

import idna
from publicsuffixlist import PublicSuffixList

_MAX_NAME = 253


@functools.cache
def _list() -> PublicSuffixList:
    # Built on first use (~0.1 s to parse the bundled list), then shared: lookups are read-only.
    return PublicSuffixList()


def load() -> None:
    """Parse the list now (before worker processes fork, so that they share it)."""
    _list()


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
