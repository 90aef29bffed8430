"""The probes of one run: TLS contexts and trust roots built once, a global rate of new
connections (``--probe-rate``), a bound on connections to one host at once, and each MX host's
STARTTLS result kept for the run, so that hosted mail shared by thousands of domains is
probed once (two domains asking at the same moment share one connection)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from cryptography.x509.verification import Store

from bulkauth.core.common.cache import TtlCache
from bulkauth.core.transport.certs import load_roots
from bulkauth.core.transport.mta_sts_policy import Fetch
from bulkauth.core.transport.starttls import TlsObservation
from bulkauth.dns.limits import RateLimiter
from bulkauth.net.https import fetch_policy
from bulkauth.net.smtp import probe_starttls, unverified_context

T = TypeVar("T")

PROBES = ("mta-sts", "starttls", "dane")
#: results kept for the run; a run over more distinct MX hosts probes the oldest again
MAX_CACHED = 50_000
RUN_TTL = 7 * 86_400.0


@dataclass(slots=True)
class ProbeOptions:
    """What `domains --probe ...` asked for."""

    probes: tuple[str, ...] = ()
    smtp_port: int = 25
    https_port: int = 443
    #: new connections per second over the run (0: unlimited)
    rate: float = 50.0
    per_host: int = 2
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    #: PEM file of trusted roots (default: certifi's bundle)
    ca_file: str | None = None
    ehlo_name: str = "bulkauth.invalid"
    #: --dnssec: report each answer's AD bit (needs a validating resolver)
    dnssec: bool = False


@dataclass(slots=True)
class ProbeStats:
    connections: int = 0
    cache_hits: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class Prober:
    def __init__(self, options: ProbeOptions) -> None:
        self.options = options
        self.stats = ProbeStats()
        path = options.ca_file
        if path is None:
            import certifi

            path = certifi.where()
        with open(path, "rb") as f:
            pem = f.read()
        self.roots: Store = load_roots(pem)
        self._https = ssl.create_default_context(cadata=pem.decode("ascii", "replace"))
        self._smtp = unverified_context()
        self._rate = RateLimiter(options.rate)
        self._per_host: dict[str, asyncio.Semaphore] = {}
        self._done: TtlCache[tuple[str, str, int], TlsObservation] = TtlCache(MAX_CACHED)
        self._pending: dict[tuple[str, str, int], asyncio.Future[TlsObservation]] = {}

    async def _connect(self, host: str, kind: str, work: Callable[[], Awaitable[T]]) -> T:
        gate = self._per_host.get(host)
        if gate is None:
            gate = self._per_host[host] = asyncio.Semaphore(self.options.per_host)
        async with gate:
            await self._rate.acquire()
            self.stats.connections += 1
            self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
            return await work()

    async def starttls(self, host: str, address: str) -> TlsObservation:
        """MX ``host`` at ``address``: once per run, shared by every domain using it."""
        o = self.options
        key = (host, address, o.smtp_port)
        done = self._done.get(key)
        if done is not None:
            self.stats.cache_hits += 1
            return done
        pending = self._pending.get(key)
        if pending is not None:
            self.stats.cache_hits += 1
            return await asyncio.shield(pending)
        fut: asyncio.Future[TlsObservation] = asyncio.get_running_loop().create_future()
        self._pending[key] = fut
        try:
            seen = await self._connect(
                host,
                "smtp",
                lambda: probe_starttls(
                    host,
                    address,
                    o.smtp_port,
                    o.ehlo_name,
                    o.connect_timeout,
                    o.read_timeout,
                    self._smtp,
                ),
            )
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: joiners re-raise it, nobody logs it as lost
            raise
        finally:
            del self._pending[key]
        self._done.put(key, seen, RUN_TTL)
        fut.set_result(seen)
        return seen

    async def policy(self, url: str, host: str, address: str) -> Fetch:
        o = self.options
        return await self._connect(
            host,
            "https",
            lambda: fetch_policy(
                url,
                host,
                address,
                o.https_port,
                "/.well-known/mta-sts.txt",
                self._https,
                o.connect_timeout,
                o.read_timeout,
            ),
        )
