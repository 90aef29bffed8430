"""Where a DMARC record's reports go (RFC 7489 7.1): can each report domain take mail, and does
each domain outside the policy domain's organisation authorise receiving its reports?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bulkauth.core.common.model import Answer, Problem, Query, RType
from bulkauth.core.common.psl import same_organisation
from bulkauth.core.common.step import Step, ask_all
from bulkauth.core.dmarc.record import DmarcRecord, ReportUri, looks_like_dmarc, parse_dmarc

#: distinct report domains checked per record (RFC 7489 6.2: receivers need only support two)
MAX_DESTINATIONS = 8


@dataclass(slots=True)
class ReportDestination:
    uri: str
    tag: Literal["rua", "ruf"]
    domain: str
    external: bool
    authorized: bool | None  # None: DNS failed, or not checked (beyond MAX_DESTINATIONS)
    accepts_mail: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "tag": self.tag,
            "domain": self.domain,
            "external": self.external,
            "authorized": self.authorized,
            "accepts_mail": self.accepts_mail,
        }


def _authorizes(answer: Answer) -> bool | None:
    """Whether a ``._report._dmarc`` answer holds a record starting with v=DMARC1."""
    if answer.failed:
        return None
    return any(parse_dmarc(s).is_dmarc for s in answer.txt_strings() if looks_like_dmarc(s))


def _mx_verdict(answer: Answer) -> bool | None:
    """True/False from MX alone; None when it takes A/AAAA (or DNS failed; see caller)."""
    if answer.failed or (answer.empty and not answer.nxdomain):
        return None
    if answer.nxdomain:
        return False
    # RFC 7505: a single MX with the root as exchange says the domain accepts no mail
    return any(mx.exchange for mx in answer.mx())


def audit_report_destinations(
    policy_domain: str, record: DmarcRecord
) -> Step[tuple[list[ReportDestination], list[Problem]]]:
    """Check where ``record``'s reports would go: can each domain take mail, and does each
    domain outside ``policy_domain``'s organisation authorise receiving its reports?

    Round one asks the authorisation TXT and the MX of every destination domain at once; round
    two, only where needed, the ``*._report._dmarc`` wildcard and the A/AAAA fallback.
    """
    pairs: list[tuple[Literal["rua", "ruf"], ReportUri]] = [("rua", u) for u in record.rua]
    pairs += [("ruf", u) for u in record.ruf]
    domains = list(dict.fromkeys(u.domain for _, u in pairs))[:MAX_DESTINATIONS]
    external = {u.domain: not same_organisation(u.domain, policy_domain) for _, u in pairs}
    auth: dict[str, bool | None] = {}
    mail: dict[str, bool | None] = {}

    first: list[Query] = []
    for dom in domains:
        first.append(Query(dom, RType.MX))
        if external[dom]:
            name = f"{policy_domain}._report._dmarc.{dom}"
            if len(name) > 253:
                auth[dom] = False  # no receiver can ask this name, so none can authorise
            else:
                first.append(Query(name, RType.TXT))
    answers = dict(zip(first, (yield from ask_all(first)), strict=True))

    second: list[Query] = []
    for dom in domains:
        mail[dom] = _mx_verdict(answers[Query(dom, RType.MX)])
        if mail[dom] is None and not answers[Query(dom, RType.MX)].failed:
            second += [Query(dom, RType.A), Query(dom, RType.AAAA)]
        if external[dom] and dom not in auth:
            auth[dom] = _authorizes(
                answers[Query(f"{policy_domain}._report._dmarc.{dom}", RType.TXT)]
            )
            if auth[dom] is False:
                second.append(Query(f"*._report._dmarc.{dom}", RType.TXT))
    if second:
        answers.update(zip(second, (yield from ask_all(second)), strict=True))
        for dom in domains:
            wild = answers.get(Query(f"*._report._dmarc.{dom}", RType.TXT))
            if wild is not None:
                auth[dom] = _authorizes(wild)
            a, aaaa = answers.get(Query(dom, RType.A)), answers.get(Query(dom, RType.AAAA))
            if a is not None and aaaa is not None:
                if a.addresses() or aaaa.addresses():
                    mail[dom] = True
                elif a.ok and aaaa.ok:
                    mail[dom] = False

    dests: list[ReportDestination] = []
    for tag, u in pairs:
        ext = external[u.domain]
        dests.append(
            ReportDestination(
                uri=u.uri,
                tag=tag,
                domain=u.domain,
                external=ext,
                authorized=auth.get(u.domain) if ext else True,
                accepts_mail=mail.get(u.domain),
            )
        )
    problems: list[Problem] = []
    for dom in domains:
        tags = sorted({t for t, u in pairs if u.domain == dom})
        which = " and ".join(tags)
        if external[dom] and auth.get(dom) is False:
            problems.append(
                Problem(
                    "dmarc.report_unauthorized",
                    "warning",
                    f"{dom} has not authorised {which} reports for {policy_domain} (no v=DMARC1 "
                    f"record at {policy_domain}._report._dmarc.{dom}); receivers will not "
                    f"send them there",
                )
            )
        if mail.get(dom) is False:
            problems.append(
                Problem(
                    "dmarc.report_domain_no_mail",
                    "warning",
                    f"{dom} does not accept mail (no MX, A or AAAA record, or a null MX): "
                    f"{which} reports sent there are lost",
                )
            )
    return dests, problems
