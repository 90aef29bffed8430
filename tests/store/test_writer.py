"""StoreWriter: opening checks (lock, not a DuckDB file, layout version), batches, resume."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from bulkauth.store import tables, writer
from bulkauth.store.commands import load_command
from bulkauth.store.load import load
from bulkauth.store.writer import (
    RunInfo,
    StoreError,
    StoreLocked,
    StoreVersionError,
    StoreWriter,
)
from tests.paths import ROOT
from tests.store.conftest import records


def spf_record(line: int) -> dict[str, Any]:
    return {
        "schema": "bulkauth.spf/1", "source": "checks.txt", "line": line, "input": "x",
        "status": "ok", "ip": "192.0.2.1", "sender": "a@b.example", "helo": "",
        "result": "pass", "domain": "b.example", "explanation": "", "mechanism": "+all",
        "problem": None, "lookups": 0, "void_lookups": 0,
    }  # fmt: skip


def info(run_id: str = "run-1") -> RunInfo:
    return RunInfo(run_id=run_id, record_schema="bulkauth.spf/1", started_at=writer.now())


def count(path: Path, sql: str) -> Any:
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute(sql).fetchone()
        assert row is not None
        return row[0] if len(row) == 1 else row
    finally:
        con.close()


def test_a_run_is_written_in_batches_and_ended(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    with StoreWriter(store, batch=2) as w:
        w.start_run(info())
        for line in range(1, 6):
            w.write(spf_record(line), f"[{line}]")
        assert w.run_state("run-1") == (False, 4)  # two whole batches so far
        w.end_run(exit_status=0)
    assert count(store, "SELECT count(*), min(seq), max(seq) FROM spf_checks") == (5, 0, 4)
    assert count(
        store, "SELECT command, records, counts, exit_status, finished, resumed FROM runs"
    ) == ("spf", 5, '{"ok":5}', 0, True, False)


def test_a_kill_leaves_a_store_that_opens_and_a_resume_leaves_no_duplicates(
    tmp_path: Path,
) -> None:
    store = tmp_path / "s.duckdb"
    script = textwrap.dedent(
        f"""
        import os, signal
        from tests.store.test_writer import info, spf_record
        from bulkauth.store.writer import StoreWriter
        w = StoreWriter({str(store)!r}, batch=3)
        w.start_run(info())
        for line in range(1, 9):
            w.write(spf_record(line), "{{}}")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert proc.returncode == -signal.SIGKILL
    with StoreWriter(store) as w:
        assert w.run_state("run-1") == (False, 6)  # the two whole batches; the third was lost
        # the NDJSON output had 5 records when it was cut: the run resumes from there
        w.start_run(info(), resume_from=5)
        for line in range(6, 11):
            w.write(spf_record(line), "{}")
        w.end_run(exit_status=0)
    assert count(
        store, "SELECT count(*), count(DISTINCT line), min(line), max(line) FROM spf_checks"
    ) == (10, 10, 1, 10)
    assert count(store, "SELECT list(seq ORDER BY seq) = range(10) FROM spf_checks")
    assert count(store, "SELECT records, finished, resumed FROM runs") == (10, True, True)


