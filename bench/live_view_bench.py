"""Live-view benchmark: does watching a run slow it down?

The same closed-model run (N users, no think time, so the achieved rate is whatever
the harness can push) is made through ``harness.api`` in three ways, interleaved in
every round so a drift of the machine hits all alike:

* ``none``: no view (``on_second`` not attached), the engine alone;
* ``screen``: the rich live frame of a terminal, drawn once a second into a sink
  that claims to be a 256-colour terminal (every frame is rendered in full);
* ``log``: the plain interval lines of a CI log.

The target is ``tests/support/stall_server.py`` without stalls (it answers at once),
pinned to core 0; the harness runs here, pinned to core 1, in one process by default,
so the view's thread shares the engine's interpreter: the worst case. An unmeasured
warm-up run comes first. Each variant's figure is the median of its rounds; the
table gives each as a ratio to ``none``.

Usage: ``.venv/bin/python bench/live_view_bench.py [--quick] [--duration S] [--rounds K]
[--users N] [--procs P]``. Only 127.0.0.1 is contacted; every run is bounded by its duration.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.api import Target, external_target, load_plan, run  # noqa: E402
from harness.report.live import LiveState  # noqa: E402
from harness.report.terminal import LiveFeed, LogView  # noqa: E402

STALL_SERVER = ROOT / "tests" / "support" / "stall_server.py"
WORK = ROOT / "bench" / ".work"
RESULT_JSON = WORK / "live_view_bench.json"
VARIANTS = ("none", "screen", "log")
SERVER_CORE, LOAD_CORE = 0, 1


@dataclass
class Variant:
    name: str
    rps: list[float] = field(default_factory=list)
    drawn: list[int] = field(default_factory=list)  # bytes the view wrote per run

    @property
    def median(self) -> float:
        return statistics.median(self.rps)


class CountingSink(io.StringIO):
    """A terminal that keeps nothing: it counts what the view draws."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    def write(self, text: str) -> int:
        self.written += len(text)
        return len(text)

    def isatty(self) -> bool:
        return True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="2 rounds of 4 s (a smoke run)")
    p.add_argument("--duration", type=float, help="seconds of every run (default 10; 4 with --quick)")
    p.add_argument("--rounds", type=int, help="rounds, each running every variant once (default 3; 2 with --quick)")
    p.add_argument("--users", type=int, default=64, help="closed-model users and connections (default 64)")
    p.add_argument("--procs", type=int, default=1, help="harness worker processes (default 1)")
    args = p.parse_args(argv)
    args.duration = args.duration or (4.0 if args.quick else 10.0)
    args.rounds = max(1, args.rounds or (2 if args.quick else 3))
    return args


def pin(core: int) -> Callable[[], None] | None:
    """A preexec function pinning a child to ``core`` (None on a one-core machine)."""
    if len(os.sched_getaffinity(0)) < 2:
        return None
    return lambda: os.sched_setaffinity(0, {core})


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(STALL_SERVER)], stdout=subprocess.PIPE, text=True,
                            preexec_fn=pin(SERVER_CORE))
    line = proc.stdout.readline() if proc.stdout else ""
    if "listening on " not in line:
        proc.kill()
        raise SystemExit(f"live_view_bench: the stall server did not start: {line!r}")
    return proc, line.split("listening on ")[1].strip()


def one_run(variant: str, plan: Any, target: Target) -> tuple[float, int]:
    """The achieved rate of one run, and how much its view drew."""
    feed = None
    sink = CountingSink()
    if variant != "none":
        state = LiveState(duration_s=plan.duration, checks=plan.checks)
        if variant == "screen":
            from rich.console import Console

            from harness.report.screen import ScreenView

            console = Console(file=sink, force_terminal=True, color_system="256", width=120, height=50)
            view: Any = ScreenView(state, console, users=int(plan.load.users))
        else:
            view = LogView(state, sink)
        feed = LiveFeed(view, state)
        feed.start()
    try:
        result = run(plan, target, on_second=feed.on_second if feed is not None else None)
    finally:
        if feed is not None:
            feed.close()
    if result.verdict not in ("pass", "fail"):
        raise SystemExit(f"live_view_bench: a {variant} run ended {result.verdict}: {result.errors}")
    return float(result.summary["totals"]["achieved_rps"]), sink.written


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if pin(LOAD_CORE) is not None:
        os.sched_setaffinity(0, {LOAD_CORE})
    server, url = start_server()
    results = {name: Variant(name) for name in VARIANTS}
    try:
        plan = load_plan(None, {"target.url": url, "mix": "enforcement=1", "load.users": args.users,
                                "load.connections": args.users, "load.duration": f"{args.duration}s",
                                "load.procs": args.procs, "output.dir": str(WORK / "reports")})
        target = external_target(plan, environ={plan.target.token_env: "bench-token"})
        # One unmeasured run first: the first run of a process pays for imports and warm-up.
        one_run("none", plan.with_load(duration=min(2.0, args.duration)), target)
        for rnd in range(args.rounds):
            order = VARIANTS if rnd % 2 == 0 else tuple(reversed(VARIANTS))
            for name in order:
                started = time.monotonic()
                rps, drawn = one_run(name, plan, target)
                results[name].rps.append(rps)
                results[name].drawn.append(drawn)
                print(f"round {rnd + 1}/{args.rounds} {name:<6} {rps:>10,.0f} req/s  view drew {drawn:>9,} "
                      f"chars  ({time.monotonic() - started:.1f}s)", file=sys.stderr, flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    base = results["none"].median
    print(f"\nclosed model, {args.users} users, {args.procs} process(es), {args.duration:g} s runs, "
          f"{args.rounds} rounds (median); target: stall server without stalls\n")
    print("| live view | achieved req/s (median) | vs none | rounds |")
    print("| --- | --- | --- | --- |")
    for v in results.values():
        rounds = ", ".join(f"{x:,.0f}" for x in v.rps)
        print(f"| {v.name} | {v.median:,.0f} | {v.median / base:.3f}x | {rounds} |")
    WORK.mkdir(parents=True, exist_ok=True)
    RESULT_JSON.write_text(json.dumps({"args": vars(args), "variants": {
        v.name: {"rps": v.rps, "median": v.median, "ratio": v.median / base, "drawn": v.drawn}
        for v in results.values()}}, indent=2) + "\n")
    print(f"\n(everything, per round: {RESULT_JSON.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
