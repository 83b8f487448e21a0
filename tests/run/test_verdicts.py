"""Verdicts that cannot lie: ``harness run`` against targets that are down, hung,
resetting or failing, with every intended hit accounted for, every check
meaningful, overrides explicit and the display honest. Each case here passed a
run it had to fail (or silently did something else) before."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.harness_cli import (
    read_summary,
    run_dir,
    run_harness,
    stall_server,
    start_harness,
)

QUIET = ("--quiet", "--procs", "1", "--mix", "enforcement=1")


def _accounted(s: dict[str, Any]) -> None:
    """Every intended hit ended in exactly one outcome."""
    intended = s["run"]["intended_requests"]
    assert sum(s["all"]["outcomes"].values()) == s["all"]["requests"] == s["totals"]["requests"] == intended
    assert sum(sum(e["outcomes"].values()) for e in s["endpoints"].values()) == intended


def test_a_dead_target_fails_even_a_latency_check(tmp_path: Path, free_port: int) -> None:
    res = run_harness("run", "--target", f"http://127.0.0.1:{free_port}", "--rate", "200", "--duration", "2s",
                      "--check", "plate_validate.p99<50ms", "--out", str(tmp_path), *QUIET)
    assert res.returncode == 1, res.stderr
    s = read_summary(tmp_path)
    _accounted(s)
    assert s["all"]["outcomes"] == {"connect_error": 400} and s["totals"]["answered"] == 0
    assert s["verdict"] == "fail"
    by_expr = {c["expr"]: c for c in s["checks"]}
    assert by_expr["plate_validate.p99<50ms"]["value"] is None  # refusals are not fast answers
    assert not by_expr["plate_validate.p99<50ms"]["passed"]
    assert not by_expr["all.error_rate<1%"]["passed"] and not by_expr["answered>0"]["passed"]
    assert "plate_validate.p99<50ms  (not measured" in res.stdout


def test_a_dead_target_fails_with_no_checks_at_all(tmp_path: Path, free_port: int) -> None:
    res = run_harness("run", "--target", f"http://127.0.0.1:{free_port}", "--rate", "50", "--duration", "1s",
                      "--out", str(tmp_path), *QUIET)
    assert res.returncode == 1
    assert read_summary(tmp_path)["verdict"] == "fail"


def test_a_hung_target_accounts_for_every_intended_request(tmp_path: Path) -> None:
    # Answers for 1.5 s, then nothing: requests time out, the pool fills, the backlog
    # holds the rest until the run ends. All 800 must be outcomes, and errors.
    with stall_server(hang_after=1.5) as server:
        res = run_harness("run", "--target", server.url, "--rate", "200", "--duration", "4s", "--connections", "8",
                          "--timeout", "1s", "--out", str(tmp_path), *QUIET, timeout=60)
    assert res.returncode == 1, res.stderr
    s = read_summary(tmp_path)
    _accounted(s)
    assert s["run"]["intended_requests"] == 800
    out = s["all"]["outcomes"]
    assert 250 <= out["ok"] <= 310 and out.get("timeout", 0) >= 8
    assert out.get("timeout", 0) + out.get("unsent", 0) + out.get("dropped", 0) == 800 - out["ok"]
    assert s["totals"]["error_rate"] == pytest.approx((800 - out["ok"]) / 800)
    # A timeout's latency is the wait its user saw: at least the 1 s timeout.
    assert s["all"]["latency_ms"]["max"] >= 1000


def test_a_resetting_target_is_all_errors(tmp_path: Path) -> None:
    with stall_server(reset=True) as server:
        res = run_harness("run", "--target", server.url, "--rate", "100", "--duration", "1s",
                          "--out", str(tmp_path), *QUIET)
    assert res.returncode == 1
    s = read_summary(tmp_path)
    _accounted(s)
    assert s["all"]["outcomes"] == {"disconnected": 100}
    assert s["all"]["latency_ms"]["count"] == 0  # no answer, so no latency


@pytest.mark.parametrize(
    ("check", "says"),
    [
        ("codes.9200==0", "'9200' is not an OPSCOM error code"),
        ("plate_validate.outcomes.bogus==0", "'bogus' is not an outcome"),
        ("plate_validate.outcomes.http500==0", "did you mean 'http_500'"),
        ("error_rate<200%", "between 0% and 100%"),
        ("plate_validate.p99<-1ms", "cannot be negative"),
        ("plate_validat.p99<1ms", "unknown endpoint 'plate_validat'"),
        ("plate_validate.p98<1ms", "unknown statistic 'p98'"),
        ("rps>5", "unknown metric 'rps'"),
    ],
)
def test_typo_d_checks_are_refused_before_anything_is_sent(tmp_path: Path, check: str, says: str) -> None:
    with stall_server() as server:
        res = run_harness("run", "--target", server.url, "--rate", "50", "--duration", "1s", "--check", check,
                          "--out", str(tmp_path), *QUIET)
        answered = server.answered()
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"harness: error: check '{check}' (--check): ") and says in lines[0]
    assert answered == 0 and not any(tmp_path.iterdir())


def test_a_bad_threshold_in_a_scenario_names_its_file_and_line(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text('[load]\nrate = 10\n\n[checks]\nthresholds = [\n  "all.p99<1s",\n  "codes.9200==0",\n]\n')
    res = run_harness("run", str(scenario), "--dry-run")
    assert res.returncode == 2
    assert res.stderr.strip() == (f"harness: error: check 'codes.9200==0' ({scenario}:7): '9200' is not an OPSCOM "
                                  "error code; expected one of 9000..9034 from the catalogue")


def test_poisson_achieved_rate_is_judged_against_the_hits_it_drew(tmp_path: Path) -> None:
    with stall_server() as server:
        res = run_harness("run", "--target", server.url, "--arrival", "poisson", "--rate", "100", "--duration", "5s",
                          "--seed", "8", "--check", "achieved_rate>=99%", "--out", str(tmp_path), *QUIET)
    assert res.returncode == 0, res.stdout + res.stderr
    s = read_summary(tmp_path)
    _accounted(s)
    drawn = s["run"]["intended_requests"]
    assert drawn != 500  # not rate x duration: the schedule's own count
    assert s["totals"]["achieved_rate"] == pytest.approx(1.0, abs=0.01)
    assert s["run"]["intended_rate"] == pytest.approx(drawn / s["run"]["duration_s"])


def test_an_interrupted_stages_run_compares_with_the_hits_due_so_far(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text('[load]\narrival = "stages"\nstages = [{duration = "10s", target = 400}, '
                        '{duration = "20s", target = 400}]\n')
    with stall_server() as server:
        proc = start_harness("run", str(scenario), "--target", server.url, "--out", str(tmp_path), *QUIET)
        time.sleep(5)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 130
    s = read_summary(tmp_path)
    _accounted(s)
    # The whole plan's mean is 300/s; during the ramp's first seconds it was far less.
    assert s["run"]["intended_rate"] < 250
    assert s["totals"]["achieved_rate"] == pytest.approx(1.0, abs=0.02)


def test_duration_scales_a_stages_plan_and_says_so(tmp_path: Path) -> None:
    res = run_harness("run", "scenarios/release.toml", "--duration", "3s", "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "override: --duration 3s" in res.stdout and "is scaled to 3s" in res.stdout
    with stall_server() as server:
        res = run_harness("run", "scenarios/release.toml", "--target", server.url, "--duration", "3s",
                          "--out", str(tmp_path), "--quiet", "--procs", "1")
    s = read_summary(tmp_path)
    _accounted(s)
    assert s["run"]["duration_s"] == pytest.approx(3.0)
    assert "--duration 3s" in s["plan"]["overrides"]
    assert any("scaled" in n for n in s["plan"]["notes"])
    # 10 -> 300/s over 2/9 of 3 s (103 hits), hold 300/s for 2 s (600), down to 50 over 1/3 s (58).
    assert 755 <= s["run"]["intended_requests"] <= 765


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["scenarios/release.toml", "--rate", "50"], "the scenario's arrival is \"stages\""),
        (["--rate", "50", "--think", "1s"], "think time belongs to the closed model"),
        (["--users", "5", "--arrival", "sine"], "an arrival shape belongs to the open model"),
        (["--procs", "4", "--connections", "2"], "2 connection(s) cannot be split over 4 processes"),
        (["--users", "2", "--procs", "3"], "2 user(s) cannot be split over 3 processes"),
    ],
)
def test_an_override_that_would_be_ignored_is_refused(args: list[str], says: str) -> None:
    res = run_harness("run", *args, "--dry-run")
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and says in res.stderr


def test_a_zero_weight_in_mix_is_allowed_as_in_toml() -> None:
    res = run_harness("run", "--mix", "enforcement=1,meters=0", "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "'meters': 0.0" in res.stdout


def test_server_errors_on_invalid_calls_are_load_errors_not_contract_violations(tmp_path: Path) -> None:
    with stall_server(status=500) as server:
        res = run_harness("run", "--target", server.url, "--rate", "100", "--duration", "1s", "--quiet", "--procs",
                          "1", "--mix", "invalid=1", "--check", "all.outcomes.http_500==0", "--out", str(tmp_path))
    assert res.returncode == 1
    s = read_summary(tmp_path)
    _accounted(s)
    assert s["totals"]["contract_violations"] == 0
    assert s["totals"]["errors"] == 100 and s["totals"]["error_rate"] == 1.0
    # The all block has an endpoint's shape: its outcomes are checkable.
    check = next(c for c in s["checks"] if c["expr"] == "all.outcomes.http_500==0")
    assert check["value"] == 100 == s["all"]["outcomes"]["http_500"] and not check["passed"]
    for key in ("outcomes", "codes", "expected_codes", "latency_ms", "service_ms", "requests", "rps"):
        assert key in s["all"]


def test_the_log_line_shows_a_stall_between_two_lines(tmp_path: Path) -> None:
    # Not a terminal: one line per 5 s, summarising all of it. A 1 s stall at 2 s
    # must show in that line's max and p99, not be lost to a quiet last second.
    with stall_server("2:1") as server:
        res = run_harness("run", "--target", server.url, "--rate", "200", "--duration", "5s", "--procs", "1",
                          "--mix", "enforcement=1", "--connections", "4", "--out", str(tmp_path))
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("[")]
    assert len(lines) == 1, res.stderr
    fields = lines[0].split()
    p99, mx = (float(fields[fields.index(k) + 1].replace(",", "")) for k in ("p99", "max"))
    assert p99 > 800 and mx > 900, lines[0]


def test_units_everywhere_and_service_time_histograms(tmp_path: Path) -> None:
    with stall_server() as server:
        run_harness("run", "--target", server.url, "--rate", "100", "--duration", "1s", "--check",
                    "plate_validate.p99<100us", "--out", str(tmp_path), *QUIET)
    s = read_summary(tmp_path)
    check = next(c for c in s["checks"] if c["expr"] == "plate_validate.p99<100us")
    assert check["unit"] == "ms" and check["measured"].endswith(" ms") and check["threshold"] == 0.1
    rate = next(c for c in s["checks"] if c["expr"] == "all.error_rate<1%")
    assert rate["measured"] == "0%" and rate["unit"] == "%"
    directory = run_dir(tmp_path)
    for name in ("plate_validate.hgrm", "plate_validate.service.hgrm", "all.service.hgrm"):
        footer = (directory / name).read_text().splitlines()[-3]
        mean, stddev = (float(x.split("=")[1]) for x in footer.strip("#[]").split(","))
        assert mean < 100 and stddev < 100, footer  # both in ms (the library printed stddev in us)


def test_summary_records_the_version_mix_plan_and_overrides(tmp_path: Path) -> None:
    from harness import __version__

    with stall_server() as server:
        run_harness("run", "scenarios/smoke.toml", "--target", server.url, "--duration", "1s", "--rate", "40",
                    "--out", str(tmp_path), "--quiet")
    s = read_summary(tmp_path)
    assert s["harness"]["version"] == __version__ == s["run"]["harness_version"]
    plan = s["plan"]
    assert plan["traffic"]["mix"] == {"enforcement": 70.0, "meters": 15.0, "integrations": 10.0, "invalid": 5.0}
    assert plan["duration_s"] == 1.0 and plan["load"]["rate"] == 40
    assert plan["overrides"][:2] == [f"--target {s['run']['target']}", "--rate 40"] or "--rate 40" in plan["overrides"]
    assert s["run"]["connections"] == 16


def test_max_body_is_one_row_that_reaches_the_transport(tmp_path: Path) -> None:
    # The stall server's answer is about 90 bytes: over a 32-byte limit it is refused.
    with stall_server() as server:
        res = run_harness("run", "--target", server.url, "--rate", "50", "--duration", "1s", "--max-body", "32",
                          "--out", str(tmp_path), *QUIET)
    assert res.returncode == 1
    s = read_summary(tmp_path)
    assert s["all"]["outcomes"] == {"body_too_large": 50} and s["plan"]["load"]["max_body"] == 32
