"""The live view of a Locust run: per endpoint, the code distribution and HDR
percentiles, cumulative since the start, and the rate of the latest second.

Fed with ticks (``harness.metrics.Tick`` as encoded dicts), the same one-second
deltas every worker sends and every engine shard streams, so locustfile scenarios
and the engine scenario share it. Adding the ticks' histograms bucket by bucket
gives the exact distribution of everything reported so far; nothing is averaged.
The final word is the run's summary, which the board carries once it is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.locust.failures import describe
from harness.metrics import Buckets, Recorder, percentiles_ms
from harness.opscom.outcome import outcome_for_key

SECONDS_KEPT = 120  # rows of the per-second series in the JSON document


@dataclass
class _Name:
    requests: int = 0
    errors: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # other than ok
    latency: Recorder = field(default_factory=Recorder.accumulator)


class LiveBoard:
    def __init__(self) -> None:
        self.names: dict[str, _Name] = {}
        self.seconds: dict[int, list[int]] = {}  # second -> [requests, errors]
        self.result: dict[str, Any] | None = None  # the written summary's headline

    def add_tick(self, tick: dict[str, Any]) -> None:
        row = self.seconds.setdefault(int(tick["second"]), [0, 0])
        row[0] += tick["requests"]
        row[1] += tick["errors"]
        for name, d in tick.get("names", {}).items():
            n = self.names.get(name)
            if n is None:
                n = self.names[name] = _Name()
            n.requests += d["requests"]
            n.errors += d["errors"]
            if d.get("latency"):
                n.latency.add(Buckets.decode(d["latency"]))
            for key, count in d.get("outcomes", {}).items():
                n.outcomes[key] = n.outcomes.get(key, 0) + count

    def rate(self) -> tuple[int, int]:
        """(second, requests) of the latest second that is over: the newest reported
        second may still be filling."""
        if not self.seconds:
            return -1, 0
        newest = max(self.seconds)
        second = newest - 1 if newest - 1 in self.seconds else newest
        return second, self.seconds[second][0]

    def endpoints(self) -> list[dict[str, Any]]:
        rows = []
        for name in sorted(self.names):
            n = self.names[name]
            pct = percentiles_ms(n.latency)
            rows.append({
                "name": name,
                "requests": n.requests,
                "errors": n.errors,
                "error_rate": round(n.errors / n.requests, 6) if n.requests else 0.0,
                **{k: pct[k] for k in ("p50", "p90", "p95", "p99", "p999", "max")},
                "outcomes": dict(sorted(n.outcomes.items(), key=lambda kv: -kv[1])),
            })
        return rows

    def codes(self) -> list[dict[str, Any]]:
        """One row per (endpoint, answer other than ok): the 9000-code distribution."""
        rows = []
        for name in sorted(self.names):
            n = self.names[name]
            ok = n.requests - sum(n.outcomes.values())
            for key, count in [("ok", ok), *sorted(n.outcomes.items(), key=lambda kv: -kv[1])]:
                if count <= 0:
                    continue
                rows.append({
                    "endpoint": name,
                    "answer": key,
                    "text": "ok" if key == "ok" else _text(key),
                    "count": count,
                    "share": round(count / n.requests, 6) if n.requests else 0.0,
                })
        return rows

    def document(self, **run: Any) -> dict[str, Any]:
        second, rate = self.rate()
        recent = sorted(self.seconds)[-SECONDS_KEPT:]
        return {
            **run,
            "second": second,
            "rate_rps": rate,
            "requests": sum(n.requests for n in self.names.values()),
            "errors": sum(n.errors for n in self.names.values()),
            "endpoints": self.endpoints(),
            "codes": self.codes(),
            "seconds": [{"t": t, "requests": self.seconds[t][0], "errors": self.seconds[t][1]} for t in recent],
            "result": self.result,
        }


def _text(key: str) -> str:
    try:
        return describe(outcome_for_key(key))
    except ValueError:
        return key
