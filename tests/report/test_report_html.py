"""report.html in a real browser: every chart drawn, nothing fetched, no console
error, the cursor shows values; rebuilt byte for byte by ``harness report``; small
for a 2-hour soak."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson

from harness.report.html import REPORT_FILE, write_report
from tests.report.soak import write_soak_run
from tests.support.browser import Browser, Opened
from tests.support.harness_cli import run_harness

MAX_REPORT_BYTES = 3 * 1024 * 1024


def assert_self_contained(opened: Opened, path: Path) -> None:
    assert opened.errors == []
    assert opened.requests == [path.resolve().as_uri()], "the page fetched something besides itself"


def assert_every_chart_drawn(opened: Opened, at_least: int) -> list[dict]:
    charts = opened.charts()
    assert len(charts) >= at_least, charts
    not_drawn = [c for c in charts if not (c["drawn"] and c["width"] > 100 and c["height"] > 100 and c["painted"])]
    assert not_drawn == []
    return charts


def test_the_report_draws_every_chart_offline_without_errors(browser: Browser, sample_run: Path) -> None:
    path = sample_run / REPORT_FILE
    opened = browser.open(path)
    assert_self_contained(opened, path)
    summary = orjson.loads((sample_run / "summary.json").read_bytes())
    names = [n for n, e in summary["endpoints"].items() if e["latency_ms"]["count"]]
    charts = assert_every_chart_drawn(opened, at_least=4 + len(names) + 1)
    ids = {c["id"] for c in charts}
    assert {"chart-throughput", "chart-latency", "chart-endpoint-rate", "chart-endpoint-p99"} <= ids
    # One distribution chart per endpoint with timed answers, plus all, each with a
    # corrected and an uncorrected curve.
    titles = opened.page.locator(".u-title").all_inner_texts()
    assert sum("latency by percentile" in t for t in titles) == len(names) + 1
    legend = opened.page.locator("#chart-dist-0 .u-legend").inner_text()
    assert "corrected (intended)" in legend and "uncorrected (service)" in legend
    text = opened.page.inner_text("body")
    assert "FAIL" in text and "plate_validate.p99<0.001ms" in text
    assert "Effective plan" in text and '"overrides"' in text
    if summary["totals"]["expected"]:
        assert "deliberate:" in text  # the codes table shows deliberate codes apart
    opened.page.close()


def test_the_cursor_shows_values_under_it(browser: Browser, sample_run: Path) -> None:
    opened = browser.open(sample_run / REPORT_FILE)
    over = opened.page.locator("#chart-throughput .u-over")
    box = over.bounding_box()
    assert box is not None
    before = opened.page.locator("#chart-throughput .u-legend .u-value").all_inner_texts()
    opened.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    after = opened.page.locator("#chart-throughput .u-legend .u-value").all_inner_texts()
    assert after != before and any(v not in ("", "–") for v in after[1:]), (before, after)
    assert opened.errors == []
    opened.page.close()


def test_harness_report_rebuilds_the_same_files(sample_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / sample_run.name
    shutil.copytree(sample_run, copy)
    for name in ("report.html", "junit.xml", "timeline.csv"):
        (copy / name).unlink()
    res = run_harness("report", str(copy))
    assert res.returncode == 0, res.stderr
    for name in ("report.html", "junit.xml", "timeline.csv", "endpoints.csv", "timeline_by_endpoint.csv"):
        assert (copy / name).read_bytes() == (sample_run / name).read_bytes(), name


def test_a_report_without_metrics_json_says_what_it_leaves_out(browser: Browser, sample_run: Path,
                                                                 tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(sample_run, copy)
    (copy / "metrics.json").unlink()
    res = run_harness("report", str(copy / "summary.json"))
    assert res.returncode == 0, res.stderr
    opened = browser.open(copy / REPORT_FILE)
    assert "metrics.json: missing" in opened.page.inner_text("body")
    assert_self_contained(opened, copy / REPORT_FILE)
    assert_every_chart_drawn(opened, at_least=2)  # the totals' timeline is in summary.json
    opened.page.close()


def test_harness_report_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    res = run_harness("report", str(tmp_path))
    assert res.returncode == 2
    assert res.stderr.startswith("harness: error: ") and res.stderr.count("\n") == 1
    assert str(tmp_path) in res.stderr


def test_a_two_hour_soak_report_is_small_and_draws(browser: Browser, tmp_path: Path) -> None:
    run = write_soak_run(tmp_path / "soak", seconds=7200)
    path = write_report(run)
    assert path.stat().st_size < MAX_REPORT_BYTES, path.stat().st_size
    opened = browser.open(path, timeout_ms=60_000)
    assert_self_contained(opened, path)
    charts = assert_every_chart_drawn(opened, at_least=4)
    assert len(charts) >= 4 + 2
    last_tick = opened.page.evaluate("Math.max(...JSON.parse(document.getElementById('report-data')"
                                     ".textContent).columns.t)")
    assert last_tick == 7199
    opened.page.close()


def test_no_report_holds_the_token(tmp_path: Path) -> None:
    from tests.support.harness_cli import harness_env, run_dir, stall_server

    token = "tok-7f3a9c-never-written"
    with stall_server() as server:
        res = run_harness("run", "--target", server.url, "--mix", "enforcement=1", "--rate", "30", "--duration", "1s",
                          "--procs", "1", "--csv", "--out", str(tmp_path), "--quiet",
                          env=harness_env(OPSCOM_API_TOKEN=token))
    assert res.returncode == 0, res.stderr
    files = list(run_dir(tmp_path).iterdir())
    assert {"report.html", "junit.xml", "endpoints.csv"} <= {f.name for f in files}
    for f in files:
        assert token.encode() not in f.read_bytes(), f.name
