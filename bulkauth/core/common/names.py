"""Domain names: turning user input into a checkable name, and validating names before a query."""

from __future__ import annotations

import ipaddress
import re

import idna


class NameError_(ValueError):
    """A name that cannot be a DNS domain name; the message says why, for the record."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


_LDH = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


def normalize_query_name(name: str) -> str:
    """Lower-case, drop the trailing dot, and check RFC 1035 length limits.

    Query names may contain underscores and other octets (SPF macros expand to anything), so
    only the lengths are enforced here; host-name syntax is the business of ``parse_domain``.
    """
    if (
        0 < len(name) <= 63
        and name.isascii()
        and name.islower()
        and name[0] != "."
        and name[-1] != "."
        and ".." not in name
    ):
        # already normal, and no label can be over 63: the names checks ask, at no cost in
        # allocations (this runs for every question a run asks)
        return name
    n = name.rstrip(".").lower() if name != "." else ""
    if n.isascii() and 0 < len(n) <= 253:  # the common case, checked at C speed
        labels = n.split(".")
        if "" not in labels and max(map(len, labels)) <= 63:
            return n
    if not n:
        raise NameError_("name.empty", "empty name")
    if len(n) > 253:
        raise NameError_("name.too_long", f"name is {len(n)} characters, the limit is 253")
    for label in n.split("."):
        if not label:
            raise NameError_("name.empty_label", f"empty label in {n!r}")
        if len(label.encode("utf-8", "surrogateescape")) > 63:
            raise NameError_("name.label_too_long", f"label {label[:20]!r}... is over 63 octets")
    return n


def parse_domain(text: str) -> str:
    """Turn one line of a domain list into an A-label domain name, or raise NameError_.

    Accepts what users paste: surrounding whitespace, a trailing dot, upper case, and IDNs in
    U-labels (converted with IDNA 2008, UTS 46 mapping). Rejects with a reason what is not a
    domain: IP literals, URLs and e-mail addresses, names with spaces or control characters,
    and names that break RFC 1035 length limits.
    """
    s = text.strip()
    if not s:
        raise NameError_("input.empty", "empty line")
    if "\x00" in s or any(ord(c) < 32 or ord(c) == 127 for c in s):
        raise NameError_("input.control_character", "contains control characters")
    if "\ufffd" in s:
        raise NameError_("input.not_utf8", "not valid UTF-8")
    if "://" in s or "/" in s:
        raise NameError_(
            "input.url", "looks like a URL; give the bare domain name (e.g. example.com)"
        )
    if "@" in s:
        raise NameError_("input.email", "looks like an e-mail address; give the domain after the @")
    if any(c.isspace() for c in s):
        raise NameError_("input.whitespace", "contains whitespace")
    bare = s.strip("[]")
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        pass
    else:
        raise NameError_("input.ip_literal", "is an IP address, not a domain name")
    s = s.rstrip(".")
    if s.isascii():
        name = s.lower()
    else:
        try:
            name = idna.encode(s, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise NameError_(
                "input.bad_idn", f"not a valid internationalised domain name: {exc}"
            ) from None
    name = normalize_query_name(name)
    labels = name.split(".")
    if len(labels) < 2:
        raise NameError_(
            "input.single_label", "single-label name; give a registered domain (e.g. example.com)"
        )
    for label in labels:
        if not _LDH.match(label):
            raise NameError_(
                "input.bad_label", f"label {label!r} is not letters, digits and hyphens"
            )
    if labels[-1].isdigit():
        raise NameError_("input.numeric_tld", "the last label is all digits")
    return name
