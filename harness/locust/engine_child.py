"""The harness engine in a process of its own, driven by a Locust worker over a pipe.

A Locust worker runs under gevent, which patches sockets, threads and timers; the
engine needs uvloop and its own processes. So the worker starts this module as a
fresh interpreter (``python -m harness.locust.engine_child``, which imports neither
Locust nor gevent) and talks JSON lines over its stdin and stdout:

    worker -> child   {"kind": "plan", "scenario", "overrides", "shard": [k, n], "run_id"}
                      {"kind": "go", "t0_wall": ...}      the common start (wall clock)
                      {"kind": "stop"} / {"kind": "end"}  interrupt / end the drain now
    child -> worker   {"kind": "ready"}                   connections open, waiting for go
                      {"kind": "tick", "tick": {...}}     each second of this shard
                      {"kind": "final", ...}              encoded metrics, run info, errors
                      {"kind": "error", "message", "usage"}  nothing was run

The child loads the plan itself (``harness.api.load_plan``, the scenario file at the
same path as on the master) with the overrides the master decided, reads the token
from its own environment, and runs ``harness.api.execute(plan, target, shard=(k, n))``:
worker k of n takes hits k, k+n, ... of the one schedule. It starts when told, at
an instant given in wall-clock time, so shards on different machines start together
(as well as their clocks agree). The end of stdin (the worker died) ends the run at
once; SIGINT and SIGTERM stop it as Ctrl-C stops ``harness run``.

The protocol gets its own copy of the stdout file descriptor; fd 1 itself is pointed
at stderr, so nothing printed by the engine or its processes can corrupt it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import traceback
from dataclasses import asdict
from typing import Any

import orjson
import uvloop

from harness import allocator
from harness.errors import HarnessError

PROTOCOL_VERSION = 1


class Pipe:
    def __init__(self) -> None:
        self.fd = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self.closed = False

    def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        data = orjson.dumps(message) + b"\n"
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError:
            self.closed = True  # the worker is gone; the run ends on stdin's end


def tick_of(row: Any) -> dict[str, Any]:
    """A merged second of this shard as a ``Tick`` (the form the master's timeline adds)."""
    return {
        "second": row.t, "requests": row.requests, "errors": row.errors, "latency": row.latency,
        "names": {n: {"requests": v.requests, "errors": v.errors, "latency": v.latency, "outcomes": v.outcomes}
                  for n, v in row.names.items()},
    }


async def _lines(loop: asyncio.AbstractEventLoop) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def run(pipe: Pipe) -> int:
    from harness.api import RunControl, execute, external_target, install_signal_handlers, load_plan
    from harness.plan import Override

    loop = asyncio.get_running_loop()
    reader = await _lines(loop)
    first = await reader.readline()
    if not first:
        return 0
    order = orjson.loads(first)
    try:
        overrides = {k: Override(v[0], v[1]) for k, v in order["overrides"].items()}
        plan = load_plan(order.get("scenario"), overrides)
        target = external_target(plan)
    except HarnessError as exc:
        pipe.send({"kind": "error", "message": str(exc), "usage": True})
        return 2

    go: asyncio.Future[int | None] = loop.create_future()

    def settle(value: int | None) -> None:
        if not go.done():
            go.set_result(value)

    async def gate() -> int | None:
        pipe.send({"kind": "ready"})
        return await go

    control = RunControl(start_gate=gate)
    control.listen(lambda: settle(None), lambda: settle(None))
    remove = install_signal_handlers(control)

    async def listen() -> None:
        while True:
            line = await reader.readline()
            if not line:  # the Locust worker is gone
                control.end_now()
                return
            message = orjson.loads(line)
            kind = message.get("kind")
            if kind == "go":
                lead_ns = int((float(message["t0_wall"]) - time.time()) * 1e9)
                settle(time.perf_counter_ns() + max(0, lead_ns))
            elif kind == "stop":
                control.interrupt(message.get("reason") or "stopped from Locust")
            elif kind == "end":
                control.end_now()

    listener = loop.create_task(listen())
    k, n = order["shard"]
    try:
        result = await execute(plan, target, control=control, run_id=order["run_id"], shard=(int(k), int(n)),
                               on_second=lambda row: pipe.send({"kind": "tick", "tick": tick_of(row)}))
    finally:
        remove()
        listener.cancel()
    pipe.send({
        "kind": "final",
        "metrics": result.metrics.encode(),
        "info": asdict(result.info),
        "errors": result.errors,
        "log": result.log,
        "verdict": result.verdict,
    })
    return 0


def main() -> int:
    allocator.settle()
    pipe = Pipe()
    try:
        return uvloop.run(run(pipe))
    except BaseException as exc:  # noqa: BLE001 - reported to the worker, which says it in one line
        pipe.send({"kind": "error", "message": f"{type(exc).__name__}: {exc}", "usage": False,
                   "detail": traceback.format_exc()})
        return 3


if __name__ == "__main__":
    sys.exit(main())
