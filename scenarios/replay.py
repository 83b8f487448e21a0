"""replay: a recording played through Locust users, sharded across workers.

Each call goes out at its recorded time divided by ``--speed``, measured from that
due time; the reference ids of replayed answers replace the recorded ones in the
calls that follow (a push's update and delete), and every correlated chain stays
on one worker. ``-u`` users are the concurrency; the test ends when the recording
is played.

    OPSCOM_API_TOKEN=... locust -f scenarios/replay.py --headless -H http://127.0.0.1:8080 \\
        --recording recordings/event.jsonl.zst --speed 10 -u 50 -r 50
    # the same over two workers (each needs the recording at the same path)
    locust -f scenarios/replay.py --master --expect-workers 2 --headless -H ... --recording ... --speed 10 -u 50
    locust -f scenarios/replay.py --worker --master-host MASTER        # on each worker machine
"""

from __future__ import annotations

from harness.locust import replay_scenario as replay
from harness.locust.scenario import LocustfileScenario, ScenarioSpec

SCENARIO = LocustfileScenario(ScenarioSpec(
    name="replay",
    file=__file__,
    description="a recording played at --speed, ids correlated per chain, chains sharded over the workers",
    model="open",
    extras=replay.OPTIONS,
    check=replay.check,
    prepare=replay.prepare,
    start_lead_s=replay.START_LEAD_S,
))


class Player(replay.ReplayUser):
    """Plays the calls of this process's share of the recording as they fall due."""


class Replay(replay.ReplayShape):
    pass
