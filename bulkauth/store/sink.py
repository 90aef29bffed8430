"""`--store PATH` on a run: the records go to the store as well as to the NDJSON.

The pipeline fills the sink from the run's output file once the run's work is done (as
`bulkauth load` would, into this run's row), or as the records come when they go to stdout
(bulkauth.pipeline.command says why).

The pipeline defines what a second sink is told (bulkauth.pipeline.sinks.RecordSink: start,
write, end, close); this implements it without importing the pipeline (the store sits above
it), and the CLI passes it in. The store is opened when the sink is made, so a locked,
foreign or unwritable store is refused before the run sends any DNS query.

--resume continues into the same run id: the run is found again as the latest run of the
same command into the same output file (its absolute path is kept in the run's options). The
NDJSON is the primary output, so it decides where the run stands: store rows past the records
the NDJSON kept are deleted (a batch can commit before the file's buffer reaches the disk), and
records the NDJSON kept but the store lacks (killed before or while the store was filled) are
written from the file first. Either way the store then holds exactly the file's records, with no gap.
"""

from __future__ import annotations

import os
import uuid
from itertools import islice
from typing import Any

import orjson

from bulkauth import __version__
from bulkauth.core.common import psl
from bulkauth.store.rows import COMMANDS
from bulkauth.store.writer import (
    LIVE_CHECKPOINT_THRESHOLD,
    LIVE_MEMORY_LIMIT,
    LIVE_THREADS,
    RunInfo,
    StoreWriter,
    now,
)

_SCHEMAS = {command: schema for schema, command in COMMANDS.items()}


def psl_version() -> str:
    """The Public Suffix List the run uses (packaged, --psl, or a replayed snapshot's): its
    VERSION line and SHA-256."""
    return psl.identity().label()


class StoreSink:
    """A run's records into a store (see the module's doc); made by the CLI for --store."""

    def __init__(
        self,
        path: str,
        command: str,
        argv: list[str],
        options: dict[str, Any],
        nameservers: list[str] | None,
        zones: str | None,
        resume: bool,
    ) -> None:
        started = now()
        self.resume = resume
        self.info = RunInfo(
            run_id=f"{command}-{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}",
            record_schema=_SCHEMAS[command],
            started_at=started,
            argv=argv,
            options=options,
            bulkauth_version=__version__,
            psl_version=psl_version(),
            nameservers=nameservers,
            zones=zones,
        )
        # opens (and checks) the store now: StoreError here is the CLI's exit 2
        self.writer = StoreWriter(
            path,
            checkpoint=LIVE_CHECKPOINT_THRESHOLD,
            memory_limit=LIVE_MEMORY_LIMIT,
            threads=LIVE_THREADS,
        )

    def _latest(self, output: str) -> tuple[str, int] | None:
        """The latest run of this command into ``output``: (run id, records). Finished ones
        too: --resume over a whole output continues (and adds nothing to) its run, where a
        new run would store the same records twice. Each fresh run rewrites the file, so the
        latest run is the one the file holds."""
        row = self.writer.con.execute(
            """
            SELECT run_id, records FROM runs
            WHERE command = ? AND loaded_from IS NULL
              AND json_extract_string(options, '$.output') = ?
            ORDER BY started_at DESC LIMIT 1
            """,
            [self.info.command, output],
        ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def start(self, kept: int, output: str | None) -> None:
        resume_from: int | None = None
        if self.resume and output is not None:
            found = self._latest(os.path.abspath(output))
            if found is not None:
                run_id, stored = found
                self.info.run_id = run_id
                # the NDJSON decides: rows past what it kept go, and are written again
                resume_from = min(stored, kept)
            elif kept:
                # the interrupted run had no --store (or another store): a new run, filled
                # with the kept records first
                resume_from = 0
        # a StoreError from here on (disk full, ...) stops the run: the CLI exits 1
        self.writer.start_run(self.info, resume_from=resume_from)
        done = resume_from or 0
        if output is not None and done < kept:
            self._write_kept(output, done, kept)

    def _write_kept(self, output: str, start: int, stop: int) -> None:
        """Records ``start`` to ``stop`` of the NDJSON (whole lines: skip_done cut a torn one)."""
        with open(output, "rb") as f:
            for line in islice(f, start, stop):
                self.writer.write(orjson.loads(line), line.rstrip(b"\n").decode())

    def write(self, record: dict[str, Any], line: bytes) -> None:
        self.writer.write(record, line.rstrip(b"\n").decode())

    def end(self, stopped_by: int | None) -> None:
        # a run stopped by a signal exits 128 + N, and is not finished: --resume continues it
        status = 0 if stopped_by is None else 128 + stopped_by
        self.writer.end_run(exit_status=status, finished=stopped_by is None)

    def close(self) -> None:
        # a run that did not end stopped on an error (a worker lost, the store full, ...):
        # the CLI exits 1; its whole batches are kept, marked unfinished, for --resume
        try:
            self.writer.abort_run(exit_status=1)
        finally:
            self.writer.close()
