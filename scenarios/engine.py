"""engine: a harness scenario (TOML) driven by the harness engine on Locust's workers.

For rates one Locust process cannot reach (a FastHttpUser process does a few
thousand requests a second, one harness engine process tens of thousands) and for
Locust's distribution and web UI: the master and workers orchestrate, and each
worker runs the engine in a process of its own on its share of one ``harness run``
plan (worker k of N: hits k, k+N, ...), started together, merged at the end into
the run directory ``harness run`` writes. ``-t`` is the duration.

    OPSCOM_API_TOKEN=... locust -f scenarios/engine.py --headless -H http://127.0.0.1:8080 \\
        --scenario scenarios/release.toml -t 3m
    OPSCOM_API_TOKEN=... locust -f scenarios/engine.py --headless -H http://127.0.0.1:8080 \\
        --processes 2 --rate 20000 --mix enforcement=90,meters=10 -t 1m --check 'all.p99<50ms'

Locust's user count does not matter: the one user class below only holds Locust's
place. The load flags are those of ``harness run`` (``--rate``, ``--arrival``,
``--mix``, ``--connections``, ``--procs`` per worker, ...; its ``--users`` is
``--engine-users`` here, Locust owning ``--users``).
"""

from __future__ import annotations

from locust import User, constant, task

from harness.locust.engine_scenario import EngineScenario

SCENARIO = EngineScenario(name="engine", file=__file__)


class EngineHost(User):
    """Holds Locust's place: the load comes from the engines, not from users."""

    wait_time = constant(3600)

    @task
    def idle(self) -> None:
        pass
