"""The README's questions, answered by queries.py on a store built from runs over data/."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bulkauth.store.load import file_run_id, load
from bulkauth.store.queries import (
    DKIM_KEY_GONE,
    DMARC_POLICIES,
    POSTURE_WORSE,
    QUERIES,
    UNAUTHORISED_DESTINATIONS,
    WEAKEST_DKIM_KEYS,
    Query,
)
from tests.store.conftest import records


@pytest.fixture(scope="module")
def con(
    tmp_path_factory: pytest.TempPathFactory,
    domains_run: Path,
    domains_rerun: Path,
    messages_run: Path,
) -> Any:
    # the second audit (good1.example's DMARC relaxed to p=none) came a day later
    later = domains_run.stat().st_mtime + 86400
    os.utime(domains_rerun, (later, later))
    path = tmp_path_factory.mktemp("queries") / "s.duckdb"
    load([domains_run, domains_rerun, messages_run], path)
    c = duckdb.connect(str(path), read_only=True)
    yield c
    c.close()


def run(con: Any, q: Query) -> list[dict[str, Any]]:
    cur = con.execute(q.sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_every_query_runs() -> None:
    assert len(QUERIES) == 5 and len({q.name for q in QUERIES}) == 5


def test_domains_whose_posture_got_worse(con: Any, domains_run: Path, domains_rerun: Path) -> None:
    got = run(con, POSTURE_WORSE)
    # sub.good1.example inherits the change, but went from broken to monitoring: better
    assert [(r["domain"], r["was"], r["now"]) for r in got] == [
        ("good1.example", "enforced", "monitoring")
    ]
    assert all(r["was_run"] == file_run_id(domains_run) for r in got)
    assert all(r["run"] == file_run_id(domains_rerun) for r in got)


def test_dmarc_policies_by_count(con: Any, domains_rerun: Path) -> None:
    got = {r["policy"]: r["domains"] for r in run(con, DMARC_POLICIES)}
    expect: dict[str, int] = {}
    for rec in records(domains_rerun):
        if rec["status"] == "ok":
            policy = rec["dmarc"]["policy"] or "no policy"
            expect[policy] = expect.get(policy, 0) + 1
    assert got == expect and got["none"] >= 1


def test_report_destinations_that_do_not_authorise_back(con: Any) -> None:
    got = run(con, UNAUTHORISED_DESTINATIONS)
    assert [(r["domain"], r["destination_domain"]) for r in got] == [
        ("extunauth.example", "partner-reports.example")
    ]


def test_weakest_dkim_keys(con: Any) -> None:
    got = run(con, WEAKEST_DKIM_KEYS)
    assert got and all(r["bits"] is not None for r in got)
    strength = [3072 if r["key_type"] == "ed25519" else r["bits"] for r in got]
    assert strength == sorted(strength)
    assert got[-1]["domain"] == "ed25519.example"


def test_messages_whose_dkim_failed_only_because_the_key_is_gone(
    con: Any, messages_run: Path
) -> None:
    expect = [
        r["index"]
        for r in records(messages_run)
        if r["dkim"]["signatures"]
        and all(s["code"] == "dkim.key_not_found" for s in r["dkim"]["signatures"])
    ]
    got = run(con, DKIM_KEY_GONE)
    assert expect and [r["index"] for r in got] == expect
    assert all(k.startswith("s") and "._domainkey." in k for r in got for k in r["missing_keys"])


def test_the_readme_shows_each_question_with_its_sql() -> None:
    from bulkauth.store.queries import QUERIES
    from tests.paths import ROOT

    readme = (ROOT / "README.md").read_text()
    for q in QUERIES:
        assert q.question in readme and q.sql.strip() in readme, q.name
