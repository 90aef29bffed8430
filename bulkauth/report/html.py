"""`bulkauth report`: one self-contained HTML file for people, from a run (and the one before).

The page holds everything it needs inline: styles, the script, the charts (SVG drawn here),
and the data. The overview is plain HTML and shows without any script. The table of every
item is built by the script from embedded data: a compact row per item (gzip + base64, about
15 bytes a domain compressed), and each item's findings in chunks of ``CHUNK`` items, each
compressed on its own and decompressed only when someone opens an item in it, so a report of
100,000 domains opens as fast as the rows decode (bench: ``python -m bench.report``).

The records are read once, streamed: counts by value (bounded), the rows (one small list per
item), the detail chunks compressed as they fill. The previous run is compared with ``diff``
first, so each row knows what changed.
"""

from __future__ import annotations

import base64
import gzip
import time
from dataclasses import dataclass
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from bulkauth import __version__
from bulkauth.report import charts
from bulkauth.report.diff import SECTIONS, Summary, domain_key, message_key, problems_of
from bulkauth.report.runs import Run, diffs, records
from bulkauth.report.stats import POSTURES, STATES, DomainStats, MessageStats

#: items per detail chunk: small enough to decompress at a click, large enough to compress
CHUNK = 400
#: changed items listed in the "what changed" section (all of them are in the table)
MAX_CHANGES_LISTED = 300
TOP_CODES = 25


@dataclass(slots=True)
class Change:
    change: str  # the direction of a changed item, or "added"
    lines: list[str]


class Table:
    """Rows for the script: enum columns as indexes into their value lists, codes as indexes."""

    def __init__(self, columns: list[dict[str, Any]]) -> None:
        self.columns = columns
        self.values: dict[str, dict[str, int]] = {
            c["key"]: {v: i for i, v in enumerate(c.get("values", []))}
            for c in columns
            if c["type"] in ("enum", "codes")
        }
        self.rows: list[list[Any]] = []
        self.chunks: list[str] = []
        self._chunk: list[dict[str, Any]] = []

    def index(self, column: str, value: str) -> int:
        table = self.values[column]
        if value not in table:
            table[value] = len(table)
        return table[value]

    def add(self, row: list[Any], detail: dict[str, Any]) -> None:
        self.rows.append(row)
        self._chunk.append(detail)
        if len(self._chunk) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._chunk:
            self.chunks.append(_pack(self._chunk))
            self._chunk = []

    def data(self) -> dict[str, Any]:
        self._flush()
        cols = []
        for c in self.columns:
            c = dict(c)
            if c["key"] in self.values:
                c["values"] = list(self.values[c["key"]])
            cols.append(c)
        return {"columns": cols, "rows": self.rows, "chunk": CHUNK}


def _pack(value: Any) -> str:
    """JSON, gzip, base64: what the page's DecompressionStream('gzip') reads back."""
    return base64.b64encode(gzip.compress(orjson.dumps(value), compresslevel=6, mtime=0)).decode()


# -- domains ------------------------------------------------------------------------------------


def _domain_columns() -> list[dict[str, Any]]:
    state = ["valid", "invalid", "missing", "indeterminate", "not audited", ""]
    return [
        {"key": "domain", "label": "Domain", "type": "text"},
        {"key": "posture", "label": "Posture", "type": "enum", "values": [*POSTURES, "invalid input", "error", "not decided"]},
        *({"key": s, "label": s.upper(), "type": "enum", "values": state} for s in ("spf", "dmarc", "dkim", "mx")),
        {"key": "codes", "label": "Problems", "type": "codes", "values": []},
        {"key": "fixes", "label": "Fixes", "type": "int"},
        {"key": "change", "label": "Changed", "type": "enum", "values": ["", "worse", "better", "mixed", "neutral", "added"]},
    ]  # fmt: skip


