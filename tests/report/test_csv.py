"""--csv: the timeline and the endpoints as spreadsheets read them."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_per_second_and_per_endpoint_csv_agree_with_the_summary(sample_run: Path) -> None:
    summary = orjson.loads((sample_run / "summary.json").read_bytes())
    seconds = _rows(sample_run / "timeline.csv")
    assert [int(r["t"]) for r in seconds] == [r["t"] for r in summary["timeline"]]
    assert sum(int(r["requests"]) for r in seconds) == summary["totals"]["requests"]
    by_endpoint = _rows(sample_run / "timeline_by_endpoint.csv")
    for name, section in summary["endpoints"].items():
        assert sum(int(r["requests"]) for r in by_endpoint if r["endpoint"] == name) == section["requests"]
    endpoints = {r["endpoint"]: r for r in _rows(sample_run / "endpoints.csv")}
    assert set(endpoints) == set(summary["endpoints"]) | {"all"}
    assert float(endpoints["all"]["p99_ms"]) == summary["all"]["latency_ms"]["p99"]
    assert float(endpoints["all"]["service_p99_ms"]) == summary["all"]["service_ms"]["p99"]


def test_csv_is_only_written_when_asked(tmp_path: Path) -> None:
    from tests.support.harness_cli import run_dir, run_harness, stall_server

    with stall_server() as server:
        res = run_harness("run", "--target", server.url, "--mix", "enforcement=1", "--rate", "20",
                          "--duration", "1s", "--procs", "1", "--out", str(tmp_path), "--quiet")
    assert res.returncode == 0, res.stderr
    files = {p.name for p in run_dir(tmp_path).iterdir()}
    assert {"report.html", "junit.xml"} <= files and not any(f.endswith(".csv") for f in files)
