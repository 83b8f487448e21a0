"""Locust benchmark: the harness's instrumentation on Locust users, and the harness
engine on Locust's workers, each against its peer in the same run, same core,
same target.

Peers (nginx serving a fixed plate-validation answer on core 0, as in
bench/transport_bench.py; every peer alone on core 1, N connections or users):

- ``locust``: plain ``FastHttpUser`` (bench/locustfile_plate.py), no wait time.
- ``locust_harness``: the same request through ``OpscomUser.send``
  (bench/locustfile_harness_plate.py): OPSCOM classification, HDR recording,
  failure naming, the run directory at the end.
- ``engine_locust``: scenarios/engine.py with one Locust worker (``--processes 1``:
  a master, one worker, and the worker's engine process), closed model with N users.
- ``harness_api``: ``harness.api.run`` of the same plan in one process, through the
  library API (``harness run --procs 1``).

Both Locust user peers are counted by Locust itself (its JSON statistics: requests
from the end of the spawn, ``--reset-stats``, to the last request, so start-up is
in neither figure); both engine peers by their summary.json (``achieved_rps``: requests
sent before the schedule's end, over its length). Rounds are interleaved; each
figure is the median of its rounds.

Goals (the issue's): ``locust_harness`` at least 90% of ``locust``; ``engine_locust``
at least 90% of ``harness_api``. Printed as PASS/FAIL for a person to read; the exit
status says only whether every peer ran (0), or not (1), or the benchmark could not
start (2).

    .venv/bin/python bench/locust_bench.py                # 3 rounds of 10 s (about 4 minutes)
    .venv/bin/python bench/locust_bench.py --quick        # 2 rounds of 5 s
    .venv/bin/python bench/locust_bench.py --update-doc docs/locust.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine  # noqa: E402 - pinning, noise accounting, bounded commands
import peers as nginx_peers  # noqa: E402 - the nginx target
import readme_table  # noqa: E402
import transport_bench  # noqa: E402 - its tool check

ROOT = machine.ROOT
WORK = machine.WORK / "locust"
RESULT_JSON = machine.WORK / "locust_bench.json"
DOC_BEGIN = "<!-- locust-bench:begin -->"
DOC_END = "<!-- locust-bench:end -->"
TOKEN = "bench-token"
PEERS = ("locust", "locust_harness", "engine_locust", "harness_api")
LABELS = {
    "locust": "Locust FastHttpUser, plain (1 process)",
    "locust_harness": "Locust OpscomUser: harness metrics on (1 process)",
    "engine_locust": "engine scenario, 1 Locust worker (1 engine process)",
    "harness_api": "harness run --procs 1 (library API)",
}
GOALS = (("locust_harness", "locust", 0.90, "the harness's instrumentation costs at most 10% of plain FastHttpUser"),
         ("engine_locust", "harness_api", 0.90, "the engine on one Locust worker reaches 90% of harness run --procs 1"))


@dataclass
class Config:
    duration: int
    users: int
    rounds: int
    update_doc: Path | None


@dataclass
class Peer:
    name: str
    samples: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(s["rps"] for s in self.samples) if self.samples else None


def parse_args(argv: Sequence[str] | None) -> Config:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, help="seconds per run (default 10, 5 with --quick)")
    p.add_argument("--users", type=int, default=64, help="Locust users / engine users and connections (default 64)")
    p.add_argument("--rounds", type=int, help="interleaved rounds, at least 2 (default 3, 2 with --quick)")
    p.add_argument("--quick", action="store_true", help="2 rounds of 5 s")
    p.add_argument("--update-doc", type=Path, help="replace the table between the locust-bench markers in FILE")
    a = p.parse_args(argv)
    rounds = a.rounds or (2 if a.quick else 3)
    if rounds < 2 or a.users < 1:
        p.error("--rounds must be at least 2 and --users at least 1")
    return Config(duration=a.duration or (5 if a.quick else 10), users=a.users, rounds=rounds, update_doc=a.update_doc)


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    out["OPSCOM_API_TOKEN"] = TOKEN
    return out


def pinned(*cmd: str) -> list[str]:
    return ["taskset", "-c", machine.LOAD_CORE, *cmd]


def _latest_summary(out: Path) -> dict[str, Any]:
    from harness.report.rundir import resolve_run

    return json.loads((resolve_run(out) / "summary.json").read_text())


def run_locust_users(cfg: Config, nginx: nginx_peers.Nginx, peer: str, tag: str) -> dict[str, Any]:
    locustfile = "bench/locustfile_plate.py" if peer == "locust" else "bench/locustfile_harness_plate.py"
    prefix, out = WORK / f"{tag}-stats", WORK / f"{tag}-reports"
    cmd = pinned(sys.executable, "-m", "locust", "-f", str(ROOT / locustfile), "--headless", "-u", str(cfg.users),
                 "-r", str(cfg.users), "-t", f"{cfg.duration}s", "-H", nginx.host, "--only-summary",
                 "--json-file", str(prefix), "--skip-log-setup", "--reset-stats")
    if peer == "locust_harness":
        cmd += ["--report-dir", str(out), "--check", "all.error_rate<100%"]
    code = machine.run_bounded(cmd, WORK / f"{tag}.log", timeout=cfg.duration + 90, env=env())
    if code not in (0, 1):
        raise machine.BenchError(f"{peer} exited {code} (log: {machine.rel(WORK / f'{tag}.log')})")
    entries = json.loads(Path(f"{prefix}.json").read_text())
    requests = sum(e["num_requests"] for e in entries)
    # Steady state, as Locust counts it: from the end of the spawn (--reset-stats) to
    # the last request, so neither peer's start-up is in the figure.
    window = max(e["last_request_timestamp"] for e in entries) - min(e["start_time"] for e in entries)
    sample: dict[str, Any] = {"rps": requests / window, "requests": requests, "window_s": round(window, 3),
                              "failures": sum(e["num_failures"] for e in entries)}
    if peer == "locust_harness":
        summary = _latest_summary(out)
        sample["harness_requests"] = summary["totals"]["requests"]
        sample["p99_ms"] = summary["all"]["latency_ms"]["p99"]
    return sample


def run_engine(cfg: Config, nginx: nginx_peers.Nginx, peer: str, tag: str) -> dict[str, Any]:
    out = WORK / f"{tag}-reports"
    load = ["--mix", "enforcement=1", "--connections", str(cfg.users), "--plate-service", nginx.host,
            "--report-dir", str(out), "--check", "all.error_rate<100%"]
    if peer == "engine_locust":
        cmd = pinned(sys.executable, "-m", "locust", "-f", str(ROOT / "scenarios" / "engine.py"), "--headless",
                     "--processes", "1", "-H", nginx.host, "--engine-users", str(cfg.users),
                     "-t", f"{cfg.duration}s", "--skip-log-setup", "--only-summary", *load)
    else:
        cmd = pinned(sys.executable, str(Path(__file__).resolve()), "--api-peer", nginx.host, str(cfg.duration),
                     str(cfg.users), str(out))
    code = machine.run_bounded(cmd, WORK / f"{tag}.log", timeout=cfg.duration + 120, env=env())
    if code not in (0, 1):
        raise machine.BenchError(f"{peer} exited {code} (log: {machine.rel(WORK / f'{tag}.log')})")
    s = _latest_summary(out)
    return {"rps": s["totals"]["achieved_rps"], "requests": s["totals"]["requests"], "errors": s["totals"]["errors"],
            "p99_ms": s["all"]["latency_ms"]["p99"]}


def api_peer(host: str, duration: str, users: str, out: str) -> int:
    """``harness run --procs 1`` through the library API (this process, pinned by the caller)."""
    from harness.api import external_target, load_plan, run, write_result

    plan = load_plan(None, {"target.url": host, "target.plate_service": host, "load.users": users,
                            "load.connections": users, "load.duration": f"{duration}s", "load.procs": "1",
                            "mix": "enforcement=1", "output.dir": out, "checks.thresholds": ["all.error_rate<100%"]})
    result = run(plan, external_target(plan))
    write_result(result)
    return 0


def measure(cfg: Config, nginx: nginx_peers.Nginx) -> dict[str, Peer]:
    peers = {name: Peer(name) for name in PEERS}
    for rnd in range(1, cfg.rounds + 1):
        for name in PEERS:
            peer = peers[name]
            if peer.failure:
                continue
            waited = machine.wait_for_quiet(nginx.pids)
            before = machine.cpu_snapshot(nginx.pids)
            tag = f"{name}-r{rnd}"
            try:
                runner = run_locust_users if name in ("locust", "locust_harness") else run_engine
                sample = runner(cfg, nginx, name, tag)
            except machine.BenchError as exc:
                peer.failure = str(exc)
                machine.say(f"{name}: {exc}")
                continue
            sample.update(machine.other_load(before, machine.cpu_snapshot(nginx.pids)), waited_s=waited)
            peer.samples.append(sample)
            machine.say(f"round {rnd} {name}: {sample['rps']:,.0f} req/s")
    return peers


def render(cfg: Config, peers: dict[str, Peer]) -> str:
    base = peers["locust"].median
    lines = [
        f"{cfg.duration} s per run, {cfg.users} users/connections, {cfg.rounds} rounds; nginx on core "
        f"{machine.SERVER_CORE}, each peer alone on core {machine.LOAD_CORE} (so requests/s is also requests/s per core).",
        "",
        f"| peer | requests/s per core (median of {cfg.rounds}) | runs | vs plain Locust |",
        "| --- | ---: | --- | ---: |",
    ]
    for name in PEERS:
        p = peers[name]
        if p.median is None:
            lines.append(f"| {LABELS[name]} | failed: {p.failure} | | |")
            continue
        runs = ", ".join(f"{s['rps']:,.0f}" for s in p.samples)
        ratio = f"{p.median / base:.2f}x" if base else "-"
        lines.append(f"| {LABELS[name]} | {p.median:,.0f} | {runs} | {ratio} |")
    noise = [s["others_cores"] for p in peers.values() for s in p.samples]
    if noise:
        lines += ["", f"Other processes used {statistics.median(noise):.2f} cores (median; max {max(noise):.2f}) "
                      "during the runs."]
    lines += ["", "Goals:", ""]
    for peer, peer_of, floor, text in GOALS:
        a, b = peers[peer].median, peers[peer_of].median
        if a is None or b is None:
            lines.append(f"- SKIP: {text} (a peer failed)")
        else:
            lines.append(f"- {'PASS' if a >= floor * b else 'FAIL'}: {text} ({a / b:.1%})")
    return "\n".join(lines) + "\n"


def update_doc(path: Path, report: str) -> None:
    text = path.read_text()
    start, end = text.find(DOC_BEGIN), text.find(DOC_END)
    if start < 0 or end < start:
        raise machine.BenchError(f"{path} lacks the markers {DOC_BEGIN} ... {DOC_END}")
    body = f"{DOC_BEGIN}\nLatest run ({dt.date.today().isoformat()}): {report}{DOC_END}"
    path.write_text(text[:start] + body + text[end + len(DOC_END):])


def bench(cfg: Config) -> int:
    transport_bench.ensure_tools(transport_bench.Config(duration=cfg.duration, connections=cfg.users, rounds=cfg.rounds,
                              skip=frozenset({"wrk"}), update_doc=None))
    WORK.mkdir(parents=True, exist_ok=True)
    nginx = nginx_peers.Nginx(machine.WORK / "nginx")
    try:
        nginx.start()
        machine.say(f"nginx on {nginx.host} (core {machine.SERVER_CORE}); peers on core {machine.LOAD_CORE}; "
               f"{cfg.rounds} rounds of {cfg.duration} s, {cfg.users} users")
        peers = measure(cfg, nginx)
    finally:
        nginx.stop()
    report = render(cfg, peers)
    print(report, end="")
    RESULT_JSON.write_text(json.dumps({
        "config": {"duration": cfg.duration, "users": cfg.users, "rounds": cfg.rounds},
        "environment": readme_table.environment(),
        "peers": {n: {"label": LABELS[n], "median_rps": p.median, "failure": p.failure, "rounds": p.samples}
                  for n, p in peers.items()},
        "report_markdown": report,
    }, indent=2) + "\n")
    machine.say(f"wrote {machine.rel(RESULT_JSON)}")
    if cfg.update_doc:
        update_doc(cfg.update_doc, report)
        machine.say(f"updated the table in {cfg.update_doc}")
    return 1 if any(p.failure for p in peers.values()) else 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--api-peer"]:
        return api_peer(*argv[1:5])
    cfg = parse_args(argv)
    try:
        return bench(cfg)
    except (machine.BenchError, OSError) as exc:
        print(f"locust_bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("locust_bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
