"""The store's commands as plain functions; the CLI wires them to `bulkauth load`, `export`
and `schema tables`. Each returns the exit status: 0 done, 1 done in part (a file had a bad
line: what loaded is kept, the rest is reported), 2 nothing done (the store or an argument
is unusable; the message says why)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import BinaryIO, TextIO

import orjson

from bulkauth.store.export import export
from bulkauth.store.keys import import_keys, list_keys
from bulkauth.store.load import load
from bulkauth.store.tables import ddl
from bulkauth.store.writer import StoreError


def tables_ddl() -> str:
    """`bulkauth schema tables`: the store's DDL, with each column's meaning."""
    return ddl()


def load_command(paths: list[str], store: str, err: TextIO | None = None) -> int:
    """`bulkauth load RUN.ndjson... --store PATH`: a line per file on `err`."""
    err = err or sys.stderr
    missing = [p for p in paths if not Path(p).is_file()]
    if not paths or missing:
        print(f"error: no such file: {', '.join(missing) or '(none given)'}", file=err)
        return 2
    try:
        reports = load(paths, store)
    except StoreError as e:
        print(f"error: {e}", file=err)
        return 2
    for r in reports:
        print(r.describe(), file=err)
    return 1 if any(r.bad_line is not None for r in reports) else 0


def export_command(
    store: str,
    parquet_dir: str,
    run: str | None = None,
    since: str | None = None,
    err: TextIO | None = None,
) -> int:
    """`bulkauth export --store PATH --parquet DIR [--run ID | --since DATE]`."""
    err = err or sys.stderr
    try:
        day = None if since is None else date.fromisoformat(since)
    except ValueError:
        print(f"error: --since {since!r}: give a date as YYYY-MM-DD", file=err)
        return 2
    try:
        done = export(store, parquet_dir, run=run, since=day)
    except StoreError as e:
        print(f"error: {e}", file=err)
        return 2
    for d in done:
        print(f"{d.table}: {d.rows} rows -> {d.path}/", file=err)
    return 0


def keys_import_command(path: str, store: str, err: TextIO | None = None) -> int:
    """`bulkauth keys import FILE --store PATH`: the report on `err`."""
    err = err or sys.stderr
    if not Path(path).is_file():
        print(f"error: no such file: {path}", file=err)
        return 2
    try:
        report = import_keys(path, store)
    except (StoreError, UnicodeDecodeError) as e:
        print(f"error: {path}: {e}", file=err)
        return 2
    print(report.describe(), file=err)
    return 1 if report.bad else 0


def keys_list_command(store: str, domain: str | None, out: BinaryIO | None = None) -> int:
    """`bulkauth keys list --store PATH [DOMAIN]`: NDJSON on stdout."""
    out = out or sys.stdout.buffer
    try:
        for row in list_keys(store, domain):
            out.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
    except StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    out.flush()
    return 0
