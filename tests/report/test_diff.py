"""`bulkauth diff`: every kind of change between two real runs (the sample world and its
changed copy), regressions for cron, any input order in bounded memory, store run ids, and
messages runs."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from bulkauth.report import runs as runs_mod
from bulkauth.report.commands import diff_command
from bulkauth.report.diff import diff_domain, diff_pair
from bulkauth.schema import SCHEMAS
from tests.report.conftest import bulkauth, records


@pytest.fixture(scope="module")
def night(sample_run: Path, next_run: Path, runs: Path) -> tuple[dict[str, Any], str]:
    """The diff of tonight and the next night, by key (first of a key listed twice), and the
    summary it printed."""
    out = runs / "night.diff.ndjson"
    proc = bulkauth("diff", str(sample_run), str(next_run), "-o", str(out))
    by_key: dict[str, Any] = {}
    for d in records(out):
        by_key.setdefault(d["key"], d)
    return by_key, proc.stderr.decode()


def test_records_follow_the_schema(night: tuple[dict[str, Any], str]) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMAS["diff"])
    for d in night[0].values():
        validator.validate(d)


def test_a_rotated_key_an_added_key_and_a_key_gone(night: tuple[dict[str, Any], str]) -> None:
    by_key, _ = night
    good1 = by_key["good1.example"]["dkim_keys"]
    (rotated,) = good1["rotated"]
    assert rotated["selector"] == "selector1"
    assert rotated["old"]["key_sha256"] != rotated["new"]["key_sha256"]
    assert rotated["new"]["key_bits"] == 2048
    assert [k["selector"] for k in good1["appeared"]] == ["selector2"]
    gone = by_key["cnamedkim.example"]
    assert [k["selector"] for k in gone["dkim_keys"]["disappeared"]] == ["s1"]
    assert gone["sections"]["dkim"] == {"old": "valid", "new": "missing"}
    assert gone["direction"] == "worse"


def test_domains_added_to_and_removed_from_the_list(night: tuple[dict[str, Any], str]) -> None:
    by_key, summary = night
    assert by_key["newcomer.example"]["change"] == "added"
    assert by_key["newcomer.example"]["new"]["posture"] == "monitoring"
    assert by_key["empty.example"]["change"] == "removed"
    assert by_key["empty.example"]["old"]["posture"] == "unprotected"
    assert re.search(r"^domains: 1 added, \d+ changed, 1 removed$", summary, re.M)


def test_posture_sections_problems_and_record_text(night: tuple[dict[str, Any], str]) -> None:
    by_key, _ = night
    good2 = by_key["good2.example"]
    assert good2["posture"] == {"old": "enforced", "new": "broken"}
    assert good2["sections"] == {"dmarc": {"old": "valid", "new": "invalid"}}
    assert "dmarc.invalid_policy" in {p["code"] for p in good2["problems"]["appeared"]}
    assert "p=quarantin;" in good2["records"]["dmarc"]["new"]
    assert good2["direction"] == "worse"
    monitor = by_key["monitor.example"]
    assert monitor["posture"] == {"old": "monitoring", "new": "enforced"}
    assert [p["code"] for p in monitor["problems"]["resolved"]] == ["dmarc.p_none"]
    assert monitor["direction"] == "better"
    plusall = by_key["plusall.example"]
    assert plusall["records"]["spf"] == {
        "old": ["v=spf1 +all"],
        "new": ["v=spf1 ip4:192.0.2.0/24 -all"],
    }
    assert "spf.plus_all" in {p["code"] for p in plusall["problems"]["resolved"]}
    assert plusall["direction"] == "better"
    assert by_key["nospf.example"]["sections"]["spf"] == {"old": "missing", "new": "valid"}
    assert by_key["mxcname.example"]["records"]["mx"] == {
        "old": ["10 mail.mxcname.example"],
        "new": ["10 mx1.mxcname.example"],
    }


def test_a_term_that_can_never_match(night: tuple[dict[str, Any], str]) -> None:
    d = night[0]["unknownmod.example"]
    assert {p["code"] for p in d["problems"]["appeared"]} == {
        "spf.ip_host_bits",
        "spf.ip_not_public",
    }
    # warnings: the posture stays, but a new warning code is a regression
    assert d["direction"] == "worse" and "posture" not in d


def test_include_tree_changes(night: tuple[dict[str, Any], str]) -> None:
    tree = night[0]["softfail.example"]["spf_tree"]
    assert "include:_spf.mailcloud.example [ok]" in tree["appeared"]
    assert (
        "include:_spf.mailcloud.example > include:_netblocks.mailcloud.example [ok]"
        in tree["appeared"]
    )
    assert tree["lookups"] == {"old": 1, "new": 4}


def test_unchanged_domains_have_no_line(night: tuple[dict[str, Any], str]) -> None:
    assert not {"toomany.example", "nullmx.example", "twospf.example"} & night[0].keys()


def test_the_same_run_twice_is_no_change(sample_run: Path) -> None:
    proc = bulkauth("diff", str(sample_run), str(sample_run), "--fail-on", "regressions")
    assert proc.returncode == 0
    assert proc.stdout == b""
    assert proc.stderr.decode().startswith("domains: no changes")


def test_fail_on_regressions(sample_run: Path, next_run: Path, runs: Path) -> None:
    proc = bulkauth("diff", str(sample_run), str(next_run), "--fail-on", "regressions")
    assert proc.returncode == 1
    assert re.search(rb"\d+ domains got worse \(--fail-on regressions\)", proc.stderr)
    # only an improvement (monitor.example p=none -> p=reject): no failure
    only = [runs / "only-old.ndjson", runs / "only-new.ndjson"]
    for src, dst in zip((sample_run, next_run), only, strict=True):
        dst.write_bytes(
            b"".join(ln for ln in src.read_bytes().splitlines(True) if b'"monitor.example"' in ln)
        )
    better = bulkauth("diff", *map(str, only), "--fail-on", "regressions")
    assert better.returncode == 0
    assert orjson.loads(better.stdout)["direction"] == "better"


def test_any_order_in_bounded_memory(
    sample_run: Path, next_run: Path, runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shuffled inputs, sorted through spill files 2 KiB at a time: the same diff."""
    want = runs / "ordered.diff"
    assert diff_command(str(sample_run), str(next_run), output=str(want), err=io.StringIO()) == 0
    shuffled = []
    for i, src in enumerate((sample_run, next_run)):
        lines = src.read_bytes().splitlines(True)
        random.Random(i).shuffle(lines)
        dst = runs / f"shuffled-{i}.ndjson"
        dst.write_bytes(b"".join(lines))
        shuffled.append(str(dst))
    spills = []
    real_spill = runs_mod._spill

    def counting_spill(chunk: Any, *args: Any) -> Any:
        spills.append(len(chunk))
        return real_spill(chunk, *args)

    monkeypatch.setattr(runs_mod, "CHUNK_BYTES", 2048)
    monkeypatch.setattr(runs_mod, "_spill", counting_spill)
    got = runs / "shuffled.diff"
    tmp = runs / "spill"
    tmp.mkdir()
    assert diff_command(*shuffled, output=str(got), tmpdir=str(tmp), err=io.StringIO()) == 0
    # the two good1.example lines pair by position, which shuffling changes: compare the rest
    assert _without_source(got) == _without_source(want)
    assert len(spills) > 20  # (each chunk a few records: never the whole run in memory)


