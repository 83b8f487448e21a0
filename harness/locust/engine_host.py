"""A Locust worker's side of the engine scenario: ``EngineWorker`` answers the
master's orders, ``EngineProcess`` is its handle on the engine process
(``harness.locust.engine_child``).

Started as a fresh interpreter (gevent's ``subprocess`` keeps the worker's greenlets
running while it waits), fed JSON lines on its stdin, read line by line from its
stdout by a greenlet that hands each message to the worker. Its stderr is the
worker's, so a traceback of the engine lands in the worker's log. When it exits
without a final report, that is reported as the shard's failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import gevent
import orjson

KILL_AFTER_S = 10.0  # after "end", an engine still running is killed

# Locust messages of the engine scenario (custom message types of Locust's RPC).
MSG_PREPARE = "opscom_engine_prepare"  # master -> worker: the shard, its overrides
MSG_GO = "opscom_engine_go"  # master -> worker: the start instant
MSG_STOP = "opscom_engine_stop"  # master -> worker
MSG_READY = "opscom_engine_ready"  # worker -> master
MSG_TICK = "opscom_engine_tick"
MSG_FINAL = "opscom_engine_final"
MSG_FAILED = "opscom_engine_failed"


class EngineProcess:
    def __init__(self, on_message: Callable[[dict[str, Any]], None]) -> None:
        self.on_message = on_message
        self.proc: subprocess.Popen[bytes] | None = None
        self.finished = False  # a final report or an error came
        self._reader: gevent.Greenlet | None = None

    def start(self, order: dict[str, Any]) -> None:
        env = dict(os.environ)
        env.pop("GEVENT_SUPPORT", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "harness.locust.engine_child"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env)
        self.send(order)
        self._reader = gevent.spawn(self._read)

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            message = orjson.loads(line)
            if message.get("kind") in ("final", "error"):
                self.finished = True
            self.on_message(message)
        code = self.proc.wait()
        if not self.finished:
            self.finished = True
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            self.on_message({"kind": "error", "message": f"the engine process ended without a result ({how})",
                             "usage": False})

    def send(self, message: dict[str, Any]) -> None:
        proc = self.proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            return
        try:
            proc.stdin.write(orjson.dumps(message) + b"\n")
            proc.stdin.flush()
        except OSError:
            pass  # it is exiting; its reader reports how

    def stop(self, reason: str) -> None:
        self.send({"kind": "stop", "reason": reason})

    def end(self) -> None:
        """Stop waiting for answers; kill it if it does not end soon after."""
        self.send({"kind": "end"})
        gevent.spawn_later(KILL_AFTER_S, self.kill)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()

    def wait(self, timeout: float) -> bool:
        """Wait for the process and its last message; True when both came."""
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        if self._reader is not None:
            self._reader.join(timeout=5)
        return True

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class EngineWorker:
    """A Locust worker's side of the engine scenario: it starts its engine when the
    master sends its shard, passes on the start and stop orders, and forwards what
    the engine says (ready, each second, the final report, a failure) to the master."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment
        self.engine: EngineProcess | None = None
        self.engine_run: str | None = None

    def on_prepare(self, environment: Any, msg: Any, **_: Any) -> None:
        self.stop_engine("a new run starts", wait=False)
        data = msg.data
        run_id, shard = data["run_id"], data["shard"][0]

        def forward(message: dict[str, Any]) -> None:
            kind = message["kind"]
            head = {"run_id": run_id, "shard": shard}
            if kind == "ready":
                environment.runner.send_message(MSG_READY, head)
            elif kind == "tick":
                environment.runner.send_message(MSG_TICK, {**head, "tick": message["tick"]})
            elif kind == "final":
                environment.runner.send_message(MSG_FINAL, {**head, **{k: message[k] for k in
                                                                       ("metrics", "info", "errors", "log")}})
            elif kind == "error":
                if message.get("detail"):
                    print(message["detail"], flush=True)
                environment.runner.send_message(MSG_FAILED, {**head, "message": message["message"],
                                                             "usage": bool(message.get("usage"))})

        self.engine = EngineProcess(forward)
        self.engine_run = run_id
        self.engine.start({"kind": "plan", "run_id": run_id, "shard": data["shard"], "scenario": data["scenario"],
                           "overrides": data["overrides"]})

    def on_go(self, environment: Any, msg: Any, **_: Any) -> None:
        if self.engine is not None and msg.data.get("run_id") == self.engine_run:
            self.engine.send({"kind": "go", "t0_wall": msg.data["t0_wall"]})

    def on_stop(self, environment: Any, msg: Any, **_: Any) -> None:
        if self.engine is not None and msg.data.get("run_id") == self.engine_run:
            self.engine.stop(str(msg.data.get("reason") or "stopped from Locust"))

    def stop_engine(self, reason: str, *, wait: bool) -> None:
        engine = self.engine
        if engine is None or not engine.running:
            return
        engine.stop(reason)
        if wait and not engine.wait(KILL_AFTER_S):
            engine.end()
            engine.wait(KILL_AFTER_S)
