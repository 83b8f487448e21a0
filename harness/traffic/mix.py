"""Mixing the synthetic generators by weight: ``GENERATORS`` and ``build_source``.

A scenario names its generators and their weights, and gives each its options::

    [mix]
    enforcement = 0.85
    meters = 0.10
    invalid = 0.05

    [traffic.meters]
    followup_delay = "1m..5m"

``build_source`` returns one ``TrafficSource`` for the engine. It picks the
generator of each call from a pre-drawn sequence in which every generator holds
exactly its share of slots (shuffled), so the shares hold over any full pass and a
pick is a list lookup. Answers to calls that asked for feedback go back to the
generator that made them, which the mix notes on the call itself (``Call.owner``)
rather than in a table of calls awaiting answers: the mix keeps nothing per call,
so a call whose answer never comes (an engine that loses it) costs it nothing.

With a single generator the mix steps aside and the generator itself is the source.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from harness.errors import ConfigError
from harness.opscom.outcome import Outcome
from harness.traffic.call import Call, TrafficContext, TrafficSource
from harness.traffic.enforcement import EnforcementTraffic
from harness.traffic.integrations import IntegrationTraffic
from harness.traffic.invalid import InvalidTraffic
from harness.traffic.meters import MeterTraffic
from harness.traffic.shared import Shared
from harness.traffic.skew import SEQUENCE_LENGTH, rng_for, stratified_sequence
from harness.usage import suggest


class Generator(Protocol):
    """What ``GENERATORS`` holds: a TrafficSource made from its scenario table."""

    def __call__(
        self,
        ctx: TrafficContext,
        options: Mapping[str, Any] | None,
        where: str,
        *,
        shared: Shared | None = None,
    ) -> TrafficSource: ...


GENERATORS: Mapping[str, Generator] = {
    "enforcement": EnforcementTraffic,
    "meters": MeterTraffic,
    "integrations": IntegrationTraffic,
    "invalid": InvalidTraffic,
}

_MASK = SEQUENCE_LENGTH - 1


class MixedSource:
    """Several generators behind one TrafficSource; see the module docstring."""

    def __init__(
        self,
        sources: Mapping[str, TrafficSource],
        weights: Mapping[str, float],
        seed_ctx: TrafficContext,
    ) -> None:
        self.sources = dict(sources)
        self.weights = {name: weights[name] for name in self.sources}
        self._rng = rng_for(seed_ctx, "mix")
        self._exhausted: set[str] = set()
        # Bound next_call methods: a pick is one call, and its __self__ the generator.
        self._picks: list[Callable[[int, float], Call | None]] = []
        self._i = 0
        # Feedback calls handed out minus those reported back: a count, not a table.
        self._awaiting = 0
        self._draw()

    def _draw(self) -> None:
        names = [n for n in self.sources if n not in self._exhausted and self.weights[n] > 0]
        methods = [self.sources[n].next_call for n in names]
        self._picks = (
            stratified_sequence(methods, [self.weights[n] for n in names], self._rng)
            if names
            else []
        )

    def next_call(self, hit: int, now: float) -> Call | None:
        i = self._i
        self._i = (i + 1) & _MASK
        pick = self._picks[i]
        call = pick(hit, now)
        if call is None:
            return self._after_exhausted(pick, hit, now)
        if call.feedback:
            call.owner = pick.__self__  # type: ignore[attr-defined]
            self._awaiting += 1
        return call

    def on_result(self, call: Call, outcome: Outcome, doc: Any, now: float) -> None:
        owner = call.owner
        if owner is not None:
            call.owner = None  # reported once; a second report (or a stranger's) is ignored
            self._awaiting -= 1
            owner.on_result(call, outcome, doc, now)

    def awaiting(self) -> int:
        """Feedback calls handed out and not yet reported back."""
        return self._awaiting

    def _after_exhausted(self, pick: Callable[[int, float], Call | None], hit: int, now: float) -> Call | None:
        """A generator ran dry: drop it from the draw and ask the others; the mix ends
        only when every one has (synthetic generators never do; recordings may)."""
        source = pick.__self__  # type: ignore[attr-defined]
        self._exhausted.update(n for n, s in self.sources.items() if s is source)
        self._draw()
        if not self._picks:
            return None
        return self.next_call(hit, now)


def _section(file: str, table: str) -> str:
    """``scenarios/x.toml: [mix]``, or ``[mix]`` when there is no file (flags only)."""
    return f"{file}: [{table}]" if file else f"[{table}]"


def _check_weights(mix: Mapping[str, Any], file: str) -> dict[str, float]:
    where = _section(file, "mix")
    if not isinstance(mix, Mapping) or not mix:
        raise ConfigError(f"{where}: expected a table of generator weights, got {mix!r}")
    weights: dict[str, float] = {}
    for name, w in mix.items():
        if name not in GENERATORS:
            known = ", ".join(GENERATORS)
            raise ConfigError(f"{where} {name}: unknown generator (known: {known}){suggest(name, GENERATORS)}")
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise ConfigError(f"{where} {name}: expected a non-negative weight, got {w!r}")
        weights[name] = float(w)
    if sum(weights.values()) <= 0:
        raise ConfigError(f"{where}: expected weights with a positive total, got {dict(mix)!r}")
    return weights


def build_source(
    ctx: TrafficContext,
    mix: Mapping[str, float],
    options: Mapping[str, Mapping[str, Any]],
    where: str,
) -> TrafficSource:
    """The source a scenario's ``[mix]`` and ``[traffic.*]`` tables describe.

    ``mix``: generator name -> weight (``[mix]``); ``options``: generator name -> its
    ``[traffic.<name>]`` table; ``where``: the scenario file they were read from, for
    errors (a generator's then read ``scenarios/smoke.toml: [traffic.meters]
    duration: ...``), or "" when there is no file. A weight of 0 turns a generator
    off; its options are still checked."""
    file = where
    weights = _check_weights(mix, file)
    for name in options:
        if name not in weights:
            hint = "unknown generator" if name not in GENERATORS else "generator not in [mix]"
            table = _section(file, f"traffic.{name}")
            raise ConfigError(f"{table}: {hint} (the mix has: {', '.join(weights)})"
                              + (suggest(name, GENERATORS) if name not in GENERATORS else ""))
    shared = Shared()
    # Weight-0 generators are built too, so their options are checked all the same.
    built = {
        name: GENERATORS[name](
            ctx, options.get(name), _section(file, f"traffic.{name}"), shared=shared
        )
        for name in weights
    }
    sources = {name: source for name, source in built.items() if weights[name] > 0}
    if len(sources) == 1:
        return next(iter(sources.values()))
    return MixedSource(sources, weights, ctx)


@dataclass(frozen=True, kw_only=True)
class MixSpec:
    """The synthetic traffic of a scenario: ``[mix]`` weights and ``[traffic.*]``
    options (``where``: the scenario file, for errors). A ``SourceSpec``."""

    mix: Mapping[str, float]
    options: Mapping[str, Mapping[str, Any]]
    where: str = ""

    def build(self, ctx: TrafficContext) -> TrafficSource:
        return build_source(ctx, self.mix, self.options, self.where)

    def names(self) -> tuple[str, ...]:
        return ()

    def describe(self) -> dict[str, Any]:
        return {"kind": "synthetic", "mix": dict(self.mix), "traffic": {k: dict(v) for k, v in self.options.items()}}
