"""MTA-STS policies (RFC 8461 3.2, 3.3, 4.1): what an HTTPS fetch gave, judged without I/O.

``net`` fetches ``https://mta-sts.<domain>/.well-known/mta-sts.txt`` and hands back a
:class:`Fetch` (status, content type, body, or why nothing came); everything a receiver would
decide from it is here: the fetch's own faults, the policy's syntax, and whether every MX host
of the domain is matched by an ``mx`` pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bulkauth.core.common.model import Problem, State, state_from

#: RFC 8461 3.3: "senders SHOULD impose a limit ... of 64 KB" on the policy body
MAX_POLICY_BYTES = 64 * 1024
#: RFC 8461 3.2: max_age is at most 31557600 seconds (about a year)
MAX_AGE_LIMIT = 31_557_600
#: a max_age under a day makes the policy expire between two deliveries of a quiet sender
SHORT_MAX_AGE = 86_400
#: patterns kept from one policy (a hostile policy could list thousands)
MAX_MX_PATTERNS = 64
_MODES = ("enforce", "testing", "none")
_MAX_AGE = re.compile(r"^[0-9]{1,10}$")
# RFC 8461 3.2: mx = ("*." / "") domain; labels of letters, digits and hyphens
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_MX_PATTERN = re.compile(rf"^(?:\*\.)?{_LABEL}(?:\.{_LABEL})+\.?$")


@dataclass(frozen=True, slots=True)
class Fetch:
    """What the HTTPS request gave: a response, or ``error`` (a problem code's last part:
    connect, tls, timeout, too_large, redirect, protocol) with its message."""

    url: str
    status: int | None = None
    content_type: str | None = None
    body: bytes = b""
    error: str | None = None
    detail: str = ""
    location: str | None = None


@dataclass(slots=True)
class Policy:
    version: str | None = None
    mode: str | None = None
    max_age: int | None = None
    mx: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "mode": self.mode, "max_age": self.max_age, "mx": self.mx}


@dataclass(slots=True)
class PolicyAudit:
    state: State
    url: str
    #: the id of the _mta-sts record, which names the policy version a sender caches
    record_id: str | None = None
    fetched: bool = False
    http_status: int | None = None
    content_type: str | None = None
    policy: Policy | None = None
    #: MX hosts of the domain that no policy mx pattern matches
    mx_not_matched: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "url": self.url,
            "id": self.record_id,
            "fetched": self.fetched,
            "http_status": self.http_status,
            "content_type": self.content_type,
            "policy": self.policy.to_dict() if self.policy else None,
            "mx_not_matched": self.mx_not_matched,
            "problems": [p.to_dict() for p in self.problems],
        }


def policy_url(domain: str) -> str:
    return f"https://mta-sts.{domain}/.well-known/mta-sts.txt"


def parse_policy(body: bytes) -> tuple[Policy, list[Problem]]:
    """RFC 8461 3.2: ``key: value`` lines (CRLF; a bare LF is tolerated as most senders do),
    unknown keys ignored, ``mx`` repeated, other keys taken from their first line."""
    problems: list[Problem] = []
    policy = Policy()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return policy, [_err("syntax", "the policy is not UTF-8 text")]
    seen: set[str] = set()
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        key, value = key.strip(), value.strip(" \t")
        if not colon or not re.fullmatch(r"[A-Za-z0-9_]{1,32}", key):
            problems.append(_err("syntax", f"line {number} is not 'key: value': {line[:60]!r}"))
            continue
        if key == "mx":
            _add_mx(policy, value, problems)
            continue
        if key in seen and key in ("version", "mode", "max_age"):
            problems.append(
                Problem(
                    "mta_sts_policy.duplicate_field",
                    "warning",
                    f"{key} appears more than once; the first is used",
                )
            )
            continue
        seen.add(key)
        if key == "version":
            policy.version = value
        elif key == "mode":
            policy.mode = value
        elif key == "max_age":
            policy.max_age = int(value) if _MAX_AGE.match(value) else None
            if policy.max_age is None or policy.max_age > MAX_AGE_LIMIT:
                problems.append(
                    _err(
                        "bad_max_age",
                        f"max_age {value[:20]!r} must be 0 to {MAX_AGE_LIMIT} seconds (RFC 8461 3.2)",
                    )
                )
                policy.max_age = None
    if policy.version != "STSv1":
        problems.append(_err("bad_version", "the policy must say 'version: STSv1'"))
    if policy.mode not in _MODES:
        shown = "no mode" if policy.mode is None else f"mode {policy.mode[:20]!r}"
        problems.append(_err("bad_mode", f"{shown}: must be enforce, testing or none"))
    if "max_age" not in seen:
        problems.append(_err("bad_max_age", "no max_age field (RFC 8461 3.2)"))
    elif policy.max_age is not None and policy.max_age < SHORT_MAX_AGE:
        problems.append(
            Problem(
                "mta_sts_policy.short_max_age",
                "warning",
                f"max_age {policy.max_age} s is under a day: senders forget the policy between "
                "deliveries (RFC 8461 recommends weeks)",
            )
        )
    if not policy.mx and policy.mode in ("enforce", "testing"):
        problems.append(_err("no_mx", f"mode {policy.mode} needs at least one mx line"))
    if policy.mode == "none":
        problems.append(
            Problem("mta_sts_policy.mode_none", "warning", "mode none: the policy is withdrawn")
        )
    elif policy.mode == "testing":
        problems.append(
            Problem(
                "mta_sts_policy.mode_testing",
                "warning",
                "mode testing: failures are reported (TLS-RPT) but mail is still delivered",
            )
        )
    return policy, problems


def _add_mx(policy: Policy, value: str, problems: list[Problem]) -> None:
    if not _MX_PATTERN.match(value):
        problems.append(_err("bad_mx", f"mx {value[:60]!r} is not a host name or *.domain"))
    elif len(policy.mx) < MAX_MX_PATTERNS:
        policy.mx.append(value.rstrip(".").lower())


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 4.1: a pattern matches the host itself, or, with a leading ``*.``, a host with
    exactly one more label on the left."""
    host = host.rstrip(".").lower()
    pattern = pattern.rstrip(".").lower()
    if pattern.startswith("*."):
        first, dot, rest = host.partition(".")
        return bool(first) and bool(dot) and rest == pattern[2:]
    return host == pattern


