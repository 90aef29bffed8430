"""What a run reads besides its items, read before it sends a query: the Public Suffix List
(--psl) and a DNS snapshot to replay (--replay-dns); and the snapshot a recording run
(--record-dns) writes when it ends.

A replay uses the list the snapshot holds, so that it finds the same organisational domains
(a --psl that is another list is refused). Everything here that the user can fix is BadInput
(exit 2), raised before any DNS query or output.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from bulkauth import __version__
from bulkauth.core.common import psl
from bulkauth.dns.backends.snapshot import (
    FORMAT,
    Snapshot,
    SnapshotError,
    now_iso,
    parts_dir,
    read_lines,
    write_snapshot,
)
from bulkauth.pipeline.config import RunConfig
from bulkauth.pipeline.errors import BadInput, OutputFailed

#: RunConfig fields that are loaded state, not options
_STATE = frozenset({"zone_set", "snapshot", "record_parts", "record_header"})


def run_options(config: RunConfig) -> dict[str, Any]:
    """The run's shared options as plain values (the snapshot header, the store's row)."""
    shared = {f.name: getattr(config, f.name) for f in fields(config) if f.name not in _STATE}
    shared["resolver"] = asdict(config.resolver)
    return shared


def load_inputs(config: RunConfig, command: str, options: dict[str, Any]) -> None:
    """Read --psl and --replay-dns, and get --record-dns ready; ``options``: the command's
    own, kept in the snapshot's header with the shared ones."""
    recorded_psl: dict[str, Any] | None = None
    if config.replay_dns:
        try:
            snapshot = Snapshot.load(config.replay_dns)
        except SnapshotError as exc:
            raise BadInput(str(exc)) from None
        config.snapshot = snapshot
        recorded_psl = snapshot.header.get("psl")
        made_by = snapshot.header.get("bulkauth")
        if made_by != __version__:
            sys.stderr.write(
                f"bulkauth: note: {config.replay_dns} was recorded by bulkauth {made_by}, "
                f"this is {__version__}: records differ where the checks did\n"
            )
    if config.psl:
        try:
            data = Path(config.psl).read_bytes()
        except OSError as exc:
            raise BadInput(f"--psl {config.psl}: {exc.strerror or exc}") from None
        try:
            identity = psl.use(data, config.psl)
        except psl.PslError as exc:
            raise BadInput(str(exc)) from None
        if recorded_psl is not None and recorded_psl.get("sha256") != identity.sha256:
            raise BadInput(
                f"--psl {config.psl} is not the list the recorded run used "
                f"({recorded_psl.get('version')}, sha256 {recorded_psl.get('sha256')}); "
                "leave --psl out to use the one the snapshot holds"
            )
    elif recorded_psl is not None:
        try:
            psl.use(str(recorded_psl["text"]).encode("utf-8"), str(recorded_psl["source"]))
        except (KeyError, TypeError, psl.PslError) as exc:
            raise BadInput(
                f"{config.replay_dns}: the snapshot's Public Suffix List is unusable ({exc})"
            ) from None
    if config.record_dns:
        _start_recording(config, command, options)


def _start_recording(config: RunConfig, command: str, options: dict[str, Any]) -> None:
    assert config.record_dns is not None
    target = Path(config.record_dns)
    if target.is_dir():
        raise BadInput(f"--record-dns {target}: is a folder (give the snapshot file to write)")
    parts = parts_dir(target)
    if config.resume and target.exists():
        # the resumed run's snapshot holds the answers of both parts: refuse a bad one now,
        # not after the run
        try:
            sum(1 for _ in read_lines(target).entries())
        except SnapshotError as exc:
            raise BadInput(f"--record-dns with --resume: {exc}") from None
    elif not config.resume:
        shutil.rmtree(parts, ignore_errors=True)  # left by a killed run that is not resumed
    try:
        parts.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"--record-dns {target}: {exc.strerror or exc}") from None
    identity = psl.identity()
    config.record_parts = str(parts)
    config.record_header = {
        "format": FORMAT,
        "bulkauth": __version__,
        "created": now_iso(),
        "run": {
            "command": command,
            "argv": ["bulkauth", *sys.argv[1:]],
            "options": {**run_options(config), **options},
        },
        "psl": {**identity.to_dict(), "text": psl.text()},
    }


def finish_recording(config: RunConfig) -> str | None:
    """Write the --record-dns snapshot from the parts the run's processes wrote (a line for
    the summary), or None when the run does not record."""
    if not config.record_dns or config.record_parts is None:
        return None
    try:
        n = write_snapshot(
            config.record_dns, config.record_header or {}, config.record_parts, carry=config.resume
        )
    except SnapshotError as exc:
        raise OutputFailed(str(exc)) from None
    return f"dns snapshot: {n:,} answers recorded to {config.record_dns}"


def input_notes(config: RunConfig, not_recorded: int) -> list[str]:
    """The summary's lines about the run's inputs."""
    identity = psl.identity()
    lines = [f"psl: {identity.label()} ({identity.source})"]
    if config.snapshot is not None:
        lines.append(f"dns snapshot: replayed {config.snapshot.describe()}")
        if not_recorded:
            lines.append(
                f"dns snapshot: {not_recorded:,} questions not in it "
                "(their sections are indeterminate, code dns.not_recorded)"
            )
    return lines
