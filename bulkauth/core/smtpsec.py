"""DNS records of SMTP transport security and brand indicators: MTA-STS, TLS-RPT and BIMI.

Only the DNS side is audited. The MTA-STS policy itself lives on HTTPS
(``https://mta-sts.<domain>/.well-known/mta-sts.txt``) and the BIMI logo and certificate behind
URLs; core does no I/O, so records say ``"policy_fetched": false`` rather than pretend.

All three follow the same discovery rule (RFC 8461 3.1, RFC 8460 3, BIMI draft 4.2): TXT records
not starting with the version tag are discarded, and anything but exactly one remaining record
means the receiver ignores the mechanism. So: no TXT at all -> ``missing``; TXT present but none
with the version -> ``invalid`` (somebody tried); several versioned records -> ``invalid``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bulkauth.core.common.model import DnsFailure, Problem, Query, RType, State, state_from
from bulkauth.core.common.step import Step, ask
from bulkauth.core.dkim.key import TagListError, parse_tag_list

# RFC 8461 3.1: sts-id = 1*32(ALPHA / DIGIT)
_STS_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
# RFC 8461 3.1 sts-ext-name, and RFC 8460 3 tlsrpt-ext-name alike:
# (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
_EXT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
# sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E): printable, without ";" and "="
_EXT_VALUE = re.compile(r"^[\x21-\x3a\x3c\x3e-\x7e]+$")
_MAILTO = re.compile(r"^mailto:[^@\s,;]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+(?:\?.*)?$", re.IGNORECASE)
_WSP = " \t"
#: report URIs kept from one rua= (a hostile record could list thousands)
MAX_URIS = 32
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
class MtaStsAudit(RecordAudit):
    policy_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self._base(),
            "id": self.policy_id,
            # The policy is served over HTTPS, which core does not fetch.
            "policy_fetched": False,
            "policy_url": f"https://mta-sts.{self.name.removeprefix('_mta-sts.')}/.well-known/mta-sts.txt",
        }


@dataclass(slots=True)
class TlsRptAudit(RecordAudit):
    rua: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**self._base(), "rua": self.rua}


@dataclass(slots=True)
class BimiAudit(RecordAudit):
    selector: str = "default"
    logo: str | None = None
    authority: str | None = None
    declined: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            **self._base(),
            "selector": self.selector,
            "logo": self.logo,
            "authority": self.authority,
            "declined": self.declined,
            # Logo and certificate are on HTTPS; neither is fetched or validated here.
            "logo_fetched": False,
        }


@dataclass(slots=True)
class _Discovery:
    """Outcome of the shared discovery rule: either a decided ``state`` or the one record."""

    state: State | None
    record: str | None = None
    problems: list[Problem] = field(default_factory=list)
    dns_failure: DnsFailure | None = None


def _discover(name: str, version: str, code_prefix: str, what: str) -> Step[_Discovery]:
    answer = yield from ask(name, RType.TXT)
    if answer.failed:
        return _Discovery(
            State.INDETERMINATE, dns_failure=DnsFailure.of(Query(name, RType.TXT), answer)
        )
    strings = answer.txt_strings()
    if not strings:
        return _Discovery(State.MISSING)
    records = [s for s in strings if s.startswith(version)]
    if not records:
        near = [s for s in strings if s.lstrip(_WSP).lower().startswith(version.lower())]
        msg = (
            f"record starts with {near[0][: len(version)]!r}; "
            f"the version must be exactly {version!r}"
            if near
            else f"no TXT record at {name} starts with {version!r}"
        )
        problem = Problem(f"{code_prefix}.syntax", "error", msg)
        return _Discovery(State.INVALID, strings[0][:MAX_RECORD_CHARS], [problem])
    if len(records) > 1:
        problem = Problem(
            f"{code_prefix}.multiple_records",
            "error",
            f"{len(records)} {version} records: {what}",
        )
        return _Discovery(State.INVALID, records[0][:MAX_RECORD_CHARS], [problem])
    return _Discovery(None, records[0])


def _fields(record: str, code_prefix: str, problems: list[Problem]) -> dict[str, str] | None:
    """Split ``k=v; k=v`` (field-delim = *WSP ";" *WSP); None after a syntax error."""
    out: dict[str, str] = {}
    parts = record.split(";")
    for i, raw in enumerate(parts):
        part = raw.strip(_WSP)
        if not part:
            # only a trailing delimiter may leave an empty field
            if i == len(parts) - 1:
                continue
            problems.append(Problem(f"{code_prefix}.syntax", "error", "empty field between ';'"))
            return None
        name, eq, value = part.partition("=")
        if not eq or not name or name != name.strip(_WSP) or value != value.strip(_WSP):
            problems.append(
                Problem(
                    f"{code_prefix}.syntax", "error", f"{part[:40]!r} is not a name=value field"
                )
            )
            return None
        if name in out:
            problems.append(
                Problem(f"{code_prefix}.syntax", "error", f"field {name}= appears twice")
            )
            return None
        out[name] = value
    return out


# --- MTA-STS (RFC 8461) ---------------------------------------------------------------------------


def audit_mta_sts(domain: str) -> Step[MtaStsAudit]:
    name = f"_mta-sts.{domain}"
    found = yield from _discover(
        name, "v=STSv1", "mta_sts", "senders must assume the domain has no MTA-STS (RFC 8461 3.1)"
    )
    if found.state is not None:
        return MtaStsAudit(found.state, name, found.record, found.problems, found.dns_failure)
    record = found.record or ""
    problems: list[Problem] = []
    audit = MtaStsAudit(State.VALID, name, record[:MAX_RECORD_CHARS], problems)
    fields = _fields(record, "mta_sts", problems)
    if fields is not None:
        if fields.get("v") != "STSv1" or next(iter(fields)) != "v":
            problems.append(
                Problem("mta_sts.syntax", "error", "the record must start with v=STSv1;")
            )
        for key, value in fields.items():
            if key not in ("v", "id") and not (_EXT_NAME.match(key) and _EXT_VALUE.match(value)):
                problems.append(
                    Problem("mta_sts.syntax", "error", f"invalid extension field {key[:32]!r}")
                )
        pid = fields.get("id")
        if pid is None:
            problems.append(Problem("mta_sts.bad_id", "error", "no id= field (RFC 8461 3.1)"))
        elif not _STS_ID.match(pid):
            problems.append(
                Problem(
                    "mta_sts.bad_id",
                    "error",
                    f"id={pid[:40]!r} must be 1 to 32 letters and digits (RFC 8461 3.1)",
                )
            )
        else:
            audit.policy_id = pid
    audit.state = state_from(problems)
    return audit


# --- TLS-RPT (RFC 8460) ---------------------------------------------------------------------------


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
    found = yield from _discover(
        name, "v=TLSRPTv1", "tls_rpt", "senders must assume the domain has no TLS-RPT (RFC 8460 3)"
    )
    if found.state is not None:
        return TlsRptAudit(found.state, name, found.record, found.problems, found.dns_failure)
    record = found.record or ""
    problems: list[Problem] = []
    audit = TlsRptAudit(State.VALID, name, record[:MAX_RECORD_CHARS], problems)
    fields = _fields(record, "tls_rpt", problems)
    if fields is not None:
        if fields.get("v") != "TLSRPTv1" or next(iter(fields)) != "v":
            problems.append(
                Problem("tls_rpt.syntax", "error", "the record must start with v=TLSRPTv1;")
            )
        for key, value in fields.items():
            if key not in ("v", "rua") and not (_EXT_NAME.match(key) and _EXT_VALUE.match(value)):
                problems.append(
                    Problem("tls_rpt.syntax", "error", f"invalid extension field {key[:32]!r}")
                )
        rua = fields.get("rua")
        if rua is None or not rua.strip(_WSP):
            problems.append(
                Problem("tls_rpt.syntax", "error", "no rua= field: reports have nowhere to go")
            )
        else:
            # tlsrpt-rua = "rua=" uri *(*WSP "," *WSP uri); bounded for hostile records
            for uri in [u.strip(_WSP) for u in rua.split(",")][:MAX_URIS]:
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


# --- BIMI (draft-brand-indicators-for-message-identification) -------------------------------------


def audit_bimi(domain: str, selector: str = "default") -> Step[BimiAudit]:
    """The BIMI assertion record at ``<selector>._bimi.<domain>``.

    Receivers fall back to the organizational domain when the author domain has none; that
    needs the PSL and is left to the caller (ask again with the organizational domain). BIMI
    also needs DMARC at enforcement, a cross-section rule for the domain record.
    """
    name = f"{selector}._bimi.{domain}"
    found = yield from _discover(name, "v=BIMI1", "bimi", "receivers ignore BIMI for the domain")
    if found.state is not None:
        return BimiAudit(
            found.state, name, found.record, found.problems, found.dns_failure, selector=selector
        )
    record = found.record or ""
    problems: list[Problem] = []
    audit = BimiAudit(State.VALID, name, record[:MAX_RECORD_CHARS], problems, selector=selector)
    # BIMI uses the DKIM tag=value syntax (FWS allowed around "="), not the RFC 8461 one.
    fields: dict[str, str] | None
    try:
        fields = dict(parse_tag_list(record))
    except TagListError as exc:
        problems.append(Problem("bimi.syntax", "error", f"invalid tag list: {exc}"))
        fields = None
    if fields is not None:
        if fields.get("v") != "BIMI1" or next(iter(fields)) != "v":
            problems.append(Problem("bimi.syntax", "error", "the record must start with v=BIMI1;"))
        logo = fields.get("l")
        authority = fields.get("a")
        if logo is None:
            problems.append(Problem("bimi.syntax", "error", "no l= field (the logo location)"))
        if not logo and not authority:
            if logo is not None:
                audit.declined = True
                problems.append(
                    Problem(
                        "bimi.declined",
                        "info",
                        "empty l= and a=: the domain declines to show a logo",
                    )
                )
        else:
            if logo:
                audit.logo = logo[:2048]
                if not _is_https(logo):
                    problems.append(
                        Problem(
                            "bimi.logo_not_https", "error", f"l={logo[:60]!r} is not an https: URI"
                        )
                    )
            if authority:
                audit.authority = authority[:2048]
                if not _is_https(authority):
                    problems.append(
                        Problem(
                            "bimi.authority_not_https",
                            "error",
                            f"a={authority[:60]!r} is not an https: URI",
                        )
                    )
            else:
                problems.append(
                    Problem(
                        "bimi.no_vmc",
                        "info",
                        "no a= (mark certificate): most mailbox providers show no logo without one",
                    )
                )
    audit.state = state_from(problems)
    return audit


def _is_https(uri: str) -> bool:
    if not uri.lower().startswith("https://") or any(c.isspace() for c in uri):
        return False
    try:
        return bool(urlsplit(uri).hostname)
    except ValueError:
        return False


__all__ = [
    "BimiAudit",
    "MtaStsAudit",
    "RecordAudit",
    "TlsRptAudit",
    "audit_bimi",
    "audit_mta_sts",
    "audit_tls_rpt",
]
