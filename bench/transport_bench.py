"""Transport benchmark: how fast can one harness process drive a trivial server?

nginx (one worker, pinned to core 0) answers POST /api/v1/validate/plate with a fixed
plate-validation answer. On core 1, in turn and each for the same duration and number of
connections, run:

* ``wrk`` (one thread), the ceiling a C load generator reaches;
* Locust ``FastHttpUser`` (one process, no wait time), the tool the harness replaces;
* ``harness run --transport fast`` and ``--transport aiohttp`` in the closed model;

then, at 80% of the fast transport's closed-model maximum, ``harness run --rate`` in the
open model, to see whether the achieved rate is within 1% of the intended one.

Rounds are interleaved (round 1: every peer, round 2: every peer, ...) and each peer's
requests/s is the median of its rounds. Prints a markdown table and the goal lines, and
writes everything, per-round numbers included, to bench/.work/transport_bench.json.

Usage: ``.venv/bin/python bench/transport_bench.py [--quick] [--skip locust] ...``
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
TEMPLATE = BENCH / "nginx.conf.template"
LOCUSTFILE = BENCH / "locustfile_plate.py"
RESULT_JSON = WORK / "transport_bench.json"

PATH = "/api/v1/validate/plate"
BODY = '{"api_token":"x","client":"OC_TOMA","plate":"ABC123"}'
SERVER_CORE = "0"
LOAD_CORE = "1"
OPEN_FRACTION = 0.8
OPEN_TOLERANCE = 0.01
DOC_BEGIN = "<!-- transport-bench:begin -->"
DOC_END = "<!-- transport-bench:end -->"

PEERS: tuple[str, ...] = ("wrk", "locust", "fast", "aiohttp")
SKIPPABLE: tuple[str, ...] = (*PEERS, "open")
LABELS: dict[str, str] = {
    "wrk": "wrk (1 thread)",
    "locust": "Locust FastHttpUser (1 process)",
    "fast": "harness run --transport fast",
    "aiohttp": "harness run --transport aiohttp",
}
# Flags of `harness run` this benchmark relies on (the contract with harness/run.py).
HARNESS_FLAGS: tuple[str, ...] = (
    "--target", "--plate-service", "--client", "--mix", "--users", "--rate", "--connections",
    "--duration", "--procs", "--transport", "--out", "--quiet",
)  # fmt: skip


class BenchError(Exception):
    """A problem worth one line to the user (missing tool, server that will not start...)."""


@dataclass
class Config:
    """What to run, from the command line."""

    duration: int
    connections: int
    rounds: int
    skip: frozenset[str]
    update_doc: Path | None


@dataclass
class Sample:
    """One run of one peer."""

    rps: float
    requests: int | None = None
    errors: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class PeerResult:
    """All rounds of one peer; ``failure`` is set once it could not run."""

    name: str
    samples: list[Sample] = field(default_factory=list)
    failure: str | None = None

    @property
    def median(self) -> float | None:
        """Median requests/s over the rounds, or None without any round."""
        return statistics.median(s.rps for s in self.samples) if self.samples else None


@dataclass
class Goal:
    """One line of the issue's goals, judged."""

    text: str
    verdict: str  # PASS, FAIL or SKIP
    detail: str


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


# --------------------------------------------------------------------------- tools


def venv_tool(name: str) -> str | None:
    """The tool beside this interpreter (the venv's), else the one on PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


def check_cores() -> None:
    """The benchmark pins the server to core 0 and the load to core 1."""
    cores = os.sched_getaffinity(0)
    if not {int(SERVER_CORE), int(LOAD_CORE)} <= cores:
        raise BenchError(f"needs cores {SERVER_CORE} and {LOAD_CORE}, this process may use {sorted(cores)}")
    if shutil.which("taskset") is None:
        raise BenchError("taskset not found (Debian package util-linux)")


def apt_install(packages: Sequence[str]) -> None:
    """Install Debian packages, refreshing the index once if the first try fails."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BenchError(f"missing {' '.join(packages)}; install with: apt-get install -y {' '.join(packages)}")
    cmd = ["apt-get", "install", "-y", *packages]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing: {' '.join(cmd)}", file=sys.stderr)
    try:
        if subprocess.run(cmd, env=env, timeout=900, check=False).returncode != 0:
            print("apt-get install failed; running apt-get update and trying again", file=sys.stderr)
            subprocess.run(["apt-get", "update"], env=env, timeout=900, check=False)
            if subprocess.run(cmd, env=env, timeout=900, check=False).returncode != 0:
                raise BenchError(f"apt-get install -y {' '.join(packages)} failed")
    except subprocess.TimeoutExpired:
        raise BenchError(f"apt-get install -y {' '.join(packages)} took over 15 minutes") from None


