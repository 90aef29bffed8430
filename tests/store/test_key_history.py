"""The DKIM key history, end to end through the CLI, in a synthetic rotation world.

Messages were signed in November 2023 with key A under rot.example's selector `sel`. Today
the selector publishes key B (rotated), or nothing (removed). Live verification fails them;
with a history that saw A (a domains run of the time, loaded from its NDJSON, or an imported
key archive) the genuine ones pass as `history`, and the tampered one still fails. The same
history, built only today, still verifies them but says the key was seen after the message.
"""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import orjson
import pytest

from bulkauth.schema import SCHEMAS
from tests.msgkit import BASE_MSG, RECEIVED, rsa_key, sign
from tests.store.test_cli_store import run

SIGNED_AT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC).timestamp()
THEN = datetime(2023, 11, 1, tzinfo=UTC).timestamp()
KEY_A, KEY_B = rsa_key(2048, 0), rsa_key(2048, 1)


def zone(key_txt: str | None) -> str:
    chunks = (
        " ".join(f'"{key_txt[i : i + 200]}"' for i in range(0, len(key_txt), 200))
        if key_txt
        else ""
    )
    lines = [
        "$ORIGIN rot.example.",
        "$TTL 300",
        "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300",
        "@ IN NS ns1",
        "ns1 IN A 192.0.2.53",
        '@ IN TXT "v=spf1 ip4:192.0.2.99 -all"',
        '_dmarc IN TXT "v=DMARC1; p=reject"',
        "@ IN MX 10 mx",
        "mx IN A 192.0.2.10",
    ]
    if key_txt:
        lines.append(f"sel._domainkey IN TXT {chunks}")
    return "\n".join(lines) + "\n"


def message(n: int, tampered: bool = False) -> bytes:
    msg = BASE_MSG.replace(b"alice@example.com", b"alice@rot.example").replace(
        b"<1@example.com>", f"<{n}@rot.example>".encode()
    )
    signed = RECEIVED.replace(b"example.com", b"rot.example") + sign(
        msg, "rot.example", "sel", KEY_A, at=SIGNED_AT
    )
    return signed.replace(b"see you tomorrow", b"see you never") if tampered else signed


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("rotation")
    paths: dict[str, Path] = {}
    for name, key in (("then", KEY_A.txt), ("now", KEY_B.txt), ("gone", None)):
        d = root / f"zones-{name}"
        d.mkdir()
        (d / "rot.example.zone").write_text(zone(key))
        paths[name] = d
    mail = root / "mail"
    mail.mkdir()
    for n in range(3):
        (mail / f"{n}.eml").write_bytes(message(n))
    (mail / "3-tampered.eml").write_bytes(message(3, tampered=True))
    paths["mail"] = mail
    listing = root / "domains.txt"
    listing.write_text("rot.example\n")
    paths["list"] = listing
    # the history a domains run of November 2023 built: its NDJSON, loaded into a store
    then = root / "then.ndjson"
    run("domains", str(listing), "--zones", str(paths["then"]), "--selectors", "sel",
        "--no-progress", "-o", str(then))  # fmt: skip
    os.utime(then, (THEN, THEN))
    store = root / "history.duckdb"
    run("load", str(then), "--store", str(store))
    paths["store"] = store
    return paths


def verify(world: dict[str, Path], zones: str, *extra: str) -> tuple[list[dict[str, Any]], str]:
    proc = run("messages", str(world["mail"]), "--zones", str(world[zones]), "--workers", "1",
               "--no-progress", *extra)  # fmt: skip
    recs = [orjson.loads(x) for x in proc.stdout.splitlines()]
    for r in recs:
        jsonschema.validate(r, SCHEMAS["messages"])
    return sorted(recs, key=lambda r: r["path"]), proc.stderr.decode()


def sig(rec: dict[str, Any]) -> dict[str, Any]:
    (s,) = rec["dkim"]["signatures"]
    assert isinstance(s, dict)
    return s


def test_the_store_keeps_the_key_a_run_saw_with_its_time(world: dict[str, Path]) -> None:
    (row,) = (
        duckdb.connect(str(world["store"]), read_only=True)
        .execute(
            "SELECT domain, selector, key_hash, record, epoch(first_seen), epoch(last_seen), source"
            " FROM key_history"
        )
        .fetchall()
    )
    assert row[:2] == ("rot.example", "sel") and row[3] == KEY_A.txt
    assert row[4] == row[5] == THEN and row[6] == "run"


