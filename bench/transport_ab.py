"""A/B benchmark of the transports: this tree against an older commit, same run.

For a change to a transport's hot path: is it slower than before? nginx (one worker,
core 0) answers the fixed plate validation, as in ``transport_bench.py``; on core 1,
in turn and for the same time, run

* ``harness run --transport T`` of the old tree (``git archive REF``, default c269551),
* ``harness run --transport T`` of this tree,
* and wrk (one thread) as the ceiling, unless ``--skip-wrk``,

each in the closed model over the same connections. The order alternates between
rounds (old first, then new first, ...), because this machine is shared and drifts.
Prints every round, the medians, and the ratio new/old (the median of the per-round
ratios, each measured minutes apart at most, and the ratio of the medians), for
requests/s and for requests per CPU second of the harness process (the steadier of
the two when other work shares the machine).

Usage: ``.venv/bin/python bench/transport_ab.py [--ref c269551] [--transport fast]
[--duration 5] [--rounds 3] [--connections 64] [--skip-wrk] [--no-wait]``

``--ref HEAD`` measures this tree against itself: the spread of its ratios is the
noise of the machine at that moment, to read the real comparison against.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import LOAD_CORE, ROOT, WORK, BenchError, Sample, run_bounded, wait_for_quiet  # noqa: E402
from peers import Nginx, run_wrk, write_wrk_script  # noqa: E402
from transport_bench import Config, ensure_tools  # noqa: E402  (sibling scripts, not a package)


def read_summary(out: Path) -> Sample:
    """achieved_rps, requests and errors of a run's summary.json: directly in ``out``
    (older trees) or in its latest run directory (run directories since 0.2)."""
    path = out / "summary.json"
    if not path.exists():
        path = out / "latest" / "summary.json"
    try:
        totals = json.loads(path.read_text())["totals"]
    except (OSError, ValueError, KeyError) as exc:
        raise BenchError(f"cannot read {path}: {exc}") from None
    return Sample(float(totals["achieved_rps"]), totals.get("requests"), totals.get("errors"))

AB = WORK / "ab"


def export_tree(ref: str) -> Path:
    """The files of commit ``ref`` under bench/.work/ab/<ref>/ (the harness only)."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT,
                         capture_output=True, text=True, check=False)  # fmt: skip
    if sha.returncode != 0:
        raise BenchError(f"no commit {ref!r} in this repository")
    tree = AB / sha.stdout.strip()[:12]
    if not (tree / "harness").is_dir():
        blob = subprocess.run(["git", "archive", sha.stdout.strip(), "harness"], cwd=ROOT,
                              capture_output=True, check=True).stdout  # fmt: skip
        tree.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            tar.extractall(tree, filter="data")
    return tree


