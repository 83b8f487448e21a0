"""``summary.json``: the one document every report and check reads.

Built from a ``Metrics`` (however it was measured: engine, replay, Locust workers),
a ``RunInfo`` and the effective plan. The schema is documented in the README and
in ``schemas/``; bump ``SCHEMA`` when a field changes meaning.

Accounting (the README's table says the same):

- every intended hit ends in exactly one outcome, so a name's ``requests`` (the sum
  of its ``outcomes``) is its share of ``run.intended_requests``;
- ``sent`` excludes ``dropped``/``unsent``; ``answered`` counts responses of any
  status;
- ``errors`` are load errors (every non-ok outcome of an ordinary call, and a
  deliberately invalid call that met a transport failure, a 5xx, a 429 or was never
  sent); ``error_rate`` = errors / (ok + errors);
- ``latency_ms``/``service_ms`` are over answered and timed-out requests only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from harness import __version__
from harness.metrics import EndpointMetrics, Metrics, new_hdr, percentiles_ms

SCHEMA = 2

# Sections other parts add to summary.json from what the run measured: each hook
# returns (section name, section) or None. Replay registers its "diff" here.
SectionHook = Callable[[Metrics, "RunInfo"], "tuple[str, dict[str, Any]] | None"]
SECTION_HOOKS: list[SectionHook] = []


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
    intended_requests: int  # hits made due (each ended in one outcome)
    intended_rate: float | None  # intended_requests / duration_s (open model)
    users: int | None
    connections: int  # opened, all processes together
    procs: int
    transport: str
    interrupted: bool
    reason: str | None  # why the run stopped early (signal, a failing live check, a crash)
    scenario: str | None
    seed: int
    run_id: str
    embedded_target: bool
    harness_version: str = __version__


def _ratio(ok: int, errors: int) -> float:
    return errors / (ok + errors) if ok + errors else 0.0


def _section(*, requests: int, sent: int, answered: int, ok: int, errors: int, late: int, dropped: int,
             unsent: int, violations: int, expected: int, latency: HdrHistogram, service: HdrHistogram,
             duration_s: float, outcomes: dict[str, int], codes: dict[str, int],
             expected_codes: dict[str, int], basis: str) -> dict[str, Any]:
    return {
        "requests": requests,
        "sent": sent,
        "answered": answered,
        "ok": ok,
        "errors": errors,
        "error_rate": _ratio(ok, errors),
        "rps": sent / duration_s if duration_s > 0 else 0.0,
        "late": late,
        "dropped": dropped,
        "unsent": unsent,
        "contract_violations": violations,
        "expected": expected,
        "latency_basis": basis,
        "latency_ms": percentiles_ms(latency),
        "service_ms": percentiles_ms(service),
        "outcomes": outcomes,
        "codes": codes,
        "expected_codes": expected_codes,
    }


def _endpoint_section(e: EndpointMetrics, duration_s: float) -> dict[str, Any]:
    return _section(
        requests=e.requests, sent=e.sent, answered=e.answered, ok=e.ok, errors=e.errors, late=e.late,
        dropped=e.dropped, unsent=e.unsent, violations=e.violations, expected=sum(e.expected.values()),
        latency=e.latency(), service=e.latency(service=True), duration_s=duration_s,
        outcomes=e.outcome_counts(),
        codes={str(k): v for k, v in sorted(e.codes.items())},
        expected_codes={str(k): v for k, v in sorted(e.expected.items())},
        basis=e.basis,
    )


def _summed(sections: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in sections:
        for k, v in s[key].items():
            out[k] = out.get(k, 0) + v
    return out


def build_summary(metrics: Metrics, run: RunInfo, timeline: list[dict[str, Any]] | None = None,
                  plan: dict[str, Any] | None = None) -> dict[str, Any]:
    d = run.duration_s
    active = list(metrics.active())
    endpoints = {e.name: _endpoint_section(e, d) for e in active}
    sections = list(endpoints.values())
    all_lat, all_svc = new_hdr(), new_hdr()
    for e in active:
        all_lat.add(e.latency())
        all_svc.add(e.latency(service=True))
    bases = {e.basis for e in active}
    outcomes = _summed(sections, "outcomes")
    everything = _section(
        **{k: sum(s[k] for s in sections) for k in
           ("requests", "sent", "answered", "ok", "errors", "late", "dropped", "unsent", "expected")},
        violations=sum(s["contract_violations"] for s in sections),
        latency=all_lat, service=all_svc, duration_s=d,
        outcomes=dict(sorted(outcomes.items(), key=lambda kv: (kv[0] != "ok", kv[0]))),
        codes=dict(sorted(_summed(sections, "codes").items())),
        expected_codes=dict(sorted(_summed(sections, "expected_codes").items())),
        basis=bases.pop() if len(bases) == 1 else ("mixed" if bases else "intended"),
    )
    totals = {k: everything[k] for k in ("requests", "sent", "answered", "ok", "errors", "error_rate", "late",
                                         "dropped", "unsent", "contract_violations", "expected")}
    totals["achieved_rps"] = metrics.sent_in_window / d if d > 0 else 0.0
    totals["achieved_rate"] = (metrics.sent_in_window / run.intended_requests
                               if run.model == "open" and run.intended_requests else None)
    summary: dict[str, Any] = {
        "schema": SCHEMA,
        "harness": {"version": __version__},
        "run": asdict(run),
        "plan": plan or {},
        "totals": totals,
        "all": everything,
        "endpoints": endpoints,
        "codes": everything["codes"],
        "expected_codes": everything["expected_codes"],
        "timeline": timeline or [],
        "checks": [],
        "verdict": None,
    }
    for hook in SECTION_HOOKS:
        section = hook(metrics, run)
        if section is not None:
            summary[section[0]] = section[1]
    return summary
