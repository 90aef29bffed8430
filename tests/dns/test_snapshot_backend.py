"""DNS snapshots: recording at the backend seam, joining the parts, loading, replaying, and
every way a snapshot file can be bad."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkauth.core.common.model import MX, Answer, Query, Rcode, RType
from bulkauth.dns.backends.memory import MemoryBackend
from bulkauth.dns.backends.snapshot import (
    FORMAT,
    RecordingBackend,
    ReplayBackend,
    Snapshot,
    SnapshotError,
    entry_line,
    new_part,
    parse_entry,
    parts_dir,
    write_snapshot,
)
from bulkauth.dns.resolver import Resolver, ResolverConfig

pytestmark = pytest.mark.anyio

HEADER: dict[str, Any] = {"format": FORMAT, "bulkauth": "test", "run": {"command": "domains"}}
TXT_Q = Query("example.com", RType.TXT)
SPF_TXT = Answer(Rcode.NOERROR, ((b"v=spf1 ", b"-all"), (b"\xff\x00 not utf-8",)), ttl=300)


@pytest.mark.parametrize(
    ("q", "a"),
    [
        (TXT_Q, SPF_TXT),
        (Query("example.com", RType.MX), Answer(Rcode.NOERROR, (MX(10, "mx.example.com"), MX(0, "")), ttl=60, size=91)),
        (Query("www.example.com", RType.A), Answer(Rcode.NOERROR, ("192.0.2.1",), ttl=5, cnames=("web.example.net",))),
        (Query("gone.example.com", RType.AAAA), Answer(Rcode.NXDOMAIN, ttl=900)),
        (Query("x.example.com", RType.TXT), Answer(Rcode.SERVFAIL, detail="127.0.0.1:53: SERVFAIL")),
    ],
)  # fmt: skip
def test_an_entry_gives_back_the_same_answer(q: Query, a: Answer) -> None:
    line = entry_line(q, a, 1_700_000_000.12345, "127.0.0.1:53")
    d = orjson.loads(line)
    assert (d["at"], d["server"]) == (1_700_000_000.123, "127.0.0.1:53")
    assert parse_entry(d) == (q, a)


def snapshot_of(tmp_path: Path, *entries: tuple[Query, Answer]) -> Path:
    parts = parts_dir(tmp_path / "s.snap")
    parts.mkdir()
    (parts / "1.ndjson").write_bytes(b"".join(entry_line(q, a, 0.0, "s") for q, a in entries))
    write_snapshot(tmp_path / "s.snap", HEADER, parts)
    return tmp_path / "s.snap"


async def test_recording_writes_what_the_wire_gave_failures_and_timeouts_included(
    tmp_path: Path,
) -> None:
    inner = MemoryBackend({TXT_Q: SPF_TXT})
    inner.fault("servfail", "example.com", times=1)
    inner.fault("timeout", "slow.example.com")
    parts = parts_dir(tmp_path / "s.snap")
    parts.mkdir()
    rec = RecordingBackend(inner, new_part(parts), "zones:here")
    resolver = Resolver(rec, ResolverConfig(timeout=0.2, retries=1, backoff=0.001))
    assert (await resolver.resolve(TXT_Q)) == SPF_TXT  # a SERVFAIL, then the answer
    assert (await resolver.resolve(TXT_Q)) == SPF_TXT  # from the cache: nothing recorded
    slow = await resolver.resolve(Query("slow.example.com", RType.A))
    assert slow.rcode is Rcode.TIMEOUT
    await resolver.aclose()
    assert inner.closed
    assert write_snapshot(tmp_path / "s.snap", HEADER, parts) == 4
    assert not parts.exists()  # joined, then removed
    lines = gzip.decompress((tmp_path / "s.snap").read_bytes()).splitlines()
    assert orjson.loads(lines[0]) == HEADER
    got = [(e["name"], e["rcode"], e["server"]) for e in map(orjson.loads, lines[1:-1])]
    assert got == [
        ("example.com", "SERVFAIL", "zones:here"),
        ("example.com", "NOERROR", "zones:here"),
        ("slow.example.com", "TIMEOUT", "zones:here"),
        ("slow.example.com", "TIMEOUT", "zones:here"),
    ]
    assert orjson.loads(lines[-1]) == {"end": {"answers": 4}}


def test_replay_answers_with_the_answer_the_run_used(tmp_path: Path) -> None:
    a_q, b_q, c_q, d_q = (Query(f"{n}.example", RType.A) for n in "abcd")
    one, two = Answer(Rcode.NOERROR, ("192.0.2.1",), 60), Answer(Rcode.NOERROR, ("192.0.2.2",), 60)
    fail = Answer(Rcode.SERVFAIL, detail="x")
    path = snapshot_of(
        tmp_path,
        (a_q, fail), (a_q, one),  # a retry that worked
        (b_q, one), (b_q, fail),  # a later failure (another worker): the good answer stands
        (c_q, fail), (c_q, Answer(Rcode.TIMEOUT)),  # only failures: the last one
        (d_q, one), (d_q, two),  # asked again after the TTL: the last good answer
    )  # fmt: skip
    snap = Snapshot.load(path)
    assert snap.entries == 8 and snap.header == HEADER
    assert len(snap) == 4
    got = {q: snap.answer(q) for q in (a_q, b_q, c_q, d_q)}
    assert got == {a_q: one, b_q: one, c_q: Answer(Rcode.TIMEOUT), d_q: two}
    assert snap.answer(TXT_Q) is None


async def test_a_question_not_recorded_is_its_own_failure_and_is_not_retried(
    tmp_path: Path,
) -> None:
    snap = Snapshot.load(snapshot_of(tmp_path, (TXT_Q, SPF_TXT)))
    replay = ReplayBackend(snap)
    resolver = Resolver(replay, ResolverConfig(retries=2))
    assert await resolver.resolve(TXT_Q) == SPF_TXT
    gap = await resolver.resolve(Query("other.example", RType.TXT))
    assert gap.rcode is Rcode.NOTRECORDED and gap.failed and not gap.empty
    assert "not in the DNS snapshot" in gap.detail
    assert resolver.counters.retries == 0
    from bulkauth.core.common.model import DnsFailure

    d = DnsFailure.of(Query("other.example", RType.TXT), gap).to_dict()
    assert (d["rcode"], d["code"]) == ("NOTRECORDED", "dns.not_recorded")


def test_a_snapshot_cut_off_anywhere_is_refused_with_a_message(tmp_path: Path) -> None:
    entries = [(Query(f"n{i}.example", RType.TXT), SPF_TXT) for i in range(3000)]
    whole = snapshot_of(tmp_path, *entries).read_bytes()
    cut = tmp_path / "cut.snap"
    for size in (len(whole) - 1, len(whole) // 2, 30):
        cut.write_bytes(whole[:size])
        with pytest.raises(SnapshotError, match="cut off"):
            Snapshot.load(cut)
    # cut at a line boundary inside whole compressed data: no end line
    text = gzip.decompress(whole).splitlines(keepends=True)
    cut.write_bytes(gzip.compress(b"".join(text[:-1])))
    with pytest.raises(SnapshotError, match="cut off after 3,000 answers"):
        Snapshot.load(cut)
    cut.write_bytes(gzip.compress(b"".join(text[:-1]) + b'{"end":{"answers":2}}\n'))
    with pytest.raises(SnapshotError, match="end line says 2 answers, 3000 were read"):
        Snapshot.load(cut)


def test_other_files_and_formats_are_refused_with_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.snap"
    cases = [
        (b"", "not gzip"),
        (b"name,type\nexample.com,TXT\n", "not gzip"),
        (gzip.compress(b"just text\n"), "no snapshot header"),
        (
            gzip.compress(b'{"format": "bulkauth.dns-snapshot/9", "bulkauth": "9.0"}\n'),
            r"format 'bulkauth.dns-snapshot/9' \(written by bulkauth 9.0\); this bulkauth reads",
        ),
        (
            gzip.compress(orjson.dumps(HEADER) + b'\n{"name": "x", "type": "NOPE"}\n'),
            "line 2 of the DNS snapshot is not an answer",
        ),
        (gzip.compress(orjson.dumps(HEADER) + b"\n") + b"trailing junk", "data after its end"),
    ]
    for data, message in cases:
        bad.write_bytes(data)
        with pytest.raises(SnapshotError, match=message):
            Snapshot.load(bad)
    with pytest.raises(SnapshotError, match="No such file"):
        Snapshot.load(tmp_path / "absent.snap")


def test_parts_torn_by_a_killed_process_keep_their_whole_lines(tmp_path: Path) -> None:
    parts = parts_dir(tmp_path / "s.snap")
    parts.mkdir()
    good = entry_line(TXT_Q, SPF_TXT, 0.0, "s")
    (parts / "1.ndjson").write_bytes(good + good[:20])
    (parts / "2.ndjson").write_bytes(good)
    assert write_snapshot(tmp_path / "s.snap", HEADER, parts) == 2
    # a resumed run carries the answers of the snapshot already there
    parts.mkdir()
    (parts / "3.ndjson").write_bytes(good)
    assert write_snapshot(tmp_path / "s.snap", HEADER, parts, carry=True) == 3
    assert Snapshot.load(tmp_path / "s.snap").entries == 3
