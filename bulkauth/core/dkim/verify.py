"""DKIM signature verification of a stored message, with the keys and the clock given. Sans-I/O.

Every DKIM-Signature of a message is verified, each with its own result and reason code
(RFC 8601 vocabulary). The parts that decide whether two implementations agree on a signature
are dkimpy's own: its header-field split, tag parser, canonicalisation and header selection
(``dkim.util.parse_tag_value``, ``dkim.canonicalization``, ``dkim.hash_headers``), where
rewritten for speed held to dkimpy's results by tests (the tag parser is the ``DKIM_SIGNATURE``
option of ``bulkauth.core.common.taglist``). What is ours:

* the clock: ``t=`` and ``x=`` are judged at a given time (the delivery time for an archive),
  not at ``time.time()`` as dkimpy's ``validate_signature_fields`` does, with dkimpy's 10-hour
  allowance for skewed clocks;
* the keys: DNS answers are looked up beforehand (by the async resolver) and passed in, so a
  DNS failure is ``temperror`` and never "no key"; key records are read by
  ``bulkauth.core.dkim.key`` and honoured as RFC 6376 3.6.1 says (``h=``, ``s=``, ``t=s``);
* the reason codes, from checks made in RFC 6376 6.1 order rather than from exception texts;
* the RSA primitive: OpenSSL through ``cryptography`` (``crypto="openssl"``, the default) or
  dkimpy's pure-Python ``RSASSA_PKCS1_v1_5_verify`` (``crypto="python"``, kept to measure the
  difference and to cross-check). Ed25519 always goes through ``cryptography``.

Result mapping (RFC 8601 2.7.1): ``fail`` is a cryptographic mismatch; ``neutral`` a signature
field that cannot be processed (syntax, missing tag, unknown version); ``permerror`` anything
else that makes verification impossible and will not change on retry (no key, revoked key, bad
key record, unsupported algorithm, expired); ``temperror`` a DNS failure; ``policy`` a signature
that verifies with an RSA key under 1024 bits, which RFC 8301 3.2 forbids accepting.

ARC (RFC 8617), which signs with the same keys, is ``bulkauth.core.arc.verify``; a whole message
(DKIM and ARC, keys prefetched) is ``bulkauth.core.message.check``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, utils

from bulkauth.core.common.model import Answer, Problem, Rcode
from bulkauth.core.common.psl import to_ascii
from bulkauth.core.common.taglist import DKIM_SIGNATURE, TagListError, parse_tags
from bulkauth.core.dkim.dkimpy import (
    CanonicalizationPolicy,
    InvalidCanonicalizationPolicyError,
    Relaxed,
    RSASSA_PKCS1_v1_5_verify,
    correct_empty_body,
    dkim,
    strip_trailing_lines,
)
from bulkauth.core.dkim.history import (
    RETRY_CODES,
    HistoricalKey,
    KeyHistory,
    candidates,
    describe,
    seen_later,
)
from bulkauth.core.dkim.key import RSA_GOOD_BITS, RSA_MIN_BITS, DkimKey, PublicKey, parse_dkim_key
from bulkauth.core.message.headers import (
    Header,
    HeaderBlock,
    parse_header_block,
)

Crypto = Literal["openssl", "python"]
DkimResult = Literal["pass", "fail", "neutral", "policy", "temperror", "permerror"]

#: dkimpy's allowance for signer/verifier clock skew on t= and x= (10 hours)
CLOCK_SKEW = 36_000
#: signatures verified per message; the rest are reported, not verified (a hostile message can
#: carry thousands, each costing a DNS query and an RSA operation)
MAX_SIGNATURES = 32

_HASHES: dict[bytes, tuple[str, str]] = {
    # a= value -> (key type, hash)
    b"rsa-sha256": ("rsa", "sha256"),
    b"rsa-sha1": ("rsa", "sha1"),
    b"ed25519-sha256": ("ed25519", "sha256"),
}
_CRYPTO_HASH = {"sha256": hashes.SHA256(), "sha1": hashes.SHA1()}
_B64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}\Z")
_WS = re.compile(rb"\s+")
_DIGITS = re.compile(rb"\d{1,76}\Z")
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")
_QP = re.compile(rb"=([0-9A-Fa-f]{2})")


# --------------------------------------------------------------------------------------------
# Keys, as the DNS layer found them


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What DNS said for one ``<selector>._domainkey.<domain>`` TXT question; small and
    picklable, so it can travel to a worker process with the message."""

    rcode: str
    texts: tuple[str, ...] = ()
    detail: str = ""

    @classmethod
    def of(cls, answer: Answer) -> KeyRecord:
        return cls(answer.rcode.value, tuple(answer.txt_strings()), answer.detail)

    @property
    def failed(self) -> bool:
        return self.rcode not in (Rcode.NOERROR.value, Rcode.NXDOMAIN.value)


