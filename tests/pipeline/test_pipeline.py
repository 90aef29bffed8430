"""The ordered worker pool, the domain-list reader and resume bookkeeping."""

from __future__ import annotations

import random
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkauth.pipeline.pool import done_record, run_ordered
from bulkauth.pipeline.records import Record, internal_error
from bulkauth.pipeline.sinks import NdjsonSink, complete_records
from bulkauth.pipeline.sources import MAX_LINE_BYTES, Item, count_items, read_domain_list


def run(coro: Any) -> Any:
    return anyio.run(lambda: coro, backend="asyncio", backend_options={"use_uvloop": True})


def test_output_is_in_input_order_with_bounded_work_in_flight() -> None:
    in_flight = 0
    peak = 0
    out: list[Record] = []

    async def work(i: int) -> Record:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(random.random() / 200)
        in_flight -= 1
        if i % 97 == 0:
            raise RuntimeError("boom")
        return {"i": i}

    outcome = run(
        run_ordered(
            iter(range(1000)),
            work,
            lambda i, e: {"i": i, "error": internal_error(e)},
            out.append,
            window=32,
        )
    )
    assert [r["i"] for r in out] == list(range(1000))
    assert outcome.items == outcome.written == 1000
    assert peak <= 32
    bad = [r for r in out if "error" in r]
    assert len(bad) == 11 and "RuntimeError: boom" in bad[0]["error"]["message"]


def test_items_finished_without_waiting_keep_the_order() -> None:
    """A work that returns a done future (a memoised check) needs no task: its record still
    comes out in input order among items that wait, and a work that raises before returning
    costs one record, not the run."""
    out: list[Record] = []
    slow = 0

    async def waits(i: int) -> Record:
        nonlocal slow
        slow += 1
        await anyio.sleep(random.random() / 100)
        return {"i": i}

    def work(i: int) -> Awaitable[Record]:
        if i % 50 == 1:
            raise RuntimeError("before any await")
        if i % 7 == 0:
            return waits(i)
        return done_record({"i": i})

    outcome = run(
        run_ordered(
            iter(range(2000)),
            work,
            lambda i, e: {"i": i, "error": internal_error(e)},
            out.append,
            window=16,
            batch=64,
        )
    )
    assert [r["i"] for r in out] == list(range(2000))
    assert outcome.items == outcome.written == 2000
    assert slow == sum(1 for i in range(2000) if i % 7 == 0 and i % 50 != 1)
    assert sum(1 for r in out if "error" in r) == len(range(1, 2000, 50))


def test_domain_list_reader(tmp_path: Path) -> None:
    f = tmp_path / "list.txt"
    f.write_bytes(
        b"# comment\n\n  example.com  \nexample.org # trailing comment\n"
        b"bad\xffbytes.com\n" + b"x" * (MAX_LINE_BYTES + 10) + b"\nlast.example"
    )
    items = list(read_domain_list([str(f)]))
    assert [(i.line, i.text) for i in items[:2]] == [(3, "example.com"), (4, "example.org")]
    assert items[2].defect == "not valid UTF-8" and items[2].line == 5
    assert items[3].defect is not None and "longer" in items[3].defect and items[3].line == 6
    assert items[4] == Item(str(f), 7, "last.example")


def test_torn_last_line_is_dropped(tmp_path: Path) -> None:
    out = tmp_path / "out.ndjson"
    sink = NdjsonSink(str(out))
    for i in range(3):
        sink.write({"line": i})
    sink.close()
    with open(out, "ab") as f:
        f.write(b'{"line": 3, "trunc')
    assert complete_records(str(out)) == 3
    assert out.read_bytes().count(b"\n") == 3 and out.read_bytes().endswith(b"}\n")


@pytest.mark.parametrize("content", [b"", b'{"a":1}\n{"b":'])
def test_complete_records_edge_cases(tmp_path: Path, content: bytes) -> None:
    out = tmp_path / "o"
    out.write_bytes(content)
    assert complete_records(str(out)) == content.count(b"\n")


def test_count_items_counts_what_read_domain_list_yields(tmp_path: Path) -> None:
    lines = [
        b"example.com\n",
        b"\n",
        b"   \n",
        b"# a comment\n",
        b"# caf\xe9, not UTF-8: reported\n",
        b"#" + b"x" * 5000 + b"\n",  # an over-long comment: reported
        b"y" * 4096 + b"\n",
        b"z" * 4097 + b"\n",
        b"a.example  # inline\n",
        b"\xff\xfe\n",
        b"last.example",
    ]
    path = tmp_path / "list.txt"
    path.write_bytes(b"".join(lines))
    assert count_items([str(path)]) == len(list(read_domain_list([str(path)]))) == 8
