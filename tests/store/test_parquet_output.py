"""`-o FILE.parquet` on a run: the run's item table as one Parquet file, the same columns and
rows `bulkauth export` gives for that run, written only when the run ends whole; a killed run
keeps its NDJSON spool and --resume finishes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.paths import ROOT
from tests.pipeline.test_kill_resume import LineCounter
from tests.store.conftest import SPF_CHECKS
from tests.store.test_cli_store import run, runs
from tests.worldgen import write_world


def table_rows(path: Path) -> list[tuple[object, ...]]:
    """The file's rows without run_id, ordered (nested lists compared as values)."""
    con = duckdb.connect()
    try:
        return con.execute(
            f"SELECT * EXCLUDE (run_id) FROM read_parquet('{path}') ORDER BY seq"
        ).fetchall()
    finally:
        con.close()


def only_entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_domains_parquet_equals_the_export_of_the_same_run(tmp_path: Path) -> None:
    out = tmp_path / "d.parquet"
    run("domains", "data/domains.txt", "--zones", "data/zones", "--no-progress", "-o", str(out))
    # no spool, no private store left behind
    assert only_entries(tmp_path) == ["d.parquet"]
    table = pq.read_table(out)
    text = (ROOT / "data/domains.txt").read_text().splitlines()
    items = [x for x in text if x.split("#", 1)[0].strip()]  # comments and blank lines: none
    assert table.num_rows == len(items)
    types = dict(zip(table.schema.names, table.schema.types, strict=True))
    assert types["seq"] == pa.int64() and types["run_date"] == pa.date32()
    assert types["dmarc_pct"] == pa.int32() and types["null_mx"] == pa.bool_()
    assert pa.types.is_list(types["problems"])
    assert [f.name for f in types["problems"].value_type] == [
        "section", "location", "code", "severity", "message",
    ]  # fmt: skip
    # the same run with --store, exported: the same columns and rows
    store, ndjson = tmp_path / "s.duckdb", tmp_path / "d.ndjson"
    run("domains", "data/domains.txt", "--zones", "data/zones", "--no-progress",
        "-o", str(ndjson), "--store", str(store))  # fmt: skip
    run("export", "--store", str(store), "--parquet", str(tmp_path / "pq"))
    (exported,) = (tmp_path / "pq" / "domains").glob("run_date=*/*.parquet")
    assert pq.read_table(exported).schema.names == [
        n for n in table.schema.names if n != "run_date"
    ]  # Hive partitioning keeps run_date in the directory name
    # DuckDB reads run_date back from the directory name
    assert table_rows(out) == table_rows(exported)


def test_parquet_with_store_carries_the_store_run_id(tmp_path: Path) -> None:
    checks = tmp_path / "checks.txt"
    checks.write_text(SPF_CHECKS)
    out, store = tmp_path / "spf.parquet", tmp_path / "s.duckdb"
    run("spf", "--input", str(checks), "--zones", "data/zones", "--no-progress",
        "-o", str(out), "--store", str(store))  # fmt: skip
    (r,) = runs(store)
    table = pq.read_table(out)
    assert table.num_rows == len(SPF_CHECKS.splitlines()) == r["records"]
    assert set(table.column("run_id").to_pylist()) == {r["run_id"]}
    assert r["finished"] and r["options"] and "spf.parquet.ndjson" in r["options"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checks.txt", "s.duckdb", "spf.parquet"]
    proc = run("spf", "192.0.2.1", "a@b.example", "-o", str(out), check=False)
    assert proc.returncode == 2 and b"need --input" in proc.stderr


def test_messages_parquet_nests_signatures(tmp_path: Path) -> None:
    from bench.mailgen import generate

    mail = tmp_path / "mail"
    mail.mkdir()
    generate(mail, messages=30, seed=7, authors=3)
    out = tmp_path / "m.parquet"
    run("messages", str(mail / "mail.mbox"), "--zones", str(mail / "zones"), "--no-progress",
        "--workers", "2", "-o", str(out))  # fmt: skip
    table = pq.read_table(out)
    assert table.num_rows == 30
    sigs = table.column("signatures").to_pylist()
    assert sum(len(s) for s in sigs) >= 30
    assert all({"d", "s", "a", "result", "code"} <= set(s) for row in sigs for s in row)


def test_a_stopped_run_keeps_its_spool_and_resume_writes_the_parquet(tmp_path: Path) -> None:
    """SIGKILL mid-run: no Parquet (never a half file), the spool kept; SIGINT on the resumed
    run: still none (a stopped run is not whole); --resume to the end: every item once."""
    n = 2500
    listing, zones = write_world(tmp_path, n, dkim_every=100, lean=True)
    out = tmp_path / "d.parquet"
    spool = tmp_path / "d.parquet.ndjson"
    base = ["domains", str(listing), "--zones", str(zones), "--no-progress", "--workers", "1"]
    base += ["-o", str(out), "--resume"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for target, sig in ((700, signal.SIGKILL), (1500, signal.SIGINT)):
        proc = subprocess.Popen(
            [sys.executable, "-m", "bulkauth", *base],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        counter = LineCounter(spool)
        t0 = time.monotonic()
        while counter.poll() < target:
            assert proc.poll() is None and time.monotonic() - t0 < 120, "no progress"
            time.sleep(0.005)
        proc.send_signal(sig)
        rc = proc.wait(timeout=60)
        assert rc == (-signal.SIGKILL if sig == signal.SIGKILL else 128 + signal.SIGINT)
        assert not out.exists() and spool.exists()
    run(*base)
    assert not spool.exists()
    assert not [p for p in tmp_path.iterdir() if p.name == ".d.parquet.store"]
    con = duckdb.connect()
    got = con.execute(
        f"SELECT count(*), count(DISTINCT seq), min(seq), max(seq), count(DISTINCT line) "
        f"FROM read_parquet('{out}')"
    ).fetchone()
    assert got == (n, n, 0, n - 1, n)


@pytest.mark.parametrize("where", ["missing-dir/d.parquet"])
def test_a_parquet_output_that_cannot_be_written_is_refused_first(
    tmp_path: Path, where: str
) -> None:
    proc = run("domains", "data/domains.txt", "--zones", "data/zones", "--no-progress",
               "-o", str(tmp_path / where), check=False)  # fmt: skip
    assert proc.returncode == 2 and b"does not exist" in proc.stderr, proc.stderr
