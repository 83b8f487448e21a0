"""Drive load at an OPSCOM controller, measure it, and gate on thresholds.

Exit status: 0 every check passed, 1 a check failed, 2 a usage or configuration
error (nothing was sent), 130 interrupted (the report is still written).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from harness.checks import evaluate, parse_checks
from harness.engine import EngineConfig, Model
from harness.errors import ConfigError
from harness.metrics import Metrics, Tick
from harness.report import hgrm
from harness.report.summary import RunInfo, build_summary
from harness.report.terminal import LiveView, render_table
from harness.safety import check_targets
from harness.scenario import RunConfig, load_run_config
from harness.timeline import Timeline
from harness.transport import TRANSPORT_NAMES, Origin, TransportConfig
from harness.workers import (
    TrafficPlan,
    WorkerResult,
    build_source,
    run_here,
    run_in_processes,
    split_plans,
)

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", nargs="?", help="scenario file (TOML); flags override it")
    p.add_argument("--target", metavar="URL", help="controller base URL (default: start the reference controller)")
    p.add_argument("--plate-service", metavar="URL", help="plate service base URL (default: the target)")
    p.add_argument("--client", metavar="CODE", help="client code, e.g. OC_TOMA")
    p.add_argument("--token-env", metavar="VAR", help="environment variable holding the API token (default OPSCOM_API_TOKEN)")
    model = p.add_mutually_exclusive_group()
    model.add_argument("--rate", metavar="N", help="open model: requests per second")
    model.add_argument("--users", metavar="N", help="closed model: concurrent users")
    p.add_argument("--arrival", choices=("constant", "poisson", "sine", "stages"), help="open-model arrival shape")
    p.add_argument("--think", metavar="DURATION", help="closed model: pause after each answer")
    p.add_argument("--duration", metavar="DURATION", help="how long to send, e.g. 30s, 5m")
    p.add_argument("--mix", metavar="NAME=W,...", help="traffic mix, e.g. enforcement=80,meters=15,invalid=5")
    p.add_argument("--connections", metavar="N", help="connection pool size (split over processes)")
    p.add_argument("--procs", metavar="N", help="worker processes (default: the number of cores)")
    p.add_argument("--transport", choices=TRANSPORT_NAMES, help="fast (uvloop + httptools) or aiohttp")
    p.add_argument("--timeout", metavar="DURATION", help="request timeout (default 10s)")
    p.add_argument("--connect-timeout", metavar="DURATION", help="connect timeout (default 5s)")
    p.add_argument("--seed", metavar="N", help="traffic seed (reproducible runs)")
    p.add_argument("--check", action="append", metavar="EXPR", help="threshold, e.g. 'plate_validate.p99<200ms' (repeatable; added to the scenario's)")
    p.add_argument("--out", metavar="DIR", help="output directory (default reports/<scenario name>)")
    p.add_argument("--allow-host", action="append", metavar="HOST", help="allow load to this non-loopback host (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no live view")
    p.add_argument("--dry-run", action="store_true", help="check the scenario and flags, print the plan, send nothing")


@dataclass(frozen=True)
class _Target:
    controller: Origin
    plate_service: Origin
    token: str
    restricted_token: str | None
    embedded: bool


def _origin(url: str, where: str) -> Origin:
    try:
        return Origin.parse(url)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


@contextlib.contextmanager
def _target(config: RunConfig) -> Iterator[_Target]:
    """The target's origins and tokens; starts the reference controller if none."""
    t = config.target
    if t.url is None:
        from harness.controller.process import start_controller_process

        token = f"run-{secrets.token_hex(16)}"
        restricted = f"restricted-{secrets.token_hex(12)}"
        with start_controller_process(
            tokens=[token, f"{restricted}:plate-validate"], client=t.client, seed=config.load.seed
        ) as ctl:
            origin = Origin.parse(ctl.url)
            yield _Target(origin, origin, token, restricted, embedded=True)
        return
    controller = _origin(t.url, "target url")
    plate = _origin(t.plate_service, "target plate_service") if t.plate_service else controller
    check_targets([controller, plate], t.allow_hosts, scenario=str(config.scenario) if config.scenario else None)
    token = os.environ.get(t.token_env, "")
    if not token:
        raise ConfigError(f"environment variable {t.token_env} is empty or unset: export the API token there (it is never written anywhere)")
    restricted = os.environ.get(t.restricted_token_env, "") or None if t.restricted_token_env else None
    yield _Target(controller, plate, token, restricted, embedded=False)


def _engine_config(config: RunConfig, target: _Target) -> EngineConfig:
    load = config.load
    return EngineConfig(
        model=load.model,
        transport=load.transport,
        transport_config=TransportConfig(
            controller=target.controller,
            plate_service=target.plate_service,
            connections=load.connections,
            connect_timeout=load.connect_timeout,
            request_timeout=load.timeout,
            tls_verify=config.target.tls_verify,
        ),
        pacer=load.pacer,
        users=load.users,
        think=load.think,
        duration=load.duration,
        max_backlog=load.max_backlog,
        late_threshold=load.late_after,
        drain_timeout=load.drain,
    )


