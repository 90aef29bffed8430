"""Values shared by every check: DNS questions and answers, problems, section states.

Nothing here does I/O. DNS answers are plain values so that checks can be tested with a dict.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, TypeAlias


class RType(enum.IntEnum):
    """DNS record types the checks ask for (numeric values are the wire codes)."""

    A = 1
    NS = 2
    CNAME = 5
    SOA = 6
    PTR = 12
    MX = 15
    TXT = 16
    AAAA = 28
    TLSA = 52
    SPF = 99


class Rcode(enum.StrEnum):
    """Outcome of one DNS question, after the DNS layer has mapped every foreign error."""

    NOERROR = "NOERROR"
    NXDOMAIN = "NXDOMAIN"
    SERVFAIL = "SERVFAIL"
    REFUSED = "REFUSED"
    FORMERR = "FORMERR"
    NOTIMP = "NOTIMP"
    TIMEOUT = "TIMEOUT"
    #: the question itself was unusable (e.g. a name longer than 253 octets)
    BADNAME = "BADNAME"
    #: anything else: connection refused, malformed reply, a loop of CNAMEs, ...
    ERROR = "ERROR"
    #: --replay-dns: the recorded run never asked this question, so nothing can be said
    NOTRECORDED = "NOTRECORDED"


#: the code a DNS failure carries when the question is missing from a --replay-dns snapshot
NOT_RECORDED_CODE = "dns.not_recorded"


@dataclass(frozen=True, slots=True, order=True)
class MX:
    preference: int
    exchange: str  # absolute name without the trailing dot, lower case; "" for the root (null MX)


#: A TXT (or SPF) record: its character-strings, undecoded.
TXT: TypeAlias = tuple[bytes, ...]
#: One resource record's data: A/AAAA -> address text, CNAME/PTR/NS -> name, MX -> MX, TXT/SPF -> TXT.
Rdata: TypeAlias = str | MX | TXT


class Query(NamedTuple):
    """One DNS question. ``name`` is an absolute name without the trailing dot.

    A named tuple rather than a dataclass: the resolver hashes each question several times
    (cache, single-flight), and a tuple hashes in C."""

    name: str
    rtype: RType


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to a Query, as a value.

    ``records`` holds only RRs of the asked type at the final name (after CNAMEs were followed);
    ``cnames`` lists the CNAME chain that led there (each hop's target). ``ttl`` is the time the
    answer may be cached: the RRset TTL, or for negative answers the SOA minimum (RFC 2308).
    ``size`` is the length of the DNS message that carried it (0 where unknown), so checks can
    tell when a record set does not fit a 512-byte UDP answer.
    """

    rcode: Rcode
    records: tuple[Rdata, ...] = ()
    ttl: int = 0
    cnames: tuple[str, ...] = ()
    size: int = 0
    detail: str = ""
    #: the AD bit: a validating resolver says it checked the DNSSEC signatures (RFC 4035
    #: 3.2.3); only the UDP backend reads it, and only a validating resolver sets it
    authentic: bool = False

    @property
    def ok(self) -> bool:
        """True for an authoritative outcome: records, NODATA or NXDOMAIN."""
        return self.rcode in (Rcode.NOERROR, Rcode.NXDOMAIN)

    @property
    def failed(self) -> bool:
        """True when DNS could not say (timeout, SERVFAIL, ...): the answer is unknown, not empty."""
        return not self.ok

    @property
    def nxdomain(self) -> bool:
        return self.rcode is Rcode.NXDOMAIN

    @property
    def empty(self) -> bool:
        """NXDOMAIN or NODATA: the name authoritatively has no records of this type."""
        return self.ok and not self.records

    def txt_strings(self) -> list[str]:
        """Each TXT record's strings joined (RFC 7208 3.3), decoded leniently."""
        return [
            b"".join(r).decode("utf-8", "replace") for r in self.records if isinstance(r, tuple)
        ]

    def addresses(self) -> list[str]:
        return [r for r in self.records if isinstance(r, str)]

    def mx(self) -> list[MX]:
        return [r for r in self.records if isinstance(r, MX)]


Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True, slots=True)
class DnsChange:
    """One record to publish: ``value`` at ``name`` (type ``rtype``), taking the place of
    ``replaces`` when that is given; ``value`` None means: remove ``replaces``."""

    name: str
    rtype: str
    value: str | None
    replaces: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "type": self.rtype,
            "value": self.value,
            "replaces": self.replaces,
        }


@dataclass(frozen=True, slots=True)
class Fix:
    """The remedy of a problem: the DNS changes that make it go away, one sentence of why,
    and what to do next or beware of (``note``), when there is something."""

    records: tuple[DnsChange, ...]
    why: str
    note: str | None = None

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"records": [r.to_dict() for r in self.records], "why": self.why}
        if self.note:
            d["note"] = self.note
        return d


@dataclass(frozen=True, slots=True)
class Problem:
    """A finding with a stable code. Codes never change meaning once published."""

    code: str
    severity: Severity
    message: str
    fix: Fix | None = None

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
        }
        if self.fix is not None:
            d["fix"] = self.fix.to_dict()
        return d

    def fixed_by(self, fix: Fix | None) -> Problem:
        """This problem carrying `fix` (problems are values: a new one)."""
        return self if fix is None else Problem(self.code, self.severity, self.message, fix)


class State(enum.StrEnum):
    """The state of one section of a domain record (DESIGN.md section 3)."""

    VALID = "valid"
    INVALID = "invalid"
    MISSING = "missing"
    INDETERMINATE = "indeterminate"


def state_from(problems: list[Problem]) -> State:
    """VALID unless some problem is an error; warnings never change the state."""
    return State.INVALID if any(p.severity == "error" for p in problems) else State.VALID


@dataclass(slots=True)
class DnsFailure:
    """Why a section is indeterminate: the name, type and rcode that failed."""

    name: str
    rtype: str
    rcode: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        d = {"name": self.name, "type": self.rtype, "rcode": self.rcode}
        if self.detail:
            d["detail"] = self.detail
        if self.rcode == "NOTRECORDED":
            # not a DNS failure but a gap in the snapshot: a code of its own to filter on
            d["code"] = NOT_RECORDED_CODE
        return d

    @classmethod
    def of(cls, q: Query, a: Answer) -> DnsFailure:
        return cls(q.name, q.rtype.name, a.rcode.value, a.detail)


@dataclass(slots=True)
class Counters:
    """Per-run DNS counters, reported in the summary."""

    queries: int = 0
    cache_hits: int = 0
    joined: int = 0
    retries: int = 0
    timeouts: int = 0
    failures: int = 0
    tcp: int = 0
    by_rcode: dict[str, int] = field(default_factory=dict)