KeyTable = Mapping[str, KeyRecord]


# memoised: an archive's signatures name the same few domains and selectors thousands of times,
# and each costs an IDNA conversion and a regex per label (with the lazy copies in
# verify_signature: the bench mailbox's verification stage 0.285 -> 0.260 ms/message)
@functools.lru_cache(maxsize=4096)
def _domain(raw: bytes) -> str | None:
    """A d= value as an A-label domain name, or None if it is not one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    name = to_ascii(text)
    if name is None or not all(_LABEL.match(label) for label in name.split(".")):
        return None
    return name


@functools.lru_cache(maxsize=4096)
def _selector(raw: bytes) -> str | None:
    try:
        text = raw.decode("ascii").lower()
    except UnicodeDecodeError:
        return None
    if not text or not all(_LABEL.match(label) for label in text.split(".")):
        return None
    return text


def key_name(sig: Mapping[bytes, bytes]) -> str | None:
    """``<s>._domainkey.<d>`` for a parsed signature, or None if d= or s= is unusable."""
    d = _domain(sig.get(b"d", b""))
    s = _selector(sig.get(b"s", b""))
    if d is None or s is None:
        return None
    name = f"{s}._domainkey.{d}"
    return name if len(name) <= 253 else None


# memoised, a few messages deep: each signature field is read when the message is planned (its
# key name), again when it is verified, and ARC fields once more by the ARC validator. Callers
# only read the dict they get, which is shared.
@functools.lru_cache(maxsize=256)
def signature_tags(value: bytes) -> dict[bytes, bytes] | None:
    """The tags of a DKIM-Signature (or ARC) field as dkimpy reads them; None where dkimpy raises
    InvalidTagValueList. The dict is shared between callers: do not change it."""
    try:
        return parse_tags(value, DKIM_SIGNATURE)
    except TagListError:
        return None


def dkim_headers(headers: Sequence[Header]) -> list[Header]:
    return [h for h in headers if h[0].lower() == b"dkim-signature"]


def dkim_key_names(headers: Sequence[Header]) -> list[str]:
    """The key names the DKIM signatures of a message need, in order (duplicates kept)."""
    out: list[str] = []
    for _, value in dkim_headers(headers)[:MAX_SIGNATURES]:
        sig = signature_tags(value)
        name = key_name(sig) if sig is not None else None
        if name is not None:
            out.append(name)
    return out


# --------------------------------------------------------------------------------------------
# One signature


def tag_text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    return _WS.sub(b" ", raw).decode("utf-8", "replace").strip()


def _int(raw: bytes | None) -> int | None:
    if raw is None or not _DIGITS.match(raw):
        return None
    return int(raw)


@dataclass(slots=True)
class SignatureResult:
    """The verdict on one DKIM-Signature field and what it said."""

    index: int
    result: DkimResult = "neutral"
    code: str | None = None
    message: str = ""
    d: str | None = None
    s: str | None = None
    a: str | None = None
    c: str | None = None
    i: str | None = None
    t: int | None = None
    x: int | None = None
    l: int | None = None  # noqa: E741 - the tag's name
    h: list[str] = field(default_factory=list)
    key_name: str | None = None
    key_type: str | None = None
    key_bits: int | None = None
    #: sha256 of the decoded p= of the key used (as dkim_keys.key_hash in the store)
    key_hash: str | None = None
    #: the key record verified with, and where it came from: "dns" or "history"
    key_record: str | None = None
    key_source: str | None = None
    history: HistoricalKey | None = None
    body_bytes: int | None = None
    b_prefix: str | None = None
    problems: list[Problem] = field(default_factory=list)

    def done(self, result: DkimResult, code: str | None, message: str) -> SignatureResult:
        self.result, self.code, self.message = result, code, message
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "result": self.result,
            "code": self.code,
            "message": self.message,
            "d": self.d,
            "s": self.s,
            "a": self.a,
            "c": self.c,
            "i": self.i,
            "t": self.t,
            "x": self.x,
            "l": self.l,
            "h": self.h,
            "key": None if self.key_name is None else self._key(),
            "key_source": self.key_source,
            "b": self.b_prefix,
            "problems": [p.to_dict() for p in self.problems],
        }

    def _key(self) -> dict[str, Any]:
        key: dict[str, Any] = {
            "name": self.key_name,
            "type": self.key_type,
            "bits": self.key_bits,
            "hash": self.key_hash,
            "record": self.key_record,
        }
        if self.history is not None:
            key.update(describe(self.history))
        return key


_TAB_TO_SPACE = bytes.maketrans(b"\t", b" ")
_SPACES = re.compile(rb"  +")
#: dkimpy's RE_BTAG (the b= value to blank out) without its nested quantifiers: its FWS,
#: ``(?:(?:\s*\r?\n)?\s+)?``, matches exactly ``\s*``, so ``(?:FWS[b64])*`` is "base64 and white
#: space, ending in base64". Same matches (tests/core/dkim/test_dkimverify.py), ~20x faster on
#: a 2048-bit signature, where dkimpy's took ~0.1 ms
B_TAG = re.compile(rb"([;\s]b\s*=)(?:[\sa-zA-Z0-9+/=]*[a-zA-Z0-9+/=])?(?:\r?\n\Z)?")


def relaxed_body(body: bytes) -> bytes:
    """dkimpy's relaxed body canonicalisation (RFC 6376 3.4.4), same output, ~10x faster.

    dkimpy rewrites every run of WSP to one space with a regex, which substitutes at every word
    boundary; here tabs become spaces by table and only runs of two or more are rewritten, after
    which trailing WSP is exactly one space before a CRLF. ``tests/core/dkim/test_dkimverify.py``
    checks the equality against dkimpy on generated bodies.
    """
    b = body.translate(_TAB_TO_SPACE)
    if b"  " in b:
        b = _SPACES.sub(b" ", b)
    if b" \r\n" in b:
        b = b.replace(b" \r\n", b"\r\n")
    out: bytes = correct_empty_body(strip_trailing_lines(b))
    return out


def relaxed_headers(headers: Sequence[Header]) -> list[Header]:
    """dkimpy's relaxed header canonicalisation (RFC 6376 3.4.2), same output, without two regex
    substitutions per field: unfold, WSP runs to one space, strip, lower-case the name."""
    out = []
    for name, value in headers:
        v = value.replace(b"\r\n", b"").replace(b"\n", b"").translate(_TAB_TO_SPACE)
        if b"  " in v:
            v = _SPACES.sub(b" ", v)
        out.append((name.lower().rstrip(), v.strip() + b"\r\n"))
    return out


def select_headers(headers: Sequence[Header], include: Sequence[bytes]) -> list[Header]:
    """dkimpy's ``select_headers``, the same fields in the same order, in one pass.

    dkimpy walks the header block up from the bottom for every name of h= (a name the message
    lacks costs a walk over every field); here the fields are grouped by lower-cased name once
    and each occurrence of a name in h= takes the lowest field of that name not yet taken, which
    is what dkimpy's per-name resume point amounts to. ``include`` is lower case, as dkimpy
    asserts. ``tests/core/dkim/test_dkimverify.py`` compares the two.
    """
    by_name: dict[bytes, list[Header]] = {}
    for h in headers:
        by_name.setdefault(h[0].lower(), []).append(h)
    out = []
    for name in include:
        fields = by_name.get(name)
        if fields:
            out.append(fields.pop())
    return out


def hash_headers(
    hasher: Any,
    policy: CanonicalizationPolicy,
    headers: list[Header],
    include: list[bytes],
    sig_header: Header,
) -> None:
    """dkimpy's ``hash_headers``, canonicalising only the selected fields.

    dkimpy canonicalises every header field of the message and then selects the signed ones;
    relaxed canonicalisation maps each field on its own and keeps the name (lower-cased), so
    selecting first and canonicalising the selection gives the same bytes for a fraction of the
    regex work (a message has ~20-60 fields, a signature signs ~8).
    """
    canon = relaxed_headers if policy.header_algorithm is Relaxed else policy.canonicalize_headers
    selected = canon(select_headers(headers, include))
    signature = canon([(sig_header[0], B_TAG.sub(b"\\1", sig_header[1]))])
    for name, value in selected:
        hasher.update(name)
        hasher.update(b":")
        hasher.update(value)
    for name, value in signature:
        # the signature field is hashed without its trailing CRLF (RFC 6376 3.7)
        hasher.update(name)
        hasher.update(b":")
        hasher.update(value.rstrip())


class MessageHashes:
    """A message's headers and body, with canonical forms and body hashes computed once: shared
    by its DKIM signatures and its ARC-Message-Signatures, which mostly canonicalise alike."""

    def __init__(self, headers: list[Header], body: bytes) -> None:
        self.headers = headers
        self.body = body
        self._canon_body: dict[bytes, bytes] = {}
        self._body_hash: dict[tuple[bytes, str, int | None], bytes] = {}

    def canon_body(self, policy: CanonicalizationPolicy) -> bytes:
        key = policy.body_algorithm.name
        got = self._canon_body.get(key)
        if got is None:
            if key == b"relaxed":
                got = relaxed_body(self.body)
            else:
                got = policy.canonicalize_body(self.body)
            self._canon_body[key] = got
        return got

    def body_hash(
        self, policy: CanonicalizationPolicy, hash_name: str, length: int | None
    ) -> bytes:
        key = (policy.body_algorithm.name, hash_name, length)
        got = self._body_hash.get(key)
        if got is None:
            body = self.canon_body(policy)
            if length is not None:
                body = body[:length]
            got = self._body_hash[key] = hashlib.new(hash_name, body).digest()
        return got


def message_parts(raw: bytes, block: HeaderBlock | None = None) -> tuple[HeaderBlock, bytes]:
    """The header block (``block`` when the caller has parsed it) and the body with CRLF line
    ends, as dkimpy's ``rfc822_parse`` gives them. Raises MessageDefect."""
    if block is None:
        block = parse_header_block(raw)
    body = raw[block.body_offset :] if block.body_offset < len(raw) else b""
    # dkimpy splits on CRLF-or-LF and joins with CRLF; replacing twice does the same, in C
    return block, body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _decode_qp(raw: bytes) -> bytes:
    return _QP.sub(lambda m: bytes([int(m.group(1), 16)]), _WS.sub(b"", raw))