def _domain_row(t: Table, r: dict[str, Any], change: Change | None) -> list[Any]:
    ok = r.get("status") == "ok"
    name = str(r.get("domain") or r.get("input") or "")
    if ok:
        verdict = str((r.get("posture") or {}).get("verdict") or "not decided")
    else:
        verdict = "invalid input" if r.get("status") == "invalid_input" else "error"
    probs = list(problems_of(r)) if ok else []
    codes = sorted({t.index("codes", str(p.get("code"))) for p in probs})
    row: list[Any] = [name, t.index("posture", verdict)]
    for s in ("spf", "dmarc", "dkim", "mx"):
        sec = r.get(s)
        st = sec.get("state") if isinstance(sec, dict) else ("not audited" if ok else "")
        row.append(t.index(s, str(st)))
    row += [
        codes,
        sum(1 for p in probs if "fix" in p),
        t.index("change", change.change if change else ""),
    ]
    return row


def _domain_detail(r: dict[str, Any], change: Change | None) -> dict[str, Any]:
    if r.get("status") != "ok":
        err = r.get("error") or {}
        return {
            "t": str(r.get("input")),
            "s": [f"{err.get('code')}: {err.get('message')}"],
            "sec": [],
        }
    posture = r.get("posture") or {}
    sections = []
    for s in SECTIONS:
        sec = r.get(s)
        if not isinstance(sec, dict):
            continue
        sections.append(
            {
                "n": s,
                "st": sec.get("state"),
                "rec": _records_seen(s, sec),
                "info": _facts(s, sec),
                "p": [
                    [p.get("severity"), p.get("code"), p.get("message"), p.get("fix")]
                    for p in sec.get("problems") or ()
                ],
            }
        )
    d: dict[str, Any] = {
        "t": str(r.get("domain")),
        "s": list(posture.get("reasons") or ()),
        "sec": sections,
    }
    if change is not None:
        d["ch"] = change.lines
    return d


def _records_seen(name: str, sec: dict[str, Any]) -> list[str]:
    if name == "spf":
        return [str(x) for x in sec.get("records") or ()]
    if name == "mx":
        return [f"{h.get('preference')} {h.get('host') or '.'}" for h in sec.get("hosts") or ()]
    if name == "dkim":
        return [
            f"{k.get('selector')}: {k.get('key_type')} {k.get('key_bits') or ''}".rstrip()
            + (" (revoked)" if k.get("revoked") else "")
            for k in sec.get("keys") or ()
        ]
    rec = sec.get("record")
    return [str(rec)] if rec else []


def _facts(name: str, sec: dict[str, Any]) -> list[str]:
    if name == "spf" and sec.get("state") in ("valid", "invalid"):
        vias = [str(c.get("via")) for c in (sec.get("tree") or {}).get("children") or ()]
        out = [f"{sec.get('lookups')} DNS lookups of 10, {sec.get('void_lookups')} void of 2"]
        if vias:
            out.append("includes: " + ", ".join(vias[:10]))
        return out
    if name == "dmarc" and sec.get("record"):
        out = [
            f"policy {sec.get('policy')}, subdomains {sec.get('subdomain_policy')}, pct {sec.get('pct')}"
        ]
        if sec.get("inherited"):
            out.append(f"inherited from {sec.get('domain')}")
        for d in sec.get("report_destinations") or ():
            auth = (
                ""
                if not d.get("external")
                else " (authorised)"
                if d.get("authorized")
                else " (NOT authorised)"
            )
            out.append(f"{d.get('tag')}: {d.get('uri')}{auth}")
        return out
    if sec.get("dns_failure"):
        f = sec["dns_failure"]
        return [f"DNS failed: {f.get('name')} {f.get('type')} {f.get('rcode')}"]
    return []


# -- messages -----------------------------------------------------------------------------------


def _message_columns() -> list[dict[str, Any]]:
    results = [
        "pass",
        "fail",
        "softfail",
        "neutral",
        "none",
        "policy",
        "temperror",
        "permerror",
        "",
    ]
    return [
        {"key": "message", "label": "Message", "type": "text"},
        {"key": "from", "label": "From domain", "type": "text"},
        *({"key": s, "label": s.upper(), "type": "enum", "values": list(results)} for s in ("dkim", "spf", "dmarc", "arc")),
        {"key": "disposition", "label": "Disposition", "type": "enum", "values": ["none", "quarantine", "reject", ""]},
        {"key": "codes", "label": "Problems", "type": "codes", "values": []},
        {"key": "change", "label": "Changed", "type": "enum", "values": ["", "worse", "better", "mixed", "neutral", "added"]},
    ]  # fmt: skip


