"""StoreWriter: one process appends a run's records to a DuckDB store, in batches.

Opening does every check that can fail before a run's work starts: the path holds a DuckDB
file (or nothing yet), it can be written, no other process writes it, and its tables are of
this bulkauth's layout. Records are buffered and flushed through DuckDB appenders (one per
table) in one transaction per batch, so a killed process leaves a store that opens, with
whole batches only and the run marked unfinished.

Idempotence: rows are keyed by run id and item, and carry `seq`, the record's position in
the run's output. Starting a run that the store already holds deletes its rows from the
resume point on (all of them for a new start), then writes: the same items never appear
twice, whether a run is resumed or a file is loaded again.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb

from bulkauth.store import tables
from bulkauth.store.history import record_run_keys
from bulkauth.store.rows import COMMANDS, Record, RecordError, Row, dumps, rows_of

#: records per batch: ~4 MB of domain records, a few thousand rows per table. Each batch is
#: one transaction; bigger ones gained nothing measurable (the commit writes the data anyway)
BATCH = 1000
#: DuckDB's memory for the session (it spills beyond): keeps a long load's RSS bounded
MEMORY_LIMIT = "256MB"
#: WAL size at which DuckDB checkpoints into the file, for `load` of NDJSON files. Its default
#: (16 MB, four batches of domain records) made each load spend most of its time in
#: checkpoints: ~35% slower
CHECKPOINT_THRESHOLD = "256MB"
#: a run's --store sink, where the pipeline and not the store sets the pace, keeps much less:
#: what the WAL holds stays in memory until the checkpoint, and DuckDB fills its buffer pool to
#: the limit before it evicts. With the load's settings a run's parent grew by ~300 MiB (most
#: of a 1,000,000-domain run's memory, issue 17); with these by ~85 MiB, flat, at 8,900
#: records/s (load's: 11,500/s; a domain run stores 1,000-2,000/s). One DuckDB thread: the
#: appends are the run's parent's, on its event loop; a second thread's arena cost ~10 MiB
LIVE_CHECKPOINT_THRESHOLD = "16MB"
LIVE_MEMORY_LIMIT = "64MB"
LIVE_THREADS = 1


class StoreError(Exception):
    """The store cannot be used; the message says why and what to do (the CLI exits 2)."""


class StoreLocked(StoreError):
    """Another writer holds the store."""


class StoreVersionError(StoreError):
    """The store's tables are of another layout version."""


@dataclass(slots=True)
class RunInfo:
    """What the `runs` row says about a run besides its records."""

    run_id: str
    record_schema: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    argv: list[str] | None = None
    options: dict[str, Any] | None = None
    bulkauth_version: str | None = None
    psl_version: str | None = None
    nameservers: list[str] | None = None
    zones: str | None = None
    loaded_from: str | None = None
    loaded_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def command(self) -> str:
        return COMMANDS[self.record_schema]


def now() -> datetime:
    return datetime.now(UTC)


# stores this process has open for writing: DuckDB shares one database between connections
# of a process, so its file lock only keeps other processes out
_OPEN: set[Path] = set()
_OPEN_LOCK = threading.Lock()


def is_duckdb_file(path: Path) -> bool:
    """True for a DuckDB database file, or a path with nothing (or an empty file) yet."""
    try:
        with path.open("rb") as f:
            head = f.read(12)
    except FileNotFoundError:
        return True
    except OSError as e:
        raise StoreError(f"store {path}: cannot read it: {e.strerror}") from None
    # a DuckDB file's header: an 8-byte checksum, then the magic bytes
    return not head or head[8:12] == b"DUCK"


