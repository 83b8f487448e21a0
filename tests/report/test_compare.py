"""harness compare: a run against itself passes; a release that added 40 ms to
every answer fails, naming the endpoints and the statistics; tolerances bend."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.report.compare import Tolerances, compare, parse_tolerance
from tests.support.browser import Browser
from tests.support.harness_cli import harness_env, read_summary, run_dir, run_harness


def _run(url: str, token: str, out: Path) -> Path:
    res = run_harness("run", "--target", url, "--rate", "60", "--duration", "3s", "--procs", "1",
                      "--mix", "enforcement=85,meters=15", "--out", str(out), "--quiet",
                      env=harness_env(OPSCOM_API_TOKEN=token))
    assert res.returncode == 0, res.stdout + res.stderr
    return run_dir(out)


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same traffic against the same controller, then against one 40 ms slower."""
    from tests.conftest import _start

    root = tmp_path_factory.mktemp("releases")
    runs = []
    for name, extra in (("fast", ()), ("slow", ("--latency", "40ms"))):
        target = _start(extra_args=extra)
        try:
            runs.append(_run(target.url, target.token, root / name))
        finally:
            target.process.stop()
    return runs[0], runs[1]


def test_a_run_compared_with_itself_passes(releases: tuple[Path, Path]) -> None:
    base, _ = releases
    res = run_harness("compare", str(base), str(base / "summary.json"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "verdict: no regression" in res.stdout


def test_forty_ms_more_on_every_answer_is_a_regression(releases: tuple[Path, Path], tmp_path: Path,
                                                        browser: Browser) -> None:
    base, slow = releases
    page = tmp_path / "compare.html"
    res = run_harness("compare", str(base.parent), str(slow.parent), "--html", str(page))  # reports roots
    assert res.returncode == 1, res.stdout + res.stderr
    out = res.stdout
    assert "verdict: REGRESSION" in out
    for stat in ("p50", "p99"):
        assert f"plate_validate: {stat} " in out and f"all: {stat} " in out, out
    opened = browser.open(page)
    assert opened.errors == [] and opened.requests == [page.resolve().as_uri()]
    charts = opened.charts()
    assert len(charts) >= 3 and all(c["drawn"] and c["painted"] for c in charts)
    assert "REGRESSION" in opened.page.inner_text("h1")
    opened.page.close()


def test_a_looser_tolerance_lets_the_slow_release_pass(releases: tuple[Path, Path]) -> None:
    base, slow = releases
    res = run_harness("compare", str(base), str(slow), "--tolerance", "p50=off", "--tolerance", "p99=off",
                      "--tolerance", "p999=5000%+1000ms")
    assert res.returncode == 0, res.stdout


def _section(p50: float, p99: float, *, requests: int = 1000, errors: int = 0, codes: dict | None = None,
             violations: int = 0, outcomes: dict | None = None) -> dict:
    return {"requests": requests, "ok": requests - errors, "errors": errors, "error_rate": errors / requests,
            "rps": requests / 10, "contract_violations": violations, "codes": codes or {},
            "outcomes": outcomes or {"ok": requests - errors},
            "latency_ms": {"p50": p50, "p90": p99, "p99": p99, "p999": p99, "max": p99, "count": requests}}


def _summary(section: dict, rate: float = 100.0) -> dict:
    return {"run": {"intended_rate": rate, "interrupted": False}, "verdict": "pass",
            "endpoints": {"plate_validate": section}, "all": section}


@pytest.mark.parametrize(("new", "flagged"), [
    (_section(1.0, 10.0), set()),
    (_section(1.5, 14.9), set()),  # +50% but under +5 ms: noise on a fast answer
    (_section(1.0, 16.0), {"p99"}),  # +60% and +6 ms
    (_section(1.0, 10.0, errors=2), {"error_rate"}),  # +0.2 points
    (_section(1.0, 10.0, codes={"9006": 1}, errors=1), {"codes"}),  # +0.1 points: within the error tolerance
    (_section(1.0, 10.0, violations=1), {"contract_violations"}),
    (_section(1.0, 10.0, requests=800), {"rps"}),
    (_section(1.0, 10.0, outcomes={"ok": 998, "timeout": 2}, errors=2), {"codes", "error_rate"}),
])
def test_what_counts_as_a_regression(new: dict, flagged: set[str]) -> None:
    c = compare(_summary(_section(1.0, 10.0)), _summary(new))
    assert c.rows[0].regressed == flagged
    assert c.regressed == bool(flagged)


def test_throughput_is_not_judged_across_different_rates() -> None:
    c = compare(_summary(_section(1.0, 10.0)), _summary(_section(1.0, 10.0, requests=500), rate=50.0))
    assert not c.regressed and any("throughput not judged" in n for n in c.notes)


def test_latency_of_a_few_requests_is_not_judged() -> None:
    c = compare(_summary(_section(1.0, 10.0, requests=5)), _summary(_section(100.0, 900.0, requests=5)))
    assert "p99" not in c.rows[0].regressed
    assert any("fewer than 30 timed requests" in n for n in c.rows[0].notes)


@pytest.mark.parametrize("text", ["p99", "p99=fast", "latency=10%", "error_rate=-1", "new_codes=maybe"])
def test_a_bad_tolerance_is_a_usage_error(text: str) -> None:
    with pytest.raises(ConfigError, match="--tolerance"):
        parse_tolerance(text, Tolerances())


def test_compare_refuses_a_path_that_is_not_a_run(tmp_path: Path, releases: tuple[Path, Path]) -> None:
    res = run_harness("compare", str(releases[0]), str(tmp_path / "nothing"))
    assert res.returncode == 2 and res.stderr.startswith("harness: error: ") and res.stderr.count("\n") == 1
    res = run_harness("compare", str(releases[0]), str(releases[0]), "--tolerance", "p99=fast")
    assert res.returncode == 2 and "--tolerance" in res.stderr


def test_read_summary_helper_sees_the_slow_release(releases: tuple[Path, Path]) -> None:
    base, slow = releases
    assert read_summary(slow)["all"]["latency_ms"]["p50"] > read_summary(base)["all"]["latency_ms"]["p50"] + 30
