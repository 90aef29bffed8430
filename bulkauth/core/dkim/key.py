"""DKIM key records (RFC 6376 3.6.1): parse a ``<selector>._domainkey.<domain>`` TXT and grade it.

The same parse serves the domain audit (is the published key usable and strong?) and the message
verifier (which needs the ``cryptography`` public key object and the record's restrictions), so
the result keeps both: the graded fields and :meth:`DkimKey.public_key`.

Grading follows what a receiver does with the record: anything that makes a verifier ignore the
key (RFC 6376 syntax, an unknown ``k=``, a key for another service, RSA under 1024 bits or only
SHA-1 per RFC 8301) is an error; what still verifies but is weak (RSA under 2048 bits, ``t=y``) is
a warning.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from bulkauth.core.common.model import Problem
from bulkauth.core.common.taglist import DKIM, TagListError, parse_tags, split_tags

PublicKey: TypeAlias = rsa.RSAPublicKey | ed25519.Ed25519PublicKey
KeyFormat: TypeAlias = Literal["spki", "pkcs1", "raw"]

#: RFC 8301 3.2: verifiers MUST NOT accept RSA keys under 1024 bits; signers SHOULD use >= 2048.
RSA_MIN_BITS = 1024
RSA_GOOD_BITS = 2048
#: RFC 8301 3.2 only obliges verifiers to handle keys up to 4096 bits.
RSA_MAX_INTEROP_BITS = 4096
#: records longer than this are not DKIM keys (a 16384-bit RSA SPKI is ~2.8 KB in base64)
MAX_RECORD_CHARS = 16_384

_FWS = re.compile(r"[ \t\r\n]+")


def _clip(s: str, n: int = 40) -> str:
    return s if len(s) <= n else s[:n] + "..."


def _colon_list(value: str) -> tuple[str, ...]:
    """A colon-separated list (h=, s=, t=), lower-cased: RFC 5234 literals are case-insensitive."""
    return tuple(v for v in (_FWS.sub("", part).lower() for part in value.split(":")) if v)


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A parsed and graded DKIM key record. Immutable: instances are shared through a cache."""

    version: str | None = None
    key_type: str = "rsa"
    #: None when h= is absent (every algorithm allowed)
    hashes: tuple[str, ...] | None = None
    services: tuple[str, ...] = ("*",)
    flags: tuple[str, ...] = ()
    notes: str = ""
    revoked: bool = False
    key_bits: int | None = None
    key_format: KeyFormat | None = None
    #: SHA-256 of the decoded p= data, to spot the same key published under several names
    key_sha256: str | None = None
    problems: tuple[Problem, ...] = ()
    key: PublicKey | None = field(default=None, compare=False, hash=False, repr=False)

    @property
    def testing(self) -> bool:
        return "y" in self.flags

    @property
    def strict(self) -> bool:
        """t=s: the i= domain of a signature must equal d= exactly (no subdomains)."""
        return "s" in self.flags

    @property
    def usable(self) -> bool:
        """True when a verifier may use this key at all (no error-level problem, key present)."""
        return self.key is not None and not any(p.severity == "error" for p in self.problems)

    def public_key(self) -> PublicKey | None:
        """The key as a ``cryptography`` object for signature checks; None if revoked or broken."""
        return self.key

    def allows_hash(self, algorithm: str) -> bool:
        """Whether a signature's hash (``sha256`` of ``rsa-sha256``) is allowed by h=."""
        return self.hashes is None or algorithm.lower() in self.hashes

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "key_type": self.key_type,
            "key_bits": self.key_bits,
            "key_format": self.key_format,
            "key_sha256": self.key_sha256,
            "hash_algorithms": list(self.hashes) if self.hashes is not None else None,
            "service_types": list(self.services),
            "flags": list(self.flags),
            "testing": self.testing,
            "strict": self.strict,
            "revoked": self.revoked,
            "problems": [p.to_dict() for p in self.problems],
        }


def parse_dkim_key(text: str) -> DkimKey:
    """Parse and grade one DKIM key record (its TXT strings already joined). Never raises.

    Cached by record text: thousands of domains delegate to the same provider keys.
    """
    return _parse_cached(text)


@functools.lru_cache(maxsize=1024)
def _parse_cached(text: str) -> DkimKey:
    return _parse(text)


