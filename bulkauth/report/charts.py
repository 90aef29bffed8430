"""Charts as inline SVG, drawn here so the report needs no script to show them and no
library at all: horizontal bars, stacked state bars, a histogram with a limit line."""

from __future__ import annotations

from html import escape

#: colours by meaning, shared by charts and the table (the CSS uses the same names)
COLOURS = {
    "enforced": "#2e7d32",
    "parked": "#607d8b",
    "monitoring": "#f9a825",
    "unprotected": "#ef6c00",
    "broken": "#c62828",
    "nonexistent": "#9e9e9e",
    "indeterminate": "#7b1fa2",
    "valid": "#2e7d32",
    "invalid": "#c62828",
    "missing": "#ef6c00",
    "not audited": "#cfd8dc",
    "pass": "#2e7d32",
    "fail": "#c62828",
    "softfail": "#ef6c00",
    "neutral": "#f9a825",
    "none": "#9e9e9e",
    "temperror": "#7b1fa2",
    "permerror": "#ad1457",
    "policy": "#607d8b",
    "reject": "#2e7d32",
    "quarantine": "#558b2f",
    "no policy": "#ef6c00",
}
DEFAULT = "#1565c0"
ROW = 22
LABEL = 190
WIDTH = 560


def colour(name: str) -> str:
    return COLOURS.get(name, DEFAULT)


def hbars(items: list[tuple[str, int]], *, title: str, colours: bool = True) -> str:
    """One bar per (label, count), longest first as given; counts written at the bar's end."""
    if not items:
        return f'<p class="empty">{escape(title)}: nothing to show</p>'
    top = max(n for _, n in items) or 1
    h = ROW * len(items) + 6
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {h}" width="{WIDTH}" height="{h}">'
        f"<title>{escape(title)}</title>"
    ]
    span = WIDTH - LABEL - 70
    for i, (label, n) in enumerate(items):
        y = i * ROW + 3
        w = max(1.0, span * n / top)
        fill = colour(label) if colours else DEFAULT
        parts.append(
            f'<text x="{LABEL - 6}" y="{y + 15}" text-anchor="end">{escape(_short(label))}</text>'
            f'<rect x="{LABEL}" y="{y + 2}" width="{w:.1f}" height="{ROW - 6}" fill="{fill}">'
            f"<title>{escape(label)}: {n}</title></rect>"
            f'<text x="{LABEL + w + 5:.1f}" y="{y + 15}" class="n">{n:,}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def stacked(rows: list[tuple[str, list[tuple[str, int]]]], *, title: str) -> str:
    """One 100% bar per row (a section), segments by value (its states), with a legend."""
    h = ROW * len(rows) + 30
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {h}" width="{WIDTH}" height="{h}">'
        f"<title>{escape(title)}</title>"
    ]
    span = WIDTH - LABEL - 10
    seen: dict[str, None] = {}
    for i, (label, segments) in enumerate(rows):
        y = i * ROW + 3
        total = sum(n for _, n in segments) or 1
        x = float(LABEL)
        parts.append(f'<text x="{LABEL - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        for name, n in segments:
            if not n:
                continue
            seen[name] = None
            w = span * n / total
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{ROW - 6}" '
                f'fill="{colour(name)}"><title>{escape(label)} {escape(name)}: {n:,}</title></rect>'
            )
            x += w
    y = len(rows) * ROW + 16
    x = float(LABEL)
    for name in seen:
        parts.append(
            f'<rect x="{x:.0f}" y="{y - 9}" width="10" height="10" fill="{colour(name)}"/>'
            f'<text x="{x + 14:.0f}" y="{y}">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def histogram(bins: list[tuple[str, int]], *, title: str, limit_after: str | None) -> str:
    """Vertical bars per bin, with a dashed line after bin `limit_after` (SPF: 10 lookups)."""
    h, base, bw = 170, 140, 36
    w = max(WIDTH, 40 + len(bins) * (bw + 6))
    top = max((n for _, n in bins), default=0) or 1
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}">'
        f"<title>{escape(title)}</title>"
    ]
    for i, (label, n) in enumerate(bins):
        x = 30 + i * (bw + 6)
        bh = (base - 20) * n / top
        fill = "#c62828" if label == "11+" else DEFAULT
        parts.append(
            f'<rect x="{x}" y="{base - bh:.1f}" width="{bw}" height="{bh:.1f}" fill="{fill}">'
            f"<title>{escape(label)}: {n:,}</title></rect>"
            f'<text x="{x + bw / 2}" y="{base + 14}" text-anchor="middle">{escape(label)}</text>'
            f'<text x="{x + bw / 2}" y="{base - bh - 4:.1f}" text-anchor="middle" class="n">'
            f"{n:,}</text>"
        )
        if label == limit_after:
            lx = x + bw + 3
            parts.append(
                f'<line x1="{lx}" y1="8" x2="{lx}" y2="{base}" class="limit"/>'
                f'<text x="{lx + 4}" y="16" class="limit">limit</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _short(label: str, n: int = 28) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"
