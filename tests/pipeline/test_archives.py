"""Archive readers: every source kind, one item per message, offsets, caps and broken archives."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import sys
import tracemalloc
from pathlib import Path

import pytest

from bulkauth.pipeline.archives import Limits, MessageItem, count_messages, read_sources


def message(i: int, body: bytes = b"") -> bytes:
    return b"From: a%d@example.com\nSubject: m%d\n\nbody %d\n" % (i, i, i) + body


def mbox_of(msgs: list[bytes], eol: bytes = b"\n") -> bytes:
    out = b""
    for m in msgs:
        quoted = b"\n".join(
            b">" + ln if ln.lstrip(b">").startswith(b"From ") else ln for ln in m.split(b"\n")
        )
        out += b"From sender@example.com Mon Jan  1 00:00:00 2024\n" + quoted + b"\n"
    return out.replace(b"\n", eol)


def items(*paths: Path | str, limits: Limits | None = None) -> list[MessageItem]:
    return list(read_sources([str(p) for p in paths], limits))


MSGS = [
    message(i, b"From the start of a line\n>From quoted once\n" if i == 2 else b"")
    for i in range(5)
]


@pytest.mark.parametrize("compress", [None, gzip.compress, bz2.compress, lzma.compress])
def test_mbox_plain_and_compressed(tmp_path: Path, compress: object) -> None:
    data = mbox_of(MSGS)
    f = tmp_path / "box.mbox"
    f.write_bytes(compress(data) if callable(compress) else data)
    got = items(f)
    assert [i.data for i in got] == MSGS  # mboxrd quoting undone, separator line dropped
    assert [i.index for i in got] == [1, 2, 3, 4, 5]
    assert all(i.kind == "mbox" and i.path == str(f) and i.source == str(f) for i in got)
    # offsets point at each message's From_ line in the (decompressed) stream
    assert all(data[i.offset : i.offset + 5] == b"From " for i in got if i.offset is not None)
    assert sum(i.size for i in got) == len(data)


def test_crlf_mbox_and_separators(tmp_path: Path) -> None:
    f = tmp_path / "crlf.mbox"
    f.write_bytes(mbox_of(MSGS[:2], b"\r\n"))
    got = items(f)
    assert [i.data for i in got] == [m.replace(b"\n", b"\r\n") for m in MSGS[:2]]
    # a From_ line not preceded by an empty line still separates when it looks like one;
    # an unquoted "From " in a body does not
    loose = (
        b"From a@b Mon Jan  1 00:00:00 2024\nSubject: 1\n\nline\nFrom here on, text\n"
        b"From c@d Tue Feb  2 00:00:00 2024\nSubject: 2\n\nx\n"
    )
    f.write_bytes(loose)
    got = items(f)
    assert len(got) == 2 and b"From here on, text" in (got[0].data or b"")


def test_message_over_the_cap_is_an_error_item_without_being_held(tmp_path: Path) -> None:
    big = message(1, b"x" * 5_000_000)
    f = tmp_path / "big.mbox"
    f.write_bytes(mbox_of([MSGS[0], big, MSGS[3]]))
    got = items(f, limits=Limits(max_message=100_000))
    assert [(i.index, i.error_code) for i in got] == [
        (1, None),
        (2, "input.message_too_large"),
        (3, None),
    ]
    assert got[1].data is None and got[1].size > 5_000_000 and got[2].data == MSGS[3]
    eml = tmp_path / "big.eml"
    eml.write_bytes(big)
    (one,) = items(eml, limits=Limits(max_message=100_000))
    assert one.error_code == "input.message_too_large" and one.size == len(big)


def test_decompression_bomb_and_corrupt_archives(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.mbox.gz"
    bomb.write_bytes(
        gzip.compress(b"From x Mon Jan  1 00:00:00 2024\nA: b\n\n" + b"\0" * 8_000_000)
    )
    got = items(bomb, limits=Limits(bomb_min=1_000_000, bomb_ratio=50))
    assert got[-1].error_code == "input.decompression_bomb"
    truncated = tmp_path / "cut.mbox.gz"
    truncated.write_bytes(gzip.compress(mbox_of(MSGS))[:-40])
    got = items(truncated)
    assert got[-1].error_code == "input.corrupt_archive" and got[0].data == MSGS[0]
    junk = tmp_path / "junk.eml"
    junk.write_bytes(b"\x1f\x8b\x08\x00garbage that is not deflate")
    (one,) = items(junk)
    assert one.error_code == "input.corrupt_archive"


def test_maildir_and_eml_folders(tmp_path: Path) -> None:
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Sent/tmp"):
        (md / sub).mkdir(parents=True)
    (md / "cur" / "1.host:2,S").write_bytes(MSGS[0])
    (md / "new" / "2.host").write_bytes(MSGS[1])
    (md / "tmp" / "3.host").write_bytes(MSGS[2])  # being delivered: skipped
    (md / ".Sent" / "cur" / "4.host:2,S").write_bytes(MSGS[3])
    got = items(md)
    # a folder's own messages first, then its subfolders, each sorted by name
    assert [(Path(i.path).relative_to(md).as_posix(), i.kind, i.index) for i in got] == [
        ("cur/1.host:2,S", "maildir", 1),
        ("new/2.host", "maildir", 2),
        (".Sent/cur/4.host:2,S", "maildir", 3),
    ]
    assert count_messages([str(md)]) == 3

    folder = tmp_path / "export"
    (folder / "2023" / "q4").mkdir(parents=True)
    (folder / "a.eml").write_bytes(MSGS[0])
    (folder / "2023" / "b.EML").write_bytes(MSGS[1])
    (folder / "2023" / "q4" / "c.eml.gz").write_bytes(gzip.compress(MSGS[2]))
    (folder / "2023" / "notes.txt").write_bytes(b"not mail")
    (folder / "old.mbox").write_bytes(mbox_of(MSGS[3:]))
    got = items(folder)
    assert [(Path(i.path).name, i.kind, i.data) for i in got] == [
        ("a.eml", "eml", MSGS[0]),
        ("old.mbox", "mbox", MSGS[3]),
        ("old.mbox", "mbox", MSGS[4]),
        ("b.EML", "eml", MSGS[1]),
        ("c.eml.gz", "eml", MSGS[2]),
    ]
    assert [i.index for i in got] == [1, 2, 3, 4, 5] and all(i.source == str(folder) for i in got)
    assert count_messages([str(folder)]) is None  # it holds an mbox: counting means reading it
    (folder / "old.mbox").unlink()
    assert count_messages([str(folder)]) == len(items(folder)) == 3
    # a file is counted as read_file takes it: by its first bytes, not its name
    (folder / "d.eml").write_bytes(mbox_of(MSGS[3:]))
    assert count_messages([str(folder)]) is None
    assert count_messages([str(folder / "a.eml"), str(folder / "2023" / "q4" / "c.eml.gz")]) == 2
    assert count_messages([str(folder / "a.eml"), "-"]) is None


def test_single_eml_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    eml = tmp_path / "one.eml"
    eml.write_bytes(MSGS[0])
    assert [(i.kind, i.data, i.offset) for i in items(eml)] == [("eml", MSGS[0], None)]
    for payload, expected in (
        (MSGS[1], [MSGS[1]]),
        (mbox_of(MSGS[:3]), MSGS[:3]),
        (gzip.compress(mbox_of(MSGS[:2])), MSGS[:2]),
        (xz := lzma.compress(MSGS[4]), [MSGS[4]]),
    ):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(payload))))
        got = list(read_sources(["-"]))
        assert [i.data for i in got] == expected and {i.source for i in got} == {"<stdin>"}
    assert xz


def test_empty_and_missing_inputs(tmp_path: Path) -> None:
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    (one,) = items(empty)
    assert one.data == b"" and one.error_code is None  # the pipeline reports it as input.empty
    (missing,) = items(tmp_path / "nope.mbox")
    assert missing.error_code == "input.unreadable"


def test_memory_stays_flat_over_a_large_mbox(tmp_path: Path) -> None:
    f = tmp_path / "large.mbox.gz"
    body = b"line of text for the body of the message\n" * 250  # ~10 KB
    with gzip.open(f, "wb", compresslevel=1) as out:
        for i in range(3000):
            out.write(mbox_of([message(i, body)]))
    tracemalloc.start()
    n = 0
    for it in read_sources([str(f)]):
        n += 1
        assert it.data is not None
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert n == 3000
    assert peak < 8 * 1024 * 1024  # ~30 MB of mail read with a few MB held
