"""Runs of the real commands over data/ (plus one zone for what data/ lacks), as NDJSON files.

Session-scoped: each run is made once and its file only read by the tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.paths import ROOT
from tests.worldgen import RSA2048

#: what data/ has no example of: a wildcard DKIM key, a key whose p= is not base64, and
#: MTA-STS, TLS-RPT and BIMI records with problems
EXTRA_ZONE = f"""$TTL 300
$ORIGIN storecov.example.
@ IN SOA ns1.example. hostmaster.example. 1 7200 3600 1209600 300
@ IN NS ns1.example.
@ IN TXT "v=spf1 mx -all"
@ IN MX 10 mx1
mx1 IN A 192.0.2.10
_dmarc IN TXT "v=DMARC1; p=reject"
*._domainkey IN TXT "v=DKIM1; k=rsa; p={RSA2048[:200]}" "{RSA2048[200:]}"
broken._domainkey IN TXT "v=DKIM1; k=rsa; p=MIIBIjAN!!notbase64"
_mta-sts IN TXT "v=STSv1; id=!!"
_smtp._tls IN TXT "v=TLSRPTv1; rua=bogus"
default._bimi IN TXT "v=BIMI1; l=http://logo.example/logo.svg"
"""

SPF_CHECKS = """192.0.2.10 user@good1.example
203.0.113.9 user@good1.example mx.example
192.0.2.1 user@loop.example
not-an-ip user@good1.example
192.0.2.10 user@includemissing.example
"""


def bulkauth(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bulkauth", *args],
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr.decode()
    return proc


def records(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store-runs")


@pytest.fixture(scope="session")
def zones(runs_dir: Path) -> Path:
    """data/zones plus the extra zone."""
    z = runs_dir / "zones"
    shutil.copytree(ROOT / "data" / "zones", z)
    (z / "storecov.example.zone").write_text(EXTRA_ZONE)
    return z


@pytest.fixture(scope="session")
def domains_run(runs_dir: Path, zones: Path) -> Path:
    """`bulkauth domains` over data/domains.txt and storecov.example."""
    listing = runs_dir / "domains.txt"
    listing.write_text((ROOT / "data" / "domains.txt").read_text() + "storecov.example\n")
    out = runs_dir / "domains.ndjson"
    bulkauth(
        "domains", str(listing), "--zones", str(zones), "--selectors", "broken",
        "--no-progress", "-o", str(out),
    )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def domains_rerun(runs_dir: Path, zones: Path) -> Path:
    """The same audit, after good1.example's DMARC went from reject to none."""
    later = runs_dir / "zones-later"
    shutil.copytree(zones, later)
    zone = later / "good1.example.zone"
    zone.write_text(zone.read_text().replace("p=reject", "p=none"))
    out = runs_dir / "domains-later.ndjson"
    bulkauth("domains", "data/domains.txt", "--zones", str(later), "--no-progress", "-o", str(out))
    return out


@pytest.fixture(scope="session")
def spf_run(runs_dir: Path) -> Path:
    """`bulkauth spf --input` over checks against data/zones (an invalid line among them)."""
    checks = runs_dir / "spf-checks.txt"
    checks.write_text(SPF_CHECKS)
    out = runs_dir / "spf.ndjson"
    bulkauth(
        "spf", "--input", str(checks), "--zones", "data/zones", "--no-progress", "-o", str(out)
    )
    return out


@pytest.fixture(scope="session")
def messages_run(runs_dir: Path) -> Path:
    """`bulkauth messages` over a generated mbox (some keys rotated away) and its zones."""
    from bench.mailgen import generate

    mail = runs_dir / "mail"
    mail.mkdir()
    generate(mail, messages=60, seed=3, authors=5)
    out = runs_dir / "messages.ndjson"
    bulkauth(
        "messages", str(mail / "mail.mbox"), "--zones", str(mail / "zones"),
        "--no-progress", "--workers", "0", "-o", str(out),
    )  # fmt: skip
    return out
