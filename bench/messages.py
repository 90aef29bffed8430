"""``bulkauth messages`` against a plain sequential dkimpy loop, on the same mailbox, in one run.

    python -m bench.messages                       # 5,000 messages + the 100 MB memory run
    python -m bench.messages --messages 20000 --big-mb 100,2000

Steps (the mailbox comes from bench/mailgen.py, reused when it is there):

1. the peer: a plain sequential loop, ``mailbox.mbox`` to read and ``dkim.DKIM(msg).verify(idx=i)``
   for every signature, keys answered from a dict (no DNS cost at all: generous to the peer);
2. ``bulkauth messages --zones`` (keys, SPF and DMARC from zone files; everything a record
   needs, written as NDJSON) with the default worker pool, with ``--workers 0``, and with
   ``--crypto python`` (dkimpy's pure-Python RSA instead of OpenSSL): messages/second, each
   against the peer measured in the same run, best of ``--rounds`` alternating rounds;
3. verdict equality: every signature's pass / not-pass must be the peer's (both judge t=/x=
   at the current time here, ``--as-of now``);
4. peak RSS of ``bulkauth messages`` over mailboxes of ``--big-mb`` megabytes (the mailbox
   repeated), to show memory does not grow with the archive.

Prints a table and writes ``bench/results/<date>-messages.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import mailbox
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dkim
import dns.zone

from bench.mailgen import generate
from bench.run import precompile

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def zone_keys(zdir: Path) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for f in zdir.glob("*.zone"):
        z = dns.zone.from_file(str(f), relativize=False)
        for name, node in z.nodes.items():
            for rds in node.rdatasets:
                if rds.rdtype == 16:
                    keys[name.to_text().rstrip(".").lower()] = b"".join(next(iter(rds)).strings)
    return keys


def dkimpy_loop(mbox: Path, keys: dict[str, bytes]) -> tuple[float, float, list[list[bool]]]:
    """The peer: read with the standard library, verify every signature with dkimpy."""

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return keys.get(name.decode().rstrip(".").lower())

    verdicts: list[list[bool]] = []
    t0, c0 = time.perf_counter(), time.process_time()
    box = mailbox.mbox(str(mbox), create=False)
    for key in box.iterkeys():
        raw = box.get_bytes(key)
        d = dkim.DKIM(raw)
        n = sum(1 for h in d.headers if h[0].lower() == b"dkim-signature")
        out = []
        for i in range(n):
            try:
                out.append(bool(d.verify(idx=i, dnsfunc=dnsfunc)))
            except dkim.DKIMException:
                out.append(False)
        verdicts.append(out)
    return time.perf_counter() - t0, time.process_time() - c0, verdicts


def run_bulkauth(mbox: Path, zones: Path, out: Path, *extra: str) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KB, the largest process: parent or a worker) and CPU seconds of
    the whole run (parent and verifier processes), which a busy machine does not inflate."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        "/usr/bin/time",
        "-f",
        "%e %M %U %S",
        sys.executable,
        "-m",
        "bulkauth",
        "messages",
        str(mbox),
        "--zones",
        str(zones),
        "--no-progress",
        "--as-of",
        "now",
        "-o",
        str(out),
        *extra,
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    wall = time.perf_counter() - t0
    fields = proc.stderr.strip().splitlines()[-1].split()
    return wall, int(fields[1]), float(fields[2]) + float(fields[3])


def bulkauth_verdicts(out: Path) -> list[list[bool]]:
    res = []
    with open(out, "rb") as f:
        for line in f:
            rec = json.loads(line)
            res.append([s["result"] == "pass" for s in rec.get("dkim", {}).get("signatures", [])])
    return res


def big_mbox(base: Path, mb: int) -> Path:
    path = base.parent / f"big-{mb}mb.mbox"
    want = mb * 1024 * 1024
    if path.exists() and path.stat().st_size >= want:
        return path
    data = base.read_bytes()
    with open(path, "wb") as f:
        written = 0
        while written < want:
            f.write(data)
            written += len(data)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--big-mb",
        default="100",
        help="comma-separated mailbox sizes for the memory runs ('' = none)",
    )
    ap.add_argument("--work", type=Path, default=HERE / "work" / "mail")
    args = ap.parse_args()

    meta_path = args.work / "meta.json"
    if not meta_path.exists() or json.loads(meta_path.read_text())["messages"] != args.messages:
        log(f"generating {args.messages} signed messages in {args.work}")
        generate(args.work, args.messages)
    meta = json.loads(meta_path.read_text())
    mbox, zones = args.work / "mail.mbox", args.work / "zones"
    keys = zone_keys(zones)
    n = meta["messages"]
    precompile()

    variants = {
        "bulkauth": (),
        "bulkauth --workers 0": ("--workers", "0"),
        "bulkauth --crypto python": ("--crypto", "python"),
    }
    best: dict[str, float] = {}
    cpu: dict[str, float] = {}
    peer_best = peer_cpu = float("inf")
    peer_verdicts: list[list[bool]] = []
    agree: dict[str, bool] = {}
    for r in range(args.rounds):
        secs, cpu_secs, peer_verdicts = dkimpy_loop(mbox, keys)
        peer_best, peer_cpu = min(peer_best, secs), min(peer_cpu, cpu_secs)
        log(
            f"round {r + 1}: dkimpy loop {n / secs:,.0f} msg/s, {cpu_secs / n * 1000:.2f} ms CPU/msg"
        )
        for name, extra in variants.items():
            out = args.work / "out.ndjson"
            wall, rss, run_cpu = run_bulkauth(mbox, zones, out, *extra)
            best[name] = min(best.get(name, float("inf")), wall)
            cpu[name] = min(cpu.get(name, float("inf")), run_cpu)
            agree[name] = bulkauth_verdicts(out) == peer_verdicts
            log(
                f"round {r + 1}: {name} {n / wall:,.0f} msg/s, {run_cpu / n * 1000:.2f} ms CPU/msg "
                f"(peak RSS {rss / 1024:.0f} MB)"
            )
    peer_rate = n / peer_best
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "messages": n,
        "mailbox_bytes": meta["bytes"],
        "signatures": sum(len(v) for v in peer_verdicts),
        "peer": {
            "name": "dkimpy sequential loop",
            "msg_per_s": round(peer_rate, 1),
            "cpu_ms_per_msg": round(peer_cpu / n * 1000, 3),
        },
        "bulkauth": {
            name: {
                "msg_per_s": round(n / s, 1),
                "ratio": round(n / s / peer_rate, 2),
                "cpu_ms_per_msg": round(cpu[name] / n * 1000, 3),
                "same_verdicts": agree[name],
            }
            for name, s in best.items()
        },
        "memory": [],
    }
    for mb in [int(x) for x in args.big_mb.split(",") if x.strip()]:
        path = big_mbox(mbox, mb)
        out = args.work / "big-out.ndjson"
        wall, rss, _ = run_bulkauth(path, zones, out)
        with open(out, "rb") as f:
            count = sum(1 for _ in f)
        out.unlink()
        results["memory"].append(
            {
                "mailbox_mb": mb,
                "messages": count,
                "seconds": round(wall, 1),
                "msg_per_s": round(count / wall, 1),
                "ratio": round(count / wall / peer_rate, 2),
                "peak_rss_mb": round(rss / 1024, 1),
            }
        )
        log(
            f"{mb} MB mailbox: {count:,} messages, {count / wall:,.0f} msg/s, peak RSS {rss / 1024:.0f} MB"
        )

    print(f"\n{'':30}{'msg/s':>8}{'x dkimpy':>10}{'CPU ms/msg':>12}  same verdicts")
    print(f"{'dkimpy sequential loop':30}{peer_rate:>8,.0f}{1:>10.2f}{peer_cpu / n * 1000:>12.2f}")
    for name, v in results["bulkauth"].items():
        print(
            f"{name:30}{v['msg_per_s']:>8,.0f}{v['ratio']:>10.2f}{v['cpu_ms_per_msg']:>12.2f}"
            f"  {v['same_verdicts']}"
        )
    for m in results["memory"]:
        print(
            f"{m['mailbox_mb']} MB mailbox, {m['messages']:,} messages: {m['msg_per_s']:,.0f} msg/s, "
            f"{m['ratio']:.2f}x dkimpy; peak RSS {m['peak_rss_mb']} MB"
        )
    dest = HERE / "results" / f"{dt.date.today().isoformat()}-messages.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(results, indent=2) + "\n")
    log(f"results: {dest}")


if __name__ == "__main__":
    main()
