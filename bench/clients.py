"""DNS client throughput, one client per process: ``python -m bench.clients CLIENT QUERIES``.

Clients (all on uvloop, ``--inflight`` queries outstanding, default 500):

- ``raw-aiodns``: aiodns.DNSResolver.query_dns straight, the way most Python tools use it;
- ``raw-udp``: bulkauth's UdpBackend.query straight;
- ``resolver-aiodns`` / ``resolver-udp``: bulkauth's whole Resolver (cache on, single-flight,
  limits, timeouts) over the AiodnsBackend / UdpBackend, asked as ``bulkauth domains`` asks
  it: ``Resolver.resolve_many`` on rounds, 250 rounds at a time (the domain pool's window at
  ``--concurrency 500``, pipeline/jobs.py), the rounds' sizes drawn from those of a full audit
  (ROUND_SIZES), the in-flight limit 500;
- ``resolver-udp-each``: the same Resolver asked ``resolve()`` one question per task, 500
  tasks: the figure before issue 17 item 2a, and what a caller outside a round pays.

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
from itertools import islice
from pathlib import Path
from typing import Any

CLIENTS = ("raw-aiodns", "raw-udp", "resolver-aiodns", "resolver-udp", "resolver-udp-each")

#: (questions not in the cache, rounds) of a full audit: ``bulkauth domains`` over the quick
#: world's 2,155 lines with --zones, resolve_many instrumented (2026-12-06). 80% of the
#: questions come in rounds of 54-69 (DKIM discovery), 17% in rounds of 8 (the first round)
ROUND_SIZES = (
    (1, 88), (2, 297), (3, 45), (4, 133), (5, 54), (6, 11), (7, 4), (8, 2065), (9, 88),
    (10, 8), (11, 7), (12, 7), (54, 341), (55, 124), (56, 222), (57, 95), (58, 362), (59, 130),
    (60, 13), (61, 9), (62, 7), (64, 16), (65, 13), (66, 9), (67, 3), (68, 2), (69, 2),
)  # fmt: skip
#: rounds asked at once: the domain pool's window at --concurrency 500 (pipeline/jobs.py)
ROUNDS_IN_FLIGHT = 250


def round_sizes(seed: int = 7) -> Iterator[int]:
    """Round sizes in a full audit's proportions, seeded."""
    rng = random.Random(seed)
    sizes, weights = zip(*ROUND_SIZES, strict=True)
    while True:
        yield from rng.choices(sizes, weights, k=1024)


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
#: a round of (name, type) -> their rcodes
AskRound = Callable[[list[tuple[str, str]]], Awaitable[list[str]]]


async def _make(
    client: str, nameserver: str
) -> tuple[Ask, AskRound | None, Callable[[], Awaitable[None]]]:
    """A fresh client: (ask(name, type) -> rcode name, ask a round or None, close)."""
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

        return ask_aiodns, None, close_aiodns

    if client == "raw-udp":
        from bulkauth.dns.backends.udp import UdpBackend

        udp = UdpBackend([nameserver])

        async def ask_udp(name: str, rtype: str) -> str:
            return (await udp.query(Query(name, RType[rtype]))).rcode.value

        return ask_udp, None, udp.aclose

    from bulkauth.dns.resolver import Resolver, ResolverConfig

    backend: Any
    if client == "resolver-aiodns":
        from bulkauth.dns.backends.aiodns import AiodnsBackend

        backend = AiodnsBackend([nameserver])
    elif client in ("resolver-udp", "resolver-udp-each"):
        from bulkauth.dns.backends.udp import UdpBackend

        backend = UdpBackend([nameserver])
    else:
        raise SystemExit(f"unknown client {client!r}; choose from {', '.join(CLIENTS)}")
    res = Resolver(backend, ResolverConfig(timeout=3.0, retries=2, concurrency=500))

    async def ask_res(name: str, rtype: str) -> str:
        return (await res.resolve(Query(name, RType[rtype]))).rcode.value

    async def ask_round(questions: list[tuple[str, str]]) -> list[str]:
        answers = await res.resolve_many([Query(n, RType[t]) for n, t in questions])
        return [a.rcode.value for a in answers]

    return ask_res, None if client == "resolver-udp-each" else ask_round, res.aclose


async def measure(
    client: str, queries: list[tuple[str, str]], nameserver: str, seconds: float, inflight: int
) -> dict[str, Any]:
    rcodes: Counter[str] = Counter()
    sizes = round_sizes()
    done = 0
    passes = 0
    # imports (and dnspython's, which the wire parser loads for rare types) before the clock
    ask, _, close = await _make(client, nameserver)
    await ask("warm-up.invalid", "TXT")
    await ask("warm-up.invalid", "MX")
    await close()
    started = time.perf_counter()
    cpu_started = time.process_time()
    deadline = started + seconds
    stop = False
    while not stop:
        passes += 1
        ask, ask_round, close = await _make(client, nameserver)
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

        async def rounds(
            it: Iterator[tuple[str, str]] = it, ask_round: AskRound | None = ask_round
        ) -> None:
            nonlocal done, stop
            assert ask_round is not None
            while not stop:
                batch = list(islice(it, next(sizes)))
                if not batch:
                    return
                for rcode in await ask_round(batch):
                    rcodes[rcode] += 1
                done += len(batch)
                if time.perf_counter() >= deadline:
                    stop = True

        if ask_round is None:
            await asyncio.gather(*(worker() for _ in range(inflight)))
        else:
            await asyncio.gather(*(rounds() for _ in range(ROUNDS_IN_FLIGHT)))
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
