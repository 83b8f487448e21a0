"""A source of plain HTTP requests that are not OPSCOM calls (a GET with a query and
a header, a POST with its own content type, a GET that answers 404), for the
library tests. A module of its own so worker processes can import it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.opscom.outcome import Outcome
from harness.traffic.call import Call, TrafficContext, TrafficSource


class Requests:
    def __init__(self) -> None:
        self.calls = (
            Call(None, "/status", method="GET", query="verbose=1&zone=Lot%2001", headers=(("X-Trace", "abc-123"),),
                 name="status_get"),
            Call(None, "/other/thing", b'{"hello":"world"}', method="POST", name="other_post",
                 headers=(("X-Source", "harness-test"), ("Content-Type", "application/x-test"))),
            Call(None, "/missing", method="GET", name="missing_get"),
        )

    def next_call(self, hit: int, now: float) -> Call | None:
        return self.calls[hit % 3]

    def on_result(self, call: Call, outcome: Outcome, doc: Any, now: float) -> None:
        pass


@dataclass(frozen=True)
class RequestsSpec:
    def build(self, ctx: TrafficContext) -> TrafficSource:
        return Requests()

    def names(self) -> tuple[str, ...]:
        return ("status_get", "other_post", "missing_get")

    def describe(self) -> dict[str, Any]:
        return {"kind": "plain requests"}
