"""Fan-out: one engine per process, started together, merged exactly.

``--procs N`` spawns N worker processes. Each gets a ``WorkerPlan``: its share of
the connections and users, its slice of the arrival schedule (``Pacer.schedule(k,
N)``), and its own seed for the traffic. The parent waits until every worker has
opened its connections, then gives them one common start instant (a
``perf_counter_ns`` value: CLOCK_MONOTONIC, system-wide on Linux). Workers stream
one ``Tick`` per second for the live view and finally their encoded ``Metrics``,
which the parent adds up (``Metrics.merged``).

With ``--procs 1`` the same worker code runs in the calling process.

Ctrl-C: the terminal sends SIGINT to the whole process group, and the parent also
forwards a stop to each worker, so ``kill -INT <parent>`` works too. A stopped
worker drains briefly and still reports what it measured.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import multiprocessing.connection
import signal
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import uvloop

from harness.engine import Engine, EngineConfig, EngineStats, Model
from harness.metrics import Metrics, Tick
from harness.opscom.reference_data import reference_data
from harness.traffic.call import TrafficContext, TrafficSource
from harness.transport import make_transport

START_LEAD_NS = 200_000_000  # time between "start" and t0, for every worker to get it
READY_TIMEOUT_S = 120.0


@dataclass(frozen=True, kw_only=True)
class TrafficPlan:
    mix: Mapping[str, float]
    options: Mapping[str, Mapping[str, Any]]
    where: str  # prefix for errors in the traffic options
    client: str
    token: str
    restricted_token: str | None
    seed: int
    run_id: str
    reference_seed: int = 1

    def __repr__(self) -> str:  # never show tokens, even in a traceback
        return f"TrafficPlan(mix={dict(self.mix)!r}, client={self.client!r}, seed={self.seed}, run_id={self.run_id!r})"


@dataclass(frozen=True, kw_only=True)
class WorkerPlan:
    worker: int
    workers: int
    engine: EngineConfig
    traffic: TrafficPlan


@dataclass(frozen=True, kw_only=True)
class WorkerResult:
    worker: int
    metrics: dict[str, Any] | None
    stats: EngineStats | None
    error: str | None = None


def _share(total: int, worker: int, workers: int) -> int:
    return total // workers + (1 if worker < total % workers else 0)


def split_plans(engine: EngineConfig, traffic: TrafficPlan, procs: int) -> list[WorkerPlan]:
    """One plan per process; connections and users are split as evenly as possible."""
    plans = []
    for k in range(procs):
        cfg = replace(
            engine,
            transport_config=replace(
                engine.transport_config,
                connections=max(1, _share(engine.transport_config.connections, k, procs)),
            ),
            users=_share(engine.users, k, procs) if engine.model is Model.CLOSED else 0,
        )
        plans.append(WorkerPlan(worker=k, workers=procs, engine=cfg, traffic=traffic))
    return plans


def build_source(plan: WorkerPlan) -> TrafficSource:
    from harness.traffic.mix import build_source as build_mix

    t = plan.traffic
    ctx = TrafficContext(
        client=t.client,
        token=t.token,
        seed=t.seed,
        worker=plan.worker,
        workers=plan.workers,
        run_id=t.run_id,
        # The wall clock now, a moment before t0: dates in the traffic are never
        # in the future of the target's clock on the same machine.
        wall_start=datetime.now(UTC).replace(tzinfo=None),
        reference=reference_data(t.reference_seed),
        restricted_token=t.restricted_token,
    )
    return build_mix(ctx, t.mix, t.options, t.where)


class _Channel:
    """How a worker talks to whoever started it."""

    async def wait_start(self, engine: Engine) -> int | None: ...
    def tick(self, tick: Tick) -> None: ...


async def run_worker(plan: WorkerPlan, channel: _Channel) -> WorkerResult:
    source = build_source(plan)
    metrics = Metrics(late_threshold_ns=int(plan.engine.late_threshold * 1e9))
    transport = make_transport(plan.engine.transport, plan.engine.transport_config)
    engine = Engine(plan.engine, source, metrics, transport, worker=plan.worker, workers=plan.workers)
    await engine.open()
    # Everything built so far (pre-encoded calls, histograms, connections) lives for
    # the whole run: move it out of the collector's sight, so the cyclic GC's pauses
    # scan only what the run itself allocates.
    gc.collect()
    gc.freeze()
    t0 = await channel.wait_start(engine)
    if t0 is None:  # stopped before the start
        await engine.transport.close()
        return WorkerResult(worker=plan.worker, metrics=metrics.encode(), stats=None)
    stats = await engine.run(t0, channel.tick)
    return WorkerResult(worker=plan.worker, metrics=metrics.encode(), stats=stats)


# --- in this process ------------------------------------------------------------------


class _LocalChannel(_Channel):
    def __init__(self, on_tick: Callable[[int, Tick], None]) -> None:
        self.on_tick = on_tick

    async def wait_start(self, engine: Engine) -> int | None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, engine.interrupt)
        return time.perf_counter_ns() + START_LEAD_NS // 4

    def tick(self, tick: Tick) -> None:
        self.on_tick(0, tick)


def run_here(plan: WorkerPlan, on_tick: Callable[[int, Tick], None]) -> list[WorkerResult]:
    return [uvloop.run(run_worker(plan, _LocalChannel(on_tick)))]


# --- in worker processes ---------------------------------------------------------------


class _PipeChannel(_Channel):
    def __init__(self, conn: multiprocessing.connection.Connection) -> None:
        self.conn = conn

    async def wait_start(self, engine: Engine) -> int | None:
        loop = asyncio.get_running_loop()
        started: asyncio.Future[int | None] = loop.create_future()
        loop.add_signal_handler(signal.SIGINT, engine.interrupt)

        def on_message() -> None:
            while self.conn.poll():
                kind, *rest = self.conn.recv()
                if kind == "start" and not started.done():
                    started.set_result(rest[0])
                elif kind == "stop":
                    engine.interrupt()
                    if not started.done():
                        started.set_result(None)

        loop.add_reader(self.conn.fileno(), on_message)
        self.conn.send(("ready",))
        return await started

    def tick(self, tick: Tick) -> None:
        self.conn.send(("tick", tick.encode()))


def _child_main(plan: WorkerPlan, conn: multiprocessing.connection.Connection) -> None:
    # Until the event loop handles SIGINT itself, a Ctrl-C must not kill us with a
    # traceback: the parent will tell us to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        result = uvloop.run(run_worker(plan, _PipeChannel(conn)))
    except BaseException:  # noqa: BLE001 - reported to the parent, which prints one line
        conn.send(("error", traceback.format_exc()))
        return
    conn.send(("final", result))


class _Interrupt:
    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: Any) -> None:
        self.requested = True


def run_in_processes(plans: list[WorkerPlan], on_tick: Callable[[int, Tick], None]) -> list[WorkerResult]:
    """Start one process per plan, run them together, collect their results."""
    ctx = multiprocessing.get_context("spawn")
    conns: dict[int, multiprocessing.connection.Connection] = {}
    procs: dict[int, multiprocessing.process.BaseProcess] = {}
    interrupt = _Interrupt()
    previous = signal.signal(signal.SIGINT, interrupt)
    results: dict[int, WorkerResult] = {}
    try:
        for plan in plans:
            parent_end, child_end = ctx.Pipe()
            p = ctx.Process(target=_child_main, args=(plan, child_end), name=f"harness-worker-{plan.worker}", daemon=True)
            p.start()
            child_end.close()
            conns[plan.worker], procs[plan.worker] = parent_end, p
        _await_ready(conns, procs, results, interrupt)
        t0 = time.perf_counter_ns() + START_LEAD_NS
        for k, conn in conns.items():
            if k not in results:
                conn.send(("start", t0) if not interrupt.requested else ("stop",))
        _collect(conns, procs, results, interrupt, on_tick)
    finally:
        signal.signal(signal.SIGINT, previous)
        for p in procs.values():
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
    return [results[k] for k in sorted(results)]


def _receive(k: int, conn: multiprocessing.connection.Connection, results: dict[int, WorkerResult],
             on_tick: Callable[[int, Tick], None] | None) -> str | None:
    try:
        kind, *rest = conn.recv()
    except (EOFError, OSError):
        results.setdefault(k, WorkerResult(worker=k, metrics=None, stats=None, error="worker exited without a result"))
        return "gone"
    if kind == "tick" and on_tick is not None:
        on_tick(k, Tick(**rest[0]))
    elif kind == "final":
        results[k] = rest[0]
    elif kind == "error":
        results[k] = WorkerResult(worker=k, metrics=None, stats=None, error=rest[0])
    return kind


def _await_ready(conns: dict[int, Any], procs: dict[int, Any], results: dict[int, WorkerResult], interrupt: _Interrupt) -> None:
    waiting = set(conns)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while waiting and time.monotonic() < deadline:
        for conn in multiprocessing.connection.wait([conns[k] for k in waiting], timeout=0.5):
            k = next(k for k in waiting if conns[k] is conn)
            kind = _receive(k, conn, results, None)
            if kind in ("ready", "error", "gone", "final"):
                waiting.discard(k)
    for k in waiting:
        results[k] = WorkerResult(worker=k, metrics=None, stats=None, error="worker did not start in time")
        procs[k].kill()


def _collect(conns: dict[int, Any], procs: dict[int, Any], results: dict[int, WorkerResult],
             interrupt: _Interrupt, on_tick: Callable[[int, Tick], None]) -> None:
    forwarded = False
    while len(results) < len(conns):
        if interrupt.requested and not forwarded:
            forwarded = True
            for k, conn in conns.items():
                if k not in results:
                    try:
                        conn.send(("stop",))
                    except OSError:
                        pass
        live = [conns[k] for k in conns if k not in results]
        for conn in multiprocessing.connection.wait(live, timeout=0.25):
            k = next(k for k in conns if conns[k] is conn)
            _receive(k, conn, results, on_tick)
