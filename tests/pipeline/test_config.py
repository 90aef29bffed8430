"""make_backend: the live backend the run's options ask for."""

from __future__ import annotations

import pytest

from bulkauth.dns.backends.udp import UdpBackend
from bulkauth.dns.resolver import ResolverConfig
from bulkauth.pipeline.config import RunConfig, make_backend


@pytest.mark.parametrize(("concurrency", "sockets"), [(1, 1), (500, 1), (501, 2), (2000, 4)])
def test_a_udp_socket_per_500_queries_in_flight(concurrency: int, sockets: int) -> None:
    """One socket's receive buffer (4 MiB at most here) overflowed with ~1,000 replies
    released at once (bench/README.md, latency): more in flight, more sockets."""
    config = RunConfig(
        nameservers=["127.0.0.1:53"], resolver=ResolverConfig(concurrency=concurrency)
    )
    backend = make_backend(config)
    assert isinstance(backend, UdpBackend)
    assert backend._servers[0].want_sockets == sockets
