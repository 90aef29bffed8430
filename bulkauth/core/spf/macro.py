"""The SPF macro language (RFC 7208 section 7): parsing once, expanding per check.

A macro-string is parsed into a tuple of tokens when its record is parsed: literal runs (with
``%%``, ``%_`` and ``%-`` already turned into ``%``, space and ``%20``) and ``Macro`` values.
Expansion then needs no regular expression. Strings without macros carry their value in
``MacroString.literal`` so the evaluator can skip expansion entirely (the common case:
``include:_spf.example.com``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

#: letters allowed anywhere (7.2); c, r and t only in explanation text (7.3)
DOMAIN_LETTERS = frozenset("slodipvh")
EXP_LETTERS = DOMAIN_LETTERS | frozenset("crt")
ALL_LETTERS = EXP_LETTERS
DELIMITERS = ".-+,/_="

# %{ letter *DIGIT [r] *delimiter }  -- ABNF literals are case-insensitive, so "R" is a reversal too
_EXPAND = re.compile(r"\{([A-Za-z])([0-9]*)([rR]?)([.\-+,/_=]*)\}")
# macro-literal = %x21-24 / %x26-7E; explanation text may also carry SP (explain-string)
_BAD_LITERAL = re.compile(r"[^\x21-\x24\x26-\x7e]")
_BAD_EXPLAIN_LITERAL = re.compile(r"[^\x20-\x24\x26-\x7e]")
#: a DIGIT transformer above this keeps every part anyway (a name has at most 127 labels)
_MAX_DIGITS = 128


class MacroError(ValueError):
    """A macro-string that breaks the RFC 7208 section 7.1 grammar."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Macro:
    """One ``%{...}`` expansion."""

    letter: str  # lower case
    escape: bool  # upper-case letter: URL-escape the result (7.3)
    keep: int  # number of right-hand parts to keep, 0 = all
    reverse: bool
    delimiters: str  # "" means the default "."

    def __str__(self) -> str:
        letter = self.letter.upper() if self.escape else self.letter
        keep = str(self.keep) if self.keep else ""
        return "%{" + letter + keep + ("r" if self.reverse else "") + self.delimiters + "}"


Token = str | Macro


@dataclass(frozen=True, slots=True)
class MacroString:
    """A parsed macro-string. ``literal`` is its value when it holds no ``%{...}`` at all."""

    text: str
    tokens: tuple[Token, ...]
    literal: str | None
    letters: frozenset[str]
    #: offset in ``text`` just past the last macro-expand (``%{..}``, ``%%``, ``%_``, ``%-``)
    tail_start: int
    #: True when the text ends with a macro-expand (a valid domain-end by itself)
    ends_with_expand: bool


