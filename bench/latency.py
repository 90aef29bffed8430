"""The latency stage (``python -m bench.run --only latency``): the domain audits behind a path
that delays answers as the internet does, so that concurrency, not CPU, decides.

For each scenario (20 ms +- 5 ms; the same with 1% of answers dropped) dnsdist runs in front
of the bench's NSD (bench/dnsdist.py) and, in the same minutes:

1. dnsdist's own ceiling at that delay: dnsperf with 5,000 queries in flight (its socket
   buffers deep enough to lose nothing of its own), queries/s and lost;
2. ``bulkauth domains`` (the full audit) and ``bulkauth domains --sections`` of checkdmarc's
   scope, alternated (full, scope, checkdmarc, scope, full), with the queries/s each made and
   the CPU dnsdist spent meanwhile;
3. checkdmarc on a slice of the same list (it is sequential: every answer's wait adds up);
4. every tool's verdicts against the generator's truth, as in the zero-latency stage.

The ratios printed are bulkauth's best run of each kind against checkdmarc's rate, and
bulkauth's queries/s against dnsdist's ceiling (how far the delaying component is from
limiting the figure).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.dnsdist import Dnsdist

#: (name, delay ms, jitter ms, share of answers dropped)
SCENARIOS = (("rtt20", 20, 5, 0.0), ("rtt20-drop1", 20, 5, 0.01))
CHECKDMARC_SCOPE = "spf,dmarc,mx,mta_sts,tls_rpt,bimi"


def log(msg: str) -> None:
    from bench.run import log as run_log

    run_log(msg)


def ceiling(nameserver: str, queries: Path, seconds: float, inflight: int = 5000) -> dict[str, Any]:
    """dnsperf through dnsdist: what the delaying path answers at most."""
    exe = shutil.which("dnsperf") or "/usr/bin/dnsperf"
    # -b: dnsperf's own socket buffers (KiB); at its default it lost replies itself
    cmd = [exe, "-s", nameserver, "-d", str(queries), "-l", str(seconds), "-c", "4", "-T", "2", "-q", str(inflight), "-b", "4096"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    text = out.stdout + out.stderr

    def num(pattern: str) -> float | None:
        m = re.search(pattern, text)
        return float(m.group(1)) if m else None

    return {
        "qps": num(r"Queries per second:\s+([\d.]+)"),
        "lost_share": (num(r"Queries lost:\s+\d+ \(([\d.]+)%\)") or 0.0) / 100,
        "latency_avg_s": num(r"Average Latency \(s\):\s+([\d.]+)"),
        "latency_max_s": num(r"Average Latency \(s\):\s+[\d.]+ \(min [\d.]+, max ([\d.]+)\)"),
        "command": " ".join(cmd),
    }


def _queries_sent(stderr: str) -> int | None:
    m = re.search(r"([\d,]+) queries sent", stderr)
    return int(m.group(1).replace(",", "")) if m else None


def _dns_line(stderr: str) -> str:
    return next((x for x in stderr.splitlines() if x.startswith("dns (")), "")


def bulkauth_run(
    cli: list[str], work: Path, nameserver: str, variant: str, dd: Dnsdist, cap: float
) -> dict[str, Any]:
    from bench.run import agreement_bulkauth, read_truth, timed

    extra = ["--sections", CHECKDMARC_SCOPE] if variant == "scope" else []
    path = work / f"latency-{variant}.ndjson"
    cmd = [*cli, "domains", str(work / "domains.txt"), "-n", nameserver, *extra, "--no-progress", "-o", str(path)]  # fmt: skip
    cpu0 = dd.cpu_seconds()
    secs, rc, err = timed(cmd, None, cap)
    dd_cpu = dd.cpu_seconds() - cpu0
    truth = read_truth(work)
    recs = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    sent = _queries_sent(err)
    return {
        "seconds": round(secs, 2),
        "domains_per_s": round(len(truth) / secs, 1),
        "queries": sent,
        "queries_per_s": round(sent / secs) if sent else None,
        "dnsdist_cpu_share": round(dd_cpu / secs, 3),  # of one core
        "dns_summary": _dns_line(err),
        "returncode": rc,
        "command": " ".join(cmd),
        "agreement": agreement_bulkauth(recs, truth),
        "load_average": os.getloadavg(),
    }


def checkdmarc_run(work: Path, nameserver: str, n: int, cap: float) -> dict[str, Any] | None:
    from bench.run import agreement_checkdmarc, read_truth, timed, tool

    exe = tool("checkdmarc")
    if exe is None:
        return None
    truth = read_truth(work)
    doms = [t["domain"] for t in truth if t.get("status") == "ok"][:n]
    lst = work / "latency-checkdmarc-domains.txt"
    lst.write_text("\n".join(doms) + "\n")
    res = work / "latency-checkdmarc.json"
    cmd = [exe, str(lst), "-n", nameserver, "-f", "json"]
    secs, rc, _err = timed(cmd, res, cap)
    try:
        results = json.loads(res.read_text())
        results = results if isinstance(results, list) else [results]
    except (OSError, ValueError):
        results = []
    return {
        "domains": len(doms),
        "seconds": round(secs, 2),
        "domains_per_s": round(len(doms) / secs, 2),
        "returncode": rc,
        "command": " ".join(cmd),
        "agreement": agreement_checkdmarc(results, truth) if results else None,
        "load_average": os.getloadavg(),
    }


def run(cli: list[str], work: Path, checkdmarc_n: int, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {"input_lines": (work / "domains.txt").read_bytes().count(b"\n")}
    for name, delay, jitter, drop in SCENARIOS:
        sc: dict[str, Any] = {"delay_ms": delay, "jitter_ms": jitter, "drop": drop}
        with Dnsdist(work, delay, jitter, drop) as dd:
            sc["dnsdist_config"] = dd.text
            ns = dd.nameserver
            time.sleep(1.0)  # dnsdist's first health check
            log(f"latency {name}: dnsdist's ceiling (dnsperf, 5,000 in flight)")
            cpu0, t0 = dd.cpu_seconds(), time.perf_counter()
            sc["ceiling"] = ceiling(ns, work / "queries.txt", seconds)
            sc["ceiling"]["dnsdist_cpu_share"] = round(
                (dd.cpu_seconds() - cpu0) / (time.perf_counter() - t0), 3
            )
            log(f"  {sc['ceiling']['qps']} q/s, lost {sc['ceiling']['lost_share']:.2%}")
            runs: dict[str, list[dict[str, Any]]] = {"full": [], "scope": []}
            for variant in ("full", "scope", "checkdmarc", "scope", "full"):
                if variant == "checkdmarc":
                    log(f"latency {name}: checkdmarc on {checkdmarc_n} domains")
                    sc["checkdmarc"] = checkdmarc_run(work, ns, checkdmarc_n, seconds * 200)
                    continue
                log(f"latency {name}: bulkauth domains ({variant})")
                r = bulkauth_run(cli, work, ns, variant, dd, seconds * 40)
                log(
                    f"  {r['domains_per_s']} domains/s, {r['queries_per_s']} q/s; {r['dns_summary']}"
                )
                runs[variant].append(r)
            sc["bulkauth_full"] = runs["full"]
            sc["bulkauth_scope"] = runs["scope"]
            cd = (sc.get("checkdmarc") or {}).get("domains_per_s")
            for variant in ("full", "scope"):
                best = max(runs[variant], key=lambda r: r["domains_per_s"])
                sc[f"best_{variant}"] = best["domains_per_s"]
                sc[f"{variant}_vs_checkdmarc"] = (
                    round(best["domains_per_s"] / cd, 1) if cd else None
                )
                q = best.get("queries_per_s")
                top = sc["ceiling"].get("qps")
                sc[f"{variant}_share_of_ceiling"] = round(q / top, 3) if q and top else None
        out[name] = sc
    return out


def rows(res: dict[str, Any]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The latency stage's lines of the bench table, and its agreement notes."""
    out: list[tuple[str, str, str]] = []
    notes: list[str] = []
    for sc in res.values():
        if not isinstance(sc, dict) or "ceiling" not in sc:
            continue
        tag = f"{sc['delay_ms']}+-{sc['jitter_ms']} ms" + (
            f", {sc['drop']:.0%} dropped" if sc["drop"] else ""
        )
        c = sc["ceiling"]
        out.append((f"[{tag}] dnsdist ceiling (dnsperf, 5,000 in flight)", f"{c['qps'] or 0:,.0f} q/s", f"lost {c['lost_share']:.2%}, dnsdist at {c['dnsdist_cpu_share']:.0%} of a core"))  # fmt: skip
        cd = sc.get("checkdmarc") or {}
        for variant, label in (("full", "bulkauth domains, full audit"), ("scope", "bulkauth domains, checkdmarc's scope")):  # fmt: skip
            best = max(sc[f"bulkauth_{variant}"], key=lambda r: r["domains_per_s"])
            runs = ", ".join(f"{r['domains_per_s']}" for r in sc[f"bulkauth_{variant}"])
            out.append((f"[{tag}] {label}", f"{best['domains_per_s']:,} domains/s", f"{sc[f'{variant}_vs_checkdmarc'] or 0:.1f}x checkdmarc; {best['queries_per_s']:,} q/s = {sc[f'{variant}_share_of_ceiling'] or 0:.0%} of dnsdist's ceiling, dnsdist at {best['dnsdist_cpu_share']:.0%} of a core; runs {runs}"))  # fmt: skip
            notes.append(f"[{tag}] {label}: {best['dns_summary']}")
            ag = best.get("agreement") or {}
            rates = ", ".join(
                f"{s} {v['rate']:.1%}"
                + ("" if v["agree"] == v["total"] else f" ({v['agree']}/{v['total']})")
                for s, v in ag.items()
                if v.get("rate") is not None
            )
            notes.append(f"[{tag}] {label}, agreement with truth: {rates}")
        if cd:
            ag = cd.get("agreement") or {}
            rates = ", ".join(
                f"{s} {v['rate']:.1%}" for s, v in ag.items() if v.get("rate") is not None
            )
            notes.append(f"[{tag}] checkdmarc, agreement with truth: {rates}")
            out.append((f"[{tag}] checkdmarc 6.0.4 ({cd['domains']} domains)", f"{cd['domains_per_s']:,} domains/s", "1.00x"))  # fmt: skip
    return out, notes
