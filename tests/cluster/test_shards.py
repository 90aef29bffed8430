"""Cutting inputs into shards (no Dask needed): the pieces read back give exactly the items
of the whole input, with the same line numbers, indexes and offsets."""

from __future__ import annotations

import gzip
from pathlib import Path

from bench.mailgen import generate
from bulkauth.cluster.shards import cut_archives, cut_checks, cut_list
from bulkauth.cluster.task import ShardTask, _items
from bulkauth.pipeline.archives import Limits, read_sources
from bulkauth.pipeline.config import RunConfig
from bulkauth.pipeline.messages import MessageOptions, _base
from bulkauth.pipeline.sources import read_domain_list
from bulkauth.pipeline.spfcheck import sender_domain
from tests.cluster.kit import DATA, check_file


def test_a_list_cut_in_chunks_reads_back_whole(tmp_path: Path) -> None:
    lst = tmp_path / "d.txt"
    # a long line, a line that is not UTF-8, comments, no newline at the end
    lst.write_bytes(
        (DATA / "domains.txt").read_bytes() + b"x" * 5000 + b"\n\xff.example\n# c\nlast.example"
    )
    shards, prints = cut_list([str(lst)], 7)
    assert all(s.size == 7 for s in shards[:-1]) and prints[0][0] == str(lst.resolve())
    items = [it for s in shards for it in _items(ShardTask("domains", s, RunConfig(), ""))]
    assert items == list(read_domain_list([str(lst)]))


def test_checks_are_grouped_by_sender_domain(tmp_path: Path) -> None:
    checks = check_file(tmp_path / "c.txt", 500)
    shards, _ = cut_checks([str(checks)], 40)
    assert all(s.size <= 40 for s in shards)
    got = {s.number: list(_items(ShardTask("spf", s, RunConfig(), ""))) for s in shards}
    every = list(read_domain_list([str(checks)]))
    assert sorted(i.line for v in got.values() for i in v) == [i.line for i in every]
    # a domain's checks are in as few shards as its count allows
    for domain in {sender_domain(i) for i in every}:
        n = sum(1 for i in every if sender_domain(i) == domain)
        holding = [k for k, v in got.items() if any(sender_domain(i) == domain for i in v)]
        assert len(holding) <= n // 40 + 2, domain


def test_archives_cut_into_files_and_mbox_ranges(tmp_path: Path) -> None:
    generate(tmp_path, messages=30, seed=2, authors=3)
    mbox = tmp_path / "mail.mbox"
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "x.mbox.gz").write_bytes(gzip.compress(mbox.read_bytes()))
    (folder / "y.mbox").write_bytes(mbox.read_bytes())
    paths = [str(folder), str(mbox)]
    opts = MessageOptions()
    shards, _ = cut_archives(paths, 4, opts.limits)
    assert [p.kind for p in shards[0].pieces] == [""]  # the gzipped mbox, whole
    assert all(p.kind == "range" for s in shards[1:] for p in s.pieces)
    got = [
        _base(it) for s in shards for it in _items(ShardTask("messages", s, RunConfig(), "", opts))
    ]
    assert got == [_base(it) for it in read_sources(paths, Limits())]
