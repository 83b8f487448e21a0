"""When each recorded call is replayed, and by which process: ``ReplayOptions``,
``Cursor`` and ``RecordingPacer``.

The intended send time of a call is its recorded offset (from ``--from``) divided
by ``--speed``, loop l starting ``l * period`` later; ``--max-rate`` moves a call
later when it would come sooner than 1/max-rate after the one before it (over the
whole schedule, so the cap holds for all processes together). Those times are
the schedule of the open model, and latency is measured from them.

Sharding keeps a chain together: a call's shard key is its chain (the line of the
chain's first call) or, for a call outside any chain, its own line; copy c of key
k is unit ``mix(k) * multiplier + c``, and worker w of W replays the units with
``unit % W == w`` (``mix`` scatters keys, which are regular: a recording of
push-update-delete triples has chain keys 0, 3, 6, ...). Every worker reads the whole file (streaming) and keeps its own
units, in file order; so a chain's calls reach one process in their recorded order.

Every line was checked when the plan was made (``scan``), so the workers read
without checking again. The pacer and the source of one worker share one reading
of the file: the source
(built first, in the worker) registers its ``Cursor``; the pacer's ``schedule``
takes it from the registry and yields hit numbers whose recorded call the cursor
keeps for the source's ``next_call`` (the engine asks for a hit's call right
after drawing it, so at most a hit or two wait there). A pacer with no source
(tests, a dry computation) reads the file on its own.

Hit numbers: ``loop << 40 | line * multiplier + copy``, unique across workers.
Recorded offsets out of order (a recorder writes a call when its answer has come;
a slow one lands a little late) are replayed no earlier than the call before them
in the same process: the schedule never goes backwards.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from harness.recording.files import read_calls
from harness.recording.format import RecordedCall
from harness.units import format_duration

LOOP_SHIFT = 40


def mix(key: int) -> int:
    """Knuth's multiplicative hash: regular keys land on every worker."""
    return (key * 0x9E3779B1) & 0xFFFFFFFF


@dataclass(frozen=True, kw_only=True)
class ReplayOptions:
    """How to replay one recording; picklable, shared by the pacer and the source."""

    path: str
    key: str  # ties a worker's pacer to its source (see the module docstring)
    speed: float | None  # None: as fast as the target answers (closed model)
    multiplier: int = 1
    loops: int = 1
    max_rate: float | None = None
    start_us: int = 0
    end_us: int | None = None
    period_us: int = 0  # one loop's length, recorded time
    recorded_client: str | None = None
    client: str = "OC_TOMA"
    wait_s: float = 20.0  # longest wait for a parent's answer

    def in_window(self, t_us: int) -> bool:
        return t_us >= self.start_us and (self.end_us is None or t_us < self.end_us)


_CURSORS: dict[tuple[str, int], Cursor] = {}


class Cursor:
    """One worker's reading of the recording: its units, in order."""

    def __init__(self, options: ReplayOptions, worker: int = 0, workers: int = 1) -> None:
        self.options = options
        self.worker = worker
        self.workers = workers
        self.current: dict[int, tuple[RecordedCall, int]] = {}  # hit -> (call, variant), for next_call
        self.reordered = 0  # calls replayed later than recorded, to keep the schedule monotonic
        self.keep = False  # keep each hit's call for a source (set by register)

    def register(self) -> None:
        self.keep = True
        _CURSORS[(self.options.key, self.worker)] = self

    def units(self) -> Iterator[tuple[int, int, RecordedCall, int]]:
        """(loop, copy, call, variant) of every unit of this worker, in order."""
        o = self.options
        m, workers, worker = o.multiplier, self.workers, self.worker
        for loop in range(o.loops):
            for call in read_calls(o.path, checked=True):
                if not o.in_window(call.t_us):
                    continue
                base = mix(call.shard_key) * m
                for copy in range(m):
                    if (base + copy) % workers == worker:
                        yield loop, copy, call, loop * m + copy

    def schedule(self) -> Iterator[tuple[int, float]]:
        """(hit, offset in seconds) of this worker's units, offsets never decreasing."""
        o = self.options
        speed = o.speed or 1.0
        m, workers, worker = o.multiplier, self.workers, self.worker
        gap = 1.0 / o.max_rate if o.max_rate else 0.0
        previous = -math.inf  # the whole schedule's last time (for the max-rate cap)
        last = 0.0  # this worker's last offset
        current = self.current if self.keep else None
        scale = 1e-6 / speed
        start, end = o.start_us, o.end_us if o.end_us is not None else 1 << 62
        alone = workers == 1 and m == 1 and not gap  # the common case, kept lean
        for loop in range(o.loops):
            loop_us = loop * o.period_us - start
            for call in read_calls(o.path, checked=True):
                t = call.t_us
                if t < start or t >= end:
                    continue
                offset = (t + loop_us) * scale
                if alone:
                    if offset < last:
                        offset = last
                        self.reordered += 1
                    last = offset
                    hit = (loop << LOOP_SHIFT) | call.line
                    if current is not None:
                        current[hit] = (call, loop)
                    yield hit, offset
                    continue
                base = mix(call.shard_key) * m
                line = call.line * m
                for copy in range(m):
                    if gap:
                        offset = max(offset, previous + gap)
                        previous = offset
                    if (base + copy) % workers != worker:
                        continue
                    at = offset
                    if at < last:
                        at = last
                        self.reordered += 1
                    last = at
                    hit = (loop << LOOP_SHIFT) | (line + copy)
                    if current is not None:
                        current[hit] = (call, loop * m + copy)
                    yield hit, at


@dataclass(frozen=True, kw_only=True)
class RecordingPacer:
    """The recording's own arrivals (a ``harness.pacing.Pacer``)."""

    options: ReplayOptions
    duration: float
    hits: int

    def schedule(self, worker: int = 0, workers: int = 1) -> Iterator[tuple[int, float]]:
        cursor = _CURSORS.pop((self.options.key, worker), None)
        if cursor is None or cursor.workers != workers:
            cursor = Cursor(self.options, worker, workers)
        return cursor.schedule()

    def expected_hits(self) -> float:
        return self.hits

    def rate_at(self, t: float) -> float:
        return self.hits / self.duration if 0 <= t < self.duration and self.duration > 0 else 0.0

    def __str__(self) -> str:
        o = self.options
        parts = [f"recording x{o.speed:g}" if o.speed else "recording"]
        if o.multiplier > 1:
            parts.append(f"{o.multiplier} copies")
        if o.loops > 1:
            parts.append(f"{o.loops} loops")
        if o.max_rate:
            parts.append(f"max {o.max_rate:g}/s")
        return f"{', '.join(parts)}: {self.hits} calls over {format_duration(self.duration)}"


def last_offset(options: ReplayOptions) -> float:
    """The schedule's last offset (s), computed as the workers will (max-rate cap)."""
    last = 0.0
    for _, at in Cursor(options).schedule():
        last = at
    return last


def describe(options: ReplayOptions) -> dict[str, Any]:
    o = options
    return {"speed": o.speed if o.speed else "max", "rate_multiplier": o.multiplier, "loops": o.loops,
            "max_rate": o.max_rate, "from_s": o.start_us / 1e6, "to_s": None if o.end_us is None else o.end_us / 1e6}
