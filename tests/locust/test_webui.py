"""The web UI's OPSCOM tabs and their JSON endpoint, live while a run goes."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from support.api import Target

from tests.support.harness_cli import read_summary
from tests.support.locust_cli import (
    assert_judged,
    free_port,
    get_json,
    locust_env,
    start_locust,
    stop,
    wait_for,
)


def test_live_document_and_tabs_update_while_the_run_goes(controller: Target, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_locust("semester_start.py", "--autostart", "--autoquit", "2", "-t", "6s", "-u", "8", "-r", "8",
                        "--web-host", "127.0.0.1", "--web-port", str(port), "-H", controller.url,
                        "--report-dir", str(tmp_path / "out"), env=locust_env(controller.token),
                        log=tmp_path / "locust.log")
    try:
        first = wait_for(lambda: (d := get_json(base + "/opscom/live"))["requests"] > 0 and d, 30,
                         "the first measurements in /opscom/live")
        later = wait_for(lambda: (d := get_json(base + "/opscom/live"))["requests"] > first["requests"] and d, 15,
                         "the live document to grow")
        stats = get_json(base + "/stats/requests")
        with urllib.request.urlopen(base + "/", timeout=5) as resp:
            page = resp.read().decode()
        code = stop(proc, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code in (0, 1), (tmp_path / "locust.log").read_text()[-3000:]
    # The live document: per endpoint, HDR percentiles and the answers (codes).
    assert later["scenario"] == "semester_start" and later["run_id"]
    rows = {row["name"]: row for row in later["endpoints"]}
    assert {"profile_push", "vehicle_push"} <= set(rows)
    for row in rows.values():
        assert row["requests"] > 0
        assert 0 < row["p50"] <= row["p90"] <= row["p99"] <= row["p999"] <= row["max"]
    answers = {(c["endpoint"], c["answer"]) for c in later["codes"]}
    assert ("profile_push", "ok") in answers
    assert all(0 < c["share"] <= 1 for c in later["codes"])
    assert later["seconds"] and later["rate_rps"] >= 0
    # Locust's own UI polls /stats/requests; its answer carries the two tabs' rows.
    extended = {e["key"]: e["data"] for e in stats["extended_stats"]}
    assert set(extended) == {"opscom-latency", "opscom-answers"}
    assert {r["name"] for r in extended["opscom-latency"]} >= {"profile_push", "vehicle_push"}
    assert all(r["basis"] == "sent" for r in extended["opscom-latency"])
    assert "OPSCOM latency (HDR)" in page and "OPSCOM answers" in page
    # The run ended by its run time: the same report as a headless run.
    s = read_summary(tmp_path / "out")
    assert_judged(s, code)
    assert s["totals"]["requests"] >= later["requests"]


def test_stopping_the_engine_scenario_from_the_web_ui_stops_the_engines(tmp_path: Path) -> None:
    import os
    import signal

    import psutil

    from tests.support.harness_cli import stall_server

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with stall_server() as server:
        proc = start_locust("engine.py", "--autostart", "-t", "60s", "--rate", "200", "--mix", "enforcement=1",
                            "--web-host", "127.0.0.1", "--web-port", str(port), "-H", server.url,
                            "--report-dir", str(tmp_path / "out"), env=locust_env("ui-token"),
                            log=tmp_path / "locust.log")
        try:
            live = wait_for(lambda: (d := get_json(base + "/opscom/live"))["requests"] > 200 and d, 40,
                            "the engine's first seconds in /opscom/live")
            engines = [c for c in psutil.Process(proc.pid).children(recursive=True)
                       if "harness.locust.engine_child" in " ".join(c.cmdline())]
            assert len(engines) == 1
            request = urllib.request.Request(base + "/stop", method="POST")
            with urllib.request.urlopen(request, timeout=30) as resp:
                assert resp.status == 200
            result = wait_for(lambda: get_json(base + "/opscom/live")["result"], 30, "the run's result")
            gone, alive = psutil.wait_procs(engines, timeout=10)
            answered = server.answered()
            os.kill(proc.pid, signal.SIGTERM)
            code = stop(proc, timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert live["rate_rps"] > 0 and live["endpoints"][0]["name"] == "plate_validate"
    assert not alive  # the engine process ended
    assert result["verdict"] == "interrupted" and result["exit_code"] == 130
    assert code == 130, (tmp_path / "locust.log").read_text()[-3000:]
    s = read_summary(tmp_path / "out")
    assert s["run"]["interrupted"] and "stopped by Locust" in s["run"]["reason"]
    assert s["totals"]["sent"] == answered and s["run"]["duration_s"] < 30
