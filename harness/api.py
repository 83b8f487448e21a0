"""The harness as a library: plan a run, point it at a target, execute it, keep it.

    from harness.api import load_plan, embedded_controller, execute, write_result

    plan = load_plan("scenarios/smoke.toml", {"load.rate": 200, "load.duration": "5s"})
    with embedded_controller(seed=plan.load.seed) as target:   # serves many runs
        result = await execute(plan, target)                    # or run(plan, target)
    written = write_result(result)                              # reports/smoke/<time>-<id>/
    result.verdict, result.exit_code, result.summary["all"]["latency_ms"]["p99"]

Every way of running (``harness run``, replay, capacity search, the benchmarks, the
Locust engine worker) is a caller of ``execute``; nothing else runs the engine.
``RunResult`` holds the merged ``Metrics`` (exact histograms), the timeline, the
``summary.json`` document, the checks and the verdict.

Verdicts and exit codes: ``pass`` 0, ``fail`` 1 (a check failed, or a live check
aborted the run), ``error`` 3 (the harness itself failed: a crash in a worker, the
engine, a source or a transport, or a report that could not be written),
``interrupted`` 130. Usage errors (``ConfigError``) are 2 and happen before anything
is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
import uvloop

from harness.checks import CheckResult, evaluate
from harness.engine import EngineConfig, Model
from harness.errors import ConfigError
from harness.metrics import Metrics, Tick
from harness.plan import Override, Plan, load_plan
from harness.report import hgrm
from harness.report.rundir import Written, run_dir_name, write_run_dir
from harness.report.summary import RunInfo, build_summary
from harness.safety import check_targets
from harness.timeline import Second, Timeline
from harness.transport import Origin, TransportConfig
from harness.workers import (
    SIGNALS,
    RunControl,
    TrafficSettings,
    WorkerPlan,
    WorkerResult,
    run_here,
    run_in_processes,
    split,
)

__all__ = [
    "EXIT_CODES", "Override", "Plan", "RunControl", "RunResult", "Target", "embedded_controller",
    "execute", "external_target", "install_signal_handlers", "judge_measured", "load_plan", "open_target",
    "run", "serve_controller", "write_result",
]

EXIT_CODES = {"pass": 0, "fail": 1, "error": 3, "interrupted": 130}
EXIT_USAGE = 2


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where a run sends its load, and the tokens it sends (never shown)."""

    controller: Origin
    plate_service: Origin
    token: str = field(repr=False)
    restricted_token: str | None = field(default=None, repr=False)
    embedded: bool = False
    reference_seed: int | None = None  # the embedded controller's data seed


def external_target(plan: Plan, environ: Mapping[str, str] | None = None) -> Target:
    """The target a plan names: loopback only unless allowed, the token from the
    environment variable the plan names."""
    env = os.environ if environ is None else environ
    t = plan.target
    if t.url is None:
        raise ConfigError("the plan names no target url (use open_target or embedded_controller)")
    controller = _origin(t.url, "target url")
    plate = _origin(t.plate_service, "target plate_service") if t.plate_service else controller
    check_targets([controller, plate], t.allow_hosts, scenario=str(plan.scenario) if plan.scenario else None)
    token = env.get(t.token_env, "")
    if not token:
        raise ConfigError(f"environment variable {t.token_env} is empty or unset: export the API token there "
                          "(it is never written anywhere)")
    restricted = (env.get(t.restricted_token_env, "") or None) if t.restricted_token_env else None
    return Target(controller=controller, plate_service=plate, token=token, restricted_token=restricted)


def _origin(url: str, where: str) -> Origin:
    try:
        return Origin.parse(url)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


@contextlib.contextmanager
def embedded_controller(*, seed: int = 1, client: str = "OC_TOMA", extra_args: tuple[str, ...] = (),
                        cpu: int | None = None) -> Iterator[Target]:
    """The reference controller on a free loopback port with fresh tokens, for as
    many runs as the block holds. It runs in a session of its own (a terminal's
    Ctrl-C must not take it down while a run drains) and exits when this process
    dies (it watches the pipe on its stdin)."""
    from harness.controller.process import start_controller_process

    token = f"run-{secrets.token_hex(16)}"
    restricted = f"restricted-{secrets.token_hex(12)}"
    with start_controller_process(tokens=[token, f"{restricted}:plate-validate"], client=client, seed=seed,
                                  extra_args=extra_args, cpu=cpu, watch_parent=True) as ctl:
        origin = Origin.parse(ctl.url)
        yield Target(controller=origin, plate_service=origin, token=token, restricted_token=restricted,
                     embedded=True, reference_seed=seed)


def serve_controller(config: Any, *, exit_on_stdin_eof: bool = False) -> None:
    """Run the reference controller (a ``harness.controller.config.ControllerConfig``)
    in this process until SIGINT or SIGTERM: what ``harness serve`` does."""
    from harness.controller.serve import serve_until_stopped

    serve_until_stopped(config, exit_on_stdin_eof=exit_on_stdin_eof)


