"""Cutting a run's input into shards, on the driver, without checking anything.

- a domain list: chunks of ``shard_size`` lines (byte ranges cut at line ends);
- spf --input: chunks of at most ``shard_size`` checks grouped by sender domain, as the local
  run routes them to its worker processes, so that a worker's cache holds the SPF trees of
  its senders (a shard's lines are then not contiguous: the driver merges parts by line);
- archives: single-message files (Maildir, .eml) grouped ``shard_size`` to a shard, a
  compressed mbox whole (its offsets are those of the decompressed stream), and an
  uncompressed mbox cut into byte ranges of ``shard_size`` messages at From_ lines.

A piece says where its items are and how many come before them in their source, so that a
worker reading only the piece writes the records (line numbers, message indexes, offsets) a
local run writes for them. The input's fingerprint (every file's size and mtime) lets a
resumed run refuse an input that changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bulkauth.pipeline.archives import (
    Limits,
    is_compressed,
    read_file,
    single_message,
    walk_folder,
)
from bulkauth.pipeline.errors import BadInput
from bulkauth.pipeline.sources import Item
from bulkauth.pipeline.spfcheck import sender_domain


@dataclass(frozen=True, slots=True)
class Piece:
    """A contiguous part of one input file."""

    #: absolute: what a worker opens (its working directory may be another)
    path: str
    #: the input argument as given, and the file as records name it (messages: ``path``)
    source: str
    shown: str
    start: int
    #: -1: to the end of the file
    end: int
    #: lines (lists) or messages (archives) of the source before the piece
    before: int
    #: archives: "maildir" (a Maildir file), "range" (part of an mbox), or "" (a whole file)
    kind: str = ""

    def to_json(self) -> list[Any]:
        return [self.path, self.source, self.shown, self.start, self.end, self.before, self.kind]

    @classmethod
    def from_json(cls, v: list[Any]) -> Piece:
        return cls(str(v[0]), str(v[1]), str(v[2]), int(v[3]), int(v[4]), int(v[5]), str(v[6]))


@dataclass(slots=True)
class Shard:
    number: int
    pieces: list[Piece] = field(default_factory=list)
    #: items cut into it: lines (lists) or messages (archives)
    size: int = 0


Fingerprint = list[list[Any]]


def _stat(path: str) -> list[Any]:
    st = os.stat(path)
    return [path, st.st_size, st.st_mtime_ns]


def _files(paths: Sequence[str]) -> list[tuple[str, str]]:
    """(as given, absolute) for each input file; stdin cannot be cut, nor read twice."""
    out = []
    for p in paths:
        if p == "-":
            raise BadInput("--cluster reads its inputs on the workers: give files, not '-'")
        out.append((p, os.path.abspath(p)))
    if len({a for _, a in out}) != len(out):
        raise BadInput("--cluster: give each input once")
    return out


def _lines(path: str) -> Iterator[tuple[int, int]]:
    """(offset, length) of each line (the last may lack its newline)."""
    offset = 0
    with open(path, "rb") as f:
        for raw in f:
            yield offset, len(raw)
            offset += len(raw)


def cut_list(paths: Sequence[str], shard_size: int) -> tuple[list[Shard], Fingerprint]:
    """A domain list: one piece of ``shard_size`` lines a shard."""
    shards: list[Shard] = []
    prints = []
    for given, path in _files(paths):
        prints.append(_stat(path))
        start = lines = before = 0
        for offset, length in _lines(path):
            lines += 1
            if lines - before == shard_size:
                shards.append(
                    _one(len(shards), path, given, start, offset + length, before, shard_size)
                )
                start, before = offset + length, lines
        if lines > before:
            shards.append(_one(len(shards), path, given, start, -1, before, lines - before))
    return shards, prints


def _one(n: int, path: str, given: str, start: int, end: int, before: int, size: int) -> Shard:
    return Shard(n, [Piece(path, given, given, start, end, before)], size)


def cut_checks(paths: Sequence[str], shard_size: int) -> tuple[list[Shard], Fingerprint]:
    """spf --input: the checks of a sender domain together. A first pass counts each
    domain's checks; whole domains then fill the shards in order of first appearance, a
    domain split only where it does not fit (so one of n checks spans at most
    n // shard_size + 2 shards); a second pass puts each line in its domain's shard."""
    files = _files(paths)
    counts: dict[str, int] = {}
    for given, path in files:
        for lineno, (_, _, text) in enumerate(_lines_with(path), 1):
            domain = sender_domain(Item(given, lineno, text))
            counts[domain] = counts.get(domain, 0) + 1
    shards: list[Shard] = []
    room = 0
    # per domain: [shard number, checks it takes] in order
    places: dict[str, list[list[int]]] = {}
    for domain, n in counts.items():
        while n:
            if room == 0:
                shards.append(Shard(len(shards)))
                room = shard_size
            take = min(n, room)
            places.setdefault(domain, []).append([len(shards) - 1, take])
            shards[-1].size += take
            room -= take
            n -= take
    prints = []
    for given, path in files:
        prints.append(_stat(path))
        for lineno, (start, end, text) in enumerate(_lines_with(path), 1):
            place = places[sender_domain(Item(given, lineno, text))]
            shard = shards[place[0][0]]
            place[0][1] -= 1
            if place[0][1] == 0:
                place.pop(0)
            last = shard.pieces[-1] if shard.pieces else None
            if last is not None and last.path == path and last.end == start:
                # the next line of the same file: one piece
                shard.pieces[-1] = Piece(path, given, given, last.start, end, last.before)
            else:
                shard.pieces.append(Piece(path, given, given, start, end, lineno - 1))
    return shards, prints


def _lines_with(path: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, stripped text) of each line."""
    offset = 0
    with open(path, "rb") as f:
        for raw in f:
            end = offset + len(raw)
            yield offset, end, raw[:4096].decode("utf-8", "replace").strip()
            offset = end


def cut_archives(
    paths: Sequence[str], shard_size: int, limits: Limits
) -> tuple[list[Shard], Fingerprint]:
    """Archives: see the module's notes. Reads every mbox once (to find its From_ lines and
    count its messages: indexes run on across the files of a folder)."""
    shards: list[Shard] = []
    prints = []
    group: Shard | None = None

    def new() -> Shard:
        shards.append(Shard(len(shards)))
        return shards[-1]

    for given, _ in _files(paths):
        files = walk_folder(given) if os.path.isdir(given) else iter([(given, None)])
        count = 0  # messages of this source so far: the next one's index is count + 1
        for shown, kind in files:
            path = os.path.abspath(shown)
            prints.append(_stat(path))
            if kind == "maildir" or single_message(path):
                if group is None or group.size >= shard_size:
                    group = new()
                group.pieces.append(Piece(path, given, shown, 0, -1, count, kind or ""))
                group.size += 1
                count += 1
                continue
            group = None  # an mbox's shards are its own: keep the small files' order
            if is_compressed(path):
                n = sum(1 for _ in read_file(path, given, limits, kind, 0))
                shard = new()
                shard.pieces.append(Piece(path, given, shown, 0, -1, count, ""))
                shard.size = n
                count += n
                continue
            offsets = [it.offset or 0 for it in read_file(path, given, limits, kind, 0)]
            for k in range(0, len(offsets), shard_size):
                end = offsets[k + shard_size] if k + shard_size < len(offsets) else -1
                shard = new()
                shard.pieces.append(Piece(path, given, shown, offsets[k], end, count + k, "range"))
                shard.size = min(shard_size, len(offsets) - k)
            count += len(offsets)
    return shards, prints
