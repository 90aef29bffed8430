"""Export: the store's tables as Parquet datasets a warehouse loads as they are.

One dataset per table, `DIR/<table>/run_date=YYYY-MM-DD/*.parquet` (Hive partitioning; a
run's date is the UTC date it started, or for a loaded file the date the file was last
written). DuckDB's COPY writes them, so each column's Parquet type follows the declared
column type, never the data: TIMESTAMPTZ becomes a UTC-adjusted timestamp (microseconds),
JSON a string with the JSON logical type, VARCHAR[] a list of strings.

For warehouses that prefer nesting, `domains`, `messages` and `spf_checks` also carry a
`problems` column, list<struct<section, location, code, severity, message>>, and `messages`
a `signatures` column, list<struct<d, s, a, result, code, message, key_bits, key_type>>
(empty lists, never null, for records without any).

Rows come in no particular order (run_id, seq and n give it). Each export replaces the
datasets in DIR: export a selection (--run, --since) to its own
directory to keep several.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from bulkauth.store import tables
from bulkauth.store.writer import StoreError, reading

#: the UTC date a run is filed under
RUN_DATE = "CAST(timezone('UTC', coalesce(r.started_at, r.ended_at, r.loaded_at)) AS DATE)"

#: the nested lists: (column, child table, struct fields, empty list's type)
_PROBLEM_FIELDS = ("section", "location", "code", "severity", "message")
_SIGNATURE_FIELDS = ("d", "s", "a", "result", "code", "message", "key_bits", "key_type")
_PROBLEMS_TYPE = (
    "STRUCT(section VARCHAR, location VARCHAR, code VARCHAR, severity VARCHAR, message VARCHAR)[]"
)
_SIGNATURES_TYPE = (
    "STRUCT(d VARCHAR, s VARCHAR, a VARCHAR, result VARCHAR, code VARCHAR,"
    " message VARCHAR, key_bits INTEGER, key_type VARCHAR)[]"
)
_PROBLEMS = ("problems", "problems", _PROBLEM_FIELDS, _PROBLEMS_TYPE)
NESTED: dict[str, list[tuple[str, str, tuple[str, ...], str]]] = {
    "domains": [_PROBLEMS],
    "spf_checks": [_PROBLEMS],
    "messages": [_PROBLEMS, ("signatures", "signatures", _SIGNATURE_FIELDS, _SIGNATURES_TYPE)],
}
#: records exported per query: each query aggregates its records' child rows into lists,
#: and 1,000,000 records at once ran out of the store's 256 MB; so did 50,000 of 7 KB records
#: (a full audit's, 1,000,000 of them: 20,000 a chunk exported in 94 s, peak RSS 363 MiB)
CHUNK = 20_000
#: rows per Parquet row group: a partitioned COPY holds one per partition and thread until it
#: is full, 16,384 rows of 7 KB records (~115 MB each) ran out of the 256 MB
ROW_GROUP = 4096


@dataclass(slots=True)
class Exported:
    table: str
    rows: int
    path: Path


def _select(table: tables.Table, where: str) -> str:
    """The rows of `table` (alias t, its run r) where `where` holds, with the nested lists.

    Each list is aggregated from its child rows of the same records (same run_id and seq,
    the same `where`), then joined: a correlated subquery per row cost DuckDB a hash table
    of the whole child table. No ORDER BY: run_id, seq and n give the order back.
    """
    ctes, cols, joins = [], ["t.*"], []
    for i, (column, child, fields, empty) in enumerate(NESTED.get(table.name, [])):
        pack = ", ".join(f"{f} := c.{f}" for f in fields)
        ctes.append(
            f"n{i} AS (SELECT c.run_id, c.seq, list(struct_pack({pack}) ORDER BY c.n) AS v "
            f"FROM {child} c JOIN runs r USING (run_id) "
            f"WHERE {where.replace('t.', 'c.')} GROUP BY c.run_id, c.seq)"
        )
        cols.append(f"coalesce(n{i}.v, []::{empty}) AS {column}")
        joins.append(f"LEFT JOIN n{i} ON n{i}.run_id = t.run_id AND n{i}.seq = t.seq")
    with_ = f"WITH {', '.join(ctes)} " if ctes else ""
    return (
        f"{with_}SELECT {', '.join(cols)}, {RUN_DATE} AS run_date FROM {table.name} t "
        f"JOIN runs r USING (run_id) {' '.join(joins)} WHERE {where}"
    )


def export(
    store: str | os.PathLike[str],
    parquet_dir: str | os.PathLike[str],
    run: str | None = None,
    since: date | None = None,
) -> list[Exported]:
    """Write every table (its rows of `run`, or of runs filed on or after `since`) as Parquet."""
    out = Path(parquet_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create {out}: {e.strerror}") from None
    where, params = "true", list[object]()
    if run is not None:
        where, params = "r.run_id = ?", [run]
    if since is not None:
        where += f" AND {RUN_DATE} >= ?"
        params.append(since)
    done = []
    with reading(store) as con:
        # the store's memory limit holds because DuckDB need not hold row groups back to
        # keep their order
        con.execute("SET preserve_insertion_order = false")
        if (
            run is not None
            and not con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run]).fetchone()
        ):
            raise StoreError(f"store {store}: no run {run}")
        selected = con.execute(
            f"SELECT r.run_id, r.records FROM runs r WHERE {where} ORDER BY r.run_id", params
        ).fetchall()
        for table in (tables.RUNS, *tables.ROW_TABLES):
            target = out / table.name
            # the table's former export goes, even when no row is selected now
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            rows = 0
            if table is tables.RUNS:
                rows += _copy(con, _select(table, where), params, target)
            else:
                for run_id, records in selected:
                    for first in range(0, max(int(records or 0), 1), CHUNK):
                        rows += _copy(
                            con,
                            _select(table, "t.run_id = ? AND t.seq >= ? AND t.seq < ?"),
                            [run_id, first, first + CHUNK] * (1 + len(NESTED.get(table.name, []))),
                            target,
                        )
            done.append(Exported(table.name, rows, target))
    return done


def _copy(con: duckdb.DuckDBPyConnection, query: str, params: list[object], target: Path) -> int:
    """Append the query's rows to the dataset in `target`, a new file per partition."""
    try:
        written = con.execute(
            f"COPY ({query}) TO '{_quote(target)}' "
            "(FORMAT PARQUET, PARTITION_BY (run_date), APPEND, COMPRESSION ZSTD,"
            f" ROW_GROUP_SIZE {ROW_GROUP}, FILENAME_PATTERN 'part_{{uuid}}')",
            params,
        ).fetchone()
    except duckdb.OutOfMemoryException as e:
        raise StoreError(
            f"export ran out of memory ({e}); export fewer runs at once (--run)"
        ) from None
    return int(written[0]) if written else 0


