"""The ``zones`` stage of bench/run.py: loading ``--zones`` with dnspython against masterfile.py.

    python -m bench.run --only zones            # quick: the 2,000-domain synthetic internet
    python -m bench.run --full --only zones     # the 10,000-domain one

Three sets of zone files, each loaded by ``ZoneSet.load(path, fast=False)`` (every file parsed
by dnspython, as before issue 17) and ``ZoneSet.load(path)`` (masterfile.py, dnspython for what
it leaves), each in a fresh process, rounds alternating the two (this machine is shared: the
best of each counts, and both see the same minutes):

- ``data/zones``: the repository's sample world, a few dozen small hand-written files;
- the synthetic internet as bench/synth.py writes it: one file per TLD and per provider (14);
- the same records split one zone per registered domain (``split``), ~10,000 files for
  ``--full``: the layout of the issue's "10,000 zone files", where the cost per file counts.

After loading, each process answers the bench's query mix (``queries.txt``, the first
``QUESTIONS`` lines) and prints a digest of the answers: the two readers must agree on every
one, else the row says so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: questions answered after each load, for the digest that compares the two readers
QUESTIONS = 50_000
#: bump when split() writes something else: a split made by an older one is made again
SPLIT_VERSION = 1
_SOA = "3600 SOA ns1.bench-dns.net. hostmaster.bench-dns.net. 1 7200 900 1209600 900"

_LOAD = """
import hashlib, json, resource, sys, time
from bulkauth.core.common.model import Query, RType
from bulkauth.dns.backends.zonefile import ZoneSet
t = time.perf_counter(); z = ZoneSet.load(sys.argv[1], fast=sys.argv[2] == "fast")
t = time.perf_counter() - t
h, n = hashlib.sha256(), 0
with open(sys.argv[3]) as f:
    for line in f:
        if n >= int(sys.argv[4]):
            break
        name, rtype = line.split()
        h.update(repr(z.answer(Query(name.rstrip("."), RType[rtype]))).encode())
        n += 1
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": t, "zones": len(z.loaded), "answers": n, "digest": h.hexdigest(),
                  "peak_rss_mib": round(rss / 1024, 1)}))
