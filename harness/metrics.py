"""What a run measured: HDR histograms per endpoint x outcome, error-code counts,
contract violations, late and dropped requests, and a per-second timeline.

Latency is in integer microseconds, 3 significant digits, from 1 us to 1 h. Two
histograms per endpoint x outcome:

- ``latency``: from the request's *intended* send time to its answer, so queueing
  behind a stalled target counts (corrected for coordinated omission, as wrk2);
- ``service``: from the actual send to the answer (uncorrected).

``Metrics.encode()`` gives a JSON-able dict (histograms as HdrHistogram's base64
V2 blobs) and ``Metrics.merge()`` adds one in exactly (counts add, histograms add
bucket by bucket; percentiles are never averaged). Worker processes ship their
metrics this way, and a Locust worker will ship the same encoding, so the tail
(checks, reports) does not care who measured.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.names import NAMES, name_number
from harness.opscom.outcome import Outcome, OutcomeKind, outcome_for_key

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: anything slower is clamped, never dropped
SIGNIFICANT_FIGURES = 3
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p999", 99.9),
)


def new_hdr() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


class Recorder:
    """An HdrHistogram with a fast ``record``.

    ``HdrHistogram.record_value`` costs ~1.3 us in Python; ``record`` here is one
    bucket computation and one increment (~0.25 us). The bucket arithmetic is the
    library's, inlined (valid because the lowest trackable value is 1, so the unit
    magnitude is 0); totals, min and max are not kept per value but recomputed from
    the counts whenever the histogram is read (``hdr``), which happens about once a
    second. Same counts as the library would hold, so encode/decode/add work.
    """

    __slots__ = ("_hdr", "_counts", "_mask", "_shift", "_half_mag", "_half")

    def __init__(self, hdr: HdrHistogram | None = None) -> None:
        h = hdr if hdr is not None else new_hdr()
        if h.unit_magnitude != 0:
            raise ValueError("Recorder needs lowest_trackable_value 1")
        self._hdr = h
        self._counts = h.counts
        self._mask = h.sub_bucket_mask
        self._half_mag = h.sub_bucket_half_count_magnitude
        self._shift = h.sub_bucket_half_count_magnitude + 1
        self._half = h.sub_bucket_half_count

    def record(self, us: int) -> None:
        if us > HIGHEST_US:
            us = HIGHEST_US
        elif us < 0:
            us = 0
        bucket = (us | self._mask).bit_length() - self._shift
        self._counts[((bucket + 1) << self._half_mag) + (us >> bucket) - self._half] += 1

    @property
    def hdr(self) -> HdrHistogram:
        """The histogram, with total, min and max recomputed from the counts."""
        h = self._hdr
        counts = self._counts
        nonzero = [i for i, c in enumerate(counts) if c]
        h.total_count = sum(counts[i] for i in nonzero)
        if nonzero:
            h.min_value = h.get_value_from_index(nonzero[0])
            h.max_value = h.get_value_from_index(nonzero[-1])
        else:
            h.min_value, h.max_value = sys.maxsize, 0
        return h

    @property
    def count(self) -> int:
        return self.hdr.total_count

    def encode(self) -> str:
        return self.hdr.encode().decode("ascii")

    @classmethod
    def decode(cls, blob: str | bytes) -> Recorder:
        return cls(HdrHistogram.decode(blob))

    def add(self, other: Recorder) -> None:
        self._hdr.add(other.hdr)


# Every histogram here has the same layout; its bucket arithmetic constants:
_LAYOUT = new_hdr()
_MASK = _LAYOUT.sub_bucket_mask
_HALF_MAG = _LAYOUT.sub_bucket_half_count_magnitude
_SHIFT = _HALF_MAG + 1
_HALF = _LAYOUT.sub_bucket_half_count
del _LAYOUT


def percentiles_ms(hdr: HdrHistogram) -> dict[str, float]:
    """p50..p999, max and mean in milliseconds (one pass over the buckets)."""
    if hdr.get_total_count() == 0:
        return {name: 0.0 for name, _ in PERCENTILES} | {"max": 0.0, "mean": 0.0}
    values = hdr.get_percentile_to_value_dict([p for _, p in PERCENTILES])
    out = {name: values[p] / 1000.0 for name, p in PERCENTILES}
    out["max"] = hdr.get_max_value() / 1000.0
    out["mean"] = round(hdr.get_mean_value() / 1000.0, 3)
    return out


@dataclass(slots=True)
class EndpointMetrics:
    """Counters and histograms of one endpoint. ``ok``/``errors`` exclude deliberate
    invalid calls; those count as ``expected`` (answered as required) or
    ``violations`` (answered otherwise)."""

    name: str
    hist: dict[Outcome, tuple[Recorder, Recorder]] = field(default_factory=dict)
    ok: int = 0
    errors: int = 0
    late: int = 0
    dropped: int = 0
    violations: int = 0
    codes: dict[int, int] = field(default_factory=dict)  # API error codes not asked for
    expected: dict[int, int] = field(default_factory=dict)  # codes asked for and received

    @property
    def requests(self) -> int:
        return sum(lat.count for lat, _ in self.hist.values())

    def outcome_counts(self) -> dict[str, int]:
        return {o.key: lat.count for o, (lat, _) in sorted(self.hist.items(), key=_outcome_order)}

    def merged(self, which: int) -> HdrHistogram:
        """All outcomes in one histogram: 0 = latency, 1 = service time."""
        total = new_hdr()
        for pair in self.hist.values():
            total.add(pair[which].hdr)
        return total


def _outcome_order(item: tuple[Outcome, Any]) -> tuple[int, str]:
    o = item[0]
    return (0 if o.ok else 1, o.key)


@dataclass(frozen=True, slots=True)
class Tick:
    """One second of the timeline, as one worker measured it."""

    second: int
    requests: int
    errors: int
    latency: str  # encoded histogram of the second's corrected latencies

    def encode(self) -> dict[str, Any]:
        return {"second": self.second, "requests": self.requests, "errors": self.errors, "latency": self.latency}


class Metrics:
    """Everything measured by one process (or merged from several)."""

    def __init__(self, late_threshold_ns: int = 10_000_000) -> None:
        # Indexed by name number (``harness.names``): the catalogue endpoints up
        # front, other names appended when first recorded.
        self.endpoints: list[EndpointMetrics] = [EndpointMetrics(name) for name in NAMES]
        self.late_threshold_ns = late_threshold_ns
        # Requests sent before the schedule's end: the load actually applied while it
        # was meant to be (``achieved_rps``). Ones that only got a connection during
        # the drain are measured but not counted here.
        self.window_end_ns = 1 << 62
        self.sent_in_window = 0
        # The current timeline interval, swapped out by ``tick()``.
        self._iv_requests = 0
        self._iv_errors = 0
        self._iv_hist = Recorder()

    # --- hot path ----------------------------------------------------------------

    def record(
        self,
        endpoint_index: int,
        outcome: Outcome,
        expect: Outcome | None,
        intended_ns: int,
        sent_ns: int,
        done_ns: int,
    ) -> None:
        if endpoint_index >= len(self.endpoints):
            self._grow()
        ep = self.endpoints[endpoint_index]
        pair = ep.hist.get(outcome)
        if pair is None:
            pair = ep.hist[outcome] = (Recorder(), Recorder())
        # Recorder.record, inlined (this runs once per request): the latency's bucket
        # is computed once for the endpoint's histogram and the second's.
        us = (done_ns - intended_ns) // 1000
        if us > HIGHEST_US:
            us = HIGHEST_US
        elif us < 0:  # never expected; a negative index would corrupt the counts
            us = 0
        bucket = (us | _MASK).bit_length() - _SHIFT
        index = ((bucket + 1) << _HALF_MAG) + (us >> bucket) - _HALF
        pair[0]._counts[index] += 1
        self._iv_hist._counts[index] += 1
        us = (done_ns - sent_ns) // 1000
        if us > HIGHEST_US:
            us = HIGHEST_US
        elif us < 0:
            us = 0
        bucket = (us | _MASK).bit_length() - _SHIFT
        pair[1]._counts[((bucket + 1) << _HALF_MAG) + (us >> bucket) - _HALF] += 1
        self._iv_requests += 1
        if sent_ns - intended_ns > self.late_threshold_ns:
            ep.late += 1
        if sent_ns < self.window_end_ns:
            self.sent_in_window += 1
        if expect is None:
            if outcome.ok:
                ep.ok += 1
                return
            ep.errors += 1
            self._iv_errors += 1
            if outcome.kind is OutcomeKind.API_ERROR:
                ep.codes[outcome.code] = ep.codes.get(outcome.code, 0) + 1
        elif outcome is expect:
            if outcome.ok:  # a set-up call that had to succeed, and did
                ep.ok += 1
            else:
                ep.expected[outcome.code] = ep.expected.get(outcome.code, 0) + 1
        elif outcome.kind is OutcomeKind.TRANSPORT:
            # No answer at all is a load error, not a broken contract.
            ep.errors += 1
            self._iv_errors += 1
        else:
            ep.violations += 1

    def record_dropped(self, endpoint_index: int) -> None:
        """A request that was due but never sent (backlog full, or the run ended)."""
        if endpoint_index >= len(self.endpoints):
            self._grow()
        self.endpoints[endpoint_index].dropped += 1

    def _grow(self) -> None:
        """Slots for the names registered since (a source's own request names)."""
        self.endpoints.extend(EndpointMetrics(name) for name in NAMES[len(self.endpoints):])

    def endpoint(self, name: str) -> EndpointMetrics:
        """The metrics of ``name``, registering it if new."""
        number = name_number(name)
        if number >= len(self.endpoints):
            self._grow()
        return self.endpoints[number]

    # --- timeline ----------------------------------------------------------------

    def tick(self, second: int) -> Tick:
        """Close the current one-second interval and start the next."""
        tick = Tick(second, self._iv_requests, self._iv_errors, self._iv_hist.encode())
        self._iv_requests = 0
        self._iv_errors = 0
        self._iv_hist = Recorder()
        return tick

    # --- totals ------------------------------------------------------------------

    def active(self) -> Iterator[EndpointMetrics]:
        """Endpoints that saw at least one request or drop."""
        return (e for e in self.endpoints if e.hist or e.dropped)

    @property
    def requests(self) -> int:
        return sum(e.requests for e in self.endpoints)

    @property
    def ok(self) -> int:
        return sum(e.ok for e in self.endpoints)

    @property
    def errors(self) -> int:
        return sum(e.errors for e in self.endpoints)

    # --- exchange ----------------------------------------------------------------

    def encode(self) -> dict[str, Any]:
        """A JSON-able form that ``merge`` adds back exactly."""
        return {
            "v": 1,
            "sent_in_window": self.sent_in_window,
            "endpoints": {
                e.name: {
                    "ok": e.ok,
                    "errors": e.errors,
                    "late": e.late,
                    "dropped": e.dropped,
                    "violations": e.violations,
                    "codes": {str(k): v for k, v in e.codes.items()},
                    "expected": {str(k): v for k, v in e.expected.items()},
                    "hist": {o.key: [lat.encode(), svc.encode()] for o, (lat, svc) in e.hist.items()},
                }
                for e in self.active()
            },
        }

    def merge(self, encoded: dict[str, Any]) -> None:
        self.sent_in_window += encoded.get("sent_in_window", 0)
        for name, data in encoded["endpoints"].items():
            ep = self.endpoint(name)
            ep.ok += data["ok"]
            ep.errors += data["errors"]
            ep.late += data["late"]
            ep.dropped += data["dropped"]
            ep.violations += data["violations"]
            _add_counts(ep.codes, data["codes"])
            _add_counts(ep.expected, data["expected"])
            for key, (lat_blob, svc_blob) in data["hist"].items():
                outcome = outcome_for_key(key)
                pair = ep.hist.get(outcome)
                if pair is None:
                    pair = ep.hist[outcome] = (Recorder(), Recorder())
                pair[0].add(Recorder.decode(lat_blob))
                pair[1].add(Recorder.decode(svc_blob))

    @classmethod
    def merged(cls, encoded: Iterable[dict[str, Any]]) -> Metrics:
        total = cls()
        for e in encoded:
            total.merge(e)
        return total


def _add_counts(into: dict[int, int], more: dict[str, int]) -> None:
    for k, v in more.items():
        code = int(k)
        into[code] = into.get(code, 0) + v
