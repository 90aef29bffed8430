"""Records to rows: pure functions from one NDJSON record (a dict) to the rows of every table.

No I/O here. Each function returns tuples in the column order of its table (tables.py), so
the writer appends them as they are. `text` is the record as its NDJSON line (the JSON
columns keep it whole); the caller has it already, so it is not encoded twice.

DKIM key hashes: `key_hash` is the record's `key_sha256` (sha256 of the decoded p= key)
when the record carries one; when p= is not valid base64 there is none, and key_hash is
the sha256 of the p= text (folding whitespace removed), with `key_hash_of` saying which.
A revoked (empty p=) or absent key has no hash.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

Record = dict[str, Any]
Row = tuple[Any, ...]
#: table name -> rows for it
Rows = dict[str, list[Row]]

DOMAIN_SCHEMA = "bulkauth.domain/1"
MESSAGE_SCHEMA = "bulkauth.message/1"
SPF_SCHEMA = "bulkauth.spf/1"
#: record schema -> the command that writes it
COMMANDS = {DOMAIN_SCHEMA: "domains", MESSAGE_SCHEMA: "messages", SPF_SCHEMA: "spf"}
#: domain sections, in record order
SECTIONS = ("spf", "dmarc", "dkim", "mx", "mta_sts", "tls_rpt", "bimi")

_FWS = re.compile(r"\s+")


class RecordError(ValueError):
    """The record is not one the store knows (a foreign line, or a key field missing)."""


def _get(d: Record | None, key: str) -> Any:
    return None if d is None else d.get(key)


def dumps(value: Any) -> str:
    """JSON text as the NDJSON sink writes it (orjson: compact, UTF-8)."""
    return orjson.dumps(value).decode()


def _epoch(value: Any) -> datetime | None:
    """A DKIM t=/x= as a UTC time; None when absent or beyond what a timestamp holds."""
    if not isinstance(value, int):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _problem_rows(
    run_id: str, source: str, item: int, seq: int, found: list[tuple[str, str | None, Record]]
) -> list[Row]:
    return [
        (run_id, source, item, seq, n, section, where, p["code"], p["severity"], p["message"])
        for n, (section, where, p) in enumerate(found)
    ]


def key_hash(key: Record) -> tuple[str | None, str | None]:
    """(hash, what it hashes) of a DKIM key object: see the module's docstring."""
    if key.get("key_sha256"):
        return key["key_sha256"], "key"
    for tag in str(key.get("record", "")).split(";"):
        name, sep, value = tag.partition("=")
        if sep and name.strip() == "p":
            text = _FWS.sub("", value)
            if text:
                return hashlib.sha256(text.encode()).hexdigest(), "p_text"
    return None, None


def domain_rows(run_id: str, seq: int, rec: Record, text: str) -> Rows:
    source, line = rec["source"], rec["line"]
    ok = rec["status"] == "ok"
    spf = rec.get("spf") if ok else None
    dmarc = rec.get("dmarc") if ok else None
    dkim = rec.get("dkim") if ok else None
    mx = rec.get("mx") if ok else None
    domain = rec.get("domain")

    found: list[tuple[str, str | None, Record]] = []
    for name in SECTIONS:
        section = rec.get(name) if ok else None
        for p in _get(section, "problems") or ():
            found.append((name, None, p))

    keys: list[Row] = []
    if dkim is not None:
        listed = [(k, False) for k in dkim["keys"]]
        if dkim.get("wildcard") is not None:
            listed.append((dkim["wildcard"], True))
        for n, (k, wildcard) in enumerate(listed):
            digest, of = key_hash(k)
            keys.append(
                (
                    run_id,
                    source,
                    line,
                    seq,
                    n,
                    domain,
                    k["selector"],
                    wildcard,
                    k.get("key_type"),
                    k.get("key_bits"),
                    digest,
                    of,
                    k.get("flags") or [],
                    bool(k.get("testing")),
                    bool(k.get("strict")),
                    bool(k.get("revoked")),
                    k.get("cname"),
                    k["record"],
                    dumps(k),
                )
            )
    bits = [k["key_bits"] for k in _get(dkim, "keys") or () if k.get("key_bits") is not None]

    destinations = [
        (
            run_id,
            source,
            line,
            seq,
            n,
            domain,
            d["tag"],
            d["uri"],
            d.get("domain"),
            bool(d.get("external")),
            d.get("authorized"),
            d.get("accepts_mail"),
        )
        for n, d in enumerate(_get(dmarc, "report_destinations") or ())
    ]

    row = (
        run_id,
        source,
        line,
        seq,
        rec["input"],
        domain,
        rec["status"],
        _get(rec.get("error"), "code"),
        rec.get("exists"),
        _get(rec.get("posture"), "verdict"),
        *(_get(rec.get(name) if ok else None, "state") for name in SECTIONS),
        _get(spf, "lookups"),
        _get(spf, "void_lookups"),
        _get(spf, "all_qualifier"),
        _get(spf, "ipv4_addresses"),
        _get(dmarc, "policy"),
        _get(dmarc, "subdomain_policy"),
        _get(dmarc, "pct"),
        _get(dmarc, "inherited"),
        _get(dmarc, "domain"),
        _get(dmarc, "org_domain"),
        _get(dmarc, "method"),
        None if mx is None else len(mx["hosts"]),
        _get(mx, "null_mx"),
        None if dkim is None else len(dkim["keys"]),
        min(bits) if bits else None,
        len(found),
        text,
    )
    return {
        "domains": [row],
        "problems": _problem_rows(run_id, source, line, seq, found),
        "dkim_keys": keys,
        "report_destinations": destinations,
    }


