"""Transport benchmark: how fast can one harness process drive a trivial server?

nginx (one worker, pinned to core 0) answers POST /api/v1/validate/plate with a fixed
plate-validation answer. On core 1, in turn and each for the same duration and number of
connections, run:

* ``wrk`` (one thread), the ceiling a C load generator reaches;
* Locust ``FastHttpUser`` (one process, no wait time), the tool the harness replaces;
* the harness, through its library API (``bench/harness_peer.py``), with the fast and
  the aiohttp transport, in the closed model;

then, at 80% of the fast transport's closed-model maximum, the harness in the open model,
to see whether the achieved rate is within 1% of the intended one.

Rounds are interleaved (round 1: every peer, round 2: every peer, ...) and each peer's
requests/s is the median of its rounds. Prints a markdown table and the goal lines, and
writes everything, per-round numbers included, to bench/.work/transport_bench.json.

The parts: ``machine.py`` (pinning, tools, processes, other load), ``peers.py`` (nginx,
wrk, Locust), ``harness_peer.py`` (the harness through ``harness.api``),
``readme_table.py`` (results, goals, the README's table); this file runs the rounds.

Usage: ``.venv/bin/python bench/transport_bench.py [--quick] [--skip locust] ...``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness_peer import run_harness
from machine import (
    LOAD_CORE,
    SERVER_CORE,
    WORK,
    BenchError,
    Sample,
    apt_install,
    check_cores,
    cpu_snapshot,
    other_load,
    rel,
    say,
    stop_packaged_nginx,
    venv_tool,
    wait_for_quiet,
)
from peers import Nginx, run_locust, run_wrk, write_wrk_script
from readme_table import (
    DOC_BEGIN,
    DOC_END,
    OPEN_FRACTION,
    RESULT_JSON,
    OpenResult,
    PeerResult,
    judge,
    render_report,
    update_doc,
    write_json,
)

PEERS: tuple[str, ...] = ("wrk", "locust", "fast", "aiohttp")
SKIPPABLE: tuple[str, ...] = (*PEERS, "open")


@dataclass
class Config:
    """What to run, from the command line."""

    duration: int
    connections: int
    rounds: int
    skip: frozenset[str]
    update_doc: Path | None


# --------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> Config:
    """Read the flags; ``--quick`` means 2 rounds of 5 s unless given explicitly."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=None, help="seconds per run (default 10)")
    p.add_argument("--connections", type=int, default=64, help="connections/users (default 64)")
    p.add_argument("--rounds", type=int, default=None, help="rounds, at least 2 (default 3)")
    p.add_argument("--quick", action="store_true", help="2 rounds of 5 s")
    p.add_argument(
        "--skip", action="append", default=[], choices=SKIPPABLE, metavar="PEER",
        help=f"leave a peer out, repeatable: {', '.join(SKIPPABLE)}",
    )  # fmt: skip
    p.add_argument(
        "--update-doc", type=Path, default=None, metavar="FILE",
        help=f"replace the table between {DOC_BEGIN} and {DOC_END} in FILE",
    )  # fmt: skip
    a = p.parse_args(argv)
    duration = a.duration if a.duration is not None else (5 if a.quick else 10)
    rounds = a.rounds if a.rounds is not None else (2 if a.quick else 3)
    if rounds < 2:
        p.error("--rounds must be at least 2 (the table reports medians)")
    if duration < 1 or a.connections < 1:
        p.error("--duration and --connections must be positive")
    return Config(duration, a.connections, rounds, frozenset(a.skip), a.update_doc)


def ensure_tools(cfg: Config) -> None:
    """Cores, taskset, nginx, and wrk unless skipped; installs nginx-light/wrk when missing."""
    check_cores()
    missing = [tool for tool in ("nginx", "wrk") if shutil.which(tool) is None]
    if "wrk" in cfg.skip and "wrk" in missing:
        missing.remove("wrk")
    if missing:
        apt_install(["nginx-light" if t == "nginx" else t for t in missing])
        if "nginx" in missing:
            stop_packaged_nginx()
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None and not (tool == "wrk" and "wrk" in cfg.skip):
            raise BenchError(f"{tool} still not found after installing")
    if "locust" not in cfg.skip and venv_tool("locust") is None:
        raise BenchError("locust not found; install the project: pip install -e .")


# --------------------------------------------------------------------------- rounds


def run_peer(peer: str, cfg: Config, nginx: Nginx, script: Path, rnd: int) -> Sample:
    """One run of one peer in round ``rnd``, with the CPU other processes used meanwhile."""
    tag = f"{peer}-r{rnd}"
    log = WORK / "logs" / f"{tag}.log"
    waited = wait_for_quiet(nginx.pids)
    before = cpu_snapshot(nginx.pids)
    if peer == "wrk":
        sample = run_wrk(cfg.duration, cfg.connections, nginx.url, script, log)
    elif peer == "locust":
        sample = run_locust(cfg.duration, cfg.connections, nginx.host, WORK / "locust" / tag, log)
    else:
        sample = run_harness(nginx.host, peer, cfg.duration, cfg.connections)
    sample.extra.update(other_load(before, cpu_snapshot(nginx.pids)), waited_s=waited)
    return sample