@pytest.mark.parametrize("zones", ["now", "gone"])
def test_live_only_fails_and_the_history_saves_the_genuine_messages(
    world: dict[str, Path], zones: str
) -> None:
    live, _ = verify(world, zones)
    want_code = "dkim.signature_mismatch" if zones == "now" else "dkim.key_not_found"
    assert [sig(r)["code"] for r in live] == [want_code] * 3 + [
        "dkim.body_hash_mismatch" if zones == "now" else want_code
    ]
    recs, err = verify(world, zones, "--key-history", str(world["store"]))
    genuine, tampered = recs[:3], recs[3]
    for r in genuine:
        s = sig(r)
        assert (s["result"], s["key_source"]) == ("pass", "history"), s
        assert s["key"]["record"] == KEY_A.txt and s["key"]["first_seen"] == "2023-11-01T00:00:00Z"
        assert s["key"]["seen_in"].startswith("run load-")
        assert "dkim.history_key_seen_later" not in [p["code"] for p in s["problems"]]
        assert [p["code"] for p in s["problems"] if p["code"] == "dkim.live_key_failed"]
        assert r["dkim"]["pass_source"] == "history" and r["dkim"]["history_passes"] == 1
        # DMARC does not count it by default: SPF fails too, so p=reject applies
        assert r["dmarc"]["result"] == "fail"
    # the tampered one fails with the history's key too (and says how), or already fails
    # on its body hash with today's key, which no other key changes
    t = sig(tampered)
    assert t["result"] != "pass" and t["key_source"] != "history"
    if zones == "gone":
        (why,) = [p["message"] for p in t["problems"] if p["code"] == "dkim.history_key_failed"]
        assert "dkim.body_hash_mismatch" in why
    else:
        assert t["code"] == "dkim.body_hash_mismatch"
    assert "pass (history) 3" in err
    counted, _ = verify(world, zones, "--key-history", str(world["store"]), "--dmarc-with-history")
    assert [r["dmarc"]["result"] for r in counted] == ["pass", "pass", "pass", "fail"]


