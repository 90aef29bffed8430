"""The key history's commands: `keys import` of a public key archive, `keys list`, and the
history as the verifier takes it (`messages --key-history`).

An archive file is CSV (with a header row) or NDJSON, one key a row, with the columns
domain, selector, value, first_seen, last_seen: the shape public key archives publish.
`value` is the key record (``v=DKIM1; k=rsa; p=...``; a bare p= value is taken as an RSA
record). Times are ISO 8601 (UTC unless they say otherwise) or Unix seconds. A row that is
not one (a missing column, a domain that is not a domain, a p= that does not decode, a
first_seen after its last_seen) is reported with its line number and skipped; the good rows
are loaded. Importing a file again replaces what it gave before.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import orjson

from bulkauth.core.common.psl import to_ascii
from bulkauth.core.dkim.history import HistoricalKey, KeyHistory
from bulkauth.core.dkim.key import parse_dkim_key
from bulkauth.store.load import open_maybe_gzip
from bulkauth.store.writer import StoreError, StoreWriter, reading

COLUMNS = ("domain", "selector", "value", "first_seen", "last_seen")
SCHEMA = "bulkauth.key_history/1"


class BadRow(ValueError):
    """A row of a key archive that cannot be loaded; the message says why."""


@dataclass(slots=True)
class ImportReport:
    path: str
    loaded: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)

    def describe(self, shown: int = 20) -> str:
        lines = [f"{self.path}: {self.loaded} keys imported, {len(self.bad)} rows skipped"]
        lines += [f"  line {n}: {why}" for n, why in self.bad[:shown]]
        if len(self.bad) > shown:
            lines.append(f"  ... and {len(self.bad) - shown} more")
        return "\n".join(lines)


def parse_time(value: Any) -> datetime:
    """ISO 8601 (naive = UTC) or Unix seconds, as an aware UTC datetime."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value or "").strip()
    if not text:
        raise BadRow("no time given")
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRow(f"{text!r} is not a time (ISO 8601 or Unix seconds)") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def key_row(row: dict[str, Any]) -> tuple[Any, ...]:
    """One archive row as the history's (domain, selector, key_hash, record, key_type, bits,
    first_seen, last_seen); raises BadRow."""
    missing = [c for c in COLUMNS if row.get(c) in (None, "")]
    if missing:
        raise BadRow(f"missing {', '.join(missing)}")
    try:
        domain = to_ascii(str(row["domain"]).strip().rstrip("."))
    except ValueError as e:
        raise BadRow(f"domain {row['domain']!r}: {e}") from None
    if domain is None or "." not in domain:
        raise BadRow(f"domain {row['domain']!r} is not a domain name")
    selector = str(row["selector"]).strip().lower()
    if not selector or any(c.isspace() for c in selector):
        raise BadRow(f"selector {row['selector']!r} is not a selector")
    record = str(row["value"]).strip()
    if "=" not in record.split(";", 1)[0]:
        record = f"v=DKIM1; k=rsa; p={record}"  # a bare key
    key = parse_dkim_key(record)
    errors = [p for p in key.problems if p.severity == "error"]
    if key.revoked:
        raise BadRow("p= is empty: a revoked key verifies nothing")
    if key.key_sha256 is None or key.key is None or errors:
        why = errors[0].message if errors else "the record holds no usable key"
        raise BadRow(f"value: {why}")
    first, last = parse_time(row["first_seen"]), parse_time(row["last_seen"])
    if first > last:
        raise BadRow(f"first_seen {first.isoformat()} is after last_seen {last.isoformat()}")
    return (domain, selector, key.key_sha256, record, key.key_type, key.key_bits, first, last)


def _rows(f: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line, row, why-not) for each data row of a CSV or NDJSON archive."""
    head = f.peek(64)[:64] if hasattr(f, "peek") else b""
    if head.lstrip()[:1] == b"{":
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                yield n, None, "not JSON"
                continue
            yield (n, obj, None) if isinstance(obj, dict) else (n, None, "not a JSON object")
        return
    text = io.TextIOWrapper(f, encoding="utf-8", errors="replace", newline="")
    reader = csv.DictReader(text)
    header = [h.strip().lower() for h in reader.fieldnames or ()]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise StoreError(
            f"the archive's header row lacks {', '.join(missing)} (columns: {', '.join(COLUMNS)})"
        )
    reader.fieldnames = header
    for row in reader:
        yield reader.line_num, dict(row), None


def import_keys(path: str | os.PathLike[str], store: str | os.PathLike[str]) -> ImportReport:
    """Load a key archive (CSV or NDJSON, .gz too) into the store's key history."""
    p = Path(path)
    source = str(p.resolve())
    report = ImportReport(str(path))
    good: list[tuple[Any, ...]] = []
    with open_maybe_gzip(p) as f:
        for n, row, why in _rows(cast(io.BufferedReader, f)):
            if row is None:
                report.bad.append((n, why or "not a row"))
                continue
            try:
                good.append(key_row(row))
            except BadRow as e:
                report.bad.append((n, str(e)))
    with StoreWriter(store) as w:
        w.con.execute("BEGIN")
        w.con.execute("DELETE FROM key_history WHERE source = 'import' AND seen_via = ?", [source])
        appender = w.con.appender("key_history")
        appender.append_rows([(*r, None, None, source, "import") for r in good])
        appender.flush()
        w.con.execute("COMMIT")
    report.loaded = len(good)
    return report


def list_keys(store: str | os.PathLike[str], domain: str | None = None) -> Iterator[dict[str, Any]]:
    """The history's rows (of one domain), ordered by domain, selector and first sighting."""
    where, params = "", []
    if domain is not None:
        where, params = "WHERE domain = ?", [to_ascii(domain.strip().rstrip(".")) or domain]
    with reading(store) as con:
        cur = con.execute(
            f"SELECT * FROM key_history {where} ORDER BY domain, selector, first_seen, source",
            params,
        )
        names = [d[0] for d in cur.description or ()]
        while batch := cur.fetchmany(1000):
            for row in batch:
                rec = dict(zip(names, row, strict=True))
                for k in ("first_seen", "last_seen"):
                    rec[k] = rec[k].astimezone(UTC).isoformat().replace("+00:00", "Z")
                yield {"schema": SCHEMA, **rec}


def load_history(store: str | os.PathLike[str]) -> KeyHistory:
    """The whole history as the verifier takes it: key name -> the values seen there."""
    out: dict[str, list[HistoricalKey]] = {}
    with reading(store) as con:
        cur = con.execute(
            """
            SELECT selector || '._domainkey.' || domain, record, key_hash,
                   epoch(first_seen), epoch(last_seen),
                   CASE source WHEN 'run' THEN 'run ' || last_run ELSE 'import ' || seen_via END
            FROM key_history
            """
        )
        while batch := cur.fetchmany(10_000):
            for name, record, key_hash, first, last, source in batch:
                out.setdefault(name, []).append(
                    HistoricalKey(record, key_hash, float(first), float(last), source)
                )
    return out
