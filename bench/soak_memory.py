"""Memory soak: does ``harness run`` keep its resident memory flat?

Runs the real command, ``python -m harness run --rate 2000 --duration 10m --quiet
--out <tmp>``, against the embedded reference controller (no ``--target``) with the
default mix, and every ``--interval`` seconds reads ``VmRSS`` from
``/proc/<pid>/status`` of every process it started: the harness parent and all its
descendants, found by walking the ``ppid`` of ``/proc/*/stat``. That includes the
worker processes (``--procs``, default the number of cores), multiprocessing's
resource tracker and the embedded controller, which runs in a session of its own
but is still a child of the parent.

It prints the samples over time per process, then a markdown table ready for the
README, and judges the goal: from the minute after the first one to the last
minute of load (each the median of its samples), no process grows by 10 MB or
more, and neither do all of them together (MB = 10^6 bytes). Exit status: 0 the goal holds, 1 it does not, 2 the run could
not be measured (the harness failed, or was killed at the time limit).

Pinning: with taskset available, the harness command runs on core 1 (``--cpus``),
and its workers inherit that core; the embedded controller, once it appears, is
moved to core 0 (``--controller-cpus``), so the engine keeps up with its schedule
and what is measured is the steady state, not a growing backlog. The table says
what load was actually achieved. The command stops itself: the harness gets SIGINT at duration +
30 s and every process of the run SIGKILL at duration + 60 s.

Usage: ``.venv/bin/python bench/soak_memory.py [--quick] [--rate N] [--duration D]
[--interval S] [--procs N]`` (``make bench-memory`` runs the 10-minute default).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from harness.report.rundir import resolve_run  # noqa: E402

WORK = ROOT / "bench" / ".work"
RESULT_JSON = WORK / "soak_memory.json"
MB = 1_000_000
GOAL_MB = 10.0
INTERRUPT_AFTER_S = 30.0  # past the duration: ask the harness to stop (SIGINT)
KILL_AFTER_S = 60.0  # past the duration: kill every process of the run
END_SLACK_S = 1.0  # the last sample judged may be this late (still under load)
WINDOW_S = 60.0  # the levels compared: medians of the samples of a minute


# --------------------------------------------------------------------------- command line


@dataclass(frozen=True)
class Config:
    rate: float
    duration: float  # seconds
    interval: float  # seconds between samples
    warmup: float  # the "first minute": growth is judged from here to the end
    procs: int | None
    cpus: str | None  # taskset core list for the harness, None: unpinned
    controller_cpus: str | None  # cores the embedded controller is moved to, None: left with the harness
    goal_mb: float
    seed: int


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``1h`` -> seconds (the bench's own flags)."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    t = text.strip().lower()
    scale = units.get(t[-1:], None)
    number = t[:-1] if scale is not None else t
    try:
        value = float(number) * (scale or 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a duration such as 90s or 10m, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive duration, got {text!r}")
    return value


def parse_args(argv: Sequence[str] | None) -> Config:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=2000.0, help="requests/s (default 2000)")
    p.add_argument("--duration", type=parse_duration, default=None, help="load duration (default 10m; --quick 2m)")
    p.add_argument("--interval", type=parse_duration, default=None, help="seconds between samples (default 10s; --quick 5s)")
    p.add_argument("--warmup", type=parse_duration, default=60.0, help="growth is judged after this (default 1m)")
    p.add_argument("--procs", type=int, default=None, help="worker processes (default: the harness's, the number of cores)")
    p.add_argument("--cpus", default="1", help="taskset core list for the harness (default 1); 'none' to leave it unpinned")
    p.add_argument("--controller-cpus", default="0",
                   help="cores the embedded controller is moved to once it starts (default 0); 'none' to leave it with the harness")
    p.add_argument("--goal-mb", type=float, default=GOAL_MB, help=f"allowed growth per process and in total (default {GOAL_MB:g})")
    p.add_argument("--seed", type=int, default=1, help="traffic seed (default 1)")
    p.add_argument("--quick", action="store_true", help="2 minutes, a sample every 5 s")
    a = p.parse_args(argv)
    duration = a.duration if a.duration is not None else (120.0 if a.quick else 600.0)
    interval = a.interval if a.interval is not None else (5.0 if a.quick else 10.0)
    if a.warmup >= duration:
        p.error(f"--duration ({duration:g}s) must be longer than --warmup ({a.warmup:g}s)")
    if a.rate <= 0 or (a.procs is not None and a.procs < 1):
        p.error("--rate and --procs must be positive")
    cpus = None if a.cpus.lower() in ("", "none") else a.cpus
    controller_cpus = None if a.controller_cpus.lower() in ("", "none") else a.controller_cpus
    return Config(a.rate, duration, interval, a.warmup, a.procs, cpus, controller_cpus, a.goal_mb, a.seed)


# --------------------------------------------------------------------------- /proc


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    start: int  # starttime in clock ticks: with the pid, names a process for good
    cpu_ticks: int  # utime + stime


def read_stat(pid: int) -> ProcStat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = raw[raw.rfind(")") + 2:].split()
    return ProcStat(pid, int(fields[1]), int(fields[19]), int(fields[11]) + int(fields[12]))


def descendants(root: int) -> list[ProcStat]:
    """``root`` and every process below it, whatever session it moved to."""
    children: dict[int, list[ProcStat]] = {}
    found: dict[int, ProcStat] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            st = read_stat(int(entry.name))
            if st is not None:
                found[st.pid] = st
                children.setdefault(st.ppid, []).append(st)
    if root not in found:
        return []
    out, todo = [], [found[root]]
    while todo:
        st = todo.pop()
        out.append(st)
        todo.extend(children.get(st.pid, ()))
    return out


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None  # a zombie has no VmRSS


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    cpu = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = cpu[3] + (cpu[4] if len(cpu) > 4 else 0)
    return sum(cpu) - idle, sum(cpu)


# --------------------------------------------------------------------------- sampling


@dataclass
class Proc:
    key: tuple[int, int]  # (pid, starttime)
    role: str
    cmd: str
    rss: dict[int, int] = field(default_factory=dict)  # sample index -> bytes
    cpu_ticks: int = 0  # the latest utime + stime seen


class Sampler:
    """Finds the run's processes and records their RSS at each sample."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.procs: dict[tuple[int, int], Proc] = {}
        self.times: list[float] = []  # seconds since the launch, per sample
        self._workers = 0

    def sample(self, t: float) -> None:
        index = len(self.times)
        self.times.append(t)
        new = []
        for st in descendants(self.root):
            key = (st.pid, st.start)
            proc = self.procs.get(key)
            if proc is None:
                new.append(st)
                continue
            self._record(proc, st, index)
        # Workers are numbered in the order they were started (the parent starts
        # worker 0 first), which their start times and pids follow.
        for st in sorted(new, key=lambda s: (s.start, s.pid)):
            role = self._role(st)
            if any(p.role == role for p in self.procs.values()):
                role = f"{role} ({st.pid})"  # roles name rows and must stay apart
            proc = self.procs[(st.pid, st.start)] = Proc((st.pid, st.start), role, cmdline(st.pid))
            self._record(proc, st, index)

    def _record(self, proc: Proc, st: ProcStat, index: int) -> None:
        rss = rss_bytes(st.pid)
        if rss is not None:
            proc.rss[index] = rss
        proc.cpu_ticks = st.cpu_ticks

    def _role(self, st: ProcStat) -> str:
        if st.pid == self.root:
            return "parent"
        cmd = cmdline(st.pid)
        if is_controller(cmd):
            return "controller"
        if "multiprocessing.spawn" in cmd or "--multiprocessing-fork" in cmd:
            self._workers += 1
            return f"worker {self._workers - 1}"
        if "resource_tracker" in cmd:
            return "other: resource tracker"
        return f"other: {cmd[:40] or st.pid}"

    def live_pids(self) -> list[int]:
        """Pids of the run's processes now (to stop them at the time limit)."""
        return [st.pid for st in descendants(self.root) if (st.pid, st.start) in self.procs]

    def ordered(self) -> list[Proc]:
        def order(p: Proc) -> tuple[int, str]:
            kind = p.role.split()[0]
            return ({"parent": 0, "worker": 1, "controller": 2}.get(kind, 3), p.role)

        return sorted(self.procs.values(), key=order)


