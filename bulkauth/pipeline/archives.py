"""Mail archive readers: mbox (plain, .gz, .bz2, .xz), Maildir, folders of .eml, one .eml, stdin.

Everything streams: an mbox is scanned in fixed-size chunks and only the message being cut out is
held, so memory stays flat whatever the archive's size. Every message becomes exactly one
``MessageItem`` that says where it is (the file, and the byte offset of its ``From `` line in an
mbox, counted in the decompressed stream), including the ones that cannot be used: a message over
the size cap, a file that cannot be read, a compressed stream that is corrupt or expands like a
decompression bomb. Those carry an error code instead of bytes, so the pipeline writes a record
for them too.

mbox conventions: a message starts at a ``From `` line at the start of the file or after an empty
line, or at any ``From `` line shaped like a real separator (``From sender Mon Jan  1 ...``).
``>From `` quoting is undone the mboxrd way (one ``>`` removed from ``>+From `` lines); for an
mboxo file that held a literal ``>From `` line this differs by one character, which only the DKIM
body hash can notice.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import sys
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal, cast

from bulkauth.pipeline.sources import Window

Kind = Literal["mbox", "maildir", "eml"]

#: default cap of one message; bigger ones become an error record without being held in memory
MAX_MESSAGE_BYTES = 50 * 1024 * 1024
#: a compressed stream is a bomb when it has expanded past BOMB_MIN_BYTES at a ratio above
#: BOMB_RATIO (mail compresses 3-20x; gzip tops out near 1032x, bzip2 and xz go much further)
BOMB_MIN_BYTES = 256 * 1024 * 1024
BOMB_RATIO = 200
_CHUNK = 1024 * 1024
_MAGIC = {b"\x1f\x8b": "gz", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz"}
_MBOX_SUFFIXES = (".mbox", ".mbx")
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")
#: a From_ line as mbox writers make it: "From <sender> <asctime date>"
_FROM_LINE = re.compile(
    rb"From \S* +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) +(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
)
_MBOXRD_QUOTED = re.compile(rb"^>(>*From )", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Limits:
    max_message: int = MAX_MESSAGE_BYTES
    bomb_min: int = BOMB_MIN_BYTES
    bomb_ratio: float = BOMB_RATIO


@dataclass(slots=True)
class MessageItem:
    """One message (or one unusable piece of an archive) and where it is."""

    source: str  # the input argument as given, "<stdin>" for '-'
    path: str  # the file holding the message
    kind: Kind
    index: int  # 1-based position within the source
    offset: int | None  # mbox: byte offset of the From_ line (decompressed stream)
    size: int
    data: bytes | None = None
    error_code: str | None = None
    error_message: str | None = None


class ArchiveError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Counting(io.RawIOBase):
    """Counts the compressed bytes read, for the bomb check."""

    def __init__(self, inner: BinaryIO | io.RawIOBase) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(len(b)) or b""
        n = len(data)
        b[:n] = data
        self.count += n
        return n


class _Stream:
    """A (possibly decompressed) byte stream that refuses to expand like a bomb and maps
    decompression errors to ArchiveError."""

    def __init__(self, raw: BinaryIO, limits: Limits, prefix: bytes = b"") -> None:
        self.limits = limits
        self._prefix = prefix
        self.compressed: str | None = None
        self._counter: _Counting | None = None
        self.out = 0
        head = prefix if prefix else _peek(raw)
        self.compressed = next(
            (kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None
        )
        self._inner: io.BufferedIOBase | BinaryIO
        if self.compressed is None:
            self._inner = raw
        else:
            counter = _Counting(_Prefixed(prefix, raw) if prefix else raw)
            self._counter = counter
            buffered = io.BufferedReader(counter, _CHUNK)
            if self.compressed == "gz":
                self._inner = gzip.GzipFile(fileobj=buffered, mode="rb")
            elif self.compressed == "bz2":
                self._inner = bz2.BZ2File(buffered, "rb")
            else:
                self._inner = lzma.LZMAFile(buffered, "rb")  # noqa: SIM115 - lives with the stream
            self._prefix = b""

    def read(self, n: int) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix[:n], self._prefix[n:]
            if len(data) < n:
                data += self._inner.read(n - len(data))
        else:
            try:
                # read1 on a compressed stream: what one decompression step gives, so that a
                # truncated archive loses at most that much before the error
                if isinstance(self._inner, io.BufferedIOBase):
                    data = self._inner.read1(n)
                else:
                    data = self._inner.read(n)
            except (EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
                raise ArchiveError(
                    "input.corrupt_archive",
                    f"the {self.compressed or ''} stream is corrupt or truncated: {exc}",
                ) from None
        self.out += len(data)
        if self._counter is not None and self.out > self.limits.bomb_min:
            ratio = self.out / max(self._counter.count, 1)
            if ratio > self.limits.bomb_ratio:
                raise ArchiveError(
                    "input.decompression_bomb",
                    f"{self._counter.count} compressed bytes expanded to {self.out} "
                    f"(ratio {ratio:.0f} > {self.limits.bomb_ratio:g}); stopped reading",
                )
        return data


class _Prefixed(io.RawIOBase):
    """Bytes already peeked from a non-seekable stream, then the stream."""

    def __init__(self, prefix: bytes, inner: BinaryIO) -> None:
        self.prefix = prefix
        self.inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.prefix:
            n = min(len(b), len(self.prefix))
            b[:n] = self.prefix[:n]
            self.prefix = self.prefix[n:]
            return n
        data = self.inner.read(len(b))
        b[: len(data)] = data
        return len(data)


def _peek(f: BinaryIO) -> bytes:
    peek = getattr(f, "peek", None)
    if peek is not None:
        return bytes(peek(8)[:8])
    return b""


# --------------------------------------------------------------------------------------------
# mbox


def _is_separator(buf: bytes | bytearray, line_start: int) -> bool:
    """A "From " line at ``line_start`` starts a new message: after an empty line, or shaped
    like a real From_ line."""
    before = buf[max(0, line_start - 3) : line_start]
    if before.endswith(b"\n\n") or before.endswith(b"\n\r\n"):
        return True
    return _FROM_LINE.match(buf, line_start) is not None


def _message_bytes(chunk: bytes) -> bytes:
    """A message cut out of an mbox: without its From_ line and the separating empty line,
    with mboxrd quoting undone."""
    nl = chunk.find(b"\n")
    body = chunk[nl + 1 :] if nl != -1 else b""
    if body.endswith(b"\r\n\r\n"):
        body = body[:-2]
    elif body.endswith(b"\n\n"):
        body = body[:-1]
    if b">From " in body:
        body = _MBOXRD_QUOTED.sub(rb"\1", body)
    return body


def read_mbox(
    stream: _Stream, source: str, path: str, limits: Limits, first: bytes = b""
) -> Iterator[MessageItem]:
    """Cut an mbox stream into messages, holding at most one message plus one chunk.

    A message over the cap is not held: from the moment it passes the cap only a short tail is
    kept (to find the next separator), and it becomes an error item with its full size.
    """
    buf = bytearray(first)
    buf_base = 0  # stream offset of buf[0]
    msg_start = 0  # index in buf of the current message's From_ line (unless oversized)
    msg_offset = 0  # stream offset of the current message's From_ line
    oversized = False
    scan = 0
    pending: int | None = None  # a "From " line seen but not yet complete in buf
    eof = False
    index = 0

    def item(end: int) -> MessageItem:
        nonlocal index
        index += 1
        size = buf_base + end - msg_offset
        if oversized or size > limits.max_message:
            return MessageItem(
                source,
                path,
                "mbox",
                index,
                msg_offset,
                size,
                error_code="input.message_too_large",
                error_message=f"the message is {size} bytes; the cap is {limits.max_message}",
            )
        data = _message_bytes(bytes(buf[msg_start:end]))
        return MessageItem(source, path, "mbox", index, msg_offset, size, data)

    while True:
        hit = buf.find(b"\nFrom ", scan)
        if hit != -1:
            line_start = hit + 1
            if not eof and buf.find(b"\n", line_start) == -1 and len(buf) - line_start < 1024:
                pending = hit  # decide with the whole line in hand
            elif _is_separator(buf, line_start):
                yield item(line_start)
                oversized = False
                msg_start, msg_offset = line_start, buf_base + line_start
                scan = line_start + 1
                if msg_start > _CHUNK:  # forget what has been written out
                    del buf[:msg_start]
                    buf_base += msg_start
                    scan -= msg_start
                    msg_start = 0
                continue
            else:
                scan = hit + 1
                continue
        if eof:
            if buf_base + len(buf) > msg_offset:
                yield item(len(buf))
            return
        # no separator in what is held: the current message goes on
        if not oversized and len(buf) - msg_start > limits.max_message:
            oversized = True
        if oversized and len(buf) > 4096 and pending is None:
            # keep only a tail, enough to see a separator that straddles the next chunk
            cut = len(buf) - 1024
            del buf[:cut]
            buf_base += cut
            msg_start = 0
        scan = max(0 if oversized else msg_start, len(buf) - 6)
        if pending is not None:
            scan, pending = min(scan, pending), None
        try:
            data = stream.read(_CHUNK)
        except ArchiveError as exc:
            if buf_base + len(buf) > msg_offset:
                yield item(len(buf))
            index += 1
            yield MessageItem(
                source,
                path,
                "mbox",
                index,
                buf_base + len(buf),
                0,
                error_code=exc.code,
                error_message=str(exc),
            )
            return
        if not data:
            eof = True
            continue
        buf += data


def read_mbox_range(
    path: str, source: str, start: int, end: int, limits: Limits, index_before: int
) -> Iterator[MessageItem]:
    """The messages of bytes ``start`` to ``end`` of an uncompressed mbox, a range that begins
    at a From_ line and ends at one (or at the end of the file: ``end`` -1): the same items, offsets and
    indexes as reading the whole file gives for them (``index_before``: the messages before
    the range). A shard of a cluster run (bulkauth.cluster) reads its part of a large mbox so.
    """
    with open(path, "rb") as f:
        f.seek(start)
        window = io.BufferedReader(Window(f, end - start if end >= 0 else sys.maxsize), _CHUNK)
        for it in read_mbox(_Stream(cast(BinaryIO, window), limits), source, path, limits):
            if it.offset is not None:
                it.offset += start
            it.index += index_before
            yield it


# --------------------------------------------------------------------------------------------
# single files, Maildir, folders


def _read_capped(stream: _Stream, limits: Limits) -> tuple[bytes, int]:
    """Up to the cap; beyond it, count the rest without keeping it."""
    parts: list[bytes] = []
    size = 0
    while True:
        data = stream.read(_CHUNK)
        if not data:
            break
        size += len(data)
        if size <= limits.max_message:
            parts.append(data)
        elif parts:
            parts = []
    return (b"".join(parts) if size <= limits.max_message else b""), size


def _open_stream(f: BinaryIO, limits: Limits) -> _Stream:
    return _Stream(f, limits)


def read_file(
    path: str, source: str, limits: Limits, kind: Kind | None = None, index_start: int = 0
) -> Iterator[MessageItem]:
    """One file: an mbox (by its first bytes: ``From ``) or a single message, compressed or not."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed in finally, the generator may be abandoned
    except OSError as exc:
        yield MessageItem(
            source,
            path,
            kind or "eml",
            index_start + 1,
            None,
            0,
            error_code="input.unreadable",
            error_message=str(exc),
        )
        return
    try:
        yield from _read_stream(f, source, path, limits, kind, index_start)
    finally:
        f.close()