def test_starting_a_run_again_replaces_its_rows(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    for _ in range(2):
        with StoreWriter(store) as w:
            w.start_run(info())
            for line in (1, 2, 3):
                w.write(spf_record(line), "{}")
            w.end_run(exit_status=0)
    assert count(store, "SELECT count(*) FROM spf_checks") == 3
    assert count(store, "SELECT count(*), bool_and(NOT resumed) FROM runs") == (1, True)


def test_a_record_of_another_kind_is_refused_with_nothing_written(tmp_path: Path) -> None:
    with StoreWriter(tmp_path / "s.duckdb") as w:
        w.start_run(info())
        with pytest.raises(ValueError, match=r"bulkauth\.domain/1"):
            w.write({**spf_record(1), "schema": "bulkauth.domain/1"}, "{}")
        w.end_run(exit_status=0)
    assert count(tmp_path / "s.duckdb", "SELECT records FROM runs") == 0


def test_a_second_writer_process_is_refused_naming_the_lock(
    tmp_path: Path, domains_run: Path
) -> None:
    store = tmp_path / "s.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from bulkauth.store.writer import StoreWriter; w = StoreWriter({str(store)!r}); print('open', flush=True); input()"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"open\n"
        with pytest.raises(
            StoreLocked,
            match=r"is locked: another process writes it \(DuckDB's file lock on .*s\.duckdb, held by .*PID",
        ):
            StoreWriter(store)
        err = io.StringIO()
        assert load_command([str(domains_run)], str(store), err=err) == 2
        assert "locked" in err.getvalue() and str(store) in err.getvalue()
    finally:
        holder.communicate(b"\n", timeout=30)
    assert holder.returncode == 0
    with StoreWriter(store):  # no damage: the store opens, empty
        pass
    assert count(store, "SELECT count(*) FROM runs") == 0


def test_a_second_writer_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with StoreWriter(tmp_path / "s.duckdb"), pytest.raises(StoreLocked, match="this process"):
        StoreWriter(tmp_path / "s.duckdb")
    StoreWriter(tmp_path / "s.duckdb").close()  # released on close


def test_a_file_that_is_not_a_duckdb_store_is_refused_untouched(tmp_path: Path) -> None:
    text = tmp_path / "audit.ndjson"
    text.write_bytes(b'{"schema":"bulkauth.domain/1"}\n')
    with pytest.raises(StoreError, match="exists but is not a DuckDB database"):
        StoreWriter(text)
    assert text.read_bytes() == b'{"schema":"bulkauth.domain/1"}\n'
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE t (x INTEGER)")
    con.close()
    with pytest.raises(StoreError, match="not a bulkauth store"):
        StoreWriter(other)


@pytest.mark.parametrize("where", ["dir", "missing-parent"])
def test_an_unusable_path_is_refused(tmp_path: Path, where: str) -> None:
    path = tmp_path if where == "dir" else tmp_path / "nowhere" / "s.duckdb"
    with pytest.raises(StoreError, match=r"is a directory|does not exist"):
        StoreWriter(path)


def test_an_unwritable_store_is_refused(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root writes read-only files: a directory no one may write in
        path = Path("/sys/bulkauth-store.duckdb")
    else:
        path = tmp_path / "s.duckdb"
        StoreWriter(path).close()
        path.chmod(0o444)
    with pytest.raises(StoreError, match=f"store {path}: cannot open it"):
        StoreWriter(path)


def set_version(store: Path, version: int) -> None:
    con = duckdb.connect(str(store))
    con.execute("UPDATE meta SET value = ? WHERE key = 'store_version'", [str(version)])
    con.close()


@pytest.mark.parametrize("version", [0, tables.STORE_VERSION + 1])
def test_a_store_of_another_layout_is_refused(tmp_path: Path, version: int) -> None:
    store = tmp_path / "s.duckdb"
    StoreWriter(store).close()
    set_version(store, version)
    with pytest.raises(
        StoreVersionError,
        match=f"layout version {version}; this bulkauth reads version {tables.STORE_VERSION}",
    ):
        StoreWriter(store)
    with pytest.raises(StoreVersionError), writer.reading(store):
        pass


def test_a_store_of_an_older_layout_is_upgraded_when_there_is_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "s.duckdb"
    StoreWriter(store).close()
    monkeypatch.setattr(tables, "STORE_VERSION", tables.STORE_VERSION + 1)
    monkeypatch.setattr(
        tables,
        "UPGRADES",
        {tables.STORE_VERSION - 1: ("ALTER TABLE runs ADD COLUMN note VARCHAR",)},
    )
    StoreWriter(store).close()
    assert count(store, "SELECT value FROM meta WHERE key = 'store_version'") == str(
        tables.STORE_VERSION
    )
    assert count(store, "SELECT count(*) FROM duckdb_columns() WHERE column_name = 'note'") == 1


def test_records_from_data_fill_every_table(
    tmp_path: Path, domains_run: Path, messages_run: Path, spf_run: Path
) -> None:
    """Every table gets rows (arc_sets from the generated mailing-list messages' ARC chains)."""
    store = tmp_path / "s.duckdb"
    with StoreWriter(store, batch=7) as w:
        for path, schema in (
            (domains_run, "bulkauth.domain/1"),
            (messages_run, "bulkauth.message/1"),
            (spf_run, "bulkauth.spf/1"),
        ):
            w.start_run(RunInfo(run_id=path.name, record_schema=schema, started_at=writer.now()))
            for line in path.read_bytes().splitlines():
                w.write(orjson.loads(line), line.decode())
            w.end_run(exit_status=0)
    for table in tables.ROW_TABLES:
        n = count(store, f"SELECT count(*) FROM {table.name}")
        assert n > 0, table.name
    n_domains = len(records(domains_run))
    assert count(store, "SELECT count(*) FROM domains") == n_domains
    assert (
        count(store, "SELECT count(*) FROM domains WHERE record::JSON->>'input' = input")
        == n_domains
    )


def test_a_version_1_store_is_upgraded_to_hold_the_key_history(
    tmp_path: Path, messages_run: Path
) -> None:
    """Version 1 had no key_history and no signatures.key_hash/key_source: a store of it is
    upgraded in place, its signatures' keys marked as from DNS (there was no history then)."""
    store = tmp_path / "s.duckdb"
    load([messages_run], store)
    con = duckdb.connect(str(store))
    con.execute("DROP TABLE key_history")
    con.execute("ALTER TABLE signatures DROP COLUMN key_source")
    con.execute("ALTER TABLE signatures DROP COLUMN key_hash")
    con.close()
    set_version(store, 1)
    StoreWriter(store).close()
    assert count(store, "SELECT value FROM meta WHERE key = 'store_version'") == "2"
    with_key = count(
        store, "SELECT count(*) FROM signatures WHERE detail->>'$.key.name' IS NOT NULL"
    )
    assert (
        with_key
        and count(store, "SELECT count(*) FROM signatures WHERE key_source = 'dns'") == with_key
    )
    assert count(store, "SELECT count(*) FROM key_history") == 0
    # and it takes runs again, with the columns in the order the appenders write them
    shorter = tmp_path / "shorter.ndjson"
    shorter.write_bytes(b"".join(messages_run.read_bytes().splitlines(keepends=True)[:-1]))
    (report,) = load([shorter], store)
    assert report.loaded > 0 and report.bad_line is None
    assert count(store, "SELECT count(*) FROM signatures WHERE key_source = 'dns'") > with_key


def _settings(con: duckdb.DuckDBPyConnection) -> tuple[str, str, int]:
    row = con.execute(
        "SELECT current_setting('memory_limit'), current_setting('checkpoint_threshold'),"
        " current_setting('threads')"
    ).fetchone()
    assert row is not None
    return str(row[0]), str(row[1]), int(row[2])


def test_a_runs_sink_keeps_less_in_memory_than_a_load(tmp_path: Path) -> None:
    """A run's --store sink checkpoints at 16 MB in a 64 MB pool (what kept a 1,000,000-domain
    run's parent flat, issue 17); `load`, where the store sets the pace, keeps its larger ones."""
    from bulkauth.store.sink import StoreSink

    sink = StoreSink(str(tmp_path / "run.duckdb"), "domains", [], {}, None, None, False)
    try:
        assert _settings(sink.writer.con) == ("61.0 MiB", "15.2 MiB", 1)
    finally:
        sink.close()
    with StoreWriter(tmp_path / "load.duckdb") as w:
        assert _settings(w.con)[:2] == ("244.1 MiB", "244.1 MiB")