# --------------------------------------------------------------------------- running


@dataclass
class RunOutcome:
    exit_code: int | None  # None: killed at the time limit
    wall_s: float
    summary: dict[str, Any] | None
    stderr_tail: str
    load_before: str
    load_after: str
    t0_offset: float | None  # the run's t=0 (summary.json's timeline), seconds after the launch
    machine_busy_cores: float  # the whole machine, averaged over the run
    run_cpu_cores: float  # the run's own processes


def harness_command(cfg: Config, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "harness", "run", "--rate", f"{cfg.rate:g}", "--duration",
           f"{cfg.duration:g}s", "--seed", str(cfg.seed), "--quiet", "--out", str(out)]
    if cfg.procs is not None:
        cmd += ["--procs", str(cfg.procs)]
    if cfg.cpus is not None:
        # taskset execs the command: the pid we get is the harness parent's.
        cmd = ["taskset", "-c", cfg.cpus, *cmd]
    return cmd


def pinning(cfg: Config) -> Config:
    """Drop the pin when taskset or the core is missing (and say so)."""
    if cfg.cpus is None:
        return cfg
    if shutil.which("taskset") is None:
        print("soak_memory: taskset not found: running unpinned", file=sys.stderr)
        return _replace_cpus(cfg, None)
    wanted = {int(c) for part in cfg.cpus.split(",") for c in _core_range(part)}
    if not wanted <= os.sched_getaffinity(0):
        print(f"soak_memory: cores {cfg.cpus} not available: running unpinned", file=sys.stderr)
        return _replace_cpus(cfg, None)
    return cfg


