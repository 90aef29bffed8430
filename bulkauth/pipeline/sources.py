"""Input readers. Streaming: a list of a million domains is never held in memory."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

#: a line longer than this is not a domain name; it is cut and reported, never buffered whole
MAX_LINE_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Item:
    """One input item: where it came from and its text, decoded leniently."""

    source: str
    line: int
    text: str
    #: set when the raw line could not be taken as it was (over-long, not UTF-8)
    defect: str | None = None

    def __reduce__(self) -> tuple[type[Item], tuple[str, int, str, str | None]]:
        # a plain tuple: a frozen dataclass's default pickling costs several times as much,
        # and a run sends every item to a worker process
        return Item, (self.source, self.line, self.text, self.defect)


def _open(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    return open(path, "rb")


def read_domain_list(paths: Sequence[str]) -> Iterator[Item]:
    """Yield one Item per domain line; blank lines and '#' comments are skipped.

    Bytes that are not UTF-8 are kept (as U+FFFD) so the item can be reported, not dropped.
    """
    for path in paths or ["-"]:
        source = "<stdin>" if path == "-" else path
        f = _open(path)
        try:
            yield from _read_lines(f, source, 0)
        finally:
            if f is not sys.stdin.buffer:
                f.close()


def read_domain_ranges(
    path: str, source: str, ranges: Sequence[tuple[int, int, int]]
) -> Iterator[Item]:
    """The items of byte ranges of one list file, each ``(start, end, lines_before)``: a
    range starts at a line, ends at one (``end`` -1: at the end of the file), and ``lines_before`` numbers its lines as the whole file does.
    A shard of a cluster run (bulkauth.cluster) reads its part of a list this way: the same
    items, with the same line numbers, as read_domain_list gives for those lines."""
    with open(path, "rb") as f:
        for start, end, lines_before in ranges:
            f.seek(start)
            part = io.BufferedReader(Window(f, end - start if end >= 0 else sys.maxsize))
            yield from _read_lines(part, source, lines_before)


class Window(io.RawIOBase):
    """At most ``left`` bytes of ``f`` from where it stands (readline stays bounded)."""

    def __init__(self, f: BinaryIO, left: int) -> None:
        self.f = f
        self.left = left

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.f.read(min(len(b), self.left))
        n = len(data)
        b[:n] = data
        self.left -= n
        return n


def _read_lines(f: BinaryIO | io.BufferedReader, source: str, lineno: int) -> Iterator[Item]:
    while True:
        raw = f.readline(MAX_LINE_BYTES + 1)
        if not raw:
            break
        lineno += 1
        defect = None
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            defect = f"line longer than {MAX_LINE_BYTES} bytes"
            while raw and not raw.endswith(b"\n"):  # skip the rest of the line
                raw = f.readline(MAX_LINE_BYTES + 1)
            raw = b""
        text = raw.decode("utf-8", "replace")
        if "\ufffd" in text and defect is None:
            defect = "not valid UTF-8"
        stripped = text.strip()
        if defect is None and (not stripped or stripped.startswith("#")):
            continue
        # an inline comment after the domain: "example.com  # client 42"
        if " #" in stripped or "\t#" in stripped:
            stripped = stripped.split("#", 1)[0].strip()
        yield Item(source, lineno, stripped[:MAX_LINE_BYTES], defect)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def count_items(paths: Sequence[str]) -> int | None:
    """Count items for the progress bar, for regular files only (stdin cannot be read twice)."""
    if not paths or any(p == "-" or not Path(p).is_file() for p in paths):
        return None
    n = 0
    for path in paths:
        with open(path, "rb") as f:
            for raw in f:
                # read_domain_list's rule, without building items: blank and comment lines do
                # not count, unless they are over-long or not UTF-8 (then they are reported)
                line = raw.strip()
                skipped = not line or line.startswith(b"#")
                if not skipped or len(raw.rstrip(b"\n")) > MAX_LINE_BYTES or not _is_utf8(raw):
                    n += 1
    return n
