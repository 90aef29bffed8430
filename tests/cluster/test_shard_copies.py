"""A shard that Dask runs twice (its worker was lost after the first copy finished, or
while it ran): the late copy neither replaces the part in place nor, once the driver has
assembled the output, leaves a part or a temporary file behind. Run in this process, as a
worker runs it (no Dask needed)."""

from __future__ import annotations

from pathlib import Path

from bulkauth.cluster.manifest import new_manifest, part_path
from bulkauth.cluster.shards import cut_list
from bulkauth.cluster.task import ShardTask, run_shard
from bulkauth.pipeline.config import RunConfig
from tests.cluster.kit import DATA


def _task(tmp_path: Path) -> tuple[ShardTask, Path]:
    shards, prints = cut_list([str(DATA / "domains.txt")], 8)
    parts = tmp_path / "out.ndjson.cluster"
    parts.mkdir()
    new_manifest(parts, "domains", {}, prints, shards)
    config = RunConfig(zones=str(DATA / "zones"))
    return ShardTask("domains", shards[1], config, str(parts)), parts


def test_a_late_copy_keeps_the_part_already_in_place(tmp_path: Path) -> None:
    task, parts = _task(tmp_path)
    first = run_shard(task)
    part = part_path(parts, 1)
    written = part.read_bytes()
    assert first.records == 8 == len(written.splitlines())
    part.write_bytes(b"the first copy's part\n")  # to tell the copies apart
    again = run_shard(task)
    assert again.records == first.records and again.by_status == first.by_status
    assert part.read_bytes() == b"the first copy's part\n"
    assert sorted(p.name for p in parts.iterdir()) == ["manifest.json", part.name]


def test_a_copy_finishing_after_the_output_is_assembled_leaves_nothing(tmp_path: Path) -> None:
    task, parts = _task(tmp_path)
    manifest = parts / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"assembled":false', b'"assembled":true'))
    assert run_shard(task).records == 8
    assert [p.name for p in parts.iterdir()] == ["manifest.json"]
    # and with the assembled flag off, the same copy puts its part in place
    manifest.write_bytes(manifest.read_bytes().replace(b'"assembled":true', b'"assembled":false'))
    run_shard(task)
    assert part_path(parts, 1).exists()