def _head(stream: _Stream) -> bytes:
    """The first 5 bytes (fewer at the end): enough to tell an mbox's ``From `` line."""
    head = b""
    while len(head) < 5:
        more = stream.read(5 - len(head))
        if not more:
            break
        head += more
    return head


def _read_stream(
    f: BinaryIO, source: str, path: str, limits: Limits, kind: Kind | None, index_start: int
) -> Iterator[MessageItem]:
    try:
        stream = _open_stream(f, limits)
        head = _head(stream)
    except ArchiveError as exc:
        yield MessageItem(
            source,
            path,
            kind or "eml",
            index_start + 1,
            None,
            0,
            error_code=exc.code,
            error_message=str(exc),
        )
        return
    except OSError as exc:
        yield MessageItem(
            source,
            path,
            kind or "eml",
            index_start + 1,
            None,
            0,
            error_code="input.unreadable",
            error_message=str(exc),
        )
        return
    if head == b"From " and kind != "maildir":
        for it in read_mbox(stream, source, path, limits, head):
            it.index += index_start
            yield it
        return
    kind = kind or "eml"
    try:
        rest, size = _read_capped(stream, limits)
    except ArchiveError as exc:
        yield MessageItem(
            source,
            path,
            kind,
            index_start + 1,
            None,
            0,
            error_code=exc.code,
            error_message=str(exc),
        )
        return
    except OSError as exc:
        yield MessageItem(
            source,
            path,
            kind,
            index_start + 1,
            None,
            0,
            error_code="input.unreadable",
            error_message=str(exc),
        )
        return
    size += len(head)
    if size > limits.max_message:
        yield MessageItem(
            source,
            path,
            kind,
            index_start + 1,
            None,
            size,
            error_code="input.message_too_large",
            error_message=f"the message is {size} bytes; the cap is {limits.max_message}",
        )
        return
    yield MessageItem(source, path, kind, index_start + 1, None, size, head + rest)


