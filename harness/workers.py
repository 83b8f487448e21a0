"""Fan-out: one engine per process, started together, merged exactly.

A run of ``procs`` processes gets one ``WorkerPlan`` per process: its share of the
connections and users, its slice of the arrival schedule (``Pacer.schedule(k,
N)``), and the description of its traffic (``SourceSpec``), from which it builds
its own source. The parent waits until every worker has opened its connections,
then gives them one common start instant (a ``perf_counter_ns`` value:
CLOCK_MONOTONIC, system-wide on Linux). Workers stream one ``Tick`` per second for
the live view and finally their encoded ``Metrics``.

With one process the same worker code runs in the caller's event loop.

Stopping (``RunControl``): ``interrupt()`` stops sending and drains briefly;
``end_now()`` (a second signal) ends the drain and kills a worker that does not
finish within a few seconds. Workers never outlive the parent: each asks the
kernel for SIGTERM when its parent dies (PR_SET_PDEATHSIG) and also treats the end
of its pipe as the parent's death. A worker whose engine crashed still reports what
it measured, with the traceback; one that died without a word is reported as such.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import uvloop

from harness.engine import Engine, EngineConfig, EngineStats
from harness.metrics import Metrics, Tick
from harness.opscom.reference_data import reference_data
from harness.traffic.call import SourceSpec, TrafficContext, TrafficSource
from harness.transport import TransportConfig, make_transport

START_LEAD_NS = 200_000_000  # time between "start" and t0, for every worker to get it
READY_TIMEOUT_S = 120.0
KILL_AFTER_END_S = 3.0  # after end_now(), a worker still running is killed
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True, kw_only=True)
class TrafficSettings:
    """What each worker needs to build its traffic, tokens included (never shown)."""

    client: str
    token: str = field(repr=False)
    restricted_token: str | None = field(default=None, repr=False)
    seed: int = 1
    run_id: str = "run"
    reference_seed: int = 1


@dataclass(frozen=True, kw_only=True)
class WorkerPlan:
    worker: int
    workers: int
    engine: EngineConfig
    transport: str
    transport_config: TransportConfig
    source: SourceSpec
    traffic: TrafficSettings
    basis: str = "intended"


@dataclass(frozen=True, kw_only=True)
class WorkerResult:
    worker: int
    metrics: dict[str, Any] | None
    stats: EngineStats | None
    error: str | None = None  # one line: why this worker failed
    detail: str | None = None  # its traceback, for the run's log


class RunControl:
    """Stops a run from outside (signals, a failing live check, a UI). Listeners
    are the engines (in process) or the pipes to the workers."""

    def __init__(self, start_gate: Callable[[], Awaitable[int | None]] | None = None) -> None:
        self.interrupted = False
        self.ended = False
        self.aborted = False  # stopped by a failing live check: the verdict is fail
        self.reason: str | None = None
        # A distributed run's common start: awaited once every worker has opened its
        # connections, it returns the start instant (perf_counter_ns) or None when the
        # run was stopped before it began. Without one, the run starts at once.
        self.start_gate = start_gate
        self._listeners: list[tuple[Callable[[], None], Callable[[], None]]] = []

    def listen(self, interrupt: Callable[[], None], end: Callable[[], None]) -> None:
        self._listeners.append((interrupt, end))
        if self.interrupted:
            interrupt()
        if self.ended:
            end()

    def interrupt(self, reason: str = "interrupted") -> None:
        if self.interrupted:
            return
        self.interrupted = True
        self.reason = reason
        for on_interrupt, _ in list(self._listeners):
            on_interrupt()

    def abort(self, reason: str) -> None:
        """Stop because the run has already failed (a live check, k6's abortOnFail)."""
        if not self.interrupted:
            self.aborted = True
        self.interrupt(reason)

    def end_now(self) -> None:
        self.interrupt()
        if self.ended:
            return
        self.ended = True
        for _, on_end in list(self._listeners):
            on_end()

    def signal(self, signum: int) -> None:
        """First signal: interrupt; second: end now."""
        if self.interrupted:
            self.end_now()
        else:
            self.interrupt(f"interrupted by {signal.Signals(signum).name}")


def _share(total: int, worker: int, workers: int) -> int:
    return total // workers + (1 if worker < total % workers else 0)


def split(engine: EngineConfig, transport_config: TransportConfig, procs: int) -> list[tuple[EngineConfig, TransportConfig]]:
    """Each process's engine and transport settings: users and connections split as
    evenly as possible (the plan made sure each gets at least one)."""
    out = []
    for k in range(procs):
        load = engine.load
        users = _share(int(load.users), k, procs) if load.users else load.users
        connections = _share(transport_config.connections, k, procs)
        out.append((replace(engine, load=replace(load, users=users, connections=connections)),
                    replace(transport_config, connections=connections)))
    return out


def build_source(plan: WorkerPlan, metrics: Metrics | None = None) -> TrafficSource:
    t = plan.traffic
    ctx = TrafficContext(
        client=t.client,
        token=t.token,
        seed=t.seed,
        worker=plan.worker,
        workers=plan.workers,
        run_id=t.run_id,
        # The wall clock now, a moment before t0: dates in the traffic are never in
        # the future of the target's clock on the same machine.
        wall_start=datetime.now(UTC).replace(tzinfo=None),
        reference=reference_data(t.reference_seed),
        restricted_token=t.restricted_token,
        metrics=metrics,
    )
    return plan.source.build(ctx)


class _Channel:
    """How a worker talks to whoever started it."""

    async def wait_start(self, engine: Engine) -> int | None: ...
    def tick(self, tick: Tick) -> None: ...


async def run_worker(plan: WorkerPlan, channel: _Channel) -> WorkerResult:
    metrics = Metrics(late_threshold_ns=int(float(plan.engine.load.late_after) * 1e9), basis=plan.basis)
    engine: Engine | None = None
    try:
        source = build_source(plan, metrics)
        transport = make_transport(plan.transport, plan.transport_config)
        engine = Engine(plan.engine, source, metrics, transport, worker=plan.worker, workers=plan.workers)
        await engine.open()
        # Everything built so far (pre-encoded calls, histograms, connections) lives
        # for the whole run: move it out of the collector's sight, so the cyclic GC's
        # pauses scan only what the run itself allocates.
        gc.collect()
        gc.freeze()
        t0 = await channel.wait_start(engine)
        if t0 is None:  # stopped before the start
            await engine.transport.close()
            return WorkerResult(worker=plan.worker, metrics=metrics.encode(), stats=None)
        stats = await engine.run(t0, channel.tick)
    except BaseException as exc:  # noqa: BLE001 - reported with what was measured
        if engine is not None:
            await _close_quietly(engine)
        return WorkerResult(worker=plan.worker, metrics=metrics.encode(), stats=None,
                            error=_one_line(exc), detail="".join(traceback.format_exception(exc)))
    finally:
        gc.unfreeze()
    error = None
    if stats.crash:
        error = "the engine stopped on an error: " + stats.crash.strip().splitlines()[-1]
    return WorkerResult(worker=plan.worker, metrics=metrics.encode(), stats=stats, error=error, detail=stats.crash)


async def _close_quietly(engine: Engine) -> None:
    try:
        await engine.transport.close()
    except BaseException:  # noqa: BLE001 - already reporting a failure
        pass


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__


# --- in this process ------------------------------------------------------------------


class _LocalChannel(_Channel):
    def __init__(self, on_tick: Callable[[int, Tick], None], control: RunControl) -> None:
        self.on_tick = on_tick
        self.control = control

    async def wait_start(self, engine: Engine) -> int | None:
        self.control.listen(engine.interrupt, engine.end_now)
        if self.control.interrupted:
            return None
        if self.control.start_gate is not None:
            t0 = await self.control.start_gate()
            return None if self.control.interrupted else t0
        return time.perf_counter_ns() + START_LEAD_NS // 4

    def tick(self, tick: Tick) -> None:
        self.on_tick(0, tick)


async def run_here(plan: WorkerPlan, on_tick: Callable[[int, Tick], None], control: RunControl) -> list[WorkerResult]:
    return [await run_worker(plan, _LocalChannel(on_tick, control))]


# --- in worker processes ---------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux for SIGTERM when the parent dies (a no-op elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class _PipeChannel(_Channel):
    def __init__(self, conn: multiprocessing.connection.Connection, parent: int) -> None:
        self.conn = conn
        self.parent = parent
        self.orphaned = False

    async def wait_start(self, engine: Engine) -> int | None:
        loop = asyncio.get_running_loop()
        started: asyncio.Future[int | None] = loop.create_future()
        for sig in SIGNALS:  # Ctrl-C reaches the whole process group; SIGTERM the parent's death
            loop.add_signal_handler(sig, engine.interrupt)

        def stop(end: bool) -> None:
            (engine.end_now if end else engine.interrupt)()
            if not started.done():
                started.set_result(None)

        def on_message() -> None:
            try:
                while self.conn.poll():
                    kind, *rest = self.conn.recv()
                    if kind == "start" and not started.done():
                        started.set_result(rest[0])
                    elif kind in ("stop", "end"):
                        stop(kind == "end")
            except (EOFError, OSError):
                # The parent is gone: stop at once; nobody will read a result.
                self.orphaned = True
                loop.remove_reader(self.conn.fileno())
                stop(True)

        loop.add_reader(self.conn.fileno(), on_message)
        self.conn.send(("ready",))
        if os.getppid() != self.parent:  # died before we asked the kernel to tell us
            stop(True)
        return await started

    def tick(self, tick: Tick) -> None:
        if not self.orphaned:
            try:
                self.conn.send(("tick", tick.encode()))
            except OSError:
                self.orphaned = True


def _child_main(plan: WorkerPlan, conn: multiprocessing.connection.Connection, parent: int) -> None:
    _die_with_parent()
    # Until the event loop handles signals itself, a Ctrl-C must not kill us with a
    # traceback: the parent will tell us to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = _PipeChannel(conn, parent)
    try:
        result = uvloop.run(run_worker(plan, channel))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which prints one line
        result = WorkerResult(worker=plan.worker, metrics=None, stats=None, error=_one_line(exc),
                              detail=traceback.format_exc())
    if not channel.orphaned:
        try:
            conn.send(("final", result))
        except OSError:
            pass


class _Fleet:
    """The worker processes of one run, driven from the parent's event loop."""

    def __init__(self, plans: list[WorkerPlan], on_tick: Callable[[int, Tick], None], control: RunControl) -> None:
        self.plans = plans
        self.on_tick = on_tick
        self.control = control
        self.conns: dict[int, multiprocessing.connection.Connection] = {}
        self.procs: dict[int, multiprocessing.process.BaseProcess] = {}
        self.results: dict[int, WorkerResult] = {}
        self.ready: set[int] = set()
        self._changed = asyncio.Event()
        self._started = False

    def start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        loop = asyncio.get_running_loop()
        for plan in self.plans:
            parent_end, child_end = ctx.Pipe()
            p = ctx.Process(target=_child_main, args=(plan, child_end, os.getpid()),
                            name=f"harness-worker-{plan.worker}", daemon=True)
            p.start()
            child_end.close()
            self.conns[plan.worker], self.procs[plan.worker] = parent_end, p
            loop.add_reader(parent_end.fileno(), self._receive, plan.worker)
        self.control.listen(lambda: self._send_all("stop"), self._end)

    def _send_all(self, kind: str) -> None:
        for k, conn in self.conns.items():
            if k not in self.results:
                try:
                    conn.send((kind,))
                except OSError:
                    pass

    def _end(self) -> None:
        self._send_all("end")
        asyncio.get_running_loop().call_later(KILL_AFTER_END_S, self._kill_stragglers)

    def _kill_stragglers(self) -> None:
        for k, p in self.procs.items():
            if k not in self.results and p.is_alive():
                p.kill()

    def _receive(self, k: int) -> None:
        conn = self.conns[k]
        try:
            while conn.poll():
                kind, *rest = conn.recv()
                if kind == "tick":
                    self.on_tick(k, Tick(**rest[0]))
                elif kind == "ready":
                    self.ready.add(k)
                elif kind == "final":
                    self.results[k] = rest[0]
                    self._forget(k)
                    break
        except (EOFError, OSError):
            self._lost(k)
        self._changed.set()

    def _forget(self, k: int) -> None:
        try:
            asyncio.get_running_loop().remove_reader(self.conns[k].fileno())
        except (OSError, ValueError):
            pass

    def _lost(self, k: int) -> None:
        """The worker's end of the pipe closed without a result: it died."""
        self._forget(k)
        if k in self.results:
            return
        proc = self.procs[k]
        proc.join(timeout=1)
        code = proc.exitcode
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        self.results[k] = WorkerResult(worker=k, metrics=None, stats=None,
                                       error=f"worker {k} exited without a result ({how})")
        # A run missing a worker's measurements is not worth continuing.
        self.control.interrupt(f"worker {k} failed")

    async def _wait(self, done: Callable[[], bool], timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done():
            self._changed.clear()
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=min(0.5, left) if left is not None else 0.5)
            except TimeoutError:
                for k, p in self.procs.items():  # a worker gone without closing its pipe
                    if k not in self.results and not p.is_alive():
                        self._lost(k)
        return True

    async def run(self) -> list[WorkerResult]:
        self.start()
        try:
            ready = await self._wait(lambda: all(k in self.ready or k in self.results for k in self.conns)
                                     or self.control.interrupted, READY_TIMEOUT_S)
            if not ready:
                for k in self.conns:
                    if k not in self.ready and k not in self.results:
                        self.results[k] = WorkerResult(worker=k, metrics=None, stats=None,
                                                       error=f"worker {k} did not start within {READY_TIMEOUT_S:g}s")
                        self.procs[k].kill()
                self.control.interrupt("a worker did not start")
            t0: int | None = time.perf_counter_ns() + START_LEAD_NS
            if not self.control.interrupted and self.control.start_gate is not None:
                t0 = await self.control.start_gate()
            if t0 is not None and not self.control.interrupted:
                for k, conn in self.conns.items():
                    if k not in self.results:
                        conn.send(("start", t0))
            await self._wait(lambda: len(self.results) == len(self.conns))
        finally:
            for k in list(self.conns):
                self._forget(k)
            for p in self.procs.values():
                await asyncio.get_running_loop().run_in_executor(None, p.join, 5)
                if p.is_alive():
                    p.kill()
            for conn in self.conns.values():
                conn.close()
        return [self.results[k] for k in sorted(self.results)]


async def run_in_processes(plans: list[WorkerPlan], on_tick: Callable[[int, Tick], None],
                           control: RunControl) -> list[WorkerResult]:
    """Start one process per plan, run them together, collect their results."""
    return await _Fleet(plans, on_tick, control).run()
