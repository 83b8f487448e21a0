"""``harness run`` end to end against a server of our own on loopback: exact
arrival counts (one and several processes, checked against the server's own count),
the exit codes, the refusal of non-loopback targets, Ctrl-C, and contract counting
of deliberately invalid traffic."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.support.harness_cli import (
    ROOT,
    read_summary,
    run_dir,
    run_harness,
    stall_server,
    start_harness,
)


@pytest.mark.parametrize(("procs", "arrival"), [("1", "constant"), ("2", "constant"), ("2", "stages")])
def test_open_model_sends_exactly_the_intended_requests(tmp_path: Path, procs: str, arrival: str) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        '[load]\narrival = "stages"\nstages = [{duration = "1s", target = 400}, {duration = "2s", target = 400}]\n'
        if arrival == "stages" else '[load]\nrate = 300\nduration = "3s"\n'
    )
    with stall_server() as server:
        res = run_harness("run", str(scenario), "--target", server.url, "--mix", "enforcement=1",
                          "--procs", procs, "--out", str(tmp_path / "out"), "--quiet",
                          "--check", "achieved_rate>=99%", "--check", "dropped==0")
        answered = server.answered()
    assert res.returncode == 0, res.stdout + res.stderr
    s = read_summary(tmp_path / "out")
    expected = 900 if arrival == "constant" else 200 + 800
    assert s["totals"]["requests"] == expected == answered == s["run"]["intended_requests"]
    assert s["run"]["procs"] == int(procs)
    assert sum(row["requests"] for row in s["timeline"]) == expected
    assert s["endpoints"]["plate_validate"]["outcomes"] == {"ok": expected}
    assert (run_dir(tmp_path / "out") / "plate_validate.hgrm").read_text().splitlines()[0].split() == [
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"]


def test_closed_model_in_two_processes_merges_counts(tmp_path: Path) -> None:
    with stall_server() as server:
        res = run_harness("run", "--target", server.url, "--mix", "enforcement=1", "--users", "4",
                          "--duration", "2s", "--procs", "2", "--out", str(tmp_path), "--quiet")
        answered = server.answered()
    assert res.returncode == 0, res.stderr
    s = read_summary(tmp_path)
    assert s["run"]["model"] == "closed" and s["run"]["intended_rate"] is None
    assert s["totals"]["requests"] == answered > 200


def test_failed_check_exits_1_and_records_the_verdict(tmp_path: Path) -> None:
    with stall_server() as server:
        res = run_harness("run", "--target", server.url, "--mix", "enforcement=1", "--rate", "50",
                          "--duration", "1s", "--procs", "1", "--out", str(tmp_path), "--quiet",
                          "--check", "all.p99<1us", "--check", "all.error_rate<1%")
    assert res.returncode == 1
    s = read_summary(tmp_path)
    assert s["verdict"] == "fail"
    # The default gate's error check is replaced by the user's; the floor is always there.
    assert [(c["expr"], c["passed"]) for c in s["checks"]] == [
        ("contract_violations==0", True), ("all.p99<1us", False), ("all.error_rate<1%", True), ("answered>0", True)]
    assert "FAIL  all.p99<1us" in res.stdout and "PASS  all.error_rate<1%" in res.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--check", "all.p99<<3"], "check 'all.p99<<3' (--check): expected METRIC OP VALUE"),
        (["--duration", "soon"], "--duration: expected a duration such as 30s"),
        (["--rate", "-5"], "--rate: expected a positive rate"),
        (["--mix", "enforcement"], "--mix: expected name=weight"),
        (["--mix", "lunch=3"], "lunch"),
        (["--target", "ftp://127.0.0.1/"], "expected an http:// or https:// URL"),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_send_nothing(tmp_path: Path, args: list[str], says: str) -> None:
    with stall_server() as server:
        target = [] if "--target" in args else ["--target", server.url]
        res = run_harness("run", *target, "--duration", "1s", "--rate", "10", *args, "--out", str(tmp_path), "--quiet") \
            if "--rate" not in args and "--duration" not in args else \
            run_harness("run", *target, *args, "--out", str(tmp_path), "--quiet")
        answered = server.answered()
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: ") and says in lines[0], res.stderr
    assert answered == 0


def test_scenario_errors_name_the_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n\n[load]\nrate = "fast"\nduration = "2s"\n')
    res = run_harness("run", str(bad), "--target", "http://127.0.0.1:9", "--quiet")
    assert res.returncode == 2
    assert res.stderr.strip() == f"harness: error: {bad}:4: [load] rate: expected a positive rate (requests/s), got 'fast'"
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[load]\nrate = 5\nspeed = 3\n')
    res = run_harness("run", str(unknown), "--quiet")
    assert res.returncode == 2 and f"{unknown}:3: [load] speed: unknown key" in res.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text('[load\nrate = 5\n')
    res = run_harness("run", str(broken), "--quiet")
    assert res.returncode == 2 and f"{broken}: not valid TOML" in res.stderr and "line 1" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("host", ["staging.example.com", "10.0.0.8", "[2001:db8::1]"])
def test_non_loopback_targets_are_refused_before_any_connection(tmp_path: Path, host: str) -> None:
    res = run_harness("run", "--target", f"https://{host}:8443", "--duration", "1s", "--out", str(tmp_path), "--quiet")
    assert res.returncode == 2
    assert "refusing to send load to" in res.stderr and "--allow-host" in res.stderr
    assert not (tmp_path / "summary.json").exists()


def test_a_plate_service_elsewhere_is_refused_too(tmp_path: Path) -> None:
    res = run_harness("run", "--target", "http://127.0.0.1:9", "--plate-service", "http://plates.example.net",
                      "--out", str(tmp_path), "--quiet")
    assert res.returncode == 2 and "plates.example.net" in res.stderr


def test_missing_token_is_a_usage_error(tmp_path: Path) -> None:
    from tests.support.harness_cli import harness_env

    env = harness_env()
    env.pop("OPSCOM_API_TOKEN")
    res = run_harness("run", "--target", "http://127.0.0.1:9", "--out", str(tmp_path), "--quiet", env=env)
    assert res.returncode == 2 and "OPSCOM_API_TOKEN" in res.stderr


@pytest.mark.parametrize("procs", ["1", "2"])
def test_ctrl_c_stops_cleanly_and_still_writes_the_report(tmp_path: Path, procs: str) -> None:
    with stall_server() as server:
        proc = start_harness("run", "--target", server.url, "--mix", "enforcement=1", "--rate", "200",
                             "--duration", "60s", "--procs", procs, "--out", str(tmp_path), "--quiet")
        time.sleep(4)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        answered = server.answered()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    s = read_summary(tmp_path)
    assert s["run"]["interrupted"] is True and s["verdict"] == "interrupted"
    assert 0 < s["run"]["duration_s"] < 10
    assert s["totals"]["answered"] == answered > 100
    # Every hit due before the interruption has one outcome (answered, or unsent).
    assert s["totals"]["requests"] == sum(s["all"]["outcomes"].values()) == s["run"]["intended_requests"]
    assert "INTERRUPTED" in out


def test_deliberately_invalid_calls_answered_ok_are_contract_violations(tmp_path: Path) -> None:
    # The stall server says "ok" to everything, so every invalid call breaks its contract,
    # and none of them is a load error.
    with stall_server() as server:
        res = run_harness("run", "--target", server.url, "--mix", "invalid=1", "--rate", "100",
                          "--duration", "2s", "--procs", "1", "--out", str(tmp_path), "--quiet",
                          "--check", "contract_violations==0")
    assert res.returncode == 1
    s = read_summary(tmp_path)
    t = s["totals"]
    # Every deliberate call is a violation; the rest are the set-up calls of the
    # sequenced cases (the first push of a pair meant to clash), answered ok.
    assert t["contract_violations"] + t["ok"] == t["requests"] == 200
    assert t["contract_violations"] > 0.8 * t["requests"]
    assert t["errors"] == 0 and t["expected"] == 0
    assert not s["codes"]  # no unexpected API error code


@pytest.mark.parametrize("scenario", sorted(p.name for p in (ROOT / "scenarios").glob("*.toml")))
def test_every_shipped_scenario_is_valid(scenario: str) -> None:
    res = run_harness("run", f"scenarios/{scenario}", "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "configuration is valid" in res.stdout


def test_dry_run_reports_bad_traffic_options(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[mix]\nmeters = 1\n\n[traffic.meters]\nfollowup_delay = "soon"\n')
    res = run_harness("run", str(bad), "--dry-run")
    assert res.returncode == 2 and "followup_delay" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_ctrl_c_at_a_terminal_leaves_the_embedded_target_up_while_draining(tmp_path: Path) -> None:
    # A terminal's Ctrl-C signals the whole foreground process group: harness run,
    # its workers and (unless it is in a session of its own) the embedded controller.
    import os
    import subprocess
    import sys

    from tests.support.harness_cli import ROOT as root
    from tests.support.harness_cli import harness_env

    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--rate", "100", "--duration", "60s", "--procs", "2",
         "--mix", "enforcement=80,meters=20", "--out", str(tmp_path), "--quiet"],
        cwd=root, env=harness_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    time.sleep(6)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    s = read_summary(tmp_path)
    assert s["run"]["interrupted"] and s["totals"]["requests"] > 100
    # No request lost to a dead target: the only errors are hits due at the signal, never sent.
    assert s["totals"]["errors"] == s["totals"]["unsent"] <= 4, s["endpoints"]


def test_the_api_token_never_reaches_a_report_or_the_output(tmp_path: Path) -> None:
    from tests.support.harness_cli import harness_env

    token = "secret-token-0123456789-abcdefghij-KLMNOP"
    with stall_server() as server:
        res = run_harness("run", "--target", server.url, "--mix", "enforcement=50,meters=30,invalid=20",
                          "--rate", "100", "--duration", "2s", "--procs", "2", "--out", str(tmp_path),
                          env=harness_env(OPSCOM_API_TOKEN=token))
    assert res.returncode in (0, 1), res.stderr
    assert token not in res.stdout and token not in res.stderr
    written = list(run_dir(tmp_path).iterdir())
    assert {p.name for p in written} >= {"summary.json", "metrics.json", "plate_validate.hgrm", "all.hgrm"}
    for path in written:
        assert token not in path.read_text(), path


def test_every_deliberate_error_is_answered_right_by_the_reference_controller(tmp_path: Path) -> None:
    res = run_harness("run", "--mix", "invalid=1", "--rate", "150", "--duration", "4s", "--procs", "2",
                      "--out", str(tmp_path), "--quiet", "--check", "contract_violations==0", "--check", "all.error_rate==0")
    assert res.returncode == 0, res.stdout + res.stderr
    s = read_summary(tmp_path)
    assert s["run"]["embedded_target"] is True
    assert s["totals"]["expected"] > 400
    assert len(s["expected_codes"]) >= 20  # the invalid mix spans the catalogue
    assert s["codes"] == {}  # no unexpected code
