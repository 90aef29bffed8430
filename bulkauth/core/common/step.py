"""The sans-I/O protocol between checks and the DNS layer.

A check is a generator that yields a tuple of Queries and is sent back the tuple of Answers in the
same order; its return value is the result. ``yield from ask(name, RType.TXT)`` asks one
question, ``yield from ask_all(queries)`` asks several at once (the driver resolves them
concurrently), and ``yield from parallel(a, b, c)`` runs several checks side by side, merging
their questions into one batch per round. The async driver in ``bulkauth.dns.drive`` is the only
thing that turns this into I/O; tests drive the same generators from a dict.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, TypeAlias, TypeVar

from bulkauth.core.common.model import Answer, Query, Rcode, RType

T = TypeVar("T")

#: A check: yields batches of questions, receives their answers, returns T.
Step: TypeAlias = Generator[tuple[Query, ...], tuple[Answer, ...], T]


def ask(name: str, rtype: RType) -> Step[Answer]:
    answers = yield (Query(name, rtype),)
    return answers[0]


def ask_all(queries: Iterable[Query]) -> Step[tuple[Answer, ...]]:
    batch = tuple(queries)
    if not batch:
        return ()
    return (yield batch)


def parallel(*steps: Step[Any]) -> Step[list[Any]]:
    """Run several checks concurrently: each round asks every pending question at once."""
    results: list[Any] = [None] * len(steps)
    pending: dict[int, tuple[Query, ...]] = {}
    for i, s in enumerate(steps):
        try:
            pending[i] = next(s)
        except StopIteration as stop:
            results[i] = stop.value
    while pending:
        order = list(pending.items())
        answers = yield tuple(q for _, qs in order for q in qs)
        pos = 0
        pending = {}
        for i, qs in order:
            part = answers[pos : pos + len(qs)]
            pos += len(qs)
            try:
                pending[i] = steps[i].send(part)
            except StopIteration as stop:
                results[i] = stop.value
    return results


def run_sync(step: Step[T], answer: Callable[[Query], Answer]) -> T:
    """Drive a check synchronously with a function that answers each question (tests, tools)."""
    try:
        batch = next(step)
        while True:
            batch = step.send(tuple(answer(q) for q in batch))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def answers_from(table: Mapping[tuple[str, RType], Answer]) -> Callable[[Query], Answer]:
    """An answer function from a dict; names not in it are NXDOMAIN (for tests)."""

    def answer(q: Query) -> Answer:
        return table.get((q.name.lower(), q.rtype), Answer(Rcode.NXDOMAIN))

    return answer
