"""rows.py against real records of data/: every table, every section, the key hashes."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkauth.store import rows, tables
from bulkauth.store.rows import RecordError, rows_of
from tests.store.conftest import records


def table_rows(recs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Every record's rows, as dicts by column name (checking each row's width)."""
    out: dict[str, list[dict[str, Any]]] = {t.name: [] for t in tables.ROW_TABLES}
    for seq, rec in enumerate(recs):
        for name, got in rows_of("r1", seq, rec, rows.dumps(rec)).items():
            names = tables.BY_NAME[name].names
            for row in got:
                assert len(row) == len(names), name
                out[name].append(dict(zip(names, row, strict=True)))
    return out


@pytest.fixture(scope="module")
def domain_tables(domains_run: Path) -> dict[str, list[dict[str, Any]]]:
    return table_rows(records(domains_run))


def by_input(domain_tables: dict[str, list[dict[str, Any]]], text: str) -> dict[str, Any]:
    return next(r for r in domain_tables["domains"] if r["input"] == text)


def test_one_domain_row_per_record_with_its_columns(
    domains_run: Path, domain_tables: dict[str, list[dict[str, Any]]]
) -> None:
    recs = records(domains_run)
    assert len(domain_tables["domains"]) == len(recs)
    assert [(r["seq"], r["line"]) for r in domain_tables["domains"]] == [
        (i, r["line"]) for i, r in enumerate(recs)
    ]
    good = by_input(domain_tables, "good1.example")
    assert good | {"record": None} == good | {
        "run_id": "r1",
        "domain": "good1.example",
        "status": "ok",
        "domain_exists": True,
        "posture": "enforced",
        "spf_state": "valid",
        "dmarc_state": "valid",
        "dkim_state": "valid",
        "mx_state": "valid",
        "mta_sts_state": "missing",
        "spf_lookups": 3,
        "spf_void_lookups": 0,
        "spf_all": "-",
        "spf_ipv4_addresses": 512,
        "dmarc_policy": "reject",
        "dmarc_sp": "reject",
        "dmarc_pct": 100,
        "dmarc_inherited": False,
        "dmarc_org_domain": "good1.example",
        "dmarc_method": "psl",
        "mx_count": 2,
        "null_mx": False,
        "dkim_keys": 1,
        "dkim_weakest_bits": 2048,
        # mta_sts.no_record and tls_rpt.no_record: info, each with its starter record
        "problem_count": 2,
        "record": None,
    }
    sub = by_input(domain_tables, "sub.good1.example")
    assert sub["dmarc_inherited"] is True and sub["dmarc_domain"] == "good1.example"
    assert sub["problem_count"] == 4 and sub["dkim_weakest_bits"] is None


def test_invalid_input_has_its_error_and_no_section_columns(
    domain_tables: dict[str, list[dict[str, Any]]],
) -> None:
    bad = by_input(domain_tables, "http://good1.example/")
    assert bad["status"] == "invalid_input" and bad["error_code"] == "input.url"
    assert bad["domain"] is None and bad["posture"] is None and bad["spf_state"] is None
    assert bad["problem_count"] == 0


def test_problems_of_every_section(domain_tables: dict[str, list[dict[str, Any]]]) -> None:
    problems = domain_tables["problems"]
    assert {p["section"] for p in problems} == set(rows.SECTIONS)
    counts: dict[tuple[str, int], int] = {}
    for p in problems:
        counts[p["source"], p["item"]] = counts.get((p["source"], p["item"]), 0) + 1
        assert p["severity"] in ("error", "warning", "info") and "." in p["code"]
    for d in domain_tables["domains"]:
        assert d["problem_count"] == counts.get((d["source"], d["line"]), 0)
    cov = [p for p in problems if p["item"] == by_input(domain_tables, "storecov.example")["line"]]
    assert [p["n"] for p in cov] == list(range(len(cov)))
    assert {"bimi.logo_not_https", "tls_rpt.invalid_uri", "mta_sts.bad_id"} <= {
        p["code"] for p in cov
    }


def test_dkim_keys_with_their_hashes(domain_tables: dict[str, list[dict[str, Any]]]) -> None:
    keys = domain_tables["dkim_keys"]
    good = next(k for k in keys if k["domain"] == "good1.example")
    assert (good["selector"], good["key_type"], good["bits"], good["wildcard"]) == (
        "selector1",
        "rsa",
        2048,
        False,
    )
    assert good["key_hash_of"] == "key" and len(good["key_hash"]) == 64
    ed = next(k for k in keys if k["domain"] == "ed25519.example")
    assert (ed["key_type"], ed["bits"]) == ("ed25519", 256)
    cov = [k for k in keys if k["domain"] == "storecov.example"]
    broken = next(k for k in cov if k["selector"] == "broken")
    # p= is not base64, so the record carries no key_sha256: the p= text is hashed instead
    assert broken["key_hash_of"] == "p_text" and broken["bits"] is None
    assert broken["key_hash"] == hashlib.sha256(b"MIIBIjAN!!notbase64").hexdigest()
    wildcard = next(k for k in cov if k["wildcard"])
    assert wildcard["key_hash"] == good["key_hash"]  # the same public key, so the same hash
    assert orjson.loads(wildcard["detail"])["selector"] == wildcard["selector"]


