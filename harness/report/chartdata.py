"""The numbers the report's charts draw, shaped for the page: columns, not rows.

uPlot takes one array per series over a shared x array, which is also the most
compact JSON for a long timeline: a 2-hour soak (7,200 seconds, nine endpoints)
costs about a megabyte of numbers. Values are rounded to four significant digits
(the histograms hold three), and a second in which an endpoint saw no request has
``null`` for its latency, so its line breaks instead of falling to zero.

Percentile distributions are HdrHistogram's (the ``.hgrm`` iteration, five ticks
per half distance) on its log scale: x is ``1/(1-percentile)`` (1 for 0%, 10 for
90%, 100 for 99%, ...). The 100% point (the maximum) is placed at x = the number of
samples, where the largest of N samples sits.
"""

from __future__ import annotations

import math
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.metrics import Metrics, new_hdr

TICKS_PER_HALF_DISTANCE = 5


def sig(value: float | None, digits: int = 4) -> float | None:
    """``value`` rounded to ``digits`` significant digits (None and 0 unchanged)."""
    if value is None or value == 0 or not math.isfinite(value):
        return value if value is None or math.isfinite(value) else None
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def distribution(hdr: HdrHistogram) -> dict[str, list[float]]:
    """x = 1/(1-percentile) and the latency (ms) at it, from HdrHistogram's iteration."""
    xs: list[float] = []
    ms: list[float] = []
    total = hdr.get_total_count()
    if not total:
        return {"x": xs, "ms": ms}
    for it in hdr.get_percentile_iterator(TICKS_PER_HALF_DISTANCE):
        level = it.percentile_level_iterated_to / 100.0
        value = sig(it.value_iterated_to / 1000.0)
        if level >= 1.0:
            x = max(float(total), xs[-1] * 1.01 if xs else 1.0)
        else:
            x = sig(1.0 / (1.0 - level), 6)  # type: ignore[assignment]
            if xs and x <= xs[-1]:  # the same level again: keep the higher value
                ms[-1] = value  # type: ignore[assignment]
                continue
        xs.append(x)
        ms.append(value)  # type: ignore[arg-type]
    return {"x": xs, "ms": ms}


def distributions(metrics: Metrics) -> dict[str, dict[str, Any]]:
    """Per endpoint (and ``all``): the corrected distribution (from the intended send
    time) and the uncorrected one (service time, from the actual send)."""
    out: dict[str, dict[str, Any]] = {}
    total, total_svc = new_hdr(), new_hdr()
    for e in metrics.active():
        lat, svc = e.latency(), e.latency(service=True)
        if not lat.get_total_count():
            continue
        total.add(lat)
        total_svc.add(svc)
        out[e.name] = {"count": lat.get_total_count(), "basis": e.basis,
                       "corrected": distribution(lat), "uncorrected": distribution(svc)}
    if total.get_total_count():
        out = {"all": {"count": total.get_total_count(), "basis": "intended",
                       "corrected": distribution(total), "uncorrected": distribution(total_svc)}} | out
    return out


def timeline_columns(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The per-second timeline as columns, in total and per endpoint."""
    t = [r["t"] for r in rows]
    out: dict[str, Any] = {
        "t": t,
        "requests": [r["requests"] for r in rows],
        "errors": [r["errors"] for r in rows],
        "p50": [_ms(r, "p50_ms") for r in rows],
        "p99": [_ms(r, "p99_ms") for r in rows],
        "max": [_ms(r, "max_ms") for r in rows],
    }
    names = sorted({n for r in rows for n in r.get("names", {})})
    per_name: dict[str, dict[str, list[Any]]] = {}
    for name in names:
        requests, errors, p99 = [], [], []
        for r in rows:
            cell = r.get("names", {}).get(name)
            if cell is None:
                requests.append(0)
                errors.append(0)
                p99.append(None)
            else:
                requests.append(cell["requests"])
                errors.append(cell["errors"])
                p99.append(sig(cell["p99_ms"]) if cell.get("p99_ms") else None)
        per_name[name] = {"requests": requests, "errors": errors, "p99": p99}
    out["names"] = per_name
    return out


def _ms(row: dict[str, Any], key: str) -> float | None:
    """A second's latency, or None when nothing was timed in it."""
    value = row.get(key) or 0.0
    return sig(value) if value > 0 else None


def capacity_columns(capacity: dict[str, Any]) -> dict[str, list[Any]] | None:
    """The knee: each step's offered rate against its latency and errors, by rate."""
    steps = sorted(capacity.get("steps") or [], key=lambda s: s["rate"])
    if not steps:
        return None
    return {
        "rate": [s["rate"] for s in steps],
        "achieved": [sig(s.get("achieved_rps")) for s in steps],
        "p50": [sig(s.get("p50_ms")) or None for s in steps],
        "p99": [sig(s.get("p99_ms")) or None for s in steps],
        "error_pct": [sig((s.get("error_rate") or 0.0) * 100) for s in steps],
        "cpu_pct": [sig((s.get("generator_cpu") or {}).get("utilization", 0.0) * 100) for s in steps],
        "passed": [bool(s.get("passed")) for s in steps],
    }
