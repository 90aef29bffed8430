"""Which nameserver to ask next: round robin over the healthy ones, backing off the troubled.

Shared by the UDP client and the aiodns backend, so that both treat a failing server alike: after
``STRIKES`` troubles in a row (SERVFAIL, REFUSED, a timeout, a connection error) a server is left
alone for ``BACKOFF_MIN`` seconds, doubling up to ``BACKOFF_MAX``, and any good answer clears
its record. The Resolver's retry of a failed query thus goes to another server, while a SERVFAIL
that is the domain's fault (a lame delegation) costs a healthy server at worst a short backoff:
its good answers keep clearing the count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from bulkauth.core.common.model import Rcode

#: consecutive troubles before a server is backed off, and the backoff (doubling) bounds
STRIKES = 3
BACKOFF_MIN = 0.5
BACKOFF_MAX = 30.0

#: answers that say the server is not serving us (or not at all), as opposed to the question
SERVER_TROUBLE = frozenset({Rcode.SERVFAIL, Rcode.REFUSED, Rcode.TIMEOUT, Rcode.ERROR})


class Health:
    """One nameserver's record: troubles in a row, and until when it is left alone."""

    __slots__ = ("down_until", "failures")

    def __init__(self) -> None:
        self.failures = 0
        self.down_until = 0.0

    def note_alive(self) -> None:
        self.failures = 0
        self.down_until = 0.0

    def note_failure(self, now: float | None = None) -> None:
        self.failures += 1
        if self.failures >= STRIKES:
            backoff = min(BACKOFF_MAX, BACKOFF_MIN * 2 ** min(self.failures - STRIKES, 6))
            self.down_until = (time.monotonic() if now is None else now) + backoff

    def note(self, rcode: Rcode) -> None:
        """Score an answer: an authoritative one clears the record, server trouble is a strike;
        the rest (FORMERR, NOTIMP, BADNAME) say something about the question, not the server."""
        if rcode is Rcode.NOERROR or rcode is Rcode.NXDOMAIN:
            if self.failures:
                self.note_alive()
        elif rcode in SERVER_TROUBLE:
            self.note_failure()


S = TypeVar("S", bound=Health)


class RoundRobin(Generic[S]):
    """Hands out servers in turn, skipping those backed off."""

    __slots__ = ("_clock", "_turn", "servers")

    def __init__(self, servers: Sequence[S], clock: Callable[[], float] = time.monotonic) -> None:
        if not servers:
            raise ValueError("no nameservers")
        self.servers = list(servers)
        self._turn = 0
        self._clock = clock

    def pick(self) -> S:
        servers = self.servers
        n = len(servers)
        if n == 1:
            return servers[0]
        now = self._clock()
        for _ in range(n):
            self._turn = (self._turn + 1) % n
            s = servers[self._turn]
            if s.down_until <= now:
                return s
        # every server is backed off: the one that comes back soonest is the best bet
        return min(servers, key=lambda s: s.down_until)