def _message_row(t: Table, r: dict[str, Any], change: Change | None) -> list[Any]:
    name = str(r.get("message_id") or f"{r.get('path')}#{r.get('index')}")
    dmarc = r.get("dmarc") or {}
    row: list[Any] = [
        name,
        str(dmarc.get("from_domain") or (r.get("from") or {}).get("domain") or ""),
    ]
    for s in ("dkim", "spf", "dmarc", "arc"):
        row.append(t.index(s, str((r.get(s) or {}).get("result") or "")))
    row.append(t.index("disposition", str(dmarc.get("disposition") or "")))
    codes = {t.index("codes", str(p.get("code"))) for p in r.get("problems") or ()}
    for sig in (r.get("dkim") or {}).get("signatures") or ():
        if sig.get("code"):
            codes.add(t.index("codes", str(sig["code"])))
    row += [sorted(codes), t.index("change", change.change if change else "")]
    return row


def _message_detail(r: dict[str, Any], change: Change | None) -> dict[str, Any]:
    if r.get("status") != "ok":
        err = r.get("error") or {}
        return {
            "t": f"{r.get('path')}#{r.get('index')}",
            "s": [f"{err.get('code')}: {err.get('message')}"],
            "sec": [],
        }
    dkim, spf, dmarc, arc = (r.get(s) or {} for s in ("dkim", "spf", "dmarc", "arc"))
    sigs = [
        f"d={s.get('d')} s={s.get('s')}: {s.get('result')}"
        + (f" ({s.get('code')}: {s.get('message')})" if s.get("code") else "")
        for s in dkim.get("signatures") or ()
    ]
    d: dict[str, Any] = {
        "t": str(r.get("message_id") or "(no Message-ID)"),
        "s": [f"From {', '.join((r.get('from') or {}).get('addresses') or [])}", f"{r.get('path')} #{r.get('index')}", f"date {r.get('date')}"],
        "sec": [
            {"n": "dkim", "st": dkim.get("result"), "rec": sigs, "info": [], "p": []},
            {"n": "spf", "st": spf.get("result"), "rec": [], "info": [f"{spf.get('identity')} {spf.get('domain')} from {spf.get('client_ip')}: {spf.get('message') or ''}"], "p": []},
            {"n": "dmarc", "st": dmarc.get("result"), "rec": [str(dmarc.get("record") or "")], "info": [f"policy {dmarc.get('policy')}, disposition {dmarc.get('disposition')}: {dmarc.get('message') or ''}"], "p": [[p.get("severity"), p.get("code"), p.get("message"), None] for p in dmarc.get("problems") or ()]},
            {"n": "arc", "st": arc.get("result"), "rec": [], "info": [str(arc.get("message") or "")], "p": []},
        ],
    }  # fmt: skip
    if change is not None:
        d["ch"] = change.lines
    return d


# -- changes ------------------------------------------------------------------------------------


def _change_lines(d: dict[str, Any]) -> list[str]:
    out = []
    if "posture" in d:
        out.append(f"posture {d['posture']['old']} → {d['posture']['new']}")
    for s, t in d.get("sections", {}).items():
        out.append(f"{s} {t['old']} → {t['new']}")
    for name, t in d.get("results", {}).items():
        out.append(f"{name} {t['old']} → {t['new']}")
    probs = d.get("problems", {})
    out += [f"new: {p['code']}" for p in probs.get("appeared", ())]
    out += [f"resolved: {p['code']}" for p in probs.get("resolved", ())]
    for name, t in d.get("records", {}).items():
        out.append(f"{name} record: {t['old']} → {t['new']}")
    for kind, keys in d.get("dkim_keys", {}).items():
        out += [f"DKIM key {kind}: {k['selector']}" for k in keys]
    tree = d.get("spf_tree", {})
    out += [f"include tree +{x}" for x in tree.get("appeared", ())[:5]]
    out += [f"include tree −{x}" for x in tree.get("disappeared", ())[:5]]
    if "signatures" in d:
        out.append("signatures: " + "; ".join(d["signatures"]["new"]))
    return out


