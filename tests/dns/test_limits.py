"""The deadlines and the round-trip estimate behind the Resolver's timeouts (dns/limits.py):
deadlines of different lengths each fire on time, a loop that stalled past a deadline reads
the replies waiting for it before anyone is called lost, and the round-trip timeout follows
RFC 6298 between its floor and the full timeout."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from bulkauth.dns.limits import STEP, Deadlines, RttEstimator

pytestmark = pytest.mark.anyio


def test_no_sample_waits_the_full_timeout_then_the_rto_from_samples() -> None:
    est = RttEstimator(floor=0.3, ceiling=3.0)
    assert est.first == est.timeout(0) == 3.0
    for _ in range(20):
        est.sample(0.02)  # a 20 ms path: the RTO is far below the floor
    assert est.first == 0.3 and est.timeout(1) == 0.3
    for _ in range(50):
        est.sample(0.4)  # a slow path: srtt ~0.4 s
    rto = est.srtt + 4 * est.rttvar
    assert est.first >= rto and est.first - rto < STEP  # rounded up to a step
    assert est.timeout(1) >= 2 * rto  # doubled for the next try (RFC 6298 5.5)
    assert est.timeout(4) == 3.0  # never past the full timeout


async def test_deadlines_of_different_lengths_each_fire_on_time() -> None:
    deadlines = Deadlines(3.0)
    fired: dict[str, float] = {}
    started = time.monotonic()

    async def wait(tag: str, seconds: float) -> None:
        task = asyncio.current_task()
        assert task is not None
        entry = deadlines.arm(task, seconds)
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            assert Deadlines.disarm(entry)  # cancelled by its deadline, not from outside
            task.uncancel()
            fired[tag] = time.monotonic() - started

    # the long one first: a single FIFO would hold the short one behind it
    await asyncio.gather(wait("long", 0.4), wait("short", 0.05))
    assert 0.04 <= fired["short"] < 0.3
    assert fired["long"] >= 0.39


async def test_a_stalled_loop_reads_waiting_replies_before_any_deadline_fires() -> None:
    """Timers run before I/O in a loop turn: after a stall past a deadline, a reply already
    in the socket would lose to the timer. The deadline waits as long again instead."""
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(3.0)
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    reply: asyncio.Future[bytes] = loop.create_future()

    def readable() -> None:
        if not reply.done():
            reply.set_result(ours.recv(100))

    loop.add_reader(ours.fileno(), readable)

    def stall() -> None:
        theirs.send(b"answer")  # the reply arrives ...
        time.sleep(0.2)  # ... while the loop is busy past the 0.05 s deadline

    async def ask() -> bytes | None:
        task = asyncio.current_task()
        assert task is not None
        entry = deadlines.arm(task, 0.05)
        try:
            got = await reply
        except asyncio.CancelledError:
            task.uncancel()
            return None
        assert not Deadlines.disarm(entry)
        return got

    try:
        loop.call_later(0.01, stall)
        assert await ask() == b"answer"
    finally:
        loop.remove_reader(ours.fileno())
        ours.close()
        theirs.close()
