"""A generated world of domains for the reliability tests: zone text, the domain list, and helpers.

Every name lives under ``.test`` (RFC 2606: reserved, never delegated), in one zone whose origin
is ``test`` so that each ``dNNNNN.test`` is its own organisational domain. The mix is what a
client list looks like: provider includes shared by many domains (cache hits, single-flight),
own ranges with ``mx``/``a`` terms, no SPF, no DMARC, a DKIM key now and then (which makes the
audit probe every built-in selector), and names that do not exist. It is deterministic, so two
runs over it must produce byte-identical output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

ORIGIN = "test"
#: an RSA-2048 public key (the sample's; the private half was never kept)
RSA2048 = (
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAhKto8wH9YL7P2QCraqV9+5Y4/NGHwSMvuxlcKIiNwPuW"
    "3m5JCn/0cO7BKm85pN5WoKqoPTgAaUyssf8WZQBwQKT+nsjVFtn14bZEr/hhK2M5LRpAbfIiapBB0ddYZOs5Kbc5"
    "8+XPCGip9HkdVbRvJQAC0WV1DQihGlaKZ6XVKlE/6pkmPLVgD9PQGbnowqWD+KJ+qSqVs5jOaeu5r4d4JOXoKX8O"
    "nyVJEedrgnTZpCsSoJVzON9j6eVGw90wVAZGJ5pmhffxJX8gHkL4t5oMtahz9uWSII5aIIkSCBajmaXy4BdkKx4f"
    "UBtuTfzr4xzlsKFnVjvGa9yYwucP3oQbhwIDAQAB"
)


def _txt(value: str) -> str:
    parts = [value[i : i + 255] for i in range(0, len(value), 255)]
    return " ".join(f'"{p}"' for p in parts)


def domain(i: int) -> str:
    return f"d{i:05d}.{ORIGIN}"


def world(n: int, dkim_every: int = 64, lean: bool = False) -> tuple[str, list[str]]:
    """Zone text (origin ``test``, relative names) and the n domain names, in list order.

    ``lean``: about half the records (no MX hosts of their own, fewer MX records), for tests
    that start many processes, each of which parses the zone file again.
    """
    lines = [
        "@ 3600 IN SOA ns1.test. hostmaster.test. 1 7200 3600 1209600 300",
        "@ 3600 IN NS ns1.test.",
        '_spf.provider IN TXT "v=spf1 include:_nb.provider.test ip4:198.51.100.0/24 ~all"',
        '_nb.provider IN TXT "v=spf1 ip4:203.0.113.0/24 ~all"',
        "mx1.provider IN A 198.51.100.25",
        "mx2.provider IN A 198.51.100.26",
    ]
    names = []
    for i in range(n):
        d = f"d{i:05d}"
        names.append(f"{d}.{ORIGIN}")
        ip = f"192.0.2.{i % 250 + 1}"
        k = i % 8
        if dkim_every and i % dkim_every == 6:
            lines.append(f'{d} IN TXT "v=spf1 include:_spf.provider.test -all"')
            lines.append(f'_dmarc.{d} IN TXT "v=DMARC1; p=reject"')
            lines.append(f"selector1._domainkey.{d} IN TXT " + _txt("v=DKIM1; k=rsa; p=" + RSA2048))
        elif k in (0, 6):
            lines.append(f'{d} IN TXT "v=spf1 include:_spf.provider.test -all"')
            lines.append(f'_dmarc.{d} IN TXT "v=DMARC1; p=reject"')
            if not lean:
                lines.append(f"{d} IN MX 10 mx1.provider.test.")
        elif k == 1:
            lines.append(f'{d} IN TXT "v=spf1 include:_spf.provider.test ~all"')
            lines.append(f'_dmarc.{d} IN TXT "v=DMARC1; p=quarantine; rua=mailto:r@{d}.test"')
            if not lean:
                lines.append(f"{d} IN MX 10 mx2.provider.test.")
        elif k == 2 and lean:
            lines.append(f'{d} IN TXT "v=spf1 ip4:{ip} mx:mx1.provider.test -all"')
        elif k == 2:
            lines.append(f'{d} IN TXT "v=spf1 ip4:{ip} mx -all"')
            lines.append(f"{d} IN MX 10 mail.{d}")
            lines.append(f"mail.{d} IN A {ip}")
        elif k == 3:
            lines.append(f'{d} IN TXT "v=spf1 a -all"')
            lines.append(f"{d} IN A {ip}")
            if not lean:
                lines.append(f'_dmarc.{d} IN TXT "v=DMARC1; p=none"')
        elif k == 4:
            lines.append(f"{d} IN MX 10 mx1.provider.test.")
        elif k == 5:
            lines.append(f'{d} IN TXT "site-verification={i}"')
        # k == 7: the name does not exist
    return "\n".join(lines) + "\n", names


def write_world(
    directory: Path, n: int, dkim_every: int = 64, lean: bool = False
) -> tuple[Path, Path]:
    """Write ``zones/test.zone`` and ``domains.txt`` under ``directory``; return their paths."""
    text, names = world(n, dkim_every, lean)
    zones = directory / "zones"
    zones.mkdir(parents=True, exist_ok=True)
    (zones / "test.zone").write_text(f"$TTL 300\n$ORIGIN {ORIGIN}.\n" + text)
    listing = directory / "domains.txt"
    listing.write_text("\n".join(names) + "\n")
    return listing, zones


def records(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines()]


def whole_lines(data: bytes) -> bool:
    """Every line of an output file is complete: ends in a newline and is one JSON object."""
    if data and not data.endswith(b"\n"):
        return False
    try:
        return all(isinstance(orjson.loads(line), dict) for line in data.splitlines())
    except orjson.JSONDecodeError:
        return False


def run_domains_here(paths: list[str], config: Any) -> Any:
    """``run_domains`` in this process: its Outcome (``skipped``: what a resume skipped)."""
    from bulkauth.pipeline.domains import run_domains

    return run_domains(paths, config)
