"""``make bench`` / ``make bench-full``: bulkauth against its peers, in one run, as ratios.

    python -m bench.run            # quick: 2,000 domains, a few minutes
    python -m bench.run --full     # 10,000 domains and the 1,000,000-line memory run

Steps: generate the synthetic internet (bench/synth.py; reused when already there), install
and start NSD on 127.0.0.20:53 (bench/nsd.py), then measure, each peer in the same run:

1. the server ceiling: dnsperf on the realistic query mix;
2. DNS clients, 500 in flight, each name once per client (bench/clients.py): raw aiodns,
   raw UdpBackend, bulkauth's Resolver over each backend asked in rounds as the pipeline asks
   it, and over UdpBackend one question per task. Rounds alternate the clients and the median
   counts, because this machine is shared and noisy;
3. answer equality: the AiodnsBackend and the UdpBackend must give the same Answers;
4. when the CLI is there: ``bulkauth domains`` (udp and aiodns) against checkdmarc in
   domains/s, and every tool's verdicts against the generator's truth; ``bulkauth spf
   --input`` on 30,000 (ip, sender) checks against pyspf's check_host in checks/s, with their
   results compared; ``--record-dns`` against the same run without it, a ``--replay-dns`` of
   the recording, and loading a 1,000,000-answer snapshot against loading the zone files;
5. ``--full`` (or ``--only memory --memory-lines N``): peak memory (PSS and RSS of the process tree) of ``bulkauth domains`` over 1,000,000 lines (mostly NXDOMAIN).
6. ``latency`` (bench/latency.py): the domain audits and checkdmarc through dnsdist delaying
   answers 20 +- 5 ms (and dropping 1% of them), with dnsdist's own ceiling at that delay;
7. ``zones`` (bench/zoneload.py): loading ``--zones`` with dnspython against masterfile.py, for
   data/zones, the synthetic internet, and the same split one zone per domain (~10,000 files
   with ``--full``), the two readers' answers compared;
8. ``report`` (bench/report.py): ``bulkauth diff`` and ``bulkauth report --previous`` over two
   100,000-domain runs (``--report-domains N``): time, peak RSS, HTML size, against GNU sort and
   an orjson pass; the time headless Chromium takes to open the report, filter, show an item.

Results: a table on stdout and ``bench/results/<date>-<quick|full>.json`` (machine, versions).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import synth
from bench.clients import CLIENTS, load_queries
from bench.nsd import ADDRESS, Nsd, ensure_tools

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NS = ADDRESS  # port 53: checkdmarc takes nothing else


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- machine


def machine_info() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    versions: dict[str, str] = {"python": platform.python_version()}
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("bulkauth", "aiodns", "pycares", "uvloop", "dnspython", "checkdmarc", "pyspf"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = "absent"
    for tool, args in (("nsd", ["-v"]), ("dnsperf", ["-h"])):
        exe = shutil.which(tool) or f"/usr/sbin/{tool}"
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([exe, *args], capture_output=True, text=True, timeout=10)
            text = out.stdout + out.stderr
            m = re.search(r"(?:NSD version|DNS Performance Testing Tool version)\s*(\S+)", text)
            versions[tool] = m.group(1) if m else text.splitlines()[0] if text else "?"
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "load_average": os.getloadavg(),
        "versions": versions,
        "commit": commit,
    }


# --------------------------------------------------------------------------- the server


def dnsperf(queries: Path, seconds: float) -> dict[str, Any]:
    """NSD's ceiling on the query mix (one dnsperf thread, 500 outstanding)."""
    exe = shutil.which("dnsperf") or "/usr/bin/dnsperf"
    cmd = [exe, "-s", NS, "-d", str(queries), "-l", str(seconds), "-c", "4", "-T", "1", "-q", "500"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    text = out.stdout + out.stderr
    qps = re.search(r"Queries per second:\s+([\d.]+)", text)
    lost = re.search(r"Queries lost:\s+(\d+)", text)
    return {
        "qps": float(qps.group(1)) if qps else None,
        "lost": int(lost.group(1)) if lost else None,
        "command": " ".join(cmd),
    }


# --------------------------------------------------------------------------- clients


def run_client(client: str, queries: Path, seconds: float) -> dict[str, Any]:
    cmd = [
        sys.executable, "-m", "bench.clients", client, str(queries),
        "--nameserver", NS, "--seconds", str(seconds),
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=seconds * 6 + 120)
    if out.returncode:
        return {"client": client, "error": out.stderr[-2000:]}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["command"] = " ".join(cmd[1:])
    return result


def clients(queries: Path, seconds: float, rounds: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CLIENTS}
    for r in range(rounds):
        order = list(CLIENTS) if r % 2 == 0 else list(reversed(CLIENTS))
        for c in order:
            res = run_client(c, queries, seconds)
            log(f"  round {r + 1}/{rounds} {c}: {res.get('qps', res.get('error', '?'))}")
            runs[c].append(res)
    summary: dict[str, Any] = {}
    # the machine is shared: a ratio within one round is steadier than either figure alone
    paired: dict[str, list[float]] = {}
    for c in CLIENTS:
        for mine, base in zip(runs[c], runs["raw-udp"], strict=True):
            if mine.get("qps") and base.get("qps"):
                paired.setdefault(c, []).append(round(mine["qps"] / base["qps"], 3))
    for c, rs in runs.items():
        good = [x["qps"] for x in rs if "qps" in x]
        summary[c] = {
            "qps_median": statistics.median(good) if good else None,
            "qps_runs": good,
            "cpu_us_per_query_median": statistics.median(cpu)
            if (cpu := [x["cpu_us_per_query"] for x in rs if x.get("cpu_us_per_query")])
            else None,
            "failures": sum(x.get("failures", 0) for x in rs),
            "rcodes": dict(sum((Counter(x.get("rcodes", {})) for x in rs), Counter())),
            "command": rs[0].get("command", ""),
            "vs_raw_udp_same_round": paired.get(c, []),
            "vs_raw_udp_median": statistics.median(paired[c]) if paired.get(c) else None,
        }
    return summary


# --------------------------------------------------------------------------- equality


async def _compare(sample: list[tuple[str, str]]) -> dict[str, Any]:
    from bulkauth.core.common.model import Answer, Query, RType
    from bulkauth.dns.backends.aiodns import AiodnsBackend
    from bulkauth.dns.backends.udp import UdpBackend

    udp = UdpBackend([NS])
    ares = AiodnsBackend([NS])
    sem = asyncio.Semaphore(100)

    def key(a: Answer) -> tuple[Any, ...]:
        # aiodns cannot see the SOA of a negative answer (it reports a fixed negative TTL)
        # nor the message size: compare everything else
        return (a.rcode, sorted(map(repr, a.records)), a.cnames, a.ttl if a.records else None)

    async def one(name: str, rtype: str) -> tuple[str, str, Answer, Answer]:
        q = Query(name, RType[rtype])
        async with sem:
            x, y = await asyncio.gather(udp.query(q), ares.query(q))
        return name, rtype, x, y

    try:
        pairs = await asyncio.gather(*(one(n, t) for n, t in sample))
    finally:
        await udp.aclose()
        await ares.aclose()
    diffs = [(n, t, x, y) for n, t, x, y in pairs if key(x) != key(y)]
    return {
        "compared": len(pairs),
        "identical": len(pairs) - len(diffs),
        "examples": [
            {"name": n, "type": t, "udp": repr(x)[:300], "aiodns": repr(y)[:300]}
            for n, t, x, y in diffs[:5]
        ],
    }


def answer_equality(queries: Path, n: int) -> dict[str, Any]:
    import uvloop

    sample = load_queries(queries, seed=11, limit=n)
    return uvloop.run(_compare(sample))


# --------------------------------------------------------------------------- domains


def tool(name: str) -> str | None:
    """A console script of this environment (make runs .venv/bin/python without .venv/bin on
    PATH), else one on PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


def precompile() -> None:
    """Byte-compile bulkauth as `pip install` does for the peers. An editable install with
    PYTHONDONTWRITEBYTECODE set (as on this machine) would otherwise compile every module
    again at each start, ~0.2 s that no installed copy pays."""
    import compileall

    import bulkauth

    compileall.compile_dir(str(Path(bulkauth.__file__).parent), quiet=1)


def bulkauth_cli() -> list[str] | None:
    precompile()
    exe = tool("bulkauth")
    cmd = [exe] if exe else [sys.executable, "-m", "bulkauth"]
    try:
        ok = subprocess.run([*cmd, "domains", "--help"], capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return cmd if ok.returncode == 0 else None


def timed(cmd: list[str], out_path: Path | None, timeout: float) -> tuple[float, int, str]:
    started = time.perf_counter()
    with open(out_path, "wb") if out_path else open(os.devnull, "wb") as out:
        p = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, timeout=timeout, cwd=ROOT)
    return time.perf_counter() - started, p.returncode, p.stderr.decode(errors="replace")[-3000:]


def read_truth(work: Path) -> list[dict[str, Any]]:
    with open(work / "truth.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _state(section: dict[str, Any] | None) -> str | None:
    return section.get("state") if isinstance(section, dict) else None


def agreement_bulkauth(
    records: list[dict[str, Any]], truth: list[dict[str, Any]]
) -> dict[str, Any]:
    """Share of domains where bulkauth's section state (and a few values) match the truth."""
    by_line = {t["line"]: t for t in truth}
    tallies: dict[str, Counter[str]] = {k: Counter() for k in ("spf", "dmarc", "mx", "spf_lookups", "dmarc_policy", "dkim_selectors", "status")}  # fmt: skip
    misses: dict[str, list[str]] = {k: [] for k in tallies}
    for rec in records:
        t = by_line.get(rec.get("input", ""))
        if t is None:
            continue
        tally(
            tallies,
            misses,
            "status",
            t.get("status") == "invalid_input",
            rec.get("status") == "invalid_input",
            t["line"],
        )
        if t.get("status") != "ok" or rec.get("status") != "ok":
            continue
        for sec in ("spf", "dmarc", "mx"):
            tally(tallies, misses, sec, t[sec]["state"], _state(rec.get(sec)), t["line"])
        if t["spf"]["state"] == "valid":
            tally(
                tallies,
                misses,
                "spf_lookups",
                t["spf"]["lookups"],
                rec["spf"].get("lookups"),
                t["line"],
            )
        if t["dmarc"]["state"] == "valid":
            tally(
                tallies,
                misses,
                "dmarc_policy",
                t["dmarc"]["policy"],
                rec["dmarc"].get("policy"),
                t["line"],
            )
        if rec.get("dkim") is not None:  # not a run with --sections leaving DKIM out
            want = sorted(t["dkim"]["selectors"])
            got = sorted(k["selector"] for k in rec["dkim"].get("keys", []))
            tally(tallies, misses, "dkim_selectors", want, got, t["line"])
    return summarize(tallies, misses)


def agreement_checkdmarc(
    results: list[dict[str, Any]], truth: list[dict[str, Any]]
) -> dict[str, Any]:
    by_domain = {t["domain"]: t for t in truth if t.get("domain")}
    tallies: dict[str, Counter[str]] = {
        k: Counter() for k in ("spf", "dmarc", "mx", "dmarc_policy")
    }
    misses: dict[str, list[str]] = {k: [] for k in tallies}
    for r in results:
        t = by_domain.get(str(r.get("domain", "")).rstrip(".").lower())
        if t is None or t.get("status") != "ok":
            continue
        spf = r.get("spf") or {}
        spf_state = (
            "missing" if not spf.get("record") else "valid" if spf.get("valid") else "invalid"
        )
        if not spf.get("record") and "does not exist" not in str(spf.get("error", "")):
            spf_state = "invalid" if spf.get("error") else "missing"
        tally(tallies, misses, "spf", t["spf"]["state"], spf_state, t["domain"])
        dm = r.get("dmarc") or {}
        dm_state = "missing" if not dm.get("record") else "valid" if dm.get("valid") else "invalid"
        if (
            not dm.get("record")
            and dm.get("error")
            and "does not exist" not in str(dm.get("error"))
        ):
            dm_state = "invalid"
        tally(tallies, misses, "dmarc", t["dmarc"]["state"], dm_state, t["domain"])
        if t["dmarc"]["state"] == "valid" and dm.get("valid"):
            tags = dm.get("tags") or {}
            inherited = str(dm.get("location", "")).lower() != t["domain"]
            pol = (tags.get("sp") if inherited else tags.get("p")) or {}
            tally(
                tallies, misses, "dmarc_policy", t["dmarc"]["policy"], pol.get("value"), t["domain"]
            )
        mx = r.get("mx") or {}
        hosts = mx.get("hosts") or []
        mx_state = "valid" if hosts else "missing"
        if mx.get("error") and "not exist" not in str(mx.get("error")):
            mx_state = "invalid"
        tally(tallies, misses, "mx", t["mx"]["state"], mx_state, t["domain"])
    return summarize(tallies, misses)


def tally(
    tallies: dict[str, Counter[str]],
    misses: dict[str, list[str]],
    k: str,
    want: Any,
    got: Any,
    who: str,
) -> None:
    tallies[k]["total"] += 1
    if want == got:
        tallies[k]["agree"] += 1
    elif len(misses[k]) < 5:
        misses[k].append(f"{who}: expected {want!r}, got {got!r}")


def summarize(tallies: dict[str, Counter[str]], misses: dict[str, list[str]]) -> dict[str, Any]:
    return {
        k: {
            "agree": c["agree"],
            "total": c["total"],
            "rate": round(c["agree"] / c["total"], 4) if c["total"] else None,
            "examples": misses[k],
        }
        for k, c in tallies.items()
    }


#: the sections checkdmarc audits too (it does no DKIM discovery)
CHECKDMARC_SCOPE = "spf,dmarc,mx,mta_sts,tls_rpt,bimi"


def domains_peers(
    cli: list[str], work: Path, checkdmarc_n: int, seconds_cap: float
) -> dict[str, Any]:
    truth = read_truth(work)
    lines = len(truth)
    out: dict[str, Any] = {"input_lines": lines}
    # the full audit over each backend, and over udp the audit of what checkdmarc looks at
    # (no DKIM discovery: checkdmarc probes no selectors), a like-for-like rate
    for variant, backend, extra in (
        ("udp", "udp", []),
        ("aiodns", "aiodns", []),
        ("udp_checkdmarc_scope", "udp", ["--sections", CHECKDMARC_SCOPE]),
    ):
        path = work / f"domains-{variant}.ndjson"
        cmd = [*cli, "domains", str(work / "domains.txt"), "-n", NS, "--backend", backend, *extra, "--no-progress", "-o", str(path)]  # fmt: skip
        log(f"bulkauth domains --backend {backend} {' '.join(extra)} on {lines} lines")
        secs, rc, err = timed(cmd, None, seconds_cap * 20)
        recs = (
            [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
            if path.exists()
            else []
        )
        out[f"bulkauth_{variant}"] = {
            "seconds": round(secs, 2),
            "domains_per_s": round(lines / secs, 1) if secs else None,
            "returncode": rc,
            "records": len(recs),
            "stderr_tail": err[-600:],
            "command": " ".join(cmd),
            "agreement": agreement_bulkauth(recs, truth) if recs else None,
        }
    checkdmarc = tool("checkdmarc")
    if checkdmarc:
        # checkdmarc is sequential (~20 domains/s): a slice of the same list, same nameserver
        doms = [t["domain"] for t in truth if t.get("status") == "ok"][:checkdmarc_n]
        lst = work / "checkdmarc-domains.txt"
        lst.write_text("\n".join(doms) + "\n")
        res = work / "checkdmarc.json"
        cmd = [checkdmarc, str(lst), "-n", NS, "-f", "json"]
        log(f"checkdmarc on {len(doms)} domains")
        secs, rc, err = timed(cmd, res, seconds_cap * 20)
        try:
            results = json.loads(res.read_text())
            results = results if isinstance(results, list) else [results]
        except (OSError, ValueError):
            results = []
        out["checkdmarc"] = {
            "domains": len(doms),
            "seconds": round(secs, 2),
            "domains_per_s": round(len(doms) / secs, 1) if secs else None,
            "returncode": rc,
            "command": " ".join(cmd),
            "agreement": agreement_checkdmarc(results, truth) if results else None,
            "stderr_tail": err[-600:],
        }
    return out


def store_overhead(cli: list[str], work: Path, rounds: int, seconds_cap: float) -> dict[str, Any]:
    """What --store costs a run: the same `domains` run without and with it, alternated
    (this machine's speed swings from minute to minute, so each pair shares a minute), the
    best of each compared. Issue 12 asks for at most 15% of the throughput."""
    lines = _count_lines(work / "domains.txt")
    best: dict[str, float] = {}
    for r in range(max(1, rounds)):
        for variant in ("without", "with"):
            out = work / f"store-{variant}.ndjson"
            db = work / "store-bench.duckdb"
            db.unlink(missing_ok=True)
            extra = ["--store", str(db)] if variant == "with" else []
            cmd = [*cli, "domains", str(work / "domains.txt"), "-n", NS, "--no-progress", "-o", str(out), *extra]  # fmt: skip
            log(f"bulkauth domains {variant} --store, round {r + 1}, {lines} lines")
            secs, rc, err = timed(cmd, None, seconds_cap * 20)
            if rc != 0:
                raise RuntimeError(f"{variant} --store: exit {rc}: {err[-300:]}")
            best[variant] = min(best.get(variant, secs), secs)
    without, with_ = best["without"], best["with"]
    return {
        "lines": lines,
        "rounds": rounds,
        "seconds_without": round(without, 2),
        "seconds_with": round(with_, 2),
        "domains_per_s_without": round(lines / without, 1),
        "domains_per_s_with": round(lines / with_, 1),
        # throughput with / without: 0.90 means --store cost 10% of the rate
        "throughput_ratio": round(without / with_, 3),
    }


# --------------------------------------------------------------------------- snapshot


SNAPSHOT_ANSWERS = 1_000_000

_LOAD_SNAPSHOT = """
import sys, time
from bulkauth.dns.backends.snapshot import Snapshot
t = time.perf_counter(); s = Snapshot.load(sys.argv[1]); t = time.perf_counter() - t
print(t, len(s), s.entries)
"""
_LOAD_ZONES = """
import sys, time
from bulkauth.dns.backends.zonefile import ZoneSet
t = time.perf_counter(); z = ZoneSet.load(sys.argv[1]); t = time.perf_counter() - t
print(t, len(z.loaded))
"""


def _pad_snapshot(recorded: Path, target: Path, answers: int) -> int:
    """A snapshot of ``answers`` entries made of the recorded run's, copied under renamed
    owners (``r<k>.<name>``): the mix of a real run (70% NXDOMAIN probes, TXT sets of every
    size), at the size of a million-answer audit."""
    from bulkauth.dns.backends.snapshot import parts_dir, read_lines, write_snapshot

    lines = read_lines(recorded)
    header, entries = lines.header, list(lines.entries())
    parts = parts_dir(target)
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True)
    with open(parts / "1.ndjson", "wb") as f:
        n, k = 0, 0
        while n < answers:
            prefix = b'{"name":"r%d.' % k
            for line in entries[: answers - n]:
                f.write(line.replace(b'{"name":"', prefix, 1) + b"\n")
            n += min(len(entries), answers - n)
            k += 1
    return write_snapshot(target, header, parts)


def snapshot_stage(cli: list[str], work: Path, seconds_cap: float) -> dict[str, Any]:
    """--record-dns and --replay-dns: what recording costs a run (the same `domains` run
    without and with it, alternated, best of each), a replay of the recorded run (its rate,
    and whether its records are the same bytes), and loading a 1,000,000-answer snapshot
    against loading the synthetic internet's zone files, in the same run."""
    lines = _count_lines(work / "domains.txt")
    snap = work / "bench.snap"
    best: dict[str, float] = {}
    for r in range(2):
        for variant in ("without", "with"):
            out = work / f"snapshot-{variant}.ndjson"
            extra = ["--record-dns", str(snap)] if variant == "with" else []
            cmd = [*cli, "domains", str(work / "domains.txt"), "-n", NS, "--no-progress", "-o", str(out), *extra]  # fmt: skip
            log(f"bulkauth domains {variant} --record-dns, round {r + 1}, {lines} lines")
            secs, rc, err = timed(cmd, None, seconds_cap * 20)
            if rc != 0:
                raise RuntimeError(f"{variant} --record-dns: exit {rc}: {err[-300:]}")
            best[variant] = min(best.get(variant, secs), secs)
    recorded_out = work / "snapshot-with.ndjson"
    replay_out = work / "snapshot-replay.ndjson"
    log("bulkauth domains --replay-dns (NSD untouched: the replay sends nothing)")
    cmd = [*cli, "domains", str(work / "domains.txt"), "--replay-dns", str(snap), "--no-progress", "-o", str(replay_out)]  # fmt: skip
    replay_secs, rc, err = timed(cmd, None, seconds_cap * 20)
    if rc != 0:
        raise RuntimeError(f"--replay-dns: exit {rc}: {err[-300:]}")
    big = work / "bench-1m.snap"
    log(f"a {SNAPSHOT_ANSWERS:,}-answer snapshot from the recorded one")
    answers = _pad_snapshot(snap, big, SNAPSHOT_ANSWERS)
    loads: dict[str, list[float]] = {"snapshot": [], "zones": []}
    for r in range(2):
        for what, code, arg in (("snapshot", _LOAD_SNAPSHOT, big), ("zones", _LOAD_ZONES, work / "zones")):  # fmt: skip
            log(f"loading {what} in a fresh process, round {r + 1}")
            p = subprocess.run([sys.executable, "-c", code, str(arg)], capture_output=True, text=True, cwd=ROOT, timeout=600)  # fmt: skip
            if p.returncode != 0:
                raise RuntimeError(f"loading {what}: {p.stderr[-300:]}")
            loads[what].append(float(p.stdout.split()[0]))
    zone_files = sum(1 for f in (work / "zones").rglob("*") if f.is_file())
    zone_bytes = sum(f.stat().st_size for f in (work / "zones").rglob("*") if f.is_file())
    without, with_ = best["without"], best["with"]
    return {
        "lines": lines,
        "domains_per_s_without": round(lines / without, 1),
        "domains_per_s_recording": round(lines / with_, 1),
        # throughput with / without: 0.95 means recording cost 5% of the rate
        "recording_throughput_ratio": round(without / with_, 3),
        "recorded_answers": _count_snapshot(snap),
        "snapshot_bytes": snap.stat().st_size,
        "domains_per_s_replay": round(lines / replay_secs, 1),
        "replay_identical": replay_out.read_bytes() == recorded_out.read_bytes(),
        "load_answers": answers,
        "load_snapshot_bytes": big.stat().st_size,
        "load_snapshot_seconds": [round(x, 2) for x in loads["snapshot"]],
        "load_zones_seconds": [round(x, 2) for x in loads["zones"]],
        "zone_files": zone_files,
        "zone_bytes": zone_bytes,
    }


def _count_snapshot(path: Path) -> int:
    from bulkauth.dns.backends.snapshot import Snapshot

    return Snapshot.load(path).entries


# --------------------------------------------------------------------------- spf


SPF_CHECKS = 30_000
#: share of checks that draw a fresh client address (the rest repeat an earlier client; fresh
#: draws in the providers' small pools collide too): 30,000 checks meet ~17,000 distinct
#: addresses, as a day of a small MX's log does
SPF_FRESH_ADDRESS = 0.75
#: where fresh client addresses come from, with weights: the providers' and the synthetic
#: domains' authorised ranges (bench/synth.py) and addresses no record authorises, IPv4 and IPv6
SPF_CLIENT_RANGES: list[tuple[str, float]] = [
    ("198.51.100.0/24", 0.16),  # mailprov-a and the domains' own /28s
    ("203.0.113.0/24", 0.06),  # mailprov-a, own includes
    ("192.0.2.0/24", 0.04),  # mailprov-a (up to .55)
    ("198.18.0.0/19", 0.10),  # mailprov-b/c/d/e/f networks and more
    ("198.18.32.0/19", 0.08),
    ("100.64.0.0/10", 0.18),  # outside every record
    ("172.16.0.0/12", 0.10),
    ("2001:db8:4860::/48", 0.05),  # mailprov-a
    ("2001:db8:a000::/39", 0.04),  # mailprov-b
    ("2001:db8:b000::/48", 0.02),  # mailprov-d
    ("2001:db8::/32", 0.07),  # mostly outside, sometimes a domain's own /48
    ("fd00::/8", 0.10),  # outside
]


def spf_checks(work: Path, n: int, seed: int = 5) -> list[tuple[str, str]]:
    """(ip, sender) pairs shaped like a mail log: thousands of distinct clients, most new and
    some coming back, inside and outside the senders' authorised ranges, IPv4 and IPv6, and
    senders drawn with a Zipf-like skew (a few domains send much of the mail, most send little)."""
    rng = random.Random(seed)
    truth = [t for t in read_truth(work) if t.get("status") == "ok" and t["domain"]]
    # the busy senders are those with a working record; broken, parked and +all ones are in
    # the long tail (they still make ~10% of the checks)
    busy = [t["domain"] for t in truth if t["spf"]["state"] == "valid" and t["spf"].get("all") in ("-all", "~all", "?all") and t["spf"].get("kind") != "parked"]  # fmt: skip
    busy_set = set(busy)
    rest = [t["domain"] for t in truth if t["spf"]["state"] != "missing" and t["domain"] not in busy_set]  # fmt: skip
    rng.shuffle(busy)
    rng.shuffle(rest)
    senders = busy + rest
    if not senders:
        return []
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(senders))]
    nets = [ipaddress.ip_network(r) for r, _ in SPF_CLIENT_RANGES]
    net_weights = [w for _, w in SPF_CLIENT_RANGES]
    seen: list[str] = []
    checks: list[tuple[str, str]] = []
    for d in rng.choices(senders, weights, k=n):
        if seen and rng.random() > SPF_FRESH_ADDRESS:
            ip = rng.choice(seen)
        else:
            net = rng.choices(nets, net_weights)[0]
            ip = str(net[rng.randrange(1, net.num_addresses - 1)])
            seen.append(ip)
        checks.append((ip, f"user{rng.randrange(10**6)}@{d}"))
    return checks


