"""The engine scenario: ``harness run``'s engine on Locust's workers.

Locust's master and workers orchestrate; the load comes from the harness engine, one
per Locust worker, each in a process of its own (``engine_child``; not under
gevent). With N workers, worker k runs shard (k, N) of one ``harness run`` plan:
hits k, k+N, k+2N, ... of the one schedule (the closed model's users and the
connections split N ways), so N workers together send exactly what one
``harness run`` would.

The run, by Locust event:

- ``init``: the options (``--scenario FILE`` and the load flags of ``harness run``,
  Locust's ``-t`` as the duration) are checked as ``harness run`` checks them;
  Locust's own run-time timer is switched off, since the run ends when the engines
  do (schedule plus drain).
- ``test_start`` (master): each worker is sent its shard; it starts its engine,
  which opens its connections and says ready. When all are ready the master sends
  one start instant (wall clock, a second ahead), and every engine starts then.
- During the run each engine streams its seconds; the master adds them into the
  run's timeline and the web UI's OPSCOM tabs (live rate and HDR percentiles).
- At the end each engine sends its encoded metrics; the master merges them exactly,
  writes the run directory of ``harness run`` and sets Locust's exit code; then it
  stops the Locust test (and quits, headless).
- ``test_stopping`` before the end (the web UI's Stop, Ctrl-C, SIGTERM): the master
  tells every engine to stop (they stop sending, drain briefly, report), waits for
  their reports, and writes the run directory marked interrupted.

Locust's own statistics stay empty: the engine's requests do not go through Locust
users. The OPSCOM tabs and ``/opscom/live`` show the run.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.event import Event
from locust import events as locust_events
from locust.runners import MasterRunner, WorkerRunner

from harness.api import external_target
from harness.engine import Model
from harness.errors import HarnessError
from harness.locust import options as flags_mod
from harness.locust import webui
from harness.locust.board import LiveBoard
from harness.locust.collector import Collector
from harness.locust.engine_host import (
    MSG_FAILED,
    MSG_FINAL,
    MSG_GO,
    MSG_PREPARE,
    MSG_READY,
    MSG_STOP,
    MSG_TICK,
    EngineWorker,
)
from harness.locust.spec import claim
from harness.locust.verdict import EXIT_USAGE, Measured, conclude, headline, say_error
from harness.options import OPTIONS
from harness.plan import Override, Plan, load_plan
from harness.timeline import Timeline

START_LEAD_S = 1.0  # between the start message and the start instant, for every worker to get it
READY_TIMEOUT_S = 120.0
END_GRACE_S = 30.0  # beyond schedule and drain, how long the master waits for the reports
STOP_GRACE_S = 10.0  # after a stop, beyond the drain's grace (2 s), before a shard counts as lost

# The load flags of harness run, but the duration (Locust's -t) and the seed (common).
LOAD_KEYS = tuple(o.key for o in OPTIONS if o.group == "load" and o.flag and o.key not in ("load.duration",)
                  and o.key not in flags_mod.COMMON_KEYS)


def share(total: int, k: int, n: int) -> int:
    """Shard k's part of ``total`` split n ways, as evenly as possible."""
    return total // n + (1 if k < total % n else 0)


@dataclass
class _Run:
    """The master's side of one engine run."""

    run_id: str
    plan: Plan
    host: str
    shards: list[str]  # Locust worker ids, by shard number
    collector: Collector
    ready: set[int] = field(default_factory=set)
    finals: dict[int, dict[str, Any]] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    usage_failure: bool = False
    stop_reason: str | None = None
    changed: Event = field(default_factory=Event)
    done: Event = field(default_factory=Event)

    def settled(self, k: int) -> bool:
        return k in self.finals or k in self.failures

    def all_settled(self) -> bool:
        return all(self.settled(k) for k in range(len(self.shards)))


