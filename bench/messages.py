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

``--arc`` measures only ARC validation before and after issue 14, on the same mailbox:
``bulkauth messages --arc-verifier dkimpy`` (dkimpy's ``ARC.verify``, as before) against the
default (our RFC 8617 validator), alternating for ``--rounds`` pairs, messages/second and CPU of
each and their ratio; then both validators alone, in this process, over the messages that carry
ARC fields; and every chain's verdict from both, side by side.

    python -m bench.messages --arc --messages 2000 --rounds 5

``--key-history`` measures only the DKIM key history (issue 13) on the same mailbox with its
keys rotated: a ``bulkauth messages --zones ORIGINAL --store H`` run builds the history (the
audit a user ran while the keys were published: the store records each key it verified with),
``mailgen.rotate_zones`` writes the DNS of later (a third of the key records kept, a third
replaced by another key, a third removed), then ``bulkauth messages --zones ROTATED`` without
and with ``--key-history H``, alternating for ``--rounds`` pairs: the share of signatures that
pass live, by history and fail in each, messages/second of each and their ratio, and how many
signatures the truth says must fail passed by history (must be 0).

    python -m bench.messages --key-history --messages 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import mailbox
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dkim
import dns.zone

from bench.mailgen import generate, rotate_zones
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


def run_bulkauth(
    mbox: Path,
    zones: Path,
    out: Path,
    *extra: str,
    nameserver: str | None = None,
    code: Path = ROOT,
) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KB, the largest process: parent or a worker) and CPU seconds of
    the whole run (parent and verifier processes), which a busy machine does not inflate.
    ``nameserver``: ask that server (NSD) instead of reading ``zones``; ``code``: the bulkauth
    source tree to run (``--baseline``: an earlier version, first on PYTHONPATH)."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    dns_args = ["--nameserver", nameserver] if nameserver else ["--zones", str(zones)]
    mbox, out = mbox.resolve(), out.resolve()
    cmd = [
        "/usr/bin/time",
        "-f",
        "%e %M %U %S",
        sys.executable,
        "-m",
        "bulkauth",
        "messages",
        str(mbox),
        *dns_args,
        "--no-progress",
        "--as-of",
        "now",
        "-o",
        str(out),
        *extra,
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=code, check=True)
    wall = time.perf_counter() - t0
    fields = proc.stderr.strip().splitlines()[-1].split()
    return wall, int(fields[1]), float(fields[2]) + float(fields[3])


def nsd_workdir(zones: Path, work: Path) -> Path:
    """A bench.nsd work directory serving the mailbox's zones, plus a root zone so that a name
    outside them is NXDOMAIN (as from a recursive resolver, and as ``--zones`` answers)."""
    nd = work / "nsd-mail"
    zdir = nd / "zones"
    shutil.rmtree(nd, ignore_errors=True)
    zdir.mkdir(parents=True)
    listing = []
    for f in sorted(zones.glob("*.zone")):
        shutil.copy(f, zdir / f.name)
        listing.append(f"{f.name.removesuffix('.zone')}. {f.name}")
    (zdir / "root.zone").write_text(
        "$TTL 3600\n. IN SOA ns1.example. hostmaster.example. 1 7200 3600 1209600 300\n"
        ". IN NS ns1.example.\n"
    )
    listing.append(". root.zone")
    (nd / "zones.txt").write_text("\n".join(listing) + "\n")
    return nd


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


def _arc_sections(out: Path) -> list[dict[str, Any]]:
    with open(out, "rb") as f:
        return [json.loads(line)["arc"] for line in f]


