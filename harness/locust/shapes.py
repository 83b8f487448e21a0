"""``StagesShape``: a Locust ``LoadTestShape`` written as a table of stages in the
scenario's own time (an afternoon, a morning), played faster by a time scale.

    class PeakEvent(StagesShape):
        stages = (
            Stage("early arrivals", minutes=30, users=20, classes=("Arrival",)),
            Stage("arrival surge", minutes=30, users=120, classes=("Arrival", "Sweep")),
            ...
        )

``--time-scale N`` plays N scenario seconds per real second (60: an hour in a
minute); ``--user-scale F`` multiplies every stage's users (0.1 for a laptop or CI;
at least one user of a stage with users). Each stage holds its users for its
scaled length; a change of user count is spread over the first quarter of the
stage (at least 1 user/s). The classes of a stage are the only ones Locust runs
during it (Locust's per-tick user classes); users of other classes are stopped.
Users keep their own pace (think times are not scaled): the time scale compresses
the day's phases, not each device's behaviour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from locust import LoadTestShape

from harness.locust.spec import Extra

DEFAULT_TIME_SCALE = 60.0


@dataclass(frozen=True)
class Stage:
    label: str
    minutes: float  # its length in scenario time
    users: int  # concurrent users during the stage (before --user-scale)
    classes: tuple[str, ...] = ()  # user class names; () = every class of the locustfile


def parse_scale(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"expected a positive number, got {text!r}")
    return value


class StagesShape(LoadTestShape):
    abstract = True
    stages: ClassVar[tuple[Stage, ...]] = ()

    default_time_scale: ClassVar[float] = DEFAULT_TIME_SCALE

    def _option(self, name: str, default: float) -> float:
        parsed = getattr(getattr(self.runner, "environment", None), "parsed_options", None)
        raw = getattr(parsed, name, None)
        return default if raw is None else parse_scale(str(raw))

    @property
    def time_scale(self) -> float:
        return self._option("time_scale", self.default_time_scale)

    @property
    def user_scale(self) -> float:
        return self._option("user_scale", 1.0)

    def scaled_users(self, stage: Stage) -> int:
        return 0 if stage.users == 0 else max(1, round(stage.users * self.user_scale))

    def real_seconds(self, stage: Stage) -> float:
        return stage.minutes * 60.0 / self.time_scale

    def total_seconds(self) -> float:
        return sum(self.real_seconds(s) for s in self.stages)

    def current(self) -> tuple[int, Stage] | None:
        """The stage running now (its index), or None when the plan is over."""
        t = self.get_run_time()
        end = 0.0
        for i, stage in enumerate(self.stages):
            end += self.real_seconds(stage)
            if t < end:
                return i, stage
        return None

    def tick(self) -> tuple[int, float, list[Any] | None] | None:
        now = self.current()
        if now is None:
            return None
        i, stage = now
        users = self.scaled_users(stage)
        before = self.scaled_users(self.stages[i - 1]) if i > 0 else 0
        spawn_rate = max(1.0, abs(users - before) / max(0.25 * self.real_seconds(stage), 1e-3))
        classes = None
        if stage.classes:
            by_name = self.runner.environment.user_classes_by_name if self.runner else {}
            classes = [by_name[name] for name in stage.classes if name in by_name] or None
        return users, spawn_rate, classes

    def describe(self) -> list[dict[str, Any]]:
        """The stages as summary.json's plan records them."""
        return [{"label": s.label, "minutes": s.minutes, "users": self.scaled_users(s),
                 "real_seconds": round(self.real_seconds(s), 3), "classes": list(s.classes)} for s in self.stages]


def shape_options(default_time_scale: float = DEFAULT_TIME_SCALE) -> tuple[Extra, ...]:
    """The ``--time-scale`` and ``--user-scale`` options of a scenario with stages."""
    return (
        Extra(flag="--time-scale", key="time_scale", parse=parse_scale, default=default_time_scale, metavar="N",
              help=f"scenario seconds per real second (default {default_time_scale:g}: "
                   f"{default_time_scale / 60:g} hour(s) of the day per minute)"),
        Extra(flag="--user-scale", key="user_scale", parse=parse_scale, default=1.0, metavar="F",
              help="multiply every stage's users (default 1; 0.1 for a laptop or CI)"),
    )