SPF_ROUNDS = 5


def pyspf_run(
    checks: list[tuple[str, str]], seconds: float, start: int = 0
) -> tuple[float, list[str]]:
    """pyspf's check2 on ``checks[start:]``, one after the other, for ``seconds`` at most."""
    import dns.resolver
    import spf

    r = dns.resolver.Resolver(configure=False)
    r.nameservers = [NS]
    r.timeout = r.lifetime = 3.0
    dns.resolver.default_resolver = r
    results = []
    started = time.perf_counter()
    for ip, sender in checks[start:]:
        result, _explanation = spf.check2(i=ip, s=sender, h="")
        results.append(result)
        if time.perf_counter() - started > seconds:
            break
    return time.perf_counter() - started, results


def _spf_difference(ip: str, ours: str, theirs: str) -> str:
    """Why bulkauth and pyspf differ on a check, where the reason is known (bench/README.md)."""
    if ":" in ip and theirs == "permerror" and ours in ("fail", "softfail", "neutral", "pass"):
        return "ipv6 client, pyspf permerror: it counts each MX host without AAAA as a void lookup"
    return "other"


def spf_peers(
    cli: list[str], work: Path, n: int, seconds: float, rounds: int = SPF_ROUNDS
) -> dict[str, Any]:
    """``bulkauth spf --input`` on the n checks (a fresh process each round: start-up and cold
    caches counted) against pyspf over the next slice of the same checks, ``rounds`` times
    alternated: the machine is shared, so each round's ratio compares the two under the same
    load, and the median of the rounds is the figure."""
    checks = spf_checks(work, n)
    path = work / "spf-checks.txt"
    path.write_text("".join(f"{ip} {s}\n" for ip, s in checks))
    out_path = work / "spf-bulkauth.ndjson"
    cmd = [*cli, "spf", "--input", str(path), "-n", NS, "--backend", "udp", "--no-progress", "-o", str(out_path)]  # fmt: skip
    ours: list[str | None] = []
    theirs: list[str] = []
    per_round: list[dict[str, Any]] = []
    rc, err = 0, ""
    pyspf_absent = False
    for k in range(rounds):
        log(f"round {k + 1}/{rounds}: bulkauth spf --input on {len(checks)} checks")
        secs, rc, err = timed(cmd, None, seconds * 20)
        results = (
            [json.loads(x).get("result") for x in out_path.read_text().splitlines() if x.strip()]
            if out_path.exists()
            else []
        )
        if ours and results != ours:
            log("bulkauth's results differ between rounds")
        ours = results
        row: dict[str, Any] = {"bulkauth_seconds": round(secs, 2), "bulkauth_checks_per_s": round(len(results) / secs, 1) if secs else None, "load": os.getloadavg()[0]}  # fmt: skip
        try:
            log(f"round {k + 1}/{rounds}: pyspf check_host, sequential, {seconds / rounds:g} s")
            psecs, got = pyspf_run(checks, seconds / rounds, start=len(theirs))
        except ImportError:
            pyspf_absent = True
            per_round.append(row)
            continue
        theirs += got
        row["pyspf_checks"] = len(got)
        row["pyspf_checks_per_s"] = round(len(got) / psecs, 1) if psecs else None
        if row["bulkauth_checks_per_s"] and row["pyspf_checks_per_s"]:
            row["ratio"] = round(row["bulkauth_checks_per_s"] / row["pyspf_checks_per_s"], 2)
        per_round.append(row)
    med = statistics.median
    ba_rates = [r["bulkauth_checks_per_s"] for r in per_round if r["bulkauth_checks_per_s"]]
    bulk = {
        "checks": len(ours), "seconds_per_round": [r["bulkauth_seconds"] for r in per_round],
        "checks_per_s": med(ba_rates) if ba_rates else None,
        "distinct_clients": len({ip for ip, _ in checks}),
        "distinct_senders": len({s.rpartition("@")[2] for _, s in checks}),
        "ipv6_checks": sum(1 for ip, _ in checks if ":" in ip),
        "returncode": rc, "command": " ".join(cmd), "stderr_tail": err[-400:],
    }  # fmt: skip
    if pyspf_absent:
        return {"bulkauth": bulk, "pyspf": "absent", "rounds": per_round}
    pairs = list(zip(ours, theirs, strict=False))
    same = sum(1 for a, b in pairs if a == b)
    why = Counter(
        _spf_difference(checks[i][0], str(a), b) for i, (a, b) in enumerate(pairs) if a != b
    )
    diffs = [
        f"{checks[i][0]} {checks[i][1]}: bulkauth {a}, pyspf {b}"
        for i, (a, b) in enumerate(pairs)
        if a != b and _spf_difference(checks[i][0], str(a), b) == "other"
    ][:8]
    ratios = [r["ratio"] for r in per_round if "ratio" in r]
    py_rates = [r["pyspf_checks_per_s"] for r in per_round if r.get("pyspf_checks_per_s")]
    return {
        "bulkauth": bulk,
        "pyspf": {
            "checks": len(theirs), "seconds": round(seconds, 2),
            "checks_per_s": med(py_rates) if py_rates else None,
        },
        "rounds": per_round,
        "ratio_median": med(ratios) if ratios else None,
        "results_agree": {"same": same, "compared": len(pairs), "differences": dict(why), "examples_other": diffs},
    }  # fmt: skip


