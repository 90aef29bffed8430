"""The ARC header fields of a message, read and grouped by instance (RFC 8617 4.1, 5.2 step 1).

Reading is tolerant the way receivers are: ARC-Seal and ARC-Message-Signature are tag lists read
by the shared tokenizer (``bulkauth.core.common.taglist``, dkimpy's DKIM-Signature syntax), so
white space around tags and ``=``, folded values and ``i=`` anywhere in the list are all fine,
and so is ``ARC-Message-Signature:i=3;`` with no space after the colon (dkimpy's ARC finds the
AMS by the substring `` i=3;`` and raises IndexError on it). ARC-Authentication-Results is
``i=N;`` then the Authentication-Results payload (RFC 8617 4.1.1): its instance must come first.

A tag list that breaks the syntax still gets its instance when one can be read from it, so the
chain fails naming that header's syntax instead of a missing set.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from bulkauth.core.common.taglist import DKIM_SIGNATURE, TagListError, parse_tags, split_tags
from bulkauth.core.message.headers import Header

#: RFC 8617 4.2.1 and 5.2 step 1: a chain of more ARC sets than this fails
MAX_ARC_INSTANCES = 50
#: header fields read at most: 50 complete sets and one more field. A message with more either
#: has over 50 sets or repeats a field, and fails either way; reading stops there because each
#: field costs a parse and a hostile message can carry thousands
MAX_ARC_FIELDS = 3 * MAX_ARC_INSTANCES + 1

Kind = Literal["aar", "ams", "as"]
#: what the record calls each field
FIELD_NAMES: dict[Kind, str] = {
    "aar": "ARC-Authentication-Results",
    "ams": "ARC-Message-Signature",
    "as": "ARC-Seal",
}
_KINDS: dict[bytes, Kind] = {
    b"arc-authentication-results": "aar",
    b"arc-message-signature": "ams",
    b"arc-seal": "as",
}
#: RFC 8617 4.1.1: ``instance = [FWS] %s"i" [FWS] "=" [FWS] inst-num`` and then ``[CFWS] ";"``
_AAR_INSTANCE = re.compile(rb"[ \t\r\n]*i[ \t\r\n]*=[ \t\r\n]*([0-9]+)[ \t\r\n]*;")
#: RFC 8617 4.2.1: ``inst-num = 1*2DIGIT`` valued 1-50; more digits cannot be an instance
_INST_NUM = re.compile(rb"[0-9]{1,6}\Z")


@dataclass(slots=True)
class ArcField:
    """One ARC header field: which one, where it is, its instance and its tags."""

    kind: Kind
    #: position among the message's header fields (0 = top)
    position: int
    header: Header
    #: None when the field has no readable instance
    instance: int | None
    #: the tag list (ARC-Seal, ARC-Message-Signature); None when it breaks the syntax
    tags: dict[bytes, bytes] | None = None
    #: why the field cannot be used as written (tag-list syntax, instance), for the reason
    error: str | None = None

    @property
    def name(self) -> str:
        return FIELD_NAMES[self.kind]


@dataclass(slots=True)
class Collected:
    """Every ARC field of a message, in message order, and what stopped the reading early."""

    fields: list[ArcField] = field(default_factory=list)
    #: more fields than MAX_ARC_FIELDS: the rest were not read
    overflow: bool = False


def _instance(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    raw = raw.strip()
    if not _INST_NUM.match(raw) or int(raw) == 0:
        return None
    return int(raw)


def _fault(exc: TagListError) -> str:
    name = exc.name.decode("utf-8", "replace") if isinstance(exc.name, bytes) else exc.name
    spec = exc.spec.decode("utf-8", "replace") if isinstance(exc.spec, bytes) else exc.spec
    spec = " ".join(spec.split())[:40]
    if exc.fault == "duplicate":
        return f"tag {name}= appears more than once"
    if exc.fault == "empty":
        return "an empty tag-spec between ';'"
    if exc.fault == "name":
        return f"{spec!r} does not start with a valid tag name"
    return f"{spec!r} is not a tag=value pair"


def _signature_field(kind: Kind, position: int, header: Header) -> ArcField:
    value = header[1]
    try:
        tags = parse_tags(value, DKIM_SIGNATURE)
    except TagListError as exc:
        # the list is broken somewhere: its instance, if readable, still says which set it is in
        found = next(
            (t for t in split_tags(value, DKIM_SIGNATURE) if t.name == b"i" and t.fault is None),
            None,
        )
        inst = _instance(found.value) if found is not None else None
        return ArcField(kind, position, header, inst, None, f"not a valid tag list: {_fault(exc)}")
    inst = _instance(tags.get(b"i"))
    error = None
    if inst is None:
        error = "i= is missing" if b"i" not in tags else "i= is not an instance number"
    return ArcField(kind, position, header, inst, tags, error)


def _aar_field(position: int, header: Header) -> ArcField:
    m = _AAR_INSTANCE.match(header[1])
    if m is None:
        return ArcField("aar", position, header, None, None, 'does not begin with "i=<instance>;"')
    inst = _instance(m.group(1))
    error = None if inst is not None else "i= is not an instance number"
    return ArcField("aar", position, header, inst, None, error)


def arc_fields(headers: Sequence[Header]) -> Collected:
    """The ARC fields of a message, read (not validated), top to bottom."""
    out = Collected()
    for position, header in enumerate(headers):
        kind = _KINDS.get(header[0].rstrip().lower())
        if kind is None:
            continue
        if len(out.fields) == MAX_ARC_FIELDS:
            out.overflow = True
            break
        if kind == "aar":
            out.fields.append(_aar_field(position, header))
        else:
            out.fields.append(_signature_field(kind, position, header))
    return out


def is_arc_field(header: Header) -> bool:
    return header[0].rstrip().lower() in _KINDS


def signature_fields(headers: Sequence[Header]) -> list[Header]:
    """The ARC-Seal and ARC-Message-Signature fields (the ones that name keys), top to bottom."""
    return [h for h in headers if _KINDS.get(h[0].rstrip().lower()) in ("ams", "as")]


__all__ = [
    "FIELD_NAMES",
    "MAX_ARC_FIELDS",
    "MAX_ARC_INSTANCES",
    "ArcField",
    "Collected",
    "Kind",
    "arc_fields",
    "is_arc_field",
    "signature_fields",
]
