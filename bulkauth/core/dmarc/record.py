"""DMARC policy records (RFC 7489 6.3, RFC 9989 4.7): parsing, and the effective policies.

Rules come from RFC 7489 and from RFC 9989 (DMARCbis), which obsoletes it: RFC 9989 adds the
``np``, ``t`` and ``psd`` tags and the DNS tree walk, and removes ``pct``, ``rf`` and ``ri``, which
deployed RFC 7489 receivers still honour, so both readings are reported.

A record is parsed once; effective policies are computed at parse time. Finding the record that
applies to a domain is ``bulkauth.core.dmarc.discovery``; where its reports go,
``bulkauth.core.dmarc.destinations``; the domain audit, ``bulkauth.core.dmarc.audit``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias
from urllib.parse import unquote

from bulkauth.core.common.model import Problem
from bulkauth.core.common.names import NameError_, parse_domain
from bulkauth.core.common.taglist import DMARC, split_tags

Policy: TypeAlias = Literal["none", "quarantine", "reject"]

_POLICIES: dict[str, Policy] = {"none": "none", "quarantine": "quarantine", "reject": "reject"}
_STRENGTH: dict[str, int] = {"none": 0, "quarantine": 1, "reject": 2}

#: tags RFC 9989 removed; RFC 7489 receivers still act on them
REMOVED_TAGS = frozenset({"pct", "rf", "ri"})

#: bounds against hostile records (real ones have at most ~14 tags and a few URIs)
MAX_TAGS = 64
MAX_URIS = 32

_WS = " \t\r\n"
# A TXT string that tries to be a DMARC record, rightly or not: it has a v=DMARC... tag anywhere.
_LOOKS_DMARC = re.compile(r"(?:^|;)[ \t\r\n]*v[ \t\r\n]*=[ \t\r\n]*dmarc", re.IGNORECASE)
_FO_VALUES = frozenset({"0", "1", "d", "s"})
_SIZE = re.compile(r"(\d{1,15})([kmgt]?)\Z", re.IGNORECASE)
_SIZE_UNIT = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_LOCAL_BAD = re.compile(r"[\x00-\x20\x7f,;<>()\[\]\\]")
_UINT32 = 2**32 - 1
_PLAIN_HOST = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?\Z"
)


def _show(value: str, limit: int = 60) -> str:
    """A value quoted for a message, cut short: records can be 64 KB of attacker text."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def looks_like_dmarc(text: str) -> bool:
    """Whether a TXT string tries to be a DMARC record, rightly or not (RFC 7489 6.6.3 step 2
    discards the others)."""
    return _LOOKS_DMARC.search(text) is not None


def _weaker(a: str, b: str) -> bool:
    return _STRENGTH[a] < _STRENGTH[b]


@dataclass(frozen=True, slots=True)
class ReportUri:
    """One valid ``mailto:`` reporting URI of ``rua``/``ruf``."""

    uri: str  # as written, size suffix included
    address: str  # local-part@domain, percent-decoded, domain in A-labels
    domain: str
    size_limit: int | None = None  # bytes, from a "!10m" suffix (RFC 7489; RFC 9989 ignores it)

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "address": self.address,
            "domain": self.domain,
            "size_limit": self.size_limit,
        }


@dataclass(slots=True)
class DmarcRecord:
    """A parsed DMARC record. Invalid values are dropped in favour of defaults (RFC 9989 4.7).

    ``is_dmarc`` is False when the record does not start with ``v=DMARC1``: receivers ignore
    such a record entirely, so its effective policies are None. ``policy``,
    ``subdomain_policy`` and ``nonexistent_policy`` are the effective policies for the domain
    that published the record, its existing subdomains and its non-existent subdomains, after
    the RFC 7489 6.6.3 rule: a record without a valid ``p`` (or with an invalid ``sp``/``np``)
    acts as ``p=none`` when it has a valid ``rua`` URI, and as no policy at all otherwise.
    """

    text: str
    is_dmarc: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    p: Policy | None = None
    sp: Policy | None = None
    np: Policy | None = None
    adkim: Literal["r", "s"] = "r"
    aspf: Literal["r", "s"] = "r"
    pct: int = 100
    fo: tuple[str, ...] = ("0",)
    rf: tuple[str, ...] = ("afrf",)
    ri: int = 86400
    rua: tuple[ReportUri, ...] = ()
    ruf: tuple[ReportUri, ...] = ()
    testing: bool = False  # t=y
    psd: Literal["y", "n", "u"] = "u"
    policy: Policy | None = None
    subdomain_policy: Policy | None = None
    nonexistent_policy: Policy | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def declared_subdomain_policy(self) -> Policy | None:
        """What the record asks for subdomains (``sp``, else ``p``), before the 6.6.3 rule."""
        return self.sp or self.p

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "is_dmarc": self.is_dmarc,
            "tags": dict(self.tags),
            "p": self.p,
            "sp": self.sp,
            "np": self.np,
            "adkim": self.adkim,
            "aspf": self.aspf,
            "pct": self.pct,
            "fo": list(self.fo),
            "rf": list(self.rf),
            "ri": self.ri,
            "rua": [u.to_dict() for u in self.rua],
            "ruf": [u.to_dict() for u in self.ruf],
            "t": "y" if self.testing else "n",
            "psd": self.psd,
            "policy": self.policy,
            "subdomain_policy": self.subdomain_policy,
            "nonexistent_subdomain_policy": self.nonexistent_policy,
            "problems": [p.to_dict() for p in self.problems],
        }


