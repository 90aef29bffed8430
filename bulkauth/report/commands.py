"""`bulkauth diff` and `bulkauth report` as plain functions returning the exit status; the CLI
only wires options to them. 0 done, 1 --fail-on regressions found one, 2 a run unusable."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, TextIO

import orjson

from bulkauth.report.diff import Summary
from bulkauth.report.runs import RunError, diffs, open_run


def diff_command(
    old: str,
    new: str,
    *,
    store: str | None = None,
    output: str | None = None,
    fail_on: str | None = None,
    tmpdir: str | None = None,
    err: TextIO | None = None,
) -> int:
    """`bulkauth diff OLD NEW`: a bulkauth.diff/1 line per item that changed, sorted by key;
    counts by kind of change on `err`."""
    err = err or sys.stderr
    if fail_on not in (None, "regressions"):
        print("bulkauth: --fail-on: the only choice is 'regressions'", file=err)
        return 2
    try:
        a, b = open_run(old, store, "OLD"), open_run(new, store, "NEW")
        out: IO[bytes] = open(output, "wb") if output else sys.stdout.buffer  # noqa: SIM115
        summary = Summary()
        try:
            for d in diffs(a, b, tmpdir):
                summary.add(d)
                out.write(orjson.dumps(d) + b"\n")
        finally:
            if output:
                out.close()
            else:
                out.flush()
    except RunError as exc:
        print(f"bulkauth: {exc}", file=err)
        return 2
    except OSError as exc:
        print(f"bulkauth: {exc.filename or output}: {exc.strerror}", file=err)
        return 2
    for run in (a, b):
        if run.torn:
            print(f"bulkauth: {run.label}: its last line is torn (cut short); left out", file=err)
    noun = "messages" if (a.kind or b.kind) == "messages" else "domains"
    for line in summary.lines(noun):
        print(line, file=err)
    if fail_on == "regressions" and summary.regressions:
        print(f"bulkauth: {summary.regressions} {noun} got worse (--fail-on regressions)", file=err)
        return 1
    return 0


def report_command(
    run: str,
    *,
    previous: str | None = None,
    store: str | None = None,
    output: str,
    title: str | None = None,
    tmpdir: str | None = None,
    err: TextIO | None = None,
) -> int:
    """`bulkauth report RUN [--previous RUN] -o report.html`."""
    from bulkauth.report.html import write_report

    err = err or sys.stderr
    try:
        current = open_run(run, store, "RUN")
        before = open_run(previous, store, "--previous") if previous else None
        stats = write_report(current, before, Path(output), title=title, tmpdir=tmpdir)
    except RunError as exc:
        print(f"bulkauth: {exc}", file=err)
        return 2
    except OSError as exc:
        print(f"bulkauth: {exc.filename or output}: {exc.strerror}", file=err)
        return 2
    print(stats, file=err)
    return 0