def _without_source(path: Path) -> list[dict[str, Any]]:
    out = []
    for d in records(path):
        d.pop("old", None), d.pop("new", None)
        out.append(d)
    return sorted(out, key=lambda d: orjson.dumps(d, option=orjson.OPT_SORT_KEYS))


def test_run_ids_in_a_store(sample_run: Path, next_run: Path, runs: Path) -> None:
    store = runs / "diff.duckdb"
    loaded = bulkauth("load", str(sample_run), str(next_run), "--store", str(store))
    ids = re.findall(r"as run (load-[0-9a-f]+)", loaded.stderr.decode())
    assert len(ids) == 2
    from_files = bulkauth("diff", str(sample_run), str(next_run)).stdout
    from_store = bulkauth("diff", *ids, "--store", str(store)).stdout
    mixed = bulkauth("diff", str(sample_run), ids[1], "--store", str(store)).stdout
    assert from_store == from_files == mixed
    missing = bulkauth("diff", ids[0], "no-such-run", "--store", str(store), ok=(2,))
    assert b"no run with id 'no-such-run'" in missing.stderr


def test_messages_runs_verdict_changes(mail_runs: tuple[Path, Path]) -> None:
    before, after = mail_runs
    proc = bulkauth("diff", str(before), str(after), "--fail-on", "regressions")
    diffs = [orjson.loads(ln) for ln in proc.stdout.splitlines()]
    assert diffs and proc.returncode == 1
    validator = jsonschema.Draft202012Validator(SCHEMAS["diff"])
    for d in diffs:
        validator.validate(d)
        assert d["kind"] == "message" and d["change"] == "changed"
        assert d["key"].startswith("id:")
        assert "bulkpost.example/s2024: pass" in d["signatures"]["old"]
        assert "bulkpost.example/s2024: permerror (dkim.key_not_found)" in d["signatures"]["new"]
        assert d["direction"] == "worse"
    assert proc.stderr.decode().startswith("messages: ")
    assert "dkim signature: pass -> permerror (dkim.key_not_found) 9" in proc.stderr.decode()