def _core_range(part: str) -> Iterable[int]:
    lo, _, hi = part.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def _replace_cpus(cfg: Config, cpus: str | None) -> Config:
    return Config(cfg.rate, cfg.duration, cfg.interval, cfg.warmup, cfg.procs, cpus, None, cfg.goal_mb, cfg.seed)


def is_controller(cmd: str) -> bool:
    """The embedded reference controller, by its command line."""
    return "harness serve" in cmd or " serve --port" in cmd


def pin_controller(root: int, cores: str) -> int | None:
    """Move the embedded controller (a child of the harness, found by its command
    line) to ``cores``, so the target does not take the load generator's core: at
    2,000 req/s on one shared core the engine falls behind and its backlog, not its
    steady state, is what gets measured. Returns its pid once moved."""
    wanted = {c for part in cores.split(",") for c in _core_range(part)}
    for st in descendants(root):
        if is_controller(cmdline(st.pid)):
            try:
                os.sched_setaffinity(st.pid, wanted)
            except OSError:
                return None
            return st.pid
    return None


def run(cfg: Config, out: Path) -> tuple[Sampler, RunOutcome]:
    cmd = harness_command(cfg, out)
    print("soak_memory: " + " ".join(cmd), file=sys.stderr, flush=True)
    stderr_file = tempfile.TemporaryFile(prefix="soak-memory-stderr-")
    load_before = Path("/proc/loadavg").read_text().split(" ", 3)[:3]
    busy0, total0 = machine_busy_ticks()
    launched = time.monotonic()
    launched_wall = time.time()
    # A session of our own for the harness: a Ctrl-C at this terminal reaches us
    # alone, and we stop the run in order (SIGINT to the harness, which drains).
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=stderr_file, start_new_session=True)
    sampler = Sampler(proc.pid)
    interrupted_at = launched + cfg.duration + INTERRUPT_AFTER_S
    kill_at = launched + cfg.duration + KILL_AFTER_S
    killed = asked = False
    next_sample = launched
    controller_pinned = cfg.controller_cpus is None
    try:
        while proc.poll() is None:
            now = time.monotonic()
            if not controller_pinned and now - launched < 60:
                moved = pin_controller(proc.pid, cfg.controller_cpus or "0")
                if moved is not None:
                    controller_pinned = True
                    print(f"soak_memory: embedded controller (pid {moved}) moved to core(s) {cfg.controller_cpus}",
                          file=sys.stderr, flush=True)
            if now >= next_sample:
                sampler.sample(now - launched)
                next_sample += cfg.interval
                if next_sample < now:  # a sample took longer than the interval
                    next_sample = now + cfg.interval
            if now >= kill_at:
                killed = True
                _kill_all(sampler, proc)
                break
            if now >= interrupted_at and not asked:
                asked = True
                proc.send_signal(signal.SIGINT)
            try:
                wait = max(0.05, min(next_sample, kill_at) - time.monotonic())
                proc.wait(timeout=wait if controller_pinned else min(wait, 0.1))
            except subprocess.TimeoutExpired:
                pass
    except KeyboardInterrupt:
        print("soak_memory: interrupted: stopping the run", file=sys.stderr)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _kill_all(sampler, proc)
        raise
    proc.wait()
    wall = time.monotonic() - launched
    busy1, total1 = machine_busy_ticks()
    cores = os.cpu_count() or 1
    machine_busy = (busy1 - busy0) / max(1, total1 - total0) * cores
    run_ticks = sum(p.cpu_ticks for p in sampler.procs.values())
    hz = os.sysconf("SC_CLK_TCK")
    stderr_file.seek(0)
    tail = stderr_file.read().decode("utf-8", "replace").strip()[-2000:]
    stderr_file.close()
    summary = None
    try:
        summary = json.loads((resolve_run(out) / "summary.json").read_text())
        (WORK / "soak_memory_summary.json").write_text(json.dumps(summary, indent=1))
    except (OSError, ValueError) as exc:
        print(f"soak_memory: no summary.json under {out}: {exc}", file=sys.stderr)
    t0_offset = None
    if summary is not None:
        try:
            started = dt.datetime.fromisoformat(summary["run"]["started"].replace("Z", "+00:00"))
            t0_offset = started.timestamp() - launched_wall  # whole seconds: good enough
        except (KeyError, ValueError):
            pass
    return sampler, RunOutcome(
        exit_code=None if killed else proc.returncode,
        wall_s=wall,
        summary=summary,
        stderr_tail=tail,
        load_before=" ".join(load_before),
        load_after=" ".join(Path("/proc/loadavg").read_text().split(" ", 3)[:3]),
        t0_offset=t0_offset,
        machine_busy_cores=machine_busy,
        # CPU time seen at the last sample (a lower bound: the final second is missed).
        run_cpu_cores=run_ticks / hz / max(wall, 1e-9),
    )


