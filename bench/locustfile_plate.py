"""Locust peer of bench/transport_bench.py: FastHttpUser POSTing the plate validation.

Run headless in one process, e.g.::

    taskset -c 1 locust -f bench/locustfile_plate.py --headless -u 64 -r 64 -t 10s \
        --host http://127.0.0.1:PORT --only-summary --csv bench/.work/locust

No wait time: each user sends its next request as soon as the answer is in, like wrk and
the harness's closed model.
"""

from __future__ import annotations

from locust import FastHttpUser, constant, task

PATH = "/api/v1/validate/plate"
BODY = b'{"api_token":"x","client":"OC_TOMA","plate":"ABC123"}'
HEADERS = {"Content-Type": "application/json"}


class PlateUser(FastHttpUser):
    """One virtual user validating the same plate in a loop."""

    wait_time = constant(0)

    @task
    def validate_plate(self) -> None:
        """POST the fixed body; Locust counts non-2xx answers as failures."""
        self.client.post(PATH, data=BODY, headers=HEADERS)
