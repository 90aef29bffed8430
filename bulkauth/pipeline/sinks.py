"""NDJSON output: one orjson line per record, written whole, flushed at a bounded interval."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson

from bulkauth.pipeline.errors import BadInput

_OPTS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def encode(record: dict[str, Any]) -> bytes:
    """One record as its NDJSON line (newline included)."""
    return orjson.dumps(record, option=_OPTS)


class NdjsonSink:
    """Writes records as NDJSON lines; a record written is on disk within ``flush_interval``.

    Flushing on every record would cost a syscall per line; flushing only when the next record
    comes would leave finished records in the buffer for as long as the run waits on a slow
    item (and a SIGKILL then loses them). So a write that does not flush arms a timer on the
    running event loop, when there is one, for the rest of the interval.
    """

    def __init__(self, path: str | None, append: bool = False, flush_interval: float = 0.5) -> None:
        self.path = path
        self._out: BinaryIO = open(path, "ab" if append else "wb") if path else sys.stdout.buffer  # noqa: SIM115
        self._flush_interval = flush_interval
        self._last_flush = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self.written = 0

    def write(self, record: dict[str, Any]) -> None:
        self.write_line(encode(record))

    def write_line(self, line: bytes) -> None:
        """An encoded record (``encode``), e.g. from a worker process."""
        # one write call per line, so a crash can tear at most the last line (resume drops it)
        self._out.write(line)
        self.written += 1
        since = time.monotonic() - self._last_flush
        if since >= self._flush_interval:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # used outside a loop: the next write or close() flushes
                return
            self._timer = loop.call_later(self._flush_interval - since, self._timed_flush)

    def _timed_flush(self) -> None:
        self._timer = None
        if not self._closed:
            self.flush()

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._last_flush = time.monotonic()
        try:
            self._out.flush()
        except BrokenPipeError:  # `bulkauth ... | head`: the reader left, nothing more to say
            raise SystemExit(0) from None

    def close(self) -> None:
        self.flush()
        self._closed = True
        if self.path:
            self._out.close()


class RecordSink(Protocol):
    """A second home for a run's records besides the NDJSON (the results store), plugged in
    from above: the pipeline defines the calls, the layer that owns the sink (bulkauth.store)
    implements them, and the CLI passes one in. It is filled in the parent process, in output
    order: from the output file when the run writes one (after the run, see run_command), else
    with each record as its NDJSON line goes to stdout, so nothing is computed twice.
    """

    def start(self, kept: int, output: str | None) -> None:
        """Before any ``write``: the first ``kept`` records of ``output`` are written (kept by
        --resume, or by this run); the sink takes those it lacks from the file."""

    def write(self, record: dict[str, Any], line: bytes) -> None:
        """One record and its NDJSON line (newline included), in output order."""

    def end(self, stopped_by: int | None) -> None:
        """The run ended: whole, or stopped by signal ``stopped_by``."""

    def close(self) -> None:
        """Always called last; a run not ended stays unfinished."""


class ResumeMismatch(BadInput):
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
