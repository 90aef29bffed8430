"""The store's tables: one declaration each, from which the DDL and the writers' column lists come.

Every column type is written here, never inferred from data, so a table has the same shape
whether its first row had a null or a value. The store's layout is versioned by
`STORE_VERSION` (kept in the `meta` table): change a table, bump the version and add an
upgrade step to `UPGRADES` (or let old stores be refused).

Keys: rows belong to a run (`run_id`) and to one item of it. A domain or SPF-check record is
keyed by its `source` and `line`, a message by its `path` and `index`. `seq` is the record's
position in the run's output (0-based): a resumed run deletes the rows at or after the point
it resumes from, so re-written items never appear twice. Child tables (problems, DKIM keys,
report destinations, signatures, ARC sets) repeat their parent's key and `seq`, plus `n`,
the row's position within that record.
"""

from __future__ import annotations

from dataclasses import dataclass

#: version of the store's layout (the tables below); kept in meta as 'store_version'.
#: 2: the key_history table; signatures.key_hash and key_source
STORE_VERSION = 2


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    doc: str


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    #: declare the key as PRIMARY KEY. Child tables do not: their rows are written and
    #: deleted with their parent's (same transaction, same seq), whose key DuckDB enforces,
    #: and an index over millions of problem rows would cost memory and a third of the speed
    enforce_key: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def ddl(self) -> str:
        cols = [f"    {c.name} {c.type}" for c in self.columns]
        if self.key and self.enforce_key:
            cols.append(f"    PRIMARY KEY ({', '.join(self.key)})")
        body = ",\n".join(cols)
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n{body}\n);"


#: the whole record, kept for what the flat columns leave out and read only now and then:
#: zstd stores it in about a tenth of what DuckDB's default string compression (FSST) does
RECORD_TYPE = "JSON NOT NULL USING COMPRESSION zstd"


def _cols(*spec: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*s) for s in spec)


RUN_ID = ("run_id", "VARCHAR NOT NULL", "the run the row belongs to (runs.run_id)")
SEQ = ("seq", "BIGINT NOT NULL", "position of the record in the run's output, from 0")
N = ("n", "INTEGER NOT NULL", "position of the row within its record, from 0")
SOURCE = ("source", "VARCHAR NOT NULL", "input file of the item, or <stdin>")
LINE = ("line", "BIGINT NOT NULL", "line of the item in its source, from 1")
PATH = ("path", "VARCHAR NOT NULL", "the file holding the message")
INDEX = ("index", "BIGINT NOT NULL", "position of the message within its source, from 1")

META = Table(
    "meta",
    "facts about the store itself: store_version (the layout of these tables)",
    _cols(("key", "VARCHAR NOT NULL", "name"), ("value", "VARCHAR NOT NULL", "value")),
    ("key",),
)

RUNS = Table(
    "runs",
    "one row per run of a command (or per NDJSON file loaded)",
    _cols(
        ("run_id", "VARCHAR NOT NULL", "the run's id; a loaded file's id derives from its content"),
        ("command", "VARCHAR NOT NULL", "domains, messages or spf"),
        ("record_schema", "VARCHAR NOT NULL", "schema of its records, e.g. bulkauth.domain/1"),
        ("started_at", "TIMESTAMPTZ", "when the run started (UTC); null when not known"),
        ("ended_at", "TIMESTAMPTZ", "when it ended; a loaded file: its modification time"),
        ("argv", "JSON", "the command line, as a list of strings"),
        ("options", "JSON", "the run's options, as an object"),
        ("bulkauth_version", "VARCHAR", "version of bulkauth that ran (or loaded) it"),
        ("psl_version", "VARCHAR", "the Public Suffix List used: its VERSION line and sha256"),
        ("nameservers", "JSON", "the nameservers asked, as a list of HOST:PORT"),
        ("zones", "VARCHAR", "the zone files answered from, instead of nameservers"),
        ("counts", "JSON", "records by status, e.g. {'ok': 45, 'invalid_input': 7}"),
        ("records", "BIGINT NOT NULL", "records stored for the run"),
        ("exit_status", "INTEGER", "the command's exit status; null while running"),
        ("finished", "BOOLEAN NOT NULL", "false while running, or if killed or torn"),
        ("resumed", "BOOLEAN NOT NULL", "the run was continued after an interruption"),
        ("loaded_from", "VARCHAR", "the NDJSON file loaded, for runs made by `load`"),
        ("loaded_at", "TIMESTAMPTZ", "when `load` stored it"),
    ),
    ("run_id",),
)