# --------------------------------------------------------------------------------------------
# Parsing


@functools.lru_cache(maxsize=4096)
def _mail_domain(host: str) -> tuple[str | None, str]:
    """The A-label domain of a report address, or None and why. Cached: a few report
    providers receive the reports of most domains."""
    low = host.lower()
    if len(low) <= 253 and _PLAIN_HOST.match(low):
        return low, ""
    try:
        return parse_domain(host), ""
    except (NameError_, ValueError) as exc:
        return None, str(exc)


def _parse_uri(raw: str) -> ReportUri | str:
    """A valid mailto: reporting URI, or the reason it is not one."""
    s = raw.strip(_WS)
    if not s:
        return "empty URI in the list (stray comma?)"
    base, size = s, None
    if "!" in s:
        # RFC 7489 6.2: "!" inside the URI must be percent-encoded, so the last one starts
        # the size limit.
        base, _, suffix = s.rpartition("!")
        m = _SIZE.match(suffix)
        if not m:
            return f"{_show(s)}: '!' must be followed by a size such as !10m (or percent-encoded)"
        size = int(m[1]) * _SIZE_UNIT[m[2].lower()]
    scheme, colon, rest = base.partition(":")
    if not colon or scheme.lower() != "mailto":
        return f"{_show(s)} is not a mailto: URI; receivers only send reports by e-mail"
    addr = unquote(rest.split("?", 1)[0], errors="replace")
    local, at, host = addr.rpartition("@")
    if not at or not local or not host:
        return f"{_show(s)} has no address of the form user@domain"
    if len(local.encode("utf-8", "replace")) > 64 or _LOCAL_BAD.search(local):
        return f"{_show(s)}: {_show(local, 30)} is not a valid mailbox local-part"
    domain, why = _mail_domain(host)
    if domain is None:
        return f"{_show(s)}: the domain is not valid ({why})"
    return ReportUri(uri=s, address=f"{local}@{domain}", domain=domain, size_limit=size)


def _parse_uri_list(tag: str, value: str, problems: list[Problem]) -> tuple[ReportUri, ...]:
    items = value.split(",")
    if len(items) > MAX_URIS:
        problems.append(
            Problem(
                "dmarc.invalid_uri",
                "error",
                f"{tag} lists {len(items)} URIs; only the first {MAX_URIS} were read",
            )
        )
        items = items[:MAX_URIS]
    out: list[ReportUri] = []
    for item in items:
        parsed = _parse_uri(item)
        if isinstance(parsed, str):
            problems.append(Problem("dmarc.invalid_uri", "error", f"{tag}: {parsed}; ignored"))
        else:
            out.append(parsed)
    return tuple(out)


def _bad(problems: list[Problem], code: str, tag: str, value: str, allowed: str) -> None:
    problems.append(
        Problem(code, "error", f"{tag}={_show(value)} is not {allowed}; the tag is ignored")
    )


