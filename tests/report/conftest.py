"""Runs of the real commands for the diff and the report: the sample world in data/, the
changed copy `data/change_sample.py` writes (the next night), and two messages runs of one
archive, the second after a DKIM key was withdrawn. Session-scoped: each is made once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.paths import ROOT


def bulkauth(*args: str, ok: tuple[int, ...] = (0, 1)) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bulkauth", *args],
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode in ok, proc.stderr.decode()
    return proc


def records(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("report-runs")


@pytest.fixture(scope="session")
def sample_run(runs: Path) -> Path:
    out = runs / "tonight.ndjson"
    bulkauth(
        "domains", "data/domains.txt", "--zones", "data/zones", "--no-progress", "-o", str(out)
    )
    return out


@pytest.fixture(scope="session")
def next_world(runs: Path) -> tuple[Path, Path]:
    """(domain list, zones) of the changed sample world."""
    subprocess.run(
        [sys.executable, str(ROOT / "data" / "change_sample.py"), str(runs / "next")], check=True
    )
    return runs / "next" / "domains.txt", runs / "next" / "zones"


@pytest.fixture(scope="session")
def next_run(runs: Path, next_world: tuple[Path, Path]) -> Path:
    listing, zones = next_world
    out = runs / "next-night.ndjson"
    bulkauth("domains", str(listing), "--zones", str(zones), "--no-progress", "-o", str(out))
    return out


@pytest.fixture(scope="session")
def mail_runs(runs: Path) -> tuple[Path, Path]:
    """Two `messages` runs of one archive: before and after bulkpost.example's key went."""
    from bench.mailgen import generate

    mail = runs / "mail"
    generate(mail, messages=60, seed=3, authors=5)
    before = runs / "messages-1.ndjson"
    bulkauth(
        "messages", str(mail / "mail.mbox"), "--zones", str(mail / "zones"),
        "--no-progress", "--workers", "0", "-o", str(before),
    )  # fmt: skip
    zone = mail / "zones" / "bulkpost.example.zone"
    zone.write_text(
        "".join(ln for ln in zone.read_text().splitlines(True) if "._domainkey" not in ln)
    )
    after = runs / "messages-2.ndjson"
    bulkauth(
        "messages", str(mail / "mail.mbox"), "--zones", str(mail / "zones"),
        "--no-progress", "--workers", "0", "-o", str(after),
    )  # fmt: skip
    return before, after
