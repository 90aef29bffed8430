"""The one seam between bulkauth and a DNS source.

A backend answers a single question once: no cache, no retries, no timeout of its own beyond
what its transport needs. Everything else lives in the Resolver above it, so every backend gets
it for free. A backend never raises for DNS or network failures: it maps them to an Rcode here,
at the boundary, so checks only ever see values.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Protocol

from bulkauth.core.common.model import Answer, Query


class Backend(Protocol):
    #: short name shown in summaries ("zones", "aiodns", "udp")
    name: str

    async def query(self, q: Query) -> Answer:
        """Answer one question. Must not raise for DNS or network failures."""
        ...

    async def aclose(self) -> None: ...


class Started(Protocol):
    def cancel(self) -> None:
        """Forget the question (its time ran out, or its asker went away): ``done`` is not
        called for it any more."""
        ...


class StartingBackend(Backend, Protocol):
    """A backend that can also be asked without a coroutine: ``start`` sends the question and
    the transport calls ``done`` with its Answer (from its reader, so done must not block or
    raise). What the Resolver uses for a round of questions: a coroutine and an await per
    question cost a third of its CPU per query (bench/README.md, issue 17 item 2a)."""

    def start(self, q: Query, done: Callable[[Answer], None]) -> Started | Answer:
        """The question under way, or its Answer at once (never raises for DNS or network
        failures, as ``query``); ``done`` is then not called."""
        ...


def parse_nameserver(spec: str, default_port: int = 53) -> tuple[str, int]:
    """Parse ``HOST[:PORT]``, ``[v6]:PORT`` or a bare IPv6 address."""
    spec = spec.strip()
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else default_port
        return host, port
    if spec.count(":") == 1:
        host, port_s = spec.split(":")
        return host, int(port_s)
    return spec, default_port


def check_nameserver(spec: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """``HOST[:PORT]`` as an IP address and a port, or ValueError saying what is wanted."""
    try:
        host, port = parse_nameserver(spec)
    except ValueError:  # int() of the port: say what is wanted, not what int() thinks
        raise ValueError(f"nameserver {spec!r}: give an IP address and a numeric port") from None
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"nameserver {spec!r}: give an IP address, not a host name") from None
    if not 0 < port < 65536:
        raise ValueError(f"nameserver {spec!r}: port out of range")
    return addr, port
