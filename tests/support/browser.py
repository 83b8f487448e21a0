"""Headless Chromium driven by Playwright's Python API, for the report tests.

Debian's chromium (``executable_path``), never a browser Playwright downloads. The
flags are the ones this machine's closed network needs (no background requests to
Google's hosts at start) and an empty user-data directory. ``Browser.open(path)``
loads a local page and records everything a test asserts on: console errors,
uncaught exceptions, and every request the page made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, sync_playwright

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
READY = "body[data-ready='1']"


@dataclass
class Opened:
    page: Page
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    requests: list[str] = field(default_factory=list)  # every URL the page asked for

    def charts(self) -> list[dict[str, Any]]:
        """Each chart element: id, whether the script drew it, its canvas size, and
        whether the canvas holds any painted pixel."""
        return self.page.evaluate("""() => Array.from(document.querySelectorAll('.chart')).map(el => {
            const c = el.querySelector('canvas');
            let painted = false;
            if (c && c.width && c.height) {
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                for (let i = 3; i < d.length; i += 4) { if (d[i] !== 0) { painted = true; break; } }
            }
            return {id: el.id, drawn: el.getAttribute('data-drawn') === '1',
                    width: c ? c.width : 0, height: c ? c.height : 0, painted: painted};
        })""")


@dataclass
class Browser:
    context: BrowserContext

    def open(self, path: Path, *, timeout_ms: float = 30_000) -> Opened:
        page = self.context.new_page()
        opened = Opened(page)
        page.on("console", lambda m: opened.errors.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "assert") else None)
        page.on("pageerror", lambda e: opened.errors.append(f"uncaught: {e}"))
        page.on("request", lambda r: opened.requests.append(r.url))
        page.goto(path.resolve().as_uri())
        page.wait_for_selector(READY, state="attached", timeout=timeout_ms)
        return opened


@contextlib.contextmanager
def launch(executable: str, profile: Path) -> Iterator[Browser]:
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=list(CHROMIUM_FLAGS),
            viewport={"width": 1280, "height": 900})
        try:
            yield Browser(context)
        finally:
            context.close()
