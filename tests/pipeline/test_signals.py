"""SIGINT and SIGTERM: stop intake, finish or abandon what is in flight, write whole records,
exit 128 + signal; `--resume` then completes the run as if it had never stopped.

The CLI runs as a real process over a generated world (tests/worldgen.py) answered from its zone
file; ``--qps`` slows it down enough to be interrupted mid-run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from bulkauth.pipeline.pool import run_ordered
from bulkauth.pipeline.records import Record, internal_error
from tests.paths import ROOT
from tests.worldgen import records, whole_lines, write_world

N = 250


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bulkauth", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    """The list, the zones, and the output of an uninterrupted run."""
    d = tmp_path_factory.mktemp("sigworld")
    listing, zones = write_world(d, N)
    out = d / "clean.ndjson"
    subprocess.run(
        cli("domains", str(listing), "--zones", str(zones), "--no-progress", "-o", str(out)),
        env=env(),
        check=True,
        capture_output=True,
        timeout=120,
    )
    return listing, zones, out.read_bytes()


def start(listing: Path, zones: Path, out: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cli(
            "domains", str(listing), "--zones", str(zones), "--no-progress", "-o", str(out), *extra
        ),
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for_output(proc: subprocess.Popen[bytes], out: Path, deadline: float = 60.0) -> None:
    """Until the run has flushed something: then it is surely past start-up, mid-run."""
    t0 = time.monotonic()
    while not (out.exists() and out.stat().st_size > 0):
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() - t0 < deadline
        time.sleep(0.02)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_with_whole_records_and_resume_completes_the_run(
    signum: int, code: int, world: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    listing, zones, clean = world
    out = tmp_path / "out.ndjson"
    proc = start(listing, zones, out, "--qps", "1500", "--concurrency", "8")
    wait_for_output(proc, out)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err.decode()
    assert f"stopped by {signal.Signals(signum).name}".encode() in err
    assert b"Traceback" not in err
    partial = out.read_bytes()
    # a graceful stop writes whole records only, and they are the first ones of a clean run
    assert whole_lines(partial)
    assert 0 < len(records(partial)) < N
    assert clean.startswith(partial)

    done = subprocess.run(
        cli(
            "domains",
            str(listing),
            "--zones",
            str(zones),
            "--no-progress",
            "-o",
            str(out),
            "--resume",
        ),
        env=env(),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert f"{len(records(partial)):,} skipped".encode() in done.stderr
    # same records, same order, no duplicates, no gaps
    assert out.read_bytes() == clean


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_to_the_process_group_with_worker_processes(
    signum: int, world: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    """Ctrl-C in a terminal (or a service manager's stop) signals every process of the group,
    workers included: the workers leave the decision to the parent, which stops intake,
    writes what is in flight, and exits 128 + signal; --resume then completes the run."""
    listing, zones, clean = world
    out = tmp_path / "out.ndjson"
    args = ["domains", str(listing), "--zones", str(zones), "--no-progress", "-o", str(out)]
    proc = subprocess.Popen(
        cli(*args, "--workers", "2", "--qps", "1500", "--concurrency", "8"),
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    wait_for_output(proc, out)
    os.killpg(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err.decode()
    assert b"Traceback" not in err
    partial = out.read_bytes()
    assert whole_lines(partial) and clean.startswith(partial)
    done = subprocess.run(cli(*args, "--resume"), env=env(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert out.read_bytes() == clean


def test_second_signal_stops_at_once(world: tuple[Path, Path, bytes], tmp_path: Path) -> None:
    """The first signal leaves in-flight items up to 5 s to finish; at 100 queries/s the 64
    items in flight need longer than that. A second signal must not wait for them."""
    listing, zones, clean = world
    out = tmp_path / "out.ndjson"
    proc = start(listing, zones, out, "--qps", "100", "--concurrency", "8")
    # records on disk: past start-up, with a window of items in flight (a signal during
    # start-up stops the run before anything is in flight: test_signal_during_start_up)
    wait_for_output(proc, out)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    assert proc.poll() is None  # still finishing the items in flight
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 2.0
    assert proc.returncode == 130, err.decode()
    partial = out.read_bytes()
    assert whole_lines(partial) and clean.startswith(partial)


def test_signal_during_start_up(world: tuple[Path, Path, bytes], tmp_path: Path) -> None:
    """SIGTERM while the zone files are still loading: the run stops before it starts any
    item, says so, and exits 143 with an empty (resumable) output, not a traceback."""
    listing, zones, _ = world
    out = tmp_path / "out.ndjson"
    proc = start(listing, zones, out)
    t0 = time.monotonic()
    while not out.exists():  # created just before the zone files are loaded
        assert proc.poll() is None and time.monotonic() - t0 < 60
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err.decode()
    assert b"Traceback" not in err
    assert b"stopped by SIGTERM" in err
    assert whole_lines(out.read_bytes())


def test_grace_period_bounds_the_wait_for_stuck_items() -> None:
    """In process: one item never finishes; SIGTERM arrives while later items are done.
    The run stops after the grace period, having written the records before the stuck one
    (output is in input order) and nothing else."""
    out: list[Record] = []
    stuck = 10

    async def work(i: int) -> Record:
        if i == stuck:
            await anyio.sleep_forever()
        if i == 40:
            os.kill(os.getpid(), signal.SIGTERM)
        await anyio.lowlevel.checkpoint()
        return {"i": i}

    async def main() -> Any:
        return await run_ordered(
            iter(range(1000)),
            work,
            lambda i, e: {"i": i, "error": internal_error(e)},
            out.append,
            window=64,
            grace=0.3,
        )

    t0 = time.monotonic()
    outcome = anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})
    elapsed = time.monotonic() - t0
    assert outcome.stopped_by == signal.SIGTERM
    assert [r["i"] for r in out] == list(range(stuck))
    assert outcome.written == stuck and outcome.items <= 64 + 1
    assert 0.3 <= elapsed < 2.0