# --------------------------------------------------------------------------- memory


def _status_kib(pid: int, field: str) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _tree(pid: int) -> list[int]:
    """pid and all its descendants (bulkauth runs worker processes for big inputs)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _tree_rss_kib(pid: int, hwm: dict[int, int]) -> int:
    """Summed VmRSS of the process tree now; ``hwm`` keeps each process's VmHWM."""
    total = 0
    for p in _tree(pid):
        total += _status_kib(p, "VmRSS:")
        hwm[p] = max(hwm.get(p, 0), _status_kib(p, "VmHWM:"))
    return total


def _tree_pss_kib(pid: int) -> int:
    """Summed proportional set size of the tree: forked workers share their parent's pages,
    which RSS counts once per process and PSS once in all."""
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
    return total


def memory_run(
    cli: list[str], work: Path, lines: int, cap: float, plain: bool = False
) -> dict[str, Any]:
    """Issue 17's condition: the run with the store and the DNS snapshot on (``plain``: without
    them, for the pipeline's own share)."""
    big = work / "domains-big.txt"
    if _count_lines(big) != lines:
        synth.write_big_list(work, lines, seed=1)
    out_path = work / "domains-big.ndjson"
    store, snap = work / "memory-run.duckdb", work / "memory-run.snapshot.gz"
    for leftover in (store, snap, store.with_name(store.name + ".wal")):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(snap.with_name(snap.name + ".parts"), ignore_errors=True)
    options = [] if plain else ["--store", str(store), "--record-dns", str(snap)]
    cmd = [*cli, "domains", str(big), "-n", NS, "--backend", "udp", "--no-progress", "-o", str(out_path), *options]  # fmt: skip
    log(f"memory run: {lines:,} lines (capped at {cap:.0f} s)")
    started = time.perf_counter()
    # stderr to a file, not a pipe: worker processes inherit it, and a pipe read would wait
    # for the last of them
    err_path = work / "memory-run.stderr"
    errf = open(err_path, "wb")  # noqa: SIM115 - closed below, after the process tree is gone
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf, cwd=ROOT)
    samples: list[tuple[float, int, int, int]] = []  # seconds, lines, tree RSS and PSS, KiB
    hwms: dict[int, int] = {}  # pid -> VmHWM: each process's own peak
    peak = peak_pss = 0
    completed = False
    orphans: list[int] = []
    while True:
        try:
            p.wait(timeout=2.0)
            completed = p.returncode == 0
            break
        except subprocess.TimeoutExpired:
            pass
        rss = _tree_rss_kib(p.pid, hwms)
        pss = _tree_pss_kib(p.pid)
        peak = max(peak, rss)
        peak_pss = max(peak_pss, pss)
        done = _count_lines(out_path)
        samples.append((round(time.perf_counter() - started, 1), done, rss, pss))
        if time.perf_counter() - started > cap:
            family = _tree(p.pid)
            p.terminate()  # what a user's Ctrl-C / a scheduler's stop does
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(15)
            if p.poll() is None:
                p.kill()
                p.wait()
            time.sleep(2)
            # workers must end with their parent; any left over are counted, then ended
            orphans = [pid for pid in family[1:] if Path(f"/proc/{pid}").exists()]
            for pid in orphans:
                with contextlib.suppress(OSError):
                    os.kill(pid, 9)
            break
    secs = time.perf_counter() - started
    errf.close()
    done = _count_lines(out_path)
    # RSS at 10%, 50% and the end of what was done: flat means memory does not grow with input
    picks = [samples[int(len(samples) * f)] for f in (0.1, 0.5) if samples] + samples[-1:]
    return {
        "lines": lines,
        "with_store_and_snapshot": not plain,
        "lines_done": done,
        "completed": completed,
        "seconds": round(secs, 1),
        "domains_per_s": round(done / secs, 1) if secs else None,
        # the peak of the tree's summed RSS as sampled every 2 s, and the sum of every
        # process's own peak (an upper bound: the peaks need not coincide)
        "peak_rss_mib": round(peak / 1024, 1),
        "peak_pss_mib": round(peak_pss / 1024, 1),
        "sum_of_process_peaks_mib": round(sum(hwms.values()) / 1024, 1),
        "processes": len(hwms),
        "rss_samples": [
            {"s": s, "lines": n, "rss_mib": round(r / 1024, 1), "pss_mib": round(q / 1024, 1)}
            for s, n, r, q in picks
        ],
        "command": " ".join(cmd),
        "workers_left_running_after_sigterm": len(orphans),
        "stderr_tail": err_path.read_text(errors="replace")[-400:],
    }


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    n = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            n += block.count(b"\n")
    return n