@contextlib.contextmanager
def open_target(plan: Plan, environ: Mapping[str, str] | None = None) -> Iterator[Target]:
    """The plan's target, or the embedded controller (seeded with the plan's seed)
    when it names none."""
    if plan.target.url is None:
        with embedded_controller(seed=int(plan.load.seed), client=plan.target.client) as target:
            yield target
    else:
        yield external_target(plan, environ)


# --- executing ------------------------------------------------------------------------------


@dataclass
class RunResult:
    plan: Plan
    target: Target
    run_id: str
    started: datetime
    info: RunInfo
    metrics: Metrics
    timeline: Timeline
    summary: dict[str, Any]
    checks: list[CheckResult]
    verdict: str  # pass | fail | error | interrupted
    errors: list[str]  # one line each: why the harness failed
    log: str  # tracebacks and details, for run.log

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]


def install_signal_handlers(control: RunControl) -> Callable[[], None]:
    """SIGINT, SIGTERM and SIGHUP stop the run like Ctrl-C; a second one ends it at
    once. Returns a function removing the handlers."""
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, control.signal, sig)

    def remove() -> None:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)

    return remove


def _worker_plans(plan: Plan, target: Target, run_id: str, shard: tuple[int, int] = (0, 1)) -> list[WorkerPlan]:
    load = plan.load
    engine = EngineConfig(model=plan.model, pacer=plan.pacer, load=load)
    transport = TransportConfig(
        controller=target.controller,
        plate_service=target.plate_service,
        connections=int(load.connections),
        connect_timeout=float(load.connect_timeout),
        request_timeout=float(load.timeout),
        tls_verify=plan.target.tls_verify,
        max_body=int(load.max_body),
    )
    traffic = TrafficSettings(
        client=plan.target.client,
        token=target.token,
        restricted_token=target.restricted_token,
        seed=int(load.seed),
        run_id=run_id,
        # The traffic's idea of which plates have permits must match the target's
        # data: the embedded controller's seed, else the plan's.
        reference_seed=target.reference_seed if target.reference_seed is not None else int(load.seed),
    )
    procs = int(load.procs)
    index, count = shard
    # Shard k of N (a Locust worker's engine) takes hits k, k+N, ... of the one
    # schedule; its process j of P is worker k + jN of NP, so the shards' processes
    # together split the schedule exactly as one run's would.
    return [
        WorkerPlan(worker=index + j * count, workers=count * procs, engine=e, transport=str(load.transport),
                   transport_config=tc, source=plan.source, traffic=traffic)
        for j, (e, tc) in enumerate(split(engine, transport, procs))
    ]


async def execute(plan: Plan, target: Target, *, control: RunControl | None = None,
                  on_second: Callable[[Second], None] | None = None, run_id: str | None = None,
                  shard: tuple[int, int] = (0, 1)) -> RunResult:
    """Run ``plan`` against ``target`` and judge it. ``on_second`` sees each second
    of the timeline once every worker has reported it; ``control`` stops the run
    from outside (the caller installs signal handlers if it wants them). ``shard``
    (k, N): run only the k-th of N equal shares of the plan's schedule (a
    distributed run; the caller merges the shards' metrics). The same ``run_id``
    on every shard keeps their generated ids apart by worker number."""
    control = control or RunControl()
    run_id = run_id or secrets.token_hex(3)
    if not 0 <= shard[0] < shard[1]:
        raise ValueError(f"shard {shard[0]} of {shard[1]} does not exist")
    plans = _worker_plans(plan, target, run_id, shard)
    timeline = Timeline(len(plans))
    observers = [o for make in LIVE_OBSERVERS if (o := make(plan, control)) is not None]

    def on_tick(worker: int, tick: Tick) -> None:
        for row in timeline.add(worker, tick):
            for observer in observers:
                observer.second(row)
            if on_second is not None:
                on_second(row)

    started = datetime.now(UTC)
    try:
        if len(plans) == 1:
            results = await run_here(plans[0], on_tick, control)
        else:
            results = await run_in_processes(plans, on_tick, control)
    finally:
        for observer in observers:
            observer.close()
    for row in timeline.finish():
        if on_second is not None:
            on_second(row)
    result = judge(plan, target, run_id, started, results, timeline, control, plans)
    for observer in observers:
        observer.finish(result)
    return result


class LiveObserver(Protocol):
    """Something that watches a run while it goes (live gates, the Prometheus
    endpoint): it sees each second of the timeline during the run (never the seconds
    completed after it ended), is closed when the run ends, and may then amend the
    result (before the run directory is written)."""

    def second(self, row: Second) -> None: ...
    def close(self) -> None: ...
    def finish(self, result: RunResult) -> None: ...


# Observers every run gets: functions of (plan, control) returning a LiveObserver, or
# None when the plan asks for nothing of theirs. harness.extensions registers them.
LIVE_OBSERVERS: list[Callable[[Plan, RunControl], LiveObserver | None]] = []


