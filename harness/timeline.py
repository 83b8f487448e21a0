"""The per-second timeline, merged across worker processes.

Each worker closes a one-second interval with a ``Tick`` (counts, non-ok outcomes
and an encoded latency histogram, in total and per request name). A second is
complete once every worker has reported it or a later one; its histograms are
added, never its percentiles averaged. A tick that arrives after its second was
completed (a worker more than a second behind) is added to that second, not
appended twice.

Seconds are kept compactly (counts, a few percentiles, and encoded histograms of a
few hundred bytes), so a 2-hour soak's 7,200 seconds cost a few MB, and the whole
timeline can be persisted and rebuilt exactly (``encode``/``decode``). The per-name
histograms are not persisted (their percentiles are) and stay in memory only for
``NAME_HISTOGRAMS_KEPT_S`` seconds: the live view and the live gates read them as
each second completes, and a late tick needs them only for a recent second. Older
seconds are packed into columns (``harness.coldseconds``), about 1 KB a second; one
of them keeps its per-name percentiles when a later tick adds to its counts (a
worker more than a minute behind).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from harness.coldseconds import ColdSeconds
from harness.metrics import Buckets, Recorder, Tick


def _percentiles(buckets: Buckets) -> tuple[float, float, float]:
    """p50, p99 and max (ms), from a histogram's non-zero counts."""
    if not buckets.total:
        return 0.0, 0.0, 0.0
    values = buckets.values_at_percentiles([50.0, 99.0])
    return values[50.0] / 1000, values[99.0] / 1000, buckets.max_value() / 1000


@dataclass(frozen=True, slots=True)
class NameSecond:
    """One request name in one second."""

    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    outcomes: dict[str, int]  # other than ok
    latency: str = field(default="", repr=False)  # encoded histogram ("" when none)

    def as_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "errors": self.errors, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
                "max_ms": self.max_ms, "outcomes": self.outcomes}


@dataclass(frozen=True, slots=True)
class Second:
    t: int  # seconds since the run's start (this row covers [t, t+1))
    requests: int  # hits that ended in this second, any outcome
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    latency: str = field(repr=False)  # encoded histogram (timed outcomes)
    names: dict[str, NameSecond] = field(default_factory=dict)

    def brief(self) -> dict[str, Any]:
        """summary.json's row: totals only (per-name detail is in metrics.json)."""
        return {"t": self.t, "requests": self.requests, "errors": self.errors, "p50_ms": self.p50_ms,
                "p99_ms": self.p99_ms, "max_ms": self.max_ms}

    def as_json(self) -> dict[str, Any]:
        return self.brief() | {"names": {n: v.as_json() for n, v in self.names.items()}}

    def encode(self) -> dict[str, Any]:
        return self.as_json() | {"latency": self.latency}


NAME_HISTOGRAMS_KEPT_S = 60


class _Hist:
    """A second's histogram, added up from the ticks' encoded ones. A second one
    worker reported (the common case) is read from its tick's non-zero counts as
    decoded, and keeps the tick's encoding: no list of every count is made, added
    into or encoded again."""

    __slots__ = ("first", "sum", "blob")

    def __init__(self, blob: str, buckets: Buckets | None) -> None:
        self.first = buckets if buckets is not None else Buckets.decode(blob)
        self.sum: Recorder | None = None  # made when a second tick adds to the first
        self.blob: str | None = blob  # the encoding while there is only the first

    def add(self, blob: str, buckets: Buckets | None) -> None:
        if self.sum is None:
            self.sum = Recorder.accumulator()
            self.sum.add(self.first)
        self.sum.add(buckets if buckets is not None else Buckets.decode(blob))
        self.blob = None

    def buckets(self) -> Buckets:
        return self.first if self.sum is None else self.sum.buckets()

    def encode(self) -> str:
        if self.blob is None:
            assert self.sum is not None
            self.blob = self.sum.encode()
        return self.blob


def _added(hist: _Hist | None, blob: str, buckets: Buckets | None = None) -> _Hist:
    """``hist`` with the encoded histogram ``blob`` added (``buckets``: its non-zero
    counts, when the tick came from this process: see ``Tick.buckets``)."""
    if hist is None:
        return _Hist(blob, buckets)
    hist.add(blob, buckets)
    return hist


