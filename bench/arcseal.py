"""A small ARC sealer: adds one ARC set (RFC 8617 5.1) to a message. The bench mailbox
(``bench/mailgen.py``) and the ARC tests (``tests/core/arc``) seal with it.

Independent of bulkauth's validator: the message is split by dkimpy's ``rfc822_parse``,
canonicalised by dkimpy's ``canonicalization`` module and signed with ``cryptography`` (RSA
PKCS#1 v1.5 or Ed25519 over the SHA-256 digest, RFC 8463). It writes whatever a test asks for,
the forms real senders emit included: no space after the colon, ``i=`` last, folded tag lists,
any ``cv=``.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import secrets
from dataclasses import dataclass, field

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, utils
from dkim.canonicalization import CanonicalizationPolicy

_RELAXED = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
_ARC = (b"arc-authentication-results", b"arc-message-signature", b"arc-seal")
_INSTANCE = re.compile(rb"^\s*i\s*=\s*(\d+)|;\s*i\s*=\s*(\d+)")
_ORDER = {b"arc-authentication-results": 0, b"arc-message-signature": 1, b"arc-seal": 2}


@dataclass
class Signer:
    domain: str
    selector: str
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

    @classmethod
    def rsa(cls, domain: str, selector: str = "arc", bits: int = 2048) -> Signer:
        if bits < 1024:  # cryptography generates no such key; RFC 8301 tests need one
            return cls(domain, selector, _small_rsa(bits))
        return cls(domain, selector, rsa.generate_private_key(65537, bits))

    @classmethod
    def ed25519(cls, domain: str, selector: str = "ed") -> Signer:
        return cls(domain, selector, ed25519.Ed25519PrivateKey.generate())

    @property
    def algorithm(self) -> str:
        return "ed25519-sha256" if isinstance(self.key, ed25519.Ed25519PrivateKey) else "rsa-sha256"

    @property
    def key_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    def txt(self) -> str:
        """The DKIM key record (RFC 6376 3.6.1; RFC 8463 4.2 for ed25519: the raw key)."""
        pub = self.key.public_key()
        if isinstance(pub, ed25519.Ed25519PublicKey):
            raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()
        spki = pub.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "v=DKIM1; k=rsa; p=" + base64.b64encode(spki).decode()

    def sign(self, digest: bytes) -> bytes:
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            return self.key.sign(digest)
        return self.key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


@dataclass
class Form:
    """How the set's fields are written."""

    #: "ARC-Message-Signature:i=1; ..." (no space after the colon) for these fields
    no_space: tuple[str, ...] = ()
    #: i= written last in the tag list instead of first
    i_last: bool = False
    #: each tag on its own folded line, with white space around "=" and ";"
    folded: bool = False
    #: header fields the AMS signs
    signed: tuple[str, ...] = ("from", "to", "subject", "date", "message-id")
    #: extra tags, e.g. {"x": "123"}
    ams_extra: dict[str, str] = field(default_factory=dict)


def _probable_prime(bits: int) -> int:
    while True:
        n = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        d, r = n - 1, 0
        while d % 2 == 0:
            d, r = d // 2, r + 1
        for _ in range(40):  # Miller-Rabin
            x = pow(secrets.randbelow(n - 3) + 2, d, n)
            if x in (1, n - 1):
                continue
            for _ in range(r - 1):
                x = pow(x, 2, n)
                if x == n - 1:
                    break
            else:
                break
        else:
            return n


def _small_rsa(bits: int) -> rsa.RSAPrivateKey:
    e = 65537
    while True:
        p, q = _probable_prime(bits // 2), _probable_prime(bits // 2)
        if p != q and math.gcd(e, (p - 1) * (q - 1)) == 1:
            break
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p,
        q,
        d,
        rsa.rsa_crt_dmp1(d, p),
        rsa.rsa_crt_dmq1(d, q),
        rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(e, p * q),
    )
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def _instance(value: bytes) -> int | None:
    m = _INSTANCE.search(value)
    return int(m.group(1) or m.group(2)) if m else None


def _relaxed(name: bytes, value: bytes) -> tuple[bytes, bytes]:
    ((n, v),) = _RELAXED.canonicalize_headers([(name, value)])
    return n, v


