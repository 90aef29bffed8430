"""--record-dns / --replay-dns end to end: record a run against a DNS server on loopback,
replay it with the server gone, and get the same records; every bad snapshot is a message."""

from __future__ import annotations

import gzip
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from bench.mailgen import generate
from bulkauth import __version__
from bulkauth.core.common import psl
from bulkauth.dns.backends.snapshot import parts_dir
from tests.dnsserver import serving
from tests.paths import ROOT
from tests.worldgen import write_world

DATA = ROOT / "data"


def bulkauth(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bulkauth", *args],
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    if check:
        assert proc.returncode == 0, proc.stderr.decode()
    return proc


def records(out: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in out.splitlines()]


def snapshot_lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


#: fields that say when a record was made, not what was found: a replay may differ in them
TIMING = ("now",)


def without_timing(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Message records whose clock is the run's own ('now') differ in that time only."""
    out = []
    for r in recs:
        if r.get("as_of", {}).get("source") in TIMING:
            r = {**r, "as_of": {**r["as_of"], "time": None}}
        out.append(r)
    return out


def test_domains_replayed_with_the_server_gone_give_the_same_bytes(tmp_path: Path) -> None:
    snap = tmp_path / "dns.snap"
    with serving(DATA / "zones") as server:
        # a SERVFAIL the retries cannot cure: recorded, and replayed as the same failure
        server.fault("servfail", name="_dmarc.good2.example")
        live = bulkauth(
            "domains", "data/domains.txt", "-n", server.nameserver, "--no-progress",
            "--workers", "2", "--retries", "1", "--record-dns", str(snap),
        )  # fmt: skip
        seen = {(s.name, s.rtype) for s in server.log}
    assert b"answers recorded to" in live.stderr
    lines = snapshot_lines(snap)
    header, entries, end = lines[0], lines[1:-1], lines[-1]
    assert header["format"] == "bulkauth.dns-snapshot/1" and header["bulkauth"] == __version__
    assert header["run"]["command"] == "domains"
    assert header["run"]["options"]["nameservers"] == [server.nameserver]
    assert header["psl"]["sha256"] == psl.identity().sha256 and header["psl"]["text"]
    # every answer on the wire, the SERVFAIL and its retry too, each naming its server (and
    # a query lost on a busy machine too, as TIMEOUT: then the server never saw it)
    assert end == {"end": {"answers": len(entries)}}
    assert {(e["name"], e["type"]) for e in entries if e["rcode"] != "TIMEOUT"} == seen
    assert {e["server"] for e in entries} == {server.nameserver}
    dmarc = [e["rcode"] for e in entries if e["name"] == "_dmarc.good2.example"]
    assert dmarc == ["SERVFAIL", "SERVFAIL"]
    replay = bulkauth(
        "domains", "data/domains.txt", "--replay-dns", str(snap), "--no-progress",
        "--workers", "2", "--retries", "1",
    )  # fmt: skip
    assert replay.stdout == live.stdout
    assert records(replay.stdout)[2]["dmarc"]["state"] == "indeterminate"  # good2.example
    schema = orjson.loads(bulkauth("schema", "dns-snapshot").stdout)
    validator = jsonschema.Draft202012Validator(schema)
    for line in lines:
        assert not list(validator.iter_errors(line)), line
    assert b"dns (snapshot)" in replay.stderr and b"replayed" in replay.stderr


def test_messages_replayed_give_the_same_records(tmp_path: Path) -> None:
    generate(tmp_path, messages=30, seed=5, authors=4)
    snap = tmp_path / "mail.snap"
    args = [str(tmp_path / "mail.mbox"), "--no-progress", "--workers", "2"]
    with serving(tmp_path / "zones") as server:
        live = bulkauth("messages", *args, "-n", server.nameserver, "--record-dns", str(snap))
    replay = bulkauth("messages", *args, "--replay-dns", str(snap))
    got, want = records(replay.stdout), records(live.stdout)
    assert len(got) == 30 and {r["dkim"]["result"] for r in got} >= {"pass"}
    assert without_timing(got) == without_timing(want)
    if not any(r["as_of"]["source"] == "now" for r in want):
        assert replay.stdout == live.stdout


def test_spf_input_replayed_gives_the_same_bytes(tmp_path: Path) -> None:
    checks = tmp_path / "checks.txt"
    checks.write_text(
        "192.0.2.1 a@good1.example\n198.51.100.7 b@good1.example mx.good1.example\n"
        "203.0.113.9 c@toomany.example\n192.0.2.98 d@macros.example\nnot-an-ip x@y\n"
    )
    snap = tmp_path / "spf.snap"
    with serving(DATA / "zones") as server:
        live = bulkauth(
            "spf", "--input", str(checks), "-n", server.nameserver, "--no-progress",
            "--record-dns", str(snap),
        )  # fmt: skip
    assert snapshot_lines(snap)[0]["run"]["command"] == "spf"
    replay = bulkauth("spf", "--input", str(checks), "--replay-dns", str(snap), "--no-progress")
    assert replay.stdout == live.stdout and len(records(live.stdout)) == 5
    # a single check records and replays too
    one = tmp_path / "one.snap"
    check = ["spf", "198.51.100.7", "b@good1.example", "--json"]
    with serving(DATA / "zones") as server:
        live = bulkauth(*check, "-n", server.nameserver, "--record-dns", str(one))
    assert bulkauth(*check, "--replay-dns", str(one)).stdout == live.stdout


def test_a_question_the_snapshot_lacks_is_indeterminate_never_missing(tmp_path: Path) -> None:
    snap = tmp_path / "spf-only.snap"
    bulkauth(
        "domains", "data/domains.txt", "--zones", "data/zones", "--sections", "spf",
        "--no-progress", "--record-dns", str(snap),
    )  # fmt: skip
    replay = bulkauth("domains", "data/domains.txt", "--replay-dns", str(snap), "--no-progress")
    ok = [r for r in records(replay.stdout) if r["status"] == "ok"]
    assert ok and all(r["spf"]["state"] != "indeterminate" for r in ok)
    for r in ok:
        for section in ("dmarc", "mta_sts", "tls_rpt"):  # not asked by SPF (mx may be)
            assert r[section]["state"] == "indeterminate", (r["domain"], section)
            failure = r[section]["dns_failure"]
            assert (failure["rcode"], failure["code"]) == ("NOTRECORDED", "dns.not_recorded")
    assert b"questions not in it" in replay.stderr


def test_bad_snapshots_are_refused_before_any_output(tmp_path: Path) -> None:
    snap = tmp_path / "whole.snap"
    bulkauth(
        "domains", "data/domains.txt", "--zones", "data/zones", "--no-progress",
        "--record-dns", str(snap),
    )  # fmt: skip
    whole = snap.read_bytes()
    cut = tmp_path / "cut.snap"
    cut.write_bytes(whole[: len(whole) // 2])
    other = tmp_path / "other.snap"
    other.write_bytes(
        gzip.compress(b'{"format": "bulkauth.dns-snapshot/2", "bulkauth": "9.9"}\n{"end": 0}\n')
    )
    for path, message in [
        (cut, b"cut off"),
        (other, b"this bulkauth reads bulkauth.dns-snapshot/1"),
        (DATA / "domains.txt", b"not a bulkauth DNS snapshot"),
        (tmp_path / "absent.snap", b"No such file"),
    ]:
        proc = bulkauth("domains", "data/domains.txt", "--replay-dns", str(path), check=False)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert proc.stdout == b"" and b"Traceback" not in proc.stderr
    both = bulkauth(
        "domains", "data/domains.txt", "--replay-dns", str(snap), "--zones", "data/zones",
        check=False,
    )  # fmt: skip
    assert both.returncode == 2 and b"answers only from its snapshot" in both.stderr


def test_a_resumed_recording_keeps_the_answers_of_both_parts(tmp_path: Path) -> None:
    domains = tmp_path / "domains.txt"
    text = (DATA / "domains.txt").read_text()
    domains.write_text("".join(text.splitlines(True)[:20]))
    out, snap = tmp_path / "out.ndjson", tmp_path / "dns.snap"
    common = ["--zones", "data/zones", "--no-progress", "-o", str(out), "--record-dns", str(snap)]
    bulkauth("domains", str(domains), *common)  # as if the run had stopped after 20 lines
    first = snapshot_lines(snap)[1:-1]
    domains.write_text(text)
    bulkauth("domains", str(domains), *common, "--resume")
    both = snapshot_lines(snap)[1:-1]
    assert both[: len(first)] == first and len(both) > len(first)
    whole = bulkauth("domains", str(domains), "--zones", "data/zones", "--no-progress")
    assert out.read_bytes() == whole.stdout
    replay = bulkauth("domains", str(domains), "--replay-dns", str(snap), "--no-progress")
    assert replay.stdout == whole.stdout


def test_a_killed_recording_resumes_and_replays_to_the_same_bytes(tmp_path: Path) -> None:
    """SIGKILL to the run and its worker processes at once: their parts stay (a torn last line
    at worst), --resume joins them with its own, and nothing a written record used is missing."""
    listing, zones = write_world(tmp_path, 1200, dkim_every=50, lean=True)
    out, snap = tmp_path / "out.ndjson", tmp_path / "dns.snap"
    base = ["domains", str(listing), "--zones", str(zones), "--no-progress", "--workers", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkauth", *base, "-o", str(out), "--record-dns", str(snap)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    t0 = time.monotonic()
    while not out.exists() or out.read_bytes().count(b"\n") < 300:
        assert proc.poll() is None and time.monotonic() - t0 < 120
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the workers too: nothing gets to close its part
    proc.wait(timeout=30)
    assert not snap.exists() and list(parts_dir(snap).glob("*.ndjson"))
    bulkauth(*base, "-o", str(out), "--resume", "--record-dns", str(snap))
    assert not parts_dir(snap).exists()
    clean = bulkauth(*base)
    assert out.read_bytes() == clean.stdout
    replay = bulkauth(*base[:2], "--replay-dns", str(snap), "--no-progress", "--workers", "2")
    assert replay.stdout == clean.stdout


def test_a_replay_opens_no_socket(tmp_path: Path) -> None:
    """In process, with an audit hook that sees every socket made: the live run makes some
    (so the hook works), the replay none."""
    from bulkauth.pipeline.config import RunConfig
    from bulkauth.pipeline.domains import run_domains
    from bulkauth.pipeline.inputs import load_inputs

    made: list[int] = []

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.__new__" and args[1] in (socket.AF_INET, socket.AF_INET6):
            made.append(args[1])

    sys.addaudithook(hook)
    snap = tmp_path / "dns.snap"
    with serving(DATA / "zones") as server:
        live = RunConfig(nameservers=[server.nameserver], record_dns=str(snap), workers=1)
        live.output, live.progress = str(tmp_path / "live.ndjson"), False
        load_inputs(live, "domains", {})
        made.clear()
        run_domains([str(DATA / "domains.txt")], live)
    assert made, "the audit hook sees the live run's sockets"
    made.clear()
    replay = RunConfig(replay_dns=str(snap), workers=1, output=str(tmp_path / "replay.ndjson"))
    replay.progress = False
    load_inputs(replay, "domains", {})
    run_domains([str(DATA / "domains.txt")], replay)
    assert made == []
    assert (tmp_path / "replay.ndjson").read_bytes() == (tmp_path / "live.ndjson").read_bytes()


@pytest.fixture
def psl_world(tmp_path: Path) -> Path:
    """The packaged list with ``good1.example`` made a public suffix (a hosting suffix)."""
    text = psl.text().replace(
        "// ===END PRIVATE DOMAINS===", "good1.example\n// ===END PRIVATE DOMAINS==="
    )
    path = tmp_path / "my.psl"
    path.write_text(text)
    return path


def test_the_psl_is_an_input(psl_world: Path, tmp_path: Path) -> None:
    def org_of(out: bytes, name: str) -> str:
        return str(next(r for r in records(out) if r["input"] == name)["dmarc"]["org_domain"])

    zones = ["--zones", "data/zones", "--no-progress"]
    default = bulkauth("domains", "data/domains.txt", *zones)
    assert org_of(default.stdout, "sub.good1.example") == "good1.example"
    assert f"psl: {psl.identity().label()} (packaged)".encode() in default.stderr
    snap, store = tmp_path / "dns.snap", tmp_path / "runs.duckdb"
    mine = bulkauth(
        "domains", "data/domains.txt", *zones, "--psl", str(psl_world),
        "--record-dns", str(snap), "--store", str(store),
    )  # fmt: skip
    assert org_of(mine.stdout, "sub.good1.example") == "sub.good1.example"
    identity = psl.parse(psl_world.read_bytes(), str(psl_world))[1]
    assert f"psl: {identity.label()} ({psl_world})".encode() in mine.stderr
    assert snapshot_lines(snap)[0]["psl"]["sha256"] == identity.sha256
    import duckdb

    with duckdb.connect(str(store), read_only=True) as con:
        row = con.execute("SELECT psl_version FROM runs").fetchone()
    assert row == (identity.label(),)
    # the replay finds the same organisational domains: the snapshot holds the list
    replay = bulkauth("domains", "data/domains.txt", "--replay-dns", str(snap), "--no-progress")
    assert replay.stdout == mine.stdout
    packaged = tmp_path / "packaged.psl"
    packaged.write_text(psl.text())
    other = bulkauth(
        "domains", "data/domains.txt", "--replay-dns", str(snap), "--psl", str(packaged),
        check=False,
    )  # fmt: skip
    assert other.returncode == 2 and b"not the list the recorded run used" in other.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["domains", "data/domains.txt"],
        ["spf", "192.0.2.1", "a@b.example"],
        ["messages", "data/domains.txt"],
    ],
)
def test_a_file_that_is_not_a_psl_is_exit_2(command: list[str], tmp_path: Path) -> None:
    for junk, message in [
        (DATA / "domains.txt", b"not a Public Suffix List"),
        (tmp_path / "absent.dat", b"No such file"),
    ]:
        proc = bulkauth(*command, "--zones", "data/zones", "--psl", str(junk), check=False)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert proc.stdout == b"" and b"Traceback" not in proc.stderr
