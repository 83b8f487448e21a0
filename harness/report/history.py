"""A scenario's runs over time: verdicts, headline figures, and the drift across releases.

Reads every run directory under a scenario's reports directory (``reports/<name>/``,
each ``<time>-<id>/summary.json``), oldest first, prints one line per run and writes
``history.html`` beside them: p99 and error rate per endpoint across runs, and the
throughput, so a slow drift over releases shows as a slope rather than hiding in
per-run noise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.report.chartdata import sig
from harness.report.page import Charts, esc, ms, page, pct, table
from harness.report.rundata import read_json
from harness.usage import verb_help

HISTORY_FILE = "history.html"

EXAMPLES = (
    'harness history reports/smoke',
    'harness history reports/release --last 20',
    'harness history /srv/ci-artifacts/release --html /tmp/release-history.html',
)
NOTES = (
    "DIR is a scenario's reports directory (reports/<name>, or the --out of its runs).\nhistory.html is written into DIR unless --html names another file.",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", metavar="DIR", help="a scenario's reports directory")
    p.add_argument("--last", type=int, default=None, metavar="N", help="only the N most recent runs")
    p.add_argument("--html", metavar="FILE", help=f"where to write the page (default DIR/{HISTORY_FILE})")
    verb_help(p, exit_codes={0: "listed (and history.html written)", 2: "usage error: DIR holds no runs (or cannot be read)"}, examples=EXAMPLES, notes=NOTES)


def find_runs(root: Path) -> list[dict[str, Any]]:
    """Every run's summary under ``root``, oldest first; unreadable ones are skipped
    with a warning (one bad directory must not hide the others)."""
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory (expected a scenario's reports directory such as reports/smoke)")
    runs = []
    for d in sorted(root.iterdir()):
        if d.name.startswith(".") or d.is_symlink() or not (d / "summary.json").is_file():
            continue
        try:
            summary = read_json(d / "summary.json", "a run's summary.json")
        except ConfigError as exc:
            print(f"harness: warning: skipped {exc}", file=sys.stderr)
            continue
        if "run" in summary and "endpoints" in summary:
            summary["_dir"] = d.name
            runs.append(summary)
    runs.sort(key=lambda s: (s["run"].get("started") or "", s["_dir"]))
    if not runs:
        raise ConfigError(f"{root}: no runs (no <time>-<id>/summary.json beneath it)")
    return runs


def render_table(runs: list[dict[str, Any]]) -> str:
    head = (f"{'started':<21}{'run':<8}{'verdict':<13}{'requests':>10}{'req/s':>10}{'errors':>9}"
            f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  failed checks")
    lines = [head, "-" * len(head)]
    for s in runs:
        r, t, lat = s["run"], s["totals"], s["all"]["latency_ms"]
        timed = lat.get("count", 0) > 0
        failed = [c["expr"] for c in s.get("checks", []) if not c.get("passed")]
        verdict = str(s.get("verdict")) + ("*" if r.get("interrupted") else "")
        lines.append(f"{str(r.get('started', ''))[:20]:<21}{str(r.get('run_id', ''))[:7]:<8}{verdict:<13}"
                     f"{t['requests']:>10,}{t['achieved_rps']:>10,.1f}{t['error_rate'] * 100:>8.2f}%"
                     + "".join(f"{(ms(lat[k]) if timed else '-'):>9}" for k in ("p50", "p99", "max"))
                     + "  " + ", ".join(failed))
    lines.append(f"{len(runs)} run(s); * stopped early")
    return "\n".join(lines)


def render_html(root: Path, runs: list[dict[str, Any]]) -> str:
    charts = Charts()
    labels = [f"{str(s['run'].get('started', ''))[:16].replace('T', ' ')} {s['run'].get('run_id', '')}" for s in runs]
    x = charts.column("run", list(range(len(runs))))
    names = ["all"] + sorted({n for s in runs for n in s["endpoints"]})

    def per_name(get: Any) -> list[dict[str, Any]]:
        series = []
        for name in names:
            values = []
            for s in runs:
                section = s["all"] if name == "all" else s["endpoints"].get(name)
                values.append(get(section) if section else None)
            if any(v is not None for v in values):
                series.append({"label": name, "col": charts.column(f"{get.__name__}:{name}", values),
                               "points": True, "width": 3 if name == "all" else 1.5})
        return series

    def p99(section: dict[str, Any]) -> float | None:
        lat = section["latency_ms"]
        return sig(lat["p99"]) if lat.get("count") else None

    def errors(section: dict[str, Any]) -> float | None:
        judged = section.get("ok", 0) + section.get("errors", 0)
        return sig(section["error_rate"] * 100) if judged else None

    def rps(section: dict[str, Any]) -> float | None:
        return sig(section["rps"])

    out = [f"<h1>History of {esc(root.name)}</h1>",
           f'<p class="sub">{len(runs)} run(s) in {esc(root)}, oldest first</p>',
           charts.add("chart-history-p99", "runs", "p99 by endpoint across runs (ms)", x, per_name(p99),
                      [{"scale": "ms", "label": "ms (log)", "log": True}], labels=labels),
           charts.add("chart-history-errors", "runs", "Error rate by endpoint across runs (%)", x, per_name(errors),
                      [{"scale": "pct", "label": "%"}], labels=labels),
           charts.add("chart-history-rps", "runs", "Throughput by endpoint across runs (req/s)", x, per_name(rps),
                      [{"scale": "n", "label": "req/s"}], labels=labels)]
    rows = []
    for s in reversed(runs):
        r, t, lat = s["run"], s["totals"], s["all"]["latency_ms"]
        failed = ", ".join(c["expr"] for c in s.get("checks", []) if not c.get("passed"))
        verdict = str(s.get("verdict"))
        link = f'<a href="{esc(s["_dir"])}/report.html">{esc(s["_dir"])}</a>'
        rows.append([link, f'<span class="{"pass" if verdict == "pass" else "fail"}">{esc(verdict.upper())}</span>',
                     esc(r.get("arrival")), f"{t['requests']:,}", f"{t['achieved_rps']:,.1f}", pct(t["error_rate"]),
                     ms(lat["p50"]), ms(lat["p99"]), ms(lat["max"]), esc(failed or r.get("reason") or "")])
    out.append("<h2>Runs (newest first)</h2>" + table(
        ["run", "verdict", "load", "requests", "req/s", "errors", "p50 ms", "p99 ms", "max ms", "failed checks"],
        rows, classes=["l", "l", "l", "", "", "", "", "", "", "l"]))
    return page(f"history: {root.name}", "\n".join(out), charts)


def main(args: argparse.Namespace) -> int:
    root = Path(args.root)
    runs = find_runs(root)
    if args.last is not None:
        if args.last < 1:
            raise ConfigError(f"--last: expected a positive number, got {args.last}")
        runs = runs[-args.last:]
    print(render_table(runs), flush=True)
    path = Path(args.html) if args.html else root / HISTORY_FILE
    try:
        path.write_text(render_html(root, runs), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the history page: {exc.strerror or exc}") from None
    print(f"history: {path}")
    return 0