def fetch_problems(fetch: Fetch) -> tuple[State | None, list[Problem]]:
    """The fetch's own faults (RFC 8461 3.3): a state decided before any parsing, or None."""
    if fetch.error in ("connect", "timeout"):
        # nothing answered: the network path, not the domain, may be at fault
        return State.INDETERMINATE, [
            Problem(
                "mta_sts_policy.fetch_failed",
                "info",
                f"could not fetch the policy: {fetch.detail}"[:300],
            )
        ]
    if fetch.error is not None:
        code = {
            "tls": "tls_invalid",
            "too_large": "too_large",
            "redirect": "redirect",
        }.get(fetch.error, "http_error")
        return State.INVALID, [_err(code, f"{fetch.detail}"[:300])]
    if fetch.status is not None and 300 <= fetch.status < 400:
        return State.INVALID, [
            _err(
                "redirect",
                f"HTTP {fetch.status} to {str(fetch.location)[:100]!r}: "
                "senders must not follow redirects (RFC 8461 3.3)",
            )
        ]
    if fetch.status != 200:
        return State.INVALID, [
            _err("http_status", f"HTTP status {fetch.status}: only 200 serves a policy")
        ]
    media = (fetch.content_type or "").split(";")[0].strip().lower()
    if media != "text/plain":
        return State.INVALID, [
            _err(
                "content_type",
                f"Content-Type {str(fetch.content_type)[:60]!r}: must be text/plain (RFC 8461 3.2)",
            )
        ]
    if len(fetch.body) > MAX_POLICY_BYTES:
        return State.INVALID, [
            _err("too_large", f"the policy is over {MAX_POLICY_BYTES} bytes (RFC 8461 3.3)")
        ]
    return None, []


def audit_policy(
    domain: str, record_id: str | None, fetch: Fetch, mx_hosts: list[str]
) -> PolicyAudit:
    """The policy section: the fetch, the policy, and the MX hosts it leaves out."""
    audit = PolicyAudit(State.VALID, fetch.url, record_id)
    audit.http_status = fetch.status
    audit.content_type = fetch.content_type
    state, audit.problems = fetch_problems(fetch)
    if state is not None:
        audit.state = state
        return audit
    audit.fetched = True
    audit.policy, audit.problems = parse_policy(fetch.body)
    policy = audit.policy
    if policy.mode in ("enforce", "testing") and policy.mx:
        audit.mx_not_matched = [h for h in mx_hosts if not any(mx_matches(p, h) for p in policy.mx)]
        if audit.mx_not_matched:
            enforce = policy.mode == "enforce"
            audit.problems.append(
                Problem(
                    "mta_sts_policy.mx_not_matched",
                    "error" if enforce else "warning",
                    f"MX {', '.join(audit.mx_not_matched[:5])} matched by no mx pattern: "
                    + (
                        "senders enforcing the policy refuse to deliver there"
                        if enforce
                        else "failures would be reported"
                    ),
                )
            )
    audit.state = state_from(audit.problems)
    return audit


def _err(code: str, message: str) -> Problem:
    return Problem(f"mta_sts_policy.{code}", "error", message)
