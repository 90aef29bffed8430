"""A cluster run against a local run on this machine (issue 18): `--cluster local:2` (a Dask
LocalCluster of 2 worker processes) against the plain local run, which already uses both
cores with its own worker processes.

    python -m bench.cluster --domains 10000 --messages 4000 --rounds 2   # make bench
    python -m bench.cluster --domains 2000 --messages 1000 --rounds 1    # a quicker look

Figures, in one run, alternating local and cluster in each round (the machine is noisy):
- domains/s: `domains` over the synthetic world (bench/synth.py) served by NSD on loopback;
- messages/s: `messages` over a signed mbox (bench/mailgen.py) with --zones;
- per-shard overhead: the same 1,000 domains as 100 shards of 10 against 2 shards of 500
  (both keep the 2 workers busy): the worker-seconds each extra shard costs;
- start-up: a 10-line list, local against local:2 (the cluster's processes and imports).
Every cluster output is checked to equal the local output byte for byte.

One machine can only show what the cluster costs, not what it gains: the gain is more
machines (bench/README.md says what N machines are expected to do, and why).

Results: a table on stdout and bench/results/<date>-cluster.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import synth
from bench.mailgen import generate as generate_mail
from bench.nsd import Nsd, ensure_tools
from bench.run import HERE, ROOT, log, machine_info

#: NSD for this bench only (bench.run's default, 127.0.0.20, may be another bench's)
ADDRESS, PORT = "127.0.0.23", 53


def run(args: list[str], out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "bulkauth", *args, "--no-progress", "-o", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=env, cwd=ROOT, timeout=1800)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.decode()[-2000:]}")
    return wall


def lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def pair(name: str, args: list[str], work: Path, rounds: int, cluster: list[str]) -> dict[str, Any]:
    """Local and cluster runs of the same command, alternating; the best of each."""
    local_s, cluster_s = [], []
    n = 0
    for r in range(rounds):
        a, b = work / f"{name}-local.ndjson", work / f"{name}-cluster.ndjson"
        local_s.append(run(args, a))
        cluster_s.append(run([*args, *cluster], b))
        if a.read_bytes() != b.read_bytes():
            raise RuntimeError(f"{name}: the cluster output differs from the local output")
        n = lines(a)
        log(f"  {name} round {r + 1}: local {local_s[-1]:.2f}s, cluster {cluster_s[-1]:.2f}s")
    lo, cl = min(local_s), min(cluster_s)
    return {
        "records": n,
        "local_s": local_s,
        "cluster_s": cluster_s,
        "local_per_s": round(n / lo),
        "cluster_per_s": round(n / cl),
        "ratio": round(lo / cl, 2),
        "identical": True,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--domains", type=int, default=10_000)
    ap.add_argument("--messages", type=int, default=4_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="of the LocalCluster (local:N)")
    ap.add_argument("--shard-size", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", type=Path, default=HERE / "work" / "cluster")
    a = ap.parse_args(argv)
    work = a.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    world = work / "domains"
    meta_path = world / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if (meta.get("domains"), meta.get("seed"), meta.get("generator_version")) != (
        a.domains,
        a.seed,
        synth.GENERATOR_VERSION,
    ):
        log(f"generating {a.domains:,} domains in {world}")
        shutil.rmtree(world, ignore_errors=True)
        meta = synth.generate(world, a.domains, a.seed, quiet=True)
    mail = work / "mail"
    mail_meta = mail / "meta.json"
    if not mail_meta.exists() or json.loads(mail_meta.read_text()).get("messages") != a.messages:
        log(f"generating {a.messages:,} signed messages in {mail}")
        shutil.rmtree(mail, ignore_errors=True)
        generate_mail(mail, messages=a.messages, seed=a.seed)
    ensure_tools(("nsd",))
    ns = f"{ADDRESS}:{PORT}"
    cluster = ["--cluster", f"local:{a.workers}", "--shard-size", str(a.shard_size)]
    load_before = os.getloadavg()
    res: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "load_before": [round(x, 2) for x in load_before],
        "parameters": {
            "domains": a.domains,
            "messages": a.messages,
            "rounds": a.rounds,
            "cluster": f"local:{a.workers}",
            "shard_size": a.shard_size,
            "nameserver": ns,
        },
    }
    domains = str(world / "domains.txt")
    with Nsd(world, address=ADDRESS, port=PORT):
        log("domains: local vs cluster")
        res["domains"] = pair("domains", ["domains", domains, "-n", ns], work, a.rounds, cluster)
        log("messages: local vs cluster")
        res["messages"] = pair(
            "messages",
            ["messages", str(mail / "mail.mbox"), "--zones", str(mail / "zones")],
            work,
            a.rounds,
            cluster,
        )
        log("per-shard overhead: 1,000 domains as 100 shards of 10 vs 2 of 500")
        head = work / "head1000.txt"
        with open(domains, encoding="utf-8") as src:
            head.write_text("".join(line for _, line in zip(range(1000), src, strict=False)))
        many, one = [], []
        for _ in range(a.rounds):
            base = ["domains", str(head), "-n", ns, "--cluster", f"local:{a.workers}"]
            many.append(run([*base, "--shard-size", "10"], work / "tiny.ndjson"))
            one.append(run([*base, "--shard-size", "500"], work / "two.ndjson"))
        extra_shards = 100 - 2
        res["per_shard"] = {
            "many_s": many,
            "two_s": one,
            # wall seconds x workers: the shards run side by side
            "ms_per_shard": round((min(many) - min(one)) * a.workers / extra_shards * 1000, 1),
        }
        log("start-up: a 10-line list")
        ten = work / "ten.txt"
        with open(domains, encoding="utf-8") as src:
            ten.write_text("".join(line for _, line in zip(range(10), src, strict=False)))
        lo, cl = [], []
        for _ in range(a.rounds):
            lo.append(run(["domains", str(ten), "-n", ns], work / "ten-local.ndjson"))
            cl.append(run(["domains", str(ten), "-n", ns, *cluster], work / "ten-cluster.ndjson"))
        res["startup"] = {"local_s": round(min(lo), 2), "cluster_s": round(min(cl), 2)}
    res["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(table(res))
    out = HERE / "results" / f"{dt.date.today().isoformat()}-cluster.json"
    out.write_text(json.dumps(res, indent=2) + "\n")
    log(f"results: {out}")
    return 0


def table(res: dict[str, Any]) -> str:
    d, m, s, u = res["domains"], res["messages"], res["per_shard"], res["startup"]
    c = res["parameters"]["cluster"]
    return "\n".join(
        [
            f"| what | local | {c} | ratio |",
            "| --- | --- | --- | --- |",
            f"| domains/s ({d['records']:,}, NSD) | {d['local_per_s']:,} | {d['cluster_per_s']:,} "
            f"| {d['ratio']}x |",
            f"| messages/s ({m['records']:,}) | {m['local_per_s']:,} | {m['cluster_per_s']:,} "
            f"| {m['ratio']}x |",
            f"| start-up (10 domains), s | {u['local_s']} | {u['cluster_s']} | |",
            f"| per-shard overhead | | {s['ms_per_shard']} ms | |",
            f"load average before/after: {res['load_before']} / {res['load_after']}",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
