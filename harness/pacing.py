"""When requests are due: arrival shapes for the open model.

A pacer is pure arithmetic with no clock inside (after vegeta's ``Pacer``): it
turns a hit number into the offset, in seconds from the run's start, at which that
hit is due. The engine reads the clock and sends every hit whose time has come,
stamping each with its *intended* time, from which latency is measured; so a pacer
never slows down because the target does (no coordinated omission).

Deterministic shapes answer ``due_time(n)`` for any ``n`` (random access). That is
what makes a multi-process run exact: worker ``k`` of ``N`` takes hits
``k, k+N, k+2N, ...`` of the one global schedule, so the merged arrivals are exactly
the single-process ones. Poisson arrivals are random: each of ``N`` workers runs an
independent Poisson process at ``rate/N``, whose superposition is again Poisson at
``rate``.

A recording will be a pacer too (recorded timestamps divided by a speed factor).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from harness.units import format_duration


class Pacer(Protocol):
    duration: float

    def schedule(self, worker: int = 0, workers: int = 1) -> Iterator[tuple[int, float]]:
        """This worker's hits as (hit number, offset in s), offsets increasing and all
        below ``duration``. Hit numbers are unique across the workers of one run."""
        ...

    def expected_hits(self) -> float:
        """How many hits the whole schedule holds (all workers)."""
        ...

    def rate_at(self, t: float) -> float:
        """The intended arrival rate (hits/s) at offset ``t``."""
        ...


class _RandomAccessPacer:
    """Shared schedule logic for shapes that know where hit ``n`` falls."""

    duration: float

    def due_time(self, n: int) -> float:
        raise NotImplementedError

    def schedule(self, worker: int = 0, workers: int = 1) -> Iterator[tuple[int, float]]:
        n = worker
        due = self.due_time
        end = self.duration
        while True:
            t = due(n)
            if t >= end:
                return
            yield n, t
            n += workers


@dataclass(frozen=True, kw_only=True)
class ConstantPacer(_RandomAccessPacer):
    """``rate`` hits per second, evenly spaced: hit n at n/rate."""

    rate: float
    duration: float

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"rate must be positive, got {self.rate}")
        if not self.duration > 0:
            raise ValueError(f"duration must be positive, got {self.duration}")

    def due_time(self, n: int) -> float:
        return n / self.rate

    def expected_hits(self) -> float:
        return math.ceil(self.rate * self.duration)

    def rate_at(self, t: float) -> float:
        return self.rate if 0 <= t < self.duration else 0.0

    def __str__(self) -> str:
        return f"constant {self.rate:g}/s for {format_duration(self.duration)}"


@dataclass(frozen=True, kw_only=True)
class Stage:
    """Ramp linearly from the previous stage's target to ``target`` hits/s."""

    duration: float
    target: float


@dataclass(frozen=True, kw_only=True)
class StagesPacer(_RandomAccessPacer):
    """Piecewise-linear rate (k6's ramping-arrival-rate): each stage ramps from the
    previous target (``start_rate`` for the first) to its own over its duration."""

    stages: tuple[Stage, ...]
    start_rate: float = 0.0

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("stages: expected at least one stage")
        if self.start_rate < 0 or any(s.target < 0 or s.duration <= 0 for s in self.stages):
            raise ValueError("stages: durations must be positive and targets non-negative")
        if self.expected_hits() <= 0:
            raise ValueError("stages: the schedule holds no requests (all targets 0)")

    @property
    def duration(self) -> float:  # type: ignore[override]
        return sum(s.duration for s in self.stages)

    def _segments(self) -> tuple[tuple[float, float, float, float, float], ...]:
        """(start offset, duration, start rate, end rate, hits before) per stage."""
        cached = self.__dict__.get("_segs")
        if cached is not None:
            return cached
        out = []
        t = hits = 0.0
        r0 = self.start_rate
        for s in self.stages:
            out.append((t, s.duration, r0, s.target, hits))
            hits += (r0 + s.target) / 2 * s.duration
            t += s.duration
            r0 = s.target
        segs = tuple(out)
        object.__setattr__(self, "_segs", segs)  # a cache, not state: the dataclass stays frozen
        return segs

    def due_time(self, n: int) -> float:
        for t0, d, r0, r1, before in self._segments():
            inside = (r0 + r1) / 2 * d
            if n < before + inside:
                want = n - before
                # Solve r0*tau + (r1-r0)/(2d)*tau^2 = want in the stable form
                # tau = 2*want / (r0 + sqrt(r0^2 + 2*(r1-r0)/d*want)).
                slope = (r1 - r0) / d
                root = math.sqrt(max(r0 * r0 + 2 * slope * want, 0.0))
                denom = r0 + root
                tau = 2 * want / denom if denom > 0 else 0.0
                return t0 + min(tau, d)
        return math.inf

    def expected_hits(self) -> float:
        return math.ceil(sum((r0 + r1) / 2 * d for _, d, r0, r1, _ in self._segments()) - 1e-9)

    def rate_at(self, t: float) -> float:
        for t0, d, r0, r1, _ in self._segments():
            if t0 <= t < t0 + d:
                return r0 + (r1 - r0) * (t - t0) / d
        return 0.0

    def __str__(self) -> str:
        parts = " ".join(f"{format_duration(s.duration)}->{s.target:g}/s" for s in self.stages)
        return f"stages from {self.start_rate:g}/s: {parts}"