def message_rows(run_id: str, seq: int, rec: Record, text: str) -> Rows:
    path, index = rec["path"], rec["index"]
    ok = rec["status"] == "ok"
    dkim = rec.get("dkim") if ok else None
    spf = rec.get("spf") if ok else None
    dmarc = rec.get("dmarc") if ok else None
    arc = rec.get("arc") if ok else None
    envelope = rec.get("envelope") if ok else None
    as_of = rec.get("as_of") if ok else None
    alignment = _get(dmarc, "alignment")
    signatures = _get(dkim, "signatures") or ()

    found: list[tuple[str, str | None, Record]] = [
        ("message", None, p) for p in rec.get("problems") or ()
    ]
    for s in signatures:
        found.extend(("dkim", str(s["index"]), p) for p in s.get("problems") or ())
    found.extend(("dmarc", None, p) for p in _get(dmarc, "problems") or ())

    sig_rows = [
        (
            run_id,
            path,
            index,
            seq,
            n,
            s.get("d"),
            s.get("s"),
            s.get("a"),
            s["result"],
            s.get("code"),
            s["message"],
            _get(s.get("key"), "bits"),
            _get(s.get("key"), "type"),
            _epoch(s.get("t")),
            _epoch(s.get("x")),
            dumps(s),
            _get(s.get("key"), "hash"),
            s.get("key_source"),
        )
        for n, s in enumerate(signatures)
    ]
    arc_rows = [
        (
            run_id,
            path,
            index,
            seq,
            n,
            a.get("instance"),
            a.get("ams_domain"),
            bool(a.get("ams_valid")),
            a.get("as_domain"),
            bool(a.get("as_valid")),
            a.get("cv"),
        )
        for n, a in enumerate(_get(arc, "sets") or ())
    ]
    history = rec.get("history") if ok else None
    row = (
        run_id,
        path,
        index,
        seq,
        rec["source"],
        rec["kind"],
        rec.get("offset"),
        rec["size"],
        rec["status"],
        _get(rec.get("error"), "code"),
        rec.get("message_id"),
        rec.get("date"),
        _get(rec.get("from"), "domain"),
        _get(dkim, "result"),
        _get(spf, "result"),
        _get(dmarc, "result"),
        _get(arc, "result"),
        _get(dmarc, "policy"),
        _get(dmarc, "disposition"),
        _get(_get(alignment, "dkim"), "aligned"),
        _get(_get(alignment, "spf"), "aligned"),
        _get(envelope, "client_ip"),
        _get(envelope, "mail_from"),
        _get(as_of, "source"),
        _get(as_of, "time"),
        _get(history, "disagree"),
        len(signatures) if ok else None,
        len(found),
        text,
    )
    return {
        "messages": [row],
        "problems": _problem_rows(run_id, path, index, seq, found),
        "signatures": sig_rows,
        "arc_sets": arc_rows,
    }


def spf_rows(run_id: str, seq: int, rec: Record, text: str) -> Rows:
    source, line = rec["source"], rec["line"]
    problem = rec.get("problem")
    row = (
        run_id,
        source,
        line,
        seq,
        rec.get("input"),
        rec.get("status", "ok"),
        _get(rec.get("error"), "code"),
        rec.get("ip"),
        rec.get("sender"),
        rec.get("helo"),
        rec.get("domain"),
        rec.get("result"),
        rec.get("mechanism"),
        rec.get("lookups"),
        rec.get("void_lookups"),
        _get(problem, "code"),
        text,
    )
    found: list[tuple[str, str | None, Record]] = (
        [] if problem is None else [("spf", None, problem)]
    )
    return {"spf_checks": [row], "problems": _problem_rows(run_id, source, line, seq, found)}


_BY_SCHEMA: dict[str, Callable[[str, int, Record, str], Rows]] = {
    DOMAIN_SCHEMA: domain_rows,
    MESSAGE_SCHEMA: message_rows,
    SPF_SCHEMA: spf_rows,
}


def rows_of(run_id: str, seq: int, rec: Record, text: str) -> Rows:
    """The rows of one record, by its schema; RecordError for a record the store does not know.

    `spf` records of a single check (no source/line) are not stored: the store keeps
    `spf --input` runs, whose records are keyed by line.
    """
    schema = rec.get("schema") if isinstance(rec, dict) else None
    convert = _BY_SCHEMA.get(schema) if isinstance(schema, str) else None
    if convert is None:
        raise RecordError(f"not a bulkauth record (schema {schema!r})")
    try:
        return convert(run_id, seq, rec, text)
    except (KeyError, TypeError, AttributeError) as e:
        raise RecordError(f"{schema} record without the field it needs: {e}") from None


def item_key(rec: Record) -> tuple[str, int]:
    """The record's item: (source, line), or (path, index) for a message."""
    if rec.get("schema") == MESSAGE_SCHEMA:
        return rec["path"], rec["index"]
    return rec["source"], rec["line"]
