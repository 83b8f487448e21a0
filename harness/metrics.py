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
import functools
import sys
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, compress, repeat
from operator import add, mul, not_
from typing import Any

from hdrh.histogram import HdrHistogram

from harness import hdrcodec
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
    the library would hold.

    Why ``encode``, ``decode``, ``add`` and ``buckets`` work on the non-zero counts
    only (``harness.hdrcodec``, ``Buckets``): the engine closes a second on its event
    loop, encoding, decoding, adding and reading that second's histograms, and a
    second's histogram has a few hundred non-zero counts among 23,552; touching every
    count from Python (or HdrHistogram's ctypes array) stalled the loop ~15 ms a
    second, which showed as latency. They give exactly what HdrHistogram gives for the
    same counts (the same bytes, counts and statistics). The non-zero counts are found
    block by block (a block of zeros is skipped by one C-level comparison), or known:

    - a Recorder that ``Metrics.record`` may write to (``Recorder()``) is searched
      each time it is read;
    - one that only has others added into it (``decode``, ``accumulator``) keeps the
      list of its non-zero indices, so adding into it and reading it cost in
      proportion to those. Nothing may write its ``_counts`` but ``add``.
    """

    __slots__ = ("_counts", "_nonzero")

    def __init__(self, counts: list[int] | None = None) -> None:
        if counts is not None and len(counts) != COUNTS_LEN:
            raise ValueError(f"expected {COUNTS_LEN} counts (this harness's histogram layout), got {len(counts)}")
        self._counts = counts if counts is not None else [0] * COUNTS_LEN
        # Every index whose count is non-zero, increasing, when kept (see the class
        # docstring); replaced, never changed in place (a Buckets may hold it).
        self._nonzero: list[int] | None = None

    @classmethod
    def accumulator(cls) -> Recorder:
        """An empty Recorder that others are only added into (never recorded into):
        it keeps its non-zero indices, so reading it does not search 23,552 counts."""
        r = cls()
        r._nonzero = []
        return r

    @property
    def hdr(self) -> HdrHistogram:
        """A new HdrHistogram holding these counts (total, min and max set)."""
        return _loaded(new_hdr(), self._counts)

    @property
    def count(self) -> int:
        if self._nonzero is not None:
            return sum(map(self._counts.__getitem__, self._nonzero))
        return sum(self._counts)

    def __bool__(self) -> bool:
        """Anything counted (a C-level scan, stops at the first count)."""
        if self._nonzero is not None:
            return bool(self._nonzero)
        return any(self._counts)

    def nonzero(self, among: Sequence[int] | None = None) -> tuple[list[int], list[int]]:
        """(indices, counts) of the non-zero counts, in index order. ``among``: indices
        known to hold every non-zero count (increasing; a superset), read instead of
        searching the whole layout."""
        counts = self._counts
        if among is None:
            among = self._nonzero
            if among is None:
                return _search_nonzero(counts)
            return among, list(map(counts.__getitem__, among))
        found = list(map(counts.__getitem__, among))
        return list(compress(among, found)), list(filter(None, found))

    def buckets(self) -> Buckets:
        """The non-zero counts, to read percentiles, max and mean from."""
        return Buckets(*self.nonzero())

    def encode(self, among: Sequence[int] | None = None) -> str:
        """HdrHistogram's V2 base64 blob of these counts (byte for byte what
        ``self.hdr.encode()`` gives). ``among``: as for ``nonzero``."""
        return hdrcodec.encode(_HEADER, *self.nonzero(among))

    @classmethod
    def decode(cls, blob: str | bytes) -> Recorder:
        """The counts of a blob of this layout (exactly those HdrHistogram decodes);
        ValueError for anything else. To read or add a blob, ``Buckets.decode`` is
        cheaper (no list of every count)."""
        buckets = Buckets.decode(blob)
        counts = [0] * COUNTS_LEN
        for index, value in zip(buckets.indices, buckets.counts, strict=True):
            counts[index] = value
        r = cls(counts)
        r._nonzero = buckets.indices
        return r

    def add(self, other: Recorder | Buckets | HdrHistogram) -> None:
        """Add ``other``'s counts, touching only its non-zero ones."""
        if isinstance(other, HdrHistogram):
            other = Buckets.decode(other.encode())
        indices, values = (other.indices, other.counts) if isinstance(other, Buckets) else other.nonzero()
        counts = self._counts
        if self._nonzero is not None:
            fresh = list(compress(indices, map(not_, map(counts.__getitem__, indices))))
            if fresh:  # two increasing runs: sorted() merges them in one pass
                self._nonzero = sorted(self._nonzero + fresh)
        for index, value in zip(indices, values, strict=True):
            counts[index] += value

    def reset(self, among: Sequence[int] | None = None) -> None:
        """Zero every count. Interval histograms are reused rather than replaced, so
        nothing of a second outlives it. ``among``: as for ``nonzero``; then only the
        blocks from the first to the last of them are zeroed, in place."""
        if among is None:
            self._counts = [0] * COUNTS_LEN
        elif among:
            counts = self._counts
            for start in range(among[0] - among[0] % _BLOCK, among[-1] + 1, _BLOCK):
                counts[start:start + _BLOCK] = _ZERO_BLOCK  # same length: the list never grows
        if self._nonzero is not None:
            self._nonzero = []


