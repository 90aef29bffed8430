"""Parquet export read back by DuckDB and by pyarrow, with the documented types."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from bulkauth.store import tables
from bulkauth.store.commands import export_command
from bulkauth.store.export import export
from bulkauth.store.load import file_run_id, load

PROBLEM = pa.struct(
    [(name, pa.string()) for name in ("section", "location", "code", "severity", "message")]
)
SIGNATURE = pa.struct(
    [(name, pa.string()) for name in ("d", "s", "a", "result", "code", "message")]
    + [("key_bits", pa.int32()), ("key_type", pa.string())]
)


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, domains_run: Path, messages_run: Path, spf_run: Path
) -> Path:
    path = tmp_path_factory.mktemp("export") / "s.duckdb"
    load([domains_run, messages_run, spf_run], path)
    con = duckdb.connect(str(path))  # file the spf run under another day
    con.execute(
        "UPDATE runs SET ended_at = '2024-02-29 23:30:00+00' WHERE run_id = ?",
        [file_run_id(spf_run)],
    )
    con.close()
    return path


def dataset(root: Path, table: str) -> pa.Table:
    return ds.dataset(root / table, format="parquet", partitioning="hive").to_table()


def test_every_table_read_back_by_pyarrow_with_the_documented_types(
    store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "parquet"
    done = {e.table: e.rows for e in export(store, out)}
    con = duckdb.connect(str(store), read_only=True)
    for table in (tables.RUNS, *tables.ROW_TABLES):
        assert done[table.name] == con.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]  # type: ignore[index]
    con.close()
    today = date.today().isoformat()
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(
        {"run_date=2024-02-29", f"run_date={today}"}
    )
    runs = dataset(out, "runs")
    for column in ("started_at", "ended_at", "loaded_at"):
        assert runs.schema.field(column).type == pa.timestamp("us", tz="UTC"), column
    assert runs.schema.field("records").type == pa.int64()
    assert runs.schema.field("finished").type == pa.bool_()

    domains = dataset(out, "domains")
    assert domains.num_rows == done["domains"]
    assert domains.schema.field("problems").type == pa.list_(PROBLEM)
    assert domains.schema.field("spf_lookups").type == pa.int32()
    assert domains.schema.field("dmarc_inherited").type == pa.bool_()
    rows = domains.to_pylist()
    assert sum(len(r["problems"]) for r in rows) == sum(r["problem_count"] for r in rows)
    good = next(r for r in rows if r["input"] == "sub.good1.example")
    assert [p["code"] for p in good["problems"]] == [
        "spf.no_record",
        "dkim.none_found",
        "mta_sts.no_record",
        "tls_rpt.no_record",
    ]

    messages = dataset(out, "messages")
    assert messages.schema.field("signatures").type == pa.list_(SIGNATURE)
    assert messages.schema.field("date").type == pa.timestamp("us", tz="UTC")
    assert all(r["signatures"] is not None for r in messages.to_pylist())

    keys = dataset(out, "dkim_keys")
    assert keys.schema.field("flags").type == pa.list_(pa.string())
    assert keys.schema.field("bits").type == pa.int32()

    spf = dataset(out, "spf_checks")
    assert spf.num_rows == 5 and set(spf.column("run_date").to_pylist()) == {"2024-02-29"}
    # the generated mailing-list messages are ARC-sealed: one row per set
    arc = dataset(out, "arc_sets")
    assert arc.num_rows == done["arc_sets"] > 0
    assert arc.schema.field("instance").type == pa.int32()
    assert arc.schema.field("ams_valid").type == pa.bool_()
    assert set(arc.column("cv").to_pylist()) <= {"none", "pass", "fail"}


def test_read_back_by_duckdb_with_hive_partitions(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    export(store, out)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")

    def types(table: str) -> dict[str, str]:
        rows = con.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{out}/{table}/*/*.parquet', hive_partitioning = true)"
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    sigs = types("signatures")
    assert sigs["signed_at"] == "TIMESTAMP WITH TIME ZONE" and sigs["key_bits"] == "INTEGER"
    assert types("runs")["started_at"] == "TIMESTAMP WITH TIME ZONE"
    domains = types("domains")
    assert domains["run_date"] == "DATE"
    assert domains["problems"].startswith("STRUCT(") and domains["problems"].endswith("[]")
    assert domains["record"] == "JSON"
    n = con.execute(
        f"SELECT count(*) FROM read_parquet('{out}/domains/*/*.parquet') WHERE record->>'input' = input"
    ).fetchone()
    assert n is not None and n[0] > 50


def test_a_selection_replaces_the_former_export(store: Path, tmp_path: Path, spf_run: Path) -> None:
    out = tmp_path / "parquet"
    export(store, out)
    done = {e.table: e.rows for e in export(store, out, run=file_run_id(spf_run))}
    assert done["spf_checks"] == 5 and done["domains"] == 0 and done["runs"] == 1
    assert dataset(out, "domains").num_rows == 0
    done = {e.table: e.rows for e in export(store, out, since=date(2025, 1, 1))}
    assert done["spf_checks"] == 0 and done["domains"] > 0


def test_export_command_errors(store: Path, tmp_path: Path) -> None:
    err = io.StringIO()
    assert export_command(str(store), str(tmp_path / "p"), since="yesterday", err=err) == 2
    assert "give a date as YYYY-MM-DD" in err.getvalue()
    assert export_command(str(store), str(tmp_path / "p"), run="nope", err=err) == 2
    assert "no run nope" in err.getvalue()
    assert export_command(str(tmp_path / "none.duckdb"), str(tmp_path / "p"), err=err) == 2
    assert "no such file" in err.getvalue()
    assert export_command(str(store), str(tmp_path / "p"), err=err) == 0
    assert "spf_checks: 5 rows ->" in err.getvalue()


def test_chunked_export_gives_every_row_once_with_its_own_lists(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records are exported CHUNK at a time (bounded memory): with chunks of 7, every row is
    there once, and each record's nested lists are its own, as in one chunk."""
    import bulkauth.store.export as export_module

    whole = tmp_path / "whole"
    export(store, whole)
    monkeypatch.setattr(export_module, "CHUNK", 7)
    chunked = tmp_path / "chunked"
    export(store, chunked)
    for table in ("domains", "problems", "messages", "signatures", "spf_checks"):
        a = dataset(whole, table).to_pylist()
        b = dataset(chunked, table).to_pylist()

        def key(r: dict[str, object]) -> tuple[str, int, int]:
            return (str(r["run_id"]), int(r["seq"]), int(r.get("n") or 0))  # type: ignore[call-overload]

        assert sorted(a, key=key) == sorted(b, key=key), table
    assert len(list((chunked / "domains").rglob("*.parquet"))) > 5


def test_a_runs_parquet_file_written_in_chunks_has_every_row_once(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-o FILE.parquet writes its run CHUNK records at a time, then joins the parts into one
    file (a 1,000,000-domain run's lists at once ran out of memory): the same rows as one
    chunk, and nothing left beside the file."""
    import pyarrow.parquet as pq

    import bulkauth.store.export as export_module
    from bulkauth.store.writer import reading

    def written(name: str) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        with reading(store) as con:
            for command, table in tables.ITEM_TABLES.items():
                row = con.execute(
                    "SELECT run_id FROM runs WHERE command = ? ORDER BY records DESC LIMIT 1",
                    [command],
                ).fetchone()
                assert row is not None
                path = tmp_path / f"{name}-{table.name}.parquet"
                n = export_module.export_run_table(con, table, str(row[0]), path)
                got = pq.read_table(path).to_pylist()
                assert n == len(got) > 0
                rows += sorted(got, key=lambda r: int(r["seq"]))  # type: ignore[call-overload]
        return rows

    whole = written("whole")
    monkeypatch.setattr(export_module, "CHUNK", 7)
    chunked = written("chunked")
    assert chunked == whole and len(whole) > 7
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".parquet"] * 6
