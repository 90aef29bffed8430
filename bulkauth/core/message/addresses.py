"""Addresses of a stored message: the RFC5322.From domains (DMARC) and the SMTP envelope.

The envelope is what the receiving system saw: MAIL FROM from ``Return-Path`` (else its
Authentication-Results or Received ``envelope-from``), the client IP and HELO from the
``Received`` field it wrote (``bulkauth.core.message.received``).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from bulkauth.core.common.model import Problem
from bulkauth.core.common.psl import to_ascii
from bulkauth.core.message.auth_results import AuthResults
from bulkauth.core.message.headers import HeaderBlock, Source, split_top_level, strip_comments
from bulkauth.core.message.received import Received, receiving_hop


@dataclass(frozen=True, slots=True)
class Mailbox:
    address: str  # local@domain as written (comments removed)
    domain: str | None  # A-label, lower case; None when the domain part is unusable


def mail_domain(address: str) -> str | None:
    """The A-label domain of ``local@domain`` (None for a domain literal or junk)."""
    _, at, dom = address.rpartition("@")
    if not at:
        return None
    dom = dom.strip().rstrip(".")
    if not dom or dom.startswith("[") or " " in dom:
        return None
    return to_ascii(dom)


def _addr_spec(mailbox: str) -> str | None:
    """The addr-spec of one mailbox: inside the last <...>, else the text without comments."""
    text = mailbox
    lt = text.rfind("<")
    if lt != -1:
        gt = text.find(">", lt)
        inner = text[lt + 1 : gt if gt != -1 else len(text)]
        inner = inner.rsplit(":", 1)[-1] if inner.startswith("@") else inner  # obs-route
        spec = strip_comments(inner).replace(" ", "")
    else:
        spec = strip_comments(text).replace(" ", "")
    return spec or None


def parse_mailbox_list(value: str) -> list[Mailbox]:
    """The mailboxes of a From-like field; groups (``name: a@b, c@d;``) are flattened."""
    out: list[Mailbox] = []
    for part in split_top_level(value, ","):
        part = part.strip()
        if not part:
            continue
        # group syntax: "display-name:" prefix and ";" end, outside quotes and brackets
        colon = split_top_level(part, ":")
        if len(colon) > 1 and "@" not in colon[0] and "<" not in colon[0]:
            part = ":".join(colon[1:])
        part = part.strip().rstrip(";").strip()
        if not part:
            continue
        spec = _addr_spec(part)
        if spec is None:
            continue
        out.append(Mailbox(spec, mail_domain(spec)))
    return out


@dataclass(slots=True)
class FromInfo:
    """The RFC5322.From field, as DMARC needs it (RFC 7489 6.6.1)."""

    fields: int
    mailboxes: list[Mailbox]
    #: the single author domain when there is exactly one usable one
    domain: str | None
    problem: Problem | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "addresses": [m.address for m in self.mailboxes],
            "domain": self.domain,
            "fields": self.fields,
        }


def author_domain(block: HeaderBlock) -> FromInfo:
    """The domain DMARC evaluates, or a problem saying why there is none."""
    values = block.get_all("From")
    if not values:
        return FromInfo(
            0, [], None, Problem("dmarc.no_from", "error", "the message has no From field")
        )
    boxes = [m for v in values for m in parse_mailbox_list(v)]
    if len(values) > 1:
        return FromInfo(
            len(values),
            boxes,
            None,
            Problem(
                "dmarc.multiple_from_fields",
                "error",
                f"the message has {len(values)} From fields; RFC 5322 allows one and DMARC "
                "receivers reject or ignore such mail (RFC 7489 6.6.1)",
            ),
        )
    if not boxes:
        return FromInfo(
            1, [], None, Problem("dmarc.from_syntax", "error", "the From field holds no address")
        )
    domains = {m.domain for m in boxes}
    if None in domains:
        bad = next(m.address for m in boxes if m.domain is None)
        return FromInfo(
            1,
            boxes,
            None,
            Problem(
                "dmarc.from_syntax", "error", f"no usable domain in the From address {bad[:80]!r}"
            ),
        )
    if len(domains) > 1:
        return FromInfo(
            1,
            boxes,
            None,
            Problem(
                "dmarc.multiple_from_domains",
                "error",
                f"the From field names {len(domains)} different domains; DMARC has no single "
                "author domain to evaluate (RFC 7489 6.6.1)",
            ),
        )
    return FromInfo(1, boxes, domains.pop())


def parse_path(value: str) -> str | None:
    """The address of a Return-Path (``<a@b>``, ``<>`` -> ``""``, or a bare address); None if junk."""
    text = value.strip()
    lt = text.find("<")
    if lt != -1:
        gt = text.find(">", lt)
        if gt == -1:
            return None
        inner = text[lt + 1 : gt]
        if inner.startswith("@"):  # obs-route "<@relay:user@host>"
            inner = inner.rsplit(":", 1)[-1]
        return strip_comments(inner).replace(" ", "")
    spec = strip_comments(text).replace(" ", "")
    return spec if "@" in spec else None


#: addresses of hops inside an organisation (RFC 1918, RFC 6598 shared, loopback, link-local,
#: RFC 4193 ULA); not ``is_private``, which also covers the documentation ranges
_INTERNAL_NETS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "::1/128",
        "fe80::/10",
        "fc00::/7",
    )
)


@functools.lru_cache(maxsize=4096)
def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip.version == n.version and ip in n for n in _INTERNAL_NETS)


@dataclass(slots=True)
class Envelope:
    """The SMTP envelope of the receiving system, and where each part was read."""

    mail_from: str | None = None  # "" is the null reverse-path
    mail_from_source: Source | None = None
    helo: str | None = None
    client_ip: str | None = None
    receiver: str | None = None
    received: Received | None = None
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "mail_from": self.mail_from,
            "mail_from_source": self.mail_from_source,
            "helo": self.helo,
            "client_ip": self.client_ip,
            "receiver": self.receiver,
            "received": self.received.to_dict() if self.received else None,
        }


def envelope_of(
    block: HeaderBlock,
    received: Sequence[Received],
    trusted: str | None,
    results: Sequence[AuthResults] = (),
) -> Envelope:
    """MAIL FROM, HELO and client IP as the receiving system recorded them."""
    hop, problems = receiving_hop(received, trusted)
    env = Envelope(received=hop, problems=problems)
    if hop is not None:
        env.helo, env.client_ip, env.receiver = hop.helo, hop.client_ip, hop.by
    paths = block.get_all("Return-Path")
    if paths:
        # the delivering MTA adds Return-Path on top; older ones below are from earlier hops
        parsed = parse_path(paths[0])
        if parsed is not None:
            env.mail_from, env.mail_from_source = parsed, "return-path"
        else:
            env.problems.append(
                Problem(
                    "envelope.return_path_syntax", "info", "the Return-Path field holds no address"
                )
            )
    if env.mail_from is None:
        for ar in results:
            for r in ar.results:
                v = r.props.get("smtp.mailfrom")
                if r.method == "spf" and v is not None:
                    env.mail_from, env.mail_from_source = v.strip("<>"), "authentication-results"
                    break
            if env.mail_from is not None:
                break
    if env.mail_from is None and hop is not None and hop.envelope_from is not None:
        env.mail_from, env.mail_from_source = hop.envelope_from, "received-envelope-from"
    if env.client_ip is not None and _internal(env.client_ip):
        env.problems.append(
            Problem(
                "envelope.internal_client",
                "warning",
                f"the receiving hop's client {env.client_ip} is not a public address: "
                "probably a hop inside the receiving system; name the border MX with "
                "--trusted-receiver",
            )
        )
    return env
