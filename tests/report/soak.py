"""A run directory as a 2-hour soak would leave it, made without waiting two hours.

The per-endpoint histograms are real (``Metrics.record`` of a sine-shaped day of
latencies over every endpoint); the timeline has one row per second with every
endpoint in it, as a soak at ~150 req/s has. Only the rows' encoded histograms
are shared (the report reads their percentiles, never decodes them).
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import orjson

from harness.metrics import Metrics, Recorder
from harness.names import name_number
from harness.opscom.endpoints import ENDPOINT_NAMES
from harness.opscom.outcome import OK, api_error, http_error
from harness.report.summary import RunInfo, build_summary


def write_soak_run(path: Path, seconds: int = 7200) -> Path:
    rnd = random.Random(7)
    metrics = Metrics()
    for name in ENDPOINT_NAMES:
        key = name_number(name)
        for i in range(2000):
            base = 2_000_000 + int(1_500_000 * math.sin(i / 300))
            lat = int(rnd.lognormvariate(math.log(base), 0.6))
            outcome = OK if i % 97 else (api_error(9006) if i % 2 else http_error(503))
            metrics.record(key, outcome, None, 0, lat // 4, lat)
    empty = Recorder().encode()
    rows = []
    for t in range(seconds):
        swing = 1 + 0.8 * math.sin(2 * math.pi * t / 1800)
        names = {}
        for name in ENDPOINT_NAMES:
            n = max(1, int(rnd.gauss(16 * swing, 3)))
            p50 = round(rnd.uniform(1, 4) * swing, 3)
            names[name] = {"requests": n, "errors": int(rnd.random() < 0.02), "p50_ms": p50,
                           "p99_ms": round(p50 * rnd.uniform(3, 12), 3), "max_ms": round(p50 * 20, 3),
                           "outcomes": {"9006": 1} if rnd.random() < 0.02 else {}}
        total = sum(v["requests"] for v in names.values())
        rows.append({"t": t, "requests": total, "errors": sum(v["errors"] for v in names.values()),
                     "p50_ms": round(2.5 * swing, 3), "p99_ms": round(25 * swing, 3), "max_ms": round(80 * swing, 3),
                     "names": names, "latency": empty})
    info = RunInfo(started="2026-11-23T05:00:00Z", duration_s=float(seconds), elapsed_s=seconds + 1.0,
                   target="http://127.0.0.1:8080", plate_service="http://127.0.0.1:8080", client="OC_TOMA",
                   model="open", arrival=f"sine 150±120/s, period 30m, for {seconds}s",
                   intended_requests=sum(r["requests"] for r in rows), intended_rate=150.0, users=None,
                   connections=64, procs=2, transport="fast", interrupted=False, reason=None,
                   scenario="scenarios/soak.toml", seed=1, run_id="soak01", embedded_target=False)
    brief = [{k: r[k] for k in ("t", "requests", "errors", "p50_ms", "p99_ms", "max_ms")} for r in rows]
    summary = build_summary(metrics, info, brief, {"name": "soak", "model": "open", "load": {}, "checks": []})
    summary |= {"checks": [], "verdict": "pass", "exit_code": 0, "errors": []}
    path.mkdir(parents=True)
    (path / "summary.json").write_bytes(orjson.dumps(summary))
    (path / "metrics.json").write_bytes(orjson.dumps({"schema": 1, "run": summary["run"], "plan": summary["plan"],
                                                      "metrics": metrics.encode(), "timeline": rows}))
    return path
