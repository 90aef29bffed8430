"""Helpers for the tests of TXT records found by their version tag (MTA-STS, TLS-RPT, BIMI)."""

from __future__ import annotations

import json
from typing import Any

from bulkauth.core.common.model import Answer, Query, Rcode, RType
from bulkauth.core.common.step import Step, run_sync
from bulkauth.core.common.versioned_record import RecordAudit

DOMAIN = "example.com"


def txt(*records: str) -> Answer:
    return Answer(Rcode.NOERROR, tuple((r.encode(),) for r in records), ttl=300)


def run(step: Step[Any], name: str, answer: Answer) -> Any:
    asked: list[Query] = []

    def reply(q: Query) -> Answer:
        asked.append(q)
        return answer

    result = run_sync(step, reply)
    assert asked == [Query(name, RType.TXT)]  # exactly one question, at the right name
    json.dumps(result.to_dict())
    return result


def codes(audit: RecordAudit) -> list[str]:
    return [p.code for p in audit.problems]
