"""`bulkauth report`: a self-contained file whose embedded data are the run's records, from an
NDJSON run or a run id in a store. (How it behaves in a browser: test_browser.py.)"""

from __future__ import annotations

import base64
import gzip
import re
from pathlib import Path
from typing import Any

import orjson

from bulkauth.report import html as html_mod
from tests.report.conftest import bulkauth, records


def embedded(page: str, ident: str) -> Any:
    m = re.search(rf'<script type="application/octet-stream" id="{ident}">([^<]*)</script>', page)
    assert m, ident
    return orjson.loads(gzip.decompress(base64.b64decode(m.group(1))))


def test_one_file_that_needs_no_network(sample_run: Path, next_run: Path, runs: Path) -> None:
    out = runs / "self-contained.html"
    bulkauth("report", str(next_run), "--previous", str(sample_run), "-o", str(out))
    page = out.read_text()
    # nothing is fetched: no external script, style, image or font
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert page.count("<svg") >= 5
    rows = embedded(page, "rows")
    data = records(next_run)
    assert rows["total"] == len(rows["rows"]) == len(data)
    assert [r[0] for r in rows["rows"]] == [str(d.get("domain") or d["input"]) for d in data]
    # each item's findings: in its chunk, at its position, fixes included
    n = next(i for i, d in enumerate(data) if d.get("domain") == "toomany.example")
    chunk = embedded(page, f"chunk-{n // html_mod.CHUNK}")
    detail = chunk[n % html_mod.CHUNK]
    assert detail["t"] == "toomany.example"
    (spf,) = [s for s in detail["sec"] if s["n"] == "spf"]
    fixes = [p[3] for p in spf["p"] if p[1] == "spf.too_many_lookups"]
    assert fixes and fixes[0]["records"][0]["name"] == "toomany.example"
    # the changed column says what the diff said
    change = rows["columns"][-1]["values"]
    by_name = {r[0]: change[r[-1]] for r in rows["rows"]}
    assert by_name["good2.example"] == "worse" and by_name["newcomer.example"] == "added"
    assert "What changed since" in page and "empty.example" in page


def test_from_run_ids_in_a_store(sample_run: Path, next_run: Path, runs: Path) -> None:
    store = runs / "report.duckdb"
    loaded = bulkauth("load", str(sample_run), str(next_run), "--store", str(store))
    old, new = re.findall(r"as run (load-[0-9a-f]+)", loaded.stderr.decode())
    a, b = runs / "from-files.html", runs / "from-store.html"
    bulkauth("report", str(next_run), "--previous", str(sample_run), "-o", str(a))
    bulkauth("report", new, "--previous", old, "--store", str(store), "-o", str(b))
    assert embedded(a.read_text(), "rows")["rows"] == embedded(b.read_text(), "rows")["rows"]
    bad = bulkauth("report", "nope", "--store", str(store), "-o", str(runs / "x.html"), ok=(2,))
    assert b"no run with id 'nope'" in bad.stderr


def test_many_items_make_many_chunks(sample_run: Path, runs: Path) -> None:
    """Chunks are cut every CHUNK items, so that opening one item decodes only its chunk."""
    lines = sample_run.read_bytes().splitlines(True)
    big = runs / "many.ndjson"
    with big.open("wb") as f:
        for i in range(html_mod.CHUNK * 2 + 5):
            rec = orjson.loads(lines[i % len(lines)])
            rec["domain"] = rec["input"] = f"n{i}.example"
            f.write(orjson.dumps(rec) + b"\n")
    out = runs / "many.html"
    proc = bulkauth("report", str(big), "-o", str(out))
    assert b"3 detail chunks" in proc.stderr
    page = out.read_text()
    assert len(embedded(page, "chunk-2")) == 5
    assert embedded(page, "chunk-1")[0]["t"] == f"n{html_mod.CHUNK}.example"
