"""`bulkauth spf`: one check, a file of checks, over zone files and a real DNS server."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import jsonschema
import orjson

from bulkauth.schema import SCHEMAS
from tests.cli.test_domains_cli import DATA, bulkauth, records
from tests.dnsserver import serving


def test_single_check_prints_result_explanation_and_trace() -> None:
    out = bulkauth(
        "spf", "192.0.2.98", "user@macros.example", "--zones", "data/zones"
    ).stdout.decode()
    assert out.startswith("fail (-all)")
    assert "explanation: 192.0.2.98 is not allowed to send mail for macros.example" in out
    assert "exists:%{i}._spf.%{d} -> no match" in out


def test_json_record_over_a_real_dns_server() -> None:
    with serving(DATA / "zones") as server:
        rec = orjson.loads(
            bulkauth(
                "spf", "198.51.100.7", "x@good1.example", "-n", server.nameserver, "--json"
            ).stdout
        )
    assert rec["result"] == "pass" and rec["mechanism"] == "include:_spf.mailcloud.example"
    assert rec["lookups"] == 2
    jsonschema.validate(rec, SCHEMAS["spf"])


def test_input_file_gives_one_record_per_line_also_for_bad_lines() -> None:
    lines = b"198.51.100.7 a@good1.example\nbad line here extra\n1.2.3.4 <> mx1.toomany.example\n300.1.1.1 a@b.example\n"
    recs = records(bulkauth("spf", "--input", "-", "--zones", "data/zones", stdin=lines).stdout)
    assert [r.get("result", r["status"]) for r in recs] == [
        "pass",
        "invalid_input",
        "none",
        "invalid_input",
    ]
    assert recs[2]["domain"] == "mx1.toomany.example"
    validator = jsonschema.Draft202012Validator(SCHEMAS["spf"])
    for r in recs:
        assert not list(validator.iter_errors(r)), r


def test_too_many_lookups_is_permerror() -> None:
    rec = orjson.loads(
        bulkauth(
            "spf", "192.0.2.200", "a@toomany.example", "--zones", "data/zones", "--json"
        ).stdout
    )
    assert rec["result"] == "permerror" and rec["problem"]["code"] == "spf.too_many_lookups"


def test_usage_error() -> None:
    proc = bulkauth("spf", "not-an-ip", "a@b.example", "--zones", "data/zones", check=False)
    assert proc.returncode == 2 and b"not an IP address" in proc.stderr


def test_input_records_carry_a_trace_only_when_asked() -> None:
    line = b"198.51.100.7 a@good1.example\n"
    plain = records(bulkauth("spf", "--input", "-", "--zones", "data/zones", stdin=line).stdout)
    traced = records(
        bulkauth("spf", "--input", "-", "--trace", "--zones", "data/zones", stdin=line).stdout
    )
    assert "trace" not in plain[0]
    assert traced[0]["trace"][0].startswith("good1.example: v=spf1")
    assert traced[0]["trace"][-1] == "result: pass"
    assert {k: v for k, v in traced[0].items() if k != "trace"} == plain[0]
    for r in (plain[0], traced[0]):
        jsonschema.validate(r, SCHEMAS["spf"])


def test_input_from_a_pipe_and_not_from_a_folder(tmp_path: Path) -> None:
    fifo = tmp_path / "checks.fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as f:  # blocks until bulkauth opens the pipe for reading
            f.write(b"198.51.100.7 a@good1.example\n")

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        recs = records(bulkauth("spf", "--input", str(fifo), "--zones", "data/zones").stdout)
    finally:
        writer.join(timeout=10)
    assert [r["result"] for r in recs] == ["pass"]
    proc = bulkauth("spf", "--input", str(tmp_path), "--zones", "data/zones", check=False)
    assert proc.returncode == 2 and b"is a folder" in proc.stderr
