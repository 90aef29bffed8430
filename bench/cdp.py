"""A small Chrome DevTools protocol client: headless Chromium on a loopback debugging port,
one page, commands and events over the websocket (the `websockets` package).

What the report's browser test (tests/report/test_browser.py) and its bench stage
(bench/report.py) need: open a page, evaluate JavaScript, collect console errors and uncaught
exceptions, take a screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import websockets

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """The Chromium binary: $BULKAUTH_CHROMIUM, else the first of CANDIDATES on the PATH."""
    return os.environ.get("BULKAUTH_CHROMIUM") or next(
        (p for c in CANDIDATES if (p := shutil.which(c))), None
    )


class Page:
    """One browser tab of a headless Chromium started for it."""

    def __init__(self, binary: str, width: int = 1300, height: int = 900) -> None:
        self.binary = binary
        self.size = (width, height)
        self.errors: list[str] = []
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}

    async def __aenter__(self) -> Page:
        url = await asyncio.to_thread(self._start)
        self._ws = await websockets.connect(url, max_size=None)
        self._reader = asyncio.create_task(self._read())
        target = await self.send("Target.createTarget", url="about:blank")
        attached = await self.send(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        self._session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            await self.send(f"{domain}.enable", session=True)
        return self

    def _start(self) -> str:
        """Start the browser; its debugging websocket's URL."""
        self._profile = tempfile.TemporaryDirectory(prefix="bulkauth-chromium-")
        self._proc = subprocess.Popen(
            [
                self.binary, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0", f"--user-data-dir={self._profile.name}",
                f"--window-size={self.size[0]},{self.size[1]}", "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        return self._browser_url()

    def _browser_url(self) -> str:
        assert self._proc.stderr is not None
        for raw in self._proc.stderr:
            m = re.search(rb"DevTools listening on (ws://\S+)", raw)
            if m:
                # keep reading its log, so that a full pipe never blocks the browser
                threading.Thread(target=self._drain, daemon=True).start()
                return m.group(1).decode()
        raise RuntimeError("Chromium exited before opening its debugging port")

    def _drain(self) -> None:
        assert self._proc.stderr is not None
        for _ in self._proc.stderr:
            pass

    async def __aexit__(self, *exc: object) -> None:
        self._reader.cancel()
        await self._ws.close()
        self._proc.terminate()
        try:
            await asyncio.to_thread(self._proc.wait, 10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stderr is not None:
            self._proc.stderr.close()
        self._profile.cleanup()

    async def _read(self) -> None:
        async for raw in self._ws:
            msg = json.loads(raw)
            if "id" in msg and msg["id"] in self._waiting:
                self._waiting.pop(msg["id"]).set_result(msg)
                continue
            method, params = msg.get("method"), msg.get("params", {})
            if method == "Runtime.exceptionThrown":
                d = params["exceptionDetails"]
                self.errors.append(
                    f"exception: {d.get('exception', {}).get('description') or d.get('text')}"
                )
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                self.errors.append(
                    "console.error: "
                    + " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                )
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                self.errors.append(f"log: {params['entry'].get('text')}")

    async def send(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        n = next(self._ids)
        msg: dict[str, Any] = {"id": n, "method": method, "params": params}
        if session:
            msg["sessionId"] = self._session
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[n] = fut
        await self._ws.send(json.dumps(msg))
        reply = await asyncio.wait_for(fut, 60)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def open(
        self, path: Path, ready: str = "document.body && document.body.dataset.ready"
    ) -> float:
        """Load a file and wait until `ready` is truthy; the seconds that took."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        uri = (await asyncio.to_thread(path.resolve)).as_uri()
        await self.send("Page.navigate", session=True, url=uri)
        while not await self.js(f"!!({ready})"):
            if loop.time() - t0 > 120:
                raise TimeoutError(f"{path}: not ready after 120 s ({self.errors})")
            await asyncio.sleep(0.02)
        return loop.time() - t0

    async def js(self, expression: str) -> Any:
        """Evaluate in the page (promises awaited); the value, as JSON."""
        r = await self.send(
            "Runtime.evaluate", session=True, expression=expression,
            awaitPromise=True, returnByValue=True,
        )  # fmt: skip
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    async def screenshot(self, out: Path, full_page: bool = True) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = await self.send("Page.getLayoutMetrics", session=True)
            size = metrics["cssContentSize"]
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": min(size["height"], 6000),
                "scale": 1,
            }
            params["captureBeyondViewport"] = True
        shot = await self.send("Page.captureScreenshot", session=True, **params)
        await asyncio.to_thread(out.write_bytes, base64.b64decode(shot["data"]))