DOMAINS = Table(
    "domains",
    "one row per bulkauth.domain/1 record",
    _cols(
        RUN_ID,
        SOURCE,
        LINE,
        SEQ,
        ("input", "VARCHAR NOT NULL", "the item as written"),
        ("domain", "VARCHAR", "the A-label domain checked; null for invalid input"),
        ("status", "VARCHAR NOT NULL", "ok, invalid_input or error"),
        ("error_code", "VARCHAR", "why the record is not ok"),
        ("domain_exists", "BOOLEAN", "false: NXDOMAIN; null: unknown or mx not audited"),
        ("posture", "VARCHAR", "posture verdict: enforced, monitoring, unprotected, ..."),
        ("spf_state", "VARCHAR", "valid, invalid, missing, indeterminate; null if not audited"),
        ("dmarc_state", "VARCHAR", "as spf_state"),
        ("dkim_state", "VARCHAR", "as spf_state"),
        ("mx_state", "VARCHAR", "as spf_state"),
        ("mta_sts_state", "VARCHAR", "as spf_state"),
        ("tls_rpt_state", "VARCHAR", "as spf_state"),
        ("bimi_state", "VARCHAR", "as spf_state"),
        ("spf_lookups", "INTEGER", "DNS-querying terms a receiver would count (limit 10)"),
        ("spf_void_lookups", "INTEGER", "lookups that found nothing (limit 2)"),
        ("spf_all", "VARCHAR", "qualifier of the record's all term: + - ~ ?"),
        ("spf_ipv4_addresses", "BIGINT", "IPv4 addresses the record authorises"),
        ("dmarc_policy", "VARCHAR", "p=: none, quarantine, reject"),
        ("dmarc_sp", "VARCHAR", "sp= (or p= when absent)"),
        ("dmarc_pct", "INTEGER", "pct="),
        ("dmarc_inherited", "BOOLEAN", "the record is the organisational domain's"),
        ("dmarc_domain", "VARCHAR", "the domain whose record applies"),
        ("dmarc_org_domain", "VARCHAR", "the organisational domain"),
        ("dmarc_method", "VARCHAR", "how the organisational record was found: psl or tree"),
        ("mx_count", "INTEGER", "MX hosts"),
        ("null_mx", "BOOLEAN", "the domain publishes a null MX (accepts no mail)"),
        ("dkim_keys", "INTEGER", "DKIM keys found (the wildcard key not counted)"),
        ("dkim_weakest_bits", "INTEGER", "bits of the weakest DKIM key found"),
        ("problem_count", "INTEGER NOT NULL", "problems of the record (its rows in problems)"),
        ("record", RECORD_TYPE, "the whole NDJSON record"),
    ),
    ("run_id", "source", "line"),
)

PROBLEMS = Table(
    "problems",
    "one row per problem of a record: each domain section's problems, a message's (its own, "
    "each DKIM signature's, DMARC's) and an SPF check's problem",
    _cols(
        RUN_ID,
        ("source", "VARCHAR NOT NULL", "domains, spf_checks: the source; messages: the path"),
        ("item", "BIGINT NOT NULL", "domains, spf_checks: the line; messages: the index"),
        SEQ,
        N,
        ("section", "VARCHAR NOT NULL", "spf, dmarc, dkim, mx, mta_sts, tls_rpt, bimi, message"),
        ("location", "VARCHAR", "where within the section: a DKIM signature's index"),
        ("code", "VARCHAR NOT NULL", "e.g. spf.too_many_lookups"),
        ("severity", "VARCHAR NOT NULL", "error, warning or info"),
        ("message", "VARCHAR NOT NULL", "what is wrong, for people"),
    ),
    ("run_id", "source", "item", "n"),
    enforce_key=False,
)

DKIM_KEYS = Table(
    "dkim_keys",
    "one row per DKIM key a domain audit found (the wildcard key too, flagged)",
    _cols(
        RUN_ID,
        SOURCE,
        LINE,
        SEQ,
        N,
        ("domain", "VARCHAR NOT NULL", "the domain audited"),
        ("selector", "VARCHAR NOT NULL", "the selector (the wildcard's: the one probed)"),
        ("wildcard", "BOOLEAN NOT NULL", "a key answering for any selector"),
        ("key_type", "VARCHAR", "k=: rsa or ed25519"),
        ("bits", "INTEGER", "key size; null when the key did not load"),
        (
            "key_hash",
            "VARCHAR",
            "sha256 (hex) of the decoded key, or of the p= text if invalid base64",
        ),
        ("key_hash_of", "VARCHAR", "what key_hash hashes: key (decoded p=) or p_text"),
        ("flags", "VARCHAR[] NOT NULL", "t= flags"),
        ("testing", "BOOLEAN NOT NULL", "t=y"),
        ("strict", "BOOLEAN NOT NULL", "t=s"),
        ("revoked", "BOOLEAN NOT NULL", "empty p="),
        ("cname", "VARCHAR", "the CNAME the record was found through"),
        ("record", "VARCHAR NOT NULL", "the key record"),
        ("detail", "JSON NOT NULL", "the key's object in the record"),
    ),
    ("run_id", "source", "line", "n"),
    enforce_key=False,
)

