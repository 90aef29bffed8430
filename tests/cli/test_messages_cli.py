"""`bulkauth messages` end to end, as users run it: a real process, real files, real sockets."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from bench.mailgen import generate
from bulkauth.schema import SCHEMAS
from tests.dnsserver import DnsServer, serving
from tests.paths import ROOT


def bulkauth(
    *args: str, stdin: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bulkauth", "messages", *args],
        input=stdin,
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


@pytest.fixture(scope="module")
def mail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mail")
    generate(out, messages=40, seed=3, authors=5)
    return out


@pytest.fixture(scope="module")
def live_run(mail: Path) -> list[dict[str, Any]]:
    with serving(mail / "zones") as server:
        proc = bulkauth(
            str(mail / "mail.mbox"), "-n", server.nameserver, "--no-progress", "--workers", "2"
        )
    assert b"records in" in proc.stderr  # the summary goes to stderr, never stdout
    return records(proc.stdout)


def test_one_record_per_message_with_the_expected_verdicts(
    mail: Path, live_run: list[dict[str, Any]]
) -> None:
    truth = [json.loads(line) for line in (mail / "truth.jsonl").read_text().splitlines()]
    assert [r["index"] for r in live_run] == list(range(1, 41))
    assert all(r["status"] == "ok" and r["kind"] == "mbox" for r in live_run)
    for t, r in zip(truth, live_run, strict=True):
        got = [
            s["result"] if s["result"] == "pass" else s["code"].split(".", 1)[1]
            for s in r["dkim"]["signatures"]
        ]
        assert got == [s["expect"] for s in t["signatures"]], r["index"]
        assert r["spf"]["result"] == "pass" and r["envelope"]["receiver"] == "mx.receiver.example"
        assert r["history"]["authserv_id"] == "mx.receiver.example"
        arc = t["arc"]
        assert (r["arc"]["result"], r["arc"]["code"], r["arc"]["instances"]) == (
            arc["expect"],
            arc["code"],
            arc["instances"],
        ), r["index"]
    assert {t["arc"]["expect"] for t in truth} == {"none", "pass", "fail"}
    rotated = [
        r
        for r, t in zip(live_run, truth, strict=True)
        if any(s["expect"] == "key_not_found" for s in t["signatures"])
    ]
    assert all(
        "history.dkim_key_rotated" in {d["code"] for d in r["history"]["disagreements"]}
        for r in rotated
    )


def test_dkimpy_stays_available_as_the_arc_reference(
    mail: Path, live_run: list[dict[str, Any]]
) -> None:
    ref = records(
        bulkauth(
            str(mail / "mail.mbox"),
            "--zones",
            str(mail / "zones"),
            "--no-progress",
            "--workers",
            "0",
            "--arc-verifier",
            "dkimpy",
        ).stdout
    )
    truth = [json.loads(line) for line in (mail / "truth.jsonl").read_text().splitlines()]
    assert {r["arc"]["verifier"] for r in ref} == {"dkimpy"}
    for t, ours, theirs in zip(truth, live_run, ref, strict=True):
        if t["arc"]["no_space"]:
            # dkimpy raises IndexError on ARC-Message-Signature:i=1; (no space before i=)
            assert (theirs["arc"]["result"], theirs["arc"]["code"]) == (
                "permerror",
                "arc.verifier_crash",
            )
        else:
            assert theirs["arc"]["result"] == ours["arc"]["result"], t["index"]
        assert theirs["dkim"] == ours["dkim"]
    assert any(t["arc"]["no_space"] for t in truth)


def test_every_record_matches_the_schema(live_run: list[dict[str, Any]]) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMAS["messages"])
    for rec in live_run:
        errors = sorted(validator.iter_errors(rec), key=str)
        assert not errors, (rec["index"], errors[0].message if errors else "")
    assert bulkauth_schema_text() == SCHEMAS["messages"]


def bulkauth_schema_text() -> Any:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "bulkauth", "schema", "messages"],
        capture_output=True,
        env=env,
        check=True,
    )
    return orjson.loads(out.stdout)


def test_in_process_and_pool_give_the_same_records(
    mail: Path, live_run: list[dict[str, Any]]
) -> None:
    inline = records(
        bulkauth(
            str(mail / "mail.mbox"),
            "--zones",
            str(mail / "zones"),
            "--no-progress",
            "--workers",
            "0",
        ).stdout
    )
    assert inline == live_run


def test_every_source_kind_in_one_run(mail: Path, tmp_path: Path) -> None:
    box = (mail / "mail.mbox").read_bytes()
    from bulkauth.pipeline.archives import read_sources

    msgs = [i.data for i in read_sources([str(mail / "mail.mbox")])][:4]
    assert all(m is not None for m in msgs)
    (tmp_path / "box.mbox.gz").write_bytes(
        gzip.compress(box[: box.index(b"\nFrom bounce", 20000) + 1])
    )
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    (md / "cur" / "1.x:2,S").write_bytes(msgs[0] or b"")
    (md / "new" / "2.x").write_bytes(msgs[1] or b"")
    folder = tmp_path / "eml"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.eml").write_bytes(msgs[2] or b"")
    (folder / "junk.eml").write_bytes(b"\x00\x01\x02\xff binary junk")
    (folder / "empty.eml").write_bytes(b"")
    one = tmp_path / "one.eml"
    one.write_bytes(msgs[3] or b"")
    proc = bulkauth(
        str(tmp_path / "box.mbox.gz"),
        str(md),
        str(folder),
        str(one),
        "-",
        "--zones",
        str(mail / "zones"),
        "--no-progress",
        stdin=msgs[0],
    )
    recs = records(proc.stdout)
    kinds = [
        (Path(r["path"]).name if r["source"] != "<stdin>" else "-", r["kind"], r["status"])
        for r in recs
    ]
    assert kinds[0] == ("box.mbox.gz", "mbox", "ok")
    # sources in the order given; in a folder its own files (sorted) before its subfolders
    assert kinds[-7:] == [
        ("1.x:2,S", "maildir", "ok"),
        ("2.x", "maildir", "ok"),
        ("empty.eml", "eml", "invalid_input"),
        ("junk.eml", "eml", "invalid_input"),
        ("a.eml", "eml", "ok"),
        ("one.eml", "eml", "ok"),
        ("-", "eml", "ok"),
    ]
    by_name = {Path(r["path"]).name: r for r in recs if r["kind"] != "mbox"}
    assert by_name["empty.eml"]["error"]["code"] == "input.empty"
    assert by_name["junk.eml"]["error"]["code"] == "input.not_a_message"
    assert by_name["a.eml"]["dkim"]["result"] in ("pass", "fail", "permerror")
    assert recs[-1]["source"] == "<stdin>" and recs[-1]["status"] == "ok"
    assert [r["kind"] for r in recs].count("maildir") == 2
    validator = jsonschema.Draft202012Validator(SCHEMAS["messages"])
    assert all(not list(validator.iter_errors(r)) for r in recs)


def test_options_are_checked(mail: Path) -> None:
    bad = bulkauth(str(mail / "mail.mbox"), "--as-of", "yesterday", check=False)
    assert bad.returncode == 2 and b"--as-of" in bad.stderr
    missing = bulkauth("/nonexistent/box.mbox", check=False)
    assert missing.returncode == 2 and b"no such file" in missing.stderr
    fixed = records(
        bulkauth(
            str(mail / "mail.mbox"),
            "--zones",
            str(mail / "zones"),
            "--no-progress",
            "--workers",
            "0",
            "--as-of",
            "2020-01-01T00:00:00Z",
        ).stdout
    )
    assert {r["as_of"]["source"] for r in fixed} == {"given"}
    # signed in 2023, judged in 2020: every signature is from the future
    assert {s["code"] for r in fixed for s in r["dkim"]["signatures"]} == {"dkim.signed_in_future"}
    # ARC judges t= at the same clock
    assert {r["arc"]["code"] for r in fixed if r["arc"]["result"] != "none"} <= {
        "arc.signed_in_future",
        "arc.chain_terminated",
    }
    assert any(r["arc"]["code"] == "arc.signed_in_future" for r in fixed)
    wrong = bulkauth(str(mail / "mail.mbox"), "--arc-verifier", "openarc", check=False)
    assert wrong.returncode == 2 and b"--arc-verifier" in wrong.stderr


def test_resume_continues_a_cut_run(mail: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.ndjson"
    args = (
        str(mail / "mail.mbox"),
        "--zones",
        str(mail / "zones"),
        "--no-progress",
        "--workers",
        "0",
        "-o",
        str(out),
    )
    bulkauth(*args)
    full = out.read_bytes()
    lines = full.splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:17]) + lines[17][:30])  # a torn last line, as a crash leaves it
    bulkauth(*args, "--resume")
    assert out.read_bytes() == full


def test_ctrl_c_writes_what_is_done_and_exits_130(mail: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.ndjson"
    with DnsServer() as server:
        server.load(mail / "zones")
        server.fault("delay", delay=1.0)  # every answer is slow, one at a time: a long run
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bulkauth",
                "messages",
                str(mail / "mail.mbox"),
                "-n",
                server.nameserver,
                "--no-progress",
                "--workers",
                "2",
                "--concurrency",
                "1",
                "-o",
                str(out),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(3)
        stopped = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - stopped
    assert proc.returncode == 130, err.decode()
    assert b"stopped by SIGINT" in err and b"Traceback" not in err
    assert took < 15  # in-flight messages get a grace period, then the run stops
    done = records(out.read_bytes())  # whole lines only, in order, from the first message
    assert len(done) < 40 and [r["index"] for r in done] == list(range(1, len(done) + 1))


def test_a_killed_worker_is_a_clear_error_and_resume_completes_the_run(tmp_path: Path) -> None:
    """SIGKILL one of the two worker processes mid-run (as the OOM killer would): exit 1 with
    whole lines on disk, and --resume writes exactly what an uninterrupted run writes."""
    generate(tmp_path, messages=1500, seed=9, authors=8)
    args = [str(tmp_path / "mail.mbox"), "--zones", str(tmp_path / "zones"), "--no-progress"]
    whole = tmp_path / "whole.ndjson"
    bulkauth(*args, "--workers", "2", "-o", str(whole))
    out = tmp_path / "out.ndjson"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkauth", "messages", *args, "--workers", "2", "-o", str(out)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.stat().st_size > 0 and len(children.read_text().split()) == 2:
            break
        time.sleep(0.01)
    os.kill(int(children.read_text().split()[1]), signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err.decode()
    assert b"ended unexpectedly" in err and b"--resume" in err
    cut = out.read_bytes()
    assert cut.endswith(b"\n") and len(cut.splitlines()) < 1500
    bulkauth(*args, "--workers", "2", "-o", str(out), "--resume")
    assert out.read_bytes() == whole.read_bytes()
