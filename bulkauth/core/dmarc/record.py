"""DMARC policy records: parsing, policy discovery and report destinations.

Rules come from RFC 7489 and from RFC 9989 (DMARCbis), which obsoletes it: RFC 9989 adds the
``np``, ``t`` and ``psd`` tags and the DNS tree walk, and removes ``pct``, ``rf`` and ``ri``, which
deployed RFC 7489 receivers still honour, so both readings are reported.

Everything here is sans-I/O: discovery is a ``Step`` that asks for TXT records and is given the
answers (see ``bulkauth.core.common.step``). A record is parsed once; effective policies are computed
at parse time.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias
from urllib.parse import unquote

from bulkauth.core.common.model import Answer, DnsFailure, Problem, Query, RType, State
from bulkauth.core.common.names import NameError_, parse_domain
from bulkauth.core.common.psl import org_domain, same_organisation
from bulkauth.core.common.step import Step, ask_all

Policy: TypeAlias = Literal["none", "quarantine", "reject"]
Method: TypeAlias = Literal["psl", "tree"]

_POLICIES: dict[str, Policy] = {"none": "none", "quarantine": "quarantine", "reject": "reject"}
_STRENGTH: dict[str, int] = {"none": 0, "quarantine": 1, "reject": 2}

KNOWN_TAGS = frozenset(
    {"v", "p", "sp", "np", "adkim", "aspf", "pct", "fo", "rf", "ri", "rua", "ruf", "t", "psd"}
)
#: tags RFC 9989 removed; RFC 7489 receivers still act on them
REMOVED_TAGS = frozenset({"pct", "rf", "ri"})

#: bounds against hostile records (real ones have at most ~14 tags and a few URIs)
MAX_TAGS = 64
MAX_URIS = 32
#: distinct report domains checked per record (RFC 7489 6.2: receivers need only support two)
MAX_DESTINATIONS = 8
#: RFC 9989 4.10: a tree walk never asks more than eight names
MAX_WALK_QUERIES = 8

_WS = " \t\r\n"
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
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
    segments = text.split(";", MAX_TAGS)
    if len(segments) > MAX_TAGS:
        problems.append(
            Problem("dmarc.syntax", "error", f"more than {MAX_TAGS} tags; the rest was not read")
        )
        segments = segments[:MAX_TAGS]

    first = True
    version_problem: Problem | None = None
    v_seen_later = False
    bad_policy: dict[str, str] = {}  # tag -> offending value, for the 6.6.3 message
    for raw in segments:
        seg = raw.strip(_WS)
        if not seg:
            continue  # ";;" and a trailing ";" are harmless; every receiver skips them
        name, eq, value = seg.partition("=")
        name, value = name.rstrip(_WS), value.strip(_WS)
        if not eq or not _TAG_NAME.match(name):
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
        tag = name.lower()
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
        if tag in rec.tags:
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


# --------------------------------------------------------------------------------------------
# Discovery


@dataclass(slots=True)
class _Level:
    """What one ``_dmarc.<name>`` TXT query said."""

    name: str
    answer: Answer
    records: list[DmarcRecord]  # those starting with v=DMARC1
    rejected: list[DmarcRecord]  # tried to be DMARC records but receivers ignore them

    @property
    def single(self) -> DmarcRecord | None:
        return self.records[0] if len(self.records) == 1 else None


def _level(name: str, answer: Answer) -> _Level:
    records: list[DmarcRecord] = []
    rejected: list[DmarcRecord] = []
    if answer.ok:
        for s in answer.txt_strings():
            if not _LOOKS_DMARC.search(s):
                continue  # other TXT data at _dmarc (RFC 7489 6.6.3 step 2 discards it)
            rec = parse_dmarc(s)
            (records if rec.is_dmarc else rejected).append(rec)
    return _Level(name, answer, records, rejected)


def tree_walk_targets(domain: str) -> list[str]:
    """The names a RFC 9989 4.10 tree walk asks after ``domain`` itself, nearest first.

    With eight or more labels the walk jumps to seven, so that no walk exceeds eight queries.
    """
    labels = domain.split(".")
    x = len(labels)
    n = MAX_WALK_QUERIES - 1 if x >= MAX_WALK_QUERIES else x - 1
    return [".".join(labels[-k:]) for k in range(n, 0, -1)]


def _one_below(start: str, ancestor: str) -> str:
    """The name one label below ``ancestor`` on the way down to ``start``."""
    labels = start.split(".")
    return ".".join(labels[-(ancestor.count(".") + 2) :])


def _select(found: list[tuple[str, DmarcRecord]], start: str) -> tuple[str, DmarcRecord] | None:
    """The record that applies after a tree walk from ``start`` (RFC 9989 4.10.1 and 4.10.2).

    ``found`` holds the single valid records in walk order (longest name first); the walk
    stopped at the first with psd=y or psd=n. Preference: the organisational domain's record,
    else the public suffix domain's.
    """
    if not found:
        return None
    name, rec = found[-1]
    if rec.psd == "y" and name != start:
        org = _one_below(start, name)
        for n, r in found:
            if n == org:
                return n, r
    # psd=n: that domain is the organisational domain; no psd: the record with fewest labels
    return name, rec


@dataclass(slots=True)
class DmarcDiscovery:
    """Which DMARC record applies to ``domain``, and how it was found."""

    domain: str
    method: Method
    state: State
    policy_domain: str | None = None  # the domain whose record applies
    org_domain: str | None = None
    record: DmarcRecord | None = None
    inherited: bool = False
    policy: Policy | None = None  # for the domain itself (assumed to exist)
    subdomain_policy: Policy | None = None  # for its existing subdomains
    problems: list[Problem] = field(default_factory=list)
    failure: DnsFailure | None = None


def _failed(domain: str, method: Method, level: _Level, org: str | None) -> DmarcDiscovery:
    return DmarcDiscovery(
        domain,
        method,
        State.INDETERMINATE,
        org_domain=org,
        failure=DnsFailure.of(Query(f"_dmarc.{level.name}", RType.TXT), level.answer),
    )


def _multiple(level: _Level) -> Problem:
    return Problem(
        "dmarc.multiple_records",
        "error",
        f"_dmarc.{level.name} has {len(level.records)} DMARC records; receivers discard them all",
    )


def discover_dmarc(domain: str, method: Method = "psl") -> Step[DmarcDiscovery]:
    """Find the DMARC record that applies to ``domain`` (an A-label name).

    ``method="psl"``: RFC 7489 6.6.3, falling back to the organisational domain from the Public
    Suffix List. ``method="tree"``: RFC 9989 4.10, the DNS tree walk honouring ``psd=``. Every
    name is asked in one batch (parents are shared by thousands of domains and come from the
    cache), then the rules pick the record.
    """
    if method not in ("psl", "tree"):
        raise ValueError(f"unknown DMARC discovery method {method!r}")
    d = domain.rstrip(".").lower()
    org = org_domain(d) if method == "psl" else None
    if method == "tree":
        parents = tree_walk_targets(d)
    else:
        parents = [org] if org is not None and org != d else []
    names = [d, *parents]
    answers = yield from ask_all(Query(f"_dmarc.{n}", RType.TXT) for n in names)
    levels = [_level(n, a) for n, a in zip(names, answers, strict=True)]
    if method == "tree":
        return _discover_tree(d, levels)
    return _discover_psl(d, org, levels)


def _own_problems(own: _Level) -> list[Problem]:
    """Problems of the domain's own _dmarc name: several records, or near-miss records."""
    if len(own.records) > 1:
        return [_multiple(own)]
    if own.records:
        return []
    out: list[Problem] = []
    for rec in own.rejected:
        out.extend(p for p in rec.problems if p.severity == "error")
    return out


