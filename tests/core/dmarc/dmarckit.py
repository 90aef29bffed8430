"""Helpers for the DMARC tests: answers, and a driver that records the batches asked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from bulkauth.core.common.model import MX, Answer, Query, Rcode, RType
from bulkauth.core.common.step import Step, answers_from
from bulkauth.core.dmarc.discovery import Method
from bulkauth.core.dmarc.record import DmarcRecord

T = TypeVar("T")
METHODS: tuple[Method, ...] = ("psl", "tree")
Table = Mapping[tuple[str, RType], Answer]


def codes(rec: DmarcRecord) -> list[str]:
    return [p.code for p in rec.problems]


def severity(rec: DmarcRecord, code: str) -> str:
    return next(p.severity for p in rec.problems if p.code == code)


def txt(*records: str) -> Answer:
    return Answer(Rcode.NOERROR, tuple((r.encode(),) for r in records), ttl=300)


def mx(*hosts: str) -> Answer:
    return Answer(Rcode.NOERROR, tuple(MX(10, h) for h in hosts), ttl=300)


def addr(*ips: str) -> Answer:
    return Answer(Rcode.NOERROR, ips, ttl=300)


NODATA = Answer(Rcode.NOERROR)
SERVFAIL = Answer(Rcode.SERVFAIL, detail="upstream failed")
TIMEOUT = Answer(Rcode.TIMEOUT)


def drive(step: Step[T], table: Table) -> tuple[T, list[tuple[Query, ...]]]:
    """Run a check against a table; also return the batches it asked, to check concurrency."""
    answer = answers_from(table)
    batches: list[tuple[Query, ...]] = []
    try:
        batch = step.send(None)  # type: ignore[arg-type]
        while True:
            batches.append(batch)
            batch = step.send(tuple(answer(q) for q in batch))
    except StopIteration as stop:
        return stop.value, batches


def asked(batches: list[tuple[Query, ...]]) -> list[str]:
    return [q.name for b in batches for q in b]