def parse_macro_string(text: str, *, letters: frozenset[str], explain: bool = False) -> MacroString:
    """Parse ``text`` as a macro-string (or an explain-string when ``explain``).

    ``letters`` is the set of macro letters allowed here: ``DOMAIN_LETTERS`` in domain-specs,
    ``EXP_LETTERS`` in explanation text. Raises MacroError with a precise code.
    """
    bad = _BAD_EXPLAIN_LITERAL if explain else _BAD_LITERAL
    tokens: list[Token] = []
    buf: list[str] = []
    used: set[str] = set()
    pos = 0
    tail_start = 0
    ends_with_expand = False
    n = len(text)
    while pos < n:
        pct = text.find("%", pos)
        chunk = text[pos:] if pct < 0 else text[pos:pct]
        if chunk:
            m = bad.search(chunk)
            if m:
                raise MacroError(
                    "spf.syntax.bad_character",
                    f"character {m.group()!r} is not allowed in a macro-string",
                )
            buf.append(chunk)
            ends_with_expand = False
        if pct < 0:
            break
        nxt = text[pct + 1 : pct + 2]
        if nxt == "%":
            buf.append("%")
            pos = pct + 2
        elif nxt == "_":
            buf.append(" ")
            pos = pct + 2
        elif nxt == "-":
            buf.append("%20")
            pos = pct + 2
        elif nxt == "{":
            m = _EXPAND.match(text, pct + 1)
            if m is None:
                raise MacroError(
                    "spf.syntax.bad_macro",
                    f"malformed macro at {text[pct : pct + 12]!r} "
                    "(expected %{letter [digits] [r] [delimiters]})",
                )
            letter_raw, digits, rev, delims = m.groups()
            letter = letter_raw.lower()
            if letter not in ALL_LETTERS:
                raise MacroError("spf.syntax.bad_macro", f"unknown macro letter {letter_raw!r}")
            if letter not in letters:
                raise MacroError(
                    "spf.syntax.exp_only_macro",
                    f"macro letter {letter_raw!r} is only allowed in explanation text",
                )
            keep = 0
            if digits:
                stripped = digits.lstrip("0")
                if not stripped:
                    raise MacroError(
                        "spf.syntax.bad_macro",
                        f"macro {m.group()!r}: the digit transformer is zero",
                    )
                keep = _MAX_DIGITS if len(stripped) > 3 else min(int(stripped), _MAX_DIGITS)
            if buf:
                tokens.append("".join(buf))
                buf = []
            tokens.append(Macro(letter, letter_raw.isupper(), keep, bool(rev), delims))
            used.add(letter)
            pos = m.end()
        else:
            shown = text[pct : pct + 2]
            raise MacroError(
                "spf.syntax.bad_macro",
                f"{shown!r}: a '%' must be followed by '{{', '%', '_' or '-'",
            )
        tail_start = pos
        ends_with_expand = True
    if buf:
        tokens.append("".join(buf))
    literal: str | None = None
    if not used:
        literal = "".join(t for t in tokens if isinstance(t, str))
    return MacroString(text, tuple(tokens), literal, frozenset(used), tail_start, ends_with_expand)


@dataclass(frozen=True, slots=True)
class MacroValues:
    """What the letters expand to for one check (``p`` is filled in only when needed)."""

    s: str
    l: str  # noqa: E741  (the RFC's letter)
    o: str
    i: str
    v: str
    h: str
    c: str
    r: str
    t: str
    p: str = "unknown"


def transform(value: str, m: Macro) -> str:
    """Apply the split / reverse / keep-right transformers and URL escaping (7.3)."""
    if m.keep or m.reverse or m.delimiters:
        parts = _splitter(m.delimiters)(value)
        if m.reverse:
            parts.reverse()
        if m.keep and m.keep < len(parts):
            parts = parts[-m.keep :]
        value = ".".join(parts)
    if m.escape:
        # unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"; everything else is %-escaped
        value = quote(value, safe="~", encoding="utf-8", errors="surrogateescape")
    return value


@lru_cache(maxsize=128)
def _splitter(delimiters: str) -> Callable[[str], list[str]]:
    """A function splitting on any of ``delimiters`` (default "."), built once per set."""
    chars = "".join(sorted(set(delimiters or ".")))
    if chars == ".":
        return lambda v: v.split(".")
    pattern = re.compile("[" + re.escape(chars) + "]")
    return pattern.split


def expand(ms: MacroString, values: MacroValues, domain: str) -> str:
    """Expand a parsed macro-string; ``domain`` is the current <domain> (letter ``d``)."""
    if ms.literal is not None:
        return ms.literal
    out: list[str] = []
    for tok in ms.tokens:
        if isinstance(tok, str):
            out.append(tok)
            continue
        letter = tok.letter
        value = domain if letter == "d" else getattr(values, letter)
        out.append(transform(value, tok) if _needs_transform(tok) else value)
    return "".join(out)


def _needs_transform(m: Macro) -> bool:
    return bool(m.keep or m.reverse or m.delimiters or m.escape)