def _finish(disc: DmarcDiscovery, rec: DmarcRecord | None, where: str | None) -> DmarcDiscovery:
    """Fill in the applied record, its policies and the state."""
    disc.record, disc.policy_domain = rec, where
    if rec is None:
        if not disc.problems:
            disc.problems.append(
                Problem(
                    "dmarc.no_record",
                    "warning",
                    f"no DMARC record applies to {disc.domain}: receivers apply no policy and "
                    f"send no reports",
                )
            )
            disc.state = State.MISSING
        else:
            disc.state = State.INVALID
        return disc
    disc.inherited = where != disc.domain
    if disc.inherited:
        # The domain is a subdomain of where the record lives: sp (else p) applies to it, and
        # to its own subdomains. The record's p=none warning is about the other domain.
        disc.policy = disc.subdomain_policy = rec.subdomain_policy
        disc.problems.extend(p for p in rec.problems if p.code != "dmarc.p_none")
        if rec.declared_subdomain_policy == "none" and rec.policy is not None:
            disc.problems.append(
                Problem(
                    "dmarc.p_none",
                    "warning",
                    f"the policy inherited from {where} for its subdomains is none: "
                    f"monitoring only",
                )
            )
    else:
        disc.policy = rec.policy
        disc.problems.extend(rec.problems)
    disc.state = State.INVALID if any(p.severity == "error" for p in disc.problems) else State.VALID
    return disc


def _discover_psl(d: str, org: str | None, levels: list[_Level]) -> DmarcDiscovery:
    own = levels[0]
    if own.answer.failed:
        return _failed(d, "psl", own, org)
    disc = DmarcDiscovery(d, "psl", State.VALID, org_domain=org, problems=_own_problems(own))
    parent = levels[1] if len(levels) > 1 else None
    if own.single is not None:
        rec = own.single
        _finish(disc, rec, d)
        if parent is None:
            disc.subdomain_policy = rec.subdomain_policy
        elif parent.answer.ok and parent.single is not None:
            # a subdomain of a non-organisational domain falls back to the organisational one
            disc.subdomain_policy = parent.single.subdomain_policy
        else:
            disc.subdomain_policy = None
        return disc
    if own.records or parent is None:
        # RFC 7489 6.6.3 step 5: several records end discovery; no org domain to fall back to
        return _finish(disc, None, None)
    if parent.answer.failed:
        return _failed(d, "psl", parent, org)
    if len(parent.records) > 1:
        disc.problems.append(_multiple(parent))
    return _finish(disc, parent.single, parent.name if parent.single else None)


