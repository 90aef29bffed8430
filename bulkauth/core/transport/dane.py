"""DANE for SMTP (RFC 7672, RFC 6698): TLSA records at ``_25._tcp.<mx>`` and whether the
certificate chain an MX presented matches them.

TLSA records arrive in presentation form (``3 1 1 <hex>``) from every backend, so a record
whose data is not hex, or not the length its matching type says, is a problem code here.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bulkauth.core.common.model import Answer, Problem, Query, RType
from bulkauth.core.common.step import Step, ask_all
from bulkauth.core.transport.certs import dns_names, name_matches

#: RFC 6698 2.1.3: matching type 1 is SHA2-256, 2 is SHA2-512
_DIGEST_LENGTH = {1: 32, 2: 64}
#: TLSA records kept from one RRset (a hostile zone could publish thousands)
MAX_RECORDS = 16


@dataclass(frozen=True, slots=True)
class Tlsa:
    usage: int
    selector: int
    mtype: int
    data: bytes

    def text(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"


def tlsa_name(host: str, port: int = 25) -> str:
    return f"_{port}._tcp.{host}"


def parse_tlsa(text: str) -> Tlsa | Problem:
    """One TLSA record in presentation form, or the problem that makes it unusable."""
    fields = text.split()
    if len(fields) < 4 or not all(f.isdigit() for f in fields[:3]):
        return Problem(
            "dane.bad_record", "error", f"TLSA {text[:80]!r}: not 'usage selector type data'"
        )
    usage, selector, mtype = (int(f) for f in fields[:3])
    hexdata = "".join(fields[3:])
    try:
        data = bytes.fromhex(hexdata)
    except ValueError:
        return Problem(
            "dane.bad_record", "error", f"TLSA {text[:80]!r}: the data is not hexadecimal"
        )
    if usage > 3 or selector > 1 or mtype > 2:
        return Problem(
            "dane.unusable_record",
            "warning",
            f"TLSA {text[:40]!r}: usage {usage}, selector {selector} or matching type {mtype} "
            "is not one RFC 6698 defines; the record is ignored",
        )
    want = _DIGEST_LENGTH.get(mtype)
    if (want is not None and len(data) != want) or not data:
        return Problem(
            "dane.bad_record",
            "error",
            f"TLSA {text[:40]!r}: {len(data)} octets of data for matching type {mtype}",
        )
    return Tlsa(usage, selector, mtype, data)


def _selected(cert: x509.Certificate, selector: int) -> bytes:
    if selector == 0:
        return cert.public_bytes(Encoding.DER)
    return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _associated(content: bytes, mtype: int) -> bytes:
    if mtype == 1:
        return hashlib.sha256(content).digest()
    if mtype == 2:
        return hashlib.sha512(content).digest()
    return content


def matches(record: Tlsa, chain: Sequence[x509.Certificate], host: str) -> bool:
    """RFC 7672 3.1: DANE-EE (3) matches the leaf, and only its key or certificate counts
    (no name or date checks); DANE-TA (2) matches a CA certificate of the presented chain,
    and the leaf must chain to it and carry the MX name. PKIX usages (0, 1) are unusable for
    SMTP (RFC 7672 3.1.3)."""
    if not chain:
        return False
    if record.usage == 3:
        return _associated(_selected(chain[0], record.selector), record.mtype) == record.data
    if record.usage != 2:
        return False
    for i in range(1, len(chain)):
        if _associated(_selected(chain[i], record.selector), record.mtype) == record.data:
            return _issued_along(chain[: i + 1]) and any(
                name_matches(n, host) for n in dns_names(chain[0])
            )
    return False


def _matches(record: Tlsa, chain: Sequence[x509.Certificate], host: str) -> bool:
    # a certificate cryptography cannot take apart (an unknown key type) matches nothing
    try:
        return matches(record, chain, host)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False


def _issued_along(chain: Sequence[x509.Certificate]) -> bool:
    try:
        for child, parent in itertools.pairwise(chain):
            child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


@dataclass(slots=True)
class DaneHost:
    host: str
    name: str
    records: list[str] = field(default_factory=list)
    #: the TLSA answer's AD bit from a validating resolver; None: not asked (no --dnssec)
    dnssec: str | None = None
    #: None: no certificate to match (the STARTTLS probe could not get one)
    matched: bool | None = None
    matched_record: str | None = None
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "name": self.name,
            "records": self.records,
            "dnssec": self.dnssec,
            "matched": self.matched,
            "matched_record": self.matched_record,
            "problems": [p.to_dict() for p in self.problems],
        }


def ask_tlsa(hosts: Sequence[str], port: int = 25) -> Step[tuple[Answer, ...]]:
    return (yield from ask_all(Query(tlsa_name(h, port), RType.TLSA) for h in hosts))


def dane_host(
    host: str,
    answer: Answer,
    chain_der: Sequence[bytes] | None,
    dnssec_asked: bool,
    port: int = 25,
) -> DaneHost | None:
    """One MX host's DANE result; None when it publishes no TLSA records."""
    out = DaneHost(host, tlsa_name(host, port))
    if answer.failed:
        out.problems.append(
            Problem(
                "dane.dns_failure",
                "warning",
                f"the TLSA lookup failed ({answer.rcode}): senders doing DANE defer mail",
            )
        )
        return out
    texts = [r for r in answer.records if isinstance(r, str)][:MAX_RECORDS]
    if not texts:
        return None
    out.records = texts
    if dnssec_asked:
        out.dnssec = "secure" if answer.authentic else "insecure"
        if not answer.authentic:
            out.problems.append(
                Problem(
                    "dane.not_dnssec_validated",
                    "error",
                    "the TLSA records are not DNSSEC-validated: senders ignore them (RFC 7672 2.2)",
                )
            )
    usable: list[Tlsa] = []
    for text in texts:
        got = parse_tlsa(text)
        if isinstance(got, Problem):
            out.problems.append(got)
        elif got.usage in (0, 1):
            out.problems.append(
                Problem(
                    "dane.pkix_usage",
                    "warning",
                    f"TLSA usage {got.usage} (PKIX) is unusable for SMTP; use 2 or 3 (RFC 7672 3.1.3)",
                )
            )
        else:
            usable.append(got)
    if not usable:
        out.problems.append(
            Problem("dane.no_usable_record", "error", "no usable TLSA record (usage 2 or 3)")
        )
        return out
    if chain_der is None:
        return out
    try:
        chain = [x509.load_der_x509_certificate(c) for c in chain_der]
    except ValueError:
        chain = []
    hit = next((r for r in usable if _matches(r, chain, host)), None)
    out.matched = hit is not None
    out.matched_record = hit.text() if hit else None
    if hit is None:
        out.problems.append(
            Problem(
                "dane.no_match",
                "error",
                "the certificate the MX presented matches no TLSA record: DANE senders will "
                "not deliver (RFC 7672 2.2)",
            )
        )
    return out
