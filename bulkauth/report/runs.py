"""Reading a run (an NDJSON file, or a run id in a results store) as its records sorted by
item key, and pairing the items of two runs, in bounded memory whatever their size or order.

How: an external merge sort. Records are read in the order the run wrote them; each gets its
key (the domain; a message's Message-ID) and its position, and chunks of at most
``CHUNK_BYTES`` are sorted in memory and spilled to temporary files, which ``heapq.merge``
then reads back together, one line per chunk at a time. A run that fits one chunk is never
written to disk. A store's run goes through the same sort (DuckDB only streams its rows out in
the order they were written), so both kinds of input sort alike and can be compared with each
other: the key is computed by one Python function, never by two implementations that might
order strings differently.

Two sorted runs are then merge-joined: equal keys pair up in order of position, so a domain
listed twice in both runs pairs first with first, second with second.
"""

from __future__ import annotations

import gzip
import hashlib
import heapq
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import orjson

from bulkauth.report.diff import diff_pair, domain_key, message_key

#: bytes of records sorted in memory before a chunk is spilled to a temporary file
CHUNK_BYTES = 64 << 20
KINDS = {"bulkauth.domain/1": "domains", "bulkauth.message/1": "messages"}


class RunError(Exception):
    """A run that cannot be read (no such file or run id, not a domains/messages run)."""


@dataclass(frozen=True, slots=True)
class Item:
    key: str
    seq: int
    line: bytes
    #: a hash of what the record found (bookkeeping left out): two items with the same one
    #: cannot differ, so the diff skips them without parsing either again
    digest: bytes = b""

    def record(self) -> dict[str, Any]:
        return cast(dict[str, Any], orjson.loads(self.line))


@dataclass(slots=True)
class Run:
    """One side of a diff or a report: where the records are and what they are."""

    label: str
    path: Path | None = None
    store: Path | None = None
    run_id: str | None = None
    #: "domains" or "messages", known once the first record was read (or from the runs row)
    kind: str | None = None
    #: a last line without its newline: a run cut short; skipped, and said so
    torn: bool = False

    def lines(self) -> Iterator[tuple[bytes, dict[str, Any]]]:
        """The run's records as (NDJSON line, record), in the order the run wrote them."""
        if self.path is not None:
            yield from self._file_lines(self.path)
        else:
            for line in self._store_lines():
                yield line, orjson.loads(line)

    def _file_lines(self, path: Path) -> Iterator[tuple[bytes, dict[str, Any]]]:
        with _open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                if not line.endswith(b"\n"):
                    self.torn = True
                    return
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    record = None
                if not isinstance(record, dict):
                    raise RunError(f"{self.label}: line {n} is not a JSON record")
                self._check_kind(record.get("schema"), n)
                yield line, record

    def _check_kind(self, schema: Any, n: int) -> None:
        kind = KINDS.get(schema) if isinstance(schema, str) else None
        if kind is None:
            raise RunError(
                f"{self.label}: line {n} is a {schema or 'record without schema'}; "
                "diff and report read bulkauth.domain/1 or bulkauth.message/1 runs"
            )
        if self.kind is None:
            self.kind = kind
        elif self.kind != kind:
            raise RunError(f"{self.label}: line {n} mixes {kind} into a {self.kind} run")

    def _store_lines(self) -> Iterator[bytes]:
        import duckdb

        from bulkauth.store.writer import StoreError, reading

        assert self.store is not None and self.run_id is not None
        try:
            with reading(self.store) as con:
                row = con.execute(
                    "SELECT command FROM runs WHERE run_id = ?", [self.run_id]
                ).fetchone()
                if row is None or row[0] not in ("domains", "messages"):
                    what = "no run" if row is None else f"a {row[0]} run"
                    raise RunError(
                        f"{self.store}: {what} with id {self.run_id!r} "
                        "(diff and report read domains and messages runs)"
                    )
                self.kind = str(row[0])
                cur = con.execute(
                    f"SELECT record FROM {self.kind} WHERE run_id = ? ORDER BY seq",
                    [self.run_id],
                )
                while batch := cur.fetchmany(1000):
                    for (text,) in batch:
                        yield text.encode() + b"\n"
        except (StoreError, duckdb.Error) as exc:
            raise RunError(f"{self.store}: {exc}") from None

    def sorted_items(self, tmpdir: str | None = None) -> Iterator[Item]:
        """The run's records by (key, position), through an external merge sort."""
        with ExitStack() as stack:
            spills: list[IO[bytes]] = []
            chunk: list[Item] = []
            size = 0
            for seq, (line, record) in enumerate(self.lines()):
                chunk.append(Item(self.key_of(record), seq, line, content_digest(record)))
                size += len(line) + 100
                if size >= CHUNK_BYTES:
                    spills.append(_spill(chunk, stack, tmpdir))
                    chunk, size = [], 0
            chunk.sort(key=_order)
            if not spills:
                yield from chunk
                return
            if chunk:
                spills.append(_spill(chunk, stack, tmpdir))
            del chunk
            yield from heapq.merge(*(_read_spill(f) for f in spills), key=_order)

    def key_of(self, record: dict[str, Any]) -> str:
        return message_key(record) if self.kind == "messages" else domain_key(record)


