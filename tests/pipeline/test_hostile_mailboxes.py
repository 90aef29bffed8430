"""Hostile mailboxes through `bulkauth messages`, end to end: a record with a clear code for
every message or unusable piece, valid JSON whatever the bytes, no traceback, flat memory.

(The archive readers' own unit tests, with small limits, are in test_archives.py; this runs the
real command at its default limits.)
"""

from __future__ import annotations

import gzip
import os
import random
import subprocess
import sys
from pathlib import Path

from tests.paths import ROOT
from tests.worldgen import records

DATA = ROOT / "data"
SEP = b"From sender@example.com Mon Jan  1 00:00:00 2024\n"


def msg(i: int) -> bytes:
    return (
        b"From: a%d@good1.example\nTo: b@example.com\nSubject: m%d\n"
        b"Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <%d@x>\n\nbody %d\n" % (i, i, i, i)
    )


def mbox(*msgs: bytes) -> bytes:
    return b"".join(SEP + m + b"\n" for m in msgs)


def gzip_of_zeros(megabytes: int, head: bytes) -> bytes:
    """A gzip file of ``head`` then ``megabytes`` MB of NULs, ~1000x smaller than what it
    expands to; built from repeated members (RFC 1952 2.2) so the test need not compress it."""
    zeros = gzip.compress(b"\0" * (1 << 20), compresslevel=9)
    return gzip.compress(head) + zeros * megabytes


#: runs the CLI and writes its peak RSS (VmHWM, kB) to argv[1] at exit. Not getrusage: Linux
#: carries the forking parent's peak across exec into ru_maxrss, so a child of a 300 MB
#: pytest reports at least 300 MB; VmHWM belongs to the new process image alone.
REPORT_PEAK = """
import atexit, sys
def report():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            open(sys.argv[1], "w").write(line.split()[1])
atexit.register(report)
from bulkauth.cli import main
main(sys.argv[2:])
"""


def test_hostile_mailboxes_end_to_end(tmp_path: Path) -> None:
    rng = random.Random(5)
    files = {
        # binary junk between two good messages
        "junk.mbox": mbox(msg(1)) + SEP + rng.randbytes(200_000) + b"\n" + mbox(msg(2)),
        # one header line of 10 MB
        "longheader.eml": b"From: a@good1.example\nX-Long: "
        + b"x" * (10 << 20)
        + b"\nSubject: s\n\nbody\n",
        # 100,000 header fields
        "manyheaders.eml": b"".join(b"X-H%d: v\n" % i for i in range(100_000))
        + b"From: a@good1.example\n\nbody\n",
        # no blank line between the header and the body
        "noblank.eml": b"From: a@good1.example\nSubject: s\nthis body has no blank line before it\n",
        # the last message cut off in its header
        "truncated.mbox": mbox(msg(3), msg(4)) + SEP + msg(5)[:60],
        # header bytes that are not UTF-8 (Latin-1, raw 0xFF, control bytes)
        "latin1.eml": b"From: J\xe9r\xf4me <j@good1.example>\nSubject: caf\xe9 \xff\xfe\x00\nX-Bin: \x01\x02\x80\n\nbody \xe9\n",
        # a compressed mbox that expands a thousandfold (300 MB from ~300 KB)
        "bomb.mbox.gz": gzip_of_zeros(300, SEP + msg(6) + b"\n"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    assert (tmp_path / "bomb.mbox.gz").stat().st_size < 400_000

    hwm = tmp_path / "vmhwm"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            REPORT_PEAK,
            str(hwm),
            "messages",
            *files,
            "--zones",
            str(DATA / "zones"),
            "--no-progress",
            "--workers",
            "0",
        ],
        cwd=tmp_path,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert b"Traceback" not in proc.stderr
    out = records(proc.stdout)  # parses: valid JSON whatever the input bytes were
    got = {(r["source"], r["index"]): r for r in out}
    assert len(got) == len(out)

    def status(source: str, index: int) -> str:
        r = got[(source, index)]
        assert r["schema"] == "bulkauth.message/1"
        return "ok" if r["status"] == "ok" else r["error"]["code"]

    assert [status("junk.mbox", i) for i in (1, 2, 3)] == ["ok", "input.not_a_message", "ok"]
    assert status("longheader.eml", 1) == "input.header_too_long"
    assert status("manyheaders.eml", 1) == "input.too_many_headers"
    assert status("noblank.eml", 1) == "ok"
    assert [status("truncated.mbox", i) for i in (1, 2)] == ["ok", "ok"]
    assert ("truncated.mbox", 3) in got  # the cut message still has its record
    assert status("latin1.eml", 1) == "ok"
    bomb = [r for r in out if r["source"] == "bomb.mbox.gz"]
    assert bomb[-1]["error"]["code"] == "input.decompression_bomb"
    assert all(r["status"] in ("ok", "invalid_input") for r in out), [r.get("error") for r in out]
    # nothing of that was held whole: the 300 MB expansion, the 10 MB line
    peak_mb = int(hwm.read_text()) / 1024
    assert peak_mb < 250, peak_mb
