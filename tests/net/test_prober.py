"""The probes' connections on loopback: one STARTTLS probe per MX host however many ask, the
global rate of new connections, and the HTTPS fetch's own faults (tests/probekit.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bulkauth.net.prober import ProbeOptions, Prober
from tests.probekit import Pki, Policy, Servers, free_port, loopback_address

POLICY = b"version: STSv1\r\nmode: testing\r\nmx: mx.example.com\r\nmax_age: 86400\r\n"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.create(tmp_path)


@pytest.fixture
def servers() -> Iterator[Servers]:
    with Servers() as s:
        yield s


def test_one_probe_per_host_shared_by_concurrent_callers(pki: Pki, servers: Servers) -> None:
    address = loopback_address()
    port = free_port(address)
    servers.smtp(address, port, pki.context("mx.example.com"))
    prober = Prober(ProbeOptions(("starttls",), smtp_port=port, ca_file=str(pki.ca_file)))

    async def main() -> None:
        seen = await asyncio.gather(
            *(prober.starttls("mx.example.com", address) for _ in range(20))
        )
        assert len({id(s) for s in seen}) == 1 and seen[0].tls_version
        again = await prober.starttls("mx.example.com", address)
        assert again is seen[0]

    asyncio.run(main())
    assert servers.accepted[f"{address}:{port}"] == 1
    assert prober.stats.connections == 1 and prober.stats.cache_hits == 20


def test_rate_limit_spaces_new_connections(pki: Pki, servers: Servers) -> None:
    addresses = [loopback_address() for _ in range(6)]
    port = free_port(addresses[0])
    for a in addresses:
        servers.smtp(a, port, None)
    prober = Prober(ProbeOptions(("starttls",), smtp_port=port, rate=20, ca_file=str(pki.ca_file)))

    async def main() -> float:
        t = time.monotonic()
        await asyncio.gather(
            *(prober.starttls(f"mx{i}.example.com", a) for i, a in enumerate(addresses))
        )
        return time.monotonic() - t

    elapsed = asyncio.run(main())
    assert elapsed >= 5 / 20 * 0.9  # six starts at 20/s: the last waits five intervals
    assert prober.stats.connections == 6


def fetch(pki_file: Path, address: str, port: int, host: str):
    prober = Prober(
        ProbeOptions(("mta-sts",), https_port=port, ca_file=str(pki_file), read_timeout=2)
    )
    return asyncio.run(prober.policy(f"https://{host}/.well-known/mta-sts.txt", host, address))


def test_https_fetch(pki: Pki, servers: Servers, tmp_path: Path) -> None:
    address = loopback_address()
    port = free_port(address)
    servers.https(address, port, pki.context("mta-sts.example.com", "mta-sts.big.example"))
    servers.policies["mta-sts.example.com"] = Policy(POLICY)
    servers.policies["mta-sts.big.example"] = Policy(b"x" * 10_000_000, stream=True)
    good = fetch(pki.ca_file, address, port, "mta-sts.example.com")
    assert (good.status, good.content_type, good.body, good.error) == (
        200,
        "text/plain",
        POLICY,
        None,
    )
    big = fetch(pki.ca_file, address, port, "mta-sts.big.example")
    assert big.error == "too_large" and big.body == b""
    # a certificate from a CA we were not told to trust
    (tmp_path / "other").mkdir()
    other = Pki.create(tmp_path / "other")
    untrusted = fetch(other.ca_file, address, port, "mta-sts.example.com")
    assert untrusted.error == "tls"
    # a certificate for another name
    wrong = fetch(pki.ca_file, address, port, "mta-sts.elsewhere.example")
    assert wrong.error == "tls"
    closed = fetch(pki.ca_file, loopback_address(), port, "mta-sts.example.com")
    assert closed.error == "connect"


def test_per_host_bound_and_read_timeout(pki: Pki, servers: Servers) -> None:
    address = loopback_address()
    port = free_port(address)
    host = "mta-sts.slow.example"
    servers.https(address, port, pki.context(host, "mta-sts.hang.example"))
    servers.policies[host] = Policy(POLICY, delay=0.2)
    servers.policies["mta-sts.hang.example"] = Policy(POLICY, delay=30)
    options = ProbeOptions(("mta-sts",), https_port=port, ca_file=str(pki.ca_file), per_host=1)
    options.read_timeout = 0.5
    prober = Prober(options)

    async def main() -> list[str | None]:
        got = await asyncio.gather(
            *(prober.policy(f"https://{host}/", host, address) for _ in range(4)),
            prober.policy("https://mta-sts.hang.example/", "mta-sts.hang.example", address),
        )
        return [f.error for f in got]

    t = time.monotonic()
    errors = asyncio.run(main())
    assert errors == [None, None, None, None, "timeout"]
    # one connection at a time to the slow host: four answers of 0.2 s one after the other
    assert time.monotonic() - t >= 0.75
    assert servers.https_most <= 2  # the slow host's one, and the hanging host's
