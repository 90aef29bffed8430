"""`load`: NDJSON files of earlier runs into the store, streamed in batches (bounded memory).

Each file is one run. Its run id derives from the file itself (size, first and last MiB), so
loading the same file again finds its run: a run loaded whole is left as it is, one cut
short is loaded afresh. A line that is not a record of the file's kind (torn by a kill, not
JSON, another schema) stops the file there: the lines before it are stored, and the report
names the line, why, and how many lines were not loaded. Nothing is skipped silently.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, cast

import orjson

from bulkauth import __version__
from bulkauth.store.rows import COMMANDS, RecordError
from bulkauth.store.writer import RunInfo, StoreWriter, now

_MIB = 1 << 20


@dataclass(slots=True)
class FileReport:
    """What loading one file did."""

    path: str
    run_id: str | None = None
    loaded: int = 0
    already: bool = False
    bad_line: int | None = None
    reason: str | None = None
    not_loaded: int = 0

    def describe(self) -> str:
        if self.already:
            return f"{self.path}: already loaded as run {self.run_id} ({self.loaded} records)"
        run = f" as run {self.run_id}" if self.run_id else ""
        text = f"{self.path}: {self.loaded} records loaded{run}"
        if self.bad_line is not None:
            text += (
                f"; line {self.bad_line}: {self.reason}: it and the {self.not_loaded - 1} "
                f"lines after it were not loaded"
            )
        return text


def file_run_id(path: Path) -> str:
    """A loaded file's run id: a hash of its size and its first and last MiB, as stored."""
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(_MIB))
        if size > 2 * _MIB:
            f.seek(size - _MIB)
            h.update(f.read(_MIB))
    return "load-" + h.hexdigest()[:24]


def open_maybe_gzip(path: Path) -> IO[bytes]:
    f = path.open("rb")
    if f.read(2) == b"\x1f\x8b":
        f.close()
        return cast(IO[bytes], gzip.open(path, "rb"))
    f.seek(0)
    return f


def _parse(line: bytes, schema: str | None) -> tuple[dict[str, object] | None, str | None]:
    """(record, None), or (None, why the line is not one)."""
    if not line.endswith(b"\n"):
        torn = "torn line (no newline at the end: the run was cut short?)"
    else:
        torn = None
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, torn or "not JSON"
    if not isinstance(rec, dict):
        return None, "not a JSON object"
    found = rec.get("schema")
    if found not in COMMANDS:
        return None, f"not a bulkauth record (schema {found!r})"
    if schema is not None and found != schema:
        return None, f"a {found} record in a file of {schema} records"
    return rec, None


def load_file(path: Path, store: StoreWriter) -> FileReport:
    report = FileReport(str(path), run_id=file_run_id(path))
    assert report.run_id is not None
    state = store.run_state(report.run_id)
    if state is not None and state[0]:
        report.already, report.loaded = True, state[1]
        return report
    mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    with open_maybe_gzip(path) as f:
        lines = enumerate(f, start=1)
        started = False
        for number, line in lines:
            rec, why = _parse(line, store.run.record_schema if started and store.run else None)
            if rec is not None and not started:
                schema = str(rec["schema"])
                store.start_run(
                    RunInfo(
                        run_id=report.run_id,
                        record_schema=schema,
                        ended_at=mtime,
                        bulkauth_version=__version__,
                        loaded_from=str(path),
                        loaded_at=now(),
                    )
                )
                started = True
            if rec is not None:
                try:
                    store.write(rec, line.rstrip(b"\n").decode())
                except (RecordError, UnicodeDecodeError) as e:
                    why = str(e)
                else:
                    report.loaded += 1
                    continue
            report.bad_line, report.reason = number, why
            report.not_loaded = 1 + sum(1 for _ in lines)
            break
    if not started:
        report.run_id = None
    else:
        store.end_run(exit_status=None, finished=report.bad_line is None, ended_at=mtime)
    return report


def load(
    paths: Iterable[str | os.PathLike[str]], store: str | os.PathLike[str] | StoreWriter
) -> list[FileReport]:
    """Load each NDJSON file (.gz too) as one run; a report per file."""
    if isinstance(store, StoreWriter):
        return [load_file(Path(p), store) for p in paths]
    with StoreWriter(store) as writer:
        return [load_file(Path(p), writer) for p in paths]