def stop_packaged_nginx() -> None:
    """A fresh nginx package may start its own service on port 80: stop it, ignore failures."""
    for cmd in (["service", "nginx", "stop"], ["nginx", "-s", "stop"]):
        try:
            subprocess.run(cmd, timeout=30, check=False, capture_output=True)
        except (OSError, subprocess.TimeoutExpired):
            pass


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


def tool_version(cmd: Sequence[str]) -> str:
    """First line a tool prints about its version, or '?'."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = (out.stdout + out.stderr).strip().splitlines()
    return lines[0].strip() if lines else "?"


# --------------------------------------------------------------------------- processes


def kill_group(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Stop a process we started in its own session: SIGTERM its group, then SIGKILL."""
    if proc.poll() is not None:
        try:  # the leader is gone; take any child it left in its group with it
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_bounded(cmd: Sequence[str], log: Path, timeout: float, env: dict[str, str] | None = None) -> int:
    """Run ``cmd`` with output to ``log``; kill its whole group if it outlives ``timeout``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        out.write(("$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=ROOT, start_new_session=True,
        )  # fmt: skip
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise BenchError(f"{Path(cmd[3] if cmd[0] == 'taskset' else cmd[0]).name} "
                             f"did not finish within {timeout:.0f} s (log: {rel(log)})") from None
        finally:
            kill_group(proc)


def last_line(log: Path) -> str:
    """The last non-empty line of a log, to explain a failure in one line."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"


def rel(path: Path) -> str:
    """A path relative to the repository, for messages."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- other load

CLK_TCK = os.sysconf("SC_CLK_TCK")
BUSY_THRESHOLD = 0.1  # cores used by other processes above which a run is marked suspect
QUIET_WAIT_S = 30.0  # how long to wait for the rest of the machine to calm down before a run


@dataclass
class CpuSnap:
    """CPU counters at one instant: the whole machine, nginx, and our reaped children."""

    wall: float
    busy: int  # jiffies of user+nice+system over all cores
    steal: int  # jiffies the hypervisor gave to someone else
    nginx: int  # jiffies of the nginx master and workers
    children: float  # seconds of our reaped children (the load generators)


def proc_jiffies(pid: int) -> int:
    """utime+stime of a process, 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def cpu_snapshot(nginx_pids: Sequence[int]) -> CpuSnap:
    """Read the counters now."""
    cpu = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSnap(
        wall=time.monotonic(),
        busy=cpu[0] + cpu[1] + cpu[2],
        steal=cpu[7] if len(cpu) > 7 else 0,
        nginx=sum(proc_jiffies(pid) for pid in nginx_pids),
        children=ru.ru_utime + ru.ru_stime,
    )


def other_load(before: CpuSnap, after: CpuSnap) -> dict[str, float]:
    """Cores used meanwhile by processes other than nginx and the load generator, and steal.

    Approximate: interrupt and softirq time is left out, since the kernel charges it to
    no process; the load generator's time counts once it has been reaped.
    """
    wall = max(after.wall - before.wall, 1e-9)
    busy = (after.busy - before.busy) / CLK_TCK
    ours = (after.nginx - before.nginx) / CLK_TCK + (after.children - before.children)
    return {
        "others_cores": round(max(busy - ours, 0.0) / wall, 3),
        "steal_cores": round((after.steal - before.steal) / CLK_TCK / wall, 3),
    }


def wait_for_quiet(nginx_pids: Sequence[int], limit: float = QUIET_WAIT_S) -> float:
    """Wait (``limit`` s at most) until other processes use under BUSY_THRESHOLD cores.

    The machine is shared; this does not stop anyone from starting work mid-run (the
    per-run ``others_cores`` shows that), but it keeps a run from starting in the middle of
    somebody's test suite. Returns the seconds waited.
    """
    start = time.monotonic()
    while True:
        before = cpu_snapshot(nginx_pids)
        time.sleep(0.5)
        if other_load(before, cpu_snapshot(nginx_pids))["others_cores"] < BUSY_THRESHOLD:
            break
        if time.monotonic() - start > limit:
            say(f"machine still busy after {limit:.0f} s; running anyway")
            break
    return round(time.monotonic() - start, 1)


