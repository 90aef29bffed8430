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
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from bulkauth.store import tables
from bulkauth.store.writer import StoreError, reading

#: DuckDB's memory for an export (it spills beyond where it can)
EXPORT_MEMORY_LIMIT = "1GB"
#: the UTC date a run is filed under
RUN_DATE = "CAST(timezone('UTC', coalesce(r.started_at, r.ended_at, r.loaded_at)) AS DATE)"

PROBLEM_LIST = """
    (SELECT list(struct_pack(section := p.section, location := p.location, code := p.code,
                             severity := p.severity, message := p.message) ORDER BY p.n)
     FROM problems p WHERE p.run_id = t.run_id AND p.source = t.{source} AND p.item = t.{item})
"""
SIGNATURE_LIST = """
    (SELECT list(struct_pack(d := g.d, s := g.s, a := g.a, result := g.result, code := g.code,
                             message := g.message, key_bits := g.key_bits,
                             key_type := g.key_type) ORDER BY g.n)
     FROM signatures g WHERE g.run_id = t.run_id AND g.path = t.path AND g.index = t.index)
"""
_EMPTY_PROBLEMS = (
    "[]::STRUCT(section VARCHAR, location VARCHAR, code VARCHAR, severity VARCHAR,"
    " message VARCHAR)[]"
)
_EMPTY_SIGNATURES = (
    "[]::STRUCT(d VARCHAR, s VARCHAR, a VARCHAR, result VARCHAR, code VARCHAR,"
    " message VARCHAR, key_bits INTEGER, key_type VARCHAR)[]"
)
#: nested columns added to a table's export
NESTED: dict[str, list[str]] = {
    "domains": [
        f"coalesce({PROBLEM_LIST.format(source='source', item='line')}, {_EMPTY_PROBLEMS}) AS problems"
    ],
    "spf_checks": [
        f"coalesce({PROBLEM_LIST.format(source='source', item='line')}, {_EMPTY_PROBLEMS}) AS problems"
    ],
    "messages": [
        f"coalesce({PROBLEM_LIST.format(source='path', item='index')}, {_EMPTY_PROBLEMS}) AS problems",
        f"coalesce({SIGNATURE_LIST}, {_EMPTY_SIGNATURES}) AS signatures",
    ],
}


@dataclass(slots=True)
class Exported:
    table: str
    rows: int
    path: Path


def _select(table: tables.Table, where: str) -> str:
    # no ORDER BY: sorting rows of 4 KB records needs memory a warehouse load does not need
    # (run_id, seq and n give the order back)
    cols = ["t.*", *NESTED.get(table.name, [])]
    return (
        f"SELECT {', '.join(cols)}, {RUN_DATE} AS run_date FROM {table.name} t "
        f"JOIN runs r USING (run_id) WHERE {where}"
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
        # the writer's 256 MB ran out on a 200,000-domain store: Parquet row groups of whole
        # records are buffered per thread, and keeping insertion order holds back more
        con.execute(f"SET memory_limit = '{EXPORT_MEMORY_LIMIT}'")
        con.execute("SET preserve_insertion_order = false")
        if (
            run is not None
            and not con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run]).fetchone()
        ):
            raise StoreError(f"store {store}: no run {run}")
        for table in (tables.RUNS, *tables.ROW_TABLES):
            target = out / table.name
            query = _select(table, where)
            # OVERWRITE: the table's former export goes, even when no row is selected now
            written = con.execute(
                f"COPY ({query}) TO '{_quote(target)}' "
                "(FORMAT PARQUET, PARTITION_BY (run_date), OVERWRITE, COMPRESSION ZSTD,"
                " ROW_GROUP_SIZE 16384)",
                params,
            ).fetchone()
            target.mkdir(exist_ok=True)
            done.append(Exported(table.name, int(written[0]) if written else 0, target))
    return done


def export_run_table(
    con: duckdb.DuckDBPyConnection, table: tables.Table, run_id: str, target: Path
) -> int:
    """One run's rows of `table`, with the same columns as its dataset in `export`, as the one
    Parquet file `target` (written beside it first, then renamed: never a half file)."""
    partial = target.with_name(target.name + ".partial")
    con.execute("SET preserve_insertion_order = false")
    written = con.execute(
        f"COPY ({_select(table, 'r.run_id = ?')}) TO '{_quote(partial)}' "
        "(FORMAT PARQUET, COMPRESSION ZSTD, ROW_GROUP_SIZE 16384)",
        [run_id],
    ).fetchone()
    os.replace(partial, target)
    return int(written[0]) if written else 0


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
