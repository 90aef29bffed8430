"""DNS faults over real sockets: `bulkauth domains` against the programmable loopback server.

Each run audits a generated world of domains (tests/worldgen.py) through the whole pipeline
(``run_domains``: sources -> ordered pool -> Resolver -> live backend -> NDJSON file) while the
server misbehaves. The reference is the same world answered from the zone file, with no
network at all. Whatever the fault, the run must finish, write one record per domain, and turn
every failure into ``indeterminate`` with the failing name and rcode — never ``missing``, never a
wrong ``valid``. Retries are counted at the server, so they are bounded by what went over the
wire, not by what the client believes it sent.

Timeouts are 0.25 s here: short enough for quick tests, and for aiodns it also means one c-ares
try per attempt (``tries_for(0.25) == 1``), so every packet the server sees is one Resolver
attempt and the counts below are exact.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkauth.core.common.model import MX, Answer, Query, Rcode, RType, State
from bulkauth.core.common.step import run_sync
from bulkauth.core.mx import audit_mx
from bulkauth.dns.resolver import Resolver, ResolverConfig
from bulkauth.pipeline.config import RunConfig, make_backend
from tests.dnsserver import DnsServer, FaultKind
from tests.worldgen import domain, records, run_domains_here, world

N = 40
TEXT, NAMES = world(N, dkim_every=32)
SECTIONS = ("spf", "dmarc", "dkim", "mx", "mta_sts", "tls_rpt", "bimi")
BACKENDS = ("udp", "aiodns")
TIMEOUT = 0.25
RETRIES = 1
Record = dict[str, Any]

#: questions that fail on every try, and the section each one must leave indeterminate
TARGETS = {
    (domain(0), "TXT"): (domain(0), "spf"),  # the apex SPF record
    (f"_dmarc.{domain(1)}", "TXT"): (domain(1), "dmarc"),
    (domain(2), "MX"): (domain(2), "mx"),  # also the SPF record's `mx` term
}
#: how many checks ask each target on their own (a failure is not cached, and a second asker
#: shares the first one's query only while it is still in flight)
ASKERS = {(domain(2), "MX"): 2}


@dataclass(frozen=True)
class Run:
    records: list[Record]
    elapsed: float


@pytest.fixture(scope="module")
def world_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("faultworld")
    listing = d / "domains.txt"
    listing.write_text("\n".join(NAMES) + "\n")
    zone = d / "test.zone"
    zone.write_text("$TTL 300\n$ORIGIN test.\n" + TEXT)
    return listing, zone


def run(config: RunConfig, listing: Path) -> Run:
    assert config.output
    t0 = time.monotonic()
    config.workers = 1  # the server's counts and the limits are per process
    run_domains_here([str(listing)], config)
    return Run(records(Path(config.output).read_bytes()), time.monotonic() - t0)


def live_config(
    out: Path,
    nameservers: list[str],
    backend: str,
    *,
    qps: float = 0.0,
    budget: int = 100_000,
    retries: int = RETRIES,
    timeout: float = TIMEOUT,
) -> RunConfig:
    return RunConfig(
        nameservers=nameservers,
        backend=backend,
        output=str(out),
        progress=False,
        resolver=ResolverConfig(
            timeout=timeout, retries=retries, concurrency=64, qps=qps, retry_budget=budget
        ),
    )


@pytest.fixture(scope="module")
def clean(world_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> list[Record]:
    """The reference: the world answered from its zone file, no sockets."""
    listing, zone = world_files
    out = tmp_path_factory.mktemp("clean") / "clean.ndjson"
    result = run(RunConfig(zones=str(zone), output=str(out), progress=False), listing)
    assert len(result.records) == N
    return result.records


@pytest.fixture
def server() -> Iterator[DnsServer]:
    with DnsServer(seed=7) as s:
        s.add_zone_text("test", TEXT)
        yield s


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where two records first differ, for assertion messages."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            d = first_difference(a.get(k), b.get(k), f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r:.300} != {b!r:.300}"


def assert_same_records(got: list[Record], want: list[Record]) -> None:
    """Equal records, but for ``source`` (the list's path)."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        g, w = {**g, "source": ""}, {**w, "source": ""}
        assert g == w, first_difference(g, w, g["input"])


def check_against_clean(
    faulted: list[Record], clean: list[Record], rcodes: set[str]
) -> dict[str, int]:
    """Every item has its record; a section differs from the clean run only by being
    indeterminate, with the failing name, type and an expected rcode. Returns counts by
    section/rcode for the report."""
    assert [(r["line"], r["input"], r["status"]) for r in faulted] == [
        (r["line"], r["input"], r["status"]) for r in clean
    ]
    seen: dict[str, int] = {}
    for got, want in zip(faulted, clean, strict=True):
        for s in SECTIONS:
            g, w = got[s], want[s]
            if g["state"] == w["state"]:
                continue
            assert g["state"] == "indeterminate", (got["input"], s, g["state"], w["state"])
            failure = g["dns_failure"]
            assert failure and failure["name"] and failure["type"], (got["input"], s, g)
            assert failure["rcode"] in rcodes, (got["input"], s, failure)
            key = f"{s}:{failure['rcode']}"
            seen[key] = seen.get(key, 0) + 1
        if any(got[s]["state"] == "indeterminate" for s in ("spf", "dmarc", "mx")):
            # an authoritative NXDOMAIN still says "nonexistent", whatever else failed
            verdict = got["posture"]["verdict"]
            assert (
                verdict == "indeterminate" or verdict == want["posture"]["verdict"] == "nonexistent"
            )
    return seen


def check_targets(faulted: list[Record], rcodes: set[str]) -> None:
    by_domain = {r["domain"]: r for r in faulted}
    for (name, rtype), (dom, section) in TARGETS.items():
        sec = by_domain[dom][section]
        assert sec["state"] == "indeterminate", (dom, section, sec)
        assert sec["dns_failure"]["name"] == name and sec["dns_failure"]["type"] == rtype
        assert sec["dns_failure"]["rcode"] in rcodes


def add_targets(server: DnsServer, kind: FaultKind, **kw: Any) -> None:
    for name, rtype in TARGETS:
        server.fault(kind, name=name, rtype=rtype, **kw)


# fault -> how to program it, and the rcodes each backend may report for it
FAULTS: dict[str, dict[str, set[str]]] = {
    # RFC 1035 7.2 leaves a lost datagram to the client: a timeout, then a retry
    "drop": {"udp": {"TIMEOUT"}, "aiodns": {"TIMEOUT"}},
    "servfail": {"udp": {"SERVFAIL"}, "aiodns": {"SERVFAIL"}},
    "slow": {"udp": {"TIMEOUT"}, "aiodns": {"TIMEOUT"}},
    "refused": {"udp": {"REFUSED"}, "aiodns": {"REFUSED"}},
    # TC=1 over UDP, and the TCP connection closed before any answer
    "truncate_tcp_closed": {"udp": {"ERROR"}, "aiodns": {"ERROR", "TIMEOUT"}},
    # our client ignores a reply it cannot parse and keeps waiting; c-ares gives up on it
    "garbage": {"udp": {"TIMEOUT"}, "aiodns": {"ERROR"}},
    # a reply under another ID is not an answer to the query (RFC 5452 9.1): keep waiting
    "bad_id": {"udp": {"TIMEOUT"}, "aiodns": {"TIMEOUT"}},
}


def program(server: DnsServer, fault: str) -> None:
    """Persistent faults on TARGETS; the two RFC-noise faults also hit 10% of everything."""
    if fault == "drop":
        add_targets(server, "drop")
        server.fault("drop", probability=0.1)
    elif fault == "servfail":
        add_targets(server, "servfail")
        server.fault("servfail", probability=0.1)
    elif fault == "slow":
        add_targets(server, "delay", delay=TIMEOUT * 4)
        server.fault("delay", name="_dmarc.*", delay=TIMEOUT * 4, probability=0.05)
    elif fault == "refused":
        add_targets(server, "refused")
    elif fault == "truncate_tcp_closed":
        add_targets(server, "truncate", transport="udp")
        add_targets(server, "tcp_close", transport="tcp")
    elif fault == "garbage":
        add_targets(server, "garbage")
    elif fault == "bad_id":
        add_targets(server, "bad_id")
    else:  # pragma: no cover - a typo in the parametrisation
        raise AssertionError(fault)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_matrix(
    fault: str,
    backend: str,
    server: DnsServer,
    clean: list[Record],
    world_files: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    listing, _ = world_files
    program(server, fault)
    result = run(live_config(tmp_path / "out.ndjson", [server.nameserver], backend), listing)
    rcodes = FAULTS[fault][backend]
    seen = check_against_clean(result.records, clean, rcodes)
    check_targets(result.records, rcodes)
    # retries are bounded: each asking of a failing question went over UDP 1 + RETRIES times
    server.settle()
    for name, rtype in TARGETS:
        udp = server.count(name, rtype, "udp")
        assert udp % (1 + RETRIES) == 0 and udp <= ASKERS.get((name, rtype), 1) * (1 + RETRIES), (
            name,
            rtype,
            udp,
        )
        assert server.count(name, rtype, "tcp") <= 2 * udp
    print(
        f"{fault}/{backend}: {seen}, {len(server.log)} queries at the server, {result.elapsed:.1f}s"
    )


def _closed_port() -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"127.0.0.1:{port}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dead", ["blackhole", "closed_port", "refuses", "servfails"])
def test_a_failing_nameserver_is_backed_off_and_the_other_carries_the_load(
    dead: str, backend: str, clean: list[Record], tmp_path: Path
) -> None:
    """``-n BAD -n GOOD``: a server that never answers (blackhole), a port with nothing behind
    it (ICMP port unreachable), a resolver that refuses us or SERVFAILs everything. Default
    retries. Nothing may be lost: every retry can go to the good server."""
    n = 24
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(NAMES[:n]) + "\n")
    with DnsServer() as good, DnsServer() as bad_server:
        good.add_zone_text("test", TEXT)
        bad_server.add_zone_text("test", TEXT)
        bad_server.fault({"refuses": "refused", "servfails": "servfail"}.get(dead, "drop"))  # type: ignore[arg-type]
        bad = _closed_port() if dead == "closed_port" else bad_server.nameserver
        config = live_config(tmp_path / "out.ndjson", [bad, good.nameserver], backend, retries=2)
        result = run(config, listing)
        to_bad, to_good = len(bad_server.log), len(good.log)
    # never a wrong verdict, whatever was lost
    lost = check_against_clean(
        result.records, clean[:n], {"TIMEOUT", "ERROR", "REFUSED", "SERVFAIL"}
    )
    # the bad server saw at most about one in-flight window, then was avoided
    avoided = to_bad <= config.resolver.concurrency + 4 and to_good >= 3 * to_bad
    assert not lost, lost
    assert avoided, (to_bad, to_good)
    # nothing was lost to the bad server: the retries went to the good one (and the live runs
    # give the very records of the zone-file run: the baseline of the matrix)
    assert_same_records(result.records, clean[:n])


