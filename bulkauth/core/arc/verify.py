"""ARC chain validation (RFC 8617 5.2) of a stored message, with the keys and the clock given.
Sans-I/O.

The steps are RFC 8617 5.2's, in its order, and the first that fails decides the verdict:

1. collect the ARC sets: none is ``none``; more than 50 is ``fail``;
2. the highest instance's seal says ``cv=fail``: ``fail``;
3. the structure: every instance 1..N present once with exactly one ARC-Authentication-Results,
   ARC-Message-Signature and ARC-Seal, and the seals' ``cv=`` right (``none`` on instance 1,
   ``pass`` above it, ``fail`` nowhere);
4. the ARC-Message-Signature of instance N verifies over the message;
5. oldest-pass: from N-1 down, the lowest instance from which every AMS still verifies;
6. every ARC-Seal, N down to 1, verifies over the ARC fields of its instance and below, in
   instance order (AAR, AMS, AS per set; RFC 8617 5.1.1);
7. ``pass``.

Signatures are DKIM signatures (RFC 6376 with the changes of RFC 8617 4.1.2 and 4.1.3) and use
our DKIM primitives: canonicalisation, body hashes shared with the message's DKIM signatures,
the key records (``bulkauth.core.dkim.key``), the RSA and Ed25519 checks, and the clock for
``t=``/``x=``. Algorithms: ``rsa-sha256`` (RFC 8617) and ``ed25519-sha256`` (RFC 8463). An RSA
key under 1024 bits is refused after the signature verifies (``arc.weak_key``), as our DKIM
verifier refuses it (RFC 8301 3.2).

Every signature of a well-formed chain is verified, also after the verdict is known, so that
each set in the record says whether its AMS and its seal hold. A verdict other than ``pass``
and ``none`` names its reason, the instance and the header field: ``arc.ams_body_hash`` at
instance 2, ARC-Message-Signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bulkauth.core.arc.result import ArcResult
from bulkauth.core.arc.sets import (
    FIELD_NAMES,
    MAX_ARC_FIELDS,
    MAX_ARC_INSTANCES,
    ArcField,
    Kind,
    arc_fields,
    signature_fields,
)
from bulkauth.core.common.model import Problem, Rcode
from bulkauth.core.dkim.dkimpy import (
    CanonicalizationPolicy,
    InvalidCanonicalizationPolicyError,
    Relaxed,
)
from bulkauth.core.dkim.key import RSA_MIN_BITS, parse_dkim_key
from bulkauth.core.dkim.verify import (
    B_TAG,
    CLOCK_SKEW,
    Crypto,
    KeyTable,
    MessageHashes,
    hash_headers,
    key_name,
    key_problem,
    relaxed_headers,
    signature_tags,
    tag_text,
    verify_digest,
)
from bulkauth.core.message.headers import Header

#: a= values ARC sets may use -> (key type, hash): RFC 8617 4.1.2 names rsa-sha256; RFC 8463
#: adds ed25519-sha256 to DKIM, whose signature algorithms ARC takes (RFC 8617 4.1.2, 4.1.3)
ALGORITHMS: dict[bytes, tuple[str, str]] = {
    b"rsa-sha256": ("rsa", "sha256"),
    b"ed25519-sha256": ("ed25519", "sha256"),
}
#: RFC 8617 4.1.2: the AMS takes the DKIM-Signature tags; ARC's default c= is relaxed/relaxed
#: (as dkimpy and the ARC test suite have it)
_AMS_REQUIRED = (b"i", b"a", b"b", b"bh", b"d", b"h", b"s")
#: RFC 8617 4.1.3
_AS_REQUIRED = (b"i", b"a", b"b", b"cv", b"d", b"s")
_RELAXED = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
_B64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}\Z")
_WS = re.compile(rb"\s+")
_DIGITS = re.compile(rb"\d{1,20}\Z")
_CV = (b"none", b"pass", b"fail")


def arc_headers(headers: Sequence[Header]) -> list[Header]:
    """The ARC-Seal and ARC-Message-Signature fields: a message with one needs verifying."""
    return signature_fields(headers)


def arc_key_names(headers: Sequence[Header]) -> list[str]:
    """The key names the ARC sets of a message need, in order (duplicates kept)."""
    out: list[str] = []
    for _, value in signature_fields(headers)[:MAX_ARC_FIELDS]:
        sig = signature_tags(value)
        name = key_name(sig) if sig is not None else None
        if name is not None:
            out.append(name)
    return out


@dataclass(slots=True)
class _Check:
    """The outcome of one ARC signature: valid, or the result and reason it gives the chain."""

    valid: bool
    result: str = "fail"  # fail, or temperror when DNS failed
    code: str | None = None
    message: str = ""


_OK = _Check(True)


def _fail(code: str, message: str, result: str = "fail") -> _Check:
    return _Check(False, result, code, message)


def _show(raw: bytes) -> str:
    """A tag value in a message: white space folded, clipped."""
    return _WS.sub(b" ", raw).strip().decode("utf-8", "replace")[:40]


def _b64(raw: bytes) -> bytes | None:
    data = _WS.sub(b"", raw)
    if not data or len(data) % 4 or not _B64.match(data):
        return None
    try:
        return base64.b64decode(data)
    except (binascii.Error, ValueError):
        return None


def _common_tags(
    f: ArcField, required: tuple[bytes, ...], as_of: float, clock_trusted: bool
) -> tuple[_Check, tuple[str, str] | None, bytes | None]:
    """The checks every ARC signature field shares: tags present and well-formed, algorithm,
    time. Returns the check, (key type, hash) and the decoded b=."""
    kind = f.kind
    tags = f.tags
    if tags is None:
        return _fail(f"arc.{kind}_syntax", f"{f.name} is {f.error}"), None, None
    missing = [t.decode() for t in required if t not in tags]
    if missing:
        return (
            _fail(
                f"arc.{kind}_syntax",
                f"{f.name} lacks required tag(s) {', '.join(missing)}= (RFC 8617 4.1)",
            ),
            None,
            None,
        )
    algo = ALGORITHMS.get(tags[b"a"].strip().lower())
    if algo is None:
        return (
            _fail(
                "arc.unsupported_algorithm",
                f"{f.name} has a={_show(tags[b'a'])!r}; ARC sets use rsa-sha256 or ed25519-sha256",
            ),
            None,
            None,
        )
    signature = _b64(tags[b"b"])
    if signature is None:
        return _fail(f"arc.{kind}_syntax", f"{f.name} b= is not valid base64"), None, None
    if key_name(tags) is None:
        return (
            _fail(f"arc.{kind}_syntax", f"{f.name} d= or s= is not a domain name or selector"),
            None,
            None,
        )
    for tag in (b"t", b"x"):
        if tag in tags and not _DIGITS.match(tags[tag].strip()):
            return (
                _fail(f"arc.{kind}_syntax", f"{f.name} {tag.decode()}= is not a decimal number"),
                None,
                None,
            )
    t = int(tags[b"t"]) if b"t" in tags else None
    x = int(tags[b"x"]) if b"x" in tags else None
    if t is not None and x is not None and x < t:
        return _fail(f"arc.{kind}_syntax", f"{f.name} x= is earlier than t="), None, None
    if b"q" in tags and b"dns/txt" not in [m.strip().lower() for m in tags[b"q"].split(b":")]:
        return _fail(f"arc.{kind}_syntax", f"{f.name} q= offers no dns/txt"), None, None
    if t is not None and t > as_of + CLOCK_SKEW and clock_trusted:
        return (
            _fail("arc.signed_in_future", f"{f.name} t={t} is later than {int(as_of)}"),
            None,
            None,
        )
    if x is not None and x < as_of - CLOCK_SKEW:
        return _fail("arc.expired", f"{f.name} x={x} had passed at {int(as_of)}"), None, None
    return _OK, algo, signature


def _verify(
    f: ArcField,
    algo: tuple[str, str],
    signature: bytes,
    digest: bytes,
    keys: KeyTable,
    crypto: Crypto,
) -> _Check:
    """The key lookup and the signature check of one ARC signature field."""
    assert f.tags is not None
    name = key_name(f.tags)
    assert name is not None
    rec = keys.get(name)
    if rec is None:
        return _fail("arc.dns_error", f"the key {name} was not looked up", "temperror")
    if rec.failed:
        detail = f": {rec.detail}" if rec.detail else ""
        return _fail(
            "arc.dns_error", f"DNS lookup of {name} TXT failed ({rec.rcode}{detail})", "temperror"
        )
    if not rec.texts:
        what = "does not exist" if rec.rcode == Rcode.NXDOMAIN.value else "has no TXT record"
        return _fail("arc.key_not_found", f"the key of {f.name}, {name}, {what}")
    key = parse_dkim_key(rec.texts[0])
    key_type, hash_name = algo
    problem = key_problem(key, key_type, hash_name, tag_text(f.tags[b"a"]))
    if problem is not None:
        return _fail(f"arc.{problem[0]}", f"{f.name}: {name}: {problem[1]}")
    assert key.key is not None
    if not verify_digest(key.key, signature, digest, hash_name, crypto):
        return _fail(
            f"arc.{f.kind}_signature",
            f"the {f.name} signature does not verify: a field it signs was changed, or the key "
            "is not the one that signed",
        )
    if key.key_type == "rsa" and (key.key_bits or 0) < RSA_MIN_BITS:
        return _fail(
            "arc.weak_key",
            f"the {f.name} signature verifies, but with a {key.key_bits}-bit RSA key; verifiers "
            f"must not accept keys under {RSA_MIN_BITS} bits (RFC 8301 3.2)",
        )
    return _OK


def _blank_b(value: bytes) -> bytes:
    """The field value with its b= emptied (RFC 6376 3.7); a value that starts with b= (no
    space after the colon) is matched too."""
    return B_TAG.sub(b"\\1", b";" + value)[1:]


def _check_ams(
    f: ArcField,
    msg: MessageHashes,
    keys: KeyTable,
    as_of: float,
    crypto: Crypto,
    clock_trusted: bool,
) -> _Check:
    """An ARC-Message-Signature over the message as it is now (RFC 8617 4.1.2, 5.2 steps 4-5)."""
    check, algo, signature = _common_tags(f, _AMS_REQUIRED, as_of, clock_trusted)
    if not check.valid:
        return check
    assert f.tags is not None and algo is not None and signature is not None
    tags = f.tags
    try:
        policy = CanonicalizationPolicy.from_c_value(tags.get(b"c", b"relaxed/relaxed"))
    except InvalidCanonicalizationPolicyError:
        return _fail(
            "arc.ams_syntax", f"{f.name} c={tag_text(tags[b'c'])} is not a canonicalization"
        )
    include = [h.strip().lower() for h in tags[b"h"].split(b":") if h.strip()]
    if b"arc-seal" in include:
        return _fail("arc.ams_syntax", f"{f.name} h= signs ARC-Seal, which RFC 8617 4.1.2 forbids")
    length: int | None = None
    if b"l" in tags:
        if not _DIGITS.match(tags[b"l"].strip()):
            return _fail("arc.ams_syntax", f"{f.name} l= is not a decimal number")
        length = int(tags[b"l"])
    body_hash = _b64(tags[b"bh"])
    if body_hash is None:
        return _fail("arc.ams_syntax", f"{f.name} bh= is not valid base64")
    _, hash_name = algo
    if length is not None and length > len(msg.canon_body(policy)):
        return _fail("arc.ams_body_hash", f"{f.name} l={length} is longer than the body")
    if msg.body_hash(policy, hash_name, length) != body_hash:
        return _fail(
            "arc.ams_body_hash",
            f"the body hash does not match the {f.name}'s bh=: the body was changed",
        )
    if b"from" in include:
        include.append(b"from")  # as DKIM: an added From field must break the signature
    name, value = f.header
    if policy.header_algorithm is Relaxed and value[:1] not in (b" ", b"\t"):
        value = b" " + value  # relaxed drops it again; it lets a leading b= be found
    hasher = hashlib.new(hash_name)
    hash_headers(hasher, policy, msg.headers, include, (name, value))
    return _verify(f, algo, signature, hasher.digest(), keys, crypto)


def _relaxed_field(f: ArcField) -> bytes:
    ((name, value),) = relaxed_headers([f.header])
    return name + b":" + value


def _check_seal(
    f: ArcField,
    below: hashlib._Hash,
    keys: KeyTable,
    as_of: float,
    crypto: Crypto,
    clock_trusted: bool,
) -> _Check:
    """An ARC-Seal over the ARC fields of its instance and below (RFC 8617 4.1.3, 5.1.1).
    ``below``: a SHA-256 hasher already fed those fields, relaxed, in instance order (AAR, AMS,
    AS per set) up to this set's AMS; every ARC algorithm hashes with SHA-256, so the seals of
    a chain share that prefix and each field is canonicalised once."""
    check, algo, signature = _common_tags(f, _AS_REQUIRED, as_of, clock_trusted)
    if not check.valid:
        return check
    assert f.tags is not None and algo is not None and signature is not None
    if b"h" in f.tags:
        return _fail("arc.as_syntax", f"{f.name} has h=, which RFC 8617 4.1.3 forbids")
    assert algo[1] == "sha256"
    hasher = below.copy()
    # relaxed only (RFC 8617 4.1.3: an ARC-Seal has no c=); hashed without its CRLF
    ((name, value),) = relaxed_headers([(f.header[0], _blank_b(f.header[1]))])
    hasher.update(name + b":" + value.rstrip(b"\r\n"))
    return _verify(f, algo, signature, hasher.digest(), keys, crypto)


def _set_entry(instance: int, ams: ArcField | None, seal: ArcField | None) -> dict[str, Any]:
    at = ams.tags if ams is not None and ams.tags is not None else {}
    st = seal.tags if seal is not None and seal.tags is not None else {}
    cv = st.get(b"cv")
    return {
        "instance": instance,
        "ams_domain": tag_text(at.get(b"d")),
        "ams_selector": tag_text(at.get(b"s")),
        "ams_algorithm": tag_text(at.get(b"a")),
        "ams_valid": False,
        "ams_code": None,
        "as_domain": tag_text(st.get(b"d")),
        "as_selector": tag_text(st.get(b"s")),
        "as_algorithm": tag_text(st.get(b"a")),
        "as_valid": False,
        "as_code": None,
        "cv": tag_text(cv.lower()) if cv is not None else None,
    }


def _structure(
    out: ArcResult, fields: list[ArcField], n: int
) -> dict[int, dict[Kind, ArcField]] | None:
    """RFC 8617 5.2 step 3.1-3.2: one AAR, AMS and AS for each instance 1..N. The sets, or None
    with ``out`` failed."""
    for f in fields:
        if f.instance is None:
            out.done("fail", "arc.instance_invalid", f"{f.name} {f.error}", None, f.name)
            return None
    by: dict[int, dict[Kind, list[ArcField]]] = {}
    for f in fields:
        assert f.instance is not None
        by.setdefault(f.instance, {}).setdefault(f.kind, []).append(f)
    sets: dict[int, dict[Kind, ArcField]] = {}
    for i in range(1, n + 1):
        got = by.get(i)
        if got is None:
            out.done(
                "fail",
                "arc.instance_gap",
                f"no ARC set has instance {i}: instances must run 1..{n} without gaps "
                "(RFC 8617 5.2 step 3.2)",
                i,
            )
            return None
        for kind in ("aar", "ams", "as"):
            name = FIELD_NAMES[kind]
            found = got.get(kind)
            if not found:
                out.done(
                    "fail",
                    "arc.set_incomplete",
                    f"ARC set {i} has no {name} (RFC 8617 5.2 step 3.1)",
                    i,
                    name,
                )
                return None
            if len(found) > 1:
                out.done(
                    "fail",
                    "arc.instance_duplicate",
                    f"ARC set {i} has {len(found)} {name} fields (RFC 8617 5.2 step 3.1)",
                    i,
                    name,
                )
                return None
        sets[i] = {kind: fs[0] for kind, fs in got.items()}
    return sets


def _cv_rules(out: ArcResult, sets: dict[int, dict[Kind, ArcField]], n: int) -> bool:
    """RFC 8617 5.2 step 3.3: no seal says fail; none on instance 1, pass above it."""
    for i in range(1, n + 1):
        seal = sets[i]["as"]
        if seal.tags is None:
            out.done("fail", "arc.as_syntax", f"ARC-Seal is {seal.error}", i, seal.name)
            return False
        raw = seal.tags.get(b"cv")
        cv = raw.strip().lower() if raw is not None else None
        if cv == b"fail":
            out.done(
                "fail",
                "arc.chain_terminated",
                f"ARC-Seal {i} says cv=fail: the chain was already broken there, and no later "
                "set may carry it on (RFC 8617 5.2 step 3.3)",
                i,
                seal.name,
            )
            return False
        want = b"none" if i == 1 else b"pass"
        if cv != want:
            said = "no cv=" if raw is None else f"cv={_show(raw)}"
            out.done(
                "fail",
                "arc.cv_invalid",
                f"ARC-Seal {i} has {said}; instance {'1 must have cv=none' if i == 1 else f'{i} must have cv=pass'} "
                "(RFC 8617 5.2 step 3.3)",
                i,
                seal.name,
            )
            return False
    return True


def _unchecked_sets(out: ArcResult, numbered: list[ArcField], n: int) -> ArcResult:
    """The sets as written, for a chain that failed before its signatures were checked: what
    they say, with ``ams_valid`` and ``as_valid`` false and no codes."""
    for i in range(min(n, MAX_ARC_INSTANCES), 0, -1):
        kinds = {f.kind: f for f in numbered if f.instance == i}
        if kinds:
            out.sets.append(_set_entry(i, kinds.get("ams"), kinds.get("as")))
    return out


def _validate(
    out: ArcResult,
    headers: list[Header],
    msg: MessageHashes,
    keys: KeyTable,
    as_of: float,
    crypto: Crypto,
    clock_trusted: bool,
) -> ArcResult:
    got = arc_fields(headers)
    fields = got.fields
    if not fields:
        return out
    # step 1
    numbered = [f for f in fields if f.instance is not None]
    top = max(numbered, key=lambda f: f.instance or 0, default=None)
    n = out.instances = top.instance if top is not None and top.instance is not None else 0
    first_ams = next((f for f in numbered if f.kind == "ams" and f.instance == 1), None)
    if first_ams is not None and first_ams.tags is not None:
        out.oldest_ams_domain = tag_text(first_ams.tags.get(b"d"))
    if n > MAX_ARC_INSTANCES:
        assert top is not None
        return out.done(
            "fail",
            "arc.too_many_instances",
            f"{top.name} has instance {n}; a chain holds at most {MAX_ARC_INSTANCES} sets "
            "(RFC 8617 5.2 step 1)",
            n,
            top.name,
        )
    if got.overflow:
        return out.done(
            "fail",
            "arc.too_many_instances",
            f"more than {MAX_ARC_FIELDS} ARC header fields: more than {MAX_ARC_INSTANCES} sets "
            "can hold (RFC 8617 5.2 step 1)",
        )
    # step 2
    seals_n = [f for f in numbered if f.kind == "as" and f.instance == n]
    if len(seals_n) == 1 and seals_n[0].tags is not None:
        cv = seals_n[0].tags.get(b"cv", b"").strip().lower()
        if cv == b"fail":
            out.done(
                "fail",
                "arc.chain_terminated",
                f"ARC-Seal {n}, the latest, says cv=fail: the chain was broken when it was "
                "sealed (RFC 8617 5.2 step 2)",
                n,
                seals_n[0].name,
            )
            return _unchecked_sets(out, numbered, n)
    # step 3
    sets = _structure(out, fields, n)
    if sets is None:
        return _unchecked_sets(out, numbered, n)
    entries = {i: _set_entry(i, s["ams"], s["as"]) for i, s in sets.items()}
    out.sets = [entries[i] for i in range(n, 0, -1)]
    if not _cv_rules(out, sets, n):
        return out

    # every signature, so that each set says whether it holds
    ams: dict[int, _Check] = {}
    seals: dict[int, _Check] = {}
    below = hashlib.sha256()
    for i in range(1, n + 1):
        s = sets[i]
        ams[i] = _check_ams(s["ams"], msg, keys, as_of, crypto, clock_trusted)
        below.update(_relaxed_field(s["aar"]) + _relaxed_field(s["ams"]))
        seals[i] = _check_seal(s["as"], below, keys, as_of, crypto, clock_trusted)
        below.update(_relaxed_field(s["as"]))
        entries[i].update(
            ams_valid=ams[i].valid,
            ams_code=ams[i].code,
            as_valid=seals[i].valid,
            as_code=seals[i].code,
        )
    if not clock_trusted:
        _note_signed_after_date(out, sets, n, as_of)
    # step 4
    top_ams = ams[n]
    if not top_ams.valid:
        return out.done(
            top_ams.result,
            top_ams.code,
            f"the latest ARC-Message-Signature ({n}) does not validate: {top_ams.message}",
            n,
            FIELD_NAMES["ams"],
        )
    # step 5
    out.oldest_pass = next((i + 1 for i in range(n - 1, 0, -1) if not ams[i].valid), 0)
    # step 6
    for i in range(n, 0, -1):
        if not seals[i].valid:
            return out.done(
                seals[i].result,
                seals[i].code,
                f"ARC-Seal {i} does not validate: {seals[i].message}",
                i,
                FIELD_NAMES["as"],
            )
    # step 7
    return out.done("pass", None, "the chain validates")


def _note_signed_after_date(
    out: ArcResult, sets: dict[int, dict[Kind, ArcField]], n: int, as_of: float
) -> None:
    """Against the sender's Date, a future t= is only reported, as for DKIM: a Date field may be
    years off, and it is the only clock such a message has."""
    for i in range(n, 0, -1):
        for f in (sets[i]["ams"], sets[i]["as"]):
            raw = f.tags.get(b"t") if f.tags is not None else None
            if raw is not None and _DIGITS.match(raw.strip()) and int(raw) > as_of + CLOCK_SKEW:
                out.problems.append(
                    Problem(
                        "arc.signed_after_date",
                        "warning",
                        f"{f.name} {i} t={int(raw)} is later than the message's Date "
                        f"({int(as_of)}), the only clock it has: validated anyway",
                    ).to_dict()
                )


def verify_arc(
    headers: list[Header],
    body: bytes,
    keys: KeyTable,
    as_of: float,
    crypto: Crypto = "openssl",
    hashes: MessageHashes | None = None,
    malformed: str | None = None,
    clock_trusted: bool = True,
) -> ArcResult:
    """Validate the ARC chain of a message (its header fields as parsed, its body with CRLF line
    ends) with the keys prefetched and ``t=``/``x=`` judged at ``as_of``. Never raises.
    ``clock_trusted``: whether a ``t=`` later than ``as_of`` fails the chain (``AsOf.trusted``);
    if not, it is the warning ``arc.signed_after_date``.
    ``hashes``: the message's body hashes when the caller shares them with the DKIM verifier;
    ``malformed``: why the header block could not be read to its end (no chain is validated
    over a message whose header fields are not all known, as for DKIM)."""
    out = ArcResult()
    msg = hashes if hashes is not None else MessageHashes(headers, body)
    if malformed is not None and signature_fields(headers):
        out.instances = max((f.instance or 0 for f in arc_fields(headers).fields), default=0)
        return out.done(
            "permerror", "arc.message_syntax", f"the header block is malformed ({malformed})"
        )
    try:
        return _validate(out, headers, msg, keys, as_of, crypto, clock_trusted)
    except Exception as exc:  # input nobody foresaw: a verdict, not a crash
        out.sets = []
        return out.done(
            "permerror",
            "arc.verifier_error",
            f"ARC validation failed unexpectedly: {type(exc).__name__}: {exc}"[:300],
        )


__all__ = ["ALGORITHMS", "ArcResult", "arc_headers", "arc_key_names", "verify_arc"]
