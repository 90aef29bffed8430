"""Server certificates, judged without I/O: chain to a trusted root, name, validity dates.

``net`` does the TLS handshake without verifying (so a bad certificate is still seen and
described) and hands the presented chain here as DER. Chain building and the WebPKI rules are
cryptography's (``cryptography.x509.verification``); what is ours is telling the reasons
apart, since a receiver's operator fixes an expired certificate differently from a wrong name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from bulkauth.core.common.model import Problem


def _server_auth(policy: object, cert: object, eku: x509.ExtendedKeyUsage | None) -> None:
    if eku is not None and not {
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    } & set(eku):
        raise ValueError("the certificate is not for TLS servers (extendedKeyUsage)")


# The CA/Browser Forum's rules for leaves, except the criticality of subjectAltName and
# extendedKeyUsage: OpenSSL, which sending MTAs verify with, does not judge it, and test CAs
# (trustme) mark both critical
_EE = (
    ExtensionPolicy.webpki_defaults_ee()
    .require_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _server_auth)
)
#: a certificate closer than this to its end is flagged (ACME renews at 30 days left)
EXPIRES_SOON_DAYS = 14


@dataclass(slots=True)
class CertCheck:
    subject: str | None = None
    issuer: str | None = None
    names: list[str] = field(default_factory=list)
    not_after: str | None = None
    days_to_expiry: int | None = None
    chain_valid: bool = False
    name_matches: bool = False
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "names": self.names,
            "not_after": self.not_after,
            "days_to_expiry": self.days_to_expiry,
            "chain_valid": self.chain_valid,
            "name_matches": self.name_matches,
        }


def load_roots(pem: bytes) -> Store:
    """A trust store from PEM certificates (a CA bundle file's bytes)."""
    return Store(x509.load_pem_x509_certificates(pem))


def dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
        return []
    return [n.lower() for n in san.value.get_values_for_type(x509.DNSName)]


def name_matches(pattern: str, host: str) -> bool:
    """RFC 6125 6.4.3 as the WebPKI applies it: exact, or ``*`` as the whole leftmost label
    standing for exactly one label."""
    pattern, host = pattern.rstrip(".").lower(), host.rstrip(".").lower()
    if pattern.startswith("*."):
        first, dot, rest = host.partition(".")
        return bool(first and dot) and rest == pattern[2:] and "." in rest
    return pattern == host


def check_chain(
    chain: Sequence[bytes], host: str, roots: Store, now: dt.datetime, code: str
) -> CertCheck:
    """The presented chain (leaf first, DER) for a server named ``host``; problem codes are
    ``<code>.cert_*`` (``code`` is the section: starttls)."""
    out = CertCheck()
    if not chain:
        out.problems.append(Problem(f"{code}.no_certificate", "error", "no certificate presented"))
        return out
    try:
        certs = [x509.load_der_x509_certificate(c) for c in chain]
        leaf = certs[0]
        out.subject = leaf.subject.rfc4514_string()[:200]
        out.issuer = leaf.issuer.rfc4514_string()[:200]
        not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    except ValueError as exc:
        out.problems.append(
            Problem(f"{code}.bad_certificate", "error", f"unreadable certificate: {exc}"[:200])
        )
        return out
    out.names = dns_names(leaf)[:50]
    out.not_after = not_after.isoformat()
    # whole days left, toward zero: -3 is "expired three days ago"
    out.days_to_expiry = int((not_after - now).total_seconds() / 86400)
    out.name_matches = any(name_matches(n, host) for n in out.names)
    # trust is judged inside the leaf's validity, and under a name the leaf carries, so that
    # an expired or misnamed certificate is reported for that, not also as untrusted
    at = min(max(now, not_before), not_after)
    as_name = host if out.name_matches else next((n for n in out.names if "*" not in n), None)
    trust_error = _verify(certs, roots, at, as_name)
    out.chain_valid = trust_error is None
    if now > not_after:
        out.problems.append(
            Problem(
                f"{code}.cert_expired", "error", f"the certificate expired on {not_after:%Y-%m-%d}"
            )
        )
    elif now < not_before:
        out.problems.append(
            Problem(
                f"{code}.cert_not_yet_valid",
                "error",
                f"the certificate is valid only from {not_before:%Y-%m-%d}",
            )
        )
    elif out.days_to_expiry < EXPIRES_SOON_DAYS:
        out.problems.append(
            Problem(
                f"{code}.cert_expires_soon",
                "warning",
                f"the certificate expires in {out.days_to_expiry} days",
            )
        )
    if trust_error is not None:
        if _self_signed(leaf):
            out.problems.append(
                Problem(f"{code}.cert_self_signed", "error", "the certificate is self-signed")
            )
        else:
            out.problems.append(
                Problem(
                    f"{code}.cert_untrusted",
                    "error",
                    f"the chain does not lead to a trusted root: {trust_error}"[:300],
                )
            )
    if not out.name_matches:
        shown = ", ".join(out.names[:4]) or "no DNS names"
        out.problems.append(
            Problem(
                f"{code}.cert_name_mismatch",
                "error",
                f"the certificate is for {shown}, not {host}",
            )
        )
    return out


def _verify(
    certs: list[x509.Certificate], roots: Store, at: dt.datetime, name: str | None
) -> str | None:
    if name is None:
        return "no DNS name to verify the chain under"
    try:
        verifier = (
            PolicyBuilder()
            .store(roots)
            .time(at)
            .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_EE)
            .build_server_verifier(x509.DNSName(name))
        )
        verifier.verify(certs[0], certs[1:])
    except (VerificationError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return str(exc) or exc.__class__.__name__
    return None


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True
