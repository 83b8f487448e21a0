"""A Locust master and two workers on loopback, as across machines: the merged
summary counts exactly what the workers sent (the target's own count) and what
Locust counted; the same with ``--processes 2``."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.harness_cli import read_summary, stall_server
from tests.support.locust_cli import (
    LocustStats,
    assert_judged,
    free_port,
    locust_env,
    run_locust,
    start_locust,
    stop,
)


def _master_and_two_workers(locustfile: str, url: str, tmp_path: Path, token: str,
                            *master_args: str) -> tuple[subprocess.CompletedProcess[str], list[int]]:
    """Two workers started first, then a headless master on loopback that expects
    them; the master's result and the workers' exit codes (killed if still running)."""
    port = str(free_port())
    env = locust_env(token)
    workers = [start_locust(locustfile, "--worker", "--master-host", "127.0.0.1", "--master-port", port,
                            env=env, log=tmp_path / f"worker{k}.log") for k in range(2)]
    try:
        master = run_locust(locustfile, "--master", "--expect-workers", "2", "--master-bind-host", "127.0.0.1",
                            "--master-bind-port", port, "--headless", "-H", url, *master_args, env=env)
        return master, [stop(w) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()


def test_master_and_two_workers_merge_to_one_truth(tmp_path: Path) -> None:
    with stall_server() as server:
        master, codes = _master_and_two_workers(
            "plate_sweep.py", server.url, tmp_path, "dist-token", "-u", "10", "-r", "100", "-t", "4s",
            "--rate", "150", "--report-dir", str(tmp_path / "out"), "--json-file", str(tmp_path / "locust"),
            "--only-summary")
        answered = server.answered()
    assert codes == [0, 0], [(tmp_path / f"worker{k}.log").read_text()[-2000:] for k in range(2)]
    s = read_summary(tmp_path / "out")
    assert_judged(s, master.returncode)
    locust = LocustStats.read(tmp_path / "locust")
    assert s["run"]["procs"] == 2
    assert s["totals"]["sent"] == answered == locust.requests > 300
    assert s["totals"]["unsent"] == 0 and s["totals"]["errors"] == 0
    assert sum(row["requests"] for row in s["timeline"]) == s["totals"]["requests"]
    assert s["endpoints"]["plate_validate"]["latency_basis"] == "intended"


def test_processes_flag_runs_the_workers_on_this_machine(tmp_path: Path) -> None:
    with stall_server() as server:
        res = run_locust("plate_sweep.py", "--processes", "2", "--headless", "-u", "8", "-r", "100", "-t", "4s",
                         "--rate", "80", "-H", server.url, "--report-dir", str(tmp_path),
                         "--json-file", str(tmp_path / "locust"), "--only-summary", env=locust_env("procs-token"))
        answered = server.answered()
    s = read_summary(tmp_path)
    assert_judged(s, res.returncode)
    locust = LocustStats.read(tmp_path / "locust")
    assert s["run"]["procs"] == 2
    assert s["totals"]["sent"] == answered == locust.requests > 150


def test_engine_scenario_on_two_workers_sends_the_one_schedule_once(tmp_path: Path) -> None:
    """Each worker's engine takes every second hit of one schedule, both start
    together; the merged count is exactly the schedule, the target's count."""
    with stall_server() as server:
        master, codes = _master_and_two_workers(
            "engine.py", server.url, tmp_path, "engine-token", "--rate", "600", "--mix", "enforcement=1",
            "--connections", "8", "-t", "3s", "--check", "achieved_rate>=99%", "--report-dir", str(tmp_path / "out"),
            "--only-summary")
        answered = server.answered()
    assert master.returncode == 0, master.stdout[-3000:] + master.stderr[-3000:]
    assert codes == [0, 0]
    s = read_summary(tmp_path / "out")
    assert s["plan"]["shards"] == 2 and s["run"]["procs"] == 2 and s["run"]["connections"] == 8
    assert s["totals"]["requests"] == s["run"]["intended_requests"] == answered == 1800
    assert s["totals"]["dropped"] == s["totals"]["unsent"] == 0
    assert sum(row["requests"] for row in s["timeline"]) == 1800
