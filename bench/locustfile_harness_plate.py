"""Locust peer of bench/locustfile_plate.py with the harness's instrumentation on.

The same request (a POST of the same plate-validation body to the same path), sent
by ``OpscomUser.send``: named after its endpoint, classified by the OPSCOM model,
recorded in the harness's HDR metrics, reported to Locust as a success or a named
failure, merged into the run directory at the end. The difference in throughput
between the two locustfiles, same core and target, is the instrumentation's cost.

    taskset -c 1 locust -f bench/locustfile_harness_plate.py --headless -u 64 -r 64 -t 10s \\
        --host http://127.0.0.1:PORT --only-summary --report-dir bench/.work/reports
"""

from __future__ import annotations

from locust import constant, task

from harness.locust.scenario import LocustfileScenario, ScenarioSpec
from harness.locust.users import OpscomUser
from harness.opscom.endpoints import ENDPOINTS
from harness.traffic.call import Call

SCENARIO = LocustfileScenario(ScenarioSpec(
    name="bench_locust_plate",
    file=__file__,
    description="benchmark: one fixed plate validation, as bench/locustfile_plate.py sends it",
))

CALL = Call(ENDPOINTS["plate_validate"], "/api/v1/validate/plate",
            b'{"api_token":"x","client":"OC_TOMA","plate":"ABC123"}')


class PlateUser(OpscomUser):
    """One virtual user validating the same plate in a loop, measured by the harness."""

    wait_time = constant(0)

    @task
    def validate_plate(self) -> None:
        self.send(CALL)
