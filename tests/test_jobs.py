"""Sharding over worker processes writes exactly what one process writes."""

from __future__ import annotations

from pathlib import Path

from test_domains_cli import DATA, bulkauth

from bulkauth.dns.resolver import ResolverConfig
from bulkauth.pipeline.config import RunConfig
from bulkauth.pipeline.jobs import choose_workers, share


def test_two_workers_write_the_same_records_in_the_same_order(tmp_path: Path) -> None:
    lines = [ln for ln in (DATA / "domains.txt").read_text().splitlines() if ln.strip()]
    big = tmp_path / "list.txt"
    big.write_text("\n".join(lines * 7) + "\n")  # several batches per worker, a partial last one
    one = bulkauth("domains", str(big), "--zones", "data/zones", "--no-progress", "--workers", "1")
    two = bulkauth("domains", str(big), "--zones", "data/zones", "--no-progress", "--workers", "2")
    assert one.stdout.count(b"\n") == 7 * len([ln for ln in lines if not ln.startswith("#")])
    assert two.stdout == one.stdout
    assert b"queries sent" in two.stderr


def test_limits_are_split_between_workers() -> None:
    cfg = RunConfig(resolver=ResolverConfig(qps=100, concurrency=50, retry_budget=1000))
    part = share(cfg, 2).resolver
    assert (part.qps, part.concurrency, part.retry_budget) == (50, 25, 500)
    assert cfg.resolver.qps == 100  # the caller's config is not changed


def test_default_workers() -> None:
    assert choose_workers(None, 100) == 1
    assert choose_workers(3, 100) == 3
    assert choose_workers(None, None) >= 1