def connect(
    path: Path,
    read_only: bool = False,
    checkpoint: str = CHECKPOINT_THRESHOLD,
    memory_limit: str = MEMORY_LIMIT,
    threads: int | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open a store file as DuckDB, with every failure turned into a StoreError that says why."""
    if path.is_dir():
        raise StoreError(f"store {path}: is a directory, not a DuckDB file")
    if not read_only and not path.parent.is_dir():
        raise StoreError(f"store {path}: the directory {path.parent} does not exist")
    if read_only and not path.exists():
        raise StoreError(f"store {path}: no such file")
    if not is_duckdb_file(path):
        # checked here, not left to DuckDB: given an existing file of another format (an
        # .ndjson, say) it may open something that is not that file, and write nowhere
        raise StoreError(f"store {path}: the file exists but is not a DuckDB database")
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as e:
        text = str(e)
        if "Could not set lock" in text:
            holder = text.split("Conflicting lock is held in", 1)[-1].split(". See", 1)[0]
            raise StoreLocked(
                f"store {path} is locked: another process writes it (DuckDB's file lock on "
                f"{path}, held by{holder}); wait for it to end, or use another --store"
            ) from None
        if "not a valid DuckDB database file" in text:
            raise StoreError(
                f"store {path}: the file exists but is not a DuckDB database"
            ) from None
        raise StoreError(f"store {path}: cannot open it: {text}") from None
    except duckdb.Error as e:
        raise StoreError(f"store {path}: cannot open it: {e}") from None
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # a library prints nothing on its own
    con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if not read_only:
        con.execute(f"SET checkpoint_threshold = '{checkpoint}'")
    return con


def stored_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The store's layout version; None for a DuckDB file with no tables yet."""
    names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if not names:
        return None
    if "meta" not in names:
        raise StoreError("the DuckDB file holds tables but is not a bulkauth store (no meta table)")
    row = con.execute("SELECT value FROM meta WHERE key = 'store_version'").fetchone()
    if row is None or not str(row[0]).isdigit():
        raise StoreError("the store's meta table has no store_version")
    return int(row[0])


def prepare(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Create the tables in a new store, upgrade an older one, or refuse one we cannot read."""
    version = stored_version(con)
    if version == tables.STORE_VERSION:
        return
    if version is None:
        con.execute("BEGIN")
        for t in tables.TABLES:
            con.execute(t.ddl())
        con.execute("INSERT INTO meta VALUES ('store_version', ?)", [str(tables.STORE_VERSION)])
        con.execute("COMMIT")
        return
    if version < tables.STORE_VERSION and all(
        v in tables.UPGRADES for v in range(version, tables.STORE_VERSION)
    ):
        con.execute("BEGIN")
        for v in range(version, tables.STORE_VERSION):
            for statement in tables.UPGRADES[v]:
                con.execute(statement)
        con.execute(
            "UPDATE meta SET value = ? WHERE key = 'store_version'", [str(tables.STORE_VERSION)]
        )
        con.execute("COMMIT")
        return
    hint = (
        "use a newer bulkauth"
        if version > tables.STORE_VERSION
        else "no upgrade path: load its runs' NDJSON into a new store"
    )
    raise StoreVersionError(
        f"store {path} has layout version {version}; this bulkauth reads version "
        f"{tables.STORE_VERSION} ({hint})"
    )


def check_version(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse to read a store of another layout (readers: export, queries)."""
    version = stored_version(con)
    if version != tables.STORE_VERSION:
        raise StoreVersionError(
            f"store {path} has layout version {version}; this bulkauth reads version "
            f"{tables.STORE_VERSION}"
        )


class StoreWriter:
    """Writes runs into a store; one per process and path. Use as a context manager."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        batch: int = BATCH,
        checkpoint: str = CHECKPOINT_THRESHOLD,
        memory_limit: str = MEMORY_LIMIT,
        threads: int | None = None,
    ) -> None:
        self.path = Path(path).resolve()
        self.batch = batch
        with _OPEN_LOCK:
            if self.path in _OPEN:
                raise StoreLocked(f"store {self.path} is locked: this process writes it already")
            _OPEN.add(self.path)
        try:
            self.con = connect(
                self.path, checkpoint=checkpoint, memory_limit=memory_limit, threads=threads
            )
            try:
                prepare(self.con, self.path)
            except BaseException:
                self.con.close()
                raise
        except BaseException:
            with _OPEN_LOCK:
                _OPEN.discard(self.path)
            raise
        self.run: RunInfo | None = None
        self._seq = 0
        self._pending = 0
        self._buffers: dict[str, list[Row]] = {t.name: [] for t in tables.ROW_TABLES}

    # --- runs -----------------------------------------------------------------------------

    def run_state(self, run_id: str) -> tuple[bool, int] | None:
        """(finished, records stored) of a run the store holds, else None.

        Batches commit whole and in order, so the records stored are the first N of the
        run's output: a resumed run continues from N.
        """
        row = self.con.execute(
            "SELECT finished, records FROM runs WHERE run_id = ?", [run_id]
        ).fetchone()
        return None if row is None else (bool(row[0]), int(row[1]))

    def start_run(self, info: RunInfo, resume_from: int | None = None) -> None:
        """Begin (or resume) a run: rows of `info.run_id` from `resume_from` on are deleted first.

        resume_from=None starts the run afresh: any rows a former attempt left are deleted.
        """
        if self.run is not None:
            raise StoreError("a run is already being written")
        keep = resume_from or 0
        resumed = resume_from is not None
        self.con.execute("BEGIN")
        for t in tables.ROW_TABLES:
            self.con.execute(
                f"DELETE FROM {t.name} WHERE run_id = ? AND seq >= ?", [info.run_id, keep]
            )
        self.con.execute("DELETE FROM runs WHERE run_id = ? AND NOT ?", [info.run_id, resumed])
        self.con.execute(
            """
            INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL, false, ?, ?, ?)
            ON CONFLICT (run_id) DO UPDATE SET finished = false, resumed = true,
                ended_at = NULL, exit_status = NULL, records = excluded.records
            """,
            [
                info.run_id,
                info.command,
                info.record_schema,
                info.started_at,
                info.ended_at,
                None if info.argv is None else dumps(info.argv),
                None if info.options is None else dumps(info.options),
                info.bulkauth_version,
                info.psl_version,
                None if info.nameservers is None else dumps(info.nameservers),
                info.zones,
                keep,
                resumed,
                info.loaded_from,
                info.loaded_at,
            ],
        )
        self.con.execute("COMMIT")
        self.run = info
        self._seq = keep

    def write(self, record: Record, text: str) -> None:
        """Buffer one record (and `text`, its NDJSON line); flushes every `batch` records.

        Raises RecordError (from rows.py), with nothing buffered, for a record the store
        does not know.
        """
        if self.run is None:
            raise StoreError("write before start_run")
        if record.get("schema") != self.run.record_schema:
            raise RecordError(
                f"a {record.get('schema')!r} record in a {self.run.record_schema} run"
            )
        for name, rows in rows_of(self.run.run_id, self._seq, record, text).items():
            self._buffers[name].extend(rows)
        self._seq += 1
        self._pending += 1
        if self._pending >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Write the buffered records, all tables in one transaction."""
        if self.run is not None:
            self._flush_for(self.run.run_id)

    def _flush_for(self, run_id: str) -> None:
        if not self._pending:
            return
        try:
            self.con.execute("BEGIN")
            for name, rows in self._buffers.items():
                if rows:
                    appender = self.con.appender(name)
                    appender.append_rows(rows)
                    appender.flush()
            self.con.execute("UPDATE runs SET records = ? WHERE run_id = ?", [self._seq, run_id])
            self.con.execute("COMMIT")
        except duckdb.Error as e:
            # the batch is not stored: the run stays unfinished at its last whole batch
            with suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
            self._seq -= self._pending
            raise StoreError(f"store {self.path}: writing a batch failed: {e}") from None
        finally:
            for rows in self._buffers.values():
                rows.clear()
            self._pending = 0

    def end_run(
        self, exit_status: int | None, finished: bool = True, ended_at: datetime | None = None
    ) -> None:
        """Flush, then record the run's end: its counts by status, exit status, finished."""
        if self.run is None:
            return
        self.flush()
        table = tables.ITEM_TABLES[self.run.command].name
        counts = dict(
            self.con.execute(
                f"SELECT status, count(*) FROM {table} WHERE run_id = ? GROUP BY status ORDER BY status",
                [self.run.run_id],
            ).fetchall()
        )
        self.con.execute("BEGIN")
        self.con.execute(
            """
            UPDATE runs SET counts = ?, records = ?, exit_status = ?, finished = ?,
                ended_at = coalesce(?, ended_at, now())
            WHERE run_id = ?
            """,
            [
                dumps(counts),
                sum(counts.values()),
                exit_status,
                finished,
                ended_at,
                self.run.run_id,
            ],
        )
        record_run_keys(self.con, self.run.run_id)
        self.con.execute("COMMIT")
        self.run = None

    def abort_run(self, exit_status: int) -> None:
        """The run stops on an error: its whole batches are kept, and its row says it did not
        finish and how the process exits (so it is not mistaken for a run killed outright,
        which leaves no exit status)."""
        if self.run is None:
            return
        run_id, self.run = self.run.run_id, None
        with suppress(StoreError):  # the error may be the store's own (disk full)
            self._flush_for(run_id)
        with suppress(duckdb.Error):
            self.con.execute(
                "UPDATE runs SET exit_status = ?, finished = false, ended_at = now() "
                "WHERE run_id = ?",
                [exit_status, run_id],
            )

    # --- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the store; a run not ended stays unfinished (its whole batches kept)."""
        try:
            if self.run is not None:
                self.flush()
        finally:
            self.con.close()
            with _OPEN_LOCK:
                _OPEN.discard(self.path)

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def reading(path: str | os.PathLike[str]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to a store of this layout (export, queries)."""
    p = Path(path).resolve()
    con = connect(p, read_only=True)
    try:
        check_version(con, p)
        yield con
    finally:
        con.close()