def _rsa_verify_openssl(
    key: rsa.RSAPublicKey, signature: bytes, digest: bytes, hash_name: str
) -> bool:
    size = (key.key_size + 7) // 8
    # dkimpy reads the signature as an integer: leading zero bytes do not matter to it, but
    # OpenSSL wants exactly the modulus length
    if len(signature) < size:
        signature = b"\0" * (size - len(signature)) + signature
    elif len(signature) > size:
        stripped = signature.lstrip(b"\0")
        if len(stripped) > size:
            return False
        signature = b"\0" * (size - len(stripped)) + stripped
    try:
        key.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(_CRYPTO_HASH[hash_name]))
    except InvalidSignature:
        return False
    return True


class _PrehashedDigest:
    """What dkimpy's pure-Python RSA wants: an object with ``name`` and ``digest()``."""

    def __init__(self, name: str, digest: bytes) -> None:
        self.name = name
        self._digest = digest

    def digest(self) -> bytes:
        return self._digest


def _rsa_verify_python(
    key: rsa.RSAPublicKey, signature: bytes, digest: bytes, hash_name: str
) -> bool:
    numbers = key.public_numbers()
    try:
        return bool(
            RSASSA_PKCS1_v1_5_verify(
                _PrehashedDigest(hash_name, digest),
                signature,
                {"modulus": numbers.n, "publicExponent": numbers.e},
            )
        )
    except (dkim.crypto.DigestTooLargeError, AssertionError, TypeError):
        return False


