"""The sans-I/O protocol: checks ask, drivers answer, parallel merges rounds."""

from __future__ import annotations

from bulkauth.core.common.model import Answer, Query, Rcode, RType
from bulkauth.core.common.step import Step, answers_from, ask, ask_all, parallel, run_sync


def chain(name: str, hops: int) -> Step[list[str]]:
    seen = []
    for i in range(hops):
        a = yield from ask(f"{i}.{name}", RType.A)
        seen.append(a.rcode.value)
    return seen


def test_parallel_merges_each_round_into_one_batch() -> None:
    batches: list[tuple[Query, ...]] = []
    step = parallel(chain("a.example", 3), chain("b.example", 1), chain("c.example", 0))
    try:
        batch = next(step)
        while True:
            batches.append(batch)
            batch = step.send(tuple(Answer(Rcode.NXDOMAIN) for _ in batch))
    except StopIteration as stop:
        result = stop.value
    assert [len(b) for b in batches] == [2, 1, 1]
    assert result == [["NXDOMAIN"] * 3, ["NXDOMAIN"], []]


def test_ask_all_keeps_order_and_empty_batch_asks_nothing() -> None:
    def check() -> Step[list[str]]:
        none = yield from ask_all([])
        assert none == ()
        answers = yield from ask_all(Query(n, RType.TXT) for n in ("x.example", "y.example"))
        return [a.txt_strings()[0] for a in answers]

    table = {
        ("x.example", RType.TXT): Answer(Rcode.NOERROR, ((b"x",),)),
        ("y.example", RType.TXT): Answer(Rcode.NOERROR, ((b"y", b"z"),)),
    }
    assert run_sync(check(), answers_from(table)) == ["x", "yz"]


def test_answer_predicates() -> None:
    assert Answer(Rcode.NXDOMAIN).empty and Answer(Rcode.NXDOMAIN).ok
    assert Answer(Rcode.NOERROR).empty
    assert not Answer(Rcode.NOERROR, ("1.2.3.4",)).empty
    for rc in (Rcode.TIMEOUT, Rcode.SERVFAIL, Rcode.REFUSED, Rcode.ERROR):
        assert Answer(rc).failed and not Answer(rc).empty