def test_runs_that_cannot_be_compared(
    sample_run: Path, mail_runs: tuple[Path, Path], runs: Path
) -> None:
    mixed = bulkauth("diff", str(sample_run), str(mail_runs[0]), ok=(2,))
    assert b"is a domains run but" in mixed.stderr
    nothing = bulkauth("diff", str(sample_run), str(runs / "nope.ndjson"), ok=(2,))
    assert b"no such file" in nothing.stderr
    spf = runs / "spf.ndjson"
    spf.write_bytes(b'{"schema": "bulkauth.spf/1"}\n')
    wrong = bulkauth("diff", str(sample_run), str(spf), ok=(2,))
    assert b"line 1 is a bulkauth.spf/1" in wrong.stderr


def _record(**sections: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema": "bulkauth.domain/1",
        "domain": "x.example",
        "status": "ok",
        "posture": {"verdict": "enforced"},
    }
    return {**base, **sections}


def test_a_count_in_a_message_is_neither_worse_nor_better() -> None:
    def spf(n: int) -> dict[str, Any]:
        msg = f"the record takes {n} DNS lookups"
        return {
            "state": "invalid",
            "problems": [{"code": "spf.too_many_lookups", "severity": "error", "message": msg}],
        }

    d = diff_domain(_record(spf=spf(11)), _record(spf=spf(12)))
    assert d is not None and d["direction"] == "neutral"
    assert [p["message"] for p in d["problems"]["appeared"]] == ["the record takes 12 DNS lookups"]


def test_a_key_revoked_is_a_rotation_and_bookkeeping_is_no_change() -> None:
    key = {"selector": "s1", "key_sha256": "ab", "key_type": "rsa", "key_bits": 2048}
    revoked = {"selector": "s1", "key_sha256": None, "revoked": True}
    d = diff_pair(
        _record(line=1, dkim={"state": "valid", "keys": [key]}),
        _record(line=9, dkim={"state": "valid", "keys": [revoked]}),
    )
    assert d is not None
    (rot,) = d["dkim_keys"]["rotated"]
    assert rot["old"]["key_sha256"] == "ab" and rot["new"]["revoked"] is True
    assert diff_pair(_record(line=1), _record(line=9, source="other.txt")) is None


def test_a_message_whose_dmarc_result_fell() -> None:
    def msg(dmarc: str, disposition: str) -> dict[str, Any]:
        return {
            "schema": "bulkauth.message/1",
            "message_id": "<1@x.example>",
            "status": "ok",
            "dkim": {"result": "pass", "signatures": []},
            "spf": {"result": "pass"},
            "dmarc": {"result": dmarc, "disposition": disposition},
            "arc": {"result": "none"},
        }

    d = diff_pair(msg("pass", "none"), msg("fail", "reject"))
    assert d is not None and d["direction"] == "worse"
    assert d["results"] == {
        "dmarc": {"old": "pass", "new": "fail"},
        "disposition": {"old": "none", "new": "reject"},
    }
    assert diff_pair(msg("fail", "reject"), msg("pass", "none"))["direction"] == "better"  # type: ignore[index]


def test_gzipped_runs(sample_run: Path, next_run: Path, runs: Path) -> None:
    import gzip

    packed = runs / "next.ndjson.gz"
    packed.write_bytes(gzip.compress(next_run.read_bytes()))
    assert bulkauth("diff", str(sample_run), str(packed)).stdout == (
        bulkauth("diff", str(sample_run), str(next_run)).stdout
    )