def _compare(
    previous: Run, current: Run, tmpdir: str | None
) -> tuple[dict[str, Change], Summary, list[dict[str, Any]]]:
    """The diff of the two runs: each changed or added item's change by key, the summary,
    and the removed items (not in the current run's table)."""
    changes: dict[str, Change] = {}
    summary = Summary()
    removed: list[dict[str, Any]] = []
    for d in diffs(previous, current, tmpdir):
        summary.add(d)
        if d["change"] == "removed":
            if len(removed) < MAX_CHANGES_LISTED:
                removed.append(d)
        elif d["key"] not in changes:
            kind = "added" if d["change"] == "added" else d["direction"]
            changes[d["key"]] = Change(kind, _change_lines(d))
    return changes, summary, removed


# -- the page -----------------------------------------------------------------------------------


def write_report(
    run: Run,
    previous: Run | None,
    out: Path,
    *,
    title: str | None = None,
    tmpdir: str | None = None,
) -> str:
    """Write the report of `run` to `out`; returns a line saying what was written."""
    t0 = time.monotonic()
    changes: dict[str, Change] = {}
    summary: Summary | None = None
    removed: list[dict[str, Any]] = []
    if previous is not None:
        changes, summary, removed = _compare(previous, run, tmpdir)
    table: Table | None = None
    dstats, mstats = DomainStats(), MessageStats()
    for r in records(run):
        if table is None:
            table = Table(_message_columns() if run.kind == "messages" else _domain_columns())
        if run.kind == "messages":
            ch = changes.get(message_key(r))
            mstats.add(r)
            table.add(_message_row(table, r, ch), _message_detail(r, ch))
        else:
            ch = changes.get(domain_key(r))
            dstats.add(r)
            table.add(_domain_row(table, r, ch), _domain_detail(r, ch))
    if table is None:
        table = Table(_domain_columns())
    kind = run.kind or "domains"
    title = title or f"bulkauth report: {run.label}"
    if kind == "messages":
        overview = _message_overview(mstats)
        total = mstats.records
    else:
        overview = _domain_overview(dstats)
        total = dstats.records
    changed = _changes_html(summary, changes, removed, previous, kind) if previous else ""
    data = table.data()
    page = _page(
        title=title,
        kind=kind,
        total=total,
        run=run,
        overview=overview,
        changed=changed,
        rows=_pack({**data, "kind": kind, "total": total}),
        chunks=table.chunks,
    )
    out.write_text(page, encoding="utf-8")
    size = out.stat().st_size
    return (
        f"report: {out} ({size / 1e6:.1f} MB, {total:,} {kind}, "
        f"{len(table.chunks)} detail chunks) in {time.monotonic() - t0:.1f}s"
    )


def _card(label: str, value: str, cls: str = "", id_: str = "") -> str:
    ident = f' id="{id_}"' if id_ else ""
    return f'<div class="card {cls}"><div class="v"{ident}>{value}</div><div class="l">{escape(label)}</div></div>'


def _counted(c: dict[str, int], order: tuple[str, ...] = ()) -> list[tuple[str, int]]:
    known = [(k, c[k]) for k in order if c.get(k)]
    rest = sorted(((k, n) for k, n in c.items() if k not in order), key=lambda x: (-x[1], x[0]))
    return known + rest


