"""The master's side of one Locust run: the workers' shipments merged exactly.

Each shipment is what one process measured since its previous one
(``Recording.take``): encoded ``Metrics`` (added bucket by bucket, counter by
counter) and the one-second ticks it closed (added into the run's timeline and the
live board). Shipments may come in any order and any number; the sum is the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gevent.event import Event

from harness.locust.board import LiveBoard
from harness.locust.verdict import utc_now
from harness.metrics import Metrics
from harness.timeline import Timeline


class Collector:
    def __init__(self, run_id: str, started_at: float, workers: int) -> None:
        self.run_id = run_id
        self.started_at = started_at  # the run's t=0, wall clock
        self.started = utc_now()
        self.stopping_at: float | None = None
        self.metrics = Metrics()
        # One timeline for every worker: a worker's tick for a second another has
        # already completed is folded into it (Timeline.add), never lost.
        self.timeline = Timeline(1)
        self.board = LiveBoard()
        self.workers = workers
        self.peak_users = 0
        self.errors: list[str] = []
        self.awaiting: set[str] = set()  # workers whose last shipment is still due
        self.flushed = Event()
        self.judged = False
        self.shipments = 0

    def add(self, shipped: Mapping[str, Any]) -> None:
        self.metrics.merge(shipped["metrics"])
        for tick in shipped["ticks"]:
            self.timeline.add(0, tick)
            self.board.add_tick(tick)
        self.shipments += 1