"""


def split(src: Path, dst: Path) -> int:
    """Write the zone files of ``src`` (bench/synth.py's: one per TLD, one per provider) into
    ``dst`` with every registered domain of the TLD zones in a zone file of its own (SOA and
    NS first, under the TLD's ``$ORIGIN``, the records as they were). Returns the file count;
    reuses ``dst`` when made from the same source by this version."""
    stamp = dst / ".split"
    source = sorted((f.name, f.stat().st_size) for f in src.iterdir() if f.is_file())
    wanted = json.dumps({"version": SPLIT_VERSION, "source": source})
    if stamp.exists() and stamp.read_text() == wanted:
        return sum(1 for f in dst.iterdir() if not f.name.startswith("."))
    from bench.synth import TLDS

    tlds = {t for t, _ in TLDS}
    dst.mkdir(parents=True, exist_ok=True)
    for old in dst.iterdir():
        old.unlink()
    files = 0
    for f in sorted(src.iterdir()):
        if not f.is_file() or f.name.startswith("."):
            continue
        lines = f.read_text(encoding="utf-8").splitlines()
        origin = lines[0].split()[1] if lines and lines[0].startswith("$ORIGIN") else None
        # a TLD zone (com., co.uk.): its owners are relative, the registered label last
        if origin is None or origin.rstrip(".") not in tlds:
            (dst / f.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
            files += 1
            continue
        apex: list[str] = []
        domains: dict[str, list[str]] = {}
        for line in lines:
            owner = line.split(" ", 1)[0]
            if owner.startswith("$") or owner == "@" or not owner:
                apex.append(line)
            else:
                domains.setdefault(owner.rsplit(".", 1)[-1], []).append(line)
        (dst / f.name).write_text("\n".join(apex) + "\n", encoding="utf-8")
        files += 1
        for label, recs in domains.items():
            head = [f"$ORIGIN {origin}", "$TTL 3600", f"{label} {_SOA}"]
            head.append(f"{label} 3600 NS ns1.bench-dns.net.")
            body = "\n".join(head + recs) + "\n"
            (dst / f"{label}.{origin}zone").write_text(body, encoding="utf-8")
            files += 1
    stamp.write_text(wanted)
    return files


def _load(path: Path, reader: str, queries: Path, questions: int) -> dict[str, Any]:
    p = subprocess.run(
        [sys.executable, "-c", _LOAD, str(path), reader, str(queries), str(questions)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1200,
    )
    if p.returncode != 0:
        raise RuntimeError(f"loading {path} ({reader}): {p.stderr[-400:]}")
    out: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


def run(work: Path, rounds: int, log: Any = print) -> dict[str, Any]:
    """Each set of zone files loaded by both readers, ``rounds`` times alternated."""
    queries = work / "queries.txt"
    sets = {
        "data": ROOT / "data" / "zones",
        "synthetic": work / "zones",
        "split": work / "zones-split",
    }
    log(f"splitting {work / 'zones'} one zone per registered domain")
    split(work / "zones", sets["split"])
    res: dict[str, Any] = {"rounds": rounds, "questions": QUESTIONS}
    for key, path in sets.items():
        files = [f for f in path.rglob("*") if f.is_file() and not f.name.startswith(".")]
        runs: dict[str, list[dict[str, Any]]] = {"dnspython": [], "masterfile": []}
        for r in range(rounds):
            for reader, arg in (("dnspython", "dnspython"), ("masterfile", "fast")):
                log(f"zones {key}: {reader}, round {r + 1}/{rounds}")
                runs[reader].append(_load(path, arg, queries, QUESTIONS))
        old = min(x["seconds"] for x in runs["dnspython"])
        new = min(x["seconds"] for x in runs["masterfile"])
        digests = {x["digest"] for x in runs["dnspython"] + runs["masterfile"]}
        res[key] = {
            "path": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
            "files": len(files),
            "bytes": sum(f.stat().st_size for f in files),
            "zones": runs["masterfile"][0]["zones"],
            "seconds_dnspython": [round(x["seconds"], 3) for x in runs["dnspython"]],
            "seconds_masterfile": [round(x["seconds"], 3) for x in runs["masterfile"]],
            "speedup": round(old / new, 2) if new else None,
            "peak_rss_mib_dnspython": max(x["peak_rss_mib"] for x in runs["dnspython"]),
            "peak_rss_mib_masterfile": max(x["peak_rss_mib"] for x in runs["masterfile"]),
            "answers_compared": runs["masterfile"][0]["answers"],
            "answers_identical": len(digests) == 1,
        }
    return res


def rows(res: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Table rows for bench/run.py: the masterfile load time, then the ratio to dnspython's."""
    out = []
    for key, label in (
        ("data", "data/zones"),
        ("synthetic", "synthetic internet"),
        ("split", "synthetic, a zone per domain"),
    ):
        z = res.get(key)
        if not z:
            continue
        old, new = min(z["seconds_dnspython"]), min(z["seconds_masterfile"])
        same = (
            f"same answers to {z['answers_compared']:,} questions"
            if z["answers_identical"]
            else "ANSWERS DIFFER"
        )
        out.append(
            (
                f"--zones load, {label} ({z['files']:,} files, {z['bytes'] / 1e6:.1f} MB)",
                f"{new:.3f} s",
                f"{z['speedup']:.1f}x dnspython ({old:.3f} s, best of {res['rounds']} each);"
                f" peak RSS {z['peak_rss_mib_masterfile']:.0f} vs"
                f" {z['peak_rss_mib_dnspython']:.0f} MiB; {same}",
            )
        )
    return out
