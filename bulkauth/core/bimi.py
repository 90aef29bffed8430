"""BIMI (draft-brand-indicators-for-message-identification): the assertion record.

Only the DNS side is audited: the logo and the mark certificate are behind URLs, which core
does not fetch, so records say ``"logo_fetched": false``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bulkauth.core.common.model import Problem, State, state_from
from bulkauth.core.common.step import Step
from bulkauth.core.common.taglist import BIMI, TagListError, parse_tags
from bulkauth.core.common.versioned_record import MAX_RECORD_CHARS, RecordAudit, discover


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


def audit_bimi(domain: str, selector: str = "default") -> Step[BimiAudit]:
    """The BIMI assertion record at ``<selector>._bimi.<domain>``.

    Receivers fall back to the organizational domain when the author domain has none; that
    needs the PSL and is left to the caller (ask again with the organizational domain). BIMI
    also needs DMARC at enforcement, a cross-section rule for the domain record.
    """
    name = f"{selector}._bimi.{domain}"
    found = yield from discover(name, "v=BIMI1", "bimi", "receivers ignore BIMI for the domain")
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
        fields = parse_tags(record, BIMI)
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
