"""DNS snapshots: every answer a run's backend gave, recorded (``--record-dns``) and answered
from later with no socket at all (``--replay-dns``), so that an audit can be replayed from the
same DNS answers.

Recording wraps any backend at the one seam (``bulkauth.dns.backend``), below the Resolver's
cache, single-flight and retries: what is written is what came off the wire (or out of the zone
files), one entry per backend answer, failures included: SERVFAIL, REFUSED, and a question the
Resolver's deadline cut short as TIMEOUT. An answer served from the cache was recorded when it
was fetched. Each process of a run appends to a part file of its own (plain NDJSON, no lock, no
pipe); when the run ends the parts are joined into the snapshot, compressed, behind a header
saying what produced it (bulkauth and format versions, the command and its options, the Public
Suffix List itself) and followed by an end line with the count, so a file cut off anywhere is
told from a whole one.

Replaying answers each question with the answer the recorded run *used*: the last authoritative
one (NOERROR, NXDOMAIN) recorded for it, else the last failure. A failure followed by a good
answer was a retry that worked; a question that only ever failed fails again, at once, the same
way (the Resolver's retries then meet the same failure and give up as they did). A question the
recorded run never asked is ``NOTRECORDED``: its section is indeterminate with the code
``dns.not_recorded``, never missing. Limitation: a question whose outcome changed during the
recorded run (a server that failed for one worker and answered another) is replayed as its
last good answer for every item.

File: gzip of NDJSON lines. Line 1, the header: ``{"format": "bulkauth.dns-snapshot/1",
"bulkauth": VERSION, "created": ISO, "run": {...}, "psl": {source, version, sha256, text}}``;
then one entry per answer: ``{"name", "type", "rcode", "ttl", "records", "size", "at",
"server"}`` with ``cnames`` and ``detail`` when not empty (TXT strings are text when they are
UTF-8, else ``{"hex": ...}``; MX records are ``[preference, exchange]``); last, ``{"end":
{"answers": N}}``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from bulkauth.core.common.model import MX, Answer, Query, Rcode, Rdata, RType
from bulkauth.dns.backend import Backend

FORMAT = "bulkauth.dns-snapshot/1"
#: bytes read (compressed) at a time when loading
_CHUNK = 1 << 20
_TXT_TYPES = (RType.TXT, RType.SPF)
_RTYPES = {t.name: t for t in RType}
_RCODES = {r.value: r for r in Rcode}


class SnapshotError(Exception):
    """A snapshot that cannot be written or read; the message names the file and the trouble."""


# --------------------------------------------------------------------------------------------
# one answer <-> one line


def _txt_string(s: bytes) -> str | dict[str, str]:
    try:
        return s.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": s.hex()}


def _rdata_json(rtype: RType, r: Rdata) -> Any:
    if isinstance(r, tuple):
        return [_txt_string(s) for s in r]
    if isinstance(r, MX):
        return [r.preference, r.exchange]
    return r


def entry_line(q: Query, a: Answer, at: float, server: str) -> bytes:
    """One answer as a snapshot line (with its newline)."""
    d: dict[str, Any] = {
        "name": q.name,
        "type": q.rtype.name,
        "rcode": a.rcode.value,
        "ttl": a.ttl,
        "records": [_rdata_json(q.rtype, r) for r in a.records],
        "size": a.size,
        "at": round(at, 3),
        "server": server,
    }
    if a.cnames:
        d["cnames"] = list(a.cnames)
    if a.detail:
        d["detail"] = a.detail
    return orjson.dumps(d) + b"\n"


def _txt_bytes(s: Any) -> bytes:
    return s.encode("utf-8") if isinstance(s, str) else bytes.fromhex(s["hex"])


def parse_entry(d: dict[str, Any]) -> tuple[Query, Answer]:
    """An entry line's object as the question and its answer (KeyError, TypeError, ValueError
    for one that is not an entry)."""
    rtype = _RTYPES[d["type"]]
    raw = d["records"]
    records: tuple[Rdata, ...]
    if rtype in _TXT_TYPES:
        records = tuple(tuple(_txt_bytes(s) for s in r) for r in raw)
    elif rtype is RType.MX:
        records = tuple(MX(int(p), str(e)) for p, e in raw)
    else:
        records = tuple(str(r) for r in raw)
    answer = Answer(
        _RCODES[d["rcode"]],
        records,
        int(d["ttl"]),
        tuple(d.get("cnames", ())),
        int(d["size"]),
        str(d.get("detail", "")),
    )
    return Query(str(d["name"]), rtype), answer


# --------------------------------------------------------------------------------------------
# recording


class RecordingBackend:
    """A backend that writes every answer its inner backend gives to a part file.

    ``server``: what the entries name as the answering server when the inner backend cannot say
    which of its servers answered (zone files: their path; aiodns: the servers it was given).
    """

    def __init__(self, inner: Backend, part: str | Path, server: str) -> None:
        self.inner = inner
        self.name = f"{inner.name}, recording"
        self.server = server
        self.path = Path(part)
        # each process has its own part, so no lock and no pipe; unbuffered (~1 us an answer),
        # so that every answer a written record used is in the file before the record is: a
        # killed run leaves its parts for --resume with nothing its output needs missing
        self._file: BinaryIO | None = self.path.open("ab", buffering=0)
        self.recorded = 0
        #: a backend that can say which of its servers answered (the UDP client) is asked so
        self._query_from: Callable[[Query], Awaitable[tuple[Answer, str]]] | None = getattr(
            inner, "query_from", None
        )

    async def query(self, q: Query) -> Answer:
        server = self.server
        try:
            if self._query_from is not None:
                answer, server = await self._query_from(q)
                server = server or self.server
            else:
                answer = await self.inner.query(q)
        except asyncio.CancelledError:
            # the Resolver's deadline (or the run stopping): on the wire, no answer came
            self._write(q, Answer(Rcode.TIMEOUT, detail="no answer before the deadline"), server)
            raise
        self._write(q, answer, server)
        return answer

    def _write(self, q: Query, answer: Answer, server: str) -> None:
        if self._file is not None:
            self._file.write(entry_line(q, answer, time.time(), server))
            self.recorded += 1

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            if self._file is not None:
                self._file.close()
                self._file = None


def new_part(parts: str | Path) -> Path:
    """A part file of its own for this process, in the run's parts directory."""
    return Path(parts) / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.ndjson"


