"""``summary.json``: the one document every report and check reads.

Built from a ``Metrics`` (however it was measured: engine, replay, Locust workers)
and a ``RunInfo``. The schema is documented in the README; bump ``SCHEMA`` when a
field changes meaning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.metrics import EndpointMetrics, Metrics, new_hdr, percentiles_ms

SCHEMA = 1


@dataclass(frozen=True, kw_only=True)
class RunInfo:
    started: str  # ISO 8601, UTC
    duration_s: float  # how long hits were issued (the schedule, or until interrupted)
    elapsed_s: float  # including the drain of answers still in flight
    target: str
    plate_service: str
    client: str
    model: str  # "open" or "closed"
    arrival: str  # the pacer's description, or "closed: N users"
    intended_rate: float | None  # open model: requests/s the schedule asked for
    intended_requests: int | None
    users: int | None
    connections: int
    procs: int
    transport: str
    interrupted: bool
    scenario: str | None
    seed: int
    run_id: str
    embedded_target: bool


def _rates(ok: int, errors: int) -> float:
    return errors / (ok + errors) if ok + errors else 0.0


def _section(requests: int, ok: int, errors: int, late: int, dropped: int, violations: int,
             latency: HdrHistogram, service: HdrHistogram, duration_s: float) -> dict[str, Any]:
    return {
        "requests": requests,
        "ok": ok,
        "errors": errors,
        "error_rate": _rates(ok, errors),
        "rps": requests / duration_s if duration_s > 0 else 0.0,
        "late": late,
        "dropped": dropped,
        "contract_violations": violations,
        "latency_ms": percentiles_ms(latency),
        "service_ms": percentiles_ms(service),
    }


def _endpoint_section(e: EndpointMetrics, duration_s: float) -> dict[str, Any]:
    out = _section(e.requests, e.ok, e.errors, e.late, e.dropped, e.violations,
                   e.merged(0), e.merged(1), duration_s)
    out["outcomes"] = e.outcome_counts()
    out["codes"] = {str(k): v for k, v in sorted(e.codes.items())}
    out["expected_codes"] = {str(k): v for k, v in sorted(e.expected.items())}
    return out


def _add_counts(into: dict[str, int], more: dict[int, int]) -> None:
    for code, n in more.items():
        into[str(code)] = into.get(str(code), 0) + n


def build_summary(metrics: Metrics, run: RunInfo, timeline: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    d = run.duration_s
    endpoints = {e.name: _endpoint_section(e, d) for e in metrics.active()}
    codes: dict[str, int] = {}
    expected: dict[str, int] = {}
    all_lat, all_svc = new_hdr(), new_hdr()
    for e in metrics.active():
        _add_counts(codes, e.codes)
        _add_counts(expected, e.expected)
        for lat, svc in e.hist.values():
            all_lat.add(lat.hdr)
            all_svc.add(svc.hdr)
    requests = sum(s["requests"] for s in endpoints.values())
    ok = sum(s["ok"] for s in endpoints.values())
    errors = sum(s["errors"] for s in endpoints.values())
    late = sum(s["late"] for s in endpoints.values())
    dropped = sum(s["dropped"] for s in endpoints.values())
    violations = sum(s["contract_violations"] for s in endpoints.values())
    everything = _section(requests, ok, errors, late, dropped, violations, all_lat, all_svc, d)
    everything["codes"] = dict(sorted(codes.items()))
    return {
        "schema": SCHEMA,
        "run": asdict(run),
        "totals": {
            "requests": requests,
            "ok": ok,
            "errors": errors,
            "error_rate": _rates(ok, errors),
            "achieved_rps": metrics.sent_in_window / d if d > 0 else 0.0,
            "late": late,
            "dropped": dropped,
            "contract_violations": violations,
            "expected": sum(expected.values()),
        },
        "all": everything,
        "endpoints": endpoints,
        "codes": dict(sorted(codes.items())),
        "expected_codes": dict(sorted(expected.items())),
        "timeline": timeline or [],
        "checks": [],
        "verdict": None,
    }
