"""Seeded randomness for the generators: per-generator streams, Zipf weights, and
pre-drawn index sequences.

The hot generators (enforcement, the mix itself) never draw a random number per
call: they draw a long sequence once at start-up and walk it, so ``next_call`` is a
list lookup. ``SEQUENCE_LENGTH`` draws are plenty to reproduce the wanted shares
(the mix allocates its slots exactly, see ``allocate``), and a power of two lets the
walk wrap with a mask instead of a comparison.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import TypeVar

from harness.traffic.call import TrafficContext

T = TypeVar("T")

SEQUENCE_LENGTH = 1 << 16


def rng_for(ctx: TrafficContext, name: str, *, per_worker: bool = True) -> random.Random:
    """A stream seeded by (seed, worker, name): a run is reproducible, workers differ,
    and generators do not disturb each other's draws. ``per_worker=False`` gives
    every worker the same stream (used for facts of the world, e.g. which plates
    are popular, that all workers must agree on)."""
    worker = ctx.worker if per_worker else "*"
    # A str seed is hashed with SHA-512 by random.Random: stable across processes,
    # unlike hash(), which PYTHONHASHSEED randomises.
    return random.Random(f"opscom-traffic:{ctx.seed}:{worker}:{name}")


def zipf_weights(n: int, exponent: float) -> list[float]:
    """Weight of rank r (1-based) is 1 / r**exponent: a few items are hot, the tail
    long. exponent 0 is uniform."""
    return [1.0 / (rank**exponent) for rank in range(1, n + 1)]


def allocate(weights: Sequence[float], slots: int) -> list[int]:
    """Slots per weight, proportional, summing to ``slots`` (largest remainder), with at
    least one slot for every positive weight so a rare item is never silently dropped."""
    total = float(sum(weights))
    exact = [w / total * slots for w in weights]
    counts = [int(x) for x in exact]
    for i, w in enumerate(weights):
        if w > 0 and counts[i] == 0:
            counts[i] = 1
    by_remainder = sorted(range(len(weights)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    short = slots - sum(counts)
    for i in itertools.islice(itertools.cycle(by_remainder), max(short, 0)):
        if weights[i] > 0:
            counts[i] += 1
    while sum(counts) > slots:  # only when many tiny weights were lifted to one slot
        j = max(range(len(counts)), key=counts.__getitem__)
        counts[j] -= 1
    return counts


def stratified_sequence(
    items: Sequence[T], weights: Sequence[float], rng: random.Random, length: int = SEQUENCE_LENGTH
) -> list[T]:
    """``length`` items in exact proportion to ``weights``, shuffled: the shares hold in
    every full pass, not only on average."""
    out: list[T] = []
    for item, count in zip(items, allocate(weights, length), strict=True):
        out.extend([item] * count)
    rng.shuffle(out)
    return out


def drawn_sequence(
    items: Sequence[T], weights: Sequence[float], rng: random.Random, length: int = SEQUENCE_LENGTH
) -> list[T]:
    """``length`` independent weighted draws (with the natural sampling noise, which is
    what a popularity skew over thousands of plates should look like)."""
    return rng.choices(items, weights=weights, k=length)
