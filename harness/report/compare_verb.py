"""Compare two runs, endpoint by endpoint, and fail on a regression.

BASE and NEW are each a run directory, its summary.json, or a scenario's reports
directory (its latest run). The table shows each figure as base→new; a change
beyond a tolerance is a regression and makes the exit status 1.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from harness.errors import ConfigError
from harness.report.compare import (
    LATENCY_STATS,
    Comparison,
    Tolerances,
    compare,
    parse_tolerance,
    render_table,
)
from harness.report.page import Charts, esc, page, table
from harness.report.rundata import RunData, load_run
from harness.usage import verb_help

EXAMPLES = (
    'harness compare reports/release-1.4 reports/release-1.5',
    'harness compare baseline/summary.json reports/smoke --tolerance p99=20%+10ms --html compare.html',
    'harness compare reports/smoke/20261120T090000Z-aa11bb reports/smoke/20261123T090000Z-cc22dd',
)
NOTES = (
    'tolerances (--tolerance KEY=VALUE, repeatable): p50=10%+5ms, p99=10%+5ms, p999=20%+10ms\n(worse by more than both), error_rate=0.1 (percentage points), throughput=10% (a drop, judged\nwhen both runs asked for the same rate), new_codes=on (any new error code or failure\noutcome), violations=on (contract violations where there were none); any of them =off.',
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("base", metavar="BASE", help="the run to compare against (the last release)")
    p.add_argument("new", metavar="NEW", help="the run under judgement")
    p.add_argument("--tolerance", action="append", default=[], metavar="KEY=VALUE",
                   help="change a tolerance (repeatable), e.g. p99=15%%+10ms, error_rate=0.5, new_codes=off")
    p.add_argument("--min-requests", type=int, default=None, metavar="N",
                   help="judge latency only where both runs have N timed requests (default 30)")
    p.add_argument("--html", metavar="FILE", help="also write the comparison as a self-contained HTML page")
    verb_help(p, exit_codes={0: "no regression", 1: "a regression beyond the tolerances", 2: "usage error: a path that is not a run, or a bad tolerance"}, examples=EXAMPLES, notes=NOTES)


def tolerances_from(args: argparse.Namespace) -> Tolerances:
    tol = Tolerances()
    for text in args.tolerance:
        tol = parse_tolerance(text, tol)
    if args.min_requests is not None:
        if args.min_requests < 1:
            raise ConfigError(f"--min-requests: expected a positive number, got {args.min_requests}")
        tol = replace(tol, min_requests=args.min_requests)
    return tol


def main(args: argparse.Namespace) -> int:
    tol = tolerances_from(args)
    base, new = load_run(Path(args.base)), load_run(Path(args.new))
    result = compare(base.summary, new.summary, tol)
    print(render_table_for(result, base, new), flush=True)
    if args.html:
        path = Path(args.html)
        try:
            path.write_text(render_html(result, base, new), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--html {path}: cannot write: {exc.strerror or exc}") from None
        print(f"comparison: {path}")
    return 1 if result.regressed else 0


def label(run: RunData) -> str:
    r = run.summary["run"]
    return f"{run.path} ({r.get('started')}, {run.summary.get('verdict')}, {r.get('arrival')})"


def render_table_for(c: Comparison, base: RunData, new: RunData) -> str:
    return render_table(c, label(base), label(new))


# --- HTML -------------------------------------------------------------------------------------------


def _cell(old: float, new: float, fmt: str, flagged: bool) -> str:
    text = f"{format(old, fmt)} → {format(new, fmt)}"
    return f'<b class="fail">{esc(text)}</b>' if flagged else esc(text)


def render_html(c: Comparison, base: RunData, new: RunData) -> str:
    charts = Charts()
    verdict = "REGRESSION" if c.regressed else "NO REGRESSION"
    cls = "fail" if c.regressed else "pass"
    out = [f'<h1>Comparison <span class="verdict {cls}">{verdict}</span></h1>',
           f'<p class="sub">BASE {esc(label(base))}<br>NEW {esc(label(new))}</p>']
    for note in c.notes:
        out.append(f'<div class="banner warn">{esc(note)}</div>')
    if c.regressions:
        out.append("<h2>Regressions</h2><ul>" + "".join(
            f"<li><b>{esc(g.endpoint)}</b>: {esc(g.text)}</li>" for g in c.regressions) + "</ul>")
    rows, row_classes = [], []
    for r in c.rows:
        if r.base is None or r.new is None:
            rows.append([esc(r.endpoint)] + ["–"] * 7 + [esc("; ".join(r.notes))])
            row_classes.append("")
            continue
        b, n = r.base, r.new
        lat = [_cell(b["latency_ms"][s], n["latency_ms"][s], ".3g", s in r.regressed) for s in LATENCY_STATS]
        codes = " ".join([f"+{k}" for k in r.new_codes] + [f"−{k}" for k in r.gone_codes])
        rows.append([esc(r.endpoint), f"{b['requests']:,} → {n['requests']:,}",
                     _cell(b["rps"], n["rps"], ",.1f", "rps" in r.regressed), *lat,
                     _cell(b["error_rate"] * 100, n["error_rate"] * 100, ".3g", "error_rate" in r.regressed),
                     f"{b['contract_violations']:,} → {n['contract_violations']:,}",
                     esc(" ".join([codes, *r.notes]).strip())])
        row_classes.append("regressed" if r.regressed else "")
    out.append("<h2>Endpoints (base → new)</h2>")
    out.append(table(["endpoint", "requests", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors %", "violations",
                      "codes and notes"], rows, classes=["l", "", "", "", "", "", "", "", "l"],
                     row_classes=row_classes))
    out.append("<h3>Tolerances</h3>" + table(["what", "regression when"],
                                             [[esc(k), esc(v)] for k, v in c.tolerances.describe().items()],
                                             classes=["l", "l"]))
    out.append(_charts(base, new, charts))
    return page(f"compare: {verdict}", "\n".join(out), charts)


def _charts(base: RunData, new: RunData, charts: Charts) -> str:
    from harness.report.chartdata import distributions, timeline_columns

    out = []
    tb, tn = timeline_columns(base.timeline), timeline_columns(new.timeline)
    if tb["t"] and tn["t"]:
        length = max(len(tb["t"]), len(tn["t"]))
        x = charts.column("t", list(range(length)))
        pad = (lambda v: v + [None] * (length - len(v)))  # noqa: E731
        out.append("<h2>Over time</h2>")
        out.append(charts.add("chart-compare-p99", "time", "p99 per second (ms), base and new", x, [
            {"label": "BASE p99", "col": charts.column("b:p99", pad(tb["p99"])), "color": "#7f7f7f"},
            {"label": "NEW p99", "col": charts.column("n:p99", pad(tn["p99"])), "color": "#d62728"}],
            [{"scale": "ms", "label": "ms (log)", "log": True}]))
        out.append(charts.add("chart-compare-rate", "time", "Requests and errors per second, base and new", x, [
            {"label": "BASE req/s", "col": charts.column("b:req", pad(tb["requests"])), "color": "#7f7f7f"},
            {"label": "NEW req/s", "col": charts.column("n:req", pad(tn["requests"])), "color": "#1f77b4"},
            {"label": "BASE errors/s", "col": charts.column("b:err", pad(tb["errors"])), "color": "#bcbd22"},
            {"label": "NEW errors/s", "col": charts.column("n:err", pad(tn["errors"])), "color": "#d62728"}],
            [{"scale": "n", "label": "per second"}]))
    if base.metrics is None or new.metrics is None:
        return "\n".join(out)
    db, dn = distributions(base.metrics), distributions(new.metrics)
    names = [n for n in db if n in dn]
    if names:
        out.append("<h2>Percentile distributions (corrected), base and new</h2><div class=\"grid2\">")
    for i, name in enumerate(names):
        a, b = db[name]["corrected"], dn[name]["corrected"]
        xs = sorted(set(a["x"]) | set(b["x"]))
        ia, ib = dict(zip(a["x"], a["ms"], strict=True)), dict(zip(b["x"], b["ms"], strict=True))
        x = charts.column(f"d{i}:x", xs)
        out.append(charts.add(f"chart-compare-dist-{i}", "dist", f"{name}: latency by percentile", x, [
            {"label": "BASE", "col": charts.column(f"d{i}:b", [ia.get(v) for v in xs]), "color": "#7f7f7f"},
            {"label": "NEW", "col": charts.column(f"d{i}:n", [ib.get(v) for v in xs]), "color": "#d62728"}],
            [{"scale": "ms", "label": "ms (log)", "log": True}], height=220))
    if names:
        out.append("</div>")
    return "\n".join(out)

