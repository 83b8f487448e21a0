"""Live gates (abort_on_fail): a failing check stops the run early, the verdict is
fail, and the report, the summary and junit.xml say which check, when and why."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema_rs
import orjson
import pytest

from harness.checks import parse_check
from harness.livegates import LiveGates, live_problem
from harness.metrics import Recorder, bucket_index
from harness.timeline import NameSecond, Second
from harness.workers import RunControl
from tests.support.harness_cli import ROOT, read_summary, run_dir, run_harness, stall_server


def _scenario(tmp_path: Path, check: str, delay: str = "1s", duration: str = "30s") -> Path:
    path = tmp_path / "live.toml"
    path.write_text(f'[load]\nrate = 50\nduration = "{duration}"\nprocs = 1\n\n[mix]\nenforcement = 1\n\n'
                    f'[checks]\nthresholds = [\n  "all.error_rate<50%",\n'
                    f'  {{ expr = "{check}", abort_on_fail = true, delay = "{delay}" }},\n]\n')
    return path


def test_a_stalled_target_aborts_the_run_on_a_live_latency_check(tmp_path: Path) -> None:
    with stall_server("1.5:3") as server:
        res = run_harness("run", str(_scenario(tmp_path, "all.p99<100ms")), "--target", server.url,
                          "--out", str(tmp_path / "out"), "--quiet")
    assert res.returncode == 1, res.stdout + res.stderr
    s = read_summary(tmp_path / "out")
    assert s["verdict"] == "fail" and s["run"]["interrupted"]
    assert s["run"]["duration_s"] < 15, "the 30 s run must stop once the check fails"
    reason = s["run"]["reason"]
    assert reason.startswith("live check all.p99<100ms failed at ") and "threshold < 100 ms" in reason
    live = next(c for c in s["checks"] if c["expr"] == "all.p99<100ms")
    assert live["passed"] is False and live["live"]["aborted"] and live["live"]["value"] >= 100
    assert live["abort_on_fail"] is True and live["abort_delay_s"] == 1.0
    schema = orjson.loads((ROOT / "schemas" / "summary.v2.json").read_bytes())
    assert list(jsonschema_rs.validator_for(schema).iter_errors(s)) == []
    d = run_dir(tmp_path / "out")
    html = (d / "report.html").read_text()
    assert "Aborted:" in html and "live check all.p99&lt;100ms failed" in html
    run_case = ET.parse(d / "junit.xml").getroot().find("testsuite/testcase")
    assert run_case is not None and run_case.find("failure").get("type") == "aborted"


def test_a_dead_target_aborts_on_a_live_error_rate_check(tmp_path: Path) -> None:
    res = run_harness("run", str(_scenario(tmp_path, "all.error_rate<10%")), "--target", "http://127.0.0.1:9",
                      "--out", str(tmp_path / "out"), "--quiet")
    assert res.returncode == 1
    s = read_summary(tmp_path / "out")
    assert s["run"]["duration_s"] < 10 and "live check all.error_rate<10%" in s["run"]["reason"]


def test_a_check_that_passes_live_lets_the_run_finish(tmp_path: Path) -> None:
    with stall_server() as server:
        res = run_harness("run", str(_scenario(tmp_path, "all.p99<2s", duration="2s")), "--target", server.url,
                          "--out", str(tmp_path / "out"), "--quiet")
    assert res.returncode == 0, res.stdout + res.stderr
    s = read_summary(tmp_path / "out")
    assert not s["run"]["interrupted"] and s["run"]["duration_s"] == 2.0


@pytest.mark.parametrize(("check", "problem"), [
    ("codes.9002==0", "cannot be judged while the run goes"),
    ("plate_validate.service_p99<10ms", "cannot be judged while the run goes"),
    ("requests>10", "a count only grows"),
    ("contract_violations==0", "cannot be judged while the run goes"),
])
def test_checks_that_cannot_be_judged_live_are_refused_up_front(tmp_path: Path, check: str, problem: str) -> None:
    res = run_harness("run", str(_scenario(tmp_path, check)), "--dry-run")
    assert res.returncode == 2
    assert res.stderr.startswith("harness: error: ") and res.stderr.count("\n") == 1
    assert "live.toml:" in res.stderr and problem in res.stderr


def _row(t: int, *, requests: int = 10, errors: int = 0, ms: float = 1.0, outcomes: dict | None = None) -> Second:
    hist = Recorder()
    hist._counts[bucket_index(int(ms * 1000))] += requests
    blob = hist.encode()
    name = NameSecond(requests, errors, ms, ms, ms, outcomes or {}, blob)
    return Second(t, requests, errors, ms, ms, ms, blob, {"plate_validate": name})


def _gates(expr: str, delay: float = 0.0) -> tuple[LiveGates, RunControl]:
    from dataclasses import replace

    check = replace(parse_check(expr), abort_on_fail=True, abort_delay_s=delay)
    assert live_problem(check) is None
    control = RunControl()
    return LiveGates([check], control), control


def test_a_gate_waits_for_its_delay_then_judges_the_running_totals() -> None:
    gates, control = _gates("all.error_rate<20%", delay=3)
    gates.second(_row(0, errors=10))  # 100% errors, but not armed yet
    gates.second(_row(1))
    assert not control.interrupted
    gates.second(_row(2))  # armed at 3 s: 10 errors of 30 requests = 33%
    assert control.aborted and "failed at 3s" in (control.reason or "")


def test_a_latency_gate_reads_the_cumulative_histogram() -> None:
    gates, control = _gates("plate_validate.p99<50ms")
    for t in range(20):
        gates.second(_row(t, ms=2.0))
    gates.second(_row(20, requests=1, ms=400.0))  # 1 slow of 201: the p99 holds
    assert not control.interrupted
    gates.second(_row(21, requests=5, ms=400.0))  # 6 of 206 > 1%: it does not
    assert control.aborted


def test_a_count_gate_fails_once_the_count_passes_it() -> None:
    gates, control = _gates("plate_validate.outcomes.http_503<=2")
    gates.second(_row(0, outcomes={"http_503": 2}, errors=2))
    assert not control.interrupted
    gates.second(_row(1, outcomes={"http_503": 1}, errors=1))
    assert control.aborted and "measured 3" in (control.reason or "")