def _archive_file(name: str) -> bool:
    low = name.lower()
    for suffix in _COMPRESSED_SUFFIXES:
        low = low.removesuffix(suffix)
    return low.endswith(".eml") or low.endswith(_MBOX_SUFFIXES) or low in ("mbox", "inbox")


def walk_folder(root: str) -> Iterator[tuple[str, Kind | None]]:
    """The message files under a folder, in a stable order: Maildir ``cur``/``new`` files (of the
    folder and of any Maildir below it), ``*.eml`` and mbox files (``*.mbox``, ``*.mbx``,
    ``mbox``, ``Inbox``, each also compressed). Maildir ``tmp`` and other files are skipped."""
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            continue
        maildir = any(e.name in ("cur", "new") and e.is_dir() for e in entries)
        subdirs = []
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                if maildir and e.name in ("cur", "new"):
                    try:
                        for m in sorted(os.scandir(e.path), key=lambda x: x.name):
                            if m.is_file() and not m.name.startswith("."):
                                yield m.path, "maildir"
                    except OSError:
                        continue
                elif maildir and e.name == "tmp":
                    continue  # messages still being delivered
                else:
                    subdirs.append(e.path)
            elif e.is_file() and _archive_file(e.name):
                yield e.path, None
        stack.extend(reversed(subdirs))


