"""The harness on Locust: OPSCOM users, one truth merged from every worker, the engine
on Locust's workers.

Locustfiles in ``scenarios/`` use this package; nothing else in the harness imports it.

| module | holds |
| --- | --- |
| ``options`` | the Locust options (``--client``, ``--check``, ``--report-dir``, ...) from ``harness.options.OPTIONS`` |
| ``recording`` | one process's ``Metrics`` and its per-second ticks, shipped as ``take()`` |
| ``failures`` | how an outcome is named in Locust's statistics (``9006 Plate is a required field``) |
| ``users`` | ``OpscomUser`` (FastHttpUser) and ``PacedUser`` (latency from the intended time) |
| ``board`` | the live per-endpoint view (codes, HDR percentiles) the web UI tab reads |
| ``webui`` | the tab and its JSON endpoint |
| ``outcome`` | judging merged metrics into the run directory and Locust's exit code |
| ``scenario`` | wiring a locustfile scenario to Locust's events (master, worker, local) |
| ``shapes`` | ``StagesShape``: a LoadTestShape from a table of stages, with a time scale |
| ``replaying`` | a recording played by Locust users, sharded by correlated chain |
| ``engine_child`` | the harness engine in a process of its own (no gevent), driven over a pipe |
| ``engine_scenario`` | the engine scenario: shards on Locust workers, a common start, the merge |

Importing this package does not import Locust (``engine_child`` must run in a process
that gevent never patched); the submodules that need Locust import it themselves.
"""
