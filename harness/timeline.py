"""The per-second timeline, merged across worker processes.

Each worker closes a one-second interval with a ``Tick`` (counts and an encoded
histogram of that second's latencies). A second is complete once every worker has
reported it or a later one; its histograms are added, never its percentiles
averaged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.metrics import Recorder, Tick


@dataclass(frozen=True, slots=True)
class Second:
    t: int  # seconds since the run's start (this row covers [t, t+1))
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float

    def as_json(self) -> dict[str, Any]:
        return {"t": self.t, "requests": self.requests, "errors": self.errors,
                "p50_ms": self.p50_ms, "p99_ms": self.p99_ms}


class Timeline:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pending: dict[int, tuple[int, int, Recorder]] = {}
        self._latest: dict[int, int] = {}  # worker -> last second it reported
        self.rows: list[Second] = []

    def add(self, worker: int, tick: Tick | dict[str, Any]) -> list[Second]:
        """Take one worker's tick; return the seconds this completed, in order."""
        if isinstance(tick, dict):
            tick = Tick(**tick)
        requests, errors, hist = self._pending.get(tick.second, (0, 0, Recorder()))
        hist.add(Recorder.decode(tick.latency))
        self._pending[tick.second] = (requests + tick.requests, errors + tick.errors, hist)
        self._latest[worker] = max(self._latest.get(worker, -1), tick.second)
        if len(self._latest) < self.workers:
            return []
        return self._complete_up_to(min(self._latest.values()))

    def finish(self) -> list[Second]:
        """Complete every second still pending (the run is over)."""
        return self._complete_up_to(max(self._pending, default=-1))

    def _complete_up_to(self, last: int) -> list[Second]:
        done = []
        for second in sorted(s for s in self._pending if s <= last):
            requests, errors, hist = self._pending.pop(second)
            p50 = p99 = 0.0
            if requests:
                values = hist.hdr.get_percentile_to_value_dict([50.0, 99.0])  # one pass
                p50, p99 = values[50.0] / 1000, values[99.0] / 1000
            row = Second(second, requests, errors, p50, p99)
            self.rows.append(row)
            done.append(row)
        return done
