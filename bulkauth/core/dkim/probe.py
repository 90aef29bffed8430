"""DKIM key discovery: guess selectors, because DNS offers no way to list them.

A domain's DKIM keys live at ``<selector>._domainkey.<domain>`` and only the signer knows the
selectors, so the audit asks for the names the big mailbox providers and sending platforms use
(plus the user's own ``--selectors``). "No key found" therefore means "none at the selectors we
tried", and is reported as information, never as an error.

Two DNS facts keep the guessing honest and cheap:

* RFC 8020: NXDOMAIN for ``_domainkey.<domain>`` means nothing exists below it, so no selector
  can exist and the probes are skipped (one query instead of ~50).
* Wildcards: a ``*._domainkey`` (or a ``*.<domain>`` above it) answers every guess. A selector
  nobody would use is asked in the same batch; keys identical to its answer are the wildcard
  talking, not keys, and are reported once under ``wildcard``.

State: ``valid`` when at least one key was found and none has an error; ``invalid`` when a found
key has an error (revoked, testing and weak keys are warnings); ``missing`` when no key was found
(``dkim.none_found``, or ``dkim.parked`` for a domain that sends no mail); ``indeterminate`` only
when no key was found *and* some probe failed, since the failed selector might hold the key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bulkauth.core.common.model import Answer, DnsFailure, Problem, Query, RType, State, state_from
from bulkauth.core.common.names import NameError_, normalize_query_name
from bulkauth.core.common.step import Step, ask, ask_all
from bulkauth.core.dkim.key import DkimKey, parse_dkim_key

# Selectors in common use. Sources: provider set-up documentation (Google Workspace "google";
# Microsoft 365 "selector1"/"selector2"; Mailchimp "k1"-"k3" and Mandrill "mandrill", "mte1",
# "mte2"; SendGrid "s1"/"s2"/"smtpapi"; Fastmail "fm1"-"fm3"; Proton "protonmail*"; Zendesk
# "zendesk1"/"zendesk2"; Brevo "brevo1"/"brevo2"/"mail"; Constant Contact "ctct1"/"ctct2"; Zoho
# "zmail"/"zoho"; iCloud custom domains "sig1"; Campaign Monitor "cm"; Everlytic "everlytickey*";
# MailerLite "litesrv"/"mlsend2"; Mailgun "krs"/"mx"/"pic"/"mailo"; Yahoo "s1024"/"s2048"; Gmail's
# dated keys "2016...", "2021...", "2023...") and the selector lists kept by open-source domain
# audit tools and DKIM-selector surveys, which add the generic names control panels default to
# (default, dkim, mail, smtp, email, key1, mxvault). Amazon SES and SparkPost generate per-account
# tokens and cannot be guessed. Order matters only for readability: all are asked at once.
BUILTIN_SELECTORS: tuple[str, ...] = (
    # mailbox providers
    "google", "20230601", "20221208", "20210112", "20161025",
    "selector1", "selector2",
    "fm1", "fm2", "fm3",
    "protonmail", "protonmail2", "protonmail3",
    "zmail", "zoho", "sig1", "s1024", "s2048",
    # sending platforms
    "k1", "k2", "k3", "mandrill", "mte1", "mte2",
    "s1", "s2", "smtpapi",
    "krs", "mx", "pic", "mailo",
    "brevo1", "brevo2", "ctct1", "ctct2", "cm", "hs1", "hs2",
    "everlytickey1", "everlytickey2", "zendesk1", "zendesk2",
    "litesrv", "mlsend2", "pm", "resend",
    # generic defaults of control panels and MTAs
    "default", "dkim", "mail", "smtp", "email", "key1", "mxvault",
)  # fmt: skip

#: a hostile --selectors file must not fan out into thousands of queries per domain
MAX_EXTRA_SELECTORS = 64

# RFC 6376 3.1: selector = sub-domain *("." sub-domain). Underscores are tolerated: they occur.
_SELECTOR = re.compile(
    r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$"
)


@dataclass(slots=True)
class FoundKey:
    selector: str
    record: str
    key: DkimKey
    #: the final target when the selector is a CNAME (keys delegated to a provider)
    cname: str | None = None
    #: problems about this selector beyond the record's own grading (e.g. several records)
    extra: list[Problem] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return [*self.extra, *self.key.problems]

    def to_dict(self) -> dict[str, Any]:
        return {
            "selector": self.selector,
            "record": self.record,
            "cname": self.cname,
            **self.key.to_dict(),
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass(slots=True)
class DkimAudit:
    state: State
    selectors_tried: list[str] = field(default_factory=list)
    keys: list[FoundKey] = field(default_factory=list)
    #: the record a wildcard serves for any selector, when one was detected
    wildcard: FoundKey | None = None
    #: why probing was skipped ("rfc8020": _domainkey does not exist), else None
    skipped: str | None = None
    problems: list[Problem] = field(default_factory=list)
    dns_failure: DnsFailure | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "selectors_tried": self.selectors_tried,
            "keys": [k.to_dict() for k in self.keys],
            "wildcard": self.wildcard.to_dict() if self.wildcard else None,
            "skipped": self.skipped,
            "problems": [p.to_dict() for p in self.problems],
            "dns_failure": self.dns_failure.to_dict() if self.dns_failure else None,
        }


def mark_parked(audit: DkimAudit) -> DkimAudit:
    """Turn ``dkim.none_found`` into ``dkim.parked`` once the caller knows the domain is parked.

    Parked-ness comes from the MX and SPF sections; this lets all sections run in the same DNS
    rounds instead of waiting for them before probing.
    """
    audit.problems = [
        _absent(True, "") if p.code == "dkim.none_found" else p for p in audit.problems
    ]
    return audit


def wildcard_selector(domain: str) -> str:
    """A selector nobody publishes, stable per domain so answers cache and tests can name it."""
    return "bulkauth-wildcard-" + hashlib.sha256(domain.encode()).hexdigest()[:8]


def selectors_to_try(extra: Iterable[str] = ()) -> tuple[list[str], list[Problem]]:
    """The built-in selectors followed by the valid, new extra ones; problems for the rest.

    The problems are about the user's input, not the domain, hence ``info``: a CLI should call
    this once up front and refuse or warn, so they do not repeat in every domain's record.
    """
    out = list(BUILTIN_SELECTORS)
    seen = set(out)
    problems: list[Problem] = []
    added = 0
    for raw in extra:
        s = raw.strip().rstrip(".").lower()
        if not s or s in seen:
            continue
        if not _SELECTOR.match(s) or len(s) > 200:
            problems.append(
                Problem(
                    "dkim.bad_selector",
                    "info",
                    f"selector {raw[:40]!r} is not a valid name; skipped",
                )
            )
            continue
        if added == MAX_EXTRA_SELECTORS:
            problems.append(
                Problem(
                    "dkim.too_many_selectors",
                    "info",
                    f"only the first {MAX_EXTRA_SELECTORS} extra selectors were tried",
                )
            )
            break
        seen.add(s)
        out.append(s)
        added += 1
    return out, problems


def audit_dkim(
    domain: str, extra_selectors: Iterable[str] = (), parked: bool = False
) -> Step[DkimAudit]:
    """Find and grade DKIM keys of ``domain`` at the built-in and ``extra_selectors``.

    ``parked``: the domain says it sends no mail (null MX and ``v=spf1 -all``), so finding no key
    is expected and reported as ``dkim.parked`` instead of ``dkim.none_found``.
    """
    base = f"_domainkey.{domain}"
    selectors, problems = selectors_to_try(extra_selectors)
    top = yield from ask(base, RType.TXT)
    # RFC 8020: NXDOMAIN means no name below exists. Not after a CNAME: then it is the target's.
    if top.nxdomain and not top.cnames:
        problems.append(_absent(parked, f"{base} does not exist, so no selector can (RFC 8020)"))
        return DkimAudit(State.MISSING, skipped="rfc8020", problems=problems)

    # Names near the 253-octet limit cannot exist: those selectors are not asked.
    wild_sel = wildcard_selector(domain)
    wild_name = _query_name(wild_sel, base)
    probes = [(s, n) for s in selectors if (n := _query_name(s, base)) is not None]
    selectors = [s for s, _ in probes]
    batch = [
        Query(n, RType.TXT) for n in ([wild_name] if wild_name else []) + [n for _, n in probes]
    ]
    answers = yield from ask_all(batch)
    wild_answer = answers[0] if wild_name else None
    probe_answers = answers[1:] if wild_name else answers

    wildcard: FoundKey | None = None
    wild_set: frozenset[str] = frozenset()
    wild_failed: list[tuple[Query, Answer]] = []
    if wild_answer is not None and wild_answer.failed:
        wild_failed.append((batch[0], wild_answer))
    elif wild_answer is not None and wild_answer.txt_strings():
        wild_set = frozenset(wild_answer.txt_strings())
        wildcard = _found(wild_sel, wild_answer)
        problems.append(
            Problem(
                "dkim.wildcard",
                "warning",
                f"a wildcard answers every selector under {base}: any selector name "
                "returns the same record",
            )
        )

    keys: list[FoundKey] = []
    # Only a failed selector can hide a key; a failed wildcard guess just leaves keys unfiltered.
    failures: list[tuple[Query, Answer]] = []
    for (sel, name), a in zip(probes, probe_answers, strict=True):
        if a.failed:
            failures.append((Query(name, RType.TXT), a))
            continue
        strings = a.txt_strings()
        if not strings or (wild_set and frozenset(strings) == wild_set):
            continue
        keys.append(_found(sel, a))

    for k in keys:
        problems.extend(
            Problem(p.code, p.severity, f"selector {k.selector}: {p.message}") for p in k.problems
        )
    noted = failures + wild_failed
    if noted and (keys or wildcard):
        names_failed = ", ".join(q.name for q, _ in noted[:5])
        problems.append(
            Problem(
                "dkim.probe_dns_failure",
                "info",
                f"{len(noted)} probe(s) failed ({names_failed}); "
                "some keys may be unreported or be wildcard answers",
            )
        )
    audit = DkimAudit(
        State.VALID, selectors_tried=selectors, keys=keys, wildcard=wildcard, problems=problems
    )
    if keys:
        audit.state = state_from(problems)
    elif failures:
        audit.state = State.INDETERMINATE
        audit.dns_failure = DnsFailure.of(*failures[0])
    else:
        audit.state = State.MISSING
        audit.problems.append(
            _absent(
                parked,
                f"no DKIM key at the {len(selectors)} selectors tried (a guess: "
                "DKIM keys cannot be listed; name yours with --selectors)",
            )
        )
    return audit


def _query_name(selector: str, base: str) -> str | None:
    try:
        return normalize_query_name(f"{selector}.{base}")
    except NameError_:
        return None


def _found(selector: str, answer: Answer) -> FoundKey:
    strings = answer.txt_strings()
    extra: list[Problem] = []
    # RFC 6376 3.6.2.2: several records at one selector make the result undefined.
    if len(strings) > 1:
        extra.append(
            Problem(
                "dkim.multiple_records",
                "error",
                f"{len(strings)} TXT records at the selector; verifiers may pick any "
                "(RFC 6376 3.6.2.2)",
            )
        )
    # Grade the record most likely meant as the key: the first that carries a p= tag.
    record = next((s for s in strings if "p=" in s), strings[0])
    return FoundKey(
        selector=selector,
        record=record,
        key=parse_dkim_key(record),
        cname=answer.cnames[-1] if answer.cnames else None,
        extra=extra,
    )


def _absent(parked: bool, message: str) -> Problem:
    if parked:
        return Problem(
            "dkim.parked", "info", "no DKIM key, as expected for a domain that sends no mail"
        )
    return Problem("dkim.none_found", "info", message)


__all__ = [
    "BUILTIN_SELECTORS",
    "DkimAudit",
    "FoundKey",
    "audit_dkim",
    "mark_parked",
    "selectors_to_try",
    "wildcard_selector",
]
