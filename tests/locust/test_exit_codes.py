"""Locust's exit code is the harness's verdict: 0 pass, 1 a check failed, 2 a usage
error (one line, nothing sent), 130 interrupted, with the report kept."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.harness_cli import read_summary, run_dir, stall_server
from tests.support.locust_cli import (
    LocustStats,
    free_port,
    locust_env,
    run_locust,
    start_locust,
    stop,
    wait_for,
)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--check", "all.p99<<3"], "harness: error: check 'all.p99<<3' (--check): expected METRIC OP VALUE"),
        (["--check", "plate_validat.p99<3"], "unknown endpoint 'plate_validat'"),
        (["--seed", "soon"], "harness: error: --seed: expected a non-negative integer, got 'soon'"),
        (["--client", "OC/TOMA"], "harness: error: --client: a client code is a path segment"),
        (["--rate", "-5"], "harness: error: --rate: expected a positive rate"),
        (["-H", "http://192.0.2.10:8080"], "refusing to send load to 192.0.2.10"),
        (["-H", "ftp://127.0.0.1/"], "harness: error: --host: expected an http:// or https:// URL"),
        (["--plate-service", "http://user:pw@127.0.0.1:1"], "credentials in the URL"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    base = ["--headless", "-u", "1", "-t", "2s", "--report-dir", str(tmp_path)]
    if "-H" not in args:
        base += ["-H", "http://127.0.0.1:9"]
    res = run_locust("plate_sweep.py", *base, *args, env=locust_env("usage-token"))
    assert res.returncode == 2, res.stdout + res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("harness: error:")]
    assert len(errors) == 1 and says in errors[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not any(tmp_path.iterdir())  # nothing ran, nothing written


def test_a_missing_token_is_a_usage_error(tmp_path: Path) -> None:
    env = locust_env("unused")
    del env["OPSCOM_API_TOKEN"]
    res = run_locust("plate_sweep.py", "--headless", "-u", "1", "-t", "2s", "-H", "http://127.0.0.1:9",
                     "--token-env", "MY_TOKEN", "--report-dir", str(tmp_path), env=env)
    assert res.returncode == 2
    assert "harness: error: environment variable MY_TOKEN is empty or unset" in res.stderr


def test_target_down_fails_the_gate_with_the_failure_named(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    res = run_locust("plate_sweep.py", "--headless", "-u", "2", "-r", "2", "-t", "3s", "--rate", "20",
                     "-H", f"http://127.0.0.1:{port}", "--report-dir", str(tmp_path),
                     "--json-file", str(tmp_path / "locust"), "--only-summary", env=locust_env("down-token"))
    assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-2000:]
    s = read_summary(tmp_path)
    assert s["verdict"] == "fail"
    assert set(s["all"]["outcomes"]) == {"connect_error"}
    failed = {c["expr"] for c in s["checks"] if not c["passed"]}
    assert {"all.error_rate<1%", "answered>0"} <= failed
    locust = LocustStats.read(tmp_path / "locust")
    assert locust.failures == locust.requests == s["totals"]["requests"] > 0


def test_sigterm_ends_the_run_interrupted_with_the_report_kept(tmp_path: Path) -> None:
    with stall_server() as server:
        proc = start_locust("plate_sweep.py", "--headless", "-u", "4", "-r", "4", "-t", "60s", "--rate", "40",
                            "-H", server.url, "--report-dir", str(tmp_path / "out"), env=locust_env("term-token"),
                            log=tmp_path / "locust.log")
        try:
            wait_for(lambda: server.answered() > 40, 30, "requests to arrive")
            os.kill(proc.pid, signal.SIGTERM)
            started = time.monotonic()
            code = stop(proc, timeout=40)
        finally:
            if proc.poll() is None:
                proc.kill()
        answered = server.answered()
    assert code == 130, (tmp_path / "locust.log").read_text()[-3000:]
    assert time.monotonic() - started < 30
    s = json.loads((run_dir(tmp_path / "out") / "summary.json").read_text())
    assert s["verdict"] == "interrupted" and s["run"]["interrupted"]
    assert "interrupted" in s["run"]["reason"]
    assert s["totals"]["sent"] == answered


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "the engine scenario needs a target"),
        (["-H", "http://127.0.0.1:9", "--rate", "fast"], "harness: error: --rate: expected a positive rate"),
        (["-H", "http://127.0.0.1:9", "--scenario", "scenarios/nope.toml"], "scenarios/nope.toml: cannot read"),
        (["-H", "http://127.0.0.1:9", "--mix", "lunch=3"], "lunch"),
        (["-H", "http://127.0.0.1:9", "--engine-users", "2", "--think", "x"], "--think: expected a duration"),
        (["-H", "http://127.0.0.1:9", "--rate", "10", "--engine-users", "3"], "choose one"),
    ],
)
def test_engine_scenario_usage_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    res = run_locust("engine.py", "--headless", "-t", "2s", "--report-dir", str(tmp_path), *args,
                     env=locust_env("usage-token"))
    assert res.returncode == 2, res.stdout + res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("harness: error:")]
    assert len(errors) == 1 and says in errors[0], res.stderr
    assert "Traceback" not in res.stderr


def test_options_have_environment_variables(tmp_path: Path) -> None:
    """LOCUST_<FLAG> sets an option as the flag would (here, both wrongly)."""
    env = locust_env("env-token", LOCUST_CLIENT="OC/TOMA", LOCUST_REPORT_DIR=str(tmp_path))
    res = run_locust("plate_sweep.py", "--headless", "-u", "1", "-t", "2s", "-H", "http://127.0.0.1:9", env=env)
    assert res.returncode == 2
    assert "harness: error: --client: a client code is a path segment" in res.stderr
    env = locust_env("env-token", LOCUST_CHECK='["all.p99<<1"]')
    res = run_locust("plate_sweep.py", "--headless", "-u", "1", "-t", "2s", "-H", "http://127.0.0.1:9", env=env)
    assert res.returncode == 2 and "check 'all.p99<<1' (--check)" in res.stderr