# --------------------------------------------------------------------------- nginx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render_nginx_conf(workdir: Path, port: int) -> Path:
    """Fill the template; drop temp paths of modules this nginx was built without."""
    built = subprocess.run(["nginx", "-V"], capture_output=True, text=True, timeout=30, check=False).stderr
    lines = []
    for line in TEMPLATE.read_text().splitlines():
        module = re.match(r"\s*(proxy|fastcgi|uwsgi|scgi)_temp_path", line)
        if module and f"--without-http_{module.group(1)}_module" in built:
            continue
        lines.append(line.replace("@WORKDIR@", str(workdir)).replace("@PORT@", str(port)))
    conf = workdir / "nginx.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


class Nginx:
    """nginx in the foreground, pinned to the server core, everything under ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Full URL of the plate validation."""
        return f"{self.host}{PATH}"

    @property
    def host(self) -> str:
        """Scheme, address and port."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Write the config, start nginx, wait until it accepts connections (10 s at most)."""
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        (self.workdir / "tmp").mkdir(parents=True)
        self.port = free_port()
        conf = render_nginx_conf(self.workdir, self.port)
        test = subprocess.run(
            ["nginx", "-t", "-p", f"{self.workdir}/", "-c", str(conf), "-e", str(self.workdir / "error.log")],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        if test.returncode != 0:
            why = (test.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise BenchError(f"nginx rejects {rel(conf)}: {why}")
        cmd = ["taskset", "-c", SERVER_CORE, "nginx", "-p", f"{self.workdir}/", "-c", str(conf),
               "-e", str(self.workdir / "error.log")]  # fmt: skip
        log = (self.workdir / "stdout.log").open("wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.wait_ready(10.0)

    def wait_ready(self, timeout: float) -> None:
        """Poll the port until it accepts a connection."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise BenchError(f"nginx did not listen on 127.0.0.1:{self.port} within {timeout:.0f} s")

    @property
    def pids(self) -> list[int]:
        """The master and its workers."""
        if self.proc is None:
            return []
        master = self.proc.pid
        try:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        except OSError:
            children = []
        return [master, *map(int, children)]

    def check_alive(self) -> None:
        """Raise if nginx exited, with the last line of its error log."""
        if self.proc is None or self.proc.poll() is not None:
            raise BenchError(f"nginx is not running: {last_line(self.workdir / 'error.log')}")

    def stop(self) -> None:
        """Fast shutdown (SIGTERM to master's group), SIGKILL after a grace period."""
        if self.proc is not None:
            kill_group(self.proc)
            self.proc = None


# --------------------------------------------------------------------------- wrk


def write_wrk_script(workdir: Path) -> Path:
    """The lua script that makes wrk POST the plate body as JSON."""
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{BODY}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return script


def parse_wrk(text: str) -> Sample:
    """Requests/sec, request count and errors (non-2xx/3xx plus socket errors) of wrk's report."""
    rate = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.M)
    if rate is None:
        raise BenchError("wrk printed no Requests/sec line")
    count = re.search(r"(\d+) requests in", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return Sample(float(rate.group(1)), int(count.group(1)) if count else None, errors)


def run_wrk(cfg: Config, url: str, script: Path, log: Path) -> Sample:
    """One wrk run: one thread, N connections, D seconds."""
    cmd = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{cfg.connections}", f"-d{cfg.duration}s",
           "-s", str(script), url]  # fmt: skip
    rc = run_bounded(cmd, log, cfg.duration + 30)
    if rc != 0:
        raise BenchError(f"wrk exited {rc}: {last_line(log)}")
    return parse_wrk(log.read_text(errors="replace"))


# --------------------------------------------------------------------------- Locust


LOCUST_TOTAL = re.compile(
    r"^\s*Aggregated\s+(\d+)\s+(\d+)\([^)]*\)\s*\|[^|]*\|\s*([\d.]+)\s+([\d.]+)\s*$", re.M
)
LOCUST_STAMP = r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\].*"


def parse_locust_summary(text: str) -> Sample | None:
    """The Aggregated line of the summary Locust prints on exit (rate over the whole run)."""
    m = LOCUST_TOTAL.search(text)
    if m is None:
        return None
    return Sample(float(m.group(3)), int(m.group(1)), int(m.group(2)))


def locust_spawn_seconds(text: str) -> float | None:
    """Seconds from 'Ramping to' to 'All users spawned' in Locust's log."""
    stamps = []
    for marker in ("Ramping to", "All users spawned"):
        m = re.search(LOCUST_STAMP + re.escape(marker), text, re.M)
        if m is None:
            return None
        stamps.append(dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f"))
    return (stamps[1] - stamps[0]).total_seconds()


def parse_locust_csv(path: Path) -> Sample:
    """The Aggregated row of Locust's *_stats.csv (rewritten each second, not at exit)."""
    try:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise BenchError(f"no Locust stats at {rel(path)}: {exc.strerror}") from None
    for row in rows:
        if row.get("Name") == "Aggregated":
            return Sample(float(row["Requests/s"]), int(row["Request Count"]), int(row["Failure Count"]))
    raise BenchError(f"no Aggregated row in {rel(path)}")


def run_locust(cfg: Config, host: str, prefix: Path, log: Path) -> Sample:
    """One headless Locust run in one process; all users spawned within the first second.

    Requests/s is Locust's own total rate (requests / (last request - start of the test),
    ramp-up included) from the summary it prints on exit. Locust 2.47 rewrites the CSV only
    once a second and not at exit, so the CSV's Aggregated row, kept as ``csv_rps``, lags
    the end by up to a second; it is the fallback when the summary is missing.
    """
    locust = venv_tool("locust")
    assert locust is not None  # ensure_tools checked
    n = str(cfg.connections)
    cmd = ["taskset", "-c", LOAD_CORE, locust, "-f", str(LOCUSTFILE), "--headless", "-u", n, "-r", n,
           "-t", f"{cfg.duration}s", "--host", host, "--only-summary", "--csv", str(prefix),
           "--exit-code-on-error", "0"]  # fmt: skip
    rc = run_bounded(cmd, log, cfg.duration + 60)
    if rc != 0:
        raise BenchError(f"locust exited {rc}: {last_line(log)}")
    text = log.read_text(errors="replace")
    from_csv = parse_locust_csv(Path(f"{prefix}_stats.csv"))
    sample = parse_locust_summary(text) or from_csv
    sample.extra.update(csv_rps=from_csv.rps, csv_requests=from_csv.requests,
                        spawn_s=locust_spawn_seconds(text))  # fmt: skip
    return sample


# --------------------------------------------------------------------------- harness run


def harness_problem() -> str | None:
    """None if `harness run` exists and knows every flag we use, else why not (one line)."""
    harness = venv_tool("harness")
    if harness is None:
        return "harness command not found (pip install -e . in the venv)"
    try:
        out = subprocess.run([harness, "run", "--help"], capture_output=True, text=True,
                             timeout=60, check=False, cwd=ROOT)  # fmt: skip
    except subprocess.TimeoutExpired:
        return "harness run --help did not answer within 60 s"
    if out.returncode != 0:
        lines = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
        return f"harness run --help exited {out.returncode}: {lines[-1] if lines else ''}".strip()
    lacking = [f for f in HARNESS_FLAGS if not re.search(re.escape(f) + r"\b", out.stdout)]
    return f"harness run lacks flags: {' '.join(lacking)}" if lacking else None


def harness_cmd(cfg: Config, base: str, transport: str, out: Path, rate: int | None) -> list[str]:
    """`harness run` pinned to the load core: closed model (--users) or open model (--rate).

    ``base`` is nginx's base URL (the harness adds /api/v1/validate/plate itself).
    """
    harness = venv_tool("harness")
    assert harness is not None
    load = ["--rate", str(rate)] if rate is not None else ["--users", str(cfg.connections)]
    return ["taskset", "-c", LOAD_CORE, harness, "run", "--target", base, "--plate-service", base,
            "--client", "OC_TOMA", "--mix", "enforcement=1", *load,
            "--connections", str(cfg.connections), "--duration", f"{cfg.duration}s",
            "--procs", "1", "--transport", transport, "--out", str(out), "--quiet"]  # fmt: skip


def read_summary(out: Path) -> Sample:
    """totals.achieved_rps and friends from a run's summary.json."""
    path = out / "summary.json"
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot read {rel(path)}: {exc}") from None
    totals = summary.get("totals", {})
    if "achieved_rps" not in totals:
        raise BenchError(f"{rel(path)} has no totals.achieved_rps")
    run = summary.get("run", {})
    requests, elapsed = totals.get("requests"), run.get("elapsed_s")
    extra = {
        "intended_rate": run.get("intended_rate"),
        "duration_s": run.get("duration_s"),
        "elapsed_s": elapsed,
        "late": totals.get("late"),
        "dropped": totals.get("dropped"),
    }
    return Sample(float(totals["achieved_rps"]), requests, totals.get("errors"), extra)


def run_harness(cfg: Config, base: str, transport: str, out: Path, log: Path,
                rate: int | None = None) -> Sample:  # fmt: skip
    """One `harness run`; a non-zero exit with a summary still counts (thresholds may fail)."""
    if out.exists():
        shutil.rmtree(out)
    env = {**os.environ, "OPSCOM_API_TOKEN": "x"}
    rc = run_bounded(harness_cmd(cfg, base, transport, out, rate), log, cfg.duration + 90, env)
    if not (out / "summary.json").exists():
        raise BenchError(f"harness run exited {rc} without summary.json: {last_line(log)}")
    sample = read_summary(out)
    sample.extra["exit_code"] = rc
    return sample


# --------------------------------------------------------------------------- rounds


def run_peer(peer: str, cfg: Config, nginx: Nginx, script: Path, rnd: int) -> Sample:
    """One run of one peer in round ``rnd``, with the CPU other processes used meanwhile."""
    tag = f"{peer}-r{rnd}"
    log = WORK / "logs" / f"{tag}.log"
    waited = wait_for_quiet(nginx.pids)
    before = cpu_snapshot(nginx.pids)
    if peer == "wrk":
        sample = run_wrk(cfg, nginx.url, script, log)
    elif peer == "locust":
        sample = run_locust(cfg, nginx.host, WORK / "locust" / tag, log)
    else:
        sample = run_harness(cfg, nginx.host, peer, WORK / "runs" / tag, log)
    sample.extra.update(other_load(before, cpu_snapshot(nginx.pids)), waited_s=waited)
    return sample


def say(text: str) -> None:
    """Progress on stderr, so stdout holds only the report."""
    print(text, file=sys.stderr, flush=True)


def measure_closed(cfg: Config, nginx: Nginx, script: Path) -> dict[str, PeerResult]:
    """Every peer once per round, rounds interleaved; a peer that fails once is dropped."""
    results = {p: PeerResult(p) for p in PEERS if p not in cfg.skip}
    if {"fast", "aiohttp"} & results.keys():
        problem = harness_problem()
        if problem:
            say(f"harness peers unavailable: {problem}")
            for p in ("fast", "aiohttp"):
                if p in results:
                    results[p].failure = problem
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


@dataclass
class OpenResult:
    """The open-model check: ``--rate`` at a fraction of a maximum, rounds of it."""

    basis: str  # which maximum the rate is a fraction of
    max_rps: float
    rate: int
    samples: list[Sample] = field(default_factory=list)
    failure: str | None = None

    def intended(self, s: Sample) -> float:
        """The intended rate as the harness reports it, else the one asked for."""
        return float(s.extra.get("intended_rate") or self.rate)

    def deviation(self, s: Sample) -> float | None:
        """achieved / intended - 1. ``achieved_rps`` counts only requests sent before
        the schedule's end, so a harness that falls behind shows it here."""
        intended = self.intended(s)
        return s.rps / intended - 1.0 if intended else None

    def late_share(self) -> float:
        """Share of all open-model requests sent more than 10 ms after their time."""
        late = sum(s.extra.get("late") or 0 for s in self.samples)
        total = sum(s.requests or 0 for s in self.samples)
        return late / total if total else 0.0

    @property
    def median_deviation(self) -> float | None:
        """Median over rounds of the relative deviation."""
        devs = [d for d in (self.deviation(s) for s in self.samples) if d is not None]
        return statistics.median(devs) if devs else None


def _open_run(cfg: Config, nginx: Nginx, tag: str, rate: int) -> Sample:
    nginx.check_alive()
    waited = wait_for_quiet(nginx.pids)
    before = cpu_snapshot(nginx.pids)
    s = run_harness(cfg, nginx.host, "fast", WORK / "runs" / tag, WORK / "logs" / f"{tag}.log", rate=rate)
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


# --------------------------------------------------------------------------- report


def fmt_rate(x: float | None) -> str:
    """Requests/s with thousands separators."""
    return "n/a" if x is None else f"{x:,.0f}"


def fmt_ratio(a: float | None, b: float | None) -> str:
    """a/b as '12.3×', or n/a."""
    return "n/a" if a is None or not b else f"{a / b:.2f}×"


def render_table(results: dict[str, PeerResult], cfg: Config) -> str:
    """The markdown table of medians, per-round numbers and ratios."""
    wrk = results["wrk"].median if "wrk" in results else None
    loc = results["locust"].median if "locust" in results else None
    rows = [
        f"| peer | requests/s (median of {cfg.rounds}) | runs | vs wrk | vs Locust |",
        "| --- | ---: | --- | ---: | ---: |",
    ]
    for name, res in results.items():
        runs = ", ".join(fmt_rate(s.rps) + ("*" if suspect(s) else "") for s in res.samples)
        if res.failure:
            runs = f"{runs} (then failed: {res.failure})" if runs else f"failed: {res.failure}"
        rows.append(f"| {LABELS[name]} | {fmt_rate(res.median)} | {runs} | "
                    f"{fmt_ratio(res.median, wrk)} | {fmt_ratio(res.median, loc)} |")  # fmt: skip
    return "\n".join(rows)


def suspect(s: Sample) -> bool:
    """True when other processes used a noticeable share of the machine during the run."""
    return float(s.extra.get("others_cores") or 0.0) > BUSY_THRESHOLD


def render_noise(samples: Sequence[Sample]) -> str:
    """One line on how busy the rest of the machine was during the runs."""
    loads = [float(s.extra["others_cores"]) for s in samples if "others_cores" in s.extra]
    if not loads:
        return ""
    steal = max(float(s.extra.get("steal_cores") or 0.0) for s in samples)
    marked = sum(1 for s in samples if suspect(s))
    line = (f"Other processes used {statistics.median(loads):.2f} cores (median; max {max(loads):.2f}) "
            f"during the runs; hypervisor steal at most {steal:.2f} cores.")  # fmt: skip
    if marked:
        line += (f" \\* marks the {marked} run(s) where they used more than {BUSY_THRESHOLD} cores: "
                 "those numbers are suspect.")  # fmt: skip
    return line


def render_open(checks: list[OpenResult]) -> str:
    """The open-model lines: intended vs achieved per round, for each reading."""
    parts = []
    for op in checks:
        if not op.samples:
            parts.append(f"Open model at {OPEN_FRACTION:.0%} of {op.basis}: not run ({op.failure}).")
            continue
        rows = [
            f"Open model, `--rate {op.rate}` = {OPEN_FRACTION:.0%} of {op.basis}, {fmt_rate(op.max_rps)} req/s:",
            "",
            "| round | intended/s | achieved_rps | deviation | elapsed | late (>10 ms) | dropped | errors |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for i, s in enumerate(op.samples, 1):
            dev = op.deviation(s)
            rows.append(f"| {i}{'*' if suspect(s) else ''} | {fmt_rate(op.intended(s))} | {fmt_rate(s.rps)} | "
                        f"{'n/a' if dev is None else f'{dev:+.2%}'} | {fmt_seconds(s.extra.get('elapsed_s'))} | "
                        f"{fmt_share(s.extra.get('late'), s.requests)} | {s.extra.get('dropped')} | {s.errors} |")  # fmt: skip
        parts.append("\n".join(rows))
    if parts:
        parts.append("`achieved_rps` counts the requests sent before the schedule ended; ones that "
                     "waited for a connection past it are measured but not counted as achieved.")
    return "\n\n".join(parts)


def fmt_seconds(x: float | None) -> str:
    """Seconds with one decimal."""
    return "n/a" if x is None else f"{x:.1f} s"


def fmt_share(part: int | None, whole: int | None) -> str:
    """'1,234 (5.6%)'."""
    if part is None:
        return "n/a"
    return f"{part:,} ({part / whole:.1%})" if whole else f"{part:,}"


def ratio_goal(text: str, results: dict[str, PeerResult], a: str, b: str, floor: float) -> Goal:
    """Goal 'a ≥ floor × b' on the medians."""
    ma = results[a].median if a in results else None
    mb = results[b].median if b in results else None
    if ma is None or not mb:
        missing = [LABELS[p] for p, m in ((a, ma), (b, mb)) if not m]
        return Goal(text, "SKIP", f"no result for {', '.join(missing)}")
    ratio = ma / mb
    return Goal(text, "PASS" if ratio >= floor else "FAIL", f"{ratio:.2f}×")


def judge(results: dict[str, PeerResult], checks: list[OpenResult]) -> list[Goal]:
    """The issue's four goals."""
    goals = [
        ratio_goal("fast ≥ 10× Locust FastHttpUser", results, "fast", "locust", 10.0),
        ratio_goal("fast ≥ 0.5× wrk", results, "fast", "wrk", 0.5),
        ratio_goal("aiohttp ≥ 1.5× Locust FastHttpUser", results, "aiohttp", "locust", 1.5),
    ]
    if not checks:
        goals.append(Goal("open model at 80% of the maximum within 1%", "SKIP", "skipped"))
    for op in checks:
        text = f"open model at {OPEN_FRACTION:.0%} of {op.basis}: achieved within {OPEN_TOLERANCE:.0%} of intended"
        dev = op.median_deviation
        if dev is None:
            goals.append(Goal(text, "SKIP", op.failure or "no result"))
            continue
        ok = abs(dev) <= OPEN_TOLERANCE
        goals.append(Goal(text, "PASS" if ok else "FAIL",
                          f"median deviation {dev:+.2%} at --rate {op.rate}, late {op.late_share():.1%}"))
    return goals


def render_goals(goals: list[Goal]) -> str:
    """One line per goal."""
    return "\n".join(f"- {g.verdict}: {g.text} ({g.detail})" for g in goals)


def render_report(cfg: Config, results: dict[str, PeerResult], checks: list[OpenResult],
                  goals: list[Goal]) -> str:  # fmt: skip
    """Table, open-model lines and goals, as markdown."""
    head = (f"{cfg.duration} s per run, {cfg.connections} connections, {cfg.rounds} rounds; "
            f"nginx on core {SERVER_CORE}, each load generator alone on core {LOAD_CORE}.")  # fmt: skip
    samples = [x for r in results.values() for x in r.samples] + [x for c in checks for x in c.samples]
    parts = [head, render_table(results, cfg), render_open(checks), render_noise(samples),
             "Goals:\n\n" + render_goals(goals)]  # fmt: skip
    return "\n\n".join(p for p in parts if p) + "\n"


def environment() -> dict[str, str]:
    """Versions and the date, for the JSON record."""
    commit = tool_version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "nginx": tool_version(["nginx", "-v"]),
        "wrk": tool_version(["wrk", "--version"]),
        "locust": tool_version([venv_tool("locust") or "locust", "--version"]),
        "cpu": next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                     if ln.startswith("model name")), "?"),  # fmt: skip
    }


def write_json(cfg: Config, results: dict[str, PeerResult], checks: list[OpenResult],
               goals: list[Goal], report: str) -> None:  # fmt: skip
    """Everything, per-round numbers included, to bench/.work/transport_bench.json."""
    data = {
        "config": {**asdict(cfg), "skip": sorted(cfg.skip), "update_doc": str(cfg.update_doc or "")},
        "environment": environment(),
        "peers": {
            name: {"label": LABELS[name], "median_rps": r.median, "failure": r.failure,
                   "rounds": [asdict(s) for s in r.samples]}
            for name, r in results.items()
        },  # fmt: skip
        "open_model": [
            {"basis": op.basis, "fraction": OPEN_FRACTION, "max_rps": op.max_rps, "rate": op.rate,
             "median_deviation": op.median_deviation, "failure": op.failure,
             "rounds": [asdict(s) for s in op.samples]}
            for op in checks
        ],  # fmt: skip
        "goals": [asdict(g) for g in goals],
        "report_markdown": report,
    }
    RESULT_JSON.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def update_doc(path: Path, report: str) -> None:
    """Replace the text between the two markers in ``path`` with the report."""
    text = path.read_text()
    start, end = text.find(DOC_BEGIN), text.find(DOC_END)
    if start < 0 or end < start:
        raise BenchError(f"{path} lacks the markers {DOC_BEGIN} ... {DOC_END}")
    date = dt.date.today().isoformat()
    body = f"{DOC_BEGIN}\nLatest run ({date}): {report}{DOC_END}"
    path.write_text(text[:start] + body + text[end + len(DOC_END):])


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