REPORT_DESTINATIONS = Table(
    "report_destinations",
    "one row per DMARC report destination (rua=, ruf=) of a domain",
    _cols(
        RUN_ID,
        SOURCE,
        LINE,
        SEQ,
        N,
        ("domain", "VARCHAR NOT NULL", "the domain audited"),
        ("tag", "VARCHAR NOT NULL", "rua or ruf"),
        ("uri", "VARCHAR NOT NULL", "the destination URI"),
        ("destination_domain", "VARCHAR", "the URI's domain"),
        ("external", "BOOLEAN NOT NULL", "the destination is outside the DMARC domain"),
        ("authorized", "BOOLEAN", "the destination authorises the reports (RFC 7489 7.1)"),
        ("accepts_mail", "BOOLEAN", "the destination domain can receive mail"),
    ),
    ("run_id", "source", "line", "n"),
    enforce_key=False,
)

MESSAGES = Table(
    "messages",
    "one row per bulkauth.message/1 record",
    _cols(
        RUN_ID,
        PATH,
        INDEX,
        SEQ,
        ("source", "VARCHAR NOT NULL", "the input as given: file, folder or <stdin>"),
        ("kind", "VARCHAR NOT NULL", "mbox, maildir or eml"),
        ("byte_offset", "BIGINT", "mbox: offset of the From_ line (decompressed)"),
        ("size", "BIGINT NOT NULL", "bytes"),
        ("status", "VARCHAR NOT NULL", "ok, invalid_input or error"),
        ("error_code", "VARCHAR", "why the record is not ok"),
        ("message_id", "VARCHAR", "Message-ID"),
        ("date", "TIMESTAMPTZ", "Date:"),
        ("from_domain", "VARCHAR", "the From: domain"),
        ("dkim_result", "VARCHAR", "pass, fail, neutral, policy, temperror, permerror, none"),
        ("spf_result", "VARCHAR", "SPF result"),
        ("dmarc_result", "VARCHAR", "DMARC result"),
        ("arc_result", "VARCHAR", "ARC chain result"),
        ("dmarc_policy", "VARCHAR", "the policy that applied"),
        ("dmarc_disposition", "VARCHAR", "none, quarantine or reject"),
        ("dkim_aligned", "BOOLEAN", "a DKIM identifier aligned with From"),
        ("spf_aligned", "BOOLEAN", "the SPF identifier aligned with From"),
        ("client_ip", "VARCHAR", "the SMTP client"),
        ("mail_from", "VARCHAR", "the envelope sender"),
        (
            "clock",
            "VARCHAR",
            "the clock used for t=/x=: given, received:<host>, received:top, date or now",
        ),
        ("as_of", "TIMESTAMPTZ", "the time verdicts were given as of"),
        ("history_disagree", "BOOLEAN", "the receiver's Authentication-Results disagree"),
        ("signature_count", "INTEGER", "DKIM signatures (its rows in signatures)"),
        ("problem_count", "INTEGER NOT NULL", "problems of the record (its rows in problems)"),
        ("record", RECORD_TYPE, "the whole NDJSON record"),
    ),
    ("run_id", "path", "index"),
)

SIGNATURES = Table(
    "signatures",
    "one row per DKIM-Signature of a message",
    _cols(
        RUN_ID,
        PATH,
        INDEX,
        SEQ,
        N,
        ("d", "VARCHAR", "d= (signing domain)"),
        ("s", "VARCHAR", "s= (selector)"),
        ("a", "VARCHAR", "a= (algorithm)"),
        ("result", "VARCHAR NOT NULL", "pass, fail, neutral, policy, temperror, permerror"),
        ("code", "VARCHAR", "why not pass, e.g. dkim.key_not_found"),
        ("message", "VARCHAR NOT NULL", "for people"),
        ("key_bits", "INTEGER", "bits of the key verified with"),
        ("key_type", "VARCHAR", "type of that key"),
        ("signed_at", "TIMESTAMPTZ", "t="),
        ("expires_at", "TIMESTAMPTZ", "x="),
        ("detail", "JSON NOT NULL", "the signature's object in the record"),
        ("key_hash", "VARCHAR", "sha256 (hex) of the decoded p= of the key used"),
        ("key_source", "VARCHAR", "where that key came from: dns, or history (--key-history)"),
    ),
    ("run_id", "path", "index", "n"),
    enforce_key=False,
)

