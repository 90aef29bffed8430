"""`load`: NDJSON files (.gz too) into the store, idempotently; bad lines stop a file, reported."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bulkauth.store.commands import load_command
from bulkauth.store.load import file_run_id, load
from tests.store.conftest import records


def query(store: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_loading_the_same_files_twice_gives_one_run_each(
    tmp_path: Path, domains_run: Path, messages_run: Path, spf_run: Path
) -> None:
    store = tmp_path / "s.duckdb"
    files = [domains_run, messages_run, spf_run]
    first = load(files, store)
    assert [r.loaded for r in first] == [len(records(f)) for f in files]
    assert all(r.bad_line is None and not r.already for r in first)
    tables = ["runs", "domains", "problems", "dkim_keys", "messages", "signatures", "spf_checks"]
    counts = {t: query(store, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    again = load(files, store)
    assert [r.already for r in again] == [True] * 3
    assert [r.run_id for r in again] == [r.run_id for r in first]
    assert {t: query(store, f"SELECT count(*) FROM {t}")[0][0] for t in tables} == counts
    runs = query(
        store,
        "SELECT command, records, finished, exit_status, loaded_from FROM runs ORDER BY command",
    )
    assert runs == [
        ("domains", counts["domains"], True, None, str(domains_run)),
        ("messages", counts["messages"], True, None, str(messages_run)),
        ("spf", counts["spf_checks"], True, None, str(spf_run)),
    ]


def test_a_gzipped_file_loads_the_same_rows(tmp_path: Path, domains_run: Path) -> None:
    gz = tmp_path / "domains.ndjson.gz"
    gz.write_bytes(gzip.compress(domains_run.read_bytes()))
    store = tmp_path / "s.duckdb"
    load([domains_run, gz], store)
    plain, packed = (
        query(
            store,
            f"SELECT list(record ORDER BY seq) FROM domains WHERE run_id = '{file_run_id(p)}'",
        )[0][0]
        for p in (domains_run, gz)
    )
    assert plain == packed and len(plain) == len(records(domains_run))


def cut(src: Path, dst: Path, keep: int, tail: bytes) -> Path:
    lines = src.read_bytes().splitlines(keepends=True)
    dst.write_bytes(b"".join(lines[:keep]) + tail)
    return dst


def test_a_torn_last_line_loads_the_lines_before_it(tmp_path: Path, domains_run: Path) -> None:
    line11 = domains_run.read_bytes().splitlines(keepends=True)[10]
    torn = cut(domains_run, tmp_path / "torn.ndjson", 10, line11[:100])
    store = tmp_path / "s.duckdb"
    err = io.StringIO()
    assert load_command([str(torn)], str(store), err=err) == 1
    assert f"{torn}: 10 records loaded as run" in err.getvalue()
    assert "line 11: torn line (no newline at the end" in err.getvalue()
    assert query(store, "SELECT records, finished FROM runs") == [(10, False)]
    assert query(store, "SELECT count(*), max(seq) FROM domains") == [(10, 9)]
    # loading it again: the unfinished run is loaded afresh, not doubled
    (report,) = load([torn], store)
    assert (report.loaded, report.bad_line, report.not_loaded) == (10, 11, 1)
    assert query(store, "SELECT count(*) FROM domains") == [(10,)]
    assert query(store, "SELECT count(*) FROM runs") == [(1,)]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"schema":"other.tool/2","x":1}\n', "not a bulkauth record (schema 'other.tool/2')"),
        (b"[1, 2]\n", "not a JSON object"),
        (b"garbage\n", "not JSON"),
        (b"\n", "not JSON"),
        (b'{"schema":"bulkauth.spf/1","source":"s","line":1}\n', "a bulkauth.spf/1 record in a file of bulkauth.domain/1 records"),
        (b'{"schema":"bulkauth.domain/1","source":"s"}\n', "bulkauth.domain/1 record without the field it needs"),
    ],
)  # fmt: skip
def test_a_foreign_line_stops_the_file_and_is_reported(
    tmp_path: Path, domains_run: Path, line: bytes, reason: str
) -> None:
    lines = domains_run.read_bytes().splitlines(keepends=True)
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(b"".join(lines[:5]) + line + b"".join(lines[5:]))
    (report,) = load([bad], tmp_path / "s.duckdb")
    assert (report.loaded, report.bad_line) == (5, 6)
    assert report.reason is not None and reason in report.reason
    assert report.not_loaded == len(lines) - 5 + 1
    assert (
        f"line 6: {report.reason}: it and the {len(lines) - 5} lines after it were not loaded"
        in report.describe()
    )


def test_a_file_whose_first_line_is_bad_makes_no_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(b"nope\n{}\n")
    store = tmp_path / "s.duckdb"
    (report,) = load([bad], store)
    assert (report.run_id, report.loaded, report.bad_line, report.not_loaded) == (None, 0, 1, 2)
    assert query(store, "SELECT count(*) FROM runs") == [(0,)]


def test_load_command_refuses_missing_files_before_opening_the_store(tmp_path: Path) -> None:
    err = io.StringIO()
    assert load_command([str(tmp_path / "nope.ndjson")], str(tmp_path / "s.duckdb"), err=err) == 2
    assert "no such file" in err.getvalue() and not (tmp_path / "s.duckdb").exists()