def parts_dir(snapshot: str | Path) -> Path:
    """Where the processes of a recording run write their parts: beside the snapshot, so that
    a killed run leaves them for --resume, and the final rename stays on one file system."""
    p = Path(snapshot)
    return p.with_name(p.name + ".parts")


def _part_blocks(part: Path) -> Iterator[tuple[bytes, int]]:
    """A part's whole lines, in blocks of many (with the number of lines in each): only its last
    line can be torn (a process killed mid-write), and it is dropped."""
    with part.open("rb") as f:
        rest = b""
        while block := f.read(_CHUNK):
            block = rest + block
            cut = block.rfind(b"\n") + 1
            rest = block[cut:]
            if cut:
                yield block[:cut], block.count(b"\n", 0, cut)


def _snapshot_blocks(path: Path) -> Iterator[tuple[bytes, int]]:
    """The entries of a whole snapshot (SnapshotError if it is not), in blocks of lines."""
    lines: list[bytes] = []
    for line in read_lines(path).entries():
        lines.append(line)
        if len(lines) == 4096:
            yield b"\n".join(lines) + b"\n", len(lines)
            lines.clear()
    if lines:
        yield b"\n".join(lines) + b"\n", len(lines)


def write_snapshot(
    path: str | Path, header: dict[str, Any], parts: str | Path, carry: bool = False
) -> int:
    """Join the parts into the snapshot ``path`` (with ``carry``: after the answers of the
    snapshot already there, which a resumed run continues). Written to a temporary file and
    renamed, so a snapshot is whole or absent. Returns the number of answers."""
    path = Path(path)
    parts = Path(parts)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with open(tmp, "wb") as raw:
            # level 4: within ~10% of level 6's size at twice its speed, for the run's last step
            gz = zlib.compressobj(4, zlib.DEFLATED, 31)
            raw.write(gz.compress(orjson.dumps(header) + b"\n"))
            sources: list[Iterator[tuple[bytes, int]]] = []
            if carry and path.exists():
                sources.append(_snapshot_blocks(path))
            for part in sorted(parts.glob("*.ndjson")) if parts.is_dir() else ():
                sources.append(_part_blocks(part))
            for blocks in sources:
                for block, n in blocks:
                    raw.write(gz.compress(block))
                    count += n
            raw.write(gz.compress(orjson.dumps({"end": {"answers": count}}) + b"\n"))
            raw.write(gz.flush())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SnapshotError(
            f"{path}: cannot write the DNS snapshot: {exc.strerror or exc}"
        ) from exc
    shutil.rmtree(parts, ignore_errors=True)
    return count