def judge(plan: Plan, target: Target, run_id: str, started: datetime, results: list[WorkerResult],
          timeline: Timeline, control: RunControl, plans: list[WorkerPlan]) -> RunResult:
    """Merge the workers' results into the summary, the checks and the verdict."""
    metrics = Metrics.from_encoded(r.metrics for r in results if r.metrics is not None)
    stats = [r.stats for r in results if r.stats is not None]
    errors = [r.error if len(results) == 1 else f"worker {r.worker}: {r.error}" for r in results if r.error]
    log = "\n\n".join(r.detail for r in results if r.detail)
    interrupted = control.interrupted or any(s.interrupted for s in stats) or len(stats) < len(results)
    duration = max((s.schedule_s for s in stats), default=0.0)
    intended = sum(s.issued for s in stats)
    info = RunInfo(
        started=started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        duration_s=round(duration, 3),
        elapsed_s=round(max((s.elapsed_s for s in stats), default=0.0), 3),
        target=target.controller.url,
        plate_service=target.plate_service.url,
        client=plan.target.client,
        model=plan.model.value,
        arrival=str(plan.pacer) if plan.pacer is not None else f"closed: {plan.load.users} users",
        intended_requests=intended,
        intended_rate=intended / duration if plan.model is Model.OPEN and duration > 0 else None,
        users=int(plan.load.users) if plan.model is Model.CLOSED else None,
        connections=sum(p.transport_config.connections for p in plans),
        procs=len(plans),
        transport=str(plan.load.transport),
        interrupted=interrupted,
        reason=control.reason if interrupted else None,
        scenario=str(plan.scenario) if plan.scenario else None,
        seed=int(plan.load.seed),
        run_id=run_id,
        embedded_target=target.embedded,
    )
    return judge_measured(plan, target, run_id, started, metrics, timeline, info,
                          aborted=control.aborted, errors=errors, log=log)


def judge_measured(plan: Plan, target: Target, run_id: str, started: datetime, metrics: Metrics,
                   timeline: Timeline, info: RunInfo, *, aborted: bool = False, errors: list[str] | None = None,
                   log: str = "", plan_doc: dict[str, Any] | None = None) -> RunResult:
    """The summary, checks and verdict of metrics however they were measured and
    merged (this engine's workers, Locust workers, engine shards on Locust workers).
    ``info.interrupted`` makes the verdict ``interrupted``; ``aborted`` (a live
    check stopped the run) ``fail``; any ``errors`` ``error``. ``plan_doc`` replaces
    ``plan.describe()`` as summary.json's ``plan`` (a run not driven by this engine)."""
    errors = list(errors or ())
    summary = build_summary(metrics, info, [row.brief() for row in timeline.rows],
                            plan_doc if plan_doc is not None else plan.describe())
    checks = evaluate(plan.checks, summary)
    summary["checks"] = [c.as_json() for c in checks]
    if errors:
        verdict = "error"
    elif aborted:
        verdict = "fail"
    elif info.interrupted:
        verdict = "interrupted"
    else:
        verdict = "fail" if any(not c.passed for c in checks) else "pass"
    summary["verdict"] = verdict
    summary["exit_code"] = EXIT_CODES[verdict]
    summary["errors"] = errors
    return RunResult(plan=plan, target=target, run_id=run_id, started=started, info=info, metrics=metrics,
                     timeline=timeline, summary=summary, checks=checks, verdict=verdict, errors=errors, log=log)


def run(plan: Plan, target: Target, **kw: Any) -> RunResult:
    """``execute`` from synchronous code (its own uvloop event loop)."""
    return uvloop.run(execute(plan, target, **kw))


# --- keeping ----------------------------------------------------------------------------------

_JSON = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS


def metrics_document(result: RunResult) -> dict[str, Any]:
    """``metrics.json``: the exact measurement (encoded histograms and counters, the
    timeline with each second's histogram), from which every report can be rebuilt."""
    return {
        "schema": 1,
        "run": result.summary["run"],
        "plan": result.summary["plan"],
        "metrics": result.metrics.encode(),
        "timeline": result.timeline.encode(),
    }


# Outputs written into every run directory, after the summary and the metrics:
# functions of (run directory, result). harness.extensions registers report.html,
# junit.xml and the CSV files.
EXTRA_WRITERS: list[Callable[[Path, RunResult], None]] = []


def write_result(result: RunResult, root: Path | None = None) -> Written:
    """Write the run directory under ``root`` (default: the plan's output root)."""
    root = root if root is not None else result.plan.output

    def fill(directory: Path) -> None:
        (directory / "summary.json").write_bytes(orjson.dumps(result.summary, option=_JSON) + b"\n")
        (directory / "metrics.json").write_bytes(orjson.dumps(metrics_document(result)) + b"\n")
        hgrm.write_all(result.metrics, directory)
        if result.log or result.errors:
            (directory / "run.log").write_text("\n".join(result.errors) + "\n\n" + result.log)
        for writer in EXTRA_WRITERS:
            writer(directory, result)

    return write_run_dir(root, run_dir_name(result.started, result.run_id), fill)


def ignore_sigpipe_output() -> None:
    """After stdout's reader went away (``| head``), further prints go nowhere."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)


# The outputs and live observers every run gets (report.html, junit.xml, CSV, live
# gates, the Prometheus endpoint) register themselves in the lists above.
from harness import extensions as _extensions  # noqa: E402,F401 - registration, after the lists exist