def _domain_overview(s: DomainStats) -> str:
    ok = s.by_status.get("ok", 0)
    cards = [
        _card("records", f"{s.records:,}", id_="n-records"),
        _card("domains audited", f"{ok:,}", id_="n-ok"),
    ]
    for v in POSTURES:
        if s.posture.get(v):
            cards.append(_card(v, f'<span data-posture="{v}">{s.posture[v]:,}</span>', f"p-{v}"))
    not_ok = s.records - ok
    if not_ok:
        cards.append(_card("not domains (invalid input)", f"{not_ok:,}", "p-none"))
    states = [
        (sec, [(st, s.states[sec].get(st, 0)) for st in (*STATES, "not audited")])
        for sec in SECTIONS
    ]
    codes = sorted(s.codes.items(), key=lambda x: (-x[1], x[0]))[:TOP_CODES]
    code_rows = "".join(
        f'<tr><td><code>{escape(c)}</code></td><td class="sev-{escape(s.code_severity.get(c, ""))}">'
        f'{escape(s.code_severity.get(c, ""))}</td><td class="num">{n:,}</td>'
        f'<td class="num">{s.fixable.get(c, 0):,}</td><td>{escape(s.code_example.get(c, ""))}</td></tr>'
        for c, n in codes
    )
    lookups = [(str(i), s.spf_lookups.get(str(i), 0)) for i in range(11)] + [
        ("11+", s.spf_lookups.get("11+", 0))
    ]
    unauth = sorted(s.unauthorized.items(), key=lambda x: (-x[1], x[0]))[:20]
    unauth_html = (
        "<table class='small'><tr><th>destination</th><th>domains reporting to it</th></tr>"
        + "".join(f"<tr><td>{escape(d)}</td><td class='num'>{n:,}</td></tr>" for d, n in unauth)
        + "</table>"
        if unauth
        else "<p class='empty'>none: every external destination authorises its domains</p>"
    )
    return f"""
<section id="overview"><h2>Overview</h2><div class="cards">{"".join(cards)}</div>
<div class="grid">
<figure><figcaption>Posture</figcaption>{charts.hbars(_counted(s.posture, POSTURES), title="posture")}</figure>
<figure><figcaption>Section states</figcaption>{charts.stacked(states, title="section states")}</figure>
<figure><figcaption>DMARC policies</figcaption>{charts.hbars(_counted(s.dmarc_policy, ("reject", "quarantine", "none", "no policy")), title="DMARC policies")}</figure>
<figure><figcaption>SPF DNS lookups (receivers stop at 10)</figcaption>{charts.histogram(lookups, title="SPF lookups", limit_after="10")}</figure>
<figure><figcaption>DKIM keys by type and size</figcaption>{charts.hbars(_counted(s.dkim_keys), title="DKIM keys", colours=False)}</figure>
<figure><figcaption>Report destinations that do not authorise the domains reporting to them</figcaption>{unauth_html}</figure>
</div>
<h3>Most frequent problems</h3>
<table class="codes"><tr><th>code</th><th>severity</th><th>domains</th><th>with a fix</th><th>what it means (an example)</th></tr>{code_rows}</table>
</section>"""


def _message_overview(s: MessageStats) -> str:
    ok = s.by_status.get("ok", 0)
    cards = [
        _card("records", f"{s.records:,}", id_="n-records"),
        _card("messages verified", f"{ok:,}", id_="n-ok"),
    ]
    for sec in ("dkim", "spf", "dmarc"):
        cards.append(_card(f"{sec} pass", f"{s.results[sec].get('pass', 0):,}", "p-enforced"))
    results = [(sec, _counted(c)) for sec, c in s.results.items()]
    gone = sorted(s.key_gone.items(), key=lambda x: (-x[1], x[0]))[:20]
    gone_html = "".join(f"<tr><td>{escape(k)}</td><td class='num'>{n:,}</td></tr>" for k, n in gone)
    saved = sorted(s.saved_by_history.items(), key=lambda x: (-x[1], x[0]))[:20]
    saved_html = (
        "<table class='small'><tr><th>key</th><th>signatures</th></tr>"
        + "".join(f"<tr><td>{escape(k)}</td><td class='num'>{n:,}</td></tr>" for k, n in saved)
        + "</table>"
        if saved
        else "<p class='empty'>none (or no key history was given)</p>"
    )
    disp = sorted(s.disposition.items(), key=lambda x: -sum(x[1].values()))[:30]
    disp_rows = "".join(
        f"<tr><td>{escape(dom)}</td>"
        + "".join(f"<td class='num'>{c.get(v, 0):,}</td>" for v in ("none", "quarantine", "reject"))
        + "</tr>"
        for dom, c in disp
    )
    return f"""
<section id="overview"><h2>Overview</h2><div class="cards">{"".join(cards)}</div>
<div class="grid">
<figure><figcaption>Results by section</figcaption>{charts.stacked(results, title="results")}</figure>
<figure><figcaption>DKIM failure reasons (signatures)</figcaption>{charts.hbars(_counted(s.dkim_failures)[:15], title="DKIM failures", colours=False)}</figure>
<figure><figcaption>Signatures failing because the key is gone ({s.key_gone_passed_then:,} of them passed when the message arrived)</figcaption>
<table class="small"><tr><th>key</th><th>signatures</th></tr>{gone_html}</table></figure>
<figure><figcaption>Signatures saved by the key history ({sum(s.saved_by_history.values()):,}: verified with a key DNS no longer serves)</figcaption>{saved_html}</figure>
<figure><figcaption>DMARC disposition by From domain</figcaption>
<table class="small"><tr><th>From domain</th><th>none</th><th>quarantine</th><th>reject</th></tr>{disp_rows}</table></figure>
</div></section>"""