class EngineScenario:
    def __init__(self, name: str, file: str, events: Any = locust_events) -> None:
        claim(name, file)
        self.name = name
        self.file = file
        self.events = events
        self.environment: Any = None
        self.role = "local"
        self.flags: list[flags_mod.Flag] = []
        self.duration: str | None = None  # Locust's -t, taken at init
        self.run: _Run | None = None
        self.board = LiveBoard()
        self.worker: EngineWorker | None = None  # a worker's side (or a single process's)
        events.init_command_line_parser.add_listener(self.on_parser)
        events.init.add_listener(self.on_init)
        events.test_start.add_listener(self.on_test_start)
        events.test_stopping.add_listener(self.on_test_stopping)
        events.test_stop.add_listener(self.on_test_stop)

    # --- options ---------------------------------------------------------------------------

    def on_parser(self, parser: Any, **_: Any) -> None:
        title = "OPSCOM engine scenario (the flags of harness run; -t is the duration)"
        self.scenario_flag = flags_mod.add_text_flag(parser, "--scenario", metavar="FILE", title=title,
                                                     help="harness scenario (TOML) to run; the flags below override it")
        self.mix_flag = flags_mod.add_text_flag(parser, "--mix", metavar="NAME=W,...", title=title,
                                                help="traffic mix, e.g. enforcement=80,meters=15,invalid=5")
        self.flags = flags_mod.add_flags(parser, flags_mod.COMMON_KEYS + LOAD_KEYS, title)

    def overrides(self, host: str | None) -> dict[str, Override]:
        parsed = self.environment.parsed_options
        over = flags_mod.overrides(parsed, self.flags)
        mix = getattr(parsed, self.mix_flag.dest, None)
        if mix:
            over["mix"] = Override(mix, "--mix")
        if self.duration is not None:
            over["load.duration"] = Override(self.duration, "-t")
        if host:
            over["target.url"] = Override(host, "--host")
        if "load.procs" not in over:
            # One engine process per Locust worker unless --procs says otherwise: add
            # Locust workers (or --processes) to add cores.
            over["load.procs"] = Override("1", "default: one engine process per Locust worker")
        return over

    def resolve(self, host: str | None) -> tuple[Plan, dict[str, Override]]:
        over = self.overrides(host)
        scenario = getattr(self.environment.parsed_options, self.scenario_flag.dest, None)
        plan = load_plan(scenario, over)
        if plan.target.url is None:
            raise HarnessError("the engine scenario needs a target: Locust's --host, or [target] url in the "
                               "scenario (each worker's engine must load the same one)")
        return plan, over

    # --- init ------------------------------------------------------------------------------

    def on_init(self, environment: Any, **_: Any) -> None:
        self.environment = environment
        runner = environment.runner
        self.events.quitting.add_listener(self.on_quitting)  # after the runner's own: ours runs first
        self.role = "master" if isinstance(runner, MasterRunner) else "worker" if isinstance(runner, WorkerRunner) \
            else "local"
        if self.role != "worker":
            parsed = environment.parsed_options
            if getattr(parsed, "run_time", None):
                self.duration = f"{int(parsed.run_time)}s"
                parsed.run_time = None  # the run ends when the engines do, not on Locust's timer
            try:
                if environment.host or self.role == "master":
                    plan, _ = self.resolve(environment.host)
                    external_target(plan, environ=None if self.role == "local" else {plan.target.token_env: "x"})
            except HarnessError as exc:
                say_error(str(exc))
                raise SystemExit(EXIT_USAGE) from None
            # The engine measures every request from its intended time (the closed
            # model's: when its user was ready).
            webui.install(environment, self.live_document, lambda: dict.fromkeys(self.board.names, "intended"))
            for kind, handler in ((MSG_READY, self.on_ready), (MSG_TICK, self.on_tick), (MSG_FINAL, self.on_final),
                                  (MSG_FAILED, self.on_failed)):
                runner.register_message(kind, handler)
        if self.role != "master":
            self.worker = EngineWorker(environment)
            runner.register_message(MSG_PREPARE, self.worker.on_prepare)
            runner.register_message(MSG_GO, self.worker.on_go)
            runner.register_message(MSG_STOP, self.worker.on_stop)

    # --- the master --------------------------------------------------------------------------

    def on_test_start(self, environment: Any, **_: Any) -> None:
        if self.role == "worker":
            return
        runner = environment.runner
        if self.role == "master":
            shards = sorted(c.id for c in runner.clients.ready + runner.clients.running + runner.clients.spawning)
        else:
            shards = ["local"]
        try:
            plan, over = self.resolve(environment.host)
            if self.role == "master":
                external_target(plan, environ={plan.target.token_env: "x"})
            orders = self.orders(plan, over, len(shards))
        except HarnessError as exc:
            self._refuse(str(exc))
            return
        run_id = secrets.token_hex(3)
        collector = Collector(run_id, time.time(), len(shards))
        collector.timeline = Timeline(len(shards))
        run = self.run = _Run(run_id=run_id, plan=plan, host=str(plan.target.url), shards=shards, collector=collector)
        self.board = collector.board
        for k, worker in enumerate(shards):
            order = {"run_id": run_id, "shard": [k, len(shards)], "overrides": orders[k],
                     "scenario": getattr(environment.parsed_options, self.scenario_flag.dest, None)}
            runner.send_message(MSG_PREPARE, order, client_id=None if worker == "local" else worker)
        gevent.spawn(self._coordinate, run)

    def orders(self, plan: Plan, over: Mapping[str, Override], n: int) -> list[dict[str, list[Any]]]:
        """Each shard's overrides: the run's, with its share of users and connections."""
        procs = int(plan.load.procs)
        connections = int(plan.load.connections)
        if connections < n * procs:
            raise HarnessError(f"--connections {connections} cannot be split over {n} Locust worker(s) x {procs} "
                               "engine process(es); each needs at least one")
        users = int(plan.load.users) if plan.model is Model.CLOSED else None
        if users is not None and users < n * procs:
            raise HarnessError(f"{users} user(s) cannot be split over {n} Locust worker(s) x {procs} engine "
                               "process(es); each needs at least one")
        base = {key: [o.value, o.where] for key, o in over.items()}
        out = []
        for k in range(n):
            mine = dict(base)
            mine["load.connections"] = [share(connections, k, n), f"--connections (shard {k} of {n})"]
            if users is not None:
                mine["load.users"] = [share(users, k, n), f"--engine-users (shard {k} of {n})"]
            out.append(mine)
        return out

    def _refuse(self, text: str) -> None:
        say_error(text)
        self.environment.process_exit_code = EXIT_USAGE
        self.run = None
        headless = bool(getattr(self.environment.parsed_options, "headless", False))
        gevent.spawn(self.environment.runner.quit if headless else self.environment.runner.stop)

    def _coordinate(self, run: _Run) -> None:
        """Start the engines together, wait for their reports, judge, end the test."""
        n = len(run.shards)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not (len(run.ready | set(run.failures)) == n or run.stop_reason) and time.monotonic() < deadline:
            run.changed.wait(timeout=0.5)
            run.changed.clear()
        if run.stop_reason is None and not run.failures and len(run.ready) == n:
            t0_wall = time.time() + START_LEAD_S
            run.collector.started_at = t0_wall
            for worker in run.shards:
                self._send(MSG_GO, {"run_id": run.run_id, "t0_wall": t0_wall}, worker)
            plan = run.plan
            wait = START_LEAD_S + plan.duration + float(plan.load.drain) + END_GRACE_S
        else:
            if run.stop_reason is None:
                lost = [k for k in range(n) if k not in run.ready and k not in run.failures]
                for k in lost:
                    run.failures[k] = f"its engine was not ready within {READY_TIMEOUT_S:g}s"
                run.stop_reason = "an engine failed before the start"
            self._stop_all(run)
            wait = STOP_GRACE_S + 2.0
        self._wait_settled(run, wait)
        if not run.all_settled():
            self._stop_all(run, "the engine did not report in time")
            self._wait_settled(run, STOP_GRACE_S + float(run.plan.load.drain))
        for k in range(n):
            if not run.settled(k):
                run.failures[k] = "no report from its engine (the Locust worker left or hung)"
        self._judge(run)
        run.done.set()
        if run.stop_reason is None:
            headless = bool(getattr(self.environment.parsed_options, "headless", False))
            runner = self.environment.runner
            gevent.spawn(runner.quit if headless else runner.stop)

    def _wait_settled(self, run: _Run, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not run.all_settled() and time.monotonic() < deadline:
            run.changed.wait(timeout=0.5)
            run.changed.clear()

    def _send(self, kind: str, data: dict[str, Any], worker: str) -> None:
        self.environment.runner.send_message(kind, data, client_id=None if worker == "local" else worker)

    def _stop_all(self, run: _Run, reason: str | None = None) -> None:
        for k, worker in enumerate(run.shards):
            if not run.settled(k):
                self._send(MSG_STOP, {"run_id": run.run_id, "reason": reason or run.stop_reason}, worker)

    def _shard_of(self, msg: Any) -> tuple[_Run, int] | None:
        run = self.run
        if run is None or msg.data.get("run_id") != run.run_id:
            return None
        return run, int(msg.data["shard"])

    def on_ready(self, environment: Any, msg: Any, **_: Any) -> None:
        if (found := self._shard_of(msg)) is not None:
            found[0].ready.add(found[1])
            found[0].changed.set()

    def on_tick(self, environment: Any, msg: Any, **_: Any) -> None:
        if (found := self._shard_of(msg)) is not None:
            run, k = found
            run.collector.timeline.add(k, msg.data["tick"])
            run.collector.board.add_tick(msg.data["tick"])

    def on_final(self, environment: Any, msg: Any, **_: Any) -> None:
        if (found := self._shard_of(msg)) is not None:
            run, k = found
            run.finals[k] = msg.data
            run.changed.set()

    def on_failed(self, environment: Any, msg: Any, **_: Any) -> None:
        if (found := self._shard_of(msg)) is not None:
            run, k = found
            run.failures[k] = str(msg.data.get("message"))
            run.usage_failure = run.usage_failure or bool(msg.data.get("usage"))
            run.changed.set()

    def on_test_stopping(self, environment: Any, reason: str | None = None, **_: Any) -> None:
        run = self.run
        if self.role == "worker" or run is None or run.done.is_set():
            return
        if run.stop_reason is None:
            run.stop_reason = reason or "stopped by Locust before the end (the web UI's Stop, or its workers left)"
            self._stop_all(run)
            run.changed.set()
        run.done.wait(timeout=float(run.plan.load.drain) + STOP_GRACE_S + END_GRACE_S)

    def on_quitting(self, environment: Any, **_: Any) -> None:
        if self.role == "worker":
            if self.worker is not None:
                self.worker.stop_engine("the Locust worker is shutting down", wait=True)
            return
        run = self.run
        if run is not None and not run.done.is_set():
            self.on_test_stopping(environment, reason="interrupted: Locust was shut down (Ctrl-C or SIGTERM)")

    def on_test_stop(self, environment: Any, **_: Any) -> None:
        if self.worker is not None:
            self.worker.stop_engine("the test stopped", wait=False)

    # --- the verdict ---------------------------------------------------------------------------

    def _judge(self, run: _Run) -> None:
        collector = run.collector
        collector.judged = True
        for final in run.finals.values():
            collector.metrics.merge(final["metrics"])
        infos = [run.finals[k]["info"] for k in sorted(run.finals)]
        errors = [f"shard {k} (Locust worker {run.shards[k]}): {e}"
                  for k in sorted(run.finals) for e in run.finals[k]["errors"]]
        errors += [f"shard {k} (Locust worker {run.shards[k]}): {text}" for k, text in sorted(run.failures.items())]
        plan = run.plan
        reason = run.stop_reason or next((i["reason"] for i in infos if i.get("reason")), None)
        interrupted = run.stop_reason is not None or any(i["interrupted"] for i in infos)
        measured = Measured(
            plan=plan, host=run.host, run_id=run.run_id, started=collector.started, metrics=collector.metrics,
            timeline=collector.timeline, model=plan.model.value,
            arrival=str(plan.pacer) if plan.pacer is not None else f"closed: {plan.load.users} users",
            duration_s=max((i["duration_s"] for i in infos), default=0.0),
            elapsed_s=max((i["elapsed_s"] for i in infos), default=0.0),
            users=int(plan.load.users) if plan.model is Model.CLOSED else None,
            connections=sum(i["connections"] for i in infos), procs=sum(i["procs"] for i in infos),
            transport=str(plan.load.transport), interrupted=interrupted, reason=reason,
            intended_requests=sum(i["intended_requests"] for i in infos), errors=errors,
            log="\n\n".join(run.finals[k]["log"] for k in sorted(run.finals) if run.finals[k].get("log")),
            plan_doc={**plan.describe(), "runner": "locust engine", "shards": len(run.shards)},
        )
        result, code = conclude(measured)
        if run.usage_failure:
            for text in run.failures.values():
                say_error(text)
            code = EXIT_USAGE
        self.environment.process_exit_code = code
        collector.board.result = headline(result, code)

    # --- the web UI ------------------------------------------------------------------------------

    def live_document(self) -> dict[str, Any]:
        run = self.run
        collector = run.collector if run else None
        return self.board.document(
            scenario=self.name,
            state=self.environment.runner.state,
            run_id=run.run_id if run else None,
            elapsed_s=round(max(0.0, time.time() - collector.started_at), 3) if collector else 0.0,
            shards=len(run.shards) if run else 0,
            ready=len(run.ready) if run else 0,
        )