def test_retry_budget_bounds_a_dead_resolver(
    world_files: tuple[Path, Path], tmp_path: Path
) -> None:
    """Everything times out: each question costs one try, plus retries until the run-wide
    budget is spent; after that, one try only. The run still writes every record."""
    budget = 12
    listing = tmp_path / "few.txt"
    listing.write_text("\n".join(NAMES[:4]) + "\n")
    with DnsServer() as hole:
        hole.fault("drop")
        # aiodns: the default backend
        config = live_config(
            tmp_path / "out.ndjson", [hole.nameserver], "aiodns", budget=budget, retries=5
        )
        result = run(config, listing)
        distinct = len(hole.counts)
        sent = len(hole.log)
    assert len(result.records) == 4
    assert all(r["spf"]["state"] == "indeterminate" for r in result.records)
    assert all(r["spf"]["dns_failure"]["rcode"] == "TIMEOUT" for r in result.records)
    # every distinct question once, and exactly `budget` retries on top (far fewer than
    # the 5 per question that --retries alone would allow)
    assert sent - distinct == budget, (sent, distinct)
    assert distinct * 5 > budget * 4
    details = [
        r[s]["dns_failure"]["detail"]
        for r in result.records
        for s in SECTIONS
        if r[s]["dns_failure"]
    ]
    assert any("retry budget exhausted" in d for d in details)