_RSA: dict[str, Callable[[rsa.RSAPublicKey, bytes, bytes, str], bool]] = {
    "openssl": _rsa_verify_openssl,
    "python": _rsa_verify_python,
}


def verify_digest(
    key: PublicKey, signature: bytes, digest: bytes, hash_name: str, crypto: Crypto = "openssl"
) -> bool:
    """Whether ``signature`` signs ``digest`` (the hash of the signed header data) under ``key``:
    RSASSA-PKCS1-v1_5 (RFC 6376 3.3.1) or Ed25519 over the SHA-256 digest (RFC 8463 3)."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        try:
            key.verify(signature, digest)
        except InvalidSignature:
            return False
        return True
    return _RSA[crypto](key, signature, digest, hash_name)


def key_problem(
    key: DkimKey, key_type: str, hash_name: str, a: str | None
) -> tuple[str, str] | None:
    """Why a key record cannot verify a signature of ``a=`` (``key_type``, ``hash_name``), as
    (code suffix, message), or None if it can. Shared by DKIM and ARC (which signs with DKIM
    keys); the suffix follows the caller's prefix (``dkim.key_revoked``)."""
    if key.revoked:
        return "key_revoked", "the key is revoked (empty p=)"
    if key.version is not None and key.version.upper() != "DKIM1":
        return "key_syntax", f"the key record has v={key.version[:20]!r}, not DKIM1"
    for p in key.problems:
        if p.code in ("dkim.syntax", "dkim.key_malformed", "dkim.unknown_key_type"):
            return "key_syntax", f"the key record is unusable: {p.message}"
        if p.code == "dkim.service_not_email":
            return "key_service", p.message
    if key.key_type != key_type:
        return (
            "key_type_mismatch",
            f"a={a} needs a k={key_type} key, but the record holds k={key.key_type}",
        )
    if not key.allows_hash(hash_name):
        allowed = ":".join(key.hashes or ())
        return "key_hash_not_allowed", f"the key allows h={allowed}, not {hash_name}"
    if key.key is None:
        return "key_syntax", "the key record holds no usable key"
    return None


