"""``enforcement``: handhelds and plate cameras validating plates.

The highest-rate traffic, so it is built for speed: one ``Call`` per plate is made
at start-up (body encoded once, the same object handed out again and again, which
also lets a transport cache its wire bytes), and a long sequence of draws is made
up front, so ``next_call`` is two list lookups and a mask.

Which plate is checked follows a two-level popularity skew:

- a *population* by weight: plates with permits, unknown plates, alarm plates, DNTT
  plates, and ``pushed`` plates (paid at a meter earlier in this run; while there
  are none yet, a permit plate is checked instead);
- within a population a Zipf-like skew (weight 1/rank**skew), so a few plates are
  hot and the tail is long. The ranking is the same on every worker (hot plates are
  a fact of the world), the draws differ.

Plate lists default to the reference data of the run's seed; options override them
for a target with other data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.errors import ConfigError
from harness.opscom.builders import build_body
from harness.opscom.endpoints import ENDPOINTS
from harness.opscom.outcome import Outcome
from harness.traffic.bodies import encode_compact
from harness.traffic.call import Call, TrafficContext
from harness.traffic.options import Options
from harness.traffic.shared import Shared
from harness.traffic.skew import SEQUENCE_LENGTH, drawn_sequence, rng_for, zipf_weights

NAME = "enforcement"

PLATE = ENDPOINTS["plate_validate"]

DEFAULT_WEIGHTS: Mapping[str, float] = {
    "permit": 0.55,
    "unknown": 0.25,
    "alarm": 0.05,
    "dntt": 0.05,
    "pushed": 0.10,
}
# Populations with a plate list (``pushed`` is filled by the meters during the run).
LISTED = ("permit", "unknown", "alarm", "dntt")

_MASK = SEQUENCE_LENGTH - 1
_PUSHED_DRAWS = 4096  # power of two: the pushed-plate walk wraps with a mask too


class EnforcementTraffic:
    """Plate validations with a popularity skew; see the module docstring."""

    def __init__(
        self,
        ctx: TrafficContext,
        options: Mapping[str, Any] | None,
        where: str,
        *,
        shared: Shared | None = None,
    ) -> None:
        opts = Options(options, where)
        self.weights = opts.weights("weights", DEFAULT_WEIGHTS)
        self.skew = opts.number("skew", 1.1)
        ref = ctx.reference
        defaults = {
            "permit": ref.permit_plates,
            "unknown": ref.unknown_plates,
            "alarm": ref.alarm_plates,
            "dntt": ref.dntt_plates,
        }
        self.plates = {p: opts.strings(f"{p}_plates", defaults[p], min_items=0) for p in LISTED}
        opts.finish()
        self._check_populations(where)

        self.pushed = (shared or Shared()).pushed
        path = PLATE.path_for(ctx.client)

        def make(plate: str) -> Call:
            body = build_body(PLATE, token=ctx.token, client=ctx.client, values={"plate": plate})
            return Call(PLATE, path, encode_compact(body))

        self._make = make
        rank_rng = rng_for(ctx, NAME + ":rank", per_worker=False)
        ranked = {p: self._ranked(plates, rank_rng) for p, plates in self.plates.items()}
        self.calls: dict[str, Call] = {
            plate: make(plate) for plates in ranked.values() for plate in plates
        }

        rng = rng_for(ctx, NAME)
        items: list[Call | None] = []
        weights: list[float] = []
        for population, plates in ranked.items():
            w = self.weights[population]
            if w > 0 and plates:
                items.extend(self.calls[p] for p in plates)
                weights.extend(self._within(len(plates), w))
        if self.weights["pushed"] > 0:
            items.append(None)  # "a pushed plate": resolved at call time
            weights.append(self.weights["pushed"])
        self._seq = drawn_sequence(items, weights, rng)
        self._i = 0
        # Pushed plates: which ring slot to look at, and which permit plate to check
        # instead when that slot holds nothing valid (yet).
        self._pushed_k = [rng.randrange(1 << 30) for _ in range(_PUSHED_DRAWS)]
        permits = ranked["permit"]
        self._fallback = (
            drawn_sequence(
                [self.calls[p] for p in permits],
                zipf_weights(len(permits), self.skew),
                rng,
                _PUSHED_DRAWS,
            )
            if permits
            else []
        )
        self._j = 0
        # The call of the plate in each ring slot of the pushed record, made on the
        # first pick and reused until the slot holds another plate: at most one per
        # slot, so as bounded as the record, however many plates a soak pushes.
        self._pushed_calls: list[tuple[str, Call] | None] = [None] * self.pushed.capacity

    # --- TrafficSource ----------------------------------------------------------------

    def next_call(self, hit: int, now: float) -> Call | None:
        i = self._i
        self._i = (i + 1) & _MASK
        call = self._seq[i]
        if call is None:
            return self._pushed_call(now)
        return call

    def on_result(self, call: Call, outcome: Outcome, doc: Any, now: float) -> None:
        """Validations ask for no feedback: nothing to do."""

    # --- helpers ----------------------------------------------------------------------

    def _check_populations(self, where: str) -> None:
        for population in LISTED:
            if self.weights[population] > 0 and not self.plates[population]:
                raise ConfigError(
                    f"{where} {population}_plates: expected at least one plate, since "
                    f"weights.{population} is {self.weights[population]:g} (or set that weight to 0)"
                )
        if self.weights["pushed"] > 0 and not self.plates["permit"]:
            raise ConfigError(
                f"{where} permit_plates: expected at least one plate to check while no pushed "
                "plate is known yet (or set weights.pushed to 0)"
            )

    @staticmethod
    def _ranked(plates: Sequence[str], rng: Any) -> list[str]:
        """Plates in popularity order: a seeded shuffle, so the hot plates are not
        simply the first of the list (which may be sorted, or hand-written)."""
        out = list(dict.fromkeys(plates))
        rng.shuffle(out)
        return out

    def _within(self, n: int, population_weight: float) -> list[float]:
        z = zipf_weights(n, self.skew)
        scale = population_weight / sum(z)
        return [x * scale for x in z]

    def _pushed_call(self, now: float) -> Call:
        j = self._j
        self._j = (j + 1) & (_PUSHED_DRAWS - 1)
        slot = self.pushed.pick_slot(self._pushed_k[j], now)
        if slot < 0:
            return self._fallback[j]
        plate = self.pushed.plate_at(slot)
        cached = self._pushed_calls[slot]
        if cached is not None and cached[0] == plate:
            return cached[1]
        call = self._make(plate)
        self._pushed_calls[slot] = (plate, call)
        return call
