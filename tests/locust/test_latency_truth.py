"""Paced Locust users measure from each request's due time: against a server that
stalls for a second, the requests queued behind the stall show their wait, as
``harness run`` shows it (tests/run/test_latency_truth.py), while Locust's own
numbers (service time) hide it.

One 1 s stall in a run of about D seconds at a constant rate: the requests due
during the stall wait for its end, so their latencies spread evenly over (0, 1 s];
a share (1 s - x) / D of all requests is slower than x. With D between 4 and 5 s
(Locust's -t 5s less the start), p90 is 0.5-0.6 s and p99 0.9-0.96 s.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.harness_cli import read_summary, stall_server
from tests.support.locust_cli import LocustStats, locust_env, run_locust


def test_paced_users_show_the_stall_that_locust_alone_hides(tmp_path: Path) -> None:
    with stall_server("2:1") as server:
        res = run_locust("plate_sweep.py", "--headless", "-H", server.url, "-u", "20", "-r", "100", "-t", "5s",
                         "--rate", "200", "--report-dir", str(tmp_path), "--json-file", str(tmp_path / "locust"),
                         "--only-summary", env=locust_env("stall-token"))
        answered = server.answered()
    s = read_summary(tmp_path)
    # The scenario's own gate sees the stall: exit 1, and only the latency check failed.
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    assert [c["expr"] for c in s["checks"] if not c["passed"]] == ["plate_validate.p99<250ms"]
    ep = s["endpoints"]["plate_validate"]
    lat, svc = ep["latency_ms"], ep["service_ms"]
    assert ep["latency_basis"] == "intended"
    assert ep["sent"] == answered == LocustStats.read(tmp_path / "locust").requests
    duration = s["run"]["duration_s"]
    assert 3.5 <= duration <= 5.5
    assert abs(ep["sent"] - 200 * duration) <= 0.05 * 200 * duration  # the rate was kept through the stall
    assert 400 <= lat["p90"] <= 700, lat
    assert 850 <= lat["p99"] <= 1100, lat
    assert 900 <= lat["max"] <= 1300, lat
    assert lat["p50"] < 50, lat
    # Uncorrected, only the requests on the wire during the stall look slow.
    assert svc["p90"] < 100, svc
    assert LocustStats.read(tmp_path / "locust").percentile_ms("plate_validate", 0.90) < 100
    assert ep["late"] > 0.1 * ep["sent"]  # those due during the stall left late