ARC_SETS = Table(
    "arc_sets",
    "one row per ARC set of a message",
    _cols(
        RUN_ID,
        PATH,
        INDEX,
        SEQ,
        N,
        ("instance", "INTEGER", "i="),
        ("ams_domain", "VARCHAR", "d= of the ARC-Message-Signature"),
        ("ams_valid", "BOOLEAN NOT NULL", "the ARC-Message-Signature verifies"),
        ("as_domain", "VARCHAR", "d= of the ARC-Seal"),
        ("as_valid", "BOOLEAN NOT NULL", "the ARC-Seal verifies"),
        ("cv", "VARCHAR", "cv= of the seal"),
    ),
    ("run_id", "path", "index", "n"),
    enforce_key=False,
)

SPF_CHECKS = Table(
    "spf_checks",
    "one row per bulkauth.spf/1 record of `spf --input`",
    _cols(
        RUN_ID,
        SOURCE,
        LINE,
        SEQ,
        ("input", "VARCHAR", "the line as written"),
        ("status", "VARCHAR NOT NULL", "ok, invalid_input or error"),
        ("error_code", "VARCHAR", "why the record is not ok"),
        ("ip", "VARCHAR", "the client IP"),
        ("sender", "VARCHAR", "MAIL FROM"),
        ("helo", "VARCHAR", "HELO"),
        ("domain", "VARCHAR", "the domain evaluated"),
        ("result", "VARCHAR", "pass, fail, softfail, neutral, none, temperror, permerror"),
        ("mechanism", "VARCHAR", "the mechanism that matched"),
        ("lookups", "INTEGER", "DNS-querying terms evaluated"),
        ("void_lookups", "INTEGER", "lookups that found nothing"),
        ("problem_code", "VARCHAR", "the problem's code (also in problems)"),
        ("record", RECORD_TYPE, "the whole NDJSON record"),
    ),
    ("run_id", "source", "line"),
)

KEY_HISTORY = Table(
    "key_history",
    "each value a DKIM selector was seen with, and when: added by every domains and messages"
    " run (and load) that sees a key in DNS, and by `bulkauth keys import`",
    _cols(
        ("domain", "VARCHAR NOT NULL", "the signing domain (d=), lower case, A-labels"),
        ("selector", "VARCHAR NOT NULL", "the selector (s=), lower case"),
        ("key_hash", "VARCHAR NOT NULL", "sha256 (hex) of the decoded p="),
        ("record", "VARCHAR NOT NULL", "the key record as published"),
        ("key_type", "VARCHAR", "k=: rsa or ed25519"),
        ("bits", "INTEGER", "key size"),
        ("first_seen", "TIMESTAMPTZ NOT NULL", "first time the value was seen (UTC)"),
        ("last_seen", "TIMESTAMPTZ NOT NULL", "last time it was seen; a new value opens a new row"),
        ("first_run", "VARCHAR", "the run that first saw it (null for imported rows)"),
        ("last_run", "VARCHAR", "the run that last saw it"),
        ("seen_via", "VARCHAR", "the nameservers or zones the run asked; the imported file"),
        ("source", "VARCHAR NOT NULL", "run (seen by a run of this store) or import"),
    ),
    ("domain", "selector", "key_hash", "source", "first_seen"),
    enforce_key=False,
)

#: the tables holding a run's rows, in the order they are written
ROW_TABLES: tuple[Table, ...] = (
    DOMAINS,
    PROBLEMS,
    DKIM_KEYS,
    REPORT_DESTINATIONS,
    MESSAGES,
    SIGNATURES,
    ARC_SETS,
    SPF_CHECKS,
)
TABLES: tuple[Table, ...] = (META, RUNS, *ROW_TABLES, KEY_HISTORY)

#: upgrade steps: version N -> N+1 as SQL statements
UPGRADES: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE signatures ADD COLUMN key_hash VARCHAR",
        "ALTER TABLE signatures ADD COLUMN key_source VARCHAR",
        # a version-1 signature's key came from DNS: there was no history then
        "UPDATE signatures SET key_source = 'dns'"
        " WHERE json_type(json_extract(detail, '$.key')) = 'OBJECT'",
        KEY_HISTORY.ddl(),
    ),
}
BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
#: each command's table of one row per item (its other tables hang off these rows)
ITEM_TABLES: dict[str, Table] = {"domains": DOMAINS, "messages": MESSAGES, "spf": SPF_CHECKS}


def ddl() -> str:
    """The whole DDL, as `bulkauth schema tables` prints it."""
    head = f"-- bulkauth results store, layout version {STORE_VERSION}\n"
    parts = []
    for t in TABLES:
        docs = "\n".join(f"--   {c.name}: {c.doc}" for c in t.columns)
        key = "" if t.enforce_key else f"\n-- key (kept by the writer): {', '.join(t.key)}"
        parts.append(f"-- {t.name}: {t.doc}\n{docs}{key}\n{t.ddl()}")
    return head + "\n\n".join(parts) + "\n"
