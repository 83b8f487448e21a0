"""peak_event: an arena or stadium event, from the gates opening to the last car leaving.

Three hours of the afternoon in scenario time (the event starts at minute 60):

| stage | minutes | users | who |
| --- | ---: | ---: | --- |
| gates open, early arrivals | 0-30 | 40 | meters and apps pushing permits |
| arrival surge | 30-60 | 200 | permit pushes peak; the first sweeps |
| event starts: enforcement sweeps | 60-90 | 120 | plate validations dominate; late arrivals |
| during the event | 90-150 | 40 | extensions and refunds, occasional sweeps, dashboards |
| second wave at the end | 150-180 | 160 | extensions of those who stay, refunds, a last sweep |

Each user is a device with its own think time: a meter or app user pushes a permit
every 1-3 s (and the extensions and refunds of earlier permits when they fall due),
a handheld validates a plate every 0.2-1 s, a dashboard polls the zone statistics
every 2-5 s. ``--time-scale`` compresses the afternoon (default 60: the three hours
in three minutes); ``--user-scale`` shrinks the crowd for a small machine.

    OPSCOM_API_TOKEN=... locust -f scenarios/peak_event.py --headless -H http://127.0.0.1:8080
    OPSCOM_API_TOKEN=... locust -f scenarios/peak_event.py --headless -H http://127.0.0.1:8080 \\
        --time-scale 600 --user-scale 0.2 --check 'permit_push.p99<300ms'
"""

from __future__ import annotations

from locust import between

from harness.locust.scenario import LocustfileScenario, ScenarioSpec
from harness.locust.shapes import Stage, StagesShape, shape_options
from harness.locust.users import GeneratedUser

SCENARIO = LocustfileScenario(ScenarioSpec(
    name="peak_event",
    file=__file__,
    description="arena event: arrivals climb for an hour, enforcement sweeps at the start, "
                "refunds and extensions, a second wave at the end",
    checks=("permit_push.p99<500ms", "plate_validate.p99<250ms"),
    traffic={
        # Event parking: 3-5 h permits, a third extended, one in eight refunded;
        # follow-ups within a minute, so a compressed afternoon still sees them.
        "meters": {"duration": "3h..5h", "update_share": 0.35, "delete_share": 0.12,
                   "followup_delay": "5s..60s", "extension": "30m..1h"},
        # Sweeps check the plates just paid for more often than on a quiet day.
        "enforcement": {"weights": {"pushed": 0.3}},
        "integrations": {"weights": {"permit_stats": 1.0, "profile_push": 0, "vehicle_push": 0, "user_types": 0,
                                     "overdue_violations": 0}},
    },
    extras=shape_options(),
))


class Arrival(GeneratedUser):
    """A meter or a parking app: a permit push, or an earlier permit's extension or refund."""

    generator = "meters"
    weight = 3
    wait_time = between(1, 3)


class Sweep(GeneratedUser):
    """An officer's handheld or a plate camera validating plates."""

    generator = "enforcement"
    weight = 3
    wait_time = between(0.2, 1)


class Dashboard(GeneratedUser):
    """The operations room polling zone statistics."""

    generator = "integrations"
    weight = 1
    wait_time = between(2, 5)


class PeakEvent(StagesShape):
    stages = (
        Stage("gates open, early arrivals", minutes=30, users=40, classes=("Arrival",)),
        Stage("arrival surge", minutes=30, users=200, classes=("Arrival", "Sweep")),
        Stage("event starts: enforcement sweeps", minutes=30, users=120, classes=("Sweep", "Arrival")),
        Stage("during the event", minutes=60, users=40, classes=("Arrival", "Sweep", "Dashboard")),
        Stage("second wave at the end", minutes=30, users=160, classes=("Arrival", "Sweep", "Dashboard")),
    )
