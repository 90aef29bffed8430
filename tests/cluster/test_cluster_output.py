"""A clustered run writes the file a local run writes, byte for byte: `domains` (live DNS
from the loopback test server), `spf --input` (checks grouped by sender domain over shards)
and `messages` (a folder of Maildir, .eml, plain and gzipped mbox files, and one large mbox
cut into byte ranges), on a LocalCluster of 2 worker processes."""

from __future__ import annotations

import gzip
import re
import shutil
import sys
from pathlib import Path

import orjson
import pytest

pytest.importorskip(
    "distributed", reason="the cluster extra is not installed: pip install 'bulkauth[cluster]'"
)

from bench.mailgen import generate
from tests.cluster.kit import DATA, bulkauth, check_file, lines, summary_records
from tests.dnsserver import serving


def test_domains_on_a_cluster_equal_the_local_run(tmp_path: Path) -> None:
    local, clustered = tmp_path / "local.ndjson", tmp_path / "cluster.ndjson"
    with serving(DATA / "zones") as server:
        common = ["domains", str(DATA / "domains.txt"), "-n", server.nameserver, "--no-progress"]
        bulkauth(*common, "-o", str(local))
        proc = bulkauth(*common, "-o", str(clustered), "--cluster", "local:2", "--shard-size", "7")
    assert local.read_bytes() == clustered.read_bytes()
    assert len(lines(local)) == summary_records(proc.stderr) > 50
    # the same summary as a local run, and what the cluster did
    assert b"dns (udp):" in proc.stderr and b"cluster: 8 shards of 7 lines" in proc.stderr
    # the parts are gone once assembled; the manifest stays, marked assembled
    parts = Path(str(clustered) + ".cluster")
    assert [p.name for p in parts.iterdir()] == ["manifest.json"]


def test_spf_checks_on_a_cluster_equal_the_local_run(tmp_path: Path) -> None:
    checks = check_file(tmp_path / "checks.txt", 300)
    local, clustered = tmp_path / "local.ndjson", tmp_path / "cluster.ndjson"
    common = ["spf", "--input", str(checks), "--zones", str(DATA / "zones"), "--no-progress"]
    bulkauth(*common, "-o", str(local))
    proc = bulkauth(*common, "-o", str(clustered), "--cluster", "local:2", "--shard-size", "25")
    assert local.read_bytes() == clustered.read_bytes()
    assert len(lines(local)) == 306
    assert b"cluster: 13 shards of 25 lines" in proc.stderr


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of every kind of archive file, and one larger mbox beside it."""
    out = tmp_path_factory.mktemp("mail")
    generate(out, messages=120, seed=5, authors=6)
    mbox = (out / "mail.mbox").read_bytes()
    folder = out / "archive"
    cur = folder / "maildir" / "cur"
    cur.mkdir(parents=True)
    (folder / "maildir" / "new").mkdir()
    messages = [m for m in re.split(rb"(?m)^(?=From bounce@example )", mbox) if m]
    for i, m in enumerate(messages[:9]):
        (cur / f"{i:03d}:2,S").write_bytes(m.split(b"\n", 1)[1])
    for i, m in enumerate(messages[9:14]):
        (folder / f"m{i}.eml").write_bytes(m.split(b"\n", 1)[1])
    (folder / "a.mbox").write_bytes(b"".join(messages[14:40]))
    (folder / "b.mbox.gz").write_bytes(gzip.compress(b"".join(messages[40:60])))
    # bad input: a file that is no message, and a compressed mbox cut off mid-stream; each
    # must give its error record in the clustered output as in the local one
    (folder / "z-garbage.eml").write_bytes(b"\x00\xff\x01 no header here\n\n\x00")
    (folder / "z-cut.mbox.gz").write_bytes(gzip.compress(b"".join(messages[60:64]))[:200])
    return out


def test_messages_on_a_cluster_equal_the_local_run(archive: Path, tmp_path: Path) -> None:
    local, clustered = tmp_path / "local.ndjson", tmp_path / "cluster.ndjson"
    inputs = [str(archive / "archive"), str(archive / "mail.mbox")]
    # a fixed clock: the garbage file has no date of its own, and would be checked as of now
    common = ["messages", *inputs, "--zones", str(archive / "zones"), "--no-progress"]
    common += ["--as-of", "2026-12-01T00:00:00Z"]
    bulkauth(*common, "-o", str(local))
    proc = bulkauth(*common, "-o", str(clustered), "--cluster", "local:2", "--shard-size", "8")
    assert local.read_bytes() == clustered.read_bytes()
    # the cut mbox: its whole first message, then the error; the garbage file: its error
    assert len(lines(local)) == 9 + 5 + 26 + 20 + 120 + 2 + 1
    errors = [r for r in map(orjson.loads, lines(local)) if r["status"] != "ok"]
    assert [e["error"]["code"] for e in errors] == ["input.corrupt_archive", "input.not_a_message"]
    # in input order: a.mbox in ranges (4), b.mbox.gz whole (1), the Maildir and .eml files 8 to
    # a shard (2), z-cut.mbox.gz whole (1), z-garbage.eml (1), mail.mbox in ranges (15)
    assert b"cluster: 24 shards of 8 messages" in proc.stderr


def test_the_store_is_fed_the_assembled_records(archive: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    out = tmp_path / "run.parquet"
    bulkauth(
        "messages",
        str(archive / "mail.mbox"),
        "--zones",
        str(archive / "zones"),
        "--no-progress",
        "-o",
        str(out),
        "--cluster",
        "local:2",
        "--shard-size",
        "40",
    )
    table = pq.read_table(out)
    assert table.num_rows == 120


def test_without_the_extra_the_cluster_says_what_to_install(tmp_path: Path) -> None:
    import subprocess

    from tests.cluster.kit import env
    from tests.paths import ROOT

    code = (
        "import sys; sys.modules['distributed'] = None; from bulkauth.cli import main; "
        f"main(['domains', {str(DATA / 'domains.txt')!r}, '--zones', 'data/zones', "
        f"'-o', {str(tmp_path / 'o.ndjson')!r}, '--cluster', 'local:2'])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env(), cwd=ROOT)
    assert proc.returncode == 2
    assert b"pip install 'bulkauth[cluster]'" in proc.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--cluster", "local:2"], b"give -o FILE"),
        (["--cluster", "nowhere:1", "-o", "x.ndjson"], b"tcp://HOST:PORT"),
        (["--cluster", "local:2", "-o", "x.ndjson", "--probe", "starttls"], b"--probe"),
    ],
)
def test_what_the_cluster_refuses(args: list[str], says: bytes, tmp_path: Path) -> None:
    shutil.copy(DATA / "domains.txt", tmp_path / "d.txt")
    proc = bulkauth("domains", str(tmp_path / "d.txt"), "--zones", "data/zones", *args, check=False)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
