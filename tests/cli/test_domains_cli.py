"""`bulkauth domains` end to end, as users run it: a real process, real files, real sockets."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from bulkauth.pipeline.sources import read_domain_list
from bulkauth.schema import SCHEMAS
from tests.dnsserver import serving
from tests.paths import ROOT

DATA = ROOT / "data"


def bulkauth(
    *args: str, stdin: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bulkauth", *args],
        input=stdin,
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stderr.decode()
    return proc


def records(out: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in out.splitlines()]


@pytest.fixture(scope="module")
def zone_run() -> list[dict[str, Any]]:
    proc = bulkauth("domains", "data/domains.txt", "--zones", "data/zones", "--no-progress")
    assert b"records in" in proc.stderr  # the summary goes to stderr, never stdout
    return records(proc.stdout)


def test_one_record_per_item_in_input_order(zone_run: list[dict[str, Any]]) -> None:
    items = list(read_domain_list([str(DATA / "domains.txt")]))
    assert len(zone_run) == len(items) >= 50
    assert [(r["line"], r["input"]) for r in zone_run] == [(i.line, i.text) for i in items]


def test_every_record_matches_the_schema(zone_run: list[dict[str, Any]]) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMAS["domains"])
    for rec in zone_run:
        errors = sorted(validator.iter_errors(rec), key=str)
        assert not errors, (rec.get("input"), errors[0].message if errors else "")


def by_input(run: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["input"]: r for r in run}


def test_sample_verdicts(zone_run: list[dict[str, Any]]) -> None:
    r = by_input(zone_run)

    def codes(name: str, section: str) -> set[str]:
        return {p["code"] for p in r[name][section]["problems"]}

    assert r["good1.example"]["spf"]["state"] == "valid"
    assert r["good1.example"]["dmarc"]["policy"] == "reject"
    assert r["sub.good1.example"]["dmarc"]["inherited"] is True
    assert r["bücher.example"]["domain"] == "xn--bcher-kva.example"
    assert r["twospf.example"]["spf"]["state"] == "invalid"
    assert "spf.multiple_records" in codes("twospf.example", "spf")
    assert "spf.too_many_lookups" in codes("toomany.example", "spf")
    assert r["toomany.example"]["spf"]["lookups"] > 10
    assert r["nospf.example"]["spf"]["state"] == "missing"
    assert r["nodmarc.example"]["dmarc"]["state"] == "missing"
    assert r["dmarcbad.example"]["dmarc"]["state"] == "invalid"
    assert "spf.plus_all" in codes("plusall.example", "spf")
    assert r["plusall.example"]["spf"]["state"] == "valid"  # a warning never changes the state
    assert r["nullmx.example"]["mx"]["null_mx"] is True
    assert "mx.address_literal" in codes("mxip.example", "mx")
    nx = r["nxdomain.example"]
    assert nx["exists"] is False and {nx[s]["state"] for s in ("spf", "dmarc", "mx")} == {"missing"}
    assert r["GOOD1.EXAMPLE."]["domain"] == "good1.example"


def test_garbage_lines_get_invalid_input_records(zone_run: list[dict[str, Any]]) -> None:
    bad = [r for r in zone_run if r["status"] != "ok"]
    assert {r["error"]["code"] for r in bad} >= {
        "input.url",
        "input.email",
        "input.ip_literal",
        "input.bad_label",
        "input.single_label",
        "name.label_too_long",
        "name.empty_label",
    }


def without_type99(run: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The zone run as c-ares sees it: c-ares cannot ask for the SPF RR type (99) at all."""
    out: list[dict[str, Any]] = orjson.loads(orjson.dumps(run))
    for rec in out:
        if rec.get("status") == "ok":
            spf = rec["spf"]
            spf["problems"] = [p for p in spf["problems"] if p["code"] != "spf.rr_type_99"]
            warnings = rec["posture"]["warnings"]
            rec["posture"]["warnings"] = [w for w in warnings if w != "spf.rr_type_99"]
    return out


@pytest.mark.parametrize("backend", ["udp", "aiodns"])
def test_same_records_from_a_real_dns_server(zone_run: list[dict[str, Any]], backend: str) -> None:
    """The zone-file backend and a DNS server on loopback serving the same zones agree.

    Named difference: through aiodns the deprecated SPF RR type cannot be queried, so
    spf99.example's `spf.rr_type_99` warning is only seen by the other backends.
    """
    with serving(DATA / "zones") as server:
        proc = bulkauth(
            "domains",
            "data/domains.txt",
            "-n",
            server.nameserver,
            "--backend",
            backend,
            "--no-progress",
        )
    expected = without_type99(zone_run) if backend == "aiodns" else zone_run
    assert records(proc.stdout) == expected
    if backend == "aiodns":
        assert expected != zone_run  # the named difference is real, not vacuous


