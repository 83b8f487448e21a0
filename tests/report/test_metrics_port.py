"""--metrics-port: live Prometheus metrics on loopback, scraped while a run goes."""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.harness_cli import read_summary, run_harness, stall_server, start_harness


def _scrape(url: str) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_live_metrics_are_served_during_the_run_and_gone_after(tmp_path: Path) -> None:
    with stall_server() as server:
        proc = start_harness("run", "--target", server.url, "--mix", "enforcement=1", "--rate", "100",
                             "--duration", "6s", "--procs", "1", "--metrics-port", "0", "--out", str(tmp_path),
                             "--quiet")
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "live metrics on http://127.0.0.1:" in line, line
        url = line.rsplit(" ", 1)[-1].strip()
        time.sleep(2.5)
        first = _scrape(url)
        time.sleep(2)
        second = _scrape(url)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err + str(read_summary(tmp_path)["all"]["outcomes"])
    key = ("harness_requests_total", (("endpoint", "all"),))
    assert 0 < first[key] < second[key] <= 600
    assert second[("harness_requests_total", (("endpoint", "plate_validate"),))] == second[key]
    assert 50 <= second[("harness_requests_per_second", (("endpoint", "all"),))] <= 150
    p99 = second[("harness_latency_seconds", (("endpoint", "all"), ("quantile", "0.99")))]
    assert 0 < p99 < 1
    assert second[("harness_intended_rate", ())] == 100.0
    assert any(name == "harness_run_info" for name, _ in second)
    port = int(url.split(":")[2].split("/")[0])
    with socket.socket() as s:  # the endpoint is closed with the run
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_a_busy_metrics_port_is_a_usage_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = run_harness("run", "--target", "http://127.0.0.1:9", "--rate", "10", "--duration", "1s",
                          "--metrics-port", str(port), "--out", str(tmp_path), "--quiet")
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.startswith(f"harness: error: --metrics-port {port}: cannot listen on 127.0.0.1:{port}")
    assert not any(tmp_path.iterdir()), "nothing was sent, nothing was written"


def test_a_bad_metrics_port_is_refused() -> None:
    res = run_harness("run", "--metrics-port", "http", "--dry-run")
    assert res.returncode == 2 and "--metrics-port: expected a TCP port number" in res.stderr
