"""The messages pipeline's parts: the verifier processes, the byte budget, the result memo."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from msgkit import BASE_MSG, rsa_key, sign

from bench.mailgen import generate
from bulkauth.core.dkimverify import KeyRecord
from bulkauth.pipeline.config import RunConfig
from bulkauth.pipeline.messages import (
    ByteBudget,
    Memo,
    MessageOptions,
    Verifier,
    VerifierDied,
    run_messages,
)

KEYS = {"sel._domainkey.example.com": KeyRecord("NOERROR", (rsa_key().txt,))}
MSG = sign(BASE_MSG, "example.com")


@pytest.mark.anyio
async def test_verifier_processes_batch_and_answer_in_order() -> None:
    v = Verifier(workers=2, crypto="openssl", max_batch=8, linger=0.005)
    try:
        msgs = [MSG if i % 3 else MSG + b"changed\r\n" for i in range(40)]
        results = await asyncio.gather(*(v.verify(m, KEYS, 1_700_000_100.0) for m in msgs))
        assert [r[0][0]["result"] for r in results] == [
            "fail" if i % 3 == 0 else "pass" for i in range(40)
        ]
        assert v.pooled == 40 and v.inline == 0 and v.batches < 40  # batched
    finally:
        await v.aclose()


@pytest.mark.anyio
async def test_a_dead_verifier_fails_its_messages_and_is_replaced() -> None:
    v = Verifier(workers=1, crypto="openssl", linger=0.001)
    big = sign(BASE_MSG + b"a long line of body text \r\n" * 200_000, "example.com")  # ~5 MB: slow
    try:
        assert (await v.verify(MSG, KEYS, 1_700_000_100.0))[0][0]["result"] == "pass"
        pending = asyncio.ensure_future(v.verify(big, KEYS, 1_700_000_100.0))
        for _ in range(5000):  # until the batch is out
            if v.batches >= 2:
                break
            await asyncio.sleep(0.001)
        v._procs[0].proc.kill()  # the process an OOM killer would pick
        with pytest.raises(VerifierDied):
            await pending
        assert (await v.verify(MSG, KEYS, 1_700_000_100.0))[0][0]["result"] == "pass"  # a new one
    finally:
        await v.aclose()


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


def test_memo_expires_and_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    m = Memo(max_entries=2, ttl=10)
    m.put(("a",), 1)
    m.put(("b",), 2)
    m.put(("c",), 3)
    assert m.get(("a",)) is None and m.get(("c",)) == 3
    now[0] += 11
    assert m.get(("c",)) is None and m.get(None) is None


@pytest.mark.anyio
async def test_run_messages_in_process_with_a_small_budget(tmp_path: Path) -> None:
    generate(tmp_path, messages=30, seed=11, authors=3)
    config = RunConfig(
        zones=str(tmp_path / "zones"), output=str(tmp_path / "out.ndjson"), progress=False
    )
    options = MessageOptions(workers=0, byte_budget=50_000, window=16)
    outcome, stats = await run_messages([str(tmp_path / "mail.mbox")], config, options)
    assert outcome.items == outcome.written == 30 and stats.verified_inline > 0
    # the budget holds: at most one read batch of messages beyond it (a message is < 600 KB)
    assert stats.peak_bytes_held <= 50_000 + 8 * 600_000
    assert len((tmp_path / "out.ndjson").read_bytes().splitlines()) == 30