def _parse(text: str) -> DkimKey:
    problems: list[Problem] = []
    if len(text) > MAX_RECORD_CHARS:
        problems.append(
            Problem("dkim.syntax", "error", f"record is {len(text)} characters; not a DKIM key")
        )
        return DkimKey(problems=tuple(problems))
    try:
        tags = list(parse_tags(text, DKIM).items())
    except TagListError as exc:
        problems.append(Problem("dkim.syntax", "error", f"invalid tag list: {exc} (RFC 6376 3.2)"))
        # Grade what can be salvaged so the report still shows the key size.
        tags = _salvage(text)
    values = dict(tags)

    version = values.get("v")
    if version is not None:
        if version.upper() != "DKIM1":
            problems.append(
                Problem(
                    "dkim.bad_version",
                    "error",
                    f"v={_clip(version)!r}: a key record's version must be DKIM1 (RFC 6376 3.6.1)",
                )
            )
        elif tags[0][0] != "v":
            problems.append(
                Problem(
                    "dkim.bad_version", "error", "v=DKIM1 must be the first tag (RFC 6376 3.6.1)"
                )
            )

    hashes = _colon_list(values["h"]) if "h" in values else None
    if hashes is not None and "sha256" not in hashes:
        if "sha1" in hashes:
            problems.append(
                Problem(
                    "dkim.sha1_only",
                    "error",
                    "h= allows only sha1, which verifiers must not accept (RFC 8301 3.1)",
                )
            )
        else:
            problems.append(
                Problem(
                    "dkim.unknown_hash",
                    "error",
                    f"h={_clip(values['h'])!r} names no known hash algorithm: the key is unusable",
                )
            )

    key_type = _FWS.sub("", values.get("k", "rsa")).lower() or "rsa"
    if key_type not in ("rsa", "ed25519"):
        problems.append(
            Problem(
                "dkim.unknown_key_type",
                "error",
                f"k={_clip(key_type)!r} is not a known key type (rsa, ed25519): "
                "verifiers ignore the key",
            )
        )

    services = _colon_list(values["s"]) if "s" in values else ("*",)
    if not ({"*", "email"} & set(services)):
        problems.append(
            Problem(
                "dkim.service_not_email",
                "error",
                f"s={':'.join(services) or '(empty)'} does not include email or *: "
                "mail verifiers must ignore this key (RFC 6376 3.6.1)",
            )
        )

    flags = _colon_list(values.get("t", ""))
    if "y" in flags:
        problems.append(
            Problem(
                "dkim.testing",
                "warning",
                "t=y: the domain is testing DKIM; verifiers may treat failures as unsigned",
            )
        )

    key_obj: PublicKey | None = None
    bits: int | None = None
    fmt: KeyFormat | None = None
    digest: str | None = None
    revoked = False
    if "p" not in values:
        problems.append(Problem("dkim.syntax", "error", "no p= tag: the record holds no key"))
    else:
        data = _FWS.sub("", values["p"])
        if not data:
            revoked = True
            problems.append(
                Problem("dkim.key_revoked", "warning", "empty p=: the key has been revoked")
            )
        else:
            raw = _b64(data)
            if raw is None:
                problems.append(Problem("dkim.key_malformed", "error", "p= is not valid base64"))
            else:
                digest = hashlib.sha256(raw).hexdigest()
                if key_type in ("rsa", "ed25519"):
                    key_obj, bits, fmt = _load_key(key_type, raw, problems)
    return DkimKey(
        version=version,
        key_type=key_type,
        hashes=hashes,
        services=services,
        flags=flags,
        notes=values.get("n", ""),
        revoked=revoked,
        key_bits=bits,
        key_format=fmt,
        key_sha256=digest,
        problems=tuple(problems),
        key=key_obj,
    )


def _salvage(text: str) -> list[tuple[str, str]]:
    """Best-effort tags from a broken record: the first occurrence of each well-formed tag."""
    out: dict[str, str] = {}
    for tag in split_tags(text, DKIM):
        if tag.fault in (None, "value") and tag.name not in out:
            out[tag.name] = tag.value
    return list(out.items())


def _b64(data: str) -> bytes | None:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def _load_key(
    key_type: str, raw: bytes, problems: list[Problem]
) -> tuple[PublicKey | None, int | None, KeyFormat | None]:
    if key_type == "ed25519":
        # RFC 8463 4.2: p= is the raw 32-byte public key, not a SubjectPublicKeyInfo.
        if len(raw) != 32:
            problems.append(
                Problem(
                    "dkim.key_malformed",
                    "error",
                    f"an ed25519 p= must be 32 raw bytes (RFC 8463 4.2), got {len(raw)}",
                )
            )
            return None, None, None
        try:
            return ed25519.Ed25519PublicKey.from_public_bytes(raw), 256, "raw"
        except (ValueError, UnsupportedAlgorithm) as exc:
            problems.append(Problem("dkim.key_malformed", "error", f"not an ed25519 key: {exc}"))
            return None, None, None

    try:
        loaded = serialization.load_der_public_key(raw)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        problems.append(
            Problem("dkim.key_malformed", "error", "p= does not decode to an RSA public key")
        )
        return None, None, None
    if not isinstance(loaded, rsa.RSAPublicKey):
        problems.append(
            Problem(
                "dkim.key_malformed",
                "error",
                f"k=rsa but p= holds a {type(loaded).__name__.removesuffix('PublicKey')} key",
            )
        )
        return None, None, None
    fmt: KeyFormat = "spki"
    # cryptography accepts both encodings; re-encoding tells which one the publisher used.
    spki = loaded.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if spki != raw:
        fmt = "pkcs1"
        problems.append(
            Problem(
                "dkim.pkcs1_key",
                "warning",
                "p= is a bare PKCS#1 RSAPublicKey, not the SubjectPublicKeyInfo RFC 6376 3.6.1 "
                "requires; some verifiers reject it",
            )
        )
    bits = loaded.key_size
    if bits < RSA_MIN_BITS:
        problems.append(
            Problem(
                "dkim.key_too_small",
                "error",
                f"RSA key of {bits} bits: verifiers must reject keys under {RSA_MIN_BITS} bits "
                "(RFC 8301 3.2)",
            )
        )
    elif bits < RSA_GOOD_BITS:
        problems.append(
            Problem(
                "dkim.key_weak",
                "warning",
                f"RSA key of {bits} bits; use at least {RSA_GOOD_BITS} (RFC 8301 3.2)",
            )
        )
    elif bits > RSA_MAX_INTEROP_BITS:
        problems.append(
            Problem(
                "dkim.key_too_large",
                "warning",
                f"RSA key of {bits} bits: verifiers only have to handle up to "
                f"{RSA_MAX_INTEROP_BITS} (RFC 8301 3.2)",
            )
        )
    return loaded, bits, fmt


__all__ = ["DkimKey", "PublicKey", "parse_dkim_key"]