def _changes_html(
    summary: Summary | None,
    changes: dict[str, Change],
    removed: list[dict[str, Any]],
    previous: Run | None,
    kind: str,
) -> str:
    assert summary is not None and previous is not None
    lines = "".join(f"<li>{escape(x)}</li>" for x in summary.lines(kind))
    listed = sorted(
        changes.items(),
        key=lambda kv: (
            {"worse": 0, "mixed": 1, "better": 2, "added": 3}.get(kv[1].change, 4),
            kv[0],
        ),
    )
    items = "".join(
        f'<tr class="ch-{c.change}"><td>{escape(k)}</td><td>{c.change}</td><td>{escape("; ".join(c.lines))}</td></tr>'
        for k, c in listed[:MAX_CHANGES_LISTED]
    )
    items += "".join(
        f'<tr class="ch-removed"><td>{escape(d["key"])}</td><td>removed</td><td>was {escape(str(d["old"].get("posture") or d["old"].get("status")))}</td></tr>'
        for d in removed
    )
    more = (
        f"<p>{len(listed) - MAX_CHANGES_LISTED:,} more: filter the table by “Changed”.</p>"
        if len(listed) > MAX_CHANGES_LISTED
        else ""
    )
    return f"""<section id="changes"><h2>What changed since {escape(previous.label)}</h2>
<ul class="summary">{lines}</ul>
<table class="changes"><tr><th>{"message" if kind == "messages" else "domain"}</th><th>change</th><th>what</th></tr>{items}</table>{more}</section>"""


def _asset(name: str) -> str:
    return resources.files("bulkauth.report").joinpath("assets", name).read_text(encoding="utf-8")


def _page(
    *,
    title: str,
    kind: str,
    total: int,
    run: Run,
    overview: str,
    changed: str,
    rows: str,
    chunks: list[str],
) -> str:
    chunk_tags = "".join(
        f'<script type="application/octet-stream" id="chunk-{i}">{c}</script>\n'
        for i, c in enumerate(chunks)
    )
    noun = "message" if kind == "messages" else "domain"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="bulkauth {__version__}">
<title>{escape(title)}</title>
<style>{_asset("report.css")}</style></head>
<body data-kind="{kind}" data-total="{total}">
<header><h1>{escape(title)}</h1><p class="meta">{total:,} {noun}s · generated by bulkauth {__version__} · opens offline: everything is in this file</p>
<nav><a href="#overview">Overview</a>{' · <a href="#changes">What changed</a>' if changed else ""} · <a href="#items">Every {noun}</a></nav></header>
<main>{overview}{changed}
<section id="items"><h2>Every {noun}</h2>
<div id="controls" class="controls"><noscript>The table needs JavaScript; the overview above does not.</noscript></div>
<p class="count"><span id="shown">0</span> of <span id="total">{total:,}</span> {noun}s match</p>
<table id="table" class="items"><thead></thead><tbody></tbody></table>
<div id="pager" class="pager"></div></section></main>
<script type="application/octet-stream" id="rows">{rows}</script>
{chunk_tags}<script>{_asset("report.js")}</script></body></html>
"""