#: fields that say where an item was, not what was found: the diff never compares them
BOOKKEEPING = frozenset({"source", "line", "input", "path", "index", "offset"})


def content_digest(record: dict[str, Any]) -> bytes:
    """What the diff compares, hashed: the record without its bookkeeping fields."""
    found = {k: v for k, v in record.items() if k not in BOOKKEEPING}
    return hashlib.blake2b(orjson.dumps(found), digest_size=16).digest()


def _order(item: Item) -> tuple[str, int]:
    return item.key, item.seq


def _spill(chunk: list[Item], stack: ExitStack, tmpdir: str | None) -> IO[bytes]:
    """A sorted chunk written to an anonymous temporary file, rewound for reading."""
    chunk.sort(key=_order)
    f = stack.enter_context(tempfile.TemporaryFile(dir=tmpdir, prefix="bulkauth-sort-"))  # noqa: SIM115
    for it in chunk:
        # the key as JSON holds no raw tab, so the first tab ends it
        f.write(orjson.dumps([it.key, it.seq, it.digest.hex()]) + b"\t" + it.line)
    f.seek(0)
    return f


def _read_spill(f: IO[bytes]) -> Iterator[Item]:
    for raw in f:
        head, line = raw.split(b"\t", 1)
        key, seq, digest = orjson.loads(head)
        yield Item(key, seq, line, bytes.fromhex(digest))


def _open(path: Path) -> IO[bytes]:
    f = path.open("rb")
    if f.read(2) == b"\x1f\x8b":
        f.close()
        return cast(IO[bytes], gzip.open(path, "rb"))
    f.seek(0)
    return f


def open_run(spec: str, store: str | None, label: str) -> Run:
    """A run named on the command line: an NDJSON file (.gz too) when one exists at `spec`,
    else, with --store, the run with that id in the store."""
    p = Path(spec)
    if spec == "-" or p.is_file() or (p.exists() and not p.is_dir()):
        return Run(label=spec, path=p if spec != "-" else Path("/dev/stdin"))
    if store is not None:
        if not Path(store).is_file():
            raise RunError(f"{store}: no such store")
        return Run(label=f"{spec} in {store}", store=Path(store), run_id=spec)
    raise RunError(f"{spec}: no such file (give an NDJSON run, or a run id with --store PATH)")


Pair = tuple[Item | None, Item | None]


def paired(old: Run, new: Run, tmpdir: str | None = None) -> Iterator[Pair]:
    """The items of two runs side by side, by key: (old, new), either None when only one run
    has the item. Both runs must be of one kind."""
    a_it = old.sorted_items(tmpdir)
    b_it = new.sorted_items(tmpdir)
    a, b = next(a_it, None), next(b_it, None)
    if old.kind and new.kind and old.kind != new.kind:
        raise RunError(f"{old.label} is a {old.kind} run but {new.label} a {new.kind} run")
    while a is not None or b is not None:
        if b is None or (a is not None and a.key < b.key):
            yield a, None
            a = next(a_it, None)
        elif a is None or b.key < a.key:
            yield None, b
            b = next(b_it, None)
        else:
            yield a, b
            a, b = next(a_it, None), next(b_it, None)


def diffs(old: Run, new: Run, tmpdir: str | None = None) -> Iterator[dict[str, Any]]:
    """The bulkauth.diff/1 records of two runs, by key; items whose findings hash alike are
    passed over without being parsed again (most of a nightly run)."""
    for a, b in paired(old, new, tmpdir):
        if a is not None and b is not None and a.digest == b.digest:
            continue
        d = diff_pair(a.record() if a else None, b.record() if b else None)
        if d is not None:
            yield d


def records(run: Run) -> Iterator[dict[str, Any]]:
    """A run's records in the order it wrote them (what a report needs: no sort)."""
    for _, record in run.lines():
        yield record
