"""TLS-RPT (RFC 8460): the ``_smtp._tls`` TXT record and its report URIs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bulkauth.core.common.model import Problem, State, state_from
from bulkauth.core.common.step import Step
from bulkauth.core.common.taglist import TLS_RPT
from bulkauth.core.common.versioned_record import (
    MAX_RECORD_CHARS,
    WSP,
    RecordAudit,
    discover,
    is_extension,
    parse_fields,
)

_MAILTO = re.compile(r"^mailto:[^@\s,;]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+(?:\?.*)?$", re.IGNORECASE)
#: report URIs kept from one rua= (a hostile record could list thousands)
MAX_URIS = 32


@dataclass(slots=True)
class TlsRptAudit(RecordAudit):
    rua: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**self._base(), "rua": self.rua}


def _valid_report_uri(uri: str) -> bool:
    if uri.lower().startswith("mailto:"):
        return bool(_MAILTO.match(uri))
    if uri.lower().startswith("https:"):
        try:
            parts = urlsplit(uri)
        except ValueError:
            return False
        return bool(parts.hostname) and not any(c.isspace() for c in uri)
    return False


def audit_tls_rpt(domain: str) -> Step[TlsRptAudit]:
    name = f"_smtp._tls.{domain}"
    found = yield from discover(
        name, "v=TLSRPTv1", "tls_rpt", "senders must assume the domain has no TLS-RPT (RFC 8460 3)"
    )
    if found.state is not None:
        return TlsRptAudit(found.state, name, found.record, found.problems, found.dns_failure)
    record = found.record or ""
    problems: list[Problem] = []
    audit = TlsRptAudit(State.VALID, name, record[:MAX_RECORD_CHARS], problems)
    fields = parse_fields(record, TLS_RPT, "tls_rpt", problems)
    if fields is not None:
        if fields.get("v") != "TLSRPTv1" or next(iter(fields)) != "v":
            problems.append(
                Problem("tls_rpt.syntax", "error", "the record must start with v=TLSRPTv1;")
            )
        for key, value in fields.items():
            if key not in ("v", "rua") and not is_extension(key, value):
                problems.append(
                    Problem("tls_rpt.syntax", "error", f"invalid extension field {key[:32]!r}")
                )
        rua = fields.get("rua")
        if rua is None or not rua.strip(WSP):
            problems.append(
                Problem("tls_rpt.syntax", "error", "no rua= field: reports have nowhere to go")
            )
        else:
            # tlsrpt-rua = "rua=" uri *(*WSP "," *WSP uri); bounded for hostile records
            for uri in [u.strip(WSP) for u in rua.split(",")][:MAX_URIS]:
                if _valid_report_uri(uri):
                    audit.rua.append(uri)
                else:
                    problems.append(
                        Problem(
                            "tls_rpt.invalid_uri",
                            "error",
                            f"rua {uri[:60]!r} is not a mailto: or https: URI (RFC 8460 3)",
                        )
                    )
    audit.state = state_from(problems)
    return audit
