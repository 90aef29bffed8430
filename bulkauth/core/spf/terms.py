"""ip4:/ip6: terms that can never match a sending host, and the term meant instead.

Two mistakes are common. A network written with host bits set under its prefix
(``ip4:234.5.6.78/24``, from a widely copied example record): receivers mask the address, so
the term means 234.5.6.0/24, which is rarely what the author had in mind and always worth
writing out. And ranges no mail can come from on the internet: multicast, loopback, "this
network", link-local and the reserved 240/4 never send mail anywhere; private (RFC 1918, CGNAT,
unique-local), benchmarking and documentation ranges cannot reach a receiver across the
internet, so they are flagged in public domains only: a record under a special-use name
(RFC 2606 / RFC 6761: .example, example.com, .test, .invalid, .localhost) or an internal one (.internal,
.local, home.arpa) may well mean them.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

from bulkauth.core.spf.record import Mechanism

#: ranges no sending host is ever in
NEVER: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "'this network' (RFC 791)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved (RFC 1112)"),
    ("::/128", "the unspecified address"),
    ("::1/128", "loopback"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
)
#: ranges no host on the internet sends from: wrong in a public domain's record
NOT_PUBLIC: tuple[tuple[str, str], ...] = (
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("100.64.0.0/10", "shared address space (RFC 6598, carrier-grade NAT)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("192.0.2.0/24", "documentation (RFC 5737)"),
    ("198.51.100.0/24", "documentation (RFC 5737)"),
    ("203.0.113.0/24", "documentation (RFC 5737)"),
    ("fc00::/7", "unique-local (RFC 4193)"),
    ("2001:db8::/32", "documentation (RFC 3849)"),
)
NON_PUBLIC_SUFFIXES = (
    "example",
    "example.com",
    "example.net",
    "example.org",
    "test",
    "invalid",
    "localhost",
    "local",
    "internal",
    "home.arpa",
)


def _ranges(blocks: tuple[tuple[str, str], ...]) -> list[tuple[int, int, int, str]]:
    """(IP version, first address, last address, why) of each block, as integers."""
    nets = [(ipaddress.ip_network(n), why) for n, why in blocks]
    return [(n.version, int(n.network_address), int(n.broadcast_address), w) for n, w in nets]


_NEVER = _ranges(NEVER)
_NOT_PUBLIC = _ranges(NOT_PUBLIC)


def is_public_domain(domain: str) -> bool:
    """False under special-use and internal names, where any range may be meant."""
    d = domain.rstrip(".").lower()
    return not any(d == s or d.endswith("." + s) for s in NON_PUBLIC_SUFFIXES)


@dataclass(frozen=True, slots=True)
class TermFinding:
    code: str
    message: str
    #: the term meant instead; None when the term should go
    corrected: str | None


def check_ip_term(m: Mechanism, public: bool) -> tuple[TermFinding, ...]:
    """What is wrong with one ip4/ip6 term (nothing for other kinds)."""
    if m.kind != "ip4" and m.kind != "ip6":
        return ()
    return _ip_findings(m.text, m.kind, m.qualifier, m.prefix, public)


@functools.lru_cache(maxsize=8192)
def _ip_findings(
    text: str, kind: str, qualifier: str, prefix: int, public: bool
) -> tuple[TermFinding, ...]:
    """Remembered: the same provider netblocks recur under thousands of domains, and this
    check was a fifth of the CPU of an audit in checkdmarc's scope (bench/README.md). Ranges
    are compared as integers; ipaddress objects are made only for a finding's message."""
    written = text.split(":", 1)[1].split("/", 1)[0] if ":" in text else ""
    try:
        address = ipaddress.ip_address(written)
    except ValueError:
        return ()
    bits = address.max_prefixlen
    if not 0 <= prefix <= bits:
        return ()
    value = int(address)
    host = (1 << (bits - prefix)) - 1
    first, last = value & ~host, (value & ~host) | host
    out: list[TermFinding] = []
    if value != first:
        net = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
        qual = "" if qualifier == "+" else qualifier
        corrected = f"{qual}{kind}:{net.network_address}" + (f"/{prefix}" if prefix != bits else "")
        out.append(
            TermFinding(
                "spf.ip_host_bits",
                f"{text!r} has host bits set under its /{prefix} prefix: receivers read "
                f"it as {net} (write {corrected!r}, or the prefix you meant)",
                corrected,
            )
        )
    for version, lo, hi, why in _NEVER + (_NOT_PUBLIC if public else []):
        if version == address.version and lo <= first and last <= hi:
            net = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
            out.append(
                TermFinding(
                    "spf.ip_not_public",
                    f"{text!r}: {net} is {why}: no mail to other domains comes from it, "
                    "so the term never matches",
                    None,
                )
            )
            break
    return tuple(out)