def _tag_list(tags: list[tuple[str, str]], form: Form) -> str:
    if form.folded:
        return (
            "\r\n\t".join(f" {k} = {v} ;" for k, v in tags[:-1])
            + f"\r\n\t{tags[-1][0]}={tags[-1][1]}"
        )
    return "; ".join(f"{k}={v}" for k, v in tags)


def _field(name: str, tags: list[tuple[str, str]], form: Form) -> tuple[bytes, bytes]:
    sep = "" if name in form.no_space else " "
    return name.encode(), (sep + _tag_list(tags, form)).encode()


def _with_b(value: bytes, signature: bytes) -> bytes:
    assert value.endswith(b"b=")
    b64 = base64.b64encode(signature)
    folded = b"\r\n\t".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return value + folded


def seal(
    message: bytes,
    signer: Signer,
    cv: str,
    instance: int | None = None,
    form: Form | None = None,
    t: int = 1_700_000_000,
) -> bytes:
    """The message with one more ARC set on top, as a sealer writes it (RFC 8617 5.1)."""
    form = form or Form()
    headers, body = dkim.rfc822_parse(message)
    existing = [(n.lower(), v, _instance(v)) for n, v in headers if n.lower().rstrip() in _ARC]
    n = instance if instance is not None else max((i or 0 for _, _, i in existing), default=0) + 1
    algo = signer.algorithm

    aar = (b"ARC-Authentication-Results", f" i={n}; relay.{signer.domain}; arc={cv}".encode())

    bh = base64.b64encode(hashlib.sha256(_RELAXED.canonicalize_body(body)).digest()).decode()
    ams_tags = [
        ("a", algo),
        ("c", "relaxed/relaxed"),
        ("d", signer.domain),
        ("s", signer.selector),
        ("t", str(t)),
        ("h", ":".join(form.signed)),
        *form.ams_extra.items(),
        ("bh", bh),
    ]
    ams_tags = ([*ams_tags, ("i", str(n))] if form.i_last else [("i", str(n)), *ams_tags]) + [
        ("b", "")
    ]
    ams_name, ams_value = _field("ARC-Message-Signature", ams_tags, form)
    # the AMS signs the message's fields as they are with the new AAR on top (RFC 8617 5.1)
    with_aar = [aar, *headers]
    h = hashlib.sha256()
    canon = _RELAXED.canonicalize_headers(with_aar)
    for name, value in dkim.select_headers(canon, [x.encode() for x in form.signed]):
        h.update(name + b":" + value)
    cn, cvv = _relaxed(ams_name, ams_value)
    h.update(cn + b":" + cvv.rstrip())
    ams = (ams_name, _with_b(ams_value, signer.sign(h.digest())))

    as_tags = [("a", algo), ("cv", cv), ("d", signer.domain), ("s", signer.selector), ("t", str(t))]
    as_tags = ([*as_tags, ("i", str(n))] if form.i_last else [("i", str(n)), *as_tags]) + [
        ("b", "")
    ]
    as_name, as_value = _field("ARC-Seal", as_tags, form)
    # the seal signs every ARC set up to its own, in instance order, AAR, AMS, AS each
    prior = sorted(
        (
            (i or 0, _ORDER[name.rstrip()], (name, value))
            for name, value, i in existing
            if (i or 0) < n
        ),
        key=lambda x: (x[0], x[1]),
    )
    h = hashlib.sha256()
    for _, _, (name, value) in prior:
        rn, rv = _relaxed(name, value)
        h.update(rn + b":" + rv)
    for name, value in (aar, ams):
        rn, rv = _relaxed(name, value)
        h.update(rn + b":" + rv)
    rn, rv = _relaxed(as_name, as_value)
    h.update(rn + b":" + rv.rstrip())
    sealed = (as_name, _with_b(as_value, signer.sign(h.digest())))

    top = b"".join(name + b":" + value + b"\r\n" for name, value in (sealed, ams, aar))
    return top + message


def base_message(body: str = "Hello.\r\nThis is a test.\r\n") -> bytes:
    return (
        "From: Jane <jane@author.example>\r\n"
        "To: list@lists.example\r\n"
        "Subject: A test\r\n"
        "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
        "Message-ID: <1@author.example>\r\n"
        "\r\n" + body
    ).encode()
