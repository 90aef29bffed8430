"""Authentication-Results fields (RFC 8601): the receiving system's own verdicts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bulkauth.core.message.headers import (
    MAX_TRACE_FIELDS,
    HeaderBlock,
    split_top_level,
    strip_comments,
)
from bulkauth.core.message.received import host_matches


@dataclass(slots=True)
class AuthResult:
    method: str
    result: str
    reason: str | None = None
    props: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class AuthResults:
    """One Authentication-Results field."""

    index: int
    authserv_id: str | None
    results: list[AuthResult]

    def of(self, method: str) -> list[AuthResult]:
        return [r for r in self.results if r.method == method]


_MAX_RESULTS = 64


def _unquote(tok: str) -> str:
    if len(tok) >= 2 and tok[0] == '"' and tok[-1] == '"':
        return re.sub(r"\\(.)", r"\1", tok[1:-1])
    return tok


def parse_auth_results(value: str, index: int = 0) -> AuthResults:
    """Parse one Authentication-Results value leniently.

    A field that starts with a result instead of an authserv-id (as Microsoft 365 writes them)
    is read with ``authserv_id`` None. Unknown properties are kept; malformed parts skipped.
    """
    text = strip_comments(value) if ("(" in value or '"' in value) else " ".join(value.split())
    parts = split_top_level(text, ";")
    first = parts[0].strip() if parts else ""
    authserv: str | None
    if "=" in first and not first.startswith('"'):
        authserv, rest = None, parts
    else:
        authserv = _unquote(first.split(" ")[0]).lower() or None if first else None
        rest = parts[1:]
    results: list[AuthResult] = []
    for part in rest[:_MAX_RESULTS]:
        words = part.strip().split()
        if not words or words[0].lower() == "none":
            continue
        method, eq, result = words[0].partition("=")
        if not eq:
            continue
        method = method.split("/", 1)[0].lower()
        res = AuthResult(method, _unquote(result).lower())
        for w in words[1:]:
            k, e, v = w.partition("=")
            if not e:
                continue
            k = k.lower()
            if k == "reason":
                res.reason = _unquote(v)
            else:
                res.props.setdefault(k, _unquote(v))
        results.append(res)
    return AuthResults(index, authserv, results)


def auth_results_fields(block: HeaderBlock) -> list[AuthResults]:
    values = block.get_all("Authentication-Results")[:MAX_TRACE_FIELDS]
    return [parse_auth_results(v, i) for i, v in enumerate(values)]


def receiver_results(results: Sequence[AuthResults], trusted: str | None) -> AuthResults | None:
    """The receiving system's Authentication-Results: authserv-id matching ``trusted``, else the
    topmost field."""
    if trusted:
        for r in results:
            if host_matches(r.authserv_id, trusted):
                return r
        return None
    return results[0] if results else None
