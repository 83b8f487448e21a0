"""The harness on Locust: OPSCOM users, one truth merged from every worker, the engine
on Locust's workers.

Locustfiles in ``scenarios/`` use this package; nothing else in the harness imports it.

| module | holds |
| --- | --- |
| ``options`` | the Locust options (``--client``, ``--check``, ``--report-dir``, ...) from ``harness.options.OPTIONS`` |
| ``spec`` | what a locustfile declares (``ScenarioSpec``) and its options resolved into a ``Plan`` |
| ``recording`` | one process's ``Metrics`` and its per-second ticks, shipped as ``take()`` |
| ``failures`` | how an outcome is named in Locust's statistics (``9006 Plate is a required field``) |
| ``users`` | ``OpscomUser`` (FastHttpUser) and ``PacedUser`` (latency from the intended time) |
| ``board`` | the live per-endpoint view (codes, HDR percentiles) the web UI tab reads |
| ``webui`` | the tab and its JSON endpoint |
| ``collector`` | the master's merge of the workers' shipments |
| ``verdict`` | judging merged metrics into the run directory and Locust's exit code |
| ``runtime`` | what the users of one process share: targets, generators, the run's clock |
| ``scenario`` | wiring a locustfile scenario to Locust's events (master, worker, local) |
| ``shapes`` | ``StagesShape``: a LoadTestShape from a table of stages, with a time scale |
| ``replaying`` | a recording read and linked into chains, played in order of due time |
| ``replay_scenario`` | the replay users, options and shape |
| ``engine_child`` | the harness engine in a process of its own (no gevent), driven over a pipe |
| ``engine_host`` | a Locust worker's side: starts its engine, forwards orders and reports |
| ``engine_scenario`` | the engine scenario: shards on Locust workers, a common start, the merge |

Importing this package does not import Locust (``engine_child`` must run in a process
that gevent never patched); the submodules that need Locust import it themselves.
"""
