"""Recording and replay benchmark: reading speed, replay memory, replay rate beside
``harness run``, and the recording proxy's overhead beside direct traffic.

Targets are ``bench/stub_server.py`` (uvloop + httptools, fixed OPSCOM-shaped answers)
pinned to core 0; every load generator runs in a child process pinned to core 1,
through the library API (``harness.api``), and reports its figures as JSON.

* read:   ``read_calls`` over a recording of N calls, plain and zstd, against the
          floor of ``orjson.loads`` per line of the same file. Goal >= 200,000 calls/s.
* memory: a 2,000,000-call recording replayed with ``--speed max``; the peak RSS of
          the replaying process, beside the same replay of a recording 10x smaller.
          Goal < 250 MB.
* rate:   a recording at 2,000 calls/s played at --speed 10 (20,000 calls/s, one
          process) and ``harness run --rate 20000`` of the same length, interleaved
          rounds. Goal: the replay's achieved rate within 1% of intended (median).
* proxy:  2,000 req/s for a while, directly to the stub and through ``harness record``
          in front of it, interleaved; p99 latency side by side. Goal: < 1 ms added.

  Environment: BENCH_PROXY_CORE=1 puts the proxy beside the load generator instead
  of the target; BENCH_PROXY_PLAIN=1 records uncompressed (for diagnosis).
Rounds are interleaved and medians reported, because this machine is shared and
absolute numbers drift. Usage:

    .venv/bin/python bench/replay_bench.py [--quick] [--only read,memory,rate,proxy] [--rounds 3]

Results (per round too) go to bench/.work/replay_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "replay"
STUB = ROOT / "bench" / "stub_server.py"
SERVER_CORE, LOAD_CORE = "0", "1"
PROXY_CORE = os.environ.get("BENCH_PROXY_CORE", SERVER_CORE)  # where harness record runs (default: beside the target)
TOKEN_ENV = {"OPSCOM_API_TOKEN": "bench-token-not-secret"}
SECTIONS = ("read", "memory", "rate", "proxy")


def pinned(core: str, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", core, *cmd] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else cmd


def start_listening(cmd: list[str], marker: str, on_stderr: bool = False) -> tuple[subprocess.Popen[str], str]:
    """Start a server; its URL from the first line it prints (on stdout, or stderr)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if not on_stderr else subprocess.DEVNULL,
                            stderr=subprocess.PIPE if on_stderr else subprocess.DEVNULL, text=True, cwd=ROOT,
                            env={**os.environ, **TOKEN_ENV})
    stream = proc.stderr if on_stderr else proc.stdout
    assert stream is not None
    line = stream.readline()
    if marker not in line:
        proc.kill()
        raise SystemExit(f"bench: {cmd} did not start: {line!r}")
    return proc, "http://" + line.split("http://")[1].split(",")[0].strip()


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def child(*args: str, timeout: float = 900) -> dict[str, Any]:
    """Run a measurement in a fresh process on the load core; its JSON line back."""
    cmd = pinned(LOAD_CORE, [sys.executable, str(Path(__file__).resolve()), "_child", *args])
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **TOKEN_ENV},
                         timeout=timeout)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"bench: child {args} failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(lines[-1])


# --- making recordings --------------------------------------------------------------------------


def make_recording(path: Path, *, rate: float, seconds: float, mix: str) -> Path:
    if path.exists():
        return path
    from harness.plan import load_plan
    from harness.recording.generate import generate

    plan = load_plan(None, {"load.rate": rate, "load.duration": f"{seconds}s", "mix": mix, "load.procs": 1})
    tmp = path.with_name(path.name + ".part" + "".join(path.suffixes[-1:]))
    generate(plan, str(tmp))
    tmp.rename(path)
    return path


# --- children (each a fresh process on the load core) ---------------------------------------------


def _child_read(path: str, mode: str) -> dict[str, Any]:
    import orjson

    from harness.recording.files import read_calls

    started = time.perf_counter()
    n = 0
    if mode == "orjson":
        with open(path, "rb") as f:
            next(f)
            for line in f:
                orjson.loads(line)
                n += 1
    else:
        for _ in read_calls(path):
            n += 1
    elapsed = time.perf_counter() - started
    return {"calls": n, "seconds": elapsed, "calls_per_s": n / elapsed}


def _child_replay(path: str, url: str, speed: str) -> dict[str, Any]:
    from harness.api import external_target, run
    from harness.replay.plan import ReplaySettings, parse_speed, replay_plan

    plan, _ = replay_plan(path, {"target.url": url, "load.procs": 1, "load.connections": 64,
                                 "output.dir": str(WORK / "reports"), "checks.defaults": False},
                          ReplaySettings(speed=parse_speed(speed)))
    result = run(plan, external_target(plan, TOKEN_ENV))
    return _figures(result)


