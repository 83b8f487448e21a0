"""The per-second timeline, merged across worker processes.

Each worker closes a one-second interval with a ``Tick`` (counts per name and an
encoded histogram of that second's latencies). A second is complete once every
worker has reported it or a later one; its histograms are added, never its
percentiles averaged. A tick that arrives after its second was completed (a
worker more than a second behind) is added to that second, not appended twice.

Seconds are kept compactly (counts and the encoded histogram, a few hundred
bytes), so a 2-hour soak's 7,200 seconds cost a few MB, and the whole timeline can
be persisted and rebuilt exactly (``encode``/``decode``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.metrics import Recorder, Tick


@dataclass(frozen=True, slots=True)
class Second:
    t: int  # seconds since the run's start (this row covers [t, t+1))
    requests: int  # hits that ended in this second, any outcome
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    latency: str = field(repr=False)  # encoded histogram (timed outcomes)
    names: dict[str, list[int]] = field(default_factory=dict)  # name -> [requests, errors]

    def as_json(self) -> dict[str, Any]:
        return {"t": self.t, "requests": self.requests, "errors": self.errors, "p50_ms": self.p50_ms,
                "p99_ms": self.p99_ms, "max_ms": self.max_ms, "names": self.names}

    def encode(self) -> dict[str, Any]:
        return {"t": self.t, "requests": self.requests, "errors": self.errors, "latency": self.latency,
                "names": self.names}


def _second(t: int, requests: int, errors: int, hist: Recorder, names: dict[str, list[int]]) -> Second:
    p50 = p99 = mx = 0.0
    hdr = hist.hdr
    if hdr.get_total_count():
        values = hdr.get_percentile_to_value_dict([50.0, 99.0])  # one pass
        p50, p99, mx = values[50.0] / 1000, values[99.0] / 1000, hdr.get_max_value() / 1000
    return Second(t, requests, errors, p50, p99, mx, hist.encode(), names)


def _add_names(into: dict[str, list[int]], more: dict[str, list[int]]) -> None:
    for name, (req, err) in more.items():
        pair = into.setdefault(name, [0, 0])
        pair[0] += req
        pair[1] += err


class Timeline:
    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._pending: dict[int, tuple[int, int, Recorder, dict[str, list[int]]]] = {}
        self._latest: dict[int, int] = {}  # worker -> last second it reported
        self._done: dict[int, Second] = {}

    @property
    def rows(self) -> list[Second]:
        return [self._done[t] for t in sorted(self._done)]

    def add(self, worker: int, tick: Tick | dict[str, Any]) -> list[Second]:
        """Take one worker's tick; return the seconds this completed, in order."""
        if isinstance(tick, dict):
            tick = Tick(**tick)
        if tick.second in self._done:  # late: fold it into the completed second
            self._amend(tick)
            return []
        requests, errors, hist, names = self._pending.get(tick.second, (0, 0, Recorder(), {}))
        hist.add(Recorder.decode(tick.latency))
        _add_names(names, tick.names)
        self._pending[tick.second] = (requests + tick.requests, errors + tick.errors, hist, names)
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
            requests, errors, hist, names = self._pending.pop(second)
            row = self._done[second] = _second(second, requests, errors, hist, names)
            done.append(row)
        return done

    def _amend(self, tick: Tick) -> None:
        old = self._done[tick.second]
        hist = Recorder.decode(old.latency)
        hist.add(Recorder.decode(tick.latency))
        names = {k: list(v) for k, v in old.names.items()}
        _add_names(names, tick.names)
        self._done[tick.second] = _second(tick.second, old.requests + tick.requests,
                                          old.errors + tick.errors, hist, names)

    def encode(self) -> list[dict[str, Any]]:
        return [row.encode() for row in self.rows]

    @classmethod
    def decode(cls, rows: list[dict[str, Any]]) -> Timeline:
        timeline = cls(1)
        for row in rows:
            timeline._done[row["t"]] = _second(row["t"], row["requests"], row["errors"],
                                               Recorder.decode(row["latency"]), row.get("names", {}))
        return timeline
