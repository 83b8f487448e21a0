"""The benchmark machine: pinning, tools, bounded processes, and how busy the rest is.

The target runs on ``SERVER_CORE`` and each load generator alone on ``LOAD_CORE``.
The machine is shared, so every run also records the CPU other processes used
meanwhile (``others_cores``) and waits for a quiet moment before it starts.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
SERVER_CORE = "0"
LOAD_CORE = "1"


class BenchError(Exception):
    """A problem worth one line to the user (missing tool, server that will not start...)."""


@dataclass
class Sample:
    """One run of one peer."""

    rps: float
    requests: int | None = None
    errors: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def say(text: str) -> None:
    """Progress on stderr, so stdout holds only the report."""
    print(text, file=sys.stderr, flush=True)


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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
