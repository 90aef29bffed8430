"""Tag lists, ``name=value; name=value``: one tokenizer, each RFC's strictness an option.

DKIM (RFC 6376 3.2), DMARC (RFC 7489 6.4), MTA-STS (RFC 8461 3.1), TLS-RPT (RFC 8460 3) and BIMI
all write their records as tag lists, and differ only in details: which white space surrounds a
tag, which tag names and values are valid, whether ``;;`` is tolerated, whether ``=`` may have
white space around it, whether names are case-insensitive. A :class:`Syntax` holds those
choices; the constants below are the ones the records use.

``parse_tags`` stops at the first fault (a record whose tag list is broken is invalid as a
whole); ``split_tags`` reads every tag-spec and says what is wrong with each, for records that
are graded tag by tag (DMARC) or salvaged. Problem messages are the callers' own: each record
words its faults as its RFC does. Both work on ``str`` and, for DKIM-Signature fields as dkimpy
reads them, on ``bytes``: that is the hot path of ``bulkauth messages`` (every signature is read
twice), so the loop is plain string methods, no regex unless the syntax checks names or values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import AnyStr, Generic, Literal, NamedTuple

#: what is wrong with one tag-spec, in the order it is checked: ``empty`` (a ``;;`` where the
#: syntax allows none), ``pair`` (no ``=``, or white space around it where the syntax forbids
#: it), ``name``, ``value``, ``duplicate`` (a name seen before)
Fault = Literal["empty", "pair", "name", "value", "duplicate"]


@dataclass(frozen=True, slots=True)
class Syntax(Generic[AnyStr]):
    """How strict one RFC's tag lists are."""

    #: the tag separator and the name/value separator, as ``str`` or ``bytes``
    semicolon: AnyStr
    equals: AnyStr
    #: white space stripped around a tag-spec, its name and its value; None: any ASCII white space
    #: (what ``str.strip()`` / ``bytes.strip()`` remove)
    space: AnyStr | None
    #: a valid tag name (matched at its start); None: any name
    name: re.Pattern[AnyStr] | None
    #: a valid non-empty tag value (matched at its start); None: any value
    value: re.Pattern[AnyStr] | None
    #: empty tag-specs (``;;``): skipped anywhere, or only after the last ``;``
    empty: Literal["skip", "trailing"]
    #: no white space around ``=`` and a non-empty name (RFC 8461 and 8460 allow none)
    tight: bool = False
    #: names are case-insensitive: reported lower-cased, and duplicates compared so
    fold_case: bool = False


class Tag(NamedTuple, Generic[AnyStr]):
    """One tag-spec as written (white space stripped), its name and value, and its fault."""

    spec: AnyStr
    name: AnyStr
    value: AnyStr
    fault: Fault | None


class TagListError(ValueError):
    """A tag list that breaks its syntax; the message is worded as RFC 6376 3.2 problems."""

    def __init__(self, fault: Fault, spec: str | bytes, name: str | bytes) -> None:
        self.fault, self.spec, self.name = fault, spec, name
        super().__init__(_rfc6376_wording(fault, str(spec), str(name)))


def _clip(s: str, n: int = 40) -> str:
    return s if len(s) <= n else s[:n] + "..."


def _rfc6376_wording(fault: Fault, spec: str, name: str) -> str:
    if fault == "pair":
        return f"{_clip(spec)!r} is not a tag=value pair"
    if fault == "name":
        return f"{_clip(name)!r} is not a valid tag name"
    if fault == "value":
        return f"the value of {name}= has characters a tag value cannot hold"
    if fault == "duplicate":
        return f"tag {name}= appears more than once"
    return "empty tag-spec between ';'"


_FWS = " \t\r\n"
# RFC 6376 3.2: tag-name = ALPHA *ALNUMPUNC
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
# tag-value: VALCHARs (%x21-3A / %x3C-7E) separated by folding white space
_TAG_VALUE = re.compile(r"[\x21-\x3a\x3c-\x7e]+(?:[ \t\r\n]+[\x21-\x3a\x3c-\x7e]+)*\Z")

