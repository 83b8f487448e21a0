"""semester_start: the first week of a university semester.

The student system syncs its profiles and vehicles in bulk (a couple of batch jobs,
each pushing as fast as the controller answers) while students buy their permits
from the app and enforcement keeps checking plates. No shape: choose the crowd with
``-u``; the sync jobs are always exactly two users (``fixed_count``), the rest are
split 4 : 2 : 1 between permit buyers, handhelds, and a client with deliberately
wrong requests (each must get its own error code back, so a wrong answer shows as a
contract violation, not as load).

    OPSCOM_API_TOKEN=... locust -f scenarios/semester_start.py --headless -H http://127.0.0.1:8080 \\
        -u 40 -r 10 -t 5m
"""

from __future__ import annotations

from locust import between, constant

from harness.locust.scenario import LocustfileScenario, ScenarioSpec
from harness.locust.users import GeneratedUser

SCENARIO = LocustfileScenario(ScenarioSpec(
    name="semester_start",
    file=__file__,
    description="bulk profile and vehicle sync from the student system alongside permit pushes",
    checks=("profile_push.p99<500ms", "vehicle_push.p99<500ms", "permit_push.p99<500ms"),
    traffic={
        "integrations": {"weights": {"profile_push": 0.55, "vehicle_push": 0.45, "permit_stats": 0,
                                     "user_types": 0, "overdue_violations": 0}, "update_share": 0.2},
        # Semester permits: four months; almost nobody extends one in the first week.
        "meters": {"duration": "1h..4h", "update_share": 0.02, "delete_share": 0.05},
        # Without a restricted token (restricted_token_env) 9002 cannot be provoked.
        "invalid": {"codes": [9001, 9003, 9006, 9030, 9031, 9032, 9033, 9034]},
    },
))


class StudentSync(GeneratedUser):
    """A batch job of the student information system: profiles and vehicles, back to back."""

    generator = "integrations"
    fixed_count = 2
    wait_time = constant(0)


class PermitBuyer(GeneratedUser):
    """A student buying a permit in the app."""

    generator = "meters"
    weight = 4
    wait_time = between(1, 3)


class Sweep(GeneratedUser):
    generator = "enforcement"
    weight = 2
    wait_time = between(0.5, 2)


class BadClient(GeneratedUser):
    """An integration with bugs: every request is wrong in a known way."""

    generator = "invalid"
    weight = 1
    wait_time = between(0.5, 2)
