"""CSV for spreadsheets (``--csv``): the timeline and the endpoints, one row each.

- ``timeline.csv``: one row per second (totals): t, requests, errors, p50/p99/max ms;
- ``timeline_by_endpoint.csv``: one row per second and endpoint that had traffic in
  it, with its outcomes other than ok (``9006:2 http_503:1``);
- ``endpoints.csv``: one row per endpoint and ``all``: counts, error rate, rate,
  latency (from the intended send time) and service time percentiles, outcomes.

Latency in milliseconds, an error rate as a fraction (0.012 = 1.2%), ``t`` in
seconds since the start (the row covers [t, t+1)). Plain RFC 4180 CSV with a header.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from harness.report.rundata import RunData, as_run

TIMELINE_FILE = "timeline.csv"
TIMELINE_BY_ENDPOINT_FILE = "timeline_by_endpoint.csv"
ENDPOINTS_FILE = "endpoints.csv"
_STATS = ("p50", "p90", "p95", "p99", "p999", "max", "mean")


def _outcomes(outcomes: dict[str, int]) -> str:
    return " ".join(f"{k}:{v}" for k, v in sorted(outcomes.items()) if k != "ok")


def _write(path: Path, head: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(head)
        w.writerows(rows)
    return path


def write_csv(run_dir: RunData | Path) -> list[Path]:
    run = as_run(run_dir)
    rows = run.timeline
    timeline = [[r["t"], r["requests"], r["errors"], r["p50_ms"], r["p99_ms"], r["max_ms"]] for r in rows]
    by_endpoint = [[r["t"], name, c["requests"], c["errors"], c["p50_ms"], c["p99_ms"], c["max_ms"],
                    _outcomes(c.get("outcomes", {}))]
                   for r in rows for name, c in sorted(r.get("names", {}).items())]
    endpoints = []
    s = run.summary
    for name, e in list(s["endpoints"].items()) + [("all", s["all"])]:
        endpoints.append([name, e["requests"], e["sent"], e["answered"], e["ok"], e["errors"], e["error_rate"],
                          e["rps"], e["late"], e["dropped"], e["unsent"], e["contract_violations"], e["expected"]]
                         + [e["latency_ms"][k] for k in _STATS] + [e["service_ms"][k] for k in _STATS]
                         + [_outcomes(e["outcomes"])])
    head = ["endpoint", "requests", "sent", "answered", "ok", "errors", "error_rate", "rps", "late", "dropped",
            "unsent", "contract_violations", "expected"] + [f"{k}_ms" for k in _STATS] \
        + [f"service_{k}_ms" for k in _STATS] + ["outcomes"]
    return [
        _write(run.path / TIMELINE_FILE, ["t", "requests", "errors", "p50_ms", "p99_ms", "max_ms"], timeline),
        _write(run.path / TIMELINE_BY_ENDPOINT_FILE,
               ["t", "endpoint", "requests", "errors", "p50_ms", "p99_ms", "max_ms", "outcomes"], by_endpoint),
        _write(run.path / ENDPOINTS_FILE, head, endpoints),
    ]