#: DKIM key records (RFC 6376 3.2, 3.6.1): FWS, strict names and values; ``;;`` is tolerated,
#: as deployed verifiers do
DKIM = Syntax(";", "=", _FWS, _TAG_NAME, _TAG_VALUE, "skip")
#: DKIM-Signature fields as dkimpy's ``parse_tag_value`` reads them (bytes, any white space, a
#: name need only start with a letter, an empty tag-spec only at the end), so that the verdicts
#: agree with dkimpy's; tests hold the two together
DKIM_SIGNATURE = Syntax(b";", b"=", None, re.compile(rb"[a-zA-Z]"), None, "trailing")
#: DMARC records (RFC 7489 6.4): RFC 6376 names, case-insensitive; values are graded per tag
DMARC = Syntax(";", "=", _FWS, _TAG_NAME, None, "skip", fold_case=True)
#: MTA-STS (RFC 8461 3.1) and TLS-RPT (RFC 8460 3): field-delim = *WSP ";" *WSP, no white space
#: around "=", a ";" only at the end; names and values are graded by the record
MTA_STS = Syntax(";", "=", " \t", None, None, "trailing", tight=True)
TLS_RPT = MTA_STS
#: BIMI assertion records use the DKIM tag=value syntax (FWS allowed around "=")
BIMI = DKIM


def split_tags(text: AnyStr, syntax: Syntax[AnyStr], limit: int | None = None) -> list[Tag[AnyStr]]:
    """Every tag-spec of ``text`` with its fault (None when it is fine), in order; empty ones
    the syntax tolerates are left out. ``limit``: read only the first ``limit`` tag-specs."""
    specs: list[Tag[AnyStr]] = []
    _scan(text, syntax, limit, specs)
    return specs


def parse_tags(text: AnyStr, syntax: Syntax[AnyStr]) -> dict[AnyStr, AnyStr]:
    """The tags of ``text``, name -> value, in order. Raises TagListError at the first fault."""
    return _scan(text, syntax, None, None)


def _scan(
    text: AnyStr, syntax: Syntax[AnyStr], limit: int | None, specs: list[Tag[AnyStr]] | None
) -> dict[AnyStr, AnyStr]:
    """The loop of both. Without ``specs`` it raises at the first fault and only fills the dict:
    the hot path, where a Tag per tag-spec would cost more than the rest of the loop."""
    space, equals, tight, fold = syntax.space, syntax.equals, syntax.tight, syntax.fold_case
    name_ok, value_ok = syntax.name, syntax.value
    if limit is None:
        parts = text.split(syntax.semicolon)
    else:
        parts = text.split(syntax.semicolon, limit)
        del parts[limit:]
    last = len(parts) - 1
    skip_empty = syntax.empty == "skip"
    tags: dict[AnyStr, AnyStr] = {}
    seen: set[AnyStr] = set()
    fault: Fault | None
    for i, raw in enumerate(parts):
        name, eq, value = raw.partition(equals)
        bare_name, bare_value = name.strip(space), value.strip(space)
        fault = None
        if not eq:
            if not bare_name:  # the tag-spec is empty, or white space
                if skip_empty or i == last:
                    continue
                fault = "empty"
            else:
                fault = "pair"
        elif tight and (
            not bare_name or name.lstrip(space) != bare_name or value.rstrip(space) != bare_value
        ):
            fault = "pair"
        elif name_ok is not None and name_ok.match(bare_name) is None:
            fault = "name"
        else:
            if fold:
                bare_name = bare_name.lower()
            if value_ok is not None and bare_value and value_ok.match(bare_value) is None:
                fault = "value"
            elif bare_name in seen:
                fault = "duplicate"
            seen.add(bare_name)
        if specs is not None:
            specs.append(Tag(raw.strip(space), bare_name, bare_value, fault))
        elif fault is not None:
            raise TagListError(fault, raw.strip(space), bare_name)
        else:
            tags[bare_name] = bare_value
    return tags


__all__ = [
    "BIMI",
    "DKIM",
    "DKIM_SIGNATURE",
    "DMARC",
    "MTA_STS",
    "TLS_RPT",
    "Fault",
    "Syntax",
    "Tag",
    "TagListError",
    "parse_tags",
    "split_tags",
]