def _validators_alone(mbox: Path) -> dict[str, float]:
    """Seconds each validator takes over the messages with ARC fields, in this process, keys
    from the zones (DNS already answered), same clock; best of 3."""
    from bulkauth.core.arc.dkimpy import verify_arc_dkimpy
    from bulkauth.core.arc.verify import arc_key_names, verify_arc
    from bulkauth.core.dkim.verify import KeyRecord, message_parts

    keys_by_name = {
        k: KeyRecord("NOERROR", (v.decode(),)) for k, v in zone_keys(mbox.parent / "zones").items()
    }
    work = []
    box = mailbox.mbox(str(mbox), create=False)
    for key in box.iterkeys():
        raw = box.get_bytes(key)
        block, body = message_parts(raw)
        names = arc_key_names(block.headers)
        if names:
            keys = {n: keys_by_name.get(n, KeyRecord("NXDOMAIN")) for n in names}
            work.append((raw, block, body, keys))
    when = time.time()
    best = {"dkimpy": float("inf"), "bulkauth": float("inf")}
    for _ in range(3):
        t0 = time.process_time()
        for raw, block, _, keys in work:
            verify_arc_dkimpy(raw, block.headers, keys)
        best["dkimpy"] = min(best["dkimpy"], time.process_time() - t0)
        t0 = time.process_time()
        for _, block, body, keys in work:
            verify_arc(block.headers, body, keys, when)
        best["bulkauth"] = min(best["bulkauth"], time.process_time() - t0)
    best["chains"] = len(work)
    return best


