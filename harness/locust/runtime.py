"""What the users of one Locust process share during a test: where to send, the
traffic generators, the recording, and the run's clock.

Built when a test starts on a process that sends load (a worker, or Locust without
workers), from the scenario's settings and what the master decided for the whole run
(its run id and start time travel to the workers in Locust's spawn message). One
generator of each kind per process, shared by every user class that names it, so
ids a generator makes (tickets, plates, user names) never repeat within the run: they
carry the run's tag and the Locust worker's index.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.errors import ConfigError
from harness.opscom.reference_data import reference_data
from harness.traffic.call import TrafficContext, TrafficSource
from harness.traffic.mix import GENERATORS
from harness.traffic.shared import Shared

MAX_WORKER = 36 * 36 - 1  # ids carry the worker index in two base-36 digits

JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class Runtime:
    recording: Any  # harness.locust.recording.Recording
    controller_base: str  # "http://127.0.0.1:8080" (with any base path)
    plate_base: str
    ctx: TrafficContext
    traffic: Mapping[str, Mapping[str, Any]]  # generator -> its options ([traffic.<name>])
    where: str  # the locustfile, for errors in the options
    t0_ns: int  # perf_counter_ns of the run's t=0 in this process
    users_total: int = 1  # users of the whole run when it started (paced users split the rate)
    settings: Mapping[str, Any] = field(default_factory=dict)  # the scenario's own options (rate, ...)
    shared: Shared = field(default_factory=Shared)
    state: dict[str, Any] = field(default_factory=dict)  # a scenario's own (replay: its queue)
    _sources: dict[str, TrafficSource] = field(default_factory=dict)
    _hits: int = 0

    def next_hit(self) -> int:
        """Numbers the calls this process makes (a source's ``hit``)."""
        self._hits += 1
        return self._hits - 1

    def now(self) -> float:
        """Seconds since the run's t=0."""
        return (time.perf_counter_ns() - self.t0_ns) / 1e9

    def source(self, generator: str) -> TrafficSource:
        """This process's generator ``generator`` (``meters``, ``enforcement``, ...)."""
        made = self._sources.get(generator)
        if made is None:
            if generator not in GENERATORS:
                raise ConfigError(f"{self.where}: unknown generator {generator!r}; expected one of "
                                  f"{', '.join(GENERATORS)}")
            made = GENERATORS[generator](self.ctx, self.traffic.get(generator),
                                         f"{self.where}: traffic[{generator!r}]", shared=self.shared)
            self._sources[generator] = made
        return made


def traffic_context(*, client: str, token: str, restricted_token: str | None, seed: int, worker: int,
                    run_id: str, started_at: float, metrics: Any) -> TrafficContext:
    if not 0 <= worker <= MAX_WORKER:
        raise ConfigError(f"Locust worker index {worker}: the traffic's ids support at most {MAX_WORKER + 1} workers")
    return TrafficContext(
        client=client,
        token=token,
        restricted_token=restricted_token,
        seed=seed,
        worker=worker,
        workers=worker + 1,
        run_id=run_id,
        wall_start=datetime.fromtimestamp(started_at, UTC).replace(tzinfo=None),
        reference=reference_data(seed),
        metrics=metrics,
    )


def t0_from_wall(started_at: float) -> int:
    """The perf_counter_ns instant of the wall-clock time ``started_at``."""
    return time.perf_counter_ns() - int((time.time() - started_at) * 1e9)
