"""Sharding over worker processes writes exactly what one process writes."""

from __future__ import annotations

from pathlib import Path

from bulkauth.dns.resolver import ResolverConfig
from bulkauth.pipeline.config import RunConfig
from bulkauth.pipeline.jobs import BATCH, _Router, choose_workers, share
from tests.cli.test_domains_cli import DATA, bulkauth


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


def test_spf_checks_routed_by_sender_domain_write_what_one_process_writes(
    tmp_path: Path,
) -> None:
    checks = [
        "198.51.100.7 a@good1.example",
        "192.0.2.200 b@toomany.example",
        "203.0.113.9 c@good1.example",
        "192.0.2.98 d@macros.example",
        "not a check",
        "1.2.3.4 <> mx1.toomany.example",
    ]
    path = tmp_path / "checks.txt"
    path.write_text("\n".join(checks * 60) + "\n")  # several batches, uneven per worker
    args = ("spf", "--input", str(path), "--zones", "data/zones", "--no-progress")
    one = bulkauth(*args, "--workers", "1")
    two = bulkauth(*args, "--workers", "2")
    assert one.stdout.count(b"\n") == 360
    assert two.stdout == one.stdout


def test_router_keeps_a_key_on_one_worker_but_not_a_core_idle() -> None:
    r = _Router(2, key=lambda item: item)
    # a steady mix: each key always lands on the same worker
    picks = {k: {r.pick(k) for _ in range(20)} for k in ("a.example", "b.example", "c.example")}
    assert all(len(ws) == 1 for ws in picks.values())
    # one domain that is the whole input: once its worker is a batch ahead, the other takes some
    r = _Router(2, key=lambda item: item)
    ws = [r.pick("big.example") for _ in range(10 * BATCH)]
    assert ws.count(0) > 0 and ws.count(1) > 0
    assert abs(r.load[0] - r.load[1]) <= BATCH + 1