def _child_run(url: str, rate: str, seconds: str) -> dict[str, Any]:
    from harness.api import external_target, load_plan, run

    plan = load_plan(None, {"target.url": url, "load.rate": rate, "load.duration": f"{seconds}s",
                            "mix": "enforcement=100", "load.procs": 1, "load.connections": 64,
                            "output.dir": str(WORK / "reports")})
    return _figures(run(plan, external_target(plan, TOKEN_ENV)))


def _figures(result: Any) -> dict[str, Any]:
    s = result.summary
    run = s["run"]
    return {"requests": s["totals"]["requests"], "errors": s["totals"]["errors"], "late": s["totals"]["late"],
            "intended_rate": run["intended_rate"], "achieved_rps": s["totals"]["achieved_rps"],
            "elapsed_s": run["elapsed_s"], "p50_ms": s["all"]["latency_ms"]["p50"],
            "p99_ms": s["all"]["latency_ms"]["p99"],
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# --- sections ---------------------------------------------------------------------------------------


def bench_read(n: int, rounds: int) -> dict[str, Any]:
    plain = make_recording(WORK / f"read-{n}.jsonl", rate=2000, seconds=n / 2000,
                           mix="enforcement=80,meters=15,integrations=5")
    zst = make_recording(WORK / f"read-{n}.jsonl.zst", rate=2000, seconds=n / 2000,
                         mix="enforcement=80,meters=15,integrations=5")
    runs: dict[str, list[float]] = {"orjson.loads per line (plain)": [], "read_calls plain": [],
                                    "read_calls zstd": []}
    for _ in range(rounds):
        runs["orjson.loads per line (plain)"].append(child("read", str(plain), "orjson")["calls_per_s"])
        runs["read_calls plain"].append(child("read", str(plain), "calls")["calls_per_s"])
        runs["read_calls zstd"].append(child("read", str(zst), "calls")["calls_per_s"])
    med = {k: statistics.median(v) for k, v in runs.items()}
    floor = med["orjson.loads per line (plain)"]
    print(f"\n### Reading a recording of {n:,} calls (one core, median of {rounds})\n")
    print("| reader | calls/s | vs orjson floor |\n| --- | ---: | ---: |")
    for k, v in med.items():
        print(f"| {k} | {v:,.0f} | {v / floor:.2f}x |")
    ok = min(med["read_calls plain"], med["read_calls zstd"]) >= 200_000
    print(f"\n- {'PASS' if ok else 'FAIL'}: reading >= 200,000 calls/s plain and zstd")
    return {"calls": n, "runs": runs, "median": med, "pass": ok,
            "bytes": {"plain": plain.stat().st_size, "zstd": zst.stat().st_size}}


def bench_memory(n: int, url: str) -> dict[str, Any]:
    big = make_recording(WORK / f"mem-{n}.jsonl.zst", rate=20_000, seconds=n / 20_000, mix="enforcement=85,meters=15")
    small_n = n // 10
    small = make_recording(WORK / f"mem-{small_n}.jsonl.zst", rate=20_000, seconds=small_n / 20_000,
                           mix="enforcement=85,meters=15")
    r_small = child("replay", str(small), url, "max")
    r_big = child("replay", str(big), url, "max", timeout=3600)
    print(f"\n### Replaying {n:,} calls at --speed max (one process, 64 connections)\n")
    print("| recording | calls replayed | calls/s | peak RSS |\n| --- | ---: | ---: | ---: |")
    for label, r in ((f"{small_n:,} calls", r_small), (f"{n:,} calls", r_big)):
        print(f"| {label} | {r['requests']:,} | {r['requests'] / r['elapsed_s']:,.0f} | {r['maxrss_mb']:.0f} MB |")
    ok = r_big["maxrss_mb"] < 250 and r_big["requests"] == n
    print(f"\n- {'PASS' if ok else 'FAIL'}: {n:,} calls replayed under 250 MB "
          f"({r_big['maxrss_mb']:.0f} MB; {r_big['maxrss_mb'] / r_small['maxrss_mb']:.2f}x the 10x smaller one)")
    return {"calls": n, "small": r_small, "big": r_big, "pass": ok}


def bench_rate(seconds: float, rounds: int, url: str) -> dict[str, Any]:
    rec = make_recording(WORK / f"rate-2000x{seconds * 10:g}s.jsonl.zst", rate=2000, seconds=seconds * 10,
                         mix="enforcement=100")
    rows = []
    for i in range(rounds):
        replay = child("replay", str(rec), url, "10")
        run = child("run", url, "20000", f"{seconds:g}")
        rows.append({"round": i + 1, "replay": replay, "run": run})
    print("\n### 20,000 calls/s from one process: replay --speed 10 of a 2,000/s recording, beside harness run\n")
    print("| round | replay intended/s | replay achieved | deviation | late | run intended/s | run achieved "
          "| deviation | late |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    devs: dict[str, list[float]] = {"replay": [], "run": []}
    for row in rows:
        cells = [str(row["round"])]
        for k in ("replay", "run"):
            r = row[k]
            dev = r["achieved_rps"] / r["intended_rate"] - 1
            devs[k].append(dev)
            cells += [f"{r['intended_rate']:,.0f}", f"{r['achieved_rps']:,.0f}", f"{dev:+.2%}", f"{r['late']:,}"]
        print("| " + " | ".join(cells) + " |")
    med = {k: statistics.median(v) for k, v in devs.items()}
    ok = abs(med["replay"]) <= 0.01
    print(f"\n- {'PASS' if ok else 'FAIL'}: replay at 20,000 calls/s within 1% of intended "
          f"(median {med['replay']:+.2%}; harness run {med['run']:+.2%} in the same rounds)")
    return {"rows": rows, "median_deviation": med, "pass": ok}


def bench_proxy(seconds: float, rounds: int, url: str) -> dict[str, Any]:
    rec = WORK / ("proxy.jsonl" if os.environ.get("BENCH_PROXY_PLAIN") else "proxy.jsonl.zst")
    harness = str(Path(sys.executable).with_name("harness"))
    proxy, proxy_url = start_listening(pinned(PROXY_CORE, [harness, "record", "--upstream", url, "--listen",
                                                            "127.0.0.1:0", "--out", str(rec)]), "listening on",
                                        on_stderr=True)
    rows = []
    try:
        for i in range(rounds):
            direct = child("run", url, "2000", f"{seconds:g}")
            via = child("run", proxy_url, "2000", f"{seconds:g}")
            rows.append({"round": i + 1, "direct": direct, "proxy": via})
    finally:
        stop(proxy)
    print(f"\n### The recording proxy at 2,000 req/s ({seconds:g} s per run), beside the same load sent directly\n")
    print("| round | direct p50 | direct p99 | via proxy p50 | via proxy p99 | added at p99 |\n"
          "| ---: | ---: | ---: | ---: | ---: | ---: |")
    added = []
    for row in rows:
        d, p = row["direct"], row["proxy"]
        added.append(p["p99_ms"] - d["p99_ms"])
        print(f"| {row['round']} | {d['p50_ms']:.2f} ms | {d['p99_ms']:.2f} ms | {p['p50_ms']:.2f} ms | "
              f"{p['p99_ms']:.2f} ms | {added[-1]:+.2f} ms |")
    med = statistics.median(added)
    ok = med < 1.0
    print(f"\n- {'PASS' if ok else 'FAIL'}: the proxy adds < 1 ms at p99 (median {med:+.2f} ms)")
    return {"rows": rows, "median_added_p99_ms": med, "pass": ok}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        kind, *rest = sys.argv[2:]
        fn = {"read": _child_read, "replay": _child_replay, "run": _child_run}[kind]
        print(json.dumps(fn(*rest)), flush=True)
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, one round: a smoke run")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    p.add_argument("--rounds", type=int, default=None)
    args = p.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    rounds = args.rounds or (1 if args.quick else 3)
    WORK.mkdir(parents=True, exist_ok=True)
    stub, url = start_listening(pinned(SERVER_CORE, [sys.executable, str(STUB)]), "listening on")
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "quick": args.quick, "rounds": rounds}
    try:
        if "read" in only:
            results["read"] = bench_read(100_000 if args.quick else 1_000_000, rounds)
        if "memory" in only:
            results["memory"] = bench_memory(200_000 if args.quick else 2_000_000, url)
        if "rate" in only:
            results["rate"] = bench_rate(3 if args.quick else 10, rounds, url)
        if "proxy" in only:
            results["proxy"] = bench_proxy(3 if args.quick else 10, rounds, url)
    finally:
        stop(stub)
    (WORK.parent / "replay_bench.json").write_text(json.dumps(results, indent=2))
    return 0 if all(v.get("pass", True) for v in results.values() if isinstance(v, dict)) else 1


if __name__ == "__main__":
    sys.exit(main())