def arc_stage(mbox: Path, zones: Path, work: Path, n: int, rounds: int) -> dict[str, Any]:
    """Before (dkimpy's ARC.verify) and after (ours), interleaved; verdicts side by side."""
    variants = {"before: --arc-verifier dkimpy": ("--arc-verifier", "dkimpy"), "after": ()}
    walls: dict[str, list[float]] = {k: [] for k in variants}
    cpus: dict[str, list[float]] = {k: [] for k in variants}
    outs = {k: work / f"arc-{i}.ndjson" for i, k in enumerate(variants)}
    for r in range(rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            wall, _, run_cpu = run_bulkauth(mbox, zones, outs[name], *variants[name])
            walls[name].append(wall)
            cpus[name].append(run_cpu)
            log(f"round {r + 1}: {name} {n / wall:,.0f} msg/s, {run_cpu / n * 1000:.3f} ms CPU/msg")
    before, after = (_arc_sections(outs[k]) for k in variants)
    chains = [
        (b, a) for b, a in zip(before, after, strict=True) if b["instances"] or a["instances"]
    ]
    pairs: dict[str, int] = {}
    for b, a in chains:
        k = f"{b['result']}/{b['code']} -> {a['result']}/{a['code']}"
        pairs[k] = pairs.get(k, 0) + 1
    alone = _validators_alone(mbox)
    b_name, a_name = list(variants)
    return {
        "messages": n,
        "rounds": rounds,
        "msg_per_s": {k: [round(n / w, 1) for w in v] for k, v in walls.items()},
        "cpu_ms_per_msg": {k: [round(c / n * 1000, 3) for c in v] for k, v in cpus.items()},
        "ratio_best_wall": round(min(walls[b_name]) / min(walls[a_name]), 3),
        "ratio_best_cpu": round(min(cpus[b_name]) / min(cpus[a_name]), 3),
        "chains": len(chains),
        "same_result": sum(1 for b, a in chains if b["result"] == a["result"]),
        "before_to_after": dict(sorted(pairs.items(), key=lambda kv: -kv[1])),
        "validators_alone_cpu_s": {
            "chains": alone["chains"],
            "dkimpy": round(alone["dkimpy"], 3),
            "bulkauth": round(alone["bulkauth"], 3),
            "ratio": round(alone["dkimpy"] / alone["bulkauth"], 2),
        },
    }


def print_arc(res: dict[str, Any]) -> None:
    n = res["messages"]
    print(
        f"\nARC before/after on {n:,} messages ({res['chains']} with ARC fields), {res['rounds']} rounds:"
    )
    for name, rates in res["msg_per_s"].items():
        cpu = res["cpu_ms_per_msg"][name]
        print(
            f"  {name:32} msg/s {', '.join(f'{x:,.0f}' for x in rates)};  CPU ms/msg {min(cpu):.3f} (best)"
        )
    print(
        f"  after / before: {res['ratio_best_wall']:.3f}x messages/s (best of each), "
        f"{res['ratio_best_cpu']:.3f}x less CPU"
    )
    a = res["validators_alone_cpu_s"]
    print(
        f"  validators alone over the {a['chains']} chains: dkimpy {a['dkimpy']:.3f} s CPU, ours "
        f"{a['bulkauth']:.3f} s ({a['ratio']:.2f}x faster)"
    )
    print(f"  same result on {res['same_result']} of {res['chains']} chains; before -> after:")
    for k, v in res["before_to_after"].items():
        print(f"    {v:5}  {k}")


def _signature_shares(out: Path, truth: Path) -> dict[str, Any]:
    """Signatures by how they came out (live pass, history pass, failed), messages by their
    DKIM pass source, the codes of the failed signatures, and the history passes of signatures
    the generator made to fail (tampered, signed with a key never published)."""
    sigs = {"live": 0, "history": 0, "failed": 0}
    msgs: dict[str, int] = {}
    codes: dict[str, int] = {}
    seen_later = wrong_passes = 0
    with open(out, "rb") as f, open(truth, "rb") as t:
        for line, tline in zip(f, t, strict=True):
            dk = json.loads(line).get("dkim", {})
            src = str(dk.get("pass_source"))
            msgs[src] = msgs.get(src, 0) + 1
            expect = [s["expect"] for s in json.loads(tline)["signatures"]]
            for s, want in zip(dk.get("signatures", []), expect, strict=True):
                if s["result"] != "pass":
                    sigs["failed"] += 1
                    codes[s["code"]] = codes.get(s["code"], 0) + 1
                    continue
                sigs["live" if s.get("key_source") == "dns" else "history"] += 1
                if s.get("key_source") == "history":
                    wrong_passes += want != "pass"
                    seen_later += any(
                        p["code"] == "dkim.history_key_seen_later" for p in s["problems"]
                    )
    total = sum(sigs.values())
    return {
        "signatures": total,
        "counts": sigs,
        "share": {k: round(v / total, 4) for k, v in sigs.items()},
        "messages_by_pass_source": dict(sorted(msgs.items())),
        "failed_codes": dict(sorted(codes.items(), key=lambda kv: -kv[1])),
        "history_passes_seen_later": seen_later,
        "history_passes_truth_says_fail": wrong_passes,
    }


def keyhistory_stage(
    mbox: Path, zones: Path, work: Path, n: int, rounds: int, seed: int
) -> dict[str, Any]:
    """The history built from the original zones, the zones rotated, then the rotated world
    verified without and with --key-history, interleaved."""
    kdir = work / "keyhistory"
    shutil.rmtree(kdir, ignore_errors=True)
    kdir.mkdir(parents=True)
    store, rotated = kdir / "history.duckdb", kdir / "zones-rotated"
    wall, _, _ = run_bulkauth(mbox, zones, kdir / "then.ndjson", "--store", str(store))
    import duckdb

    with duckdb.connect(str(store), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM key_history").fetchone()
    history_keys = int(row[0]) if row else 0
    log(
        f"history: {history_keys} keys from the original zones ({n / wall:,.0f} msg/s with --store)"
    )
    plan = rotate_zones(zones, rotated, seed)
    variants = {"without --key-history": (), "with --key-history": ("--key-history", str(store))}
    walls: dict[str, list[float]] = {k: [] for k in variants}
    cpus: dict[str, list[float]] = {k: [] for k in variants}
    outs = {k: kdir / f"out-{i}.ndjson" for i, k in enumerate(variants)}
    for r in range(rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            wall, _, run_cpu = run_bulkauth(mbox, rotated, outs[name], *variants[name])
            walls[name].append(wall)
            cpus[name].append(run_cpu)
            log(f"round {r + 1}: {name} {n / wall:,.0f} msg/s, {run_cpu / n * 1000:.3f} ms CPU/msg")
    without, with_ = list(variants)
    fates: dict[str, int] = {}
    for fate in plan.values():
        fates[fate] = fates.get(fate, 0) + 1
    return {
        "messages": n,
        "rounds": rounds,
        "rotation_seed": seed,
        "history_built_by": "bulkauth messages --zones ORIGINAL --store H",
        "history_keys": history_keys,
        "key_records": fates,
        "rotation": plan,
        "msg_per_s": {k: [round(n / w, 1) for w in v] for k, v in walls.items()},
        "cpu_ms_per_msg": {k: [round(c / n * 1000, 3) for c in v] for k, v in cpus.items()},
        "pair_ratios": [round(a / b, 3) for a, b in zip(walls[without], walls[with_], strict=True)],
        "ratio_best_wall": round(min(walls[without]) / min(walls[with_]), 3),
        "cpu_ratio_best": round(min(cpus[with_]) / min(cpus[without]), 3),
        "results": {k: _signature_shares(outs[k], mbox.parent / "truth.jsonl") for k in variants},
    }


def print_keyhistory(res: dict[str, Any]) -> None:
    kr = res["key_records"]
    print(
        f"\nDKIM key history on {res['messages']:,} messages, keys rotated (seed "
        f"{res['rotation_seed']}: {kr.get('kept', 0)} key records kept, {kr.get('replaced', 0)} "
        f"replaced, {kr.get('removed', 0)} removed; history of {res['history_keys']} keys), "
        f"{res['rounds']} rounds:"
    )
    print(f"  {'':24}{'live':>8}{'history':>9}{'failed':>8}  of signatures   msg/s (best)")
    for name, r in res["results"].items():
        sh = r["share"]
        print(
            f"  {name:24}{sh['live']:>8.1%}{sh['history']:>9.1%}{sh['failed']:>8.1%}"
            f"  of {r['signatures']:,}   {max(res['msg_per_s'][name]):,.0f}"
            f" ({', '.join(f'{x:,.0f}' for x in res['msg_per_s'][name])})"
        )
    print(
        f"  with / without --key-history: {res['ratio_best_wall']:.3f}x messages/s (best of each; "
        f"pairs {', '.join(f'{x:.3f}' for x in res['pair_ratios'])}), "
        f"{res['cpu_ratio_best']:.3f}x the CPU per message"
    )
    w = res["results"]["with --key-history"]
    print(
        f"  history passes the truth says must fail: {w['history_passes_truth_says_fail']}; "
        f"history keys seen only after the message: {w['history_passes_seen_later']}"
    )


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
    ap.add_argument("--arc", action="store_true", help="only ARC before/after (issue 14)")
    ap.add_argument(
        "--key-history",
        action="store_true",
        help="only the DKIM key history on the mailbox with its keys rotated (issue 13)",
    )
    ap.add_argument("--rotation-seed", type=int, default=1, help="which keys --key-history rotates")
    ap.add_argument(
        "--address",
        default="127.0.0.40",
        help="loopback address of the NSD that serves the keys for the 'through NSD' variant "
        "(port 53; '' = no NSD variant). Other benches use 127.0.0.20 and .30",
    )
    ap.add_argument(
        "--baseline",
        type=Path,
        help="another bulkauth source tree (e.g. `git archive main | tar -x -C DIR`): run too, "
        "in the same rounds, as 'before' (--zones and through NSD)",
    )
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
    if args.arc:
        res = arc_stage(mbox, zones, args.work, n, args.rounds)
        print_arc(res)
        res["date"] = dt.datetime.now(dt.UTC).isoformat()
        res["load_average"] = os.getloadavg()
        dest = HERE / "results" / f"{dt.date.today().isoformat()}-messages-arc.json"
        dest.write_text(json.dumps(res, indent=2) + "\n")
        log(f"results: {dest}")
        return
    if args.key_history:
        res = keyhistory_stage(mbox, zones, args.work, n, args.rounds, args.rotation_seed)
        print_keyhistory(res)
        res["date"] = dt.datetime.now(dt.UTC).isoformat()
        res["load_average"] = os.getloadavg()
        dest = HERE / "results" / f"{dt.date.today().isoformat()}-messages-keyhistory.json"
        dest.write_text(json.dumps(res, indent=2) + "\n")
        log(f"results: {dest}")
        return

    # name -> (extra arguments, through NSD, source tree)
    variants: dict[str, tuple[tuple[str, ...], bool, Path]] = {
        "bulkauth": ((), False, ROOT),
        "bulkauth --workers 0": (("--workers", "0"), False, ROOT),
        "bulkauth --crypto python": (("--crypto", "python"), False, ROOT),
    }
    nsd = None
    if args.address:
        from bench.nsd import Nsd, ensure_tools

        ensure_tools(("nsd",))
        nsd = Nsd(nsd_workdir(zones, args.work), args.address, 53)
        nsd.start()
        # item 2d of issue 17: every check on, keys (and SPF, DMARC) from DNS through NSD
        variants["bulkauth, DNS through NSD"] = ((), True, ROOT)
    if args.baseline is not None:
        variants["before: bulkauth"] = ((), False, args.baseline.resolve())
        if nsd is not None:
            variants["before: bulkauth, DNS through NSD"] = ((), True, args.baseline.resolve())
    try:
        _main_stage(args, variants, mbox, zones, keys, meta, n, nsd)
    finally:
        if nsd is not None:
            nsd.stop()


def _main_stage(
    args: argparse.Namespace,
    variants: dict[str, tuple[tuple[str, ...], bool, Path]],
    mbox: Path,
    zones: Path,
    keys: dict[str, bytes],
    meta: dict[str, Any],
    n: int,
    nsd: Any,
) -> None:
    nameserver = f"{nsd.address}:{nsd.port}" if nsd is not None else None
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
        for name, (extra, via_nsd, code) in variants.items():
            out = args.work / "out.ndjson"
            wall, rss, run_cpu = run_bulkauth(
                mbox, zones, out, *extra, nameserver=nameserver if via_nsd else None, code=code
            )
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
        "command": " ".join(["python -m bench.messages", *sys.argv[1:]]),
        "nsd": nameserver,
        "baseline": str(args.baseline) if args.baseline else None,
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

    print(f"\n{'':36}{'msg/s':>8}{'x dkimpy':>10}{'CPU ms/msg':>12}  same verdicts")
    print(f"{'dkimpy sequential loop':36}{peer_rate:>8,.0f}{1:>10.2f}{peer_cpu / n * 1000:>12.2f}")
    for name, v in results["bulkauth"].items():
        print(
            f"{name:36}{v['msg_per_s']:>8,.0f}{v['ratio']:>10.2f}{v['cpu_ms_per_msg']:>12.2f}"
            f"  {v['same_verdicts']}"
        )
    for m in results["memory"]:
        print(
            f"{m['mailbox_mb']} MB mailbox, {m['messages']:,} messages: {m['msg_per_s']:,.0f} msg/s, "
            f"{m['ratio']:.2f}x dkimpy; peak RSS {m['peak_rss_mb']} MB"
        )
    nsd_run = results["bulkauth"].get("bulkauth, DNS through NSD")
    if nsd_run:
        # issue 17 item 2d: every check on, keys from DNS through NSD, against the dkimpy loop
        # that gets its keys from memory
        met = "met" if nsd_run["ratio"] >= 4 else "NOT met"
        print(
            f"\nissue 17 target 2d, messages through NSD >= 4x dkimpy: {nsd_run['ratio']:.2f}x  {met}"
        )
    dest = HERE / "results" / f"{dt.date.today().isoformat()}-messages.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(results, indent=2) + "\n")
    log(f"results: {dest}")


if __name__ == "__main__":
    main()