def _kill_all(sampler: Sampler, proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL every process of the run, children first (only ones we started)."""
    print("soak_memory: time limit reached: killing the run", file=sys.stderr)
    for pid in reversed(sampler.live_pids()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


# --------------------------------------------------------------------------- judging


@dataclass
class Growth:
    role: str
    at_warmup: int
    at_end: int

    @property
    def mb(self) -> float:
        return (self.at_end - self.at_warmup) / MB


def sample_at(times: list[float], t: float) -> int:
    """Index of the first sample at or after ``t`` (else the last one)."""
    for i, s in enumerate(times):
        if s >= t - 1e-6:
            return i
    return len(times) - 1


def last_sample_by(times: list[float], t: float) -> int:
    """Index of the last sample at or before ``t``: still under load."""
    best = 0
    for i, s in enumerate(times):
        if s <= t + 1e-6:
            best = i
    return best


def judge(sampler: Sampler, cfg: Config) -> tuple[list[Growth], Growth | None, int, int]:
    """Growth from the minute after the warm-up to the last minute of load, each the
    median of its samples: one sample can land on a second's transient histogram
    arrays (a few MB, mmapped and returned at once), so single samples swing by
    several MB while the steady level does not move."""
    times = sampler.times
    # The schedule starts a few seconds after the launch (the controller and the
    # workers start first), so a sample at the duration itself is still under load.
    w, e = sample_at(times, cfg.warmup), last_sample_by(times, cfg.duration + END_SLACK_S)
    first = [i for i in range(w, e + 1) if times[i] <= times[w] + WINDOW_S + 1e-6]
    last = [i for i in range(w, e + 1) if times[i] >= times[e] - WINDOW_S - 1e-6]

    def level(proc: Proc, indices: list[int]) -> int:
        return int(statistics.median(proc.rss[i] for i in indices if i in proc.rss))

    growths = [Growth(p.role, level(p, first), level(p, last)) for p in sampler.ordered()
               if any(i in p.rss for i in first) and any(i in p.rss for i in last)]
    total = None
    if growths:
        total = Growth("total", sum(g.at_warmup for g in growths), sum(g.at_end for g in growths))
    return growths, total, w, e


def fmt_t(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def mb(value: int | None) -> str:
    return "-" if value is None else f"{value / MB:.1f}"


def load_between(outcome: RunOutcome, start: float, end: float) -> tuple[float | None, float | None]:
    """Answered requests/s and the worst p99 (ms) of the run's timeline between two
    sample times (seconds since the launch): whether the target kept up meanwhile."""
    if outcome.summary is None or outcome.t0_offset is None:
        return None, None
    rows = [r for r in outcome.summary.get("timeline", [])
            if start <= r["t"] + outcome.t0_offset < end]
    if not rows:
        return None, None
    return sum(r["requests"] for r in rows) / len(rows), max(r["p99_ms"] for r in rows)


def print_samples(sampler: Sampler, outcome: RunOutcome) -> None:
    procs = sampler.ordered()
    head = (f"{'t':>6}" + "".join(f"{p.role[:22]:>24}" for p in procs) + f"{'total':>10}"
            + f"{'req/s':>9}{'p99 ms':>9}")
    print("\nresident memory (VmRSS, MB) per process over time, t since the launch;")
    print("req/s answered and worst p99 since the previous sample, from summary.json's timeline")
    print(head)
    for i, t in enumerate(sampler.times):
        values = [p.rss.get(i) for p in procs]
        total = sum(v for v in values if v is not None)
        rps, p99 = load_between(outcome, sampler.times[i - 1] if i else 0.0, t)
        load = f"{rps:>9,.0f}{p99:>9.1f}" if rps is not None and p99 is not None else f"{'-':>9}{'-':>9}"
        print(f"{fmt_t(t):>6}" + "".join(f"{mb(v):>24}" for v in values) + f"{total / MB:>10.1f}" + load)
    print()
    for p in procs:
        print(f"  {p.role:<24} pid {p.key[0]:<8} {p.cmd[:90]}")


def checkpoints(times: list[float], w: int, e: int) -> list[int]:
    """Sample indices for the README table: the end of the first minute, then evenly
    spaced (about a minute apart for a long run), the end of the load last."""
    if e <= w:
        return [w]
    span = times[e] - times[w]
    # About ten columns, on whole multiples of the sampling interval.
    interval = (times[-1] - times[0]) / max(1, len(times) - 1)
    step = max(1, math.ceil(span / 9 / interval - 0.1)) * interval  # sample times drift a little
    picks, t = [], times[w]
    while t < times[e] - step / 2:
        picks.append(min(range(w, e + 1), key=lambda i: abs(times[i] - t)))  # the nearest
        t += step
    picks.append(e)
    return sorted(set(picks))


def markdown(sampler: Sampler, cfg: Config, outcome: RunOutcome, growths: list[Growth],
             total: Growth | None, w: int, e: int) -> str:
    times = sampler.times
    cols = checkpoints(times, w, e)
    head = "| process | " + " | ".join(fmt_t(times[i]) for i in cols) + " | growth after 1 min |"
    lines = [head, "|" + " --- |" * (len(cols) + 2)]
    by_role = {g.role: g for g in growths}
    for p in sampler.ordered():
        g = by_role.get(p.role)
        growth = f"{g.mb:+.1f} MB" if g is not None else "n/a"
        lines.append(f"| {p.role} | " + " | ".join(mb(p.rss.get(i)) for i in cols) + f" | {growth} |")
    if total is not None:
        sums = [sum(p.rss.get(i, 0) for p in sampler.ordered()) for i in cols]
        lines.append("| **total** | " + " | ".join(f"{s / MB:.1f}" for s in sums) + f" | **{total.mb:+.1f} MB** |")
    lines.append("")
    lines.append(f"Resident memory (VmRSS, MB = 10^6 bytes) at m:ss since the launch. {load_line(cfg, outcome)}")
    return "\n".join(lines)


def load_line(cfg: Config, outcome: RunOutcome) -> str:
    s = outcome.summary
    pin = f"harness pinned to core {cfg.cpus} (its workers inherit it)" if cfg.cpus else "unpinned"
    if cfg.cpus and cfg.controller_cpus:
        pin += f", the embedded controller moved to core {cfg.controller_cpus}"
    text = (f"`harness run --rate {cfg.rate:g} --duration {fmt_t(cfg.duration)}` on the embedded controller, "
            f"default mix, {pin}")
    if s is not None:
        t, run_info = s.get("totals", {}), s.get("run", {})
        text += (f"; {run_info.get('procs', '?')} worker procs, {t.get('requests', 0):,} requests, "
                 f"achieved {t.get('achieved_rps', 0.0):,.0f} req/s, {t.get('dropped', 0):,} dropped, "
                 f"{t.get('errors', 0):,} errors")
    text += (f"; machine load {outcome.machine_busy_cores:.2f} of {os.cpu_count()} cores busy "
             f"(the run itself at least {outcome.run_cpu_cores:.2f}), loadavg {outcome.load_before} -> {outcome.load_after}.")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    cfg = pinning(parse_args(argv))
    if not Path("/proc/self/status").exists():
        print("soak_memory: needs Linux /proc", file=sys.stderr)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="soak-memory-") as tmp:
        sampler, outcome = run(cfg, Path(tmp))
    print_samples(sampler, outcome)
    growths, total, w, e = judge(sampler, cfg)
    print("\nmarkdown for the README:\n")
    print(markdown(sampler, cfg, outcome, growths, total, w, e))
    RESULT_JSON.write_text(json.dumps({
        "config": cfg.__dict__,
        "times": sampler.times,
        "processes": [{"role": p.role, "pid": p.key[0], "cmd": p.cmd, "cpu_ticks": p.cpu_ticks,
                       "rss": {str(i): v for i, v in sorted(p.rss.items())}} for p in sampler.ordered()],
        "exit_code": outcome.exit_code,
        "summary_totals": (outcome.summary or {}).get("totals"),
        "machine_busy_cores": outcome.machine_busy_cores,
        "run_cpu_cores": outcome.run_cpu_cores,
    }, indent=1))
    print(f"\nsamples: {RESULT_JSON.relative_to(ROOT)}")

    if outcome.exit_code not in (0, 1) or not growths or total is None:
        reason = "killed at the time limit" if outcome.exit_code is None else f"exit status {outcome.exit_code}"
        print(f"\nsoak_memory: the run could not be measured ({reason}); harness stderr:\n{outcome.stderr_tail}")
        return 2
    print(f"\ngoal: growth from {fmt_t(sampler.times[w])}..{fmt_t(sampler.times[w] + WINDOW_S)} to "
          f"{fmt_t(sampler.times[e] - WINDOW_S)}..{fmt_t(sampler.times[e])} (medians of the samples) "
          f"< {cfg.goal_mb:g} MB per process and in total")
    ok = True
    for g in [*growths, total]:
        passed = g.mb < cfg.goal_mb
        ok = ok and passed
        print(f"  {'PASS' if passed else 'FAIL'}  {g.role:<24} {g.at_warmup / MB:8.1f} -> {g.at_end / MB:8.1f} MB  ({g.mb:+.1f} MB)")
    dropped = ((outcome.summary or {}).get("totals") or {}).get("dropped", 0)
    if dropped:
        print(f"note: {dropped:,} hits were dropped: the run fell behind its schedule (a busy machine?), "
              "and a backlog of calls waiting for a connection (up to max_backlog per worker) holds memory too")
    print(f"verdict: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
