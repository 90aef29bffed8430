"""NDJSON output: one orjson line per record, written whole, flushed at a bounded interval."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

import orjson

_OPTS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


class NdjsonSink:
    def __init__(self, path: str | None, append: bool = False, flush_interval: float = 0.5) -> None:
        self.path = path
        self._out: BinaryIO = open(path, "ab" if append else "wb") if path else sys.stdout.buffer  # noqa: SIM115
        self._flush_interval = flush_interval
        self._last_flush = time.monotonic()
        self.written = 0

    def write(self, record: dict[str, Any]) -> None:
        # one write call per line, so a crash can tear at most the last line (resume drops it)
        self._out.write(orjson.dumps(record, option=_OPTS))
        self.written += 1
        now = time.monotonic()
        if now - self._last_flush >= self._flush_interval:
            self.flush()
            self._last_flush = now

    def flush(self) -> None:
        try:
            self._out.flush()
        except BrokenPipeError:  # `bulkauth ... | head`: the reader left, nothing more to say
            raise SystemExit(0) from None

    def close(self) -> None:
        self.flush()
        if self.path:
            self._out.close()


class ResumeMismatch(Exception):
    """The output file does not look like an earlier run over the same input."""


def complete_records(path: str) -> int:
    """Count whole records in an earlier output and cut off a torn last line.

    A line counts when it ends in a newline and parses as JSON; everything from the first bad
    line on is truncated, so the resumed run redoes exactly those items.
    """
    p = Path(path)
    if not p.exists():
        return 0
    good_bytes = 0
    count = 0
    with open(p, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:
                break
            good_bytes += len(line)
            count += 1
    if good_bytes != p.stat().st_size:
        with open(p, "r+b") as f:
            f.truncate(good_bytes)
    return count


def last_record(path: str) -> dict[str, Any] | None:
    last = None
    with open(path, "rb") as f:
        for line in f:
            last = line
    return orjson.loads(last) if last else None
