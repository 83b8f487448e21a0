"""plate_sweep: officers and plate cameras sweeping a lot at a fixed total rate.

The constant-arrival-rate case: ``--rate N`` plate validations per second in total,
split evenly over the users (``-u``), each user keeping its own schedule. Latency is
measured from the time each validation was *due*, so when the target stalls the
requests queued behind the stall show their wait (Locust alone would report the
service time of the few that were on the wire).

    OPSCOM_API_TOKEN=... locust -f scenarios/plate_sweep.py --headless -H http://127.0.0.1:8080 \\
        -u 50 -r 50 -t 2m --rate 500 --check 'plate_validate.p99<250ms'

Users: ``-u`` users of ``Sweep``, started together (``-r`` = ``-u``); each sends
``rate / users`` per second. Give enough users that each has time for its answers:
at 500/s and a 5 ms answer, 10 users would do; 50 keep up through a 100 ms slowdown.
"""

from __future__ import annotations

from harness.locust.scenario import LocustfileScenario, ScenarioSpec
from harness.locust.users import PacedUser

SCENARIO = LocustfileScenario(ScenarioSpec(
    name="plate_sweep",
    file=__file__,
    description="paced plate validations at a fixed total arrival rate (--rate), latency from the due time",
    model="open",
    load_keys=("load.rate",),
    checks=("plate_validate.p99<250ms", "achieved_rate>=95%"),
    traffic={"enforcement": {}},
))


class Sweep(PacedUser):
    """A handheld or camera validating plates on its share of the schedule."""

    generator = "enforcement"