def test_stdin_and_garbage_bytes() -> None:
    proc = bulkauth(
        "domains",
        "-",
        "--zones",
        "data/zones",
        "--no-progress",
        stdin=b"good1.example\n\xff\xfe\x00junk\n\x00\n" + b"a" * 10_000 + b"\n# c\n",
    )
    out = records(proc.stdout)
    assert [r["status"] for r in out] == ["ok", "invalid_input", "invalid_input", "invalid_input"]
    assert out[0]["source"] == "<stdin>"


def test_dns_failure_is_indeterminate_never_missing() -> None:
    with serving(DATA / "zones") as server:
        server.fault("servfail", name="*good1.example")
        proc = bulkauth(
            "domains",
            "-",
            "-n",
            server.nameserver,
            "--no-progress",
            "--retries",
            "1",
            "--timeout",
            "1",
            stdin=b"good1.example\n",
        )
    (rec,) = records(proc.stdout)
    for section in ("spf", "dmarc", "mx"):
        assert rec[section]["state"] == "indeterminate", section
    assert rec["mx"]["dns_failure"]["rcode"] == "SERVFAIL"


def test_usage_errors_say_what_to_do(tmp_path: Path) -> None:
    proc = bulkauth("domains", "data/domains.txt", "--resume", check=False)
    assert proc.returncode == 2 and b"--output" in proc.stderr
    proc = bulkauth("domains", str(tmp_path / "nope.txt"), "--zones", "data/zones", check=False)
    assert proc.returncode == 2 and b"nope.txt" in proc.stderr and b"Traceback" not in proc.stderr
    proc = bulkauth("domains", "data/domains.txt", "--zones", str(tmp_path), check=False)
    assert proc.returncode == 2 and b"no zone files" in proc.stderr


def test_resume_continues_without_duplicates_or_gaps(
    tmp_path: Path, zone_run: list[dict[str, Any]]
) -> None:
    out = tmp_path / "out.ndjson"
    full = b"".join(orjson.dumps(r) + b"\n" for r in zone_run)
    cut = full.index(b"\n", len(full) // 2) + 1
    out.write_bytes(full[:cut] + full[cut : cut + 40])  # a torn line, as after SIGKILL mid-write
    bulkauth(
        "domains",
        "data/domains.txt",
        "--zones",
        "data/zones",
        "--no-progress",
        "-o",
        str(out),
        "--resume",
    )
    assert records(out.read_bytes()) == zone_run


def test_schema_command() -> None:
    schema = orjson.loads(bulkauth("schema", "domains").stdout)
    assert schema["$id"] == "bulkauth.domain/1"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_progress_bar_on_stderr_and_records_alone_on_stdout() -> None:
    bar = bulkauth("domains", "data/domains.txt", "--zones", "data/zones", "--progress")
    quiet = bulkauth("domains", "data/domains.txt", "--zones", "data/zones", "--no-progress")
    assert b"checking" in bar.stderr and b"checking" not in quiet.stderr
    assert bar.stdout == quiet.stdout  # stdout carries the NDJSON only
    for proc in (bar, quiet):
        assert b"records in" in proc.stderr and b"dns (zones)" in proc.stderr


def _queries(stderr: bytes) -> int:
    m = re.search(rb"([\d,]+) queries sent", stderr)
    assert m is not None, stderr
    return int(m.group(1).replace(b",", b""))


def test_sections_audits_only_what_is_asked() -> None:
    args = ("domains", "data/domains.txt", "--zones", "data/zones", "--no-progress")
    full = bulkauth(*args)
    scoped = bulkauth(*args, "--sections", "spf,DMARC,mx")
    core = bulkauth(*args, "--sections", "mx,dkim,dmarc,spf")
    validator = jsonschema.Draft202012Validator(SCHEMAS["domains"])
    for whole, part, four in zip(
        records(full.stdout), records(scoped.stdout), records(core.stdout), strict=True
    ):
        assert not list(validator.iter_errors(part)), part
        if whole["status"] != "ok":
            assert part == whole
            continue
        for s in ("spf", "dmarc", "mx"):
            assert part[s] == whole[s]
        assert all(part[s] is None for s in ("dkim", "mta_sts", "tls_rpt", "bimi"))
        assert part["posture"] is None and part["exists"] == whole["exists"]
        # spf, dmarc, dkim and mx decide the posture: with them it is the full run's
        assert four["posture"] == whole["posture"] and four["bimi"] is None
    assert _queries(scoped.stderr) < _queries(core.stderr) < _queries(full.stderr)
    bad = bulkauth(*args, "--sections", "spf,dkmi", check=False)
    assert bad.returncode == 2 and b"dkmi" in bad.stderr