def parse_dmarc(text: str) -> DmarcRecord:
    """Parse one DMARC TXT record (strings already joined). Never raises on any text."""
    rec = DmarcRecord(text=text)
    problems = rec.problems
    if text.count(";") >= MAX_TAGS:
        problems.append(
            Problem("dmarc.syntax", "error", f"more than {MAX_TAGS} tags; the rest was not read")
        )

    first = True
    version_problem: Problem | None = None
    v_seen_later = False
    bad_policy: dict[str, str] = {}  # tag -> offending value, for the 6.6.3 message
    # ";;" and a trailing ";" are harmless; every receiver skips them
    for seg, tag, value, fault in split_tags(text, DMARC, MAX_TAGS):
        if fault in ("pair", "name"):
            if first:
                version_problem = Problem(
                    "dmarc.syntax",
                    "error",
                    f"record starts with {_show(seg, 30)}, not v=DMARC1; receivers ignore it",
                )
            else:
                problems.append(
                    Problem(
                        "dmarc.syntax",
                        "error",
                        f"{_show(seg)} is not a tag=value pair (missing ';' or '='?); ignored",
                    )
                )
            first = False
            continue
        if first:
            first = False
            if tag != "v":
                version_problem = Problem(
                    "dmarc.syntax",
                    "error",
                    "record does not start with v=DMARC1; receivers ignore it",
                )
            elif value != "DMARC1":
                hint = " (it is case-sensitive)" if value.upper() == "DMARC1" else ""
                if value.upper().startswith("DMARC1") and len(value) > 6 and value[6] in _WS:
                    hint = " (a ';' is missing after it)"
                version_problem = Problem(
                    "dmarc.syntax",
                    "error",
                    f"v={_show(value, 30)} is not exactly DMARC1{hint}; receivers ignore "
                    f"the record",
                )
        elif tag == "v" and "v" not in rec.tags:
            v_seen_later = True
        if fault == "duplicate":
            problems.append(
                Problem(
                    "dmarc.duplicate_tag",
                    "error",
                    f"tag {tag} appears more than once; receivers may reject the record or keep "
                    f"either value (this report keeps the first)",
                )
            )
            continue
        rec.tags[tag] = value
        _apply_tag(rec, tag, value, bad_policy)

    if v_seen_later and version_problem is not None:
        version_problem = Problem(
            "dmarc.v_not_first",
            "error",
            "v=DMARC1 must be the first tag; receivers ignore a record that does not start with it",
        )
    if first:  # nothing but whitespace and semicolons
        version_problem = Problem("dmarc.syntax", "error", "empty record; receivers ignore it")
    if version_problem is not None:
        problems.insert(0, version_problem)
        return rec
    rec.is_dmarc = True
    _effective(rec, bad_policy)
    _advice(rec)
    return rec


def _apply_tag(rec: DmarcRecord, tag: str, value: str, bad_policy: dict[str, str]) -> None:
    problems = rec.problems
    low = value.lower()
    if tag == "v":
        return
    if tag in ("p", "sp", "np"):
        pol = _POLICIES.get(low)
        if pol is None:
            bad_policy[tag] = value
        elif tag == "p":
            rec.p = pol
        elif tag == "sp":
            rec.sp = pol
        else:
            rec.np = pol
    elif tag in ("adkim", "aspf"):
        if low == "r" or low == "s":
            mode: Literal["r", "s"] = "r" if low == "r" else "s"
            if tag == "adkim":
                rec.adkim = mode
            else:
                rec.aspf = mode
        else:
            _bad(problems, f"dmarc.invalid_{tag}", tag, value, "r (relaxed) or s (strict)")
    elif tag == "pct":
        if value.isascii() and value.isdigit() and len(value) <= 3 and int(value) <= 100:
            rec.pct = int(value)
        else:
            problems.append(
                Problem(
                    "dmarc.invalid_pct",
                    "error",
                    f"pct={_show(value)} is not an integer from 0 to 100; receivers use 100",
                )
            )
    elif tag == "fo":
        opts = tuple(o.strip(_WS).lower() for o in value.split(":"))
        if all(o in _FO_VALUES for o in opts):
            rec.fo = opts
        else:
            _bad(problems, "dmarc.invalid_fo", tag, value, "a ':'-separated list of 0, 1, d, s")
    elif tag == "rf":
        fmts = tuple(f.strip(_WS).lower() for f in value.split(":"))
        if all(f == "afrf" for f in fmts):
            rec.rf = fmts
        else:
            _bad(problems, "dmarc.invalid_rf", tag, value, "afrf (the only registered format)")
    elif tag == "ri":
        if value.isascii() and value.isdigit() and len(value) <= 32 and int(value) <= _UINT32:
            rec.ri = int(value)
        else:
            _bad(problems, "dmarc.invalid_ri", tag, value, "a number of seconds (32-bit)")
    elif tag in ("rua", "ruf"):
        uris = _parse_uri_list(tag, value, problems)
        if tag == "rua":
            rec.rua = uris
        else:
            rec.ruf = uris
    elif tag == "t":
        if low in ("y", "n"):
            rec.testing = low == "y"
        else:
            _bad(problems, "dmarc.invalid_t", tag, value, "y or n")
    elif tag == "psd":
        if low == "y":
            rec.psd = "y"
        elif low == "n":
            rec.psd = "n"
        elif low == "u":
            rec.psd = "u"
        else:
            _bad(problems, "dmarc.invalid_psd", tag, value, "y, n or u")
    else:
        problems.append(
            Problem("dmarc.unknown_tag", "warning", f"unknown tag {tag!r}; receivers ignore it")
        )
    if tag in REMOVED_TAGS:
        problems.append(
            Problem(
                "dmarc.removed_tag",
                "info",
                f"{tag} was removed by RFC 9989; receivers following it ignore the tag, older "
                f"(RFC 7489) receivers still apply it",
            )
        )