class Buckets:
    """A histogram's non-zero counts, in index order, and the statistics HdrHistogram
    reads from them, at the cost of those counts only: each method gives exactly what
    the HdrHistogram of the same counts (``Recorder.hdr``) gives."""

    __slots__ = ("indices", "counts", "_running_counts")

    def __init__(self, indices: list[int], counts: list[int]) -> None:
        self.indices = indices
        self.counts = counts
        self._running_counts: list[int] | None = None

    @classmethod
    def decode(cls, blob: str | bytes) -> Buckets:
        """The non-zero counts of a blob of this layout (exactly those HdrHistogram
        decodes); ValueError for anything else."""
        header, varints = hdrcodec.decode_header(blob)
        if not _is_this_layout(header):
            raise ValueError("a histogram of another layout (lowest 1 us, highest 1 h, 3 significant figures)")
        return cls(*hdrcodec.decode_counts(varints, COUNTS_LEN))

    @property
    def _running(self) -> list[int]:
        """The total count up to each bucket (made when first read: adding does not)."""
        if self._running_counts is None:
            self._running_counts = list(accumulate(self.counts))
        return self._running_counts

    @property
    def total(self) -> int:
        """``get_total_count``."""
        return self._running[-1] if self.counts else 0

    def value_at_percentile(self, percentile: float) -> int:
        """``get_value_at_percentile``: the bucket where the running count first
        reaches the percentile's share of the total (its highest value; its lowest
        for the 0th), or 0 when none does."""
        at = bisect_left(self._running, _target_count(percentile, self.total))
        if at == len(self._running):
            return 0
        low, high = _value_range(self.indices[at])
        return high if percentile else low

    def values_at_percentiles(self, percentiles: Iterable[float]) -> dict[float, int]:
        """``get_percentile_to_value_dict``: those over 100, or not reached, left out."""
        out = {}
        for percentile in sorted(set(percentiles)):
            if percentile > 100 or _target_count(percentile, self.total) > self.total:
                break
            out[percentile] = self.value_at_percentile(percentile)
        return out

    def max_value(self) -> int:
        """``get_max_value``: the highest value of the last bucket."""
        return _value_range(self.indices[-1])[1] if self.indices else 0

    def mean_value(self) -> float:
        """``get_mean_value``: each count at the middle of its bucket. Summed one HDR
        bucket (a power of two of values) at a time: within one, a count's middle
        value is linear in its index."""
        total = self.total
        if not total:
            return 0.0
        indices = self.indices
        running = [0, *self._running]
        weighted = list(accumulate(map(mul, self.counts, indices), initial=0))  # running sum of count x index
        s = 0
        at = 0
        while at < len(indices):
            bucket = max((indices[at] >> _HALF_MAG) - 1, 0)
            end = bisect_left(indices, (bucket + 2) << _HALF_MAG, at)  # the next bucket's first index
            n, ni = running[end] - running[at], weighted[end] - weighted[at]
            # value(index) = (index - bucket * HALF) << bucket; the middle adds half the bucket's width
            s += ((ni - bucket * _HALF * n) << bucket) + n * ((1 << bucket) >> 1)
            at = end
        return float(s) / total

    def percentiles_ms(self) -> dict[str, float]:
        """``percentiles_ms`` of these counts."""
        if not self.total:
            return dict(_NO_PERCENTILES)
        return _in_ms(self.values_at_percentiles([p for _, p in PERCENTILES]), self.max_value(),
                      self.mean_value(), self.total)


def _target_count(percentile: float, total: int) -> int:
    """HdrHistogram's running count at which ``percentile`` is reached (same float
    arithmetic, so the same rounding)."""
    return max(int(((min(percentile, 100.0) * total / 100)) + 0.5), 1)


def _value_range(index: int) -> tuple[int, int]:
    """The lowest and highest value counted at ``index`` (``get_value_from_index``,
    ``get_highest_equivalent_value``; unit magnitude 0)."""
    bucket = max((index >> _HALF_MAG) - 1, 0)
    low = (index - bucket * _HALF) << bucket
    return low, low + (1 << bucket) - 1


def _search_nonzero(counts: list[int]) -> tuple[list[int], list[int]]:
    """(indices, counts) of the non-zero counts, a block at a time: comparing a block
    with a block of zeros is one C-level pass that stops at its first count (the zeros
    are all the same object), so the empty blocks, most of the layout, cost ~1 us."""
    indices: list[int] = []
    values: list[int] = []
    for start in range(0, len(counts), _BLOCK):
        block = counts[start:start + _BLOCK]
        if block != _ZERO_BLOCK:
            found = list(compress(_OFFSETS, block))
            indices += map(add, found, repeat(start)) if start else found
            values += map(block.__getitem__, found)
    return indices, values


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


