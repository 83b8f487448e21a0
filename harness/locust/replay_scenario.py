"""The pieces of ``scenarios/replay.py``: its options, the users that play a
recording (``harness.locust.replaying``) and the shape that ends the test when the
recording is over.

- ``--recording FILE`` (needed on every node, at the same path), ``--speed N``
  (recorded offsets divided by N; default 1).
- ``ReplayUser``: takes the next call due in its process's share, waits for its due
  time, waits for the answers it takes ids from, sends it with the replayed ids,
  and measures from the due time (basis "intended"). Locust's ``-u`` users are the
  concurrency: calls that find every user busy leave late, and that shows.
- ``ReplayShape``: ``-u`` users (``-r`` per second) until the last call is due
  plus the drain (request timeout + 1 s), then the test ends by itself.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

from locust import LoadTestShape, task
from locust.exception import StopUser

from harness.errors import ConfigError
from harness.locust.replaying import Recorded, ReplayQueue, read_recording, recording_seconds
from harness.locust.runtime import Runtime
from harness.locust.spec import Extra
from harness.locust.users import OpscomUser
from harness.opscom.outcome import UNSENT, Outcome
from harness.traffic.call import Call

_now_ns = time.perf_counter_ns
START_LEAD_S = 2.0  # the run's t=0 after the master's start: workers read the recording meanwhile


def _speed(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"expected a positive speed factor such as 2 or 0.5, got {text!r}")
    return value


def _path(text: str) -> str:
    if not text.strip():
        raise ValueError("expected a recording file")
    return text


OPTIONS = (
    Extra(flag="--recording", key="recording", parse=_path, default=None, metavar="FILE",
          help="the recording to play (JSON lines, .zst compressed or not), at the same path on every node"),
    Extra(flag="--speed", key="speed", parse=_speed, default=1.0, metavar="N",
          help="play N times faster than recorded (default 1)"),
)


def check(environment: Any, settings: dict[str, Any]) -> None:
    """At start-up: the recording must be there and readable; the master learns how
    long the replay lasts."""
    path = settings.get("recording")
    if not path:
        raise ConfigError("--recording: the replay scenario needs a recording to play (--recording FILE)")
    _, calls = read_recording(Path(path))
    environment.opscom_replay_seconds = recording_seconds(calls) / float(settings["speed"])


def prepare(runtime: Runtime, shard: tuple[int, int]) -> None:
    """When a test starts here: this process's share of the recording, whole chains."""
    settings = runtime.settings
    header, calls = read_recording(Path(settings["recording"]))
    runtime.state["replay"] = ReplayQueue(calls, shard=shard, speed=float(settings["speed"]), client=runtime.ctx.client,
                                          recorded_client=str(header["client"]), token=runtime.ctx.token)


class ReplayUser(OpscomUser):
    abstract = True
    latency_basis = "intended"
    parent_timeout_s: ClassVar[float] = 10.0  # how long a call waits for the answer it takes ids from

    def on_start(self) -> None:
        super().on_start()
        self.queue: ReplayQueue = self.runtime.state["replay"]
        self.item: tuple[int, Recorded] | None = None

    def wait_time(self) -> float:
        return 0.0 if self.item is None else max(0.0, (self.item[0] - _now_ns()) / 1e9)

    @task
    def replay(self) -> None:
        if self.item is None:
            call = self.queue.pop()
            if call is None:
                raise StopUser()  # this process has played its share
            self.item = (self.queue.due_ns(call, self.runtime.t0_ns), call)
            if self.item[0] > _now_ns():
                return  # the wait sleeps until it is due
        due, recorded = self.item
        self.item = None
        if recorded.needs and not self.queue.wait_parents(recorded, self.parent_timeout_s):
            self.runtime.recording.record_not_sent(recorded.name, self.latency_basis, UNSENT)
            self.runtime.recording.metrics.count("replay.orphaned")
            self.queue.answered(recorded, False, None)
            return
        self.send(self.queue.build(recorded), due, source=self)

    def on_result(self, call: Call, outcome: Outcome, doc: Any, now: float) -> None:
        self.queue.answered(call.tag, outcome.ok, doc)


class ReplayShape(LoadTestShape):
    """-u users until the recording is played (plus the drain), then the end."""

    abstract = True
    use_common_options = True
    drain_s: ClassVar[float] = 11.0

    def tick(self) -> tuple[int, float] | None:
        environment = self.runner.environment
        seconds = float(getattr(environment, "opscom_replay_seconds", 0.0))
        if self.get_run_time() > START_LEAD_S + seconds + self.drain_s or self._played(environment):
            return None
        options = environment.parsed_options
        users = int(getattr(options, "num_users", None) or 10)
        return users, float(getattr(options, "spawn_rate", None) or users)

    def _played(self, environment: Any) -> bool:
        """Every user stopped: each process has played its share (a master learns its
        workers' user counts from their reports, within a few seconds)."""
        runner = self.runner
        started = self.get_run_time() > START_LEAD_S + 1
        return started and runner.state == "running" and runner.user_count == 0