def _effective(rec: DmarcRecord, bad_policy: dict[str, str]) -> None:
    """Policy problems and effective policies (RFC 7489 6.6.3 step 6, RFC 9989 4.10.1)."""
    broken = "p" not in rec.tags or bool(bad_policy)
    if not broken:
        assert rec.p is not None
        rec.policy = rec.p
        rec.subdomain_policy = rec.sp or rec.p
        rec.nonexistent_policy = rec.np or rec.sp or rec.p
        return
    fallback: Policy | None = "none" if rec.rua else None
    consequence = (
        "receivers treat the whole record as p=none because rua has a valid URI"
        if fallback
        else "with no valid rua URI either, receivers apply no DMARC policy at all"
    )
    rec.policy = rec.subdomain_policy = rec.nonexistent_policy = fallback
    if "p" not in rec.tags:
        rec.problems.append(
            Problem(
                "dmarc.no_policy",
                "error",
                f"no p= tag (RFC 7489 requires it; RFC 9989 reads it as p=none): {consequence}",
            )
        )
    codes = {"p": "dmarc.invalid_policy", "sp": "dmarc.invalid_sp", "np": "dmarc.invalid_np"}
    for tag, value in bad_policy.items():
        rec.problems.append(
            Problem(
                codes[tag],
                "error",
                f"{tag}={_show(value)} is not none, quarantine or reject: {consequence}",
            )
        )


def _advice(rec: DmarcRecord) -> None:
    """Warnings for settings that are valid but weak."""
    add = rec.problems.append
    if rec.p == "none":
        add(
            Problem(
                "dmarc.p_none",
                "warning",
                "p=none: monitoring only, failing mail is delivered as if there were no policy",
            )
        )
    if rec.p is not None and rec.sp is not None and _weaker(rec.sp, rec.p):
        add(
            Problem(
                "dmarc.sp_weaker",
                "warning",
                f"sp={rec.sp} is weaker than p={rec.p}: subdomains are easier to spoof",
            )
        )
    if rec.p is not None and rec.np is not None and _weaker(rec.np, rec.p):
        add(
            Problem(
                "dmarc.np_weaker",
                "warning",
                f"np={rec.np} is weaker than p={rec.p}: made-up subdomains are easier to spoof",
            )
        )
    enforcing = any(
        pol is not None and pol != "none"
        for pol in (rec.policy, rec.subdomain_policy, rec.nonexistent_policy)
    )
    if rec.pct < 100 and "pct" in rec.tags and enforcing:
        add(
            Problem(
                "dmarc.pct_partial",
                "warning",
                f"pct={rec.pct}: RFC 7489 receivers apply the policy to only {rec.pct}% of "
                f"failing mail (RFC 9989 receivers ignore pct)",
            )
        )
    if rec.testing and enforcing:
        add(
            Problem(
                "dmarc.testing",
                "warning",
                "t=y: test mode, RFC 9989 receivers apply one level less than the stated policy "
                "(reject becomes quarantine, quarantine becomes none)",
            )
        )
    if "rua" not in rec.tags:
        add(
            Problem(
                "dmarc.no_rua",
                "warning",
                "no rua= tag: nobody receives aggregate reports about mail using this domain",
            )
        )
    if rec.psd == "y":
        add(
            Problem(
                "dmarc.psd",
                "info",
                "psd=y: published by a public suffix operator; it is the policy of last resort "
                "for registered domains below it that publish none",
            )
        )
    elif rec.psd == "n":
        add(
            Problem(
                "dmarc.psd",
                "info",
                "psd=n: this domain declares itself the organisational domain for its subdomains",
            )
        )
