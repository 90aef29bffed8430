"""The manifest of a cluster run: ``<output>.cluster/manifest.json``.

It says what the run is (the command, its options, the input's fingerprint), how the input
was cut (every shard's pieces) and where each shard is (pending, done with its record
count). The driver alone writes it, atomically (temporary file + rename), after every shard
that finishes: a driver killed at any moment leaves a manifest that --resume can trust, and
the parts of the shards it marks done.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bulkauth.cluster.shards import Fingerprint, Piece, Shard
from bulkauth.pipeline.errors import BadInput

FORMAT = "bulkauth.cluster/1"
PENDING, DONE = "pending", "done"


def parts_dir(output: str) -> Path:
    """Where a run writing ``output`` keeps its manifest and the shards' parts."""
    return Path(output + ".cluster")


def part_path(parts: str | Path, number: int) -> Path:
    return Path(parts) / f"part-{number:05d}.ndjson"


def assembled(parts: str | Path) -> bool:
    """Whether the run in ``parts`` has written its output (a shard's late copy then keeps
    nothing); an unreadable manifest counts as not assembled."""
    try:
        return bool(orjson.loads((Path(parts) / "manifest.json").read_bytes()).get("assembled"))
    except (OSError, orjson.JSONDecodeError):
        return False


@dataclass(slots=True)
class Manifest:
    path: Path
    command: str
    options: dict[str, Any]
    fingerprint: Fingerprint
    shards: list[Shard]
    state: dict[int, str] = field(default_factory=dict)
    records: dict[int, int] = field(default_factory=dict)
    assembled: bool = False

    def pending(self) -> list[Shard]:
        return [s for s in self.shards if self.state.get(s.number) != DONE]

    def done(self, number: int, records: int) -> None:
        self.state[number] = DONE
        self.records[number] = records
        self.save()

    def save(self) -> None:
        doc = {
            "format": FORMAT,
            "command": self.command,
            "options": self.options,
            "input": self.fingerprint,
            "assembled": self.assembled,
            "shards": [
                {
                    "number": s.number,
                    "size": s.size,
                    "state": self.state.get(s.number, PENDING),
                    "records": self.records.get(s.number),
                    "pieces": [p.to_json() for p in s.pieces],
                }
                for s in self.shards
            ],
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_bytes(orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS))
        # the manifest is what a resumed run trusts: never half of one
        os.replace(tmp, self.path)


def new_manifest(
    parts: Path,
    command: str,
    options: dict[str, Any],
    fingerprint: Fingerprint,
    shards: list[Shard],
) -> Manifest:
    m = Manifest(parts / "manifest.json", command, options, fingerprint, shards)
    m.save()
    return m


def resume_manifest(
    parts: Path, command: str, options: dict[str, Any], fingerprint: Fingerprint
) -> Manifest | None:
    """The manifest of the run to resume (None: there is none, start afresh); a run of
    another command, other options or a changed input is refused."""
    path = parts / "manifest.json"
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as exc:
        raise BadInput(
            f"{path}: unreadable manifest ({exc}); remove {parts} to start afresh"
        ) from None
    if doc.get("format") != FORMAT or doc.get("command") != command:
        raise BadInput(f"{path} is not the manifest of a `{command}` run; remove {parts}")
    if doc.get("input") != fingerprint:
        raise BadInput(
            f"the input changed since the run in {parts} began (files, sizes or times differ): "
            "--resume would mix two inputs; run without --resume to start afresh"
        )
    if doc.get("options") != options:
        changed = sorted(
            k
            for k in {*options, *doc.get("options", {})}
            if options.get(k) != doc.get("options", {}).get(k)
        )
        raise BadInput(
            f"the options differ from the run in {parts} ({', '.join(changed)}): "
            "--resume continues a run as it began; run without --resume to start afresh"
        )
    shards, state, records = [], {}, {}
    for s in doc["shards"]:
        shard = Shard(int(s["number"]), [Piece.from_json(p) for p in s["pieces"]], int(s["size"]))
        shards.append(shard)
        # a shard is done only when its part is there too (a part removed by hand is redone)
        if s["state"] == DONE and part_path(parts, shard.number).exists():
            state[shard.number] = DONE
            records[shard.number] = int(s["records"])
    m = Manifest(path, command, options, fingerprint, shards, state, records)
    m.assembled = bool(doc.get("assembled"))
    return m
