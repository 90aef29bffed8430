"""What the cluster tests share: the CLI as a real process, inputs, a Dask cluster of real
worker processes started the way the README says (``dask scheduler``, ``dask worker``)."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import orjson

from tests.paths import ROOT

DATA = ROOT / "data"
BIN = Path(sys.executable).parent


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def bulkauth(
    *args: str, check: bool = True, timeout: float = 240
) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(
        [sys.executable, "-m", "bulkauth", *args],
        capture_output=True,
        env=env(),
        cwd=ROOT,
        timeout=timeout,
    )
    if check:
        assert proc.returncode == 0, proc.stderr.decode()
    return proc


def start(*args: str) -> subprocess.Popen[bytes]:
    """The CLI in a session of its own: killing its group ends a LocalCluster's workers too."""
    return subprocess.Popen(
        [sys.executable, "-m", "bulkauth", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env(),
        cwd=ROOT,
        start_new_session=True,
    )


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the CLI's process group (the driver and a LocalCluster's workers)."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def done_shards(output: Path) -> tuple[int, int]:
    """(shards done, shards) of the run writing ``output``, from its manifest."""
    try:
        doc = orjson.loads((Path(str(output) + ".cluster") / "manifest.json").read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return 0, 0
    shards = doc["shards"]
    return sum(s["state"] == "done" for s in shards), len(shards)


def wait_for_shards(output: Path, at_least: int, timeout: float = 120) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, total = done_shards(output)
        if done >= at_least:
            return done, total
        time.sleep(0.05)
    raise AssertionError(f"no {at_least} shards done in {timeout}s")


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def check_file(path: Path, n: int, seed: int = 1) -> Path:
    """``n`` spf --input lines over the sample world's domains, with comments and bad lines."""
    doms = [
        ln.split()[0]
        for ln in (DATA / "domains.txt").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ][:30]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        d = rng.choice(doms)
        out.append(f"192.0.2.{rng.randint(1, 254)} user{i}@{d} mx.{d}")
        if i % 50 == 0:
            out += ["# a comment", "", "not-an-ip x@y"]
    path.write_text("\n".join(out) + "\n")
    return path


@contextmanager
def dask_cluster(tmp: Path, workers: int = 2) -> Iterator[str]:
    """A scheduler and ``workers`` worker processes (one thread each) on loopback, as on
    several machines; yields the scheduler's address."""
    info = tmp / "scheduler.json"
    procs = [
        subprocess.Popen(
            [
                str(BIN / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(info),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env(),
            cwd=ROOT,
            start_new_session=True,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = orjson.loads(info.read_bytes())["address"]
        procs.append(
            subprocess.Popen(
                [
                    str(BIN / "dask"),
                    "worker",
                    address,
                    "--nworkers",
                    str(workers),
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env(),
                cwd=ROOT,
                start_new_session=True,
            )
        )
        yield address
    finally:
        for p in reversed(procs):
            with suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def summary_records(stderr: bytes) -> int:
    m = re.search(rb"^([\d,]+) records in", stderr, re.MULTILINE)
    assert m, stderr.decode()
    return int(m.group(1).replace(b",", b""))