def _walk(levels: list[_Level], problems: list[Problem]) -> list[tuple[str, DmarcRecord]] | _Level:
    """Walk the parents in order; the found records, or the level whose query failed."""
    found: list[tuple[str, DmarcRecord]] = []
    for lvl in levels:
        if lvl.answer.failed:
            return lvl
        if len(lvl.records) > 1:
            problems.append(_multiple(lvl))
            continue
        rec = lvl.single
        if rec is not None:
            found.append((lvl.name, rec))
            if rec.psd in ("y", "n"):
                break
    return found


def _discover_tree(d: str, levels: list[_Level]) -> DmarcDiscovery:
    own, parents = levels[0], levels[1:]
    if own.answer.failed:
        return _failed(d, "tree", own, None)
    disc = DmarcDiscovery(d, "tree", State.VALID, problems=_own_problems(own))
    if own.single is not None:
        rec = own.single
        _finish(disc, rec, d)
        # What a subdomain of d would get: the walk from it meets d's record first.
        chain: list[tuple[str, DmarcRecord]] = [(d, rec)]
        if rec.psd not in ("y", "n"):
            walked = _walk(parents, [])
            if isinstance(walked, _Level):
                disc.org_domain, disc.subdomain_policy = None, None
                return disc
            chain.extend(walked)
        child = _select(chain, "*." + d)
        disc.subdomain_policy = child[1].subdomain_policy if child else None
        own_org = _select(chain, d)
        disc.org_domain = own_org[0] if own_org else d
        return disc
    walked = _walk(parents, disc.problems)
    if isinstance(walked, _Level):
        return _failed(d, "tree", walked, None)
    chosen = _select(walked, d)
    if walked and walked[-1][1].psd == "y":
        disc.org_domain = _one_below(d, walked[-1][0])
    elif walked:
        disc.org_domain = walked[-1][0]
    else:
        disc.org_domain = d
    if chosen is None:
        return _finish(disc, None, None)
    return _finish(disc, chosen[1], chosen[0])


# --------------------------------------------------------------------------------------------
# External report destinations (RFC 7489 7.1)


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
    return any(parse_dmarc(s).is_dmarc for s in answer.txt_strings() if _LOOKS_DMARC.search(s))


def _mx_verdict(answer: Answer) -> bool | None:
    """True/False from MX alone; None when it takes A/AAAA (or DNS failed; see caller)."""
    if answer.failed or (answer.empty and not answer.nxdomain):
        return None
    if answer.nxdomain:
        return False
    # RFC 7505: a single MX with the root as exchange says the domain accepts no mail
    return any(mx.exchange for mx in answer.mx())


def check_report_destinations(
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


# --------------------------------------------------------------------------------------------
# The audit of a domain's DMARC section


@dataclass(slots=True)
class DmarcAudit:
    discovery: DmarcDiscovery
    report_destinations: list[ReportDestination] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def state(self) -> State:
        return self.discovery.state

    def to_dict(self) -> dict[str, Any]:
        d, rec = self.discovery, self.discovery.record
        return {
            "state": d.state.value,
            "domain": d.policy_domain,
            "org_domain": d.org_domain,
            "record": rec.text if rec else None,
            "inherited": d.inherited,
            "method": d.method,
            "policy": d.policy,
            "subdomain_policy": d.subdomain_policy,
            "pct": rec.pct if rec else None,
            "tags": dict(rec.tags) if rec else {},
            "rua": [u.uri for u in rec.rua] if rec else [],
            "ruf": [u.uri for u in rec.ruf] if rec else [],
            "report_destinations": [r.to_dict() for r in self.report_destinations],
            "problems": [p.to_dict() for p in self.problems],
            "dns_failure": d.failure.to_dict() if d.failure else None,
        }


def audit_dmarc(domain: str, method: Method = "psl") -> Step[DmarcAudit]:
    """The DMARC section of a domain record: discovery, then the report destinations."""
    disc = yield from discover_dmarc(domain, method)
    if disc.record is None or disc.policy_domain is None:
        return DmarcAudit(disc, [], list(disc.problems))
    dests, problems = yield from check_report_destinations(disc.policy_domain, disc.record)
    return DmarcAudit(disc, dests, [*disc.problems, *problems])


__all__ = [
    "DmarcAudit",
    "DmarcDiscovery",
    "DmarcRecord",
    "Method",
    "Policy",
    "ReportDestination",
    "ReportUri",
    "audit_dmarc",
    "check_report_destinations",
    "discover_dmarc",
    "parse_dmarc",
    "tree_walk_targets",
]