def max_rate(server: DnsServer, window: float = 1.0) -> int:
    """The most queries the server received within any `window` seconds."""
    times = sorted(s.at for s in server.log)
    best = j = 0
    for i, t in enumerate(times):
        while times[j] < t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


QPS = 300


def _qps_case(
    backend: str, timeout: float, world_files: tuple[Path, Path], tmp_path: Path
) -> tuple[int, int]:
    listing = tmp_path / "some.txt"
    listing.write_text("\n".join(NAMES[:24]) + "\n")
    with DnsServer(seed=3) as s:
        s.add_zone_text("test", TEXT)
        s.fault("drop", probability=0.3)
        config = live_config(
            tmp_path / "out.ndjson", [s.nameserver], backend, qps=QPS, timeout=timeout
        )
        result = run(config, listing)
        assert len(result.records) == 24
        return max_rate(s), len(s.log)


# the limiter spaces query starts exactly; the slack covers the server timestamping replies
# from another thread of this process (GIL scheduling bunches a few arrivals together)
QPS_SLACK = 1.1


def test_qps_limit_holds_under_retries_udp(world_files: tuple[Path, Path], tmp_path: Path) -> None:
    """30% of packets dropped: the retries go through the same limiter as first tries."""
    peak, total = _qps_case("udp", TIMEOUT, world_files, tmp_path)
    assert total > QPS  # enough traffic to fill more than one window
    assert peak <= QPS * QPS_SLACK, peak


