"""Compare our verdicts with what the receiving system wrote in Authentication-Results.

An archive auditor wants to know where today's verification differs from the one made at
delivery, and why. The classic case is a DKIM key rotated away since: the receiver said
``dkim=pass``, we find no key (``history.dkim_key_rotated``). Each disagreement gets a reason
code from what our own check found; codes are a public contract like problem codes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bulkauth.core.message.auth_results import AuthResult, AuthResults

#: our DKIM reason code -> why we now disagree with a receiver that said pass
_DKIM_WHY: dict[str, tuple[str, str]] = {
    "dkim.key_not_found": (
        "history.dkim_key_rotated",
        "the key is no longer published: it was rotated away after delivery",
    ),
    "dkim.key_revoked": (
        "history.dkim_key_rotated",
        "the key has been revoked (empty p=) since delivery",
    ),
    "dkim.signature_mismatch": (
        "history.dkim_signature_changed",
        "the body still matches but the signature does not: a signed header was changed "
        "after delivery, or the selector now holds another key",
    ),
    "dkim.body_hash_mismatch": (
        "history.dkim_body_changed",
        "the body changed after delivery (archive conversion, line endings, mbox quoting)",
    ),
    "dkim.dns_error": ("history.dkim_dns_error", "the key lookup failed now"),
    "dkim.expired": ("history.dkim_clock", "the signature counts as expired at the --as-of time"),
    "dkim.signed_in_future": ("history.dkim_clock", "t= is after the --as-of time"),
    "dkim.weak_key": ("history.dkim_policy", "we refuse RSA keys under 1024 bits (RFC 8301)"),
}
_KEY_CODES = (
    "dkim.key_syntax",
    "dkim.key_type_mismatch",
    "dkim.key_hash_not_allowed",
    "dkim.key_service",
    "dkim.key_strict_identity",
)

#: old and vendor spellings of RFC 8601 results
_SAME = {"hardfail": "fail", "tempfail": "temperror", "permfail": "permerror"}


def _norm(result: str | None) -> str | None:
    return None if result is None else _SAME.get(result.lower(), result.lower())


@dataclass(slots=True)
class Disagreement:
    method: str
    ours: str
    theirs: str
    code: str
    message: str
    #: which signature (d=) for DKIM
    domain: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "ours": self.ours,
            "theirs": self.theirs,
            "code": self.code,
            "message": self.message,
            "domain": self.domain,
        }


@dataclass(slots=True)
class History:
    authserv_id: str | None
    index: int
    dkim: list[dict[str, Any]] = field(default_factory=list)
    spf: str | None = None
    dmarc: str | None = None
    arc: str | None = None
    disagreements: list[Disagreement] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "authserv_id": self.authserv_id,
            "index": self.index,
            "dkim": self.dkim,
            "spf": self.spf,
            "dmarc": self.dmarc,
            "arc": self.arc,
            "disagree": bool(self.disagreements),
            "disagreements": [d.to_dict() for d in self.disagreements],
        }


def _their_dkim(r: AuthResult) -> dict[str, Any]:
    d = r.props.get("header.d")
    i = r.props.get("header.i")
    if d is None and i is not None:
        d = i.rpartition("@")[2] or None
    return {
        "result": _norm(r.result),
        "d": d.lower() if d else None,
        "b": r.props.get("header.b"),
        "selector": r.props.get("header.s"),
    }


def _match(
    theirs: Mapping[str, Any], ours: Sequence[Mapping[str, Any]], used: set[int]
) -> Mapping[str, Any] | None:
    """Our signature that their result is about: by the b= prefix they quote, else by d=."""
    b = theirs.get("b")
    if b:
        for s in ours:
            mine = s.get("b") or ""
            if (
                s["index"] not in used
                and mine
                and (mine.startswith(b[: len(mine)]) or b.startswith(mine))
            ):
                return s
    d = theirs.get("d")
    if d:
        for s in ours:
            if s["index"] not in used and (s.get("d") or "").lower() == d:
                return s
    return None


def _dkim_why(sig: Mapping[str, Any]) -> tuple[str, str]:
    code = sig.get("code") or ""
    if code in _DKIM_WHY:
        return _DKIM_WHY[code]
    if code in _KEY_CODES:
        return (
            "history.dkim_key_changed",
            "the key record changed since delivery and is unusable now",
        )
    return "history.dkim_differs", f"our verification ends in {sig['result']} ({code or 'no code'})"


def compare(
    receiver: AuthResults | None,
    signatures: Sequence[Mapping[str, Any]],
    spf: str | None,
    dmarc: str | None,
    arc: str | None,
    spf_code: str | None = None,
) -> History | None:
    """Put the receiver's verdicts beside ours; None when the message has no such field."""
    if receiver is None:
        return None
    h = History(receiver.authserv_id, receiver.index)
    used: set[int] = set()
    for r in receiver.of("dkim"):
        theirs = _their_dkim(r)
        h.dkim.append(theirs)
        tr = theirs["result"]
        if tr in (None, "none"):
            continue
        sig = _match(theirs, signatures, used)
        if sig is None:
            continue
        used.add(sig["index"])
        ours = sig["result"]
        if ours == tr:
            continue
        if tr == "pass":
            code, why = _dkim_why(sig)
        elif ours == "pass":
            code, why = (
                "history.dkim_now_passes",
                f"the receiver said {tr}; the signature verifies now",
            )
        else:
            code, why = (
                "history.dkim_differs",
                f"the receiver said {tr}, we find {ours} ({sig.get('code')})",
            )
        h.disagreements.append(Disagreement("dkim", ours, tr, code, why, sig.get("d")))
    for method, ours_v, attr in (
        ("spf", spf, "spf"),
        ("dmarc", dmarc, "dmarc"),
        ("arc", arc, "arc"),
    ):
        rs = receiver.of(method)
        if not rs:
            continue
        theirs_v = _norm(rs[0].result)
        setattr(h, attr, theirs_v)
        if ours_v is None or theirs_v is None or _norm(ours_v) == theirs_v:
            continue
        if ours_v == "temperror":
            code, why = f"history.{method}_dns_error", "our DNS lookups failed"
        elif method == "spf" and spf_code == "spf.no_envelope":
            code, why = (
                "history.spf_no_envelope",
                "the archive does not hold the envelope the receiver saw",
            )
        else:
            code, why = (
                f"history.{method}_differs",
                f"the receiver said {theirs_v}, we find {ours_v}",
            )
        h.disagreements.append(Disagreement(method, ours_v, theirs_v, code, why))
    return h
