"""A locustfile scenario wired to Locust's events, on the master, the workers, or a
single Locust process.

A locustfile declares its scenario and users::

    SCENARIO = LocustfileScenario(ScenarioSpec(name="peak_event", file=__file__, ...))

    class Meters(GeneratedUser):
        generator = "meters"

What happens, by Locust event:

- ``init_command_line_parser``: the harness options (``harness.locust.options``).
- ``init``: the options are checked as ``harness run`` checks its flags (a mistake
  is one line, ``harness: error: ...``, and exit 2); the master (or the single
  process) adds the web UI tabs.
- ``test_start``: the master picks the run id and the start time; they reach the
  workers in Locust's spawn message. Each process that sends load checks the target
  (loopback only unless allowed), reads the token from its own environment, builds
  its traffic generators and starts recording.
- ``report_to_master`` / ``worker_report``: each worker ships what it measured since
  its last report (``Recording.take``); the master merges it exactly.
- ``test_stopping`` (master): before Locust stops the workers, it asks each one to
  stop its users (they finish their request in flight), send its last measurements
  and say so, and waits for all of them, so the merged count is the workers' sum.
- ``test_stop`` (master or single process): judge and write the run directory
  (``harness.locust.verdict``), set Locust's exit code.
- ``quitting`` during a test (Ctrl-C, SIGTERM): the same, marked interrupted (130).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import gevent
from locust import events as locust_events
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner

from harness.api import external_target
from harness.errors import HarnessError
from harness.locust import options as flags_mod
from harness.locust import webui
from harness.locust.board import LiveBoard
from harness.locust.collector import Collector
from harness.locust.recording import Recording
from harness.locust.runtime import Runtime, t0_from_wall, traffic_context
from harness.locust.spec import Resolved, ScenarioSpec, claim, resolve

__all__ = ["LocustfileScenario", "ScenarioSpec"]  # ScenarioSpec: what locustfiles import from here
from harness.locust.verdict import EXIT_USAGE, Measured, conclude, headline, say_error, utc_now
from harness.plan import Plan

LOCAL_SHIP_S = 3.0  # Locust's worker report interval
FLUSH_GRACE_S = 15.0  # beyond the stop timeout, how long the master waits for the last reports
MSG_FLUSH = "opscom_flush"
MSG_FLUSHED = "opscom_flushed"
TRANSPORT = "locust FastHttpUser"


class LocustfileScenario:
    def __init__(self, spec: ScenarioSpec, events: Any = locust_events) -> None:
        claim(spec.name, spec.file)
        self.spec = spec
        self.flags: list[flags_mod.Flag] = []
        self.environment: Any = None
        self.role = "local"
        self.recording = Recording()
        self.collector: Collector | None = None
        self.board = LiveBoard()
        self.interrupt_reason: str | None = None
        events.init_command_line_parser.add_listener(self.on_parser)
        events.init.add_listener(self.on_init)
        events.test_start.add_listener(self.on_test_start)
        events.report_to_master.add_listener(self.on_report_to_master)
        events.worker_report.add_listener(self.on_worker_report)
        events.test_stopping.add_listener(self.on_test_stopping)
        events.test_stop.add_listener(self.on_test_stop)
        self.events = events

    # --- options ---------------------------------------------------------------------

    def on_parser(self, parser: Any, **_: Any) -> None:
        title = f"OPSCOM scenario {self.spec.name} (harness options)"
        self.flags = flags_mod.add_flags(parser, flags_mod.COMMON_KEYS + self.spec.load_keys, title)
        self.extra_flags = [flags_mod.add_text_flag(parser, e.flag, help=e.help, metavar=e.metavar, title=title)
                            for e in self.spec.extras]

    def resolve(self, host: str | None) -> Resolved:
        """The options as a plan and settings (a mistake: a HarnessError naming it)."""
        return resolve(self.spec, self.environment.parsed_options, self.flags, self.extra_flags, host)

    # --- init --------------------------------------------------------------------------

    def on_init(self, environment: Any, **_: Any) -> None:
        self.environment = environment
        runner = environment.runner
        # Registered now, after the runner's own: quitting fires its listeners last
        # first, and ours must mark the run interrupted before Locust stops it.
        self.events.quitting.add_listener(self.on_quitting)
        self.role = "master" if isinstance(runner, MasterRunner) else "worker" if isinstance(runner, WorkerRunner) \
            else "local"
        try:
            resolved = self.resolve(environment.host)
            if resolved.host and self.role != "master":
                external_target(resolved.plan)  # the loopback rule and the token, before anything is sent
            elif resolved.host:
                external_target(resolved.plan, environ={resolved.plan.target.token_env: "unused"})
            elif self.role == "worker":
                self._check_token(resolved.plan)
            if self.spec.check is not None:
                self.spec.check(environment, resolved.settings)
        except HarnessError as exc:
            say_error(str(exc))
            raise SystemExit(EXIT_USAGE) from None
        # Requests in flight when a test stops are waited for, up to the request
        # timeout, as harness run drains its answers (Locust's -s, if longer, wins).
        environment.stop_timeout = max(float(environment.stop_timeout or 0), float(resolved.plan.load.timeout) + 1)
        if self.role == "worker":
            runner.register_message(MSG_FLUSH, self.on_flush_request, concurrent=True)
        else:
            if self.role == "master":
                runner.register_message(MSG_FLUSHED, self.on_flushed)
            webui.install(environment, self.live_document, self.bases)

    def _check_token(self, plan: Plan) -> None:
        import os

        if not os.environ.get(plan.target.token_env):
            raise HarnessError(f"environment variable {plan.target.token_env} is empty or unset: export the API "
                               "token there (it is never written anywhere)")

    # --- test start ----------------------------------------------------------------------

    def on_test_start(self, environment: Any, **_: Any) -> None:
        parsed = environment.parsed_options
        if self.role != "worker":
            self.interrupt_reason = None
            runner = environment.runner
            workers = len(runner.clients.ready + runner.clients.running + runner.clients.spawning) \
                if self.role == "master" else 1
            self.collector = Collector(secrets.token_hex(3), time.time() + self.spec.start_lead_s, workers)
            self.board = self.collector.board
            # The workers read these from Locust's spawn message, which follows.
            parsed.opscom_run_id = self.collector.run_id
            parsed.opscom_started_at = self.collector.started_at
            parsed.opscom_users = int(runner.target_user_count or getattr(parsed, "num_users", 1) or 1)
            if self.role == "master":
                ids = sorted(c.id for c in runner.clients.ready + runner.clients.running + runner.clients.spawning)
                parsed.opscom_shards = {client_id: k for k, client_id in enumerate(ids)}
            gevent.spawn(self._watch_users, self.collector)
            try:
                self.collector_plan = self.resolve(environment.host)
                if self.collector_plan.host is None:
                    raise HarnessError("no target: give Locust's --host (or the host field of the web UI)")
                if self.role == "master":
                    external_target(self.collector_plan.plan,
                                    environ={self.collector_plan.plan.target.token_env: "unused"})
            except HarnessError as exc:
                self._refuse(str(exc))
                return
        if self.role != "master":
            self._start_recording(environment)

    def _refuse(self, text: str) -> None:
        say_error(text)
        self.environment.process_exit_code = EXIT_USAGE
        self.collector = None
        runner = self.environment.runner
        headless = bool(getattr(self.environment.parsed_options, "headless", False))
        gevent.spawn(runner.quit if headless else runner.stop)

    def _start_recording(self, environment: Any) -> None:
        parsed = environment.parsed_options
        environment.opscom_runtime = None
        try:
            resolved = self.resolve(environment.host)
            if resolved.host is None:
                raise HarnessError("no target: give Locust's --host (or the host field of the web UI)")
            target = external_target(resolved.plan)
        except HarnessError as exc:
            if self.role == "worker":  # the master reports it too; say it here as well
                say_error(str(exc))
                environment.process_exit_code = EXIT_USAGE
            return
        started_at = float(getattr(parsed, "opscom_started_at", time.time()))
        plan = resolved.plan
        ctx = traffic_context(client=plan.target.client, token=target.token, restricted_token=target.restricted_token,
                              seed=int(plan.load.seed), worker=max(0, int(environment.runner.worker_index)),
                              run_id=str(getattr(parsed, "opscom_run_id", "local")), started_at=started_at,
                              metrics=self.recording.metrics)
        environment.opscom_runtime = Runtime(
            recording=self.recording, controller_base=target.controller.url, plate_base=target.plate_service.url,
            ctx=ctx, traffic=self.spec.traffic, where=self.spec.shown_file, t0_ns=t0_from_wall(started_at),
            users_total=int(getattr(parsed, "opscom_users", 1) or 1), settings=resolved.settings,
        )
        for generator in self.spec.traffic:  # built now, before the users start, not by the first user
            environment.opscom_runtime.source(generator)
        if self.spec.prepare is not None:
            shards = getattr(parsed, "opscom_shards", None) or {}
            client_id = getattr(environment.runner, "client_id", None)
            shard = (int(shards[client_id]), len(shards)) if client_id in shards and self.role == "worker" else (0, 1)
            try:
                self.spec.prepare(environment.opscom_runtime, shard)
            except HarnessError as exc:
                say_error(str(exc))
                environment.process_exit_code = EXIT_USAGE
                environment.opscom_runtime = None
                return
        if self.role == "local" and self.collector is not None:
            # A single process: the run starts now that its traffic is ready.
            started_at = time.time()
            self.collector.started_at = started_at
            self.collector.started = utc_now()
            environment.opscom_runtime.t0_ns = t0_from_wall(started_at)
            if environment.web_ui is not None:
                gevent.spawn(self._ship_locally, self.collector)
        self.recording.start(started_at)

    def _ship_locally(self, collector: Collector | None) -> None:
        """A single Locust process is its own master: for the web UI's live view, it
        hands its measurements over as often as a worker reports (headless, only at
        the end: merging costs a little of the CPU the users need)."""
        while collector is not None and collector is self.collector and not collector.judged:
            gevent.sleep(LOCAL_SHIP_S)
            if self.environment.opscom_runtime is not None:
                collector.add(self.recording.take())

    def _watch_users(self, collector: Collector) -> None:
        while collector is self.collector and not collector.judged:
            collector.peak_users = max(collector.peak_users, int(self.environment.runner.user_count))
            gevent.sleep(1.0)

    # --- reports ---------------------------------------------------------------------------

    def on_report_to_master(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        data["opscom"] = self.recording.take()

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        shipped = data.get("opscom")
        collector = self.collector
        if shipped and collector is not None and not collector.judged:
            try:
                collector.add(shipped)
            except ValueError as exc:  # a shipment that cannot be merged is a harness error, never dropped quietly
                collector.errors.append(f"Locust worker {client_id}: {exc}")

    # --- stopping --------------------------------------------------------------------------

    def on_test_stopping(self, environment: Any, **_: Any) -> None:
        collector = self.collector
        if collector is None or collector.stopping_at is not None:
            return
        collector.stopping_at = time.time()
        if self.role == "master":
            self._flush(collector)

    def _flush(self, collector: Collector) -> None:
        """Ask every worker for its last measurements and wait for them."""
        runner = self.environment.runner
        collector.awaiting = {c.id for c in runner.clients.ready + runner.clients.running + runner.clients.spawning}
        for client_id in list(collector.awaiting):
            runner.send_message(MSG_FLUSH, {"run_id": collector.run_id}, client_id=client_id)
        deadline = time.monotonic() + float(self.environment.stop_timeout or 0) + FLUSH_GRACE_S
        while collector.awaiting and time.monotonic() < deadline:
            collector.flushed.wait(timeout=0.5)
            collector.flushed.clear()
            connected = {c.id for c in runner.clients.ready + runner.clients.running + runner.clients.spawning}
            gone = collector.awaiting - connected
            for client_id in gone:
                collector.errors.append(f"Locust worker {client_id} left before sending its last measurements")
            collector.awaiting -= gone
        for client_id in sorted(collector.awaiting):
            collector.errors.append(f"Locust worker {client_id} did not send its last measurements in time")
        collector.awaiting = set()

    def on_flushed(self, environment: Any, msg: Any, **_: Any) -> None:
        collector = self.collector
        if collector is not None and msg.data.get("run_id") == collector.run_id:
            collector.awaiting.discard(msg.node_id)
            collector.flushed.set()

    def on_flush_request(self, environment: Any, msg: Any, **_: Any) -> None:
        """Worker: stop the users (each finishes its request in flight), then report
        everything measured, then say so; Locust's stats go in the same report."""
        runner = environment.runner
        runner.stop()
        runner._send_stats()  # Locust's report_to_master: its stats and ours, in order before the reply
        runner.send_message(MSG_FLUSHED, {"run_id": msg.data.get("run_id")})

    def on_test_stop(self, environment: Any, **_: Any) -> None:
        if self.role != "master":
            self.recording.stop()
            environment.opscom_runtime = None
        collector = self.collector
        if self.role == "worker" or collector is None or collector.judged:
            return
        if self.role == "local":
            collector.add(self.recording.take())
        self._judge(collector)

    def on_quitting(self, environment: Any, **_: Any) -> None:
        runner = environment.runner
        if runner is None or runner.state not in (STATE_RUNNING, STATE_SPAWNING):
            return
        if self.role == "worker":
            runner.stop()
            try:
                runner._send_stats()
            except Exception:  # noqa: BLE001 - the master may be gone already
                pass
            return
        if self.collector is not None and not self.collector.judged:
            self.interrupt_reason = "interrupted: Locust was shut down during the test"
            runner.stop()

    # --- the verdict -----------------------------------------------------------------------

    def _judge(self, collector: Collector) -> None:
        collector.judged = True
        resolved = self.collector_plan
        environment = self.environment
        now = time.time()
        stopping = collector.stopping_at or now
        users = max(collector.peak_users, int(environment.runner.user_count))
        shape = environment.shape_class
        arrival = f"locust: {type(shape).__name__} shape" if shape is not None else f"locust: {users} users"
        if self.spec.model == "open":
            arrival += f", paced at {resolved.settings.get('rate', 0):g}/s in total"
        measured = Measured(
            plan=resolved.plan, host=resolved.host, run_id=collector.run_id, started=collector.started,
            metrics=collector.metrics, timeline=collector.timeline, model=self.spec.model, arrival=arrival,
            duration_s=stopping - collector.started_at, elapsed_s=now - collector.started_at,
            users=users if self.spec.model == "closed" else None, connections=users, procs=collector.workers,
            transport=TRANSPORT, interrupted=self.interrupt_reason is not None, reason=self.interrupt_reason,
            errors=collector.errors, plan_doc=self.plan_doc(resolved, users, collector.workers),
        )
        result, code = conclude(measured)
        environment.process_exit_code = code
        self.board.result = headline(result, code)

    def plan_doc(self, resolved: Resolved, users: int, workers: int) -> dict[str, Any]:
        environment = self.environment
        parsed = environment.parsed_options
        plan = resolved.plan
        return {
            "name": plan.name,
            "description": plan.description,
            "scenario": self.spec.shown_file,
            "runner": "locust",
            "model": self.spec.model,
            "locust": {
                "users": users,
                "spawn_rate": getattr(parsed, "spawn_rate", None),
                "run_time": getattr(parsed, "run_time", None),
                "shape": _shape_doc(environment.shape_class),
                "user_classes": sorted(c.__name__ for c in environment.user_classes),
                "workers": workers,
            },
            "settings": resolved.settings,
            "traffic": {"kind": "locust users", "generators": {k: dict(v) for k, v in self.spec.traffic.items()}},
            "target": {"client": plan.target.client, "token_env": plan.target.token_env,
                       "tls_verify": plan.target.tls_verify},
            "checks": [c.expr for c in plan.checks],
            "overrides": list(plan.overrides),
            "notes": [],
        }

    # --- the web UI -------------------------------------------------------------------------

    def live_document(self) -> dict[str, Any]:
        runner = self.environment.runner
        collector = self.collector
        return self.board.document(
            scenario=self.spec.name,
            state=runner.state,
            run_id=collector.run_id if collector else None,
            elapsed_s=round(time.time() - collector.started_at, 3) if collector else 0.0,
            users=runner.user_count,
        )

    def bases(self) -> dict[str, str]:
        collector = self.collector
        return {e.name: e.basis for e in collector.metrics.active()} if collector else {}


def _shape_doc(shape: Any) -> dict[str, Any] | None:
    if shape is None:
        return None
    describe = getattr(shape, "describe", None)
    return {"class": type(shape).__name__, "stages": describe() if callable(describe) else None}
