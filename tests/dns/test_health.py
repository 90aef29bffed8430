"""Server health and round robin, shared by the UDP client and the aiodns backend."""

from __future__ import annotations

import pytest

from bulkauth.core.common.model import Rcode
from bulkauth.dns.backends.health import BACKOFF_MAX, BACKOFF_MIN, STRIKES, Health, RoundRobin


def test_three_strikes_then_a_doubling_backoff() -> None:
    h = Health()
    for _ in range(STRIKES - 1):
        h.note_failure(now=100.0)
    assert h.down_until == 0.0  # two troubles in a row are not yet a pattern
    h.note_failure(now=100.0)
    assert h.down_until == 100.0 + BACKOFF_MIN
    h.note_failure(now=100.0)
    assert h.down_until == 100.0 + 2 * BACKOFF_MIN
    for _ in range(20):
        h.note_failure(now=100.0)
    assert h.down_until == 100.0 + BACKOFF_MAX


def test_answers_are_scored_by_what_they_say_about_the_server() -> None:
    h = Health()
    for rcode in (Rcode.SERVFAIL, Rcode.REFUSED, Rcode.TIMEOUT):
        h.note(rcode)
    assert h.failures == 3 and h.down_until > 0
    h.note(Rcode.FORMERR)  # about the question, not the server: no change
    h.note(Rcode.BADNAME)
    assert h.failures == 3
    h.note(Rcode.NXDOMAIN)  # an authoritative answer clears the record
    assert (h.failures, h.down_until) == (0, 0.0)
    h.note(Rcode.ERROR)
    h.note(Rcode.NOERROR)
    assert h.failures == 0


def test_round_robin_skips_backed_off_servers() -> None:
    now = [1000.0]
    servers = [Health() for _ in range(3)]
    rr = RoundRobin(servers, clock=lambda: now[0])
    assert [rr.pick() for _ in range(6)] == [servers[1], servers[2], servers[0]] * 2
    servers[2].down_until = 1005.0
    assert {id(rr.pick()) for _ in range(6)} == {id(servers[0]), id(servers[1])}
    now[0] = 1005.0  # its backoff is over: back in the rotation
    assert servers[2] in [rr.pick() for _ in range(3)]


def test_all_backed_off_picks_the_one_back_soonest() -> None:
    servers = [Health() for _ in range(3)]
    for s, until in zip(servers, (3000.0, 2000.0, 2500.0), strict=True):
        s.down_until = until
    rr = RoundRobin(servers, clock=lambda: 1000.0)
    assert rr.pick() is servers[1]


def test_one_server_is_always_the_one() -> None:
    only = Health()
    only.down_until = 10**9
    assert RoundRobin([only]).pick() is only
    with pytest.raises(ValueError, match="no nameservers"):
        RoundRobin([])
