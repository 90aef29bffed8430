"""Resume after a crash: SIGKILL at random points, torn and corrupt output, whole-record writes.

The kill test runs the real CLI over a few thousand generated domains (tests/worldgen.py),
kills it with SIGKILL three times at random points, resumes each time, and requires the final
file to be byte-identical to an uninterrupted run's. The seed is printed on failure; set
BULKAUTH_KILL_SEED to replay one.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import orjson
import pytest

from bulkauth.pipeline.config import RunConfig
from bulkauth.pipeline.sinks import NdjsonSink, ResumeMismatch
from tests.paths import ROOT
from tests.worldgen import records, run_domains_here, whole_lines, write_world

N_KILL = 2000
N_SMALL = 120


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bulkauth", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


class LineCounter:
    """Counts complete lines of a file that another process appends to, reading only what is new."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos = 0
        self.lines = 0

    def poll(self) -> int:
        if self.path.exists():
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                chunk = f.read()
            self.pos += len(chunk)
            self.lines += chunk.count(b"\n")
        return self.lines


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigkill_three_times_then_resume_equals_an_uninterrupted_run(
    tmp_path: Path, workers: str
) -> None:
    seed = int(os.environ.get("BULKAUTH_KILL_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    listing, zones = write_world(tmp_path, N_KILL, dkim_every=100, lean=True)
    # one process (the default below 2,000 items) and two worker processes (jobs.py)
    base = ["domains", str(listing), "--zones", str(zones), "--no-progress", "--workers", workers]

    # the uninterrupted run, alongside the killed ones (a second core does it for free)
    clean_out = tmp_path / "clean.ndjson"
    clean = subprocess.Popen(
        cli(*base, "-o", str(clean_out)),
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    out = tmp_path / "killed.ndjson"
    # three kill points, each somewhere in its own third of the run
    targets = [int(N_KILL * rng.uniform(lo, lo + 0.25)) for lo in (0.05, 0.35, 0.65)]
    history = []
    try:
        for target in targets:
            proc = subprocess.Popen(
                cli(*base, "-o", str(out), "--resume"),
                env=env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            counter = LineCounter(out)  # a resume starts by cutting a torn tail: count afresh
            t0 = time.monotonic()
            while counter.poll() < target:
                assert proc.poll() is None, f"seed {seed}: run ended before the kill point {target}"
                assert time.monotonic() - t0 < 120, f"seed {seed}: no progress"
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            data = out.read_bytes()
            history.append((target, data.count(b"\n"), not data.endswith(b"\n")))
        final = subprocess.run(
            cli(*base, "-o", str(out), "--resume"), env=env(), capture_output=True, timeout=300
        )
        assert final.returncode == 0, final.stderr.decode()
    finally:
        try:
            _, clean_err = clean.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            clean.kill()
            clean.communicate()
            raise
    assert clean.returncode == 0, clean_err.decode()
    expected = clean_out.read_bytes()
    assert len(records(expected)) == N_KILL
    # kill points, lines on disk after each kill, and whether a line was torn
    why = f"seed {seed}: (target, lines, torn) = {history}"
    got = out.read_bytes()
    assert got.count(b"\n") == N_KILL, why
    assert got == expected, why


# --- resume from damaged output, in process over a small world -----------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    d = tmp_path_factory.mktemp("small")
    listing, zones = write_world(d, N_SMALL, dkim_every=40)
    out = d / "clean.ndjson"
    domains_run(listing, zones, out, resume=False)
    return listing, zones, out.read_bytes()


def domains_run(listing: Path, zones: Path, out: Path, resume: bool = True) -> int:
    config = RunConfig(zones=str(zones), output=str(out), resume=resume, progress=False)
    skipped: int = run_domains_here([str(listing)], config).skipped
    return skipped


def cut(clean: bytes, records_kept: int) -> int:
    """Byte offset just after the first ``records_kept`` lines."""
    pos = 0
    for _ in range(records_kept):
        pos = clean.index(b"\n", pos) + 1
    return pos


@pytest.mark.parametrize(
    ("damage", "redone_from"),
    [
        # SIGKILL mid-write: half a line at the end
        ("torn", 50),
        # the last line is whole JSON but its newline never made it: it counts as torn
        ("no_newline", 49),
        # a line in the middle was overwritten (disk trouble): everything from it is redone
        ("corrupt_middle", 30),
        # NUL bytes at the end, as some filesystems leave after a crash (size grew, data did not)
        ("nul_tail", 50),
        # the process died before writing anything
        ("empty", 0),
        # nothing to do: the run had finished
        ("complete", N_SMALL),
    ],
)
def test_resume_repairs_damaged_output(
    damage: str, redone_from: int, small: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    listing, zones, clean = small
    out = tmp_path / "out.ndjson"
    at = cut(clean, 50)
    damaged = {
        "torn": clean[: at + 37],
        "no_newline": clean[: at - 1],
        "corrupt_middle": clean[: cut(clean, 30)]
        + b'{"schema": "bulk'
        + b"x" * 50
        + b"\n"
        + clean[cut(clean, 31) : at],
        "nul_tail": clean[:at] + b"\0" * 4096,
        "empty": b"",
        "complete": clean,
    }[damage]
    out.write_bytes(damaged)
    skipped = domains_run(listing, zones, out)
    assert skipped == redone_from
    assert out.read_bytes() == clean


def test_resume_refuses_output_of_another_list(
    small: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    _listing, zones, clean = small
    other = tmp_path / "other.txt"
    other.write_text("".join(f"x{i}.test\n" for i in range(N_SMALL)))
    out = tmp_path / "out.ndjson"
    out.write_bytes(clean[: cut(clean, 10)])
    with pytest.raises(ResumeMismatch):
        domains_run(other, zones, out)
    assert out.read_bytes() == clean[: cut(clean, 10)]  # left as it was
    proc = subprocess.run(
        cli(
            "domains",
            str(other),
            "--zones",
            str(zones),
            "--no-progress",
            "-o",
            str(out),
            "--resume",
        ),
        env=env(),
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 2 and b"--output" in proc.stderr and b"Traceback" not in proc.stderr


def test_resume_with_a_shorter_list_than_the_output(
    small: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    """The list was cut after the first run: the output holds more records than there are
    items. That is not the same run; resume must refuse rather than keep stray records."""
    listing, zones, clean = small
    short = tmp_path / "short.txt"
    short.write_text("".join(listing.read_text().splitlines(keepends=True)[:20]))
    out = tmp_path / "out.ndjson"
    out.write_bytes(clean[: cut(clean, 40)])
    with pytest.raises(ResumeMismatch):
        domains_run(short, zones, out)


# --- whole records, flushed at a bounded interval ----------------------------------------------


def test_a_record_is_on_disk_within_the_flush_interval_even_when_the_run_stalls(
    tmp_path: Path,
) -> None:
    """One record, then the run waits (a slow item holds back the ones after it): the record
    must reach the file within the flush interval, not when the next record comes."""
    out = tmp_path / "out.ndjson"

    async def main() -> tuple[bytes, bytes]:
        sink = NdjsonSink(str(out), flush_interval=0.2)
        sink.write({"n": 1})
        before = out.read_bytes()
        await anyio.sleep(0.5)
        after = out.read_bytes()
        sink.close()
        return before, after

    before, after = anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})
    assert before == b""  # buffered: one syscall per interval, not per line
    assert after == b'{"n":1}\n'


def test_every_record_is_one_write(tmp_path: Path) -> None:
    """A record is handed to the file in one write call, so only the last line can tear."""
    out = tmp_path / "out.ndjson"
    writes: list[bytes] = []

    class Spy:
        def write(self, b: bytes) -> int:
            writes.append(bytes(b))
            return len(b)

        def flush(self) -> None:
            pass

    sink = NdjsonSink(None)
    sink._out = Spy()  # type: ignore[assignment]
    recs = [
        {"input": "x" * n, "n": n, "nested": {"a": [1, 2, {"b": "ü\n"}]}}
        for n in (0, 1, 5000, 200_000)
    ]
    for r in recs:
        sink.write(r)
    assert len(writes) == len(recs)
    assert [orjson.loads(w) for w in writes] == recs
    assert all(w.endswith(b"\n") and w.count(b"\n") == 1 for w in writes)
    out.write_bytes(b"".join(writes))
    assert whole_lines(out.read_bytes())


def test_a_killed_worker_process_is_a_clear_error_and_the_run_resumes(tmp_path: Path) -> None:
    """SIGKILL one of two worker processes (as the OOM killer would): the parent says so, exits
    1 with whole lines on disk, and --resume finishes the job."""
    listing, zones = write_world(tmp_path, N_KILL, dkim_every=100, lean=True)
    base = ["domains", str(listing), "--zones", str(zones), "--no-progress", "--workers", "2"]
    out = tmp_path / "out.ndjson"
    proc = subprocess.Popen(
        cli(*base, "-o", str(out)), env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    counter = LineCounter(out)
    deadline = time.monotonic() + 120
    while counter.poll() < 200 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    pids = children.read_text().split()
    assert len(pids) == 2, pids
    os.kill(int(pids[1]), signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err.decode()
    assert b"ended unexpectedly" in err and b"--resume" in err, err.decode()
    assert out.read_bytes().endswith(b"\n")
    final = subprocess.run(
        cli(*base, "-o", str(out), "--resume"), env=env(), capture_output=True, timeout=300
    )
    assert final.returncode == 0, final.stderr.decode()
    lines = records(out.read_bytes())
    assert [r["line"] for r in lines] == sorted({r["line"] for r in lines})
    assert len(lines) == N_KILL