def test_with_a_qps_limit_every_aiodns_packet_is_a_resolver_attempt() -> None:
    """A blackhole makes c-ares use every try it has; with --qps each must be an attempt the
    limiter saw. Built through make_backend, as the CLI builds it."""
    with DnsServer() as hole:
        hole.fault("drop")
        config = RunConfig(
            nameservers=[hole.nameserver],
            backend="aiodns",
            resolver=ResolverConfig(timeout=1.0, retries=0, qps=50),
        )

        async def main() -> None:
            resolver = Resolver(make_backend(config), config.resolver)
            try:
                await resolver.resolve_many([Query(f"n{i}.test", RType.TXT) for i in range(10)])
            finally:
                await resolver.aclose()
            assert resolver.counters.queries == 10

        anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})
        assert len(hole.log) == 10, hole.counts


@pytest.mark.parametrize(
    "a, aaaa",
    [
        (Rcode.REFUSED, Rcode.NOERROR),
        (Rcode.NOERROR, Rcode.TIMEOUT),
        (Rcode.SERVFAIL, Rcode.NXDOMAIN),
    ],
)
def test_a_failed_address_lookup_never_makes_an_mx_host_unresolvable(a: Rcode, aaaa: Rcode) -> None:
    """Found by the failing-nameserver runs: A failed and AAAA was NODATA made the host "not
    resolving" and the MX section invalid (mx.no_host_resolves), a wrong verdict from a DNS
    failure. Unknown is a warning, never an error."""

    def answer(q: Query) -> Answer:
        if q.rtype is RType.MX:
            return Answer(Rcode.NOERROR, records=(MX(10, "mx.example.net"),), ttl=60)
        return Answer(a if q.rtype is RType.A else aaaa, ttl=60)

    audit = run_sync(audit_mx("example.com"), answer)
    assert audit.state is State.VALID
    assert [p.code for p in audit.problems] == ["mx.host_dns_failure"]
    assert audit.hosts[0].resolves is None
