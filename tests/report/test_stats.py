"""What the report counts of a messages run, from records (pure)."""

from __future__ import annotations

from typing import Any

from bulkauth.report.stats import MessageStats


def message(*signatures: dict[str, Any], then: str | None = None) -> dict[str, Any]:
    return {
        "schema": "bulkauth.message/1",
        "status": "ok",
        "dkim": {"result": "pass", "signatures": list(signatures)},
        "spf": {"result": "pass"},
        "dmarc": {"result": "pass", "from_domain": "a.example", "disposition": "none"},
        "arc": {"result": "none"},
        "history": {"dkim": [{"d": "a.example", "selector": "s1", "result": then}]}
        if then
        else None,
        "problems": [],
    }


def test_keys_gone_and_signatures_saved_by_the_key_history() -> None:
    s = MessageStats()
    gone = {"d": "a.example", "s": "s1", "result": "permerror", "code": "dkim.key_not_found"}
    saved = {"d": "a.example", "s": "s2", "result": "pass", "code": None, "key_source": "history"}
    today = {"d": "a.example", "s": "s3", "result": "pass", "code": None, "key_source": "dns"}
    s.add(message(gone, then="pass"))
    s.add(message(gone, saved, today))
    assert s.key_gone == {"s1._domainkey.a.example": 2}
    assert s.key_gone_passed_then == 1
    assert s.saved_by_history == {"s2._domainkey.a.example": 1}
    assert s.dkim_failures == {"dkim.key_not_found": 2}
    assert s.disposition["a.example"] == {"none": 2}