def _key_problem(
    res: SignatureResult, key: DkimKey, key_type: str, hash_name: str, i_domain: str | None, d: str
) -> SignatureResult | None:
    """The permerror a key record causes for this signature, or None if the key can be used."""
    found = key_problem(key, key_type, hash_name, res.a)
    if found is not None:
        code, message = found
        if code == "key_revoked":
            message = f"the key at {res.key_name} is revoked (empty p=)"
        return res.done("permerror", f"dkim.{code}", message)
    if key.strict and i_domain is not None and i_domain != d:
        return res.done(
            "permerror",
            "dkim.key_strict_identity",
            f"the key has t=s, so i= must be in {d} itself, not {i_domain}",
        )
    return None


def verify_signature(
    msg: MessageHashes,
    index: int,
    header: Header,
    keys: KeyTable,
    as_of: float,
    crypto: Crypto = "openssl",
    history: KeyHistory | None = None,
    clock_trusted: bool = True,
) -> SignatureResult:
    """Verify one DKIM-Signature field (RFC 6376 6.1); with a key ``history``, its values
    are tried when today's key fails for a key reason (bulkauth.core.dkim.history).
    ``clock_trusted``: ``as_of`` is a receiver's (or the user's) clock, by which a future ``t=``
    fails the signature; when it is the sender-written Date, a future ``t=`` is a warning and
    the signature is verified."""
    res = SignatureResult(index)
    sig = signature_tags(header[1])
    if sig is None:
        return res.done("neutral", "dkim.sig_syntax", "the signature is not a valid tag=value list")
    res.d, res.s, res.a = tag_text(sig.get(b"d")), tag_text(sig.get(b"s")), tag_text(sig.get(b"a"))
    res.c, res.i = tag_text(sig.get(b"c")), tag_text(sig.get(b"i"))
    res.t, res.x, res.l = _int(sig.get(b"t")), _int(sig.get(b"x")), _int(sig.get(b"l"))
    if b"h" in sig:
        res.h = [h.strip().lower() for h in tag_text(sig[b"h"]).split(":") if h.strip()]  # type: ignore[union-attr]
    if b"b" in sig:
        res.b_prefix = _WS.sub(b"", sig[b"b"])[:12].decode("ascii", "replace")

    missing = [t.decode() for t in (b"v", b"a", b"b", b"bh", b"d", b"h", b"s") if t not in sig]
    if missing:
        return res.done(
            "neutral",
            "dkim.sig_missing_tag",
            f"required tag(s) {', '.join(missing)}= missing (RFC 6376 3.5)",
        )
    if sig[b"v"] != b"1":
        return res.done(
            "neutral",
            "dkim.sig_version",
            f"v={res_v(sig[b'v'])}: not a DKIM-Signature of RFC 6376 (v=1)",
        )
    algo = _HASHES.get(sig[b"a"].lower())
    if algo is None:
        return res.done(
            "permerror",
            "dkim.unsupported_algorithm",
            f"a={res.a} is not a DKIM algorithm this verifier knows",
        )
    key_type, hash_name = algo
    b_raw, bh_raw = _WS.sub(b"", sig[b"b"]), _WS.sub(b"", sig[b"bh"])
    if (
        not b_raw
        or not bh_raw
        or not _B64.match(b_raw)
        or not _B64.match(bh_raw)
        or len(b_raw) % 4
        or len(bh_raw) % 4
    ):
        return res.done("neutral", "dkim.sig_syntax", "b= or bh= is not valid base64")
    try:
        policy = CanonicalizationPolicy.from_c_value(sig.get(b"c", b"simple/simple"))
    except InvalidCanonicalizationPolicyError:
        return res.done("neutral", "dkim.sig_syntax", f"c={res.c} is not a canonicalization")
    d = _domain(sig[b"d"])
    if d is None:
        return res.done("neutral", "dkim.sig_syntax", f"d={res.d} is not a domain name")
    name = key_name(sig)
    if name is None:
        return res.done("neutral", "dkim.sig_syntax", f"s={res.s} is not a selector")
    i_domain: str | None = None
    if b"i" in sig:
        _, at, idom = _decode_qp(sig[b"i"]).rpartition(b"@")
        i_domain = _domain(idom) if at else None
        if i_domain is None or not (i_domain == d or i_domain.endswith("." + d)):
            return res.done(
                "neutral",
                "dkim.identity_mismatch",
                f"i={res.i} is not in d={d} or a subdomain of it (RFC 6376 3.5)",
            )
    for tag in (b"l", b"t", b"x"):
        if tag in sig and _int(sig[tag]) is None:
            return res.done(
                "neutral", "dkim.sig_syntax", f"{tag.decode()}= is not a decimal number"
            )
    if res.t is not None and res.x is not None and res.x < res.t:
        return res.done("neutral", "dkim.sig_syntax", "x= is earlier than t=")
    if "from" not in res.h:
        return res.done(
            "neutral",
            "dkim.from_not_signed",
            "h= does not include From, which must be signed (RFC 6376 5.4)",
        )
    if b"q" in sig:
        methods = [m.strip().lower() for m in sig[b"q"].split(b":")]
        if b"dns/txt" not in methods:
            return res.done(
                "permerror",
                "dkim.unsupported_query_method",
                f"q={tag_text(sig[b'q'])} offers no dns/txt",
            )
    if res.t is not None and res.t > as_of + CLOCK_SKEW:
        if clock_trusted:
            return res.done(
                "permerror",
                "dkim.signed_in_future",
                f"t={res.t} is later than the verification time {int(as_of)}",
            )
        res.problems.append(
            Problem(
                "dkim.signed_after_date",
                "warning",
                f"t={res.t} is later than the message's Date ({int(as_of)}), the only clock "
                "it has: verified anyway (RFC 6376 3.5)",
            )
        )
    if res.x is not None and res.x < as_of - CLOCK_SKEW:
        return res.done(
            "permerror",
            "dkim.expired",
            f"x={res.x} had passed at the verification time {int(as_of)}",
        )

    # the key
    res.key_name = name
    rec = keys.get(name)
    if rec is None:
        return res.done("temperror", "dkim.dns_error", f"the key {name} was not looked up")
    if rec.failed:
        return res.done(
            "temperror",
            "dkim.dns_error",
            f"DNS lookup of {name} TXT failed ({rec.rcode}{': ' + rec.detail if rec.detail else ''})",
        )
    signed = (key_type, hash_name, policy, i_domain, d, bh_raw, b_raw)
    if not rec.texts:
        # the state before the verdict, for the history's tries: copied only when there is one
        before = _copy(res) if history else res
        what = "does not exist" if rec.rcode == Rcode.NXDOMAIN.value else "has no TXT record"
        live = res.done("permerror", "dkim.key_not_found", f"{name} {what}")
        if not history:
            return live
        return _from_history(msg, before, live, header, signed, crypto, history, as_of)
    if len(rec.texts) > 1:
        res.problems.append(
            Problem(
                "dkim.key_multiple_records",
                "warning",
                f"{name} has {len(rec.texts)} TXT records; the first was used (RFC 6376 3.6.2.2)",
            )
        )
    texts = rec.texts
    res.key_source = "dns"
    res.key_record = texts[0]
    before = _copy(res) if history else res
    live = _verify_with_key(msg, res, texts[0], header, signed, crypto)
    if not history or live.result == "pass" or live.code not in RETRY_CODES:
        return live
    return _from_history(msg, before, live, header, signed, crypto, history, as_of)