def _traffic_plan(config: RunConfig, target: _Target, run_id: str) -> TrafficPlan:
    return TrafficPlan(
        mix=config.mix,
        options=config.traffic_options,
        where=config.traffic_where,
        client=config.target.client,
        token=target.token,
        restricted_token=target.restricted_token,
        seed=config.load.seed,
        run_id=run_id,
        # The embedded controller is seeded with the run's seed, so the traffic's idea
        # of which plates have permits matches it.
        reference_seed=config.load.seed,
    )


def _describe(config: RunConfig, target: _Target) -> str:
    load = config.load
    shape = str(load.pacer) if load.model is Model.OPEN else f"closed: {load.users} users"
    where = "embedded reference controller" if target.embedded else "target"
    return (
        f"harness run {config.name}: {target.controller.url} ({where}), {shape}, "
        f"{load.transport} transport, {load.procs} proc(s), {load.connections} connections"
    )


def _run_info(config: RunConfig, target: _Target, started: datetime, results: list[WorkerResult], run_id: str) -> RunInfo:
    load = config.load
    stats = [r.stats for r in results if r.stats is not None]
    interrupted = any(s.interrupted for s in stats) or len(stats) < len(results)
    schedule_s = max((s.schedule_s for s in stats), default=0.0)
    open_model = load.model is Model.OPEN
    pacer = load.pacer
    return RunInfo(
        started=started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        duration_s=round(schedule_s, 3),
        elapsed_s=round(max((s.elapsed_s for s in stats), default=0.0), 3),
        target=target.controller.url,
        plate_service=target.plate_service.url,
        client=config.target.client,
        model=load.model.value,
        arrival=str(pacer) if pacer is not None else f"closed: {load.users} users, think {load.think:g}s",
        intended_rate=(pacer.expected_hits() / pacer.duration) if open_model and pacer else None,
        intended_requests=sum(s.issued for s in stats) if interrupted or not open_model else int(pacer.expected_hits()),  # type: ignore[union-attr]
        users=load.users if not open_model else None,
        connections=load.connections,
        procs=load.procs,
        transport=load.transport,
        interrupted=interrupted,
        scenario=str(config.scenario) if config.scenario else None,
        seed=load.seed,
        run_id=run_id,
        embedded_target=target.embedded,
    )


def _write_outputs(out: Path, summary: dict[str, Any], metrics: Metrics) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    hgrm.write_all(metrics, out)


def _prepare_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create the output directory: {exc.strerror or exc}") from None


def main(args: argparse.Namespace) -> int:
    config = load_run_config(args)
    checks = parse_checks(config.checks)  # a bad expression stops us before any traffic
    if args.dry_run:
        return _dry_run(config)
    _prepare_out(config.out)
    run_id = secrets.token_hex(3)
    with _target(config) as target:
        engine = _engine_config(config, target)
        plans = split_plans(engine, _traffic_plan(config, target, run_id), config.load.procs)
        build_source(plans[0])  # a bad [traffic] option: a config error now, not a worker crash
        live = LiveView(engine.schedule_duration, quiet=config.quiet)
        live.message(_describe(config, target))
        timeline = Timeline(len(plans))

        def on_tick(worker: int, tick: Tick) -> None:
            for row in timeline.add(worker, tick):
                live.second(row)

        started = datetime.now(UTC)
        t_start = time.monotonic()
        results = run_here(plans[0], on_tick) if len(plans) == 1 else run_in_processes(plans, on_tick)
        timeline.finish()
        live.end()
    errors = [r.error for r in results if r.error]
    for err in errors:
        print(f"harness: worker failed: {err.strip().splitlines()[-1]}", file=sys.stderr)
    metrics = Metrics.merged(r.metrics for r in results if r.metrics is not None)
    info = _run_info(config, target, started, results, run_id)
    if not info.duration_s:
        info = _with_duration(info, time.monotonic() - t_start)
    summary = build_summary(metrics, info, [row.as_json() for row in timeline.rows])
    verdicts = evaluate(checks, summary)
    summary["checks"] = [v.as_json() for v in verdicts]
    failed = bool(errors) or any(not v.passed for v in verdicts)
    summary["verdict"] = "interrupted" if info.interrupted else ("fail" if failed else "pass")
    _write_outputs(config.out, summary, metrics)
    print(render_table(summary))
    print(f"report: {config.out / 'summary.json'}")
    if info.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAIL if failed else EXIT_PASS


def _dry_run(config: RunConfig) -> int:
    """Validate everything that can be validated without a target, then say the plan."""
    if config.target.url is not None:
        controller = _origin(config.target.url, "target url")
        plate = _origin(config.target.plate_service, "target plate_service") if config.target.plate_service else controller
        check_targets([controller, plate], config.target.allow_hosts, scenario=str(config.scenario) if config.scenario else None)
    else:
        controller = plate = Origin.parse("http://127.0.0.1:1")
    target = _Target(controller, plate, "dry-run", None, embedded=config.target.url is None)
    engine = _engine_config(config, target)
    build_source(split_plans(engine, _traffic_plan(config, target, "dryrun"), config.load.procs)[0])
    print(_describe(config, target).replace("http://127.0.0.1:1 ", ""))
    print(f"mix: {', '.join(f'{k}={v:g}' for k, v in config.mix.items())}")
    for expr in config.checks:
        print(f"check: {expr}")
    print("dry run: configuration is valid; nothing was sent")
    return EXIT_PASS


def _with_duration(info: RunInfo, seconds: float) -> RunInfo:
    return replace(info, duration_s=round(seconds, 3))
