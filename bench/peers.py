"""The peers the harness is measured against, and the target: nginx (a fixed
plate-validation answer, pinned to the server core), wrk and Locust FastHttpUser
(pinned to the load core)."""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from machine import (
    BENCH,
    LOAD_CORE,
    SERVER_CORE,
    BenchError,
    Sample,
    free_port,
    kill_group,
    last_line,
    rel,
    run_bounded,
    venv_tool,
)

TEMPLATE = BENCH / "nginx.conf.template"
LOCUSTFILE = BENCH / "locustfile_plate.py"
PATH = "/api/v1/validate/plate"
BODY = '{"api_token":"x","client":"OC_TOMA","plate":"ABC123"}'


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


def run_wrk(duration: int, connections: int, url: str, script: Path, log: Path) -> Sample:
    """One wrk run: one thread, N connections, D seconds."""
    cmd = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}", f"-d{duration}s",
           "-s", str(script), url]  # fmt: skip
    rc = run_bounded(cmd, log, duration + 30)
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


def run_locust(duration: int, connections: int, host: str, prefix: Path, log: Path) -> Sample:
    """One headless Locust run in one process; all users spawned within the first second.

    Requests/s is Locust's own total rate (requests / (last request - start of the test),
    ramp-up included) from the summary it prints on exit. Locust 2.47 rewrites the CSV only
    once a second and not at exit, so the CSV's Aggregated row, kept as ``csv_rps``, lags
    the end by up to a second; it is the fallback when the summary is missing.
    """
    locust = venv_tool("locust")
    assert locust is not None  # ensure_tools checked
    n = str(connections)
    cmd = ["taskset", "-c", LOAD_CORE, locust, "-f", str(LOCUSTFILE), "--headless", "-u", n, "-r", n,
           "-t", f"{duration}s", "--host", host, "--only-summary", "--csv", str(prefix),
           "--exit-code-on-error", "0"]  # fmt: skip
    rc = run_bounded(cmd, log, duration + 60)
    if rc != 0:
        raise BenchError(f"locust exited {rc}: {last_line(log)}")
    text = log.read_text(errors="replace")
    from_csv = parse_locust_csv(Path(f"{prefix}_stats.csv"))
    sample = parse_locust_summary(text) or from_csv
    sample.extra.update(csv_rps=from_csv.rps, csv_requests=from_csv.requests,
                        spawn_s=locust_spawn_seconds(text))  # fmt: skip
    return sample


