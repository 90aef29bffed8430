"""Helpers for the message tests: keys, signing at a chosen time, DNS answers from dicts."""

from __future__ import annotations

import base64
import functools
import math
import random
from collections.abc import Callable, Mapping

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from bench.mailgen import _CLOCK, KeyPair, make_key, openssl_signing
from bulkauth.core.common.model import Answer, Query, Rcode, RType


@functools.cache
def rsa_key(bits: int = 2048, n: int = 0) -> KeyPair:
    """A test RSA key (cached per process: generation takes ~0.1 s)."""
    return make_key(bits)


def _probable_prime(bits: int, rng: random.Random) -> int:
    while True:
        n = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if all(n % p for p in (3, 5, 7, 11, 13, 17, 19, 23, 29, 31)) and all(
            _miller_rabin(n, rng.randrange(2, n - 1)) for _ in range(24)
        ):
            return n


def _miller_rabin(n: int, a: int) -> bool:
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    x = pow(a, d, n)
    if x in (1, n - 1):
        return True
    for _ in range(r - 1):
        x = pow(x, 2, n)
        if x == n - 1:
            return True
    return False


@functools.cache
def weak_rsa_key(bits: int = 512) -> KeyPair:
    """An RSA key too small for RFC 8301 (OpenSSL no longer generates them: built from primes)."""
    rng = random.Random(bits)
    e = 65537
    while True:
        p, q = _probable_prime(bits // 2, rng), _probable_prime(bits // 2, rng)
        phi = (p - 1) * (q - 1)
        if p != q and math.gcd(e, phi) == 1:
            break
    d = pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
    )
    k = numbers.private_key(unsafe_skip_rsa_key_validation=True)
    pem = k.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    spki = k.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(k, pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(spki).decode())


@functools.cache
def ed_key(n: int = 0) -> tuple[bytes, str]:
    """(private key as dkimpy wants it, key record) for Ed25519."""
    k = ed25519.Ed25519PrivateKey.generate()
    raw = k.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pub = k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw), "v=DKIM1; k=ed25519; p=" + base64.b64encode(pub).decode()


def sign(
    msg: bytes,
    domain: str,
    selector: str = "sel",
    key: KeyPair | None = None,
    *,
    at: float = 1_700_000_000.0,
    ed25519_key: bytes | None = None,
    headers: tuple[bytes, ...] = (b"from", b"to", b"subject", b"date"),
    canon: tuple[bytes, bytes] = (b"relaxed", b"relaxed"),
    length: bool = False,
) -> bytes:
    """``msg`` with a DKIM-Signature prepended, signed by dkimpy at time ``at``."""
    k = key or rsa_key()
    _CLOCK.now = at
    with openssl_signing([k]):
        if ed25519_key is not None:
            sig = dkim.sign(
                msg,
                selector.encode(),
                domain.encode(),
                ed25519_key,
                signature_algorithm=b"ed25519-sha256",
                include_headers=list(headers),
                canonicalize=canon,
            )
        else:
            sig = dkim.sign(
                msg,
                selector.encode(),
                domain.encode(),
                k.pem,
                include_headers=list(headers),
                canonicalize=canon,
                length=length,
            )
    return bytes(sig) + msg


def txt(*records: str, ttl: int = 300) -> Answer:
    return Answer(Rcode.NOERROR, tuple((r.encode(),) for r in records), ttl)


def answers(table: Mapping[str, Answer | str | list[str]]) -> Callable[[Query], Answer]:
    """An answer function: TXT by name; a str or list is TXT data; missing names NXDOMAIN."""
    norm: dict[str, Answer] = {}
    for name, v in table.items():
        if isinstance(v, str):
            v = txt(v)
        elif isinstance(v, list):
            v = txt(*v)
        norm[name.lower()] = v

    def answer(q: Query) -> Answer:
        if q.rtype is not RType.TXT:
            return Answer(Rcode.NXDOMAIN, ttl=300)
        return norm.get(q.name.lower().rstrip("."), Answer(Rcode.NXDOMAIN, ttl=300))

    return answer


BASE_MSG = (
    b"From: Alice <alice@example.com>\r\n"
    b"To: bob@example.net\r\n"
    b"Subject: hello\r\n"
    b"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
    b"Message-ID: <1@example.com>\r\n"
    b"\r\n"
    b"Hello Bob,\r\nsee you tomorrow.\r\n"
)

RECEIVED = (
    b"Return-Path: <bounce@example.com>\r\n"
    b"Received: from mail.example.com (mail.example.com [192.0.2.10]) by mx.example.net "
    b"(Postfix) with ESMTPS id ABC; Tue, 14 Nov 2023 22:14:00 +0000\r\n"
)
