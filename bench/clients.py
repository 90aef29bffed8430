"""DNS client throughput, one client per process: ``python -m bench.clients CLIENT QUERIES``.

Clients (all on uvloop, ``--inflight`` queries outstanding, default 500):

- ``raw-aiodns``: aiodns.DNSResolver.query_dns straight, the way most Python tools use it;
- ``raw-udp``: bulkauth's UdpBackend.query straight;
- ``resolver-aiodns`` / ``resolver-udp``: bulkauth's whole Resolver (cache on, single-flight,
  limits, timeouts) over the AiodnsBackend / UdpBackend.

The workload is the synthetic query list (each name once, in a seeded random order). A run
makes passes over it until ``--seconds`` are up, with a fresh client for each pass: c-ares
and the Resolver cache answers per client, and a repeated name would measure the cache.
Prints one JSON object: queries/s, the rcodes seen, failures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

CLIENTS = ("raw-aiodns", "raw-udp", "resolver-aiodns", "resolver-udp")


def load_queries(path: Path, seed: int = 7, limit: int = 0) -> list[tuple[str, str]]:
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                out.append((parts[0], parts[1]))
    random.Random(seed).shuffle(out)
    return out[:limit] if limit else out


Ask = Callable[[str, str], Awaitable[str]]


async def _make(client: str, nameserver: str) -> tuple[Ask, Callable[[], Awaitable[None]]]:
    """A fresh client: (ask(name, type) -> rcode name, close)."""
    from bulkauth.core.common.model import Query, RType

    if client == "raw-aiodns":
        import aiodns
        import pycares

        resolver = aiodns.DNSResolver(
            nameservers=[nameserver],
            timeout=3.0,
            tries=2,
            flags=pycares.ARES_FLAG_EDNS | pycares.ARES_FLAG_NOCHECKRESP,
        )

        async def ask_aiodns(name: str, rtype: str) -> str:
            try:
                await resolver.query_dns(name, rtype)
                return "NOERROR"
            except aiodns.error.DNSError as exc:
                code = exc.args[0] if exc.args else -1
                return pycares.errno.errorcode.get(code, str(code))

        async def close_aiodns() -> None:
            await resolver.close()

        return ask_aiodns, close_aiodns

    if client == "raw-udp":
        from bulkauth.dns.backends.udp import UdpBackend

        udp = UdpBackend([nameserver])

        async def ask_udp(name: str, rtype: str) -> str:
            return (await udp.query(Query(name, RType[rtype]))).rcode.value

        return ask_udp, udp.aclose

    from bulkauth.dns.resolver import Resolver, ResolverConfig

    backend: Any
    if client == "resolver-aiodns":
        from bulkauth.dns.backends.aiodns import AiodnsBackend

        backend = AiodnsBackend([nameserver])
    elif client == "resolver-udp":
        from bulkauth.dns.backends.udp import UdpBackend

        backend = UdpBackend([nameserver])
    else:
        raise SystemExit(f"unknown client {client!r}; choose from {', '.join(CLIENTS)}")
    res = Resolver(backend, ResolverConfig(timeout=3.0, retries=2, concurrency=500))

    async def ask_res(name: str, rtype: str) -> str:
        return (await res.resolve(Query(name, RType[rtype]))).rcode.value

    return ask_res, res.aclose


async def measure(
    client: str, queries: list[tuple[str, str]], nameserver: str, seconds: float, inflight: int
) -> dict[str, Any]:
    rcodes: Counter[str] = Counter()
    done = 0
    passes = 0
    # imports (and dnspython's, which the wire parser loads for rare types) before the clock
    ask, close = await _make(client, nameserver)
    await ask("warm-up.invalid", "TXT")
    await ask("warm-up.invalid", "MX")
    await close()
    started = time.perf_counter()
    cpu_started = time.process_time()
    deadline = started + seconds
    stop = False
    while not stop:
        passes += 1
        ask, close = await _make(client, nameserver)
        it = iter(queries)

        async def worker(it: Iterator[tuple[str, str]] = it, ask: Ask = ask) -> None:
            nonlocal done, stop
            for name, rtype in it:
                rcodes[await ask(name, rtype)] += 1
                done += 1
                if stop:
                    return
                if done % 64 == 0 and time.perf_counter() >= deadline:
                    stop = True
                    return

        await asyncio.gather(*(worker() for _ in range(inflight)))
        await close()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    ok = sum(rcodes[c] for c in ("NOERROR", "NXDOMAIN", "ARES_ENOTFOUND", "ARES_ENODATA"))
    return {
        "client": client,
        "qps": round(done / elapsed, 1),
        "queries": done,
        "seconds": round(elapsed, 2),
        # this process's CPU per query: steadier than q/s on a shared machine, and what the
        # client costs apart from the server's share of the cores
        "cpu_us_per_query": round(cpu / done * 1e6, 2) if done else None,
        "passes": passes,
        "inflight": inflight,
        "failures": done - ok,
        "rcodes": dict(rcodes.most_common()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("client", choices=CLIENTS)
    p.add_argument("queries", type=Path)
    p.add_argument("--nameserver", default="127.0.0.20")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--inflight", type=int, default=500)
    p.add_argument("--limit", type=int, default=0, help="use only the first N queries")
    p.add_argument("--profile", type=Path, help="write a cProfile of the run here")
    a = p.parse_args(argv)
    import uvloop

    from bulkauth.pipeline.signals import tune_gc

    tune_gc()  # as the CLI does, for every client alike
    queries = load_queries(a.queries, limit=a.limit)
    coro = measure(a.client, queries, a.nameserver, a.seconds, a.inflight)
    if a.profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        result = uvloop.run(coro)
        prof.disable()
        prof.dump_stats(a.profile)
    else:
        result = uvloop.run(coro)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
