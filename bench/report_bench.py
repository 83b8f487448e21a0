"""How big and how fast is report.html for long runs? And the README's screenshot.

    .venv/bin/python bench/report_bench.py [--quick] [--rounds 3] [--seconds 600,3600,7200]
    .venv/bin/python bench/report_bench.py --screenshot docs/report.png

For each timeline length it makes a soak-shaped run directory (tests/report/soak.py:
real histograms, one timeline row per second with nine endpoints), renders
report.html, and opens it --rounds times in headless Chromium (Debian's, driven by
Playwright), taking the time from navigation start until the page says every chart
is drawn (``data-ready``). The peer, measured in the same browser in the same run,
is a page of the same size with the same tables but no charts, so the ratio shows
what drawing costs whatever the shared machine's speed. Goals: under 3 MB and
interactive within 2 s for 7,200 seconds.

--screenshot: a 40-second run against the embedded reference controller with a
stall every 15 s (so corrected and uncorrected latency part), its report written
and photographed (the top of the page and the distributions) into one PNG.

Not a test: it prints a table and the goals, and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.report.html import write_report  # noqa: E402
from tests.report.soak import write_soak_run  # noqa: E402
from tests.support.browser import READY, launch  # noqa: E402
from tests.support.debian import ensure_package  # noqa: E402

GOAL_BYTES = 3 * 1024 * 1024
GOAL_READY_MS = 2000.0
# The peer page's stand-in for the chart script: ready at the same moment the real
# one would be (after DOMContentLoaded and a frame), having drawn nothing.
PEER_SCRIPT = """<script>document.addEventListener("DOMContentLoaded", function () {
  requestAnimationFrame(function () { setTimeout(function () {
    window.reportReadyAt = performance.now(); document.body.setAttribute("data-ready", "1"); }, 0); });
});</script>"""


def ready_ms(browser, path: Path) -> float:  # noqa: ANN001 - tests.support.browser.Browser
    page = browser.context.new_page()
    page.goto(path.as_uri())
    page.wait_for_selector(READY, state="attached", timeout=60_000)
    value = float(page.evaluate("window.reportReadyAt"))
    page.close()
    return value


def without_charts(report: Path, out: Path) -> Path:
    """The report with its chart script replaced by one that only says it is ready:
    same bytes to load and parse, same tables, nothing drawn."""
    text = report.read_text()
    text, replaced = re.subn(r"<script>/\* The harness's chart renderer.*?</script>", lambda m: PEER_SCRIPT, text,
                             count=1, flags=re.S)
    if replaced != 1:
        raise SystemExit("bench: the chart script was not found in report.html (charts.js changed?)")
    out.write_text(text)
    return out


def measure(seconds_list: list[int], rounds: int) -> None:
    chromium = ensure_package("/usr/bin/chromium", "chromium")
    rows = []
    with tempfile.TemporaryDirectory(prefix="report-bench-") as tmp, \
            tempfile.TemporaryDirectory(prefix="report-bench-profile-") as profile, \
            launch(chromium, Path(profile)) as browser:
        for seconds in seconds_list:
            run = write_soak_run(Path(tmp) / f"soak-{seconds}", seconds=seconds)
            t0 = time.perf_counter()
            report = write_report(run)
            build_s = time.perf_counter() - t0
            peer = without_charts(report, Path(tmp) / f"peer-{seconds}.html")
            ready = [ready_ms(browser, report) for _ in range(rounds)]
            base = [ready_ms(browser, peer) for _ in range(rounds)]
            rows.append((seconds, report.stat().st_size, build_s, statistics.median(ready), ready,
                         statistics.median(base)))
    print("| timeline | report.html | built in | interactive (median) | rounds (ms) | peer: same page, no charts |"
          " charts cost |")
    print("| ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    for seconds, size, build_s, med, ready, base in rows:
        print(f"| {seconds:,} s | {size / 1e6:.2f} MB | {build_s:.2f} s | {med:,.0f} ms | "
              f"{', '.join(f'{r:,.0f}' for r in ready)} | {base:,.0f} ms | {med / base:.2f}x |")
    print()
    for seconds, size, _, med, _, _ in rows:
        if seconds >= 7200:
            print(f"- {'PASS' if size < GOAL_BYTES else 'FAIL'}: {seconds:,} s report under 3 MB "
                  f"({size / 1e6:.2f} MB)")
            print(f"- {'PASS' if med < GOAL_READY_MS else 'FAIL'}: {seconds:,} s report interactive within 2 s "
                  f"({med:,.0f} ms from navigation start)")


def screenshot(path: Path) -> None:
    from harness.api import embedded_controller, load_plan, run, write_result

    chromium = ensure_package("/usr/bin/chromium", "chromium")
    os.chdir(ROOT)  # the report shows the scenario's path as a user would type it
    plan = load_plan("scenarios/smoke.toml", {"load.rate": 60, "load.duration": "40s", "load.procs": 1})
    with tempfile.TemporaryDirectory(prefix="report-shot-") as tmp, \
            embedded_controller(seed=1, extra_args=("--stall", "15s:1.2s")) as target:
        result = run(plan, target)
        written = write_result(result, Path(tmp))
        report = written.path / "report.html"
        with tempfile.TemporaryDirectory(prefix="report-shot-profile-") as profile, \
                launch(chromium, Path(profile)) as browser:
            page = browser.context.new_page()
            page.set_viewport_size({"width": 1280, "height": 2000})
            page.goto(report.as_uri())
            page.wait_for_selector(READY, state="attached", timeout=60_000)
            page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": 1280, "height": 2000})
            page.close()
    print(f"screenshot: {path} (run verdict {result.verdict}, {result.summary['totals']['requests']} requests)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", default="600,3600,7200", help="timeline lengths, comma-separated")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="7,200 s only, 2 rounds")
    p.add_argument("--screenshot", metavar="PNG", help="make the README's screenshot instead")
    args = p.parse_args()
    if args.screenshot:
        screenshot(Path(args.screenshot))
        return 0
    seconds = [7200] if args.quick else [int(s) for s in args.seconds.split(",")]
    measure(seconds, 2 if args.quick else max(1, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
