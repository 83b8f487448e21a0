"""morning_rush: commuter lots filling between 6:00 and 9:30.

Three and a half hours of a weekday morning in scenario time:

| stage | clock | users | who |
| --- | --- | ---: | --- |
| first shift | 6:00-7:00 | 20 | meters and apps selling all-day permits |
| the rush builds | 7:00-8:00 | 90 | permit pushes climb; enforcement starts its rounds |
| peak | 8:00-8:45 | 180 | the lots fill: pushes and sweeps at their highest |
| lots full | 8:45-9:30 | 70 | few new permits; the sweep checks who paid |

Commuters buy 8-10 hour permits; few extend, fewer get a refund. ``--time-scale``
(default 60: the morning in 3.5 minutes) and ``--user-scale`` as in peak_event.

    OPSCOM_API_TOKEN=... locust -f scenarios/morning_rush.py --headless -H http://127.0.0.1:8080
"""

from __future__ import annotations

from locust import between

from harness.locust.scenario import LocustfileScenario, ScenarioSpec
from harness.locust.shapes import Stage, StagesShape, shape_options
from harness.locust.users import GeneratedUser

SCENARIO = LocustfileScenario(ScenarioSpec(
    name="morning_rush",
    file=__file__,
    description="commuter lots filling: all-day permits climbing to an 8:30 peak, then the enforcement sweep",
    checks=("permit_push.p99<500ms", "plate_validate.p99<250ms"),
    traffic={
        "meters": {"duration": "8h..10h", "update_share": 0.05, "delete_share": 0.02,
                   "followup_delay": "10s..60s", "extension": "1h..2h"},
        "enforcement": {"weights": {"pushed": 0.4}},
    },
    extras=shape_options(),
))


class Commuter(GeneratedUser):
    """A meter or an app selling a commuter an all-day permit."""

    generator = "meters"
    weight = 2
    wait_time = between(1, 4)


class Sweep(GeneratedUser):
    """An officer working through the rows of a lot."""

    generator = "enforcement"
    weight = 1
    wait_time = between(0.5, 1.5)


class MorningRush(StagesShape):
    stages = (
        Stage("first shift (6:00-7:00)", minutes=60, users=20, classes=("Commuter",)),
        Stage("the rush builds (7:00-8:00)", minutes=60, users=90, classes=("Commuter", "Sweep")),
        Stage("peak (8:00-8:45)", minutes=45, users=180, classes=("Commuter", "Sweep")),
        Stage("lots full (8:45-9:30)", minutes=45, users=70, classes=("Sweep", "Commuter")),
    )
