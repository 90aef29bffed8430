"""The report in a real browser: headless Chromium opens the file (no network: a file:// URL
with everything inline), driven over the DevTools protocol. No console error or exception;
the counts on the page are the counts in the data; filters, search, sort and the findings of
an item work. A screenshot of each report is kept in the test artifacts folder
($BULKAUTH_ARTIFACTS, default .artifacts/ in the repository)."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.cdp import Page, find_chromium
from tests.paths import REQUIRE_ENV, ROOT
from tests.report.conftest import bulkauth, records


def artifacts() -> Path:
    out = Path(os.environ.get("BULKAUTH_ARTIFACTS") or ROOT / ".artifacts")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary; else skip with the reason, or fail where the suites are required
    (CI: .ci/run sets BULKAUTH_REQUIRE_SUITES, and `make` installs chromium as root)."""
    found = find_chromium()
    if found:
        return found
    reason = (
        "headless Chromium not found (Debian package chromium: `make install` installs it "
        "as root; or set BULKAUTH_CHROMIUM): the report's browser test needs it"
    )
    if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
        pytest.fail(f"{reason} ({REQUIRE_ENV} is set)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def domains_report(sample_run: Path, next_run: Path, runs: Path) -> Path:
    out = runs / "report.html"
    proc = bulkauth("report", str(next_run), "--previous", str(sample_run), "-o", str(out))
    assert proc.returncode == 0 and b"report: " in proc.stderr
    return out


def verdict(r: dict[str, Any]) -> str:
    if r["status"] != "ok":
        return "invalid input" if r["status"] == "invalid_input" else "error"
    return str(r["posture"]["verdict"])


async def choose(page: Page, select: str, text_starts: str) -> None:
    """Pick the option whose label starts with `text_starts`, as a user would."""
    found = await page.js(
        f"""(() => {{ const s = document.querySelector({select!r});
        const o = [...s.options].find(o => o.text.startsWith({text_starts!r}));
        if (!o) return false; s.value = o.value; s.dispatchEvent(new Event('change')); return true; }})()"""
    )
    assert found, f"{select}: no option {text_starts!r}"


async def shown(page: Page) -> int:
    return int(str(await page.js("document.getElementById('shown').textContent")).replace(",", ""))


async def column(page: Page, n: int) -> list[str]:
    return list(
        await page.js(
            f"[...document.querySelectorAll('#table tbody tr.item')].map(tr => tr.cells[{n}].textContent)"
        )
    )


def test_domains_report_in_chromium(chromium: str, domains_report: Path, next_run: Path) -> None:
    data = records(next_run)
    verdicts = Counter(verdict(r) for r in data)
    codes = Counter(
        p["code"]
        for r in data
        if r["status"] == "ok"
        for s in ("spf", "dmarc", "dkim", "mx", "mta_sts", "tls_rpt", "bimi")
        for p in {q["code"]: q for q in (r[s] or {}).get("problems", ())}.values()
    )
    names = [str(r.get("domain") or r["input"]) for r in data]

    async def drive() -> None:
        async with Page(chromium) as page:
            await page.open(domains_report)
            assert await page.js("document.body.dataset.ready") == "1"
            # counts on the page are the data's
            assert await page.js("document.getElementById('n-records').textContent") == str(
                len(data)
            )
            assert await shown(page) == len(data)
            for v in ("enforced", "monitoring", "unprotected", "broken", "parked"):
                card = await page.js(f"document.querySelector('[data-posture={v}]')?.textContent")
                assert int(card.replace(",", "")) == verdicts[v], v
            # filter by verdict: the count and every row
            await choose(page, "#f-posture", "broken (")
            assert await shown(page) == verdicts["broken"]
            assert set(await column(page, 1)) == {"broken"}
            # and by problem code, together with it
            await choose(page, "#f-codes", "spf.too_many_lookups (")
            both = sum(
                1
                for r in data
                if verdict(r) == "broken"
                and any(p["code"] == "spf.too_many_lookups" for p in r["spf"]["problems"])
            )
            assert await shown(page) == both == 1
            await choose(page, "#f-posture", "any")
            assert await shown(page) == codes["spf.too_many_lookups"]
            await choose(page, "#f-codes", "any")
            # search
            await page.js(
                "(() => { const q = document.getElementById('q'); q.value = 'good';"
                " q.dispatchEvent(new Event('input')); })()"
            )
            assert await shown(page) == sum("good" in n for n in names)
            await page.js(
                "(() => { const q = document.getElementById('q'); q.value = '';"
                " q.dispatchEvent(new Event('input')); })()"
            )
            # sort by domain, both ways (first page shows 50)
            await page.js("document.querySelector('th[data-key=domain]').click()")
            assert await column(page, 0) == sorted(names)[:50]
            await page.js("document.querySelector('th[data-key=domain]').click()")
            assert await column(page, 0) == sorted(names, reverse=True)[:50]
            # the findings of an item, decoded from its chunk, with the record to publish
            await page.js(
                "(() => { const q = document.getElementById('q'); q.value = 'toomany';"
                " q.dispatchEvent(new Event('input')); })()"
            )
            await page.js("document.querySelector('#table tbody tr.item').click()")
            for _ in range(100):
                detail = await page.js("document.querySelector('tr.detail')?.textContent || ''")
                if detail:
                    break
                await asyncio.sleep(0.05)
            assert "spf.too_many_lookups" in detail and "Fix: Publish the mended record" in detail
            assert "go stale" in detail
            await page.screenshot(artifacts() / "report-domains.png")
            assert page.errors == []

    asyncio.run(drive())
    assert (artifacts() / "report-domains.png").stat().st_size > 10_000


def test_messages_report_in_chromium(
    chromium: str, mail_runs: tuple[Path, Path], runs: Path
) -> None:
    before, after = mail_runs
    out = runs / "messages-report.html"
    bulkauth("report", str(after), "--previous", str(before), "-o", str(out))
    data = records(after)
    dkim = Counter(r["dkim"]["result"] for r in data if r["status"] == "ok")

    async def drive() -> None:
        async with Page(chromium) as page:
            await page.open(out)
            assert await shown(page) == len(data)
            await choose(page, "#f-dkim", "pass (")
            assert await shown(page) == dkim["pass"]
            await choose(page, "#f-dkim", "any")
            await choose(page, "#f-change", "worse (")
            assert await shown(page) > 0
            text = await page.js("document.body.textContent")
            assert "Signatures failing because the key is gone" in text
            assert "s2024._domainkey.bulkpost.example" in text
            await page.screenshot(artifacts() / "report-messages.png")
            assert page.errors == []

    asyncio.run(drive())
