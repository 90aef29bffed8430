"""`--store` on the three commands, and `load`, `export`, `schema tables`, through the real CLI.

A run with --store must give the rows `load` gives for its NDJSON (the sink is fed the same
records); a killed run continued with --resume must end as one finished run with every record
once; a store that cannot be used must be refused before any DNS query is sent.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow.parquet as pq
import pytest

from bulkauth.store.tables import ROW_TABLES, ddl
from tests.dnsserver import serving
from tests.paths import ROOT
from tests.pipeline.test_kill_resume import LineCounter
from tests.store.conftest import SPF_CHECKS
from tests.worldgen import write_world

DATA = ROOT / "data"


def run(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bulkauth", *args],
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )
    if check:
        assert proc.returncode == 0, proc.stderr.decode()
    return proc


def rows(store: Path, table: str, run_id: str | None = None) -> list[tuple[Any, ...]]:
    """A table's rows without their run id, in a fixed order."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        where = "" if run_id is None else f"WHERE run_id = '{run_id}'"
        return con.execute(
            f"SELECT * EXCLUDE (run_id) FROM {table} {where} ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()


def runs(store: Path) -> list[dict[str, Any]]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        cur = con.execute("SELECT * FROM runs ORDER BY started_at")
        names = [d[0] for d in cur.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def assert_same_as_load(stored: Path, ndjson: Path, tmp_path: Path) -> int:
    """Every row table of ``stored`` equals what `bulkauth load` makes of ``ndjson``."""
    loaded = tmp_path / "loaded.duckdb"
    run("load", str(ndjson), "--store", str(loaded))
    total = 0
    for t in ROW_TABLES:
        got, want = rows(stored, t.name), rows(loaded, t.name)
        assert got == want, t.name
        total += len(got)
    return total


@pytest.mark.parametrize("workers", ["1", "2"])
def test_domains_store_equals_load_of_its_ndjson(tmp_path: Path, workers: str) -> None:
    store, out = tmp_path / "s.duckdb", tmp_path / "d.ndjson"
    run(
        "domains", "data/domains.txt", "--zones", "data/zones", "--no-progress",
        "--workers", workers, "-o", str(out), "--store", str(store),
    )  # fmt: skip
    assert assert_same_as_load(store, out, tmp_path) > 0
    (r,) = runs(store)
    n = len(out.read_bytes().splitlines())
    assert r["command"] == "domains" and r["records"] == n
    assert r["finished"] and not r["resumed"] and r["exit_status"] == 0
    assert r["zones"] == "data/zones" and r["nameservers"] is None
    assert r["psl_version"] and r["bulkauth_version"]
    assert orjson.loads(r["argv"])[:2] == ["bulkauth", "domains"]
    options = orjson.loads(r["options"])
    assert options["output"] == str(out) and options["workers"] == int(workers)
    assert sum(orjson.loads(r["counts"]).values()) == n


def resumable_run(tmp_path: Path, workers: str = "2") -> tuple[list[str], Path, Path]:
    """A domains run of N_KILL lines into a store, with --resume: (arguments, store, output)."""
    listing, zones = write_world(tmp_path, N_KILL, dkim_every=100, lean=True)
    store, out = tmp_path / "s.duckdb", tmp_path / "d.ndjson"
    base = ["domains", str(listing), "--zones", str(zones), "--no-progress", "--workers", workers]
    return [*base, "-o", str(out), "--store", str(store), "--resume"], store, out


def test_a_run_to_stdout_feeds_the_store_as_it_goes_and_equals_a_run_to_a_file(
    tmp_path: Path,
) -> None:
    """Two ways into the store: with -o FILE the run's records are read back from the file
    once the workers have exited (memory: issue 17); to stdout, which cannot be read back,
    each is stored as it is written. The rows must not depend on which."""
    to_file, to_stdout, out = tmp_path / "f.duckdb", tmp_path / "s.duckdb", tmp_path / "d.ndjson"
    base = ["domains", "data/domains.txt", "--zones", "data/zones", "--workers", "2"]
    filed = run(*base, "--progress", "-o", str(out), "--store", str(to_file))
    assert b"storing 52 records" in filed.stderr and b"store: 52 records from" in filed.stderr
    streamed = run(*base, "--no-progress", "--store", str(to_stdout))
    assert streamed.stdout == out.read_bytes() and b"store: " not in streamed.stderr
    for t in ROW_TABLES:
        assert rows(to_stdout, t.name) == rows(to_file, t.name), t.name
    assert [r["records"] for r in runs(to_stdout) + runs(to_file)] == [52, 52]


def test_a_run_stopped_by_sigterm_stops_without_filling_and_resume_fills_the_store(
    tmp_path: Path,
) -> None:
    """A stopped run ends at once, its records in the NDJSON only (filling the store would
    delay the stop by the time the store takes); --resume stores them with the rest."""
    base, store, out = resumable_run(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkauth", *base], env=env, stderr=subprocess.DEVNULL
    )
    counter = LineCounter(out)
    t0 = time.monotonic()
    while counter.poll() < 500:
        assert proc.poll() is None and time.monotonic() - t0 < 120
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    kept = len(out.read_bytes().splitlines())
    (r,) = runs(store)
    assert 500 <= kept < N_KILL and not r["finished"] and r["records"] == 0
    run(*base)
    (r,) = runs(store)
    assert r["finished"] and r["resumed"] and r["records"] == N_KILL
    assert_same_as_load(store, out, tmp_path)


def test_spf_input_store_equals_load_of_its_ndjson(tmp_path: Path) -> None:
    checks = tmp_path / "checks.txt"
    checks.write_text(SPF_CHECKS)
    store, out = tmp_path / "s.duckdb", tmp_path / "spf.ndjson"
    run(
        "spf", "--input", str(checks), "--zones", "data/zones", "--no-progress",
        "-o", str(out), "--store", str(store),
    )  # fmt: skip
    assert_same_as_load(store, out, tmp_path)
    assert len(rows(store, "spf_checks")) == len(SPF_CHECKS.splitlines())
    (r,) = runs(store)
    assert r["command"] == "spf" and r["finished"]
    assert orjson.loads(r["options"])["input"] == str(checks)
    # a single check is not a run: --store needs --input
    proc = run("spf", "192.0.2.1", "a@b.example", "--store", str(store), check=False)
    assert proc.returncode == 2 and b"need --input FILE" in proc.stderr


def test_messages_store_with_workers_equals_load_of_its_ndjson(tmp_path: Path) -> None:
    from bench.mailgen import generate

    mail = tmp_path / "mail"
    mail.mkdir()
    generate(mail, messages=40, seed=5, authors=4)
    store, out = tmp_path / "s.duckdb", tmp_path / "m.ndjson"
    # worker processes: the records reach the parent encoded; the sink parses them there
    run(
        "messages", str(mail / "mail.mbox"), "--zones", str(mail / "zones"), "--no-progress",
        "--workers", "2", "-o", str(out), "--store", str(store),
    )  # fmt: skip
    assert assert_same_as_load(store, out, tmp_path) >= 40
    (r,) = runs(store)
    assert r["command"] == "messages" and r["finished"] and r["records"] == 40
    assert orjson.loads(r["options"])["as_of"] == "received"


def test_a_second_run_into_the_same_store_is_a_second_run(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    for _ in range(2):
        run("domains", "data/domains.txt", "--zones", "data/zones", "--no-progress",
            "-o", os.devnull, "--store", str(store))  # fmt: skip
    both = runs(store)
    assert len({r["run_id"] for r in both}) == 2 and all(r["finished"] for r in both)
    first, second = (rows(store, "domains", r["run_id"]) for r in both)
    assert first == second


N_KILL = 2500


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigkill_then_resume_gives_one_finished_run_without_gaps(
    tmp_path: Path, workers: str
) -> None:
    """Killed twice (before the first batch of 1,000 reached the store, and after it), then
    resumed to the end: one run id, finished and resumed, each record once, the same rows as
    `load` of the final NDJSON. With worker processes the records reach the sink encoded."""
    seed = int(os.environ.get("BULKAUTH_KILL_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    listing, zones = write_world(tmp_path, N_KILL, dkim_every=100, lean=True)
    store, out = tmp_path / "s.duckdb", tmp_path / "d.ndjson"
    base = ["domains", str(listing), "--zones", str(zones), "--no-progress", "--workers", workers]
    base += ["-o", str(out), "--store", str(store), "--resume"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    targets = [rng.randrange(200, 900), rng.randrange(1300, 2000)]
    for target in targets:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bulkauth", *base],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        counter = LineCounter(out)
        t0 = time.monotonic()
        while counter.poll() < target:
            assert proc.poll() is None, f"seed {seed}: run ended before the kill point {target}"
            assert time.monotonic() - t0 < 120, f"seed {seed}: no progress"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # the store opens after a kill, with the run unfinished
        (r,) = runs(store)
        assert not r["finished"], f"seed {seed}"
    run(*base)
    (r,) = runs(store)
    why = f"seed {seed}, kills at {targets}"
    assert r["finished"] and r["resumed"] and r["exit_status"] == 0, why
    assert r["records"] == N_KILL, why
    con = duckdb.connect(str(store), read_only=True)
    seqs = con.execute("SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM domains")
    assert seqs.fetchone() == (N_KILL, N_KILL, 0, N_KILL - 1), why
    con.close()
    assert len(out.read_bytes().splitlines()) == N_KILL
    assert_same_as_load(store, out, tmp_path)
    # --resume over the whole output: the same run, nothing added, not a second run
    run(*base)
    (again,) = runs(store)
    assert again["run_id"] == r["run_id"] and again["finished"] and again["records"] == N_KILL


def test_a_lost_worker_marks_the_run_failed_and_resume_finishes_it(tmp_path: Path) -> None:
    """SIGKILL one worker process (as the OOM killer would): the CLI exits 1, and the runs row
    says so (unfinished, exit status 1: not a run killed outright, which has none); --resume
    then finishes the same run with every record once."""
    base, store, out = resumable_run(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkauth", *base],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    counter = LineCounter(out)
    t0 = time.monotonic()
    while counter.poll() < 1200:
        assert proc.poll() is None and time.monotonic() - t0 < 120, "no progress"
        time.sleep(0.005)
    pids = children.read_text().split()
    assert len(pids) == 2, pids
    os.kill(int(pids[1]), signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and b"ended unexpectedly" in err, err.decode()
    (r,) = runs(store)
    assert not r["finished"] and r["exit_status"] == 1 and r["ended_at"] is not None
    assert r["records"] <= len(out.read_bytes().splitlines())
    run(*base)
    (done,) = runs(store)
    assert done["run_id"] == r["run_id"] and done["finished"] and done["exit_status"] == 0
    assert done["records"] == N_KILL
    assert_same_as_load(store, out, tmp_path)


@pytest.mark.parametrize("kind", ["locked", "foreign", "unwritable_dir"])
def test_an_unusable_store_is_refused_before_any_dns_query(tmp_path: Path, kind: str) -> None:
    store = tmp_path / "s.duckdb"
    holder = None
    if kind == "locked":
        holder = duckdb.connect(str(store))  # this process holds DuckDB's file lock
    elif kind == "foreign":
        store.write_text('{"not": "a store"}\n')
    else:
        store = tmp_path / "missing-dir" / "s.duckdb"
    try:
        with serving(DATA / "zones") as server:
            proc = run(
                "domains", "data/domains.txt", "--nameserver", server.nameserver,
                "--no-progress", "-o", str(tmp_path / "out.ndjson"), "--store", str(store),
                check=False,
            )  # fmt: skip
            assert proc.returncode == 2, proc.stderr.decode()
            assert server.count() == 0
    finally:
        if holder is not None:
            holder.close()
    err = proc.stderr.decode()
    assert len(err.strip().splitlines()) == 1 and err.startswith("bulkauth: store "), err
    assert {"locked": "locked", "foreign": "not a DuckDB", "unwritable_dir": "does not exist"}[
        kind
    ] in err
    if kind == "foreign":
        assert store.read_text() == '{"not": "a store"}\n'  # no damage


def test_load_export_and_schema_tables_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "d.ndjson"
    run("domains", "data/domains.txt", "--zones", "data/zones", "--no-progress", "-o", str(out))
    store = tmp_path / "s.duckdb"
    first = run("load", str(out), "--store", str(store))
    assert b"records loaded as run load-" in first.stderr
    again = run("load", str(out), "--store", str(store))
    assert b"already loaded" in again.stderr
    (r,) = runs(store)
    parquet = tmp_path / "pq"
    run("export", "--store", str(store), "--parquet", str(parquet), "--run", r["run_id"])
    table = pq.read_table(parquet / "domains")
    assert table.num_rows == len(out.read_bytes().splitlines())
    # a torn last line: what came before is loaded, the rest reported, exit 1
    torn = tmp_path / "torn.ndjson"
    torn.write_bytes(out.read_bytes()[:-20])
    proc = run("load", str(torn), "--store", str(tmp_path / "t.duckdb"), check=False)
    assert proc.returncode == 1 and b"torn line" in proc.stderr
    # bad arguments: exit 2 with one line
    assert run("load", str(tmp_path / "nope"), "--store", str(store), check=False).returncode == 2
    bad_since = run("export", "--store", str(store), "--parquet", str(parquet), "--since", "x",
                    check=False)  # fmt: skip
    assert bad_since.returncode == 2 and b"YYYY-MM-DD" in bad_since.stderr
    assert run("schema", "tables").stdout.decode().strip() == ddl().strip()


def test_resume_with_store_of_a_run_begun_without_it_stores_the_kept_records(
    tmp_path: Path,
) -> None:
    """The interrupted run had no --store: the records its NDJSON kept go in from the file
    first, then the rest as they come; one run, each record once."""
    out, store = tmp_path / "d.ndjson", tmp_path / "s.duckdb"
    base = ["domains", "data/domains.txt", "--zones", "data/zones", "--no-progress", "-o", str(out)]
    run(*base)
    whole = out.read_bytes()
    lines = whole.splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:20]) + lines[20][:15])  # 20 records and a torn one
    run(*base, "--resume", "--store", str(store))
    assert out.read_bytes() == whole
    (r,) = runs(store)
    assert r["resumed"] and r["finished"] and r["records"] == len(lines)
    assert_same_as_load(store, out, tmp_path)