def test_report_destinations(domain_tables: dict[str, list[dict[str, Any]]]) -> None:
    dests = domain_tables["report_destinations"]
    assert {d["tag"] for d in dests} == {"rua", "ruf"}
    unauth = [d for d in dests if d["external"] and d["authorized"] is False]
    assert [(d["domain"], d["destination_domain"]) for d in unauth] == [
        ("extunauth.example", "partner-reports.example")
    ]


def test_spf_checks_and_their_problem(spf_run: Path) -> None:
    got = table_rows(records(spf_run))
    checks = got["spf_checks"]
    assert [c["line"] for c in checks] == [1, 2, 3, 4, 5]
    assert [c["result"] for c in checks] == ["fail", "pass", "permerror", None, "permerror"]
    assert checks[3]["status"] == "invalid_input" and checks[3]["error_code"] == "input.bad_check"
    assert checks[1] | {"record": None} == checks[1] | {
        "ip": "203.0.113.9",
        "sender": "user@good1.example",
        "helo": "mx.example",
        "domain": "good1.example",
        "mechanism": "include:_spf.mailcloud.example",
        "lookups": 2,
        "void_lookups": 0,
        "problem_code": None,
        "record": None,
    }
    assert [(p["item"], p["section"], p["code"]) for p in got["problems"]] == [
        (3, "spf", "spf.loop"),
        (5, "spf", "spf.include_no_spf"),
    ]


def test_messages_and_signatures(messages_run: Path) -> None:
    recs = records(messages_run)
    got = table_rows(recs)
    msgs = got["messages"]
    assert [m["index"] for m in msgs] == list(range(1, len(recs) + 1))
    first, rec = msgs[0], recs[0]
    assert first["path"] == rec["path"] and first["byte_offset"] == 0
    assert first["message_id"] == rec["message_id"] and first["date"] == rec["date"]
    assert first["from_domain"] == rec["from"]["domain"]
    assert first["clock"] == "received:top" and first["as_of"] == rec["as_of"]["time"]
    assert first["dmarc_result"] == rec["dmarc"]["result"]
    assert first["signature_count"] == len(rec["dkim"]["signatures"])
    sigs = got["signatures"]
    assert len(sigs) == sum(m["signature_count"] for m in msgs)
    assert {"pass", "permerror"} <= {s["result"] for s in sigs}
    gone = [s for s in sigs if s["code"] == "dkim.key_not_found"]
    assert gone and all(s["key_bits"] is None for s in gone)
    signed = next(s for s in sigs if s["result"] == "pass")
    assert signed["signed_at"].year >= 2023 and signed["key_bits"] == 2048


def test_message_problems_of_every_section_and_arc_sets(messages_run: Path) -> None:
    """No generated message has ARC sets or every kind of problem: add them to a real one."""
    rec = copy.deepcopy(records(messages_run)[0])
    p = {"code": "x.y", "severity": "warning", "message": "m"}
    rec["problems"] = [p]
    rec["dkim"]["signatures"][0]["problems"] = [p, p]
    rec["dmarc"]["problems"] = [p]
    rec["arc"]["sets"] = [
        {"instance": 1, "ams_domain": "a.example", "ams_valid": True, "as_domain": "a.example",
         "as_valid": True, "cv": "none"},
        {"instance": 2, "ams_domain": "b.example", "ams_valid": False, "as_domain": "b.example",
         "as_valid": True, "cv": "pass"},
    ]  # fmt: skip
    got = table_rows([rec])
    assert [(x["section"], x["location"], x["n"]) for x in got["problems"]] == [
        ("message", None, 0),
        ("dkim", "0", 1),
        ("dkim", "0", 2),
        ("dmarc", None, 3),
    ]
    assert got["messages"][0]["problem_count"] == 4
    assert [(a["n"], a["instance"], a["ams_valid"], a["cv"]) for a in got["arc_sets"]] == [
        (0, 1, True, "none"),
        (1, 2, False, "pass"),
    ]


def test_the_record_column_keeps_the_line_given() -> None:
    rec = {"schema": "bulkauth.spf/1", "source": "s", "line": 1, "input": "x",
           "status": "invalid_input", "error": {"code": "c", "message": "m"}}  # fmt: skip
    assert rows_of("r", 0, rec, "LINE")["spf_checks"][0][-1] == "LINE"


@pytest.mark.parametrize(
    "rec",
    [{"schema": "other/1"}, {"no": "schema"}, {"schema": "bulkauth.domain/1", "line": 1}],
)
def test_a_foreign_record_is_refused(rec: dict[str, Any]) -> None:
    with pytest.raises(RecordError):
        rows_of("r", 0, rec, "{}")
