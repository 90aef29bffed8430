"""A cluster run that loses a worker, or its driver, still ends with the local run's output:
whole, every record once. A scheduler and workers are started as the README says (`dask
scheduler`, `dask worker`), real processes on loopback; a worker is killed by its PID."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip(
    "distributed", reason="the cluster extra is not installed: pip install 'bulkauth[cluster]'"
)

from tests.cluster.kit import (
    DATA,
    bulkauth,
    dask_cluster,
    done_shards,
    kill,
    lines,
    start,
    wait_for_shards,
)

#: slow enough (a query rate cap over the whole run) to stop it half-way
SLOW = ["--qps", "250"]


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with dask_cluster(tmp_path_factory.mktemp("dask")) as address:
        yield address


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """Twice the sample domain list, and a copy of its zones to edit."""
    text = (DATA / "domains.txt").read_text()
    (tmp_path / "domains.txt").write_text(text + text)
    shutil.copytree(DATA / "zones", tmp_path / "zones")
    return tmp_path


def _run(world: Path, out: Path, *more: str, check: bool = True) -> bytes:
    proc = bulkauth(
        "domains",
        str(world / "domains.txt"),
        "--zones",
        str(world / "zones"),
        "--no-progress",
        "-o",
        str(out),
        *more,
        check=check,
    )
    return proc.stderr


def _start(world: Path, out: Path, *more: str) -> subprocess.Popen[bytes]:
    """The clustered domains run of these tests, started in the background to be killed."""
    return start(
        "domains",
        str(world / "domains.txt"),
        "--zones",
        str(world / "zones"),
        "--no-progress",
        "-o",
        str(out),
        *more,
    )


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(world: Path, scheduler: str) -> None:
    from distributed import Client

    _run(world, world / "local.ndjson")
    out = world / "cluster.ndjson"
    driver = _start(world, out, "--cluster", scheduler, "--shard-size", "8", *SLOW)
    try:
        done, total = wait_for_shards(out, 1)
        assert done < total
        with Client(scheduler, timeout=30) as client:
            pids = client.run(os.getpid)
            busy = [w for w, tasks in client.processing().items() if tasks] or list(pids)
            # the worker in the middle of a shard: Dask runs the shard again elsewhere
            os.kill(pids[busy[0]], signal.SIGKILL)
        _, err = driver.communicate(timeout=180)
    finally:
        if driver.poll() is None:
            kill(driver)
    assert driver.returncode == 0, err.decode()
    assert out.read_bytes() == (world / "local.ndjson").read_bytes()
    assert len(set(lines(out))) == len(lines(out)) == 104
    assert not list(Path(str(out) + ".cluster").glob("part-*"))


def test_resume_after_the_driver_is_killed_redoes_only_unfinished_shards(world: Path) -> None:
    _run(world, world / "local.ndjson")
    out = world / "cluster.ndjson"
    args = ["--cluster", "local:2", "--shard-size", "8", *SLOW]
    driver = _start(world, out, *args)
    try:
        done, total = wait_for_shards(out, 2)
    finally:
        kill(driver)  # the driver and its LocalCluster's workers
    assert done < total and not out.exists()
    before, _ = done_shards(out)
    err = _run(world, out, *args, "--resume")
    assert out.read_bytes() == (world / "local.ndjson").read_bytes()
    assert f"{before} done before".encode() in err and b"skipped (already in output)" in err


def test_resume_refuses_a_changed_input(world: Path) -> None:
    out = world / "cluster.ndjson"
    args = ["--cluster", "local:2", "--shard-size", "8", *SLOW]
    driver = _start(world, out, *args)
    try:
        wait_for_shards(out, 1)
    finally:
        kill(driver)
    with open(world / "domains.txt", "a") as f:
        f.write("added.example\n")
    err = _run(world, out, *args, "--resume", check=False)
    assert b"the input changed" in err and not out.exists()
    err = _run(
        world, out, "--cluster", "local:2", "--shard-size", "9", *SLOW, "--resume", check=False
    )
    assert b"the input changed" in err or b"options differ" in err


def test_zone_edits_between_runs_are_seen_by_long_lived_workers(
    world: Path, scheduler: str
) -> None:
    first, second, local = (world / n for n in ("1.ndjson", "2.ndjson", "local.ndjson"))
    _run(world, first, "--cluster", scheduler, "--shard-size", "20")
    edited = next(p for p in sorted((world / "zones").iterdir()) if b"v=spf1" in p.read_bytes())
    text = edited.read_bytes()
    edited.write_bytes(text.replace(b"v=spf1", b"v=spf1 ip4:198.51.100.7", 1))
    time.sleep(0.01)
    _run(world, second, "--cluster", scheduler, "--shard-size", "20")
    _run(world, local)
    assert second.read_bytes() == local.read_bytes() != first.read_bytes()
    assert b"198.51.100.7" in second.read_bytes() and b"198.51.100.7" not in first.read_bytes()
