"""Each locustfile scenario runs headless for a few seconds against the reference
controller and leaves the run directory of ``harness run``, whose count is Locust's
own count, with every answer judged by the OPSCOM model."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.api import Target

from tests.support.harness_cli import read_summary, run_dir
from tests.support.locust_cli import LocustStats, assert_judged, locust_env, run_locust

CASES = {
    # locustfile: (its arguments, endpoints it must have sent, latency basis)
    "peak_event.py": (["--time-scale", "2700", "--user-scale", "0.1"], {"permit_push", "plate_validate"}, "sent"),
    "morning_rush.py": (["--time-scale", "2520", "--user-scale", "0.1"], {"permit_push", "plate_validate"}, "sent"),
    "semester_start.py": (["-u", "9", "-r", "9", "-t", "4s"], {"profile_push", "vehicle_push"}, "sent"),
    "plate_sweep.py": (["-u", "10", "-r", "10", "-t", "4s", "--rate", "100"], {"plate_validate"}, "intended"),
}


@pytest.mark.parametrize("locustfile", sorted(CASES))
def test_scenario_runs_headless_and_writes_the_run_directory(controller: Target, tmp_path: Path,
                                                             locustfile: str) -> None:
    args, endpoints, basis = CASES[locustfile]
    res = run_locust(locustfile, "--headless", "-H", controller.url, "--report-dir", str(tmp_path / "reports"),
                     "--json-file", str(tmp_path / "locust"), "--only-summary", *args,
                     env=locust_env(controller.token))
    s = read_summary(tmp_path / "reports")
    locust = LocustStats.read(tmp_path / "locust")
    assert_judged(s, res.returncode)
    assert s["run"]["scenario"] == f"scenarios/{locustfile}"
    assert s["run"]["transport"] == "locust FastHttpUser"
    assert s["plan"]["runner"] == "locust"
    # One truth: the harness's count is Locust's, name by name; nothing failed.
    assert s["totals"]["requests"] == s["totals"]["sent"] == locust.requests > 0
    assert {n: e["requests"] for n, e in s["endpoints"].items()} == locust.by_name()
    assert locust.failures == 0 and s["totals"]["errors"] == 0
    assert endpoints <= set(s["endpoints"])
    assert {e["latency_basis"] for e in s["endpoints"].values()} == {basis}
    assert all(s["endpoints"][n]["latency_ms"]["count"] > 0 for n in endpoints)
    # The same run directory as harness run.
    rd = run_dir(tmp_path / "reports")
    assert {"summary.json", "metrics.json", "all.hgrm"} <= {p.name for p in rd.iterdir()}
    assert f"verdict: {s['verdict'].upper()}" in res.stdout and f"report: {rd}" in res.stdout
    # The token reaches no report, no statistics and no output.
    written = [p.read_bytes() for p in rd.iterdir()] + [(tmp_path / "locust.json").read_bytes()]
    assert not any(controller.token.encode() in data for data in written)
    assert controller.token not in res.stdout + res.stderr


def test_deliberate_errors_answered_as_required_are_successes_in_locust(controller: Target, tmp_path: Path) -> None:
    """semester_start's BadClient sends only wrong requests (and the set-up calls
    some of them need); each is a success for Locust when the controller answers
    the code it must. Alone, it leaves some of the scenario's checks unmeasured,
    and an unmeasured check fails."""
    res = run_locust("semester_start.py", "--headless", "-H", controller.url, "-u", "4", "-r", "4", "-t", "4s",
                     "--report-dir", str(tmp_path), "--json-file", str(tmp_path / "locust"), "--only-summary",
                     "BadClient", env=locust_env(controller.token))
    s = read_summary(tmp_path)
    locust = LocustStats.read(tmp_path / "locust")
    assert res.returncode == 1 and s["verdict"] == "fail"
    assert all(c["value"] is None for c in s["checks"] if not c["passed"]), s["checks"]
    assert s["totals"]["requests"] == locust.requests > 5
    assert s["totals"]["expected"] + s["totals"]["ok"] == s["totals"]["requests"]
    assert s["totals"]["expected"] > s["totals"]["ok"]
    assert s["totals"]["contract_violations"] == 0 and s["codes"] == {}
    assert locust.failures == 0
    assert set(s["expected_codes"]) <= {"9001", "9003", "9006", "9030", "9031", "9032", "9033", "9034"}


def test_engine_scenario_runs_a_harness_scenario_on_locust(controller: Target, tmp_path: Path) -> None:
    """scenarios/engine.py with one Locust process: a harness scenario (every
    generator, 50 req/s) for Locust's -t, through the harness engine."""
    scenario = tmp_path / "mixed.toml"
    scenario.write_text('name = "mixed"\n[load]\nrate = 50\nduration = "1m"\nconnections = 8\n'
                        '[mix]\nenforcement = 60\nmeters = 20\nintegrations = 10\ninvalid = 10\n'
                        '[checks]\nthresholds = ["plate_validate.p99<3s", "achieved_rate>=99%"]\n')
    res = run_locust("engine.py", "--headless", "-H", controller.url, "--scenario", str(scenario),
                     "-t", "4s", "--report-dir", str(tmp_path / "out"), "--only-summary",
                     env=locust_env(controller.token))
    s = read_summary(tmp_path / "out")
    assert_judged(s, res.returncode)
    assert s["plan"]["runner"] == "locust engine" and s["plan"]["shards"] == 1
    assert s["plan"]["name"] == "mixed" and "-t 4s" in s["plan"]["overrides"]
    assert s["run"]["intended_requests"] == s["totals"]["requests"] == 200  # 50/s for 4 s, exactly
    assert s["totals"]["contract_violations"] == 0 and s["totals"]["expected"] > 0
    assert len(s["endpoints"]) >= 5
    assert {e["latency_basis"] for e in s["endpoints"].values()} == {"intended"}
