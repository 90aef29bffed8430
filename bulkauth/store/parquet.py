"""`-o FILE.parquet` on a run: the run's records as one Parquet file, for a warehouse to load.

The file is the run's item table (`domains`, `messages` or `spf_checks`) with the columns its
dataset has in `bulkauth export`: the flat columns, the whole record as JSON, and the nested
`problems` (and `signatures`) lists. It is written from a store when the run has ended whole:
the user's --store, or else a private one beside the file that is removed afterwards. Parquet
cannot be appended to, so the run's NDJSON goes to a spool, FILE.parquet.ndjson: a stopped or
killed run keeps it (and --resume continues it, as any NDJSON output), and the spool is removed
once FILE.parquet is written.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bulkauth.store import tables
from bulkauth.store.export import export_run_table
from bulkauth.store.sink import StoreSink
from bulkauth.store.writer import MEMORY_LIMIT, StoreError, connect

SUFFIX = ".parquet"


def is_parquet(output: str | None) -> bool:
    return output is not None and output.lower().endswith(SUFFIX)


def spool_of(target: str) -> str:
    """Where a run writing `target` keeps its NDJSON until the Parquet file is written."""
    return target + ".ndjson"


def private_store(target: str) -> Path:
    """A store of this run's own, beside `target` (same disk, which the user chose for it):
    `.NAME.store/run.duckdb`. One a killed run left there is replaced (the spool holds its
    records); one another process still writes is refused (StoreLocked), as two runs into the
    same output would be."""
    parent = Path(target).resolve().parent
    if not parent.is_dir():
        raise StoreError(f"-o {target}: the directory {parent} does not exist")
    scratch = parent / f".{Path(target).name}.store"
    path = scratch / "run.duckdb"
    if path.exists():
        connect(path).close()  # StoreLocked while another run holds it
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        scratch.mkdir()
    except OSError as e:
        raise StoreError(f"-o {target}: cannot write in {parent}: {e.strerror}") from None
    return path


class ParquetSink:
    """The record sink for -o FILE.parquet: a StoreSink, then the Parquet file when the run
    ended whole (see the module's doc)."""

    def __init__(self, target: str, store: StoreSink, private: Path | None) -> None:
        self.target = Path(target)
        self.store = store
        #: the private store's directory, removed on close (None: the user's --store)
        self.private = private
        self.rows: int | None = None

    def start(self, kept: int, output: str | None) -> None:
        self.store.start(kept, output)

    def write(self, record: dict[str, Any], line: bytes) -> None:
        self.store.write(record, line)

    def end(self, stopped_by: int | None) -> None:
        run_id = self.store.info.run_id
        self.store.end(stopped_by)
        if stopped_by is not None:
            return
        table = tables.ITEM_TABLES[self.store.info.command]
        con = self.store.writer.con
        # the run's sink keeps DuckDB small beside the workers (LIVE_MEMORY_LIMIT); they are gone
        # now, and 20,000 full-audit records did not fit in it: `export`'s limit
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        self.rows = export_run_table(con, table, run_id, self.target)
        spool = Path(spool_of(str(self.target)))
        spool.unlink(missing_ok=True)

    def close(self) -> None:
        try:
            self.store.close()
        finally:
            if self.private is not None:
                shutil.rmtree(self.private.parent, ignore_errors=True)