def _verify_with_key(
    msg: MessageHashes,
    res: SignatureResult,
    text: str,
    header: Header,
    signed: _Signed,
    crypto: Crypto,
) -> SignatureResult:
    """The rest of RFC 6376 6.1 once a key record is at hand: the key's own checks, the body
    hash, the header hash and the signature."""
    key_type, hash_name, policy, i_domain, d, bh_raw, b_raw = signed
    key = parse_dkim_key(text)
    res.key_hash = key.key_sha256
    res.key_type, res.key_bits = key.key_type, key.key_bits
    if _key_problem(res, key, key_type, hash_name, i_domain, d) is not None:
        return res
    assert key.key is not None

    # body hash (RFC 6376 6.1.3)
    canon_len = len(msg.canon_body(policy))
    res.body_bytes = canon_len
    if res.l is not None and res.l > canon_len:
        return res.done(
            "permerror",
            "dkim.body_length_exceeds",
            f"l={res.l} is larger than the canonical body ({canon_len} bytes)",
        )
    if msg.body_hash(policy, hash_name, res.l) != base64.b64decode(bh_raw):
        return res.done(
            "fail",
            "dkim.body_hash_mismatch",
            "the body hash does not match bh=: the body was changed",
        )

    # header hash and signature
    include = [h.encode("ascii", "replace") for h in res.h]
    if b"from" in include:
        include.append(b"from")  # dkimpy: an added From field must break the signature
    hasher = hashlib.new(hash_name)
    hash_headers(hasher, policy, msg.headers, include, header)
    digest = hasher.digest()
    try:
        signature = base64.b64decode(b_raw)
    except (binascii.Error, ValueError):
        return res.done("neutral", "dkim.sig_syntax", "b= is not valid base64")
    if not verify_digest(key.key, signature, digest, hash_name, crypto):
        return res.done(
            "fail",
            "dkim.signature_mismatch",
            "the signature does not verify: a signed header field was changed, or the key"
            " is not the one that signed",
        )

    bits = key.key_bits or 0
    if key.key_type == "rsa" and bits < RSA_MIN_BITS:
        return res.done(
            "policy",
            "dkim.weak_key",
            f"the signature verifies, but with a {bits}-bit RSA key; verifiers must not accept keys "
            f"under {RSA_MIN_BITS} bits (RFC 8301 3.2)",
        )
    _pass_warnings(res, key, hash_name, canon_len)
    return res.done("pass", None, "the signature verifies")


