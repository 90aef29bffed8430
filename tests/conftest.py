"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.dnsserver import DnsServer
from tests.paths import ROOT, require_suite, suite

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


# --- conformance suites -------------------------------------------------------------------------
#
# A test that reads a public conformance suite is marked with the suite's folder name:
#     @pytest.mark.suite("spf")            (or `pytestmark = pytest.mark.suite("arc")`)
# and finds the files at tests.paths.suite("spf"). Before it runs, a missing suite skips it with
# one reason, or fails it when BULKAUTH_REQUIRE_SUITES=1 (.ci/run). The summary then says, per
# suite, how many of its tests passed and where the suite was read from.


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("suite"):
        for name in mark.args:
            require_suite(name)


class SuiteTally:
    """Outcomes of the tests marked `suite`, for the summary's "conformance suites" section."""

    def __init__(self) -> None:
        self.suites: dict[str, tuple[str, ...]] = {}  # nodeid -> the suites it reads
        self.outcome: dict[str, str] = {}  # nodeid -> passed / failed / skipped

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            names = tuple(n for mark in item.iter_markers("suite") for n in mark.args)
            if names:
                self.suites[item.nodeid] = names

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self.suites:
            return
        if self.outcome.get(report.nodeid) == "failed":
            return  # a failure in any phase (setup, call, teardown) is the test's outcome
        if report.failed or report.skipped or report.when == "call":
            self.outcome[report.nodeid] = report.outcome

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.suites:
            return
        terminalreporter.section("conformance suites", sep="-")
        for name in sorted({n for names in self.suites.values() for n in names}):
            counts = Counter(
                self.outcome.get(nodeid, "not run")
                for nodeid, names in self.suites.items()
                if name in names
            )
            order = ("passed", "failed", "skipped", "not run")
            tally = ", ".join(f"{counts[o]} {o}" for o in order if counts[o])
            path = suite(name)
            where = f"from {os.path.relpath(path, ROOT)}" if path.is_dir() else "not found"
            terminalreporter.write_line(f"{name:18} {tally} ({where})")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SuiteTally(), "bulkauth-suite-tally")


# --- end of conformance suites ------------------------------------------------------------------
