"""Parsing SPF records (RFC 7208 sections 4.5, 4.6, 5, 6 and 7) into immutable values.

The whole record is checked before any term is evaluated (4.6: a syntax error anywhere makes the
result permerror), so parsing either returns a complete ``SpfRecord`` or raises
``SpfSyntaxError`` naming the offending term and a precise code. Parsed records are cached by
text: thousands of domains include the same provider records.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

from bulkauth.core.spf.macro import (
    DOMAIN_LETTERS,
    EXP_LETTERS,
    MacroError,
    MacroString,
    parse_macro_string,
)

#: mechanisms whose evaluation queries DNS (4.6.4); the redirect modifier counts too
LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
QUALIFIERS = "+-~?"

_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9._-]*)=(.*)", re.DOTALL)
_MECH_NAME = re.compile(r"([+\-~?]?)([A-Za-z0-9]*)(.*)", re.DOTALL)
# [":" domain-spec] [ip4-cidr-length] ["//" ip6-cidr-length]; the domain-spec may itself hold "/"
_A_ARGS = re.compile(r"(?::(.*?))?(?:/([0-9]+))?(?://([0-9]+))?", re.DOTALL)
_CIDR_DIGITS = re.compile(r"0|[1-9][0-9]{0,2}")
_TOPLABEL = re.compile(
    r"(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9])"
)
_VISIBLE = re.compile(r"[^\x21-\x7e]")
_IP4_LOOKALIKE = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}\.?")


class SpfSyntaxError(ValueError):
    """A record that breaks the RFC 7208 grammar: a precise ``code``, the ``term`` at fault."""

    def __init__(self, code: str, message: str, term: str = "") -> None:
        message = clip(message, 300)
        super().__init__(message)
        self.code = code
        self.term = clip(term, 200)  # for display: hostile records can hold 64 KB terms
        self.message = message

    def __str__(self) -> str:
        return f"{self.term!r}: {self.message}" if self.term else self.message

    def __reduce__(self) -> tuple[type[SpfSyntaxError], tuple[str, str, str]]:
        return (SpfSyntaxError, (self.code, self.message, self.term))


@dataclass(frozen=True, slots=True)
class Mechanism:
    """One directive. For ip4/ip6 ``network`` is the address as an int, masked to ``prefix``."""

    qualifier: str  # one of + - ~ ?
    kind: str  # all include a mx ptr ip4 ip6 exists
    text: str  # the term as published
    domain: MacroString | None = None
    cidr4: int = 32
    cidr6: int = 128
    network: int = 0
    prefix: int = 0


@dataclass(frozen=True, slots=True)
class Modifier:
    name: str  # lower case
    value: MacroString
    text: str


@dataclass(frozen=True, slots=True)
class SpfRecord:
    text: str
    mechanisms: tuple[Mechanism, ...]
    redirect: Modifier | None
    exp: Modifier | None
    unknown_modifiers: tuple[Modifier, ...]

    @property
    def has_all(self) -> bool:
        return any(m.kind == "all" for m in self.mechanisms)

    @property
    def lookup_terms(self) -> int:
        """Terms that cost a DNS lookup when evaluated (redirect only when it can be reached)."""
        n = sum(1 for m in self.mechanisms if m.kind in LOOKUP_MECHANISMS)
        return n + (1 if self.redirect is not None and not self.has_all else 0)


def is_spf_record(text: str) -> bool:
    """RFC 7208 4.5: the record starts with exactly "v=spf1" (any case), then SP or its end."""
    return text[:6].lower() == "v=spf1" and (len(text) == 6 or text[6] == " ")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (with "..."), for messages built from DNS data."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_toplabel(label: str) -> bool:
    """RFC 7208 7.1 toplabel: alphanumerics with a letter, or LDH not starting with '-'."""
    return _TOPLABEL.fullmatch(label) is not None


def parse_record(text: str) -> SpfRecord:
    """Parse a complete record (starting with ``v=spf1``), cached by text; raises SpfSyntaxError."""
    parsed = _parse_cached(text)
    if isinstance(parsed, SpfSyntaxError):
        raise SpfSyntaxError(parsed.code, parsed.message, parsed.term)
    return parsed


def try_parse_record(text: str) -> SpfRecord | SpfSyntaxError:
    """Like parse_record, but the error is returned (and shared: do not mutate it)."""
    return _parse_cached(text)


@lru_cache(maxsize=8192)
def _parse_cached(text: str) -> SpfRecord | SpfSyntaxError:
    try:
        return _parse(text)
    except SpfSyntaxError as exc:
        return exc


def _parse(text: str) -> SpfRecord:
    if not is_spf_record(text):
        raise SpfSyntaxError("spf.syntax.version", "the record does not start with 'v=spf1'")
    mechanisms: list[Mechanism] = []
    redirect: Modifier | None = None
    exp: Modifier | None = None
    unknown: list[Modifier] = []
    for term in text[6:].split(" "):
        if not term:
            continue  # terms are separated by one or more SP (4.6.1)
        if not term.isascii():
            raise SpfSyntaxError(
                "spf.syntax.non_ascii", "SPF records are restricted to 7-bit ASCII (3.1)", term
            )
        bad = _VISIBLE.search(term)
        if bad:
            raise SpfSyntaxError(
                "spf.syntax.bad_character",
                f"control character {bad.group()!r} inside a term "
                "(terms are separated by spaces only)",
                term,
            )
        mod = _MODIFIER.fullmatch(term)
        if mod:
            m = _parse_modifier(term, mod.group(1).lower(), mod.group(2))
            if m.name == "redirect":
                if redirect is not None:
                    raise SpfSyntaxError(
                        "spf.syntax.duplicate_modifier", "redirect= appears more than once", term
                    )
                redirect = m
            elif m.name == "exp":
                if exp is not None:
                    raise SpfSyntaxError(
                        "spf.syntax.duplicate_modifier", "exp= appears more than once", term
                    )
                exp = m
            else:
                unknown.append(m)
            continue
        mechanisms.append(_parse_mechanism(term))
    return SpfRecord(text, tuple(mechanisms), redirect, exp, tuple(unknown))


def _parse_modifier(term: str, name: str, value: str) -> Modifier:
    if name in ("redirect", "exp"):
        return Modifier(name, parse_domain_spec(value, term), term)
    try:
        ms = parse_macro_string(value, letters=EXP_LETTERS)
    except MacroError as exc:
        raise SpfSyntaxError(exc.code, str(exc), term) from None
    return Modifier(name, ms, term)


def _parse_mechanism(term: str) -> Mechanism:
    m = _MECH_NAME.fullmatch(term)
    assert m is not None  # the pattern matches any string
    qualifier, name_raw, rest = m.groups()
    name = name_raw.lower()
    qualifier = qualifier or "+"
    if name not in MECHANISMS:
        if name in ("redirect", "exp"):
            msg = f"{name} is a modifier and takes '=' (e.g. {name}=example.com)"
        elif not name_raw:
            msg = "not a mechanism or modifier"
        else:
            msg = f"unknown mechanism {name_raw!r}"
        raise SpfSyntaxError("spf.syntax.unknown_mechanism", msg, term)
    if name == "all":
        if rest:
            raise SpfSyntaxError("spf.syntax.unexpected_argument", "'all' takes no argument", term)
        return Mechanism(qualifier, name, term)
    if name in ("include", "exists"):
        if not rest.startswith(":"):
            raise SpfSyntaxError(
                "spf.syntax.missing_domain", f"{name} requires ':' and a domain", term
            )
        return Mechanism(qualifier, name, term, parse_domain_spec(rest[1:], term))
    if name == "ptr":
        if not rest:
            return Mechanism(qualifier, name, term)
        if not rest.startswith(":"):
            raise SpfSyntaxError(
                "spf.syntax.unexpected_argument", "ptr takes only ':' and a domain", term
            )
        return Mechanism(qualifier, name, term, parse_domain_spec(rest[1:], term))
    if name in ("ip4", "ip6"):
        return _parse_ip(qualifier, name, rest, term)
    # a and mx: [":" domain-spec] [dual-cidr-length]
    args = _A_ARGS.fullmatch(rest)
    if args is None or (rest and rest[0] not in ":/"):
        raise SpfSyntaxError(
            "spf.syntax.bad_cidr" if rest.startswith("/") else "spf.syntax.unknown_mechanism",
            f"cannot parse {rest!r} after {name!r} (expected ':domain', '/ip4-cidr', '//ip6-cidr')",
            term,
        )
    dom, c4, c6 = args.groups()
    domain = None if dom is None else parse_domain_spec(dom, term)
    cidr4 = 32 if c4 is None else _cidr(c4, 32, term)
    cidr6 = 128 if c6 is None else _cidr(c6, 128, term)
    return Mechanism(qualifier, name, term, domain, cidr4, cidr6)


def _cidr(digits: str, limit: int, term: str) -> int:
    if not _CIDR_DIGITS.fullmatch(digits) or int(digits) > limit:
        raise SpfSyntaxError(
            "spf.syntax.bad_cidr",
            f"prefix length /{digits} is invalid (0-{limit}, no leading zeros)",
            term,
        )
    return int(digits)


def _parse_ip(qualifier: str, name: str, rest: str, term: str) -> Mechanism:
    if not rest.startswith(":") or len(rest) == 1:
        raise SpfSyntaxError(
            "spf.syntax.missing_address", f"{name} requires ':' and an address", term
        )
    addr_text, slash, cidr_text = rest[1:].partition("/")
    bits = 32 if name == "ip4" else 128
    try:
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address
        if name == "ip4":
            addr = ipaddress.IPv4Address(addr_text)
        else:
            if "%" in addr_text:  # ipaddress accepts scoped addresses; SPF does not
                raise ValueError("zone index")
            addr = ipaddress.IPv6Address(addr_text)
    except ValueError:
        raise SpfSyntaxError(
            f"spf.syntax.bad_{name}", f"{addr_text!r} is not a valid {name} address", term
        ) from None
    prefix = _cidr(cidr_text, bits, term) if slash else bits
    shift = bits - prefix
    network = (int(addr) >> shift) << shift
    return Mechanism(qualifier, name, term, network=network, prefix=prefix)


def parse_domain_spec(text: str, term: str) -> MacroString:
    """domain-spec = macro-string domain-end; domain-end = ("." toplabel ["."]) / macro-expand."""
    if not text:
        raise SpfSyntaxError("spf.syntax.missing_domain", "empty domain", term)
    try:
        ms = parse_macro_string(text, letters=DOMAIN_LETTERS)
    except MacroError as exc:
        raise SpfSyntaxError(exc.code, str(exc), term) from None
    if ms.ends_with_expand:
        return ms
    tail = text[ms.tail_start :]
    if tail.endswith("."):
        tail = tail[:-1]
    dot = tail.rfind(".")
    if dot < 0 or not _TOPLABEL.fullmatch(tail[dot + 1 :]):
        if _IP4_LOOKALIKE.fullmatch(text):
            msg = f"{text!r} is an IP address, not a domain (use ip4:{text.rstrip('.')})"
        elif dot < 0:
            msg = f"{text!r} is not a domain name (needs at least two labels or a macro)"
        else:
            msg = f"{text!r} does not end in a valid top-level label"
        raise SpfSyntaxError("spf.syntax.bad_domain", msg, term)
    return ms


@lru_cache(maxsize=1024)
def parse_explanation(text: str) -> MacroString | None:
    """Parse fetched explanation text (explain-string, 6.2); None when it is invalid."""
    if not text.isascii():
        return None
    try:
        return parse_macro_string(text, letters=EXP_LETTERS, explain=True)
    except MacroError:
        return None
