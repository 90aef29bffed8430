"""The report and the diff at 100,000 domains: generation time, peak memory, file size, and the
time headless Chromium takes to open the report, filter it and show an item's findings.

The records are real: a `bulkauth domains` run over the bench's synthetic internet (the
domains stage's list, audited over NSD) repeated under new names until there are ``--domains``
of them. The previous run is the same list with every tenth domain given another domain's
findings (a realistic mix of posture, state, problem and key changes), 1% dropped and 1% added.

Peers, measured in the same run: the diff against GNU sort of both runs (what a shell script
would do first), the report against parsing the run once with orjson (the floor of any tool
that reads it).

    python -m bench.report                 # 100,000 domains (needs bench/work/quick or --base)
    python -m bench.report --domains 20000 --base some-run.ndjson
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def log(msg: str) -> None:
    print(f"[bench report {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def measured(cmd: list[str], **kw: Any) -> dict[str, Any]:
    """Wall seconds and peak RSS (MiB) of one command, from its own rusage (os.wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    secs = time.perf_counter() - t0
    proc.stderr.close()
    if proc.returncode not in (0, 1):
        raise RuntimeError(
            f"{cmd[:3]}: exit {proc.returncode}: {err[-400:].decode(errors='replace')}"
        )
    return {"seconds": round(secs, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def scale(base: Path, out: Path, n: int, previous: bool) -> int:
    """`n` records from `base`'s, renamed apart; `previous`: the mutated earlier run."""
    recs = [orjson.loads(x) for x in base.read_bytes().splitlines() if x.strip()]
    recs = [r for r in recs if r.get("status") == "ok"] or recs
    written = 0
    with out.open("wb") as f:
        for i in range(n + (n // 100 if previous else 0)):
            if previous and i % 100 == 1 and i < n:
                continue  # dropped from the earlier list: added in the later one
            if not previous and i >= n:
                break
            k, j = divmod(i, len(recs))
            src = recs[(j + 1) % len(recs)] if previous and i % 10 == 0 else recs[j]
            name = f"n{k}-{recs[j].get('domain') or recs[j].get('input')}"
            f.write(orjson.dumps({**src, "domain": name, "input": name, "line": i + 1}) + b"\n")
            written += 1
    return written


def base_run(work: Path, given: Path | None, nameserver: str | None) -> Path:
    """A real run to scale up: --base, the store stage's output, or a fresh audit over NSD."""
    for p in (given, work / "store-without.ndjson", work / "report-base.ndjson"):
        if p is not None and p.exists() and p.stat().st_size:
            return p
    if nameserver is None:
        raise RuntimeError("no base run: give --base RUN.ndjson, or run under bench.run (NSD)")
    out = work / "report-base.ndjson"
    cmd = [sys.executable, "-m", "bulkauth", "domains", str(work / "domains.txt"),
           "-n", nameserver, "--no-progress", "-o", str(out)]  # fmt: skip
    measured(cmd)
    return out


async def _browser(binary: str, html: Path, rounds: int) -> dict[str, Any]:
    from bench.cdp import Page

    opens, filters, details = [], [], []
    errors: list[str] = []
    for _ in range(rounds):
        async with Page(binary) as page:
            opens.append(await page.open(html))
            t0 = time.perf_counter()
            await page.js(
                "(() => { const s = document.getElementById('f-posture');"
                " s.value = [...s.options].find(o => o.text.startsWith('broken')).value;"
                " s.dispatchEvent(new Event('change')); })()"
            )
            await page.js("document.getElementById('shown').textContent")
            filters.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            await page.js("document.querySelector('#table tbody tr.item').click()")
            await page.js(
                "new Promise(done => { const seen = () => document.querySelector('tr.detail')"
                " ? done(true) : setTimeout(seen, 2); seen(); })"
            )
            details.append(time.perf_counter() - t0)
            errors += page.errors
    return {
        "open_seconds_median": round(statistics.median(opens), 3),
        "open_seconds": [round(x, 3) for x in opens],
        "filter_seconds_median": round(statistics.median(filters), 3),
        "detail_seconds_median": round(statistics.median(details), 3),
        "console_errors": errors,
    }


def run(work: Path, domains: int, base: Path | None = None, nameserver: str | None = None,
        rounds: int = 3) -> dict[str, Any]:  # fmt: skip
    from bench.cdp import find_chromium

    work.mkdir(parents=True, exist_ok=True)
    src = base_run(work, base, nameserver)
    big, prev = work / f"report-{domains}.ndjson", work / f"report-{domains}-prev.ndjson"
    log(f"scaling {src.name} to {domains:,} domains (and the earlier run)")
    scale(src, big, domains, previous=False)
    prev_n = scale(src, prev, domains, previous=True)
    res: dict[str, Any] = {
        "domains": domains,
        "previous_domains": prev_n,
        "base": str(src),
        "run_mib": round(big.stat().st_size / 2**20, 1),
    }
    cli = [sys.executable, "-m", "bulkauth"]
    env = {**os.environ, "LC_ALL": "C"}
    log("diff, and GNU sort of both runs (peer)")
    res["diff"] = measured([*cli, "diff", str(prev), str(big), "-o", str(work / "report.diff")])
    res["diff"]["changed_lines"] = sum(1 for _ in (work / "report.diff").open("rb"))
    sort_secs = 0.0
    for p in (prev, big):
        sort_secs += measured(["sort", "-S", "256M", "-o", "/dev/null", str(p)], env=env)["seconds"]
    res["gnu_sort_seconds"] = round(sort_secs, 2)
    log("report --previous, and one orjson pass over the run (peer)")
    html = work / "report.html"
    res["report"] = measured([*cli, "report", str(big), "--previous", str(prev), "-o", str(html)])
    res["report"]["file_mib"] = round(html.stat().st_size / 2**20, 2)
    parse = [sys.executable, "-c", "import orjson,sys\nfor l in open(sys.argv[1],'rb'): orjson.loads(l)", str(big)]  # fmt: skip
    res["orjson_pass_seconds"] = measured(parse)["seconds"]
    binary = find_chromium()
    if binary is None:
        res["browser"] = {"skipped": "chromium not found"}
    else:
        log(f"headless Chromium: open, filter, open an item ({rounds} rounds)")
        res["browser"] = asyncio.run(_browser(binary, html, rounds))
    return res


def table(res: dict[str, Any]) -> str:
    d, r, b = res["diff"], res["report"], res.get("browser", {})
    n = f"{res['domains']:,}"
    lines = [
        f"bulkauth diff, {n} vs {res['previous_domains']:,} domains ({res['run_mib']} MiB a run): "
        f"{d['seconds']} s, peak RSS {d['peak_rss_mib']} MiB, {d['changed_lines']:,} lines; "
        f"{d['seconds'] / res['gnu_sort_seconds']:.2f}x GNU sort of both runs ({res['gnu_sort_seconds']} s)",
        f"bulkauth report --previous, {n} domains: {r['seconds']} s, peak RSS {r['peak_rss_mib']} MiB, "
        f"{r['file_mib']} MiB of HTML; {r['seconds'] / res['orjson_pass_seconds']:.2f}x one orjson "
        f"pass over the run ({res['orjson_pass_seconds']} s)",
    ]
    if "open_seconds_median" in b:
        lines.append(
            f"headless Chromium: opens in {b['open_seconds_median']} s (median of "
            f"{len(b['open_seconds'])}), filter {b['filter_seconds_median']} s, an item's findings "
            f"{b['detail_seconds_median']} s; console errors: {len(b['console_errors'])}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--domains", type=int, default=100_000)
    p.add_argument("--base", type=Path, help="a domains run to scale up")
    p.add_argument("--work", type=Path, default=HERE / "work" / "quick")
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args(argv)
    res = run(a.work.resolve(), a.domains, a.base, rounds=a.rounds)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    out = results / f"{time.strftime('%Y-%m-%d')}-report-{a.domains}.json"
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(table(res))
    print(f"\nresults: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