@dataclass(frozen=True, kw_only=True)
class SinePacer(_RandomAccessPacer):
    """A daily cycle compressed: rate(t) = mean + amplitude*sin(2*pi*t/period)."""

    mean: float
    amplitude: float
    period: float
    duration: float

    def __post_init__(self) -> None:
        if not self.mean > 0 or not self.period > 0 or not self.duration > 0:
            raise ValueError("sine: mean rate, period and duration must be positive")
        if not 0 <= self.amplitude <= self.mean:
            raise ValueError("sine: amplitude must be between 0 and the mean rate")

    def hits_by(self, t: float) -> float:
        w = 2 * math.pi / self.period
        return self.mean * t + self.amplitude / w * (1 - math.cos(w * t))

    def rate_at(self, t: float) -> float:
        return self.mean + self.amplitude * math.sin(2 * math.pi * t / self.period)

    def due_time(self, n: int) -> float:
        # Safeguarded Newton: H is increasing, H(t) >= (mean-amplitude)*t and
        # <= (mean+amplitude)*t + ..., so [n/(mean+amp+1), n/(mean-amp)] brackets it.
        lo = 0.0
        hi = self.duration * 2 + n / max(self.mean - self.amplitude, 1e-9)
        t = n / self.mean
        for _ in range(60):
            f = self.hits_by(t) - n
            if abs(f) < 1e-7:
                return t
            if f > 0:
                hi = t
            else:
                lo = t
            r = self.rate_at(t)
            nt = t - f / r if r > 1e-9 else (lo + hi) / 2
            t = nt if lo < nt < hi else (lo + hi) / 2
        return t

    def expected_hits(self) -> float:
        return math.ceil(self.hits_by(self.duration) - 1e-9)

    def __str__(self) -> str:
        return (
            f"sine {self.mean:g}±{self.amplitude:g}/s period {format_duration(self.period)} "
            f"for {format_duration(self.duration)}"
        )


@dataclass(frozen=True, kw_only=True)
class PoissonPacer:
    """Random arrivals at ``rate`` on average: exponential gaps, seeded."""

    rate: float
    duration: float
    seed: int = 1

    def __post_init__(self) -> None:
        if not self.rate > 0 or not self.duration > 0:
            raise ValueError("poisson: rate and duration must be positive")

    def schedule(self, worker: int = 0, workers: int = 1) -> Iterator[tuple[int, float]]:
        # Hit numbers k, k+N, ...: unique across workers, though the merged arrivals
        # are not in hit order (each worker draws its own process).
        rng = random.Random(f"poisson-{self.seed}-{worker}")
        rate = self.rate / workers
        n = worker
        t = rng.expovariate(rate)
        while t < self.duration:
            yield n, t
            n += workers
            t += rng.expovariate(rate)

    def expected_hits(self) -> float:
        return self.rate * self.duration

    def rate_at(self, t: float) -> float:
        return self.rate if 0 <= t < self.duration else 0.0

    def __str__(self) -> str:
        return f"poisson {self.rate:g}/s for {format_duration(self.duration)}"


def stages_from(pairs: Sequence[tuple[float, float]], start_rate: float = 0.0) -> StagesPacer:
    return StagesPacer(stages=tuple(Stage(duration=d, target=r) for d, r in pairs), start_rate=start_rate)
