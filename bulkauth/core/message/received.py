"""Received fields (RFC 5321 4.4): the trace, read leniently, and the receiving system's hop."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bulkauth.core.common.model import Problem
from bulkauth.core.message.clock import iso, parse_date
from bulkauth.core.message.headers import MAX_TRACE_FIELDS, HeaderBlock, scan

_KEYWORDS = frozenset({"from", "by", "via", "with", "id", "for"})
_HELO_IN_COMMENT = re.compile(r"\bhelo(?:=|\s+)\s*([^\s)\]\[;,]+)", re.IGNORECASE)
_ENVELOPE_FROM = re.compile(r"envelope-from\s*[=:]?\s*<?([^\s<>();]*)>?", re.IGNORECASE)
_BRACKETED = re.compile(r"\[(?:ipv6:)?([0-9a-f:.]+)\]", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def _ip(text: str) -> str | None:
    t = text.strip().strip("[]").rstrip(".")
    if t.lower().startswith("ipv6:"):
        t = t[5:]
    try:
        return str(ipaddress.ip_address(t))
    except ValueError:
        return None


@dataclass(slots=True)
class Received:
    """One Received field, as far as it can be read."""

    index: int  # among Received fields, 0 = topmost
    has_from: bool = False
    helo: str | None = None
    client_ip: str | None = None
    rdns: str | None = None
    by: str | None = None
    protocol: str | None = None
    envelope_from: str | None = None
    time: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "helo": self.helo,
            "client_ip": self.client_ip,
            "rdns": self.rdns,
            "by": self.by,
            "protocol": self.protocol,
            "time": iso(self.time),
        }


_RECEIVED_COMMON = re.compile(
    r"\s*from\s+([^\s()\[\];]+)\s+\(([^()]*)\)\s+by\s+([^\s();]+)"
    r"(?:\s+\([^()]*\))?(?:\s+with\s+([^\s();]+))?",
    re.IGNORECASE,
)


def parse_received(value: str, index: int = 0) -> Received:
    """Read the from / by / with clauses and the date of one Received field, leniently.

    Knows the common shapes: ``from HELO (rdns [IP])`` (Postfix, Sendmail, Gmail),
    ``from [IP] (helo=HELO)`` (Exim), ``from unknown (HELO name) (IP)`` (qmail) and bare IPv6
    in parentheses (Exchange).
    """
    rec = Received(index)
    main, sep, date = value.rpartition(";")
    if not sep:
        main, date = value, ""
    rec.time = parse_date(date.strip())
    if "envelope-from" in value.lower():
        env = _ENVELOPE_FROM.search(value)
        if env:
            rec.envelope_from = env.group(1)
    fast = _RECEIVED_COMMON.match(main)
    if fast is not None:
        # the common shape "from HELO (rdns [IP]) by HOST [(...)] [with PROTO]", read in one go
        helo, comment, by, proto = fast.groups()
        ipm = _BRACKETED.search(comment)
        if ipm is not None and _ip(ipm.group(1)) is not None and "helo" not in comment.lower():
            rec.has_from = True
            rec.helo = helo.rstrip(".") if helo.lower() != "unknown" else None
            rec.client_ip = _ip(ipm.group(1))
            before = comment[: ipm.start()].split()
            if before and _ip(before[-1]) is None and "=" not in before[-1]:
                rec.rdns = before[-1].rstrip(".")
            rec.by = by.rstrip(".").lower()
            rec.protocol = proto
            return rec
    clauses: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for kind, tok in scan(main):
        if kind == "word" and tok.lower() in _KEYWORDS and tok.lower() not in clauses:
            current = clauses.setdefault(tok.lower(), [])
            continue
        if current is not None:
            current.append((kind, tok))
    frm = clauses.get("from")
    if frm is not None:
        rec.has_from = True
        words = []
        literal: list[str] = []
        comments = []
        in_literal = False
        for fkind, ftok in frm:
            if fkind == "special" and ftok == "[":
                in_literal = True
            elif fkind == "special" and ftok == "]":
                in_literal = False
            elif in_literal:
                literal.append(ftok)
            elif fkind == "word":
                words.append(ftok)
            elif fkind == "comment":
                comments.append(ftok)
        text = " ".join(comments)
        helo_m = _HELO_IN_COMMENT.search(text)
        first = words[0] if words else None
        literal_ip = _ip("".join(literal)) if literal else None
        if helo_m:
            rec.helo = helo_m.group(1).rstrip(".")
        elif first is not None and first.lower() != "unknown":
            rec.helo = first.rstrip(".")
        elif literal and not first:
            rec.helo = "[" + "".join(literal) + "]"
        for bm in _BRACKETED.finditer(text):
            ip = _ip(bm.group(1))
            if ip:
                rec.client_ip = ip
                before = text[: bm.start()].split()
                if before and _ip(before[-1]) is None and "=" not in before[-1]:
                    rec.rdns = before[-1].rstrip(".")
                break
        if rec.client_ip is None:
            for word in re.split(r"[\s()]+", text):
                ip = _ip(word)
                if ip:
                    rec.client_ip = ip
                    break
        if rec.client_ip is None:
            rec.client_ip = literal_ip
    by = clauses.get("by")
    if by:
        # the host is the first run of words and colons (an IPv6 address is split at the colons)
        parts: list[str] = []
        for k, t in by:
            if k == "word" or (k == "special" and t == ":" and parts):
                parts.append(t)
            else:
                break
        if parts:
            rec.by = "".join(parts).rstrip(".").lower()
    with_ = clauses.get("with")
    if with_:
        rec.protocol = next((t for k, t in with_ if k == "word"), None)
    return rec


def host_matches(host: str | None, pattern: str) -> bool:
    """``--trusted-receiver`` matching: the exact host, or any host under ``.suffix``/``*.suffix``."""
    if not host:
        return False
    h = host.lower().rstrip(".")
    p = pattern.lower().rstrip(".")
    if p.startswith("*."):
        p = p[1:]
    if p.startswith("."):
        return h.endswith(p)
    return h == p


def received_fields(block: HeaderBlock) -> list[Received]:
    values = block.get_all("Received")[:MAX_TRACE_FIELDS]
    return [parse_received(v, i) for i, v in enumerate(values)]


def receiving_hop(
    received: Sequence[Received], trusted: str | None
) -> tuple[Received | None, list[Problem]]:
    """The Received field the receiving system wrote.

    With ``trusted``: the topmost whose ``by`` host matches it. Without: the topmost, except that
    fields with no ``from`` clause at all (hops inside the receiving system that took the
    message from no network peer, such as Gmail's ``by 2002:... with SMTP id``) are passed over.
    """
    problems: list[Problem] = []
    if not received:
        problems.append(
            Problem("envelope.no_received", "info", "the message has no Received field")
        )
        return None, problems
    if trusted:
        for r in received:
            if host_matches(r.by, trusted):
                return r, problems
        problems.append(
            Problem(
                "envelope.no_trusted_received",
                "info",
                f"no Received field was written by {trusted} (--trusted-receiver)",
            )
        )
        return None, problems
    for r in received:
        if r.has_from:
            if r.index:
                problems.append(
                    Problem(
                        "envelope.skipped_local_hops",
                        "info",
                        f"the top {r.index} Received field(s) have no from clause; using "
                        f"Received #{r.index}",
                    )
                )
            return r, problems
    return received[0], problems