class _Acc:
    """A second being assembled from the workers' ticks."""

    __slots__ = ("requests", "errors", "hist", "names")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.hist: _Hist | None = None  # until the first tick (every tick brings one)
        self.names: dict[str, list[Any]] = {}  # name -> [requests, errors, _Hist | None, outcomes]

    def add(self, tick: Tick) -> None:
        self.requests += tick.requests
        self.errors += tick.errors
        read = tick.buckets or {}
        self.hist = _added(self.hist, tick.latency, read.get(""))
        for name, d in tick.names.items():
            acc = self.names.get(name)
            if acc is None:
                acc = self.names[name] = [0, 0, None, {}]
            acc[0] += d["requests"]
            acc[1] += d["errors"]
            if d.get("latency"):
                acc[2] = _added(acc[2], d["latency"], read.get(name))
            for key, n in d.get("outcomes", {}).items():
                acc[3][key] = acc[3].get(key, 0) + n

    def second(self, t: int) -> Second:
        names = {}
        for name, (req, err, hist, outcomes) in self.names.items():
            if hist is None:  # no timed hit
                names[name] = NameSecond(req, err, 0.0, 0.0, 0.0, outcomes, "")
                continue
            buckets = hist.buckets()
            p50, p99, mx = _percentiles(buckets)
            names[name] = NameSecond(req, err, p50, p99, mx, outcomes, hist.encode() if buckets.total else "")
        assert self.hist is not None  # an _Acc is made for a tick, or from a row
        p50, p99, mx = _percentiles(self.hist.buckets())
        return Second(t, self.requests, self.errors, p50, p99, mx, self.hist.encode(), names)

    @classmethod
    def of(cls, row: Second) -> _Acc:
        acc = cls()
        acc.requests, acc.errors = row.requests, row.errors
        acc.hist = _Hist(row.latency, None)
        for name, ns in row.names.items():
            acc.names[name] = [ns.requests, ns.errors, _Hist(ns.latency, None) if ns.latency else None,
                               dict(ns.outcomes)]
        return acc


def _folded(row: Second, tick: Tick) -> Second:
    """``row`` with a late ``tick`` added. Where ``row`` had shed a name's histogram
    (a packed second), that name keeps its percentiles, raised by the tick's worst."""
    acc = _Acc.of(row)
    acc.add(tick)
    out = acc.second(row.t)
    names = {n: replace(ns, p50_ms=row.names[n].p50_ms, p99_ms=max(ns.p99_ms, row.names[n].p99_ms),
                        max_ms=max(ns.max_ms, row.names[n].max_ms))
             if n in row.names and not row.names[n].latency and row.names[n].requests else ns
             for n, ns in out.names.items()}
    return replace(out, names=names)


class Timeline:
    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._pending: dict[int, _Acc] = {}
        self._latest: dict[int, int] = {}  # worker -> last second it reported
        self._done: dict[int, Second] = {}  # the last minute's completed seconds, whole
        self._cold = ColdSeconds()  # the older ones, packed (their per-name histograms shed)

    @property
    def rows(self) -> list[Second]:
        hot = [self._done[t] for t in sorted(self._done)]
        cold = list(self._cold)
        if not hot or not cold or hot[0].t > cold[-1].t:
            return cold + hot
        return sorted(cold + hot, key=lambda row: row.t)  # a second completed out of order

    def add(self, worker: int, tick: Tick | dict[str, Any]) -> list[Second]:
        """Take one worker's tick; return the seconds this completed, in order."""
        if isinstance(tick, dict):
            tick = Tick(**tick)
        if tick.second in self._done:  # late: fold it into the completed second
            self._done[tick.second] = _folded(self._done[tick.second], tick)
            return []
        cold = self._cold.get(tick.second)
        if cold is not None:  # later still: a second already packed
            self._cold.replace(_folded(cold, tick))
            return []
        self._pending.setdefault(tick.second, _Acc()).add(tick)
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
            row = self._done[second] = self._pending.pop(second).second(second)
            done.append(row)
        if done:
            self._pack(done[-1].t - NAME_HISTOGRAMS_KEPT_S)
        return done

    def _pack(self, before: int) -> None:
        """Move the seconds before ``before`` to the packed store, shedding their
        per-name histograms (a second completed out of order stays whole)."""
        last = self._cold.last_t
        for t in sorted(t for t in self._done if t < before and (last is None or t > last)):
            self._cold.append(self._done.pop(t))

    def encode(self) -> list[dict[str, Any]]:
        return [row.encode() for row in self.rows]

    @classmethod
    def decode(cls, rows: list[dict[str, Any]]) -> Timeline:
        timeline = cls(1)
        for row in rows:
            names = {n: NameSecond(v["requests"], v["errors"], v["p50_ms"], v["p99_ms"], v["max_ms"],
                                   v.get("outcomes", {})) for n, v in row.get("names", {}).items()}
            timeline._done[row["t"]] = Second(row["t"], row["requests"], row["errors"], row["p50_ms"],
                                              row["p99_ms"], row["max_ms"], row["latency"], names)
        timeline._pack(max(timeline._done, default=0) - NAME_HISTOGRAMS_KEPT_S)
        return timeline
