"""harness history over three runs of one scenario: listed oldest first with their
verdicts, and history.html charting p99 and errors across them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import Browser
from tests.support.harness_cli import run_harness, stall_server


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("history") / "smoke"
    checks = ["all.error_rate<1%", "all.error_rate<1%", "plate_validate.p50<0.001ms"]  # the third fails
    with stall_server() as server:
        for check in checks:
            res = run_harness("run", "--target", server.url, "--mix", "enforcement=1", "--rate", "30",
                              "--duration", "1s", "--procs", "1", "--check", check, "--out", str(root), "--quiet")
            assert res.returncode in (0, 1), res.stderr
    (root / "broken").mkdir()
    (root / "broken" / "summary.json").write_text("{not json")
    return root


def test_history_lists_every_run_with_its_verdict(three_runs: Path, browser: Browser) -> None:
    res = run_harness("history", str(three_runs))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    rows = [line for line in lines if line[:4].isdigit()]
    assert len(rows) == 3
    assert [r.split()[2] for r in rows] == ["pass", "pass", "fail"]
    assert "plate_validate.p50<0.001ms" in rows[2]
    assert "3 run(s)" in res.stdout
    assert "skipped" in res.stderr and "broken" in res.stderr  # a bad directory is named, not fatal
    page = three_runs / "history.html"
    assert f"history: {page}" in res.stdout
    opened = browser.open(page)
    assert opened.errors == [] and opened.requests == [page.resolve().as_uri()]
    charts = opened.charts()
    assert {c["id"] for c in charts} == {"chart-history-p99", "chart-history-errors", "chart-history-rps"}
    assert all(c["drawn"] and c["painted"] for c in charts)
    assert opened.page.locator("h2 + table > tbody > tr").count() == 3
    opened.page.close()


def test_history_last_n_and_another_page(three_runs: Path, tmp_path: Path) -> None:
    page = tmp_path / "h.html"
    res = run_harness("history", str(three_runs), "--last", "2", "--html", str(page))
    assert res.returncode == 0
    assert "2 run(s)" in res.stdout and page.is_file()


def test_history_of_a_directory_without_runs_is_a_usage_error(tmp_path: Path) -> None:
    res = run_harness("history", str(tmp_path))
    assert res.returncode == 2 and res.stderr.startswith("harness: error: ") and "no runs" in res.stderr