# --------------------------------------------------------------------------- report


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def table(res: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str]] = []
    notes: list[str] = []
    srv = res.get("dnsperf", {}).get("qps")
    cl = res.get("clients", {})
    if srv:
        rows.append(("NSD ceiling (dnsperf, realistic mix)", f"{srv:,.0f} q/s", ""))
    for c in CLIENTS if cl else ():
        q = cl.get(c, {}).get("qps_median")
        runs = ", ".join(f"{x:,.0f}" for x in cl.get(c, {}).get("qps_runs", []))
        pr = cl.get(c, {}).get("vs_raw_udp_median")
        cpu = cl.get(c, {}).get("cpu_us_per_query_median")
        rows.append((f"{c}, 500 in flight (median)", f"{q:,.0f} q/s" if q else "-",
                     f"{pr or 0:.2f}x raw-udp in the same round, {ratio(q, srv)} server; {cpu or 0:.1f} us CPU a query; runs {runs}"))  # fmt: skip
    eq = res.get("answer_equality")
    if eq and "compared" in eq:
        rows.append(("answers identical, udp vs aiodns", f"{eq['identical']}/{eq['compared']}", ""))
    dom = res.get("domains") or {}
    cd = (dom.get("checkdmarc") or {}).get("domains_per_s")
    for k, label in (
        ("bulkauth_udp", "bulkauth domains --backend udp"),
        ("bulkauth_aiodns", "bulkauth domains --backend aiodns"),
        ("bulkauth_udp_checkdmarc_scope", "bulkauth domains, checkdmarc's scope (no DKIM)"),
        ("checkdmarc", "checkdmarc 6.0.4 (no DKIM discovery)"),
    ):
        d = dom.get(k)
        if d and d.get("domains_per_s"):
            rows.append(
                (
                    f"{label}",
                    f"{d['domains_per_s']:,} domains/s",
                    f"{ratio(d['domains_per_s'], cd)} checkdmarc",
                )
            )
            ag = d.get("agreement") or {}
            # a rate that is not whole says how many: 99.95% must not print as 100.0%
            rates = ", ".join(
                f"{s} {v['rate']:.1%}"
                + ("" if v["agree"] == v["total"] else f" ({v['agree']}/{v['total']})")
                for s, v in ag.items()
                if v.get("rate") is not None
            )
            if rates:
                notes.append(f"{label}, agreement with truth: {rates}")
    st = res.get("store") or {}
    if st.get("throughput_ratio"):
        rows.append(
            (
                "bulkauth domains --store (same run, best of each)",
                f"{st['domains_per_s_with']:,} domains/s",
                f"{st['throughput_ratio']:.2f}x the rate without ({st['domains_per_s_without']:,}"
                f" domains/s): --store costs {1 - st['throughput_ratio']:.0%}",
            )
        )
    sn = res.get("snapshot") or {}
    if sn.get("recording_throughput_ratio"):
        r = sn["recording_throughput_ratio"]
        rows.append(("bulkauth domains --record-dns (same run, best of each)", f"{sn['domains_per_s_recording']:,} domains/s", f"{r:.2f}x the rate without ({sn['domains_per_s_without']:,} domains/s); {sn['recorded_answers']:,} answers, {sn['snapshot_bytes'] / 1e6:.1f} MB"))  # fmt: skip
        rows.append(("bulkauth domains --replay-dns of that run", f"{sn['domains_per_s_replay']:,} domains/s", "same bytes as the recorded run" if sn["replay_identical"] else "RECORDS DIFFER"))  # fmt: skip
        snap_s, zone_s = min(sn["load_snapshot_seconds"]), min(sn["load_zones_seconds"])
        rows.append((f"loading a {sn['load_answers']:,}-answer snapshot ({sn['load_snapshot_bytes'] / 1e6:.1f} MB)", f"{snap_s:.2f} s", f"vs {zone_s:.2f} s for the {sn['zone_files']:,} zone files ({sn['zone_bytes'] / 1e6:.1f} MB) in the same run"))  # fmt: skip
    sp = res.get("spf") or {}
    if isinstance(sp.get("bulkauth"), dict):
        py = sp["pyspf"].get("checks_per_s") if isinstance(sp.get("pyspf"), dict) else None
        ours = sp["bulkauth"].get("checks_per_s")
        b = sp["bulkauth"]
        med = sp.get("ratio_median")
        rounds = ", ".join(f"{r['ratio']}x" for r in sp.get("rounds", []) if "ratio" in r)
        label = f"bulkauth spf --input, {b['checks']:,} checks, {b.get('distinct_clients', 0):,} clients, cold"  # fmt: skip
        shown = f"{med}x pyspf (median of rounds: {rounds})" if med else f"{ratio(ours, py)} pyspf"
        rows.append((label, f"{ours:,} checks/s" if ours else "-", shown))
        if py:
            rows.append(("pyspf 2.0.14 check_host, sequential", f"{py:,} checks/s", ""))
        ag = sp.get("results_agree") or {}
        if ag:
            why = "; ".join(f"{n} {k}" for k, n in (ag.get("differences") or {}).items())
            notes.append(f"spf results, bulkauth == pyspf: {ag['same']}/{ag['compared']}" + (f" (differences: {why})" if why else ""))  # fmt: skip
    if isinstance(res.get("latency"), dict) and "error" not in res["latency"]:
        from bench import latency

        lat_rows, lat_notes = latency.rows(res["latency"])
        rows += lat_rows
        notes += lat_notes
    rep = res.get("report") or {}
    if "diff" in rep:
        from bench import report

        notes.append(report.table(rep))
    zn = res.get("zones") or {}
    if "data" in zn:
        from bench import zoneload

        rows += zoneload.rows(zn)
    mem = res.get("memory")
    if mem and "peak_rss_mib" in mem:
        flat = " -> ".join(f"{x['pss_mib']:.0f}" for x in mem.get("rss_samples", []))
        opts = ", --store --record-dns" if mem.get("with_store_and_snapshot") else ""
        rows.append((f"bulkauth domains{opts}, {mem['lines_done']:,}/{mem['lines']:,} lines", f"{mem['peak_pss_mib']} MiB peak PSS", f"(RSS summed {mem['peak_rss_mib']} MiB); PSS at 10%/50%/end {flat} MiB; {mem['domains_per_s']} domains/s"))  # fmt: skip
    w = max((len(r[0]) for r in rows), default=0)
    v = max((len(r[1]) for r in rows), default=0)
    lines = [f"{a:<{w}}  {b:>{v}}  {c}".rstrip() for a, b, c in rows]
    return "\n".join([*lines, "", *notes, *targets(res)])


