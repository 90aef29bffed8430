"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dnsserver import DnsServer

# --- wire-level DNS: async tests and the loopback DNS server ------------------------------------
#
# Async tests use anyio's pytest plugin on asyncio + uvloop (the loop the CLI runs on):
#     @pytest.mark.anyio
#     async def test_x(dns_server: DnsServer) -> None: ...
# `dns_server` is a started, empty DnsServer on 127.0.0.1:<ephemeral> (UDP and TCP), stopped
# after the test. Give it data with add_zone_text / add_records / load(path), faults with
# fault(...), and point a backend at `dns_server.nameserver` ("127.0.0.1:PORT").


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, bool]]:
    return ("asyncio", {"use_uvloop": True})


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    with DnsServer() as server:
        yield server


# --- end of wire-level DNS fixtures -------------------------------------------------------------