@functools.lru_cache(maxsize=8)
def _is_this_layout(header: hdrcodec.Header) -> bool:
    """Whether a blob's declared layout has this one's counts (what ``decode``
    accepted when it went through HdrHistogram: the same length, unit magnitude 0)."""
    if header == _HEADER:
        return True
    try:
        h = HdrHistogram(header.lowest, header.highest, header.significant_figures)
    except (ValueError, ArithmeticError):  # a layout HdrHistogram refuses
        return False
    return h.counts_len == COUNTS_LEN and h.unit_magnitude == 0


# Every histogram here has the same layout; its bucket arithmetic constants:
_LAYOUT = new_hdr()
COUNTS_LEN = _LAYOUT.counts_len
_MASK = _LAYOUT.sub_bucket_mask
_HALF_MAG = _LAYOUT.sub_bucket_half_count_magnitude
_SHIFT = _HALF_MAG + 1
_HALF = _LAYOUT.sub_bucket_half_count
del _LAYOUT
_HEADER = hdrcodec.Header(SIGNIFICANT_FIGURES, LOWEST_US, HIGHEST_US)
_BLOCK = 1024  # one HDR bucket of the layout: latencies cluster in a few of them
assert COUNTS_LEN % _BLOCK == 0, "Recorder.reset zeroes whole blocks"
_ZERO_BLOCK = [0] * _BLOCK
_OFFSETS = list(range(_BLOCK))
_NO_PERCENTILES: dict[str, float] = {name: 0.0 for name, _ in PERCENTILES} | {"max": 0.0, "mean": 0.0, "count": 0}


def bucket_index(us: int) -> int:
    """The counts index of ``us`` microseconds (clamped to 0..HIGHEST_US): the same
    arithmetic ``Metrics.record`` inlines, for readers and tests."""
    us = min(max(us, 0), HIGHEST_US)
    bucket = (us | _MASK).bit_length() - _SHIFT
    return ((bucket + 1) << _HALF_MAG) + (us >> bucket) - _HALF


def percentiles_ms(hist: HdrHistogram | Recorder) -> dict[str, float]:
    """p50..p999, max, mean (ms) and count; of a Recorder, from its non-zero counts."""
    if isinstance(hist, Recorder):
        return hist.buckets().percentiles_ms()
    count = hist.get_total_count()
    if count == 0:
        return dict(_NO_PERCENTILES)
    return _in_ms(hist.get_percentile_to_value_dict([p for _, p in PERCENTILES]), hist.get_max_value(),
                  hist.get_mean_value(), count)


def _in_ms(values: dict[float, int], max_us: int, mean_us: float, count: int) -> dict[str, float]:
    """The statistics of ``percentiles_ms`` from their values in microseconds."""
    out: dict[str, float] = {name: values[p] / 1000.0 for name, p in PERCENTILES}
    out["max"] = max_us / 1000.0
    out["mean"] = round(mean_us / 1000.0, 3)
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
    # The same histograms' non-zero counts, while the tick is still in the process that
    # made it ("" for ``latency``, else by name; never encoded): ``Timeline`` reads
    # them instead of decoding the blobs it was just handed.
    buckets: dict[str, Buckets] | None = field(default=None, compare=False, repr=False)

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
        """Close the current one-second interval and start the next.

        The interval's non-zero counts are searched for once, in its total histogram;
        a name's counts can only be non-zero there (``record`` counts a timed hit in
        both, at the same index, and the two are reset together, or the name's alone
        by ``take``), so each name's histogram is read at those indices only. A name
        that had every timed hit (often the only one) shares the total's encoding."""
        indices, counts = self._iv_hist.nonzero()
        latency = hdrcodec.encode(_HEADER, indices, counts)
        names: dict[str, dict[str, Any]] = {}
        buckets = {"": Buckets(indices, counts)}
        for ep in self.endpoints:
            if ep.iv_requests:
                iv = ep.iv_hist
                mine = iv.nonzero(among=indices) if iv is not None else ([], [])
                if mine[0]:
                    buckets[ep.name] = Buckets(*mine)
                names[ep.name] = {
                    "requests": ep.iv_requests,
                    "errors": ep.iv_errors,
                    "latency": (latency if mine == (indices, counts) else hdrcodec.encode(_HEADER, *mine))
                    if mine[0] else "",
                    "outcomes": {o.key: n for o, n in ep.iv_outcomes.items()},
                }
                if mine[0]:
                    iv.reset(among=mine[0])  # type: ignore[union-attr]
                ep.iv_requests = ep.iv_errors = 0
                if ep.iv_outcomes:
                    ep.iv_outcomes = {}
        tick = Tick(second, self._iv_requests, self._iv_errors, latency, names, buckets)
        if self._iv_requests:
            self._iv_hist.reset(among=indices)
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
                pair[0].add(Buckets.decode(lat_blob))
                pair[1].add(Buckets.decode(svc_blob))

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