def run_harness(tree: Path, transport: str, base: str, cfg: Config, out: Path, log: Path) -> tuple[float, float]:
    """One closed-model run of the harness in ``tree`` (PYTHONPATH puts it before the
    venv's editable install): its achieved requests/s, and the CPU time (user + system)
    it spent per request, in microseconds. On a shared machine the second is the
    steadier one: other processes take wall time from a run, hardly its CPU time."""
    cmd = ["taskset", "-c", LOAD_CORE, sys.executable, "-m", "harness", "run", "--target", base,
           "--plate-service", base, "--client", "OC_TOMA", "--mix", "enforcement=1",
           "--users", str(cfg.connections), "--connections", str(cfg.connections),
           "--duration", f"{cfg.duration}s", "--procs", "1", "--transport", transport,
           "--out", str(out), "--quiet"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tree), "OPSCOM_API_TOKEN": "bench-not-a-secret"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    rc = run_bounded(cmd, log, cfg.duration + 60, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if rc not in (0, 1):  # 1: a check failed, which a benchmark does not care about
        raise BenchError(f"harness ({tree.name}) exited {rc}; see {log}")
    sample = read_summary(out)
    if sample.errors:
        raise BenchError(f"harness ({tree.name}) saw {sample.errors} errors; see {out}")
    # The whole process's CPU, start-up included, over all its requests (drain included).
    return sample.rps, cpu / max(sample.requests or 1, 1) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", default="c269551", help="the old commit (default c269551)")
    parser.add_argument("--transport", default="fast", choices=("fast", "aiohttp"))
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--skip-wrk", action="store_true", help="no wrk runs")
    parser.add_argument("--no-wait", action="store_true",
                        help="do not wait for a quiet machine before each run: on a machine that is "
                             "never quiet, old and new then run back to back, under the same load")
    args = parser.parse_args(argv)
    skip = frozenset({"locust", "aiohttp", "open"} | ({"wrk"} if args.skip_wrk else set()))
    cfg = Config(duration=args.duration, connections=args.connections, rounds=args.rounds,
                 skip=skip, update_doc=None)  # fmt: skip
    try:
        ensure_tools(cfg)
        trees = {"old": export_tree(args.ref), "new": ROOT}
        nginx = Nginx(AB / "nginx")
        nginx.start()
        try:
            script = write_wrk_script(AB / "nginx")
            rps: dict[str, list[float]] = {"old": [], "new": [], "wrk": []}
            cpu: dict[str, list[float]] = {"old": [], "new": []}
            for r in range(args.rounds):
                order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
                if not args.skip_wrk:
                    order.insert(1, "wrk")  # between the two: the same distance from each
                for peer in order:
                    if not args.no_wait:
                        wait_for_quiet(nginx.pids)
                    log = AB / f"r{r}-{peer}.log"
                    if peer == "wrk":
                        value = run_wrk(cfg.duration, cfg.connections, nginx.url, script, log).rps
                        per = ""
                    else:
                        value, us = run_harness(trees[peer], args.transport, nginx.host, cfg, AB / f"r{r}-{peer}", log)
                        cpu[peer].append(us)
                        per = f"  {us:6.2f} us CPU/request"
                    rps[peer].append(value)
                    print(f"round {r + 1}  {peer:>3}  {value:10,.0f} req/s{per}", flush=True)
        finally:
            nginx.stop()
    except BenchError as exc:
        print(f"transport_ab: error: {exc}", file=sys.stderr)
        return 2
    med = {k: statistics.median(v) for k, v in rps.items() if v}
    ratios = [n / o for n, o in zip(rps["new"], rps["old"], strict=True)]
    result = {
        "ref": args.ref, "transport": args.transport, "duration_s": args.duration,
        "connections": args.connections, "rps": rps, "median_rps": med,
        "new_over_old_per_round": ratios,
        "new_over_old": statistics.median(ratios),
        "median_new_over_median_old": med["new"] / med["old"],
        "cpu_us_per_request": cpu,
        # Requests per CPU second, new over old: the capacity ratio, steadier under load.
        "cpu_old_over_new_per_round": [o / n for o, n in zip(cpu["old"], cpu["new"], strict=True)],
    }  # fmt: skip
    result["cpu_old_over_new"] = statistics.median(result["cpu_old_over_new_per_round"])
    if "wrk" in med:
        result["new_over_wrk"] = med["new"] / med["wrk"]
        result["old_over_wrk"] = med["old"] / med["wrk"]
    AB.mkdir(parents=True, exist_ok=True)
    (AB / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nmedians: old {med['old']:,.0f}  new {med['new']:,.0f}"
          + (f"  wrk {med['wrk']:,.0f}" if "wrk" in med else "") + " req/s")  # fmt: skip
    print(f"new/old: {result['new_over_old']:.3f} (median of rounds: "
          + ", ".join(f"{x:.3f}" for x in ratios) + f"); ratio of medians {result['median_new_over_median_old']:.3f}")
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"CPU per request: old {cpu_med['old']:.2f} us, new {cpu_med['new']:.2f} us; "
          f"requests per CPU second new/old {result['cpu_old_over_new']:.3f} (median of rounds: "
          + ", ".join(f"{x:.3f}" for x in result["cpu_old_over_new_per_round"]) + ")")
    if "wrk" in med:
        print(f"vs wrk: new {result['new_over_wrk']:.2f}x, old {result['old_over_wrk']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