# --------------------------------------------------------------------------------------------
# reading


class _Lines:
    """A snapshot's lines, decompressed as they are read; the header is read at once. Close it
    (or read it to the end) to close the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._f: BinaryIO = path.open("rb")
        except OSError as exc:
            raise SnapshotError(f"{path}: {exc.strerror or exc}") from None
        self._gz = zlib.decompressobj(31)
        self._stream: Generator[bytes, None, None] = self._read()
        try:
            self.header = self._header(next(self._stream, None))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._stream.close()
        self._f.close()

    def _fail(self, why: str) -> SnapshotError:
        return SnapshotError(f"{self.path}: {why}")

    def _read(self) -> Generator[bytes, None, None]:
        try:
            yield from self._decompressed()
        finally:
            self._f.close()

    def _decompressed(self) -> Iterator[bytes]:
        rest = b""
        first = True
        while True:
            chunk = self._f.read(_CHUNK)
            if first:
                first = False
                if not chunk.startswith(b"\x1f\x8b"):
                    raise self._fail("not a bulkauth DNS snapshot (not gzip data)")
            if not chunk:
                break
            try:
                data = self._gz.decompress(chunk)
            except zlib.error as exc:
                raise self._fail(f"the DNS snapshot is corrupt ({exc})") from None
            if self._gz.unused_data:
                raise self._fail("the DNS snapshot has data after its end")
            lines = (rest + data).split(b"\n")
            rest = lines.pop()
            yield from lines
        if not self._gz.eof:
            raise self._fail(
                "the DNS snapshot is cut off (its compressed data ends early: "
                "the recording run did not finish writing it)"
            )
        if rest:
            yield rest

    def _header(self, first: bytes | None) -> dict[str, Any]:
        try:
            header = orjson.loads(first) if first else None
        except orjson.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or "format" not in header:
            raise self._fail("not a bulkauth DNS snapshot (no snapshot header)")
        if header["format"] != FORMAT:
            raise self._fail(
                f"a DNS snapshot of format {header['format']!r} (written by bulkauth "
                f"{header.get('bulkauth', '?')}); this bulkauth reads {FORMAT}"
            )
        return header

    def entries(self) -> Iterator[bytes]:
        """The entry lines (without their newline); SnapshotError if the file does not end with
        its end line and the count it gives."""
        count = 0
        for line in self._stream:
            if line.startswith(b'{"end":'):
                try:
                    end = orjson.loads(line)["end"]["answers"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    end = None
                if end != count or next(self._stream, None) is not None:
                    raise SnapshotError(
                        f"{self.path}: the DNS snapshot's end line says {end} answers, "
                        f"{count} were read"
                    )
                return
            count += 1
            yield line
        raise SnapshotError(
            f"{self.path}: the DNS snapshot is cut off after {count:,} answers (no end line: "
            "the recording run did not finish writing it)"
        )


def read_lines(path: str | Path) -> _Lines:
    return _Lines(Path(path))


_PREFIX = b'{"name":"'
_GOOD = frozenset({b"NOERROR", b"NXDOMAIN"})
_TYPE_BYTES = {t: t.name.encode() for t in RType}
_KNOWN_TYPES = frozenset(_TYPE_BYTES.values())
_KNOWN_RCODES = frozenset(r.value.encode() for r in Rcode)


def _key_of(line: bytes) -> tuple[bytes, bytes, bytes]:
    """(name, type, rcode) of an entry line, read off its fixed start (``entry_line`` writes
    name, type and rcode first) without parsing the rest: a million lines load in seconds
    because only the answers a replay asks for are ever parsed. A name with a JSON escape in
    it goes through the parser."""
    if line.startswith(_PREFIX):
        end = line.find(b'","type":"', 9)
        if end > 0:
            name = line[9:end]
            t_end = line.find(b'","rcode":"', end + 10)
            if t_end > 0 and b"\\" not in name:
                r_end = line.find(b'"', t_end + 11)
                return name, line[end + 10 : t_end], line[t_end + 11 : r_end]
    d = orjson.loads(line)
    return str(d["name"]).encode(), str(d["type"]).encode(), str(d["rcode"]).encode()


class Snapshot:
    """A loaded snapshot: its header, and for each question the entry line of the answer to
    give (see the module doc), parsed when first asked for."""

    __slots__ = ("_answers", "_lines", "entries", "header", "path")

    def __init__(
        self,
        path: str,
        header: dict[str, Any],
        lines: dict[tuple[bytes, bytes], bytes],
        entries: int,
    ) -> None:
        self.path = path
        self.header = header
        self._lines = lines
        self._answers: dict[Query, Answer] = {}
        #: entries in the file (retries and repeated questions included)
        self.entries = entries

    def __len__(self) -> int:
        """The questions it answers."""
        return len(self._lines)

    @classmethod
    def load(cls, path: str | Path) -> Snapshot:
        lines = read_lines(path)
        chosen: dict[tuple[bytes, bytes], bytes] = {}
        good: set[tuple[bytes, bytes]] = set()
        n = 1
        gc_was_on = gc.isenabled()
        gc.disable()  # a million new objects and no cycles among them: no collection passes
        try:
            for n, line in enumerate(lines.entries(), 2):  # noqa: B007 - n names a bad line
                name, rtype, rcode = _key_of(line)
                if rtype not in _KNOWN_TYPES or rcode not in _KNOWN_RCODES:
                    raise ValueError(f"type {rtype!r} or rcode {rcode!r} unknown")
                key = (name, rtype)
                if rcode in _GOOD:
                    chosen[key] = line  # the last good answer is the one the run went on with
                    good.add(key)
                elif key not in good:
                    chosen[key] = line
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(
                f"{lines.path}: line {n} of the DNS snapshot is not an answer ({exc})"
            ) from None
        finally:
            lines.close()
            if gc_was_on:
                gc.enable()
        return cls(str(path), lines.header, chosen, n - 1)

    def answer(self, q: Query) -> Answer | None:
        """The recorded answer to ``q`` (None: the run never asked it); ValueError for an entry
        that is not an answer after all."""
        answer = self._answers.get(q)
        if answer is not None:
            return answer
        line = self._lines.get((q.name.encode(), _TYPE_BYTES[q.rtype]))
        if line is None:
            return None
        try:
            _, answer = parse_entry(orjson.loads(line))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"the DNS snapshot's entry for {q.name} {q.rtype.name}: {exc}"
            ) from None
        self._answers[q] = answer
        return answer

    def describe(self) -> str:
        """For the run's summary."""
        h = self.header
        run = h.get("run") or {}
        return (
            f"{len(self):,} questions ({self.entries:,} answers) from {self.path}, "
            f"recorded {h.get('created', '?')} by bulkauth {h.get('bulkauth', '?')}"
            + (f" ({run.get('command')})" if run.get("command") else "")
        )


class ReplayBackend:
    """The Backend over a loaded snapshot: no socket, no file, only the recorded answers."""

    name = "snapshot"

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    async def query(self, q: Query) -> Answer:
        try:
            answer = self.snapshot.answer(q)
        except ValueError as exc:  # a hand-edited entry: this question's failure, not the run's
            return Answer(Rcode.ERROR, detail=str(exc))
        if answer is None:
            # no file name: a record must not depend on where the snapshot was kept
            return Answer(Rcode.NOTRECORDED, detail="not in the DNS snapshot")
        return answer

    async def aclose(self) -> None:
        return None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