def test_an_imported_archive_saves_them_and_bad_rows_are_reported(
    world: dict[str, Path], tmp_path: Path
) -> None:
    archive = tmp_path / "keys.csv"
    with archive.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["domain", "selector", "value", "first_seen", "last_seen"])
        w.writerow(["rot.example", "sel", KEY_A.txt.split("p=", 1)[1], "2023-06-01", "2024-01-31"])
        w.writerow(
            [
                "rot.example",
                "old",
                "v=DKIM1; k=rsa; p=MIIBIjAN!!notbase64",
                "2023-01-01",
                "2023-02-01",
            ]
        )
        w.writerow(["not a domain", "sel", KEY_B.txt, "2023-01-01", "2023-02-01"])
        w.writerow(["rot.example", "sel", KEY_B.txt, "2025-01-01", "2024-01-01"])
        w.writerow(["rot.example", "sel", KEY_B.txt, "yesterday", "2024-01-01"])
    store = tmp_path / "imported.duckdb"
    proc = run("keys", "import", str(archive), "--store", str(store), check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "1 keys imported, 4 rows skipped" in err
    for line in (3, 4, 5, 6):
        assert f"line {line}:" in err, err
    assert "base64" in err and "after last_seen" in err
    # again: replaced, not doubled
    run("keys", "import", str(archive), "--store", str(store), check=False)
    listed = [
        orjson.loads(x) for x in run("keys", "list", "--store", str(store)).stdout.splitlines()
    ]
    assert len(listed) == 1 and listed[0]["source"] == "import"
    assert listed[0]["first_seen"] == "2023-06-01T00:00:00Z" and listed[0]["bits"] == 2048
    recs, _ = verify(world, "gone", "--key-history", str(store))
    assert [sig(r)["result"] for r in recs] == ["pass", "pass", "pass", "permerror"]
    assert sig(recs[0])["key"]["seen_in"] == f"import {archive.resolve()}"


def test_a_key_seen_only_after_the_message_says_so(world: dict[str, Path], tmp_path: Path) -> None:
    store = tmp_path / "today.duckdb"
    run("domains", str(world["list"]), "--zones", str(world["then"]), "--selectors", "sel",
        "--no-progress", "-o", os.devnull, "--store", str(store))  # fmt: skip
    recs, _ = verify(world, "gone", "--key-history", str(store))
    s = sig(recs[0])
    assert s["result"] == "pass" and s["key_source"] == "history"
    assert "dkim.history_key_seen_later" in [p["code"] for p in s["problems"]]


def test_sightings_widen_a_span_and_a_new_value_opens_a_row(
    world: dict[str, Path], tmp_path: Path
) -> None:
    """A (2023, loaded), A again today (the span widens), B today (a new row), and the
    messages run verified with B from DNS: it saw B too, which changes nothing more."""
    store = tmp_path / "s.duckdb"
    run("load", str(world["store"].parent / "then.ndjson"), "--store", str(store))
    for zones in ("then", "now"):
        run("domains", str(world["list"]), "--zones", str(world[zones]), "--selectors", "sel",
            "--no-progress", "-o", os.devnull, "--store", str(store))  # fmt: skip
    run("messages", str(world["mail"]), "--zones", str(world["now"]), "--workers", "1",
        "--no-progress", "-o", os.devnull, "--store", str(store))  # fmt: skip
    rows = [
        orjson.loads(x)
        for x in run("keys", "list", "rot.example", "--store", str(store)).stdout.splitlines()
    ]
    assert [(r["record"] == KEY_A.txt, r["source"]) for r in rows] == [
        (True, "run"),
        (False, "run"),
    ]
    a, b = rows
    assert a["first_seen"] == "2023-11-01T00:00:00Z" and a["last_seen"] > "2026"
    assert a["first_run"] != a["last_run"] and b["first_seen"] > "2026"
    assert b["record"] == KEY_B.txt and b["last_run"].startswith("messages-")
    assert run("keys", "list", "other.example", "--store", str(store)).stdout == b""


def test_a_history_that_is_not_a_store_is_refused(world: dict[str, Path], tmp_path: Path) -> None:
    bogus = tmp_path / "x.duckdb"
    bogus.write_text("not a database")
    proc = run("messages", str(world["mail"]), "--zones", str(world["now"]), "--no-progress",
               "--key-history", str(bogus), check=False)  # fmt: skip
    assert proc.returncode == 2 and b"--key-history" in proc.stderr
    proc = run("messages", str(world["mail"]), "--zones", str(world["now"]), "--no-progress",
               "--dmarc-with-history", check=False)  # fmt: skip
    assert proc.returncode == 2 and b"needs --key-history" in proc.stderr


def test_the_bench_mailbox_with_its_keys_rotated(tmp_path: Path) -> None:
    """bench/mailgen's rotation world: a history built by a `messages --store` run over the
    original zones saves every signature whose key was replaced or removed, and nothing the
    generator made to fail (tampered, signed with a key never published)."""
    from bench.mailgen import generate, rotate_zones

    generate(tmp_path, messages=40, seed=5, authors=6)
    zones, rotated, store = tmp_path / "zones", tmp_path / "rotated", tmp_path / "h.duckdb"
    plan = rotate_zones(zones, rotated, seed=2)
    assert plan == rotate_zones(zones, tmp_path / "again", seed=2)
    assert set(plan.values()) == {"kept", "replaced", "removed"}
    changed = {k.split()[1].removesuffix(".zone") for k, v in plan.items() if v != "kept"}
    mbox = str(tmp_path / "mail.mbox")
    common = ("--workers", "1", "--no-progress", "--as-of", "now")
    run("messages", mbox, "--zones", str(zones), "--store", str(store), *common)
    truth = [orjson.loads(x) for x in (tmp_path / "truth.jsonl").read_bytes().splitlines()]

    def outcomes(*extra: str) -> list[tuple[str, str, str]]:
        out = run("messages", mbox, "--zones", str(rotated), *common, *extra).stdout
        got = []
        for line, t in zip(out.splitlines(), truth, strict=True):
            sigs = orjson.loads(line)["dkim"]["signatures"]
            for s, want in zip(sigs, t["signatures"], strict=True):
                how = s["key_source"] if s["result"] == "pass" else "failed"
                got.append((s["d"], want["expect"], how))
        return got

    live, saved = outcomes(), outcomes("--key-history", str(store))
    assert all(how == "failed" for d, _, how in live if d in changed)
    assert any(d in changed and want == "pass" for d, want, _ in live)
    for (d, want, before), (_, _, after) in zip(live, saved, strict=True):
        if want != "pass":
            assert before == after == "failed"
        elif d in changed:
            assert after == "history"
        else:
            assert before == after == "dns"