def read_sources(paths: Sequence[str], limits: Limits | None = None) -> Iterator[MessageItem]:
    """Every message of every input, in order. ``-`` (or no path) is stdin."""
    lim = limits or Limits()
    for p in paths or ["-"]:
        if p == "-":
            yield from _read_stream(_stdin(), "<stdin>", "<stdin>", lim, None, 0)
            continue
        if os.path.isdir(p):
            count = 0
            for file, kind in walk_folder(p):
                for it in read_file(file, p, lim, kind, count):
                    count = it.index
                    yield it
            continue
        yield from read_file(p, p, lim)


def _stdin() -> BinaryIO:
    buf = sys.stdin.buffer
    if not hasattr(buf, "peek"):
        return cast(BinaryIO, io.BufferedReader(cast(Any, buf)))
    return buf


def _single_message(path: str) -> bool:
    """Whether ``read_file`` takes ``path`` as one message (or one error), not as an mbox:
    the same look at its first bytes."""
    try:
        with open(path, "rb") as f:
            head = _head(_open_stream(f, Limits()))
    except (OSError, ArchiveError):
        return True  # read_file makes one error item of it
    return head != b"From "


def is_compressed(path: str) -> bool:
    """Whether a file is gzip, bzip2 or xz (by its first bytes): its offsets are those of the
    decompressed stream, so it cannot be cut into byte ranges."""
    with open(path, "rb") as f:
        head = f.read(8)
    return any(head.startswith(magic) for magic in _MAGIC)


def single_message(path: str) -> bool:
    """Whether ``read_file`` takes ``path`` as one message (or one error), not as an mbox."""
    return _single_message(path)


def count_messages(paths: Sequence[str]) -> int | None:
    """How many items a run will have, when that is cheap to know: Maildirs, .eml files and
    folders of them. None for stdin and for any mbox (counting means reading it)."""
    if not paths:
        return None
    total = 0
    for p in paths:
        if p == "-":
            return None
        files = walk_folder(p) if os.path.isdir(p) else iter([(p, None)])
        for file, kind in files:
            if kind != "maildir" and not _single_message(file):
                return None
            total += 1
    return total