def export_run_table(
    con: duckdb.DuckDBPyConnection, table: tables.Table, run_id: str, target: Path
) -> int:
    """One run's rows of `table`, with the same columns as its dataset in `export`, as the one
    Parquet file `target` (written beside it first, then renamed: never a half file).

    In chunks of CHUNK records, as `export`, then joined: the run's lists aggregated at once ran
    out of the sink's 64 MB on 1,000,000 domains; joining Parquet files only streams rows."""
    partial = target.with_name(target.name + ".partial")
    parts = target.with_name(target.name + ".parts")
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir()
    con.execute("SET preserve_insertion_order = false")
    nested = len(NESTED.get(table.name, []))
    try:
        row = con.execute("SELECT records FROM runs WHERE run_id = ?", [run_id]).fetchone()
        for first in range(0, max(int(row[0] or 0) if row else 0, 1), CHUNK):
            con.execute(
                f"COPY ({_select(table, 't.run_id = ? AND t.seq >= ? AND t.seq < ?')}) "
                f"TO '{_quote(parts / f'{first:012d}.parquet')}' "
                f"(FORMAT PARQUET, COMPRESSION ZSTD, ROW_GROUP_SIZE {ROW_GROUP})",
                [run_id, first, first + CHUNK] * (1 + nested),
            )
        written = con.execute(
            f"COPY (SELECT * FROM read_parquet('{_quote(parts)}/*.parquet')) "
            f"TO '{_quote(partial)}' (FORMAT PARQUET, COMPRESSION ZSTD, ROW_GROUP_SIZE {ROW_GROUP})"
        ).fetchone()
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    os.replace(partial, target)
    return int(written[0]) if written else 0


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
