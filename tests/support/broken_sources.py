"""Traffic sources that fail on purpose, for the crash tests. Importable by worker
processes (spawned), so they are a module of their own, not defined in a test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.opscom import ENDPOINTS, build_body, encode_body
from harness.opscom.outcome import Outcome
from harness.traffic.call import Call, TrafficContext, TrafficSource

PLATE = ENDPOINTS["plate_validate"]


class Exploding:
    """Plate lookups, then an exception out of ``next_call`` after ``after`` calls."""

    def __init__(self, ctx: TrafficContext, after: int) -> None:
        self.after = after
        self.made = 0
        body = build_body(PLATE, token=ctx.token, client=ctx.client, values={"plate": "ABC123"})
        self.call = Call(PLATE, PLATE.path, encode_body(body))

    def next_call(self, hit: int, now: float) -> Call | None:
        self.made += 1
        if self.made > self.after:
            raise RuntimeError(f"source exploded after {self.after} calls")
        return self.call

    def on_result(self, call: Call, outcome: Outcome, doc: Any, now: float) -> None:
        pass


@dataclass(frozen=True)
class ExplodingSpec:
    after: int

    def build(self, ctx: TrafficContext) -> TrafficSource:
        return Exploding(ctx, self.after)

    def names(self) -> tuple[str, ...]:
        return ()

    def describe(self) -> dict[str, Any]:
        return {"kind": "exploding", "after": self.after}