_Signed = tuple[str, str, CanonicalizationPolicy, "str | None", str, bytes, bytes]


def _copy(res: SignatureResult) -> SignatureResult:
    return replace(res, h=list(res.h), problems=list(res.problems))


def _from_history(
    msg: MessageHashes,
    before: SignatureResult,
    live: SignatureResult,
    header: Header,
    signed: _Signed,
    crypto: Crypto,
    history: KeyHistory,
    at: float,
) -> SignatureResult:
    """Today's key failed for a key reason: the first value the history holds for the
    selector that verifies gives the verdict, marked as history's; none does: the live one."""
    assert before.key_name is not None
    tried: list[SignatureResult] = []
    found = candidates(history, before.key_name, at, live.key_hash)
    covering = sum(1 for c in found if c.covers(at))
    conflict = (
        Problem(
            "dkim.history_conflict",
            "warning",
            f"the history holds {covering} different keys for {before.key_name} at the "
            "message's time; each was tried, nearest first",
        )
        if covering > 1
        else None
    )
    if conflict is not None:
        live.problems.append(conflict)
    for cand in found:
        alt = _copy(before)
        alt.key_source, alt.key_record, alt.history = "history", cand.record, cand
        if _verify_with_key(msg, alt, cand.record, header, signed, crypto).result != "pass":
            tried.append(alt)
            continue
        later = seen_later(cand, at)
        for problem in (later, conflict):
            if problem is not None:
                alt.problems.append(problem)
        alt.message = f"the signature verifies with a key from the history ({cand.source})"
        # what today's DNS says, so the two are never confused
        alt.problems.append(Problem("dkim.live_key_failed", "info", f"{live.code}: {live.message}"))
        return alt
    if tried:
        # the history's keys fail too: say how, so a changed message is not taken for a
        # merely rotated key
        first = tried[0]
        live.problems.append(
            Problem(
                "dkim.history_key_failed",
                "info",
                f"{len(tried)} key(s) from the history tried; with the nearest in time: "
                f"{first.code}: {first.message}",
            )
        )
    return live


