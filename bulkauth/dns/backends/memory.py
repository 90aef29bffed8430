"""MemoryBackend: answers from a dict or a function, recording every query; for tests.

What httpx's ``MockTransport`` is to httpx: the Resolver and the checks above it run against it
with no socket, and a test asserts exactly which questions went to the backend. Faults are
injected per name pattern and type, for the first N matching queries or for ever:

- ``delay``: wait (anyio) and go on, so other faults and the answer still apply;
- ``timeout``: never answer (the Resolver's deadline cancels the query);
- ``servfail``: answer SERVFAIL;
- ``raise``: raise an exception inside the backend, which maps it to an rcode at its boundary
  as a real backend does (``errors``: exception type -> Rcode; anything else is ERROR).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import anyio

from bulkauth.core.common.model import Answer, Query, Rcode, RType

FaultKind = Literal["delay", "timeout", "servfail", "raise"]
Answers = Mapping[Query, Answer] | Callable[[Query], Answer]

#: what a name missing from the dict gets: authoritatively absent, cacheable for a minute
NOT_FOUND = Answer(Rcode.NXDOMAIN, ttl=60)


@dataclass(slots=True)
class Fault:
    """One programmed misbehaviour; ``name`` is an fnmatch pattern on the query name."""

    kind: FaultKind
    name: str = "*"
    rtype: RType | None = None
    #: fire for the first ``times`` matching queries only (None: for ever)
    times: int | None = None
    delay: float = 0.0
    error: Exception | None = None
    #: how many times it fired so far
    fired: int = 0

    def matches(self, q: Query) -> bool:
        if self.rtype is not None and self.rtype is not q.rtype:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        return fnmatch.fnmatchcase(q.name, self.name)


class MemoryBackend:
    """The Backend over a dict of answers (a name missing is NXDOMAIN) or a function."""

    name = "memory"

    def __init__(
        self,
        answers: Answers | None = None,
        *,
        errors: Mapping[type[Exception], Rcode] | None = None,
    ) -> None:
        self.answers: Answers = answers if answers is not None else {}
        self.errors = dict(errors or {})
        #: every question asked, in the order asked (faulted ones included)
        self.queries: list[Query] = []
        self.faults: list[Fault] = []
        self.closed = False

    def fault(
        self,
        kind: FaultKind,
        name: str = "*",
        rtype: RType | None = None,
        *,
        times: int | None = None,
        delay: float = 0.0,
        error: Exception | None = None,
    ) -> Fault:
        f = Fault(kind, name, rtype, times, delay, error)
        self.faults.append(f)
        return f

    def count(self, name: str | None = None, rtype: RType | None = None) -> int:
        """Queries sent for this name and/or type (all of them when neither is given)."""
        return sum(
            1
            for q in self.queries
            if (name is None or q.name == name) and (rtype is None or q.rtype is rtype)
        )

    async def query(self, q: Query) -> Answer:
        self.queries.append(q)
        try:
            for f in self.faults:
                if not f.matches(q):
                    continue
                f.fired += 1
                if f.kind == "delay":
                    await anyio.sleep(f.delay)
                elif f.kind == "timeout":
                    await anyio.sleep_forever()
                elif f.kind == "servfail":
                    return Answer(Rcode.SERVFAIL, detail="injected SERVFAIL")
                else:
                    raise f.error if f.error is not None else OSError("injected error")
            answers = self.answers
            if callable(answers):
                return answers(q)
            return answers.get(q, NOT_FOUND)
        except Exception as exc:
            # the one boundary: a backend never raises for DNS or transport failures
            rcode = next(
                (r for t, r in self.errors.items() if isinstance(exc, t)),
                Rcode.ERROR,
            )
            return Answer(rcode, detail=f"{exc.__class__.__name__}: {exc}")

    async def aclose(self) -> None:
        self.closed = True
