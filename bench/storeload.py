"""The store's bulk figures (issue 12): `bulkauth load` of 1,000,000 domain records, and what
the store and its Parquet export weigh against the NDJSON and its gzip.

    python -m bench.storeload                      # 1,000,000 records (make bench)
    python -m bench.storeload --records 100000     # a quicker look

The records: a real `bulkauth domains` run over a synthetic world of --base distinct domains
(bench/synth.py, served from its zone files with --zones: no DNS server needed), repeated with
renamed items until there are --records lines. The base is larger than a Parquet row group
(16,384 rows), so no row group holds the same record twice and the compression figures are not
flattered by repetition. Peak memory is the kernel's own figure for each process (ru_maxrss of
the finished child), not a sample.

Results: a table on stdout and bench/results/<date>-storeload.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench import synth
from bench.run import HERE, ROOT, _count_lines, bulkauth_cli, log, machine_info

BASE = 20_000


def base_run(cli: list[str], work: Path, domains: int) -> Path:
    """One real audit of the synthetic world: the records every later step repeats."""
    out = work / "base.ndjson"
    meta = work / "meta.json"
    fresh = meta.exists() and json.loads(meta.read_text()).get("domains") == domains
    if fresh and out.exists():
        return out
    log(f"generating {domains:,} synthetic domains in {work}")
    synth.generate(work, domains, 7, quiet=True)
    log("auditing them (--zones) for the base records")
    cmd = [*cli, "domains", str(work / "domains.txt"), "--zones", str(work / "zones"),
           "--no-progress", "-o", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=ROOT, stderr=subprocess.DEVNULL)
    return out


def expand(base: Path, target: Path, records: int) -> int:
    """``records`` lines: the base records again and again, each copy's items renamed (round
    r: r<r>-<domain>) and numbered on, as a list of that many domains would give."""
    lines = base.read_bytes().splitlines()
    with open(target, "wb") as out:
        n = 0
        while n < records:
            rnd = n // len(lines)
            for raw in lines[: records - n]:
                rec = orjson.loads(raw)
                n += 1
                rec["line"] = n
                rec["source"] = "clients.txt"
                if rnd:
                    for key in ("input", "domain"):
                        if isinstance(rec.get(key), str):
                            rec[key] = f"r{rnd}-{rec[key]}"
                out.write(orjson.dumps(rec, option=orjson.OPT_APPEND_NEWLINE))
    return target.stat().st_size


def gzip_size(path: Path) -> tuple[int, float]:
    """Bytes of ``path`` gzipped at the default level 6, and the seconds it took."""
    started = time.perf_counter()
    dest = path.with_name(path.name + ".gz")
    with open(path, "rb") as src, gzip.open(dest, "wb", compresslevel=6) as gz:
        shutil.copyfileobj(src, gz, 1 << 20)
    return dest.stat().st_size, time.perf_counter() - started


def measured(cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd``; its seconds and peak RSS (the kernel's ru_maxrss of the child)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    secs = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}: {err.decode()[-500:]}")
    return {
        "seconds": round(secs, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        "stderr_tail": err.decode(errors="replace")[-300:],
    }


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(records: int, base_domains: int, work: Path) -> dict[str, Any]:
    cli = bulkauth_cli()
    if cli is None:
        raise SystemExit("bulkauth is not installed: run `make install` first")
    work.mkdir(parents=True, exist_ok=True)
    base = base_run(cli, work / "world", base_domains)
    ndjson = work / f"domains-{records}.ndjson"
    if _count_lines(ndjson) != records:
        log(f"writing {records:,} records to {ndjson}")
        expand(base, ndjson, records)
    log("gzip -6 of the NDJSON")
    gz_bytes, gz_secs = gzip_size(ndjson)
    store = work / "store.duckdb"
    store.unlink(missing_ok=True)
    Path(str(store) + ".wal").unlink(missing_ok=True)
    log(f"bulkauth load of {records:,} records")
    load = measured([*cli, "load", str(ndjson), "--store", str(store)])
    parquet = work / "parquet"
    shutil.rmtree(parquet, ignore_errors=True)
    log("bulkauth export --parquet")
    export = measured([*cli, "export", "--store", str(store), "--parquet", str(parquet)])
    ndjson_bytes = ndjson.stat().st_size
    store_bytes = store.stat().st_size
    parquet_bytes = dir_size(parquet)
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "records": records,
        "base_domains": base_domains,
        "load": {**load, "records_per_s": round(records / load["seconds"], 1)},
        "export": {**export, "records_per_s": round(records / export["seconds"], 1)},
        "sizes_mib": {
            "ndjson": round(ndjson_bytes / 2**20, 1),
            "ndjson_gzip6": round(gz_bytes / 2**20, 1),
            "store": round(store_bytes / 2**20, 1),
            "parquet_all_tables": round(parquet_bytes / 2**20, 1),
            "parquet_domains": round(dir_size(parquet / "domains") / 2**20, 1),
        },
        "ratios_to_ndjson": {
            "gzip6": round(gz_bytes / ndjson_bytes, 3),
            "store": round(store_bytes / ndjson_bytes, 3),
            "parquet_all_tables": round(parquet_bytes / ndjson_bytes, 3),
        },
        "gzip_seconds": round(gz_secs, 1),
    }


def table(res: dict[str, Any]) -> str:
    s, ld, ex = res["sizes_mib"], res["load"], res["export"]
    return "\n".join(
        [
            f"store bulk figures, {res['records']:,} domain records ({res['base_domains']:,} distinct)",
            f"  load:   {ld['records_per_s']:>9,.0f} records/s  {ld['seconds']:>7.1f} s"
            f"  peak RSS {ld['peak_rss_mib']:,.0f} MiB",
            f"  export: {ex['records_per_s']:>9,.0f} records/s  {ex['seconds']:>7.1f} s"
            f"  peak RSS {ex['peak_rss_mib']:,.0f} MiB",
            f"  sizes:  NDJSON {s['ndjson']:,.0f} MiB, gzip -6 {s['ndjson_gzip6']:,.0f} MiB"
            f" ({res['ratios_to_ndjson']['gzip6']:.2f}x), store {s['store']:,.0f} MiB"
            f" ({res['ratios_to_ndjson']['store']:.2f}x), Parquet {s['parquet_all_tables']:,.0f}"
            f" MiB ({res['ratios_to_ndjson']['parquet_all_tables']:.2f}x; domains table"
            f" {s['parquet_domains']:,.0f} MiB)",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--base", type=int, default=BASE, help="distinct domains audited")
    p.add_argument("--work", type=Path, default=HERE / "work" / "storeload")
    a = p.parse_args(argv)
    res = run(a.records, a.base, a.work.resolve())
    out = HERE / "results" / f"{dt.date.today().isoformat()}-storeload.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(table(res))
    print(f"\nresults: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
