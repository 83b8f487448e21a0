"""Capture the live view of a real run for the docs: text, SVG and (with chromium) PNG.

Runs the harness through its API against the embedded reference controller, with the
terminal view attached as ``harness run`` attaches it, and, once the run is past
``--at`` seconds, renders the frame the terminal shows into a recording console:

    docs/live-view.txt   the frame as plain text (what the README shows)
    docs/live-view.svg   the same, coloured (rich's export_svg)
    docs/live-view.png   the SVG as an image, when chromium is installed
                         (``apt-get install chromium``; skipped with a note otherwise)

Usage: ``.venv/bin/python docs/capture_live_view.py [--at 12] [--rate 200] [--duration 20s]``
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from harness.api import embedded_controller, load_plan, run  # noqa: E402
from harness.report.live import LiveState  # noqa: E402
from harness.report.screen import ScreenView, frame  # noqa: E402
from harness.report.terminal import LiveFeed  # noqa: E402

DOCS = ROOT / "docs"
WIDTH = 104


class CapturingView(ScreenView):
    """The terminal view, drawing nowhere, that keeps the first frame past ``at`` seconds."""

    def __init__(self, state: LiveState, at: float) -> None:
        super().__init__(state, Console(file=io.StringIO(), force_terminal=True, width=WIDTH), transient=True)
        self.at = at
        self.captured: Console | None = None

    def show(self, rows: Any = ()) -> None:
        super().show(rows)
        if self.captured is None and self.state.elapsed >= self.at:
            console = Console(record=True, file=io.StringIO(), force_terminal=True, color_system="truecolor",
                              width=WIDTH)
            console.print(frame(self.state))
            self.captured = console


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--at", type=float, default=12.0, help="seconds into the run to capture (default 12)")
    p.add_argument("--rate", default="200", help="requests/s (default 200)")
    p.add_argument("--duration", default="20s", help="run length (default 20s)")
    args = p.parse_args()
    plan = load_plan(None, {"load.rate": args.rate, "load.duration": args.duration, "load.procs": 1,
                            "checks.thresholds": ["plate_validate.p99<50ms", "permit_push.p99<100ms",
                                                  "contract_violations==0"],
                            "output.dir": str(ROOT / "bench" / ".work" / "capture")})
    state = LiveState(duration_s=plan.duration, checks=plan.checks, rate_at=plan.pacer.rate_at)
    view = CapturingView(state, args.at)
    feed = LiveFeed(view, state)
    with embedded_controller(seed=1) as target:
        feed.start()
        try:
            run(plan, target, on_second=feed.on_second)
        finally:
            feed.close()
    if view.captured is None:
        raise SystemExit("capture_live_view: the run ended before --at")
    text = view.captured.export_text(clear=False)
    (DOCS / "live-view.txt").write_text("\n".join(line.rstrip() for line in text.splitlines()) + "\n")
    svg = DOCS / "live-view.svg"
    svg.write_text(view.captured.export_svg(title="harness run"))
    print(f"wrote {DOCS / 'live-view.txt'} and {svg}")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("no chromium: docs/live-view.png not made (apt-get install chromium)")
        return 0
    lines = text.count("\n") + 1
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--screenshot={DOCS / 'live-view.png'}",
                        f"--window-size={WIDTH * 12 + 40},{lines * 25 + 90}", svg.as_uri()],
                       check=True, capture_output=True, timeout=120)
    print(f"wrote {DOCS / 'live-view.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
