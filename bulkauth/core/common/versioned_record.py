"""TXT records found by their version tag: MTA-STS, TLS-RPT and BIMI share the discovery rule
and the shape of their audits.

The rule (RFC 8461 3.1, RFC 8460 3, BIMI draft 4.2): TXT records not starting with the version
tag are discarded, and anything but exactly one remaining record means the receiver ignores the
mechanism. So: no TXT at all -> ``missing``; TXT present but none with the version -> ``invalid``
(somebody tried); several versioned records -> ``invalid``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bulkauth.core.common.model import DnsFailure, Problem, Query, RType, State
from bulkauth.core.common.step import Step, ask
from bulkauth.core.common.taglist import Syntax, TagListError, parse_tags

# RFC 8461 3.1 sts-ext-name, and RFC 8460 3 tlsrpt-ext-name alike:
# (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
_EXT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
# sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E): printable, without ";" and "="
_EXT_VALUE = re.compile(r"^[\x21-\x3a\x3c\x3e-\x7e]+$")
WSP = " \t"
#: records this long are not policy records; do not let one blow up a report
MAX_RECORD_CHARS = 4096


@dataclass(slots=True)
class RecordAudit:
    """Common shape of the three audits: where we looked, what we found, what is wrong."""

    state: State
    name: str
    record: str | None = None
    problems: list[Problem] = field(default_factory=list)
    dns_failure: DnsFailure | None = None

    def _base(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "name": self.name,
            "record": self.record,
            "problems": [p.to_dict() for p in self.problems],
            "dns_failure": self.dns_failure.to_dict() if self.dns_failure else None,
        }


@dataclass(slots=True)
class Discovery:
    """Outcome of the shared discovery rule: either a decided ``state`` or the one record."""

    state: State | None
    record: str | None = None
    problems: list[Problem] = field(default_factory=list)
    dns_failure: DnsFailure | None = None


def discover(name: str, version: str, code_prefix: str, what: str) -> Step[Discovery]:
    answer = yield from ask(name, RType.TXT)
    if answer.failed:
        return Discovery(
            State.INDETERMINATE, dns_failure=DnsFailure.of(Query(name, RType.TXT), answer)
        )
    strings = answer.txt_strings()
    if not strings:
        return Discovery(State.MISSING)
    records = [s for s in strings if s.startswith(version)]
    if not records:
        near = [s for s in strings if s.lstrip(WSP).lower().startswith(version.lower())]
        msg = (
            f"record starts with {near[0][: len(version)]!r}; "
            f"the version must be exactly {version!r}"
            if near
            else f"no TXT record at {name} starts with {version!r}"
        )
        problem = Problem(f"{code_prefix}.syntax", "error", msg)
        return Discovery(State.INVALID, strings[0][:MAX_RECORD_CHARS], [problem])
    if len(records) > 1:
        problem = Problem(
            f"{code_prefix}.multiple_records",
            "error",
            f"{len(records)} {version} records: {what}",
        )
        return Discovery(State.INVALID, records[0][:MAX_RECORD_CHARS], [problem])
    return Discovery(None, records[0])


def parse_fields(
    record: str, syntax: Syntax[str], code_prefix: str, problems: list[Problem]
) -> dict[str, str] | None:
    """The ``name=value`` fields of an MTA-STS or TLS-RPT record; None after a syntax error."""
    try:
        return parse_tags(record, syntax)
    except TagListError as exc:
        problems.append(Problem(f"{code_prefix}.syntax", "error", _field_problem(exc)))
        return None


def _field_problem(exc: TagListError) -> str:
    if exc.fault == "empty":
        return "empty field between ';'"
    if exc.fault == "duplicate":
        return f"field {exc.name!s}= appears twice"
    return f"{str(exc.spec)[:40]!r} is not a name=value field"


def is_extension(name: str, value: str) -> bool:
    """An extension field of MTA-STS (RFC 8461 3.1) or TLS-RPT (RFC 8460 3)."""
    return bool(_EXT_NAME.match(name) and _EXT_VALUE.match(value))
