"""What a run measured: per request name, every hit's outcome, HDR histograms of
latency, error-code counts, contract violations, late hits, and per-second ticks.

Every hit ends in exactly one outcome: an answer (``ok``, an API code, ``http_<s>``,
``undecodable``), a transport failure (``timeout``, ``connect_error``,
``disconnected``, ``body_too_large``) or a hit never sent (``dropped``: the backlog
was full; ``unsent``: still waiting when the run ended). Hits never sent have no
latency; the others have two histograms each (integer microseconds, 3 significant
digits, 1 us to 1 h):

- ``latency``: from the request's *intended* send time to its end, so queueing
  behind a stalled target counts (corrected for coordinated omission, as wrk2);
- ``service``: from the actual send (uncorrected).

The latency statistics checks and reports read (``EndpointMetrics.latency``) are
over the outcomes that are ``timed``: answers of any status and timeouts. Instant
local failures (refused, reset before any answer) are errors, not fast answers.

Each name records its latency *basis*: ``intended`` (paced arrivals, or a closed
user's ready time) or ``sent`` (a Locust user that does not pace). A merge never
mixes the two for one name.

``Metrics.encode()`` gives a JSON-able dict (histograms as HdrHistogram's base64
V2 blobs) and ``Metrics.merge()`` adds one in exactly (counts add, histograms add
bucket by bucket; percentiles are never averaged). ``take()`` encodes and resets,
for workers that report in intervals.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.names import NAMES, name_number
from harness.opscom.outcome import Outcome, OutcomeKind, outcome_for_key

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: anything slower is clamped, never dropped
SIGNIFICANT_FIGURES = 3
ENCODING_VERSION = 2
BASES = ("intended", "sent")
EXAMPLES_KEPT = 5  # per key of Metrics.examples
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
    """The counts of an HdrHistogram, kept in a plain list that ``Metrics.record``
    increments directly; the HdrHistogram is built from them when read.

    Why a list: ``HdrHistogram.record_value`` costs ~1.3 us in Python, and even a
    bare increment of its ctypes counter array costs ~1,300 instructions (boxing
    and unboxing), against ~500 for a list of ints; a request does four (latency,
    service time, the second's and its name's second's). The bucket arithmetic,
    inlined in ``Metrics.record``, is the library's (valid because the lowest
    trackable value is 1, so the unit magnitude is 0), so the counts are the ones
    the library would hold and encode/decode/add round-trip exactly.
    """

    __slots__ = ("_counts",)

    def __init__(self, counts: list[int] | None = None) -> None:
        if counts is not None and len(counts) != COUNTS_LEN:
            raise ValueError(f"expected {COUNTS_LEN} counts (this harness's histogram layout), got {len(counts)}")
        self._counts = counts if counts is not None else [0] * COUNTS_LEN

    @property
    def hdr(self) -> HdrHistogram:
        """A new HdrHistogram holding these counts (total, min and max set)."""
        return _loaded(new_hdr(), self._counts)

    @property
    def count(self) -> int:
        return sum(self._counts)

    def __bool__(self) -> bool:
        """Anything counted (a C-level scan, stops at the first count)."""
        return any(self._counts)

    def encode(self) -> str:
        with _SCRATCH_LOCK:  # the live view's thread may encode too
            return _loaded(_SCRATCH, self._counts).encode().decode("ascii")

    @classmethod
    def decode(cls, blob: str | bytes) -> Recorder:
        h = HdrHistogram.decode(blob)
        if h.counts_len != COUNTS_LEN or h.unit_magnitude != 0:
            raise ValueError("a histogram of another layout (lowest 1 us, highest 1 h, 3 significant figures)")
        return cls(list(h.counts))

    def add(self, other: Recorder | HdrHistogram) -> None:
        more = other._counts if isinstance(other, Recorder) else Recorder.decode(other.encode())._counts
        self._counts = [a + b for a, b in zip(self._counts, more, strict=True)]

    def reset(self) -> None:
        """Zero every count. Interval histograms are reused rather than replaced, so
        nothing of a second outlives it."""
        self._counts = [0] * COUNTS_LEN


def _loaded(h: HdrHistogram, counts: list[int]) -> HdrHistogram:
    """``h`` holding ``counts``, with total, min and max set (the first and last
    non-zero counters found by stripping zero bytes in C, not by a Python loop)."""
    h.counts[:] = counts
    raw = ctypes.string_at(ctypes.addressof(h.counts), ctypes.sizeof(h.counts))
    head = raw.lstrip(b"\0")
    if not head:
        h.total_count = 0
        h.min_value, h.max_value = sys.maxsize, 0
        return h
    width = ctypes.sizeof(h.counts) // len(h.counts)
    first = (len(raw) - len(head)) // width
    last = (len(raw.rstrip(b"\0")) - 1) // width
    h.total_count = sum(counts[first:last + 1])
    h.min_value = h.get_value_from_index(first)
    h.max_value = h.get_value_from_index(last)
    return h


# Every histogram here has the same layout; its bucket arithmetic constants:
_LAYOUT = new_hdr()
COUNTS_LEN = _LAYOUT.counts_len
_SCRATCH = new_hdr()  # the histogram ``Recorder.encode`` loads counts into (one per process)
_SCRATCH_LOCK = threading.Lock()
_MASK = _LAYOUT.sub_bucket_mask
_HALF_MAG = _LAYOUT.sub_bucket_half_count_magnitude
_SHIFT = _HALF_MAG + 1
_HALF = _LAYOUT.sub_bucket_half_count
del _LAYOUT


def bucket_index(us: int) -> int:
    """The counts index of ``us`` microseconds (clamped to 0..HIGHEST_US): the same
    arithmetic ``Metrics.record`` inlines, for readers and tests."""
    us = min(max(us, 0), HIGHEST_US)
    bucket = (us | _MASK).bit_length() - _SHIFT
    return ((bucket + 1) << _HALF_MAG) + (us >> bucket) - _HALF


def percentiles_ms(hdr: HdrHistogram) -> dict[str, float]:
    """p50..p999, max, mean (ms) and count, in one pass over the buckets."""
    count = hdr.get_total_count()
    if count == 0:
        return {name: 0.0 for name, _ in PERCENTILES} | {"max": 0.0, "mean": 0.0, "count": 0}
    values = hdr.get_percentile_to_value_dict([p for _, p in PERCENTILES])
    out: dict[str, float] = {name: values[p] / 1000.0 for name, p in PERCENTILES}
    out["max"] = hdr.get_max_value() / 1000.0
    out["mean"] = round(hdr.get_mean_value() / 1000.0, 3)
    out["count"] = count
    return out


@dataclass(slots=True)
class EndpointMetrics:
    """Counters and histograms of one request name. ``ok``/``errors`` exclude
    deliberate invalid calls answered as such: those count as ``expected``
    (answered as required) or ``violations`` (answered otherwise, but well-formed)."""

    name: str
    basis: str = "intended"
    hist: dict[Outcome, tuple[Recorder, Recorder]] = field(default_factory=dict)  # sent hits
    not_sent: dict[Outcome, int] = field(default_factory=dict)  # dropped, unsent
    ok: int = 0
    errors: int = 0
    late: int = 0
    violations: int = 0
    codes: dict[int, int] = field(default_factory=dict)  # API error codes not asked for
    expected: dict[int, int] = field(default_factory=dict)  # codes asked for and received
    iv_requests: int = 0  # the current timeline interval
    iv_errors: int = 0
    iv_hist: Recorder | None = None  # its timed latencies (made once, zeroed each tick)
    iv_outcomes: dict[Outcome, int] = field(default_factory=dict)  # its outcomes other than ok

    @property
    def sent(self) -> int:
        return sum(lat.count for lat, _ in self.hist.values())

    @property
    def requests(self) -> int:
        """Every hit that ended in an outcome, sent or not."""
        return self.sent + sum(self.not_sent.values())

    @property
    def answered(self) -> int:
        return sum(lat.count for o, (lat, _) in self.hist.items() if o.answered)

    @property
    def dropped(self) -> int:
        return sum(n for o, n in self.not_sent.items() if o.key == "dropped")

    @property
    def unsent(self) -> int:
        return sum(n for o, n in self.not_sent.items() if o.key == "unsent")

    @property
    def active(self) -> bool:
        return bool(self.hist or self.not_sent)

    def outcome_counts(self) -> dict[str, int]:
        counts = {o: lat.count for o, (lat, _) in self.hist.items()} | dict(self.not_sent)
        return {o.key: n for o, n in sorted(counts.items(), key=_outcome_order)}

    def latency(self, service: bool = False) -> HdrHistogram:
        """The latency (or service time) of the timed outcomes, in one histogram."""
        total = Recorder()
        for outcome, pair in self.hist.items():
            if outcome.timed:
                total.add(pair[1 if service else 0])
        return total.hdr


def _outcome_order(item: tuple[Outcome, Any]) -> tuple[int, str]:
    o = item[0]
    return (0 if o.ok else 1, o.key)


@dataclass(frozen=True, slots=True)
class Tick:
    """One second of the timeline, as one worker measured it."""

    second: int
    requests: int  # hits that ended in this second (any outcome)
    errors: int
    latency: str  # encoded histogram of the second's timed latencies
    # name -> {"requests", "errors", "latency" (encoded histogram or ""), "outcomes" (non-ok)}
    names: dict[str, dict[str, Any]] = field(default_factory=dict)

    def encode(self) -> dict[str, Any]:
        return {"second": self.second, "requests": self.requests, "errors": self.errors,
                "latency": self.latency, "names": self.names}


class Metrics:
    """Everything measured by one process (or merged from several)."""

    def __init__(self, late_threshold_ns: int = 10_000_000, basis: str = "intended") -> None:
        if basis not in BASES:
            raise ValueError(f"latency basis must be one of {BASES}, got {basis!r}")
        self.basis = basis  # of names created here
        # Indexed by name number (``harness.names``): the catalogue endpoints up
        # front, other names appended when first recorded.
        self.endpoints: list[EndpointMetrics] = [EndpointMetrics(name, basis) for name in NAMES]
        self.late_threshold_ns = late_threshold_ns
        # Requests sent before the schedule's end: the load actually applied while it
        # was meant to be (``achieved_rps``). Ones that only got a connection during
        # the drain are measured but not counted here.
        self.window_end_ns = 1 << 62
        self.sent_in_window = 0
        # Named counters and a few JSON-able examples other parts keep beside the
        # histograms (replay's behaviour diff); merged by addition / concatenation.
        self.counters: dict[str, int] = {}
        self.examples: dict[str, list[Any]] = {}
        # The current timeline interval, swapped out by ``tick()``.
        self._iv_requests = 0
        self._iv_errors = 0
        self._iv_hist = Recorder()

    # --- hot path ----------------------------------------------------------------

    def record(
        self,
        key: int,
        outcome: Outcome,
        expect: Outcome | None,
        intended_ns: int,
        sent_ns: int,
        done_ns: int,
    ) -> None:
        """A hit that was sent, and how it ended. ``key`` is its name's number."""
        if key >= len(self.endpoints):
            self._grow()
        ep = self.endpoints[key]
        pair = ep.hist.get(outcome)
        if pair is None:
            pair = ep.hist[outcome] = (Recorder(), Recorder())
        # bucket_index, inlined (this runs once per request): the latency's bucket is
        # computed once for the name's histogram and the second's.
        us = (done_ns - intended_ns) // 1000
        if us > HIGHEST_US:
            us = HIGHEST_US
        elif us < 0:  # never expected; a negative index would corrupt the counts
            us = 0
        bucket = (us | _MASK).bit_length() - _SHIFT
        index = ((bucket + 1) << _HALF_MAG) + (us >> bucket) - _HALF
        pair[0]._counts[index] += 1
        if outcome.timed:
            self._iv_hist._counts[index] += 1
            iv = ep.iv_hist
            if iv is None:
                iv = ep.iv_hist = Recorder()
            iv._counts[index] += 1
        if not outcome.ok:
            ep.iv_outcomes[outcome] = ep.iv_outcomes.get(outcome, 0) + 1
        us = (done_ns - sent_ns) // 1000
        if us > HIGHEST_US:
            us = HIGHEST_US
        elif us < 0:
            us = 0
        bucket = (us | _MASK).bit_length() - _SHIFT
        pair[1]._counts[((bucket + 1) << _HALF_MAG) + (us >> bucket) - _HALF] += 1
        self._iv_requests += 1
        ep.iv_requests += 1
        if sent_ns - intended_ns > self.late_threshold_ns:
            ep.late += 1
        if sent_ns < self.window_end_ns:
            self.sent_in_window += 1
        if expect is None and outcome.ok:  # _judge's common case, inlined
            ep.ok += 1
            return
        self._judge(ep, outcome, expect)

    def record_not_sent(self, key: int, outcome: Outcome, expect: Outcome | None) -> None:
        """A hit that was due but never sent (``dropped`` or ``unsent``): an error."""
        if key >= len(self.endpoints):
            self._grow()
        ep = self.endpoints[key]
        ep.not_sent[outcome] = ep.not_sent.get(outcome, 0) + 1
        ep.iv_outcomes[outcome] = ep.iv_outcomes.get(outcome, 0) + 1
        self._iv_requests += 1
        ep.iv_requests += 1
        self._judge(ep, outcome, expect)

    def _judge(self, ep: EndpointMetrics, outcome: Outcome, expect: Outcome | None) -> None:
        """ok, error, expected or contract violation."""
        if expect is None:
            if outcome.ok:
                ep.ok += 1
                return
            ep.errors += 1
            ep.iv_errors += 1
            self._iv_errors += 1
            if outcome.kind is OutcomeKind.API_ERROR:
                ep.codes[outcome.code] = ep.codes.get(outcome.code, 0) + 1
        elif outcome is expect:
            if outcome.ok:  # a set-up call that had to succeed, and did
                ep.ok += 1
            else:
                ep.expected[outcome.code] = ep.expected.get(outcome.code, 0) + 1
        elif outcome.load_failure:
            # No usable answer, a 5xx or a 429: the target failed under load; its
            # contract was not tested.
            ep.errors += 1
            ep.iv_errors += 1
            self._iv_errors += 1
        else:
            ep.violations += 1

    def _grow(self) -> None:
        """Slots for the names registered since (a source's own request names)."""
        self.endpoints.extend(EndpointMetrics(name, self.basis) for name in NAMES[len(self.endpoints):])

    def endpoint(self, name: str, basis: str | None = None) -> EndpointMetrics:
        """The metrics of ``name``, registering it if new. A ``basis`` given for a
        name that has none recorded yet sets it; a different one is refused."""
        number = name_number(name)
        if number >= len(self.endpoints):
            self._grow()
        ep = self.endpoints[number]
        if basis is not None and basis != ep.basis:
            if ep.active:
                raise ValueError(f"{name}: cannot merge latency measured from the {basis} time into "
                                 f"latency measured from the {ep.basis} time")
            if basis not in BASES:
                raise ValueError(f"{name}: unknown latency basis {basis!r}")
            ep.basis = basis
        return ep

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def example(self, key: str, value: Any) -> None:
        """Keep ``value`` (JSON-able) as an example under ``key``, the first few only."""
        kept = self.examples.setdefault(key, [])
        if len(kept) < EXAMPLES_KEPT:
            kept.append(value)

    # --- timeline ----------------------------------------------------------------

    def tick(self, second: int) -> Tick:
        """Close the current one-second interval and start the next."""
        names: dict[str, dict[str, Any]] = {}
        for ep in self.endpoints:
            if ep.iv_requests:
                iv = ep.iv_hist
                timed = iv is not None and bool(iv)
                names[ep.name] = {
                    "requests": ep.iv_requests,
                    "errors": ep.iv_errors,
                    "latency": iv.encode() if timed else "",  # type: ignore[union-attr]
                    "outcomes": {o.key: n for o, n in ep.iv_outcomes.items()},
                }
                if timed:
                    iv.reset()  # type: ignore[union-attr]
                ep.iv_requests = ep.iv_errors = 0
                if ep.iv_outcomes:
                    ep.iv_outcomes = {}
        tick = Tick(second, self._iv_requests, self._iv_errors, self._iv_hist.encode(), names)
        if self._iv_requests:
            self._iv_hist.reset()
        self._iv_requests = 0
        self._iv_errors = 0
        return tick

    # --- totals ------------------------------------------------------------------

    def active(self) -> Iterator[EndpointMetrics]:
        """Names that saw at least one hit."""
        return (e for e in self.endpoints if e.active)

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
            "v": ENCODING_VERSION,
            "sent_in_window": self.sent_in_window,
            "counters": dict(self.counters),
            "examples": {k: list(v) for k, v in self.examples.items()},
            "endpoints": {
                e.name: {
                    "basis": e.basis,
                    "ok": e.ok,
                    "errors": e.errors,
                    "late": e.late,
                    "violations": e.violations,
                    "codes": {str(k): v for k, v in e.codes.items()},
                    "expected": {str(k): v for k, v in e.expected.items()},
                    "not_sent": {o.key: n for o, n in e.not_sent.items()},
                    "hist": {o.key: [lat.encode(), svc.encode()] for o, (lat, svc) in e.hist.items()},
                }
                for e in self.active()
            },
        }

    def take(self) -> dict[str, Any]:
        """``encode()``, then start from zero (interval reports from a worker)."""
        encoded = self.encode()
        self.endpoints = [EndpointMetrics(e.name, e.basis) for e in self.endpoints]
        self.sent_in_window = 0
        self.counters = {}
        self.examples = {}
        return encoded

    def merge(self, encoded: dict[str, Any]) -> None:
        if encoded.get("v") != ENCODING_VERSION:
            raise ValueError(f"metrics encoding version {encoded.get('v')!r}; this harness reads {ENCODING_VERSION}")
        self.sent_in_window += encoded.get("sent_in_window", 0)
        for key, n in encoded.get("counters", {}).items():
            self.count(key, n)
        for key, values in encoded.get("examples", {}).items():
            for value in values:
                self.example(key, value)
        for name, data in encoded["endpoints"].items():
            ep = self.endpoint(name, data.get("basis", "intended"))
            ep.ok += data["ok"]
            ep.errors += data["errors"]
            ep.late += data["late"]
            ep.violations += data["violations"]
            _add_counts(ep.codes, data["codes"])
            _add_counts(ep.expected, data["expected"])
            for key, n in data.get("not_sent", {}).items():
                outcome = outcome_for_key(key)
                ep.not_sent[outcome] = ep.not_sent.get(outcome, 0) + n
            for key, (lat_blob, svc_blob) in data["hist"].items():
                outcome = outcome_for_key(key)
                pair = ep.hist.get(outcome)
                if pair is None:
                    pair = ep.hist[outcome] = (Recorder(), Recorder())
                pair[0].add(Recorder.decode(lat_blob))
                pair[1].add(Recorder.decode(svc_blob))

    @classmethod
    def from_encoded(cls, encoded: Iterable[dict[str, Any]]) -> Metrics:
        """One Metrics holding the sum of several encodings (workers, intervals)."""
        total = cls()
        for e in encoded:
            total.merge(e)
        return total


def _add_counts(into: dict[int, int], more: dict[str, int]) -> None:
    for k, v in more.items():
        code = int(k)
        into[code] = into.get(code, 0) + v