def res_v(value: bytes) -> str:
    return value[:20].decode("utf-8", "replace")


def _pass_warnings(res: SignatureResult, key: DkimKey, hash_name: str, canon_len: int) -> None:
    if res.l is not None:
        unsigned = canon_len - res.l
        res.problems.append(
            Problem(
                "dkim.body_length_limit",
                "warning" if unsigned else "info",
                f"l= signs only the first {res.l} bytes of the body"
                + (
                    f"; {unsigned} bytes after them are unsigned and could have been added by anyone"
                    if unsigned
                    else ""
                ),
            )
        )
    if hash_name == "sha1":
        res.problems.append(
            Problem("dkim.weak_hash", "warning", "signed with rsa-sha1, which RFC 8301 3.1 retires")
        )
    if key.key_type == "rsa" and (key.key_bits or 0) < RSA_GOOD_BITS:
        res.problems.append(
            Problem(
                "dkim.weak_key",
                "warning",
                f"a {key.key_bits}-bit RSA key; RFC 8301 3.2 asks for 2048",
            )
        )
    if key.testing:
        res.problems.append(
            Problem("dkim.testing", "info", "the key has t=y: the domain is testing DKIM")
        )


_ORDER: tuple[DkimResult, ...] = ("pass", "fail", "policy", "temperror", "permerror", "neutral")


def aggregate(results: Iterable[str]) -> str:
    """One verdict for the message from its signatures' results: pass if any passes, else the
    most telling failure (fail, policy, temperror, permerror, neutral); none if unsigned."""
    got = set(results)
    return next((r for r in _ORDER if r in got), "none")


def verify_dkim(
    headers: list[Header],
    body: bytes,
    keys: KeyTable,
    as_of: float,
    crypto: Crypto = "openssl",
    malformed: str | None = None,
    history: KeyHistory | None = None,
    hashes: MessageHashes | None = None,
    clock_trusted: bool = True,
) -> list[SignatureResult]:
    """Verify every DKIM-Signature of a message. Never raises. ``hashes``: the message's body
    hashes when the caller shares them with the ARC verifier; ``clock_trusted``: see
    verify_signature."""
    sigs = dkim_headers(headers)
    msg = hashes if hashes is not None else MessageHashes(headers, body)
    out: list[SignatureResult] = []
    for idx, header in enumerate(sigs):
        if malformed is not None:
            out.append(
                SignatureResult(idx).done(
                    "neutral", "dkim.message_syntax", f"the header block is malformed ({malformed})"
                )
            )
            continue
        if idx >= MAX_SIGNATURES:
            out.append(
                SignatureResult(idx).done(
                    "neutral",
                    "dkim.too_many_signatures",
                    f"only the first {MAX_SIGNATURES} signatures are verified",
                )
            )
            continue
        try:
            out.append(
                verify_signature(msg, idx, header, keys, as_of, crypto, history, clock_trusted)
            )
        except Exception as exc:  # dkimpy on input nobody foresaw: a verdict, not a crash
            out.append(
                SignatureResult(idx).done(
                    "permerror",
                    "dkim.verifier_error",
                    f"verification failed unexpectedly: {type(exc).__name__}: {exc}"[:300],
                )
            )
    return out