def measure_closed(cfg: Config, nginx: Nginx, script: Path) -> dict[str, PeerResult]:
    """Every peer once per round, rounds interleaved; a peer that fails once is dropped."""
    results = {p: PeerResult(p) for p in PEERS if p not in cfg.skip}
    for rnd in range(1, cfg.rounds + 1):
        for peer, res in results.items():
            if res.failure:
                continue
            nginx.check_alive()
            try:
                sample = run_peer(peer, cfg, nginx, script, rnd)
            except BenchError as exc:
                res.failure = str(exc)
                say(f"round {rnd}/{cfg.rounds} {peer:8s} FAILED: {exc}")
                continue
            res.samples.append(sample)
            say(f"round {rnd}/{cfg.rounds} {peer:8s} {sample.rps:12,.0f} req/s  errors={sample.errors}"
                f"  other load {sample.extra['others_cores']:.2f} cores")  # fmt: skip
    return results


def _open_run(cfg: Config, nginx: Nginx, tag: str, rate: int) -> Sample:
    nginx.check_alive()
    waited = wait_for_quiet(nginx.pids)
    before = cpu_snapshot(nginx.pids)
    s = run_harness(nginx.host, "fast", cfg.duration, cfg.connections, rate=rate)
    s.extra.update(other_load(before, cpu_snapshot(nginx.pids)), waited_s=waited)
    return s


def measure_open(cfg: Config, nginx: Nginx, fast: PeerResult | None) -> list[OpenResult]:
    """The open-model goal, read both ways the issue's sentence allows:

    - at 80% of the fast transport's maximum M (its closed-model median), and
    - at 80% of the open model's own maximum: what it achieves when asked for 2 M.
    """
    if "open" in cfg.skip:
        return []
    if fast is None or fast.median is None:
        why = "needs the fast transport's maximum" + (f" ({fast.failure})" if fast and fast.failure else "")
        return [OpenResult("fast transport maximum", 0.0, 0, failure=why)]
    closed = OpenResult("the fast transport's maximum (closed model)", fast.median, round(OPEN_FRACTION * fast.median))
    overdriven: list[Sample] = []
    try:
        for rnd in range(1, cfg.rounds + 1):
            overdriven.append(_open_run(cfg, nginx, f"open-max-r{rnd}", round(2 * fast.median)))
            say(f"round {rnd}/{cfg.rounds} open max {overdriven[-1].rps:12,.0f} req/s achieved when asked for 2x")
        open_max = statistics.median(s.rps for s in overdriven)
        own = OpenResult("the open model's own maximum (achieved when overdriven)", open_max, round(OPEN_FRACTION * open_max))
        for rnd in range(1, cfg.rounds + 1):
            for check in (closed, own):
                s = _open_run(cfg, nginx, f"open-{'closed' if check is closed else 'own'}-r{rnd}", check.rate)
                check.samples.append(s)
                dev = check.deviation(s)
                say(f"round {rnd}/{cfg.rounds} open     {s.rps:12,.0f} req/s of {check.rate:,} intended "
                    f"({'n/a' if dev is None else f'{dev:+.2%}'}, late {s.extra.get('late')})")
    except BenchError as exc:
        say(f"open model FAILED: {exc}")
        closed.failure = str(exc)
        return [closed]
    return [closed, own]


# --------------------------------------------------------------------------- main


def bench(cfg: Config) -> int:
    """Start nginx, measure, report; nginx is stopped whatever happens."""
    ensure_tools(cfg)
    WORK.mkdir(parents=True, exist_ok=True)
    nginx = Nginx(WORK / "nginx")
    try:
        nginx.start()
        say(f"nginx on {nginx.host} (core {SERVER_CORE}); load on core {LOAD_CORE}; "
            f"{cfg.rounds} rounds of {cfg.duration} s, {cfg.connections} connections")  # fmt: skip
        script = write_wrk_script(WORK)
        results = measure_closed(cfg, nginx, script)
        checks = measure_open(cfg, nginx, results.get("fast"))
    finally:
        nginx.stop()
    goals = judge(results, checks)
    report = render_report(cfg, results, checks, goals)
    print(report, end="")
    write_json(cfg, results, checks, goals, report)
    say(f"wrote {rel(RESULT_JSON)}")
    if cfg.update_doc:
        update_doc(cfg.update_doc, report)
        say(f"updated the table in {cfg.update_doc}")
    failed = any(r.failure for r in results.values()) or any(c.failure for c in checks)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: one-line errors instead of tracebacks."""
    cfg = parse_args(argv)
    try:
        return bench(cfg)
    except (BenchError, OSError) as exc:
        print(f"transport_bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("transport_bench: interrupted", file=sys.stderr)
        return 130



if __name__ == "__main__":
    sys.exit(main())