def targets(res: dict[str, Any]) -> list[str]:
    """Issue 17's targets against this run's figures (item 2d, messages, is bench.messages')."""
    out: list[tuple[str, str, str, bool]] = []
    lat = res.get("latency") or {}
    for key, label in (("rtt20", "1 latency 20+-5 ms"), ("rtt20-drop1", "1 latency, 1% dropped")):
        r = lat.get(key) or {}
        if r.get("full_vs_checkdmarc"):
            got = f"full {r['full_vs_checkdmarc']}x, scope {r.get('scope_vs_checkdmarc')}x"
            out.append((label, ">= 100x checkdmarc", got, r["full_vs_checkdmarc"] >= 100))
    ru = (res.get("clients") or {}).get("resolver-udp") or {}
    if ru.get("vs_raw_udp_median"):
        got = f"{ru['vs_raw_udp_median']:.2f}x raw udp"
        out.append(("2a resolver over UDP", ">= 0.9x raw udp", got, ru["vs_raw_udp_median"] >= 0.9))
    dom = res.get("domains") or {}
    cd = (dom.get("checkdmarc") or {}).get("domains_per_s")
    full = (dom.get("bulkauth_udp") or {}).get("domains_per_s")
    scope = (dom.get("bulkauth_udp_checkdmarc_scope") or {}).get("domains_per_s")
    if cd and full and scope:
        fx, sx = full / cd, scope / cd
        got = f"full {fx:.1f}x, scope {sx:.1f}x"
        out.append(("2b zero latency", "full >= 25x, scope >= 100x", got, fx >= 25 and sx >= 100))
    sp = res.get("spf") or {}
    if sp.get("ratio_median"):
        med = sp["ratio_median"]
        out.append(("2c spf --input, log-like", ">= 30x pyspf", f"{med}x", med >= 30))
    zn = res.get("zones") or {}
    speeds = {k: zn[k]["speedup"] for k in ("synthetic", "split") if "speedup" in zn.get(k, {})}
    if speeds:
        got = ", ".join(f"{k} {x}x" for k, x in speeds.items())
        out.append(("3 --zones load", ">= 5x dnspython", got, min(speeds.values()) >= 5))
    mem = res.get("memory") or {}
    if mem.get("with_store_and_snapshot") and mem.get("peak_pss_mib"):
        mib = mem["peak_pss_mib"]
        whole = mem.get("completed") and mem.get("lines_done") == mem.get("lines")
        got = f"{mib} MiB ({mib * 1.048576:.0f} MB) over {mem['lines_done']:,} lines"
        out.append(("4 memory, store + snapshot", "< 200 MB PSS, 1,000,000 lines", got, bool(whole) and mem["lines"] >= 1_000_000 and mib * 1.048576 < 200))  # fmt: skip
    if not out:
        return []
    w = [max(len(r[0]) for r in out), max(len(r[1]) for r in out), max(len(r[2]) for r in out)]
    lines = ["", "issue 17 targets (2d: bench.messages):"]
    lines += [f"  {a:<{w[0]}}  {b:<{w[1]}}  {c:<{w[2]}}  {'met' if ok else 'NOT met'}" for a, b, c, ok in out]  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="2,000 domains, 2 rounds (the default)")
    p.add_argument("--full", action="store_true", help="10,000 domains, 3 rounds, the memory run")
    p.add_argument("--domains", type=int)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seconds", type=float, help="per client measurement")
    p.add_argument("--rounds", type=int)
    p.add_argument("--memory-lines", type=int, help="lines for the memory run (0: skip)")
    p.add_argument(
        "--memory-plain", action="store_true", help="the memory run without --store/--record-dns"
    )
    p.add_argument(
        "--memory-cap", type=float, default=1200.0, help="seconds the memory run may take"
    )
    p.add_argument(
        "--only",
        choices=[
            "dns",
            "domains",
            "latency",
            "store",
            "snapshot",
            "spf",
            "memory",
            "report",
            "zones",
        ],
        action="append",
    )
    p.add_argument(
        "--report-domains", type=int, default=100_000, help="domains of the report stage's runs"
    )
    p.add_argument("--work", type=Path)
    p.add_argument(
        "--address",
        default=ADDRESS,
        help="loopback address of the bench's NSD (port 53), for a second bench beside one running",
    )
    a = p.parse_args(argv)
    global NS
    NS = a.address
    mode = "full" if a.full else "quick"
    domains = a.domains or (10_000 if a.full else 2_000)
    seconds = a.seconds or (10.0 if a.full else 6.0)
    rounds = a.rounds or (3 if a.full else 2)
    mem_lines = a.memory_lines if a.memory_lines is not None else (1_000_000 if a.full else 0)
    only = set(
        a.only
        or ["dns", "domains", "latency", "store", "snapshot", "spf", "memory", "report", "zones"]
    )
    work = (a.work or HERE / "work" / mode).resolve()

    meta_path = work / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    wanted = (domains, a.seed, synth.GENERATOR_VERSION)
    if (meta.get("domains"), meta.get("seed"), meta.get("generator_version")) != wanted:
        log(f"generating {domains:,} domains (seed {a.seed}) in {work}")
        if work.exists():
            shutil.rmtree(work / "zones", ignore_errors=True)
        meta = synth.generate(work, domains, a.seed, quiet=True)
    needs_server = bool(only - {"zones"})  # the zones stage only reads files
    if needs_server:
        ensure_tools()
    res: dict[str, Any] = {
        "mode": mode,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "synthetic": meta,
        "parameters": {"seconds": seconds, "rounds": rounds, "inflight": 500, "nameserver": NS},
    }
    queries = work / "queries.txt"

    def stage(key: str, fn: Callable[[], Any]) -> None:
        # one stage failing must not cost the others' measurements
        try:
            res[key] = fn()
        except Exception as exc:  # recorded in the results; the run goes on
            log(f"{key} failed: {exc!r}")
            res[key] = {"error": repr(exc)}

    if "zones" in only:
        # before NSD starts: loading is CPU-bound, and NSD idle costs nothing, but no reason
        from bench import zoneload

        stage("zones", lambda: zoneload.run(work, rounds, log))
    with Nsd(work, a.address) if needs_server else contextlib.nullcontext():
        if "dns" in only:
            log("dnsperf: the server's ceiling")
            stage("dnsperf", lambda: dnsperf(queries, seconds))
            log(f"  {res['dnsperf'].get('qps')} q/s")
            log(f"clients: {rounds} rounds x {len(CLIENTS)} clients x {seconds:g} s")
            stage("clients", lambda: clients(queries, seconds, rounds))
            log("answer equality, udp vs aiodns")
            stage("answer_equality", lambda: answer_equality(queries, 3000 if a.full else 1500))
        cli = bulkauth_cli() if needs_server else None
        if cli is None:
            if needs_server:
                log("bulkauth domains not available yet: peers skipped")
        else:
            if "domains" in only:
                stage("domains", lambda: domains_peers(cli, work, 500 if a.full else 200, seconds))
            if "latency" in only:
                from bench import latency

                stage("latency", lambda: latency.run(cli, work, 60 if a.full else 40, seconds))
            if "store" in only:
                stage("store", lambda: store_overhead(cli, work, rounds, seconds))
            if "snapshot" in only:
                stage("snapshot", lambda: snapshot_stage(cli, work, seconds))
            if "spf" in only:
                # 30,000 checks in both modes: a 10,000-check run lasts ~1.3 s, a quarter of it
                # start-up, so it measured the start as much as the rate (pyspf is timed 12 s)
                stage("spf", lambda: spf_peers(cli, work, SPF_CHECKS, seconds * 2))
            if "memory" in only and mem_lines:
                stage(
                    "memory", lambda: memory_run(cli, work, mem_lines, a.memory_cap, a.memory_plain)
                )
            if "report" in only:
                from bench import report

                stage("report", lambda: report.run(work, a.report_domains, nameserver=NS))
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    partial = "" if a.only is None else "-" + "-".join(sorted(only))
    out = results / f"{dt.date.today().isoformat()}-{mode}{partial}.json"
    out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(table(res))
    print(f"\nresults: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
