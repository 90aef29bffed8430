"""The messages pipeline's parts: the worker processes, the byte budget, the result memo."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson

from bench.mailgen import generate
from bulkauth.core.message.check import CheckOptions
from bulkauth.pipeline.budget import ByteBudget
from bulkauth.pipeline.config import RunConfig
from bulkauth.pipeline.messages import Memo, MessageOptions, run_messages
from tests.msgkit import BASE_MSG, sign


def test_byte_budget_waits_only_for_messages_being_checked() -> None:
    b = ByteBudget(100)
    b.take(80)  # not started: a second take must not wait for it (it would wait for itself)
    b.take(80)
    assert b.held == 160
    b.start(160)
    done = threading.Event()

    def reader() -> None:
        b.take(50)
        done.set()

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.1)
    assert not done.is_set()  # over budget, and the held bytes will come back
    b.give_back(160)
    t.join(2)
    assert done.is_set() and b.held == 50 and b.peak == 160


def test_memo_expires_and_is_bounded() -> None:
    now = [1000.0]
    m = Memo(max_entries=2, ttl=10, clock=lambda: now[0])
    m.put(("a",), 1)
    m.put(("b",), 2)
    m.put(("c",), 3)
    assert m.get(("a",)) is None and m.get(("c",)) == 3
    now[0] += 11
    assert m.get(("c",)) is None and m.get(None) is None


def test_run_messages_in_process_with_a_small_budget(tmp_path: Path) -> None:
    generate(tmp_path, messages=30, seed=11, authors=3)
    config = RunConfig(
        zones=str(tmp_path / "zones"),
        output=str(tmp_path / "out.ndjson"),
        progress=False,
        workers=0,
    )
    options = MessageOptions(byte_budget=50_000, window=16)
    outcome = run_messages([str(tmp_path / "mail.mbox")], config, options)
    assert outcome.items == outcome.written == 30
    assert len((tmp_path / "out.ndjson").read_bytes().splitlines()) == 30


def test_worker_processes_write_what_one_process_writes(tmp_path: Path) -> None:
    generate(tmp_path, messages=150, seed=5, authors=6)
    out = {}
    for workers in (0, 2):
        path = tmp_path / f"out-{workers}.ndjson"
        config = RunConfig(
            zones=str(tmp_path / "zones"), output=str(path), progress=False, workers=workers
        )
        check = CheckOptions(as_of=1_800_000_000.0)
        outcome = run_messages([str(tmp_path / "mail.mbox")], config, MessageOptions(check=check))
        assert outcome.items == outcome.written == 150
        out[workers] = path.read_bytes()
    assert out[2] == out[0]


def test_large_messages_through_workers_with_a_small_byte_budget(tmp_path: Path) -> None:
    # batches of ~1 MB each way while each worker may hold only ~0.5 MB: the parent must wait
    # for records, never deadlock with a worker that is giving them back
    body = b"".join(
        b"line %d of a long message body, long enough to add up\r\n" % i for i in range(6000)
    )
    msg = sign(BASE_MSG + body, "example.com")
    mbox = tmp_path / "big.mbox"
    with mbox.open("wb") as f:
        for _ in range(40):
            f.write(
                b"From sender@example.com Thu Jan  1 00:00:00 2026\n"
                + msg.replace(b"\r\n", b"\n")
                + b"\n"
            )
    config = RunConfig(
        zones="data/zones", output=str(tmp_path / "out.ndjson"), progress=False, workers=2
    )
    outcome = run_messages([str(mbox)], config, MessageOptions(byte_budget=1_000_000))
    assert outcome.items == outcome.written == 40
    recs = [orjson.loads(x) for x in (tmp_path / "out.ndjson").read_bytes().splitlines()]
    assert [r["index"] for r in recs] == list(range(1, 41))
    assert all(r["status"] == "ok" for r in recs)
