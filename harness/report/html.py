"""``report.html``: the run as a person reads it, made from its run directory.

Sections, top to bottom: the verdict (and why a run stopped early), the checks,
headline figures, a capacity search's knee when there is one, the timeline
(throughput and errors, latency p50/p99/max, per endpoint), the endpoints'
table, each endpoint's percentile distribution corrected and uncorrected on
HdrHistogram's log scale, outcomes and error codes per endpoint, contract
violations and replay differences, and the run's parameters and effective plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from harness.opscom.errors import ERROR_MESSAGES
from harness.report.chartdata import capacity_columns, distributions, timeline_columns
from harness.report.page import Charts, esc, ms, page, pct, table
from harness.report.rundata import RunData, as_run

REPORT_FILE = "report.html"
CORRECTED = "#d62728"
UNCORRECTED = "#1f77b4"


def _verdict(summary: dict[str, Any]) -> str:
    verdict = str(summary.get("verdict") or "unknown")
    return f'<span class="verdict {esc(verdict)}">{esc(verdict.upper())}</span>'


def header(run: RunData) -> str:
    s, r = run.summary, run.summary["run"]
    where = r.get("target", "") + (" (embedded reference controller)" if r.get("embedded_target") else "")
    shape = f"{r.get('model')} model, {r.get('arrival')}"
    sub = (f"started {esc(r.get('started'))} · run {esc(r.get('run_id'))} · {esc(shape)} · "
           f"{esc(r.get('transport'))} transport, {esc(r.get('procs'))} process(es), "
           f"{esc(r.get('connections'))} connections · target {esc(where)} · harness "
           f"{esc(r.get('harness_version', ''))}")
    out = [f"<h1>{esc(run.name)} {_verdict(s)}</h1>", f'<p class="sub">{sub}</p>']
    if s.get("plan", {}).get("description"):
        out.append(f'<p>{esc(s["plan"]["description"])}</p>')
    if r.get("interrupted"):
        aborted = s.get("verdict") == "fail"
        what = "Aborted" if aborted else "Interrupted"
        out.append(f'<div class="banner{"" if aborted else " warn"}"><b>{what}:</b> '
                   f'{esc(r.get("reason") or "stopped early")}. The figures cover the run up to then.</div>')
    for err in s.get("errors") or []:
        out.append(f'<div class="banner"><b>Harness error:</b> {esc(err)}</div>')
    if run.problem:
        out.append(f'<div class="banner warn">{esc(run.problem)}: the percentile distributions and the '
                   "per-endpoint timelines are left out.</div>")
    return "\n".join(out)


def checks_section(summary: dict[str, Any]) -> str:
    rows, classes = [], []
    for c in summary.get("checks") or []:
        passed = bool(c.get("passed"))
        measured = "not measured" if c.get("value") is None else c.get("measured", "")
        live = c.get("live") or {}
        note = (f"aborted the run at {live.get('at_s', 0):g}s (measured {live.get('measured')})"
                if live.get("aborted") else "")
        result = '<span class="pass">PASS</span>' if passed else '<span class="fail">FAIL</span>'
        rows.append([result, esc(c.get("expr")), esc(measured),
                     esc(f"{c.get('op')} {_threshold(c)}"), esc(c.get("where") or c.get("source") or ""),
                     esc(note)])
        classes.append("" if passed else "failed")
    if not rows:
        return "<h2>Checks</h2><p>No checks.</p>"
    return "<h2>Checks</h2>" + table(["result", "check", "measured", "threshold", "from", ""], rows,
                                     classes=["l", "l", "", "", "l", "l"], row_classes=classes)


def _threshold(c: dict[str, Any]) -> str:
    from harness.checks import format_value

    kind = {"ms": "latency", "%": "ratio", "req/s": "rate"}.get(c.get("unit", ""), "count")
    return format_value(float(c.get("threshold", 0.0)), kind)


def cards(summary: dict[str, Any]) -> str:
    t, a, r = summary["totals"], summary["all"], summary["run"]
    lat = a["latency_ms"]
    timed = lat.get("count", 0) > 0
    intended = f" of {r['intended_rate']:,.1f}" if r.get("intended_rate") else ""
    items = [
        (f"{t['requests']:,}", "requests"),
        (f"{t['achieved_rps']:,.1f}{intended}", "achieved req/s"),
        (pct(t["error_rate"]), "error rate"),
        (ms(lat["p50"]) + " ms" if timed else "–", "p50"),
        (ms(lat["p99"]) + " ms" if timed else "–", "p99"),
        (ms(lat["p999"]) + " ms" if timed else "–", "p99.9"),
        (ms(lat["max"]) + " ms" if timed else "–", "max"),
        (f"{t['late']:,}", "late"),
        (f"{t['dropped']:,}", "dropped"),
        (f"{t['contract_violations']:,}", "contract violations"),
        (f"{t['expected']:,}", "deliberate errors answered right"),
    ]
    return '<div class="cards">' + "".join(f"<div class=\"card\"><b>{esc(v)}</b><span>{esc(k)}</span></div>"
                                          for v, k in items) + "</div>"


def timeline_section(run: RunData, charts: Charts) -> str:
    cols = timeline_columns(run.timeline)
    if not cols["t"]:
        return "<h2>Over time</h2><p>No timeline: the run ended before its first second.</p>"
    x = charts.column("t", cols["t"])
    for key in ("requests", "errors", "p50", "p99", "max"):
        charts.column(key, cols[key])
    out = ["<h2>Over time</h2>",
           '<p class="note">Drag to zoom, double-click to zoom out; values under the cursor are in each '
           "legend. Latency is from each request's intended send time (corrected for coordinated omission), "
           "per second, log scale.</p>"]
    out.append(charts.add("chart-throughput", "time", "Throughput and errors (per second)", x,
                          [{"label": "requests/s", "col": "requests", "color": "#1f77b4"},
                           {"label": "errors/s", "col": "errors", "color": "#d62728"}],
                          [{"scale": "n", "label": "per second"}]))
    out.append(charts.add("chart-latency", "time", "Latency per second (ms)", x,
                          [{"label": "p50", "col": "p50", "color": "#2ca02c"},
                           {"label": "p99", "col": "p99", "color": "#ff7f0e"},
                           {"label": "max", "col": "max", "color": "#d62728"}],
                          [{"scale": "ms", "label": "ms (log)", "log": True}]))
    names = cols["names"]
    if names:
        rate_series, p99_series = [], []
        for name, values in names.items():
            rate_series.append({"label": name, "col": charts.column(f"req:{name}", values["requests"])})
            p99_series.append({"label": name, "col": charts.column(f"p99:{name}", values["p99"])})
        out.append('<div class="grid2">')
        out.append(charts.add("chart-endpoint-rate", "time", "Requests per second by endpoint", x, rate_series,
                              [{"scale": "n", "label": "requests/s"}]))
        out.append(charts.add("chart-endpoint-p99", "time", "p99 per second by endpoint (ms)", x, p99_series,
                              [{"scale": "ms", "label": "ms (log)", "log": True}]))
        out.append("</div>")
    return "\n".join(out)


def endpoints_section(summary: dict[str, Any]) -> str:
    rows = []
    for name, s in list(summary["endpoints"].items()) + [("all", summary["all"])]:
        lat, svc = s["latency_ms"], s["service_ms"]
        timed = lat.get("count", 0) > 0
        cells = [ms(v) if timed else "–" for v in (lat["p50"], lat["p90"], lat["p99"], lat["p999"], lat["max"],
                                                    svc["p99"])]
        rows.append([esc(name), f"{s['requests']:,}", f"{s['rps']:,.1f}", pct(s["error_rate"]), *cells, f"{s['late']:,}", f"{s['dropped']:,}", f"{s['contract_violations']:,}"])
    head = ["endpoint", "requests", "req/s", "errors", "p50", "p90", "p99", "p99.9", "max", "service p99",
            "late", "dropped", "violations"]
    return ("<h2>Endpoints</h2>" + table(head, rows) +
            '<p class="note">Latency in ms over answered and timed-out requests, from the intended send time; '
            "service p99 is from the actual send (uncorrected).</p>")


def distribution_section(run: RunData, charts: Charts) -> str:
    if run.metrics is None:
        return ""
    dists = distributions(run.metrics)
    if not dists:
        return ""
    out = ["<h2>Percentile distributions</h2>",
           '<p class="note">HdrHistogram\'s percentile plot: x is 1/(1&minus;percentile) on a log scale, so the '
           "tail gets the room. <b>Corrected</b> latency runs from each request's intended send time (what a "
           "user waiting in line saw); <b>uncorrected</b> service time from the moment it was actually sent. "
           "Where the two part, requests queued behind a slow target (coordinated omission).</p>",
           '<div class="grid2">']
    for i, (name, d) in enumerate(dists.items()):
        x, corrected, uncorrected = _aligned(d["corrected"], d["uncorrected"])
        xc = charts.column(f"dist{i}:x", x)
        label = "corrected (intended)" if d["basis"] == "intended" else "from the send (the source did not pace)"
        out.append(charts.add(
            f"chart-dist-{i}", "dist", f"{name}: latency by percentile ({d['count']:,} requests)", xc,
            [{"label": label, "col": charts.column(f"dist{i}:c", corrected), "color": CORRECTED},
             {"label": "uncorrected (service)", "col": charts.column(f"dist{i}:u", uncorrected),
              "color": UNCORRECTED, "dash": [6, 3]}],
            [{"scale": "ms", "label": "ms (log)", "log": True}], height=240))
    out.append("</div>")
    return "\n".join(out)


def _aligned(a: dict[str, list[float]], b: dict[str, list[float]]) -> tuple[list[float], list[Any], list[Any]]:
    """Two (x, ms) series on one x array (uPlot draws aligned columns); gaps are null."""
    xs = sorted(set(a["x"]) | set(b["x"]))
    ia, ib = dict(zip(a["x"], a["ms"], strict=True)), dict(zip(b["x"], b["ms"], strict=True))
    return xs, [ia.get(x) for x in xs], [ib.get(x) for x in xs]


def codes_section(summary: dict[str, Any]) -> str:
    rows = []
    for name, s in summary["endpoints"].items():
        total = max(1, s["requests"])
        items: list[tuple[str, str, int, str]] = []
        for code, n in s.get("codes", {}).items():
            items.append((code, ERROR_MESSAGES.get(int(code), "unknown code"), n, "err"))
        for code, n in s.get("expected_codes", {}).items():
            items.append((code, "deliberate: " + ERROR_MESSAGES.get(int(code), "unknown code"), n, "exp"))
        for key, n in s.get("outcomes", {}).items():
            if key != "ok" and not key.isdigit():
                items.append((key, "no API answer" if not key.startswith("http_") else "HTTP error status",
                              n, "err"))
        for key, meaning, n, kind in sorted(items, key=lambda i: -i[2]):
            width = max(1, round(200 * n / total))
            rows.append([esc(name), esc(key), esc(meaning),
                         f'<span class="bar {kind}" style="width:{width}px"></span>{n:,}', pct(n / total)])
    if not rows:
        return ("<h2>Error codes and outcomes</h2><p>Every request was answered ok (no OPSCOM error code, "
                "no HTTP or transport failure).</p>")
    return ("<h2>Error codes and outcomes</h2>"
            '<p class="note">OPSCOM codes (9000&ndash;9034) and other outcomes per endpoint. Red: errors '
            "(unexpected codes, HTTP and transport failures); grey: deliberately invalid requests answered "
            "with the code they had to get.</p>"
            + table(["endpoint", "outcome", "meaning", "count", "share"], rows,
                    classes=["l", "l", "l codes", "l", ""]))


def correctness_section(run: RunData) -> str:
    s = run.summary
    out = []
    violations = [(n, e["contract_violations"]) for n, e in s["endpoints"].items() if e["contract_violations"]]
    if violations:
        out.append("<h2>Contract violations</h2>"
                   '<p class="note">Deliberately invalid requests answered otherwise than the API requires.</p>'
                   + table(["endpoint", "violations"], [[esc(n), f"{v:,}"] for n, v in violations]))
    diff = s.get("diff")
    if diff:
        rows = [[esc(k), esc(_short(v))] for k, v in diff.items() if not isinstance(v, list | dict)]
        out.append("<h2>Replay differences</h2>" + table(["measure", "value"], rows, classes=["l", "l"]))
        examples = {k: v for k, v in diff.items() if isinstance(v, list | dict)}
        if examples:
            out.append("<details open><summary>examples</summary><pre>"
                       + esc(orjson.dumps(examples, option=orjson.OPT_INDENT_2).decode()) + "</pre></details>")
    return "\n".join(out)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def capacity_section(summary: dict[str, Any], charts: Charts) -> str:
    cap = summary.get("capacity")
    if not cap:
        return ""
    cols = capacity_columns(cap)
    out = ["<h2>Capacity</h2>", f"<p>{esc(cap.get('conclusion', ''))}</p>"]
    if cols:
        x = charts.column("cap:rate", cols["rate"])
        out.append('<div class="grid2">')
        out.append(charts.add(
            "chart-capacity-latency", "rate", "Latency against offered rate (the knee)", x,
            [{"label": "p50", "col": charts.column("cap:p50", cols["p50"]), "points": True, "color": "#2ca02c"},
             {"label": "p99", "col": charts.column("cap:p99", cols["p99"]), "points": True, "color": "#ff7f0e"}],
            [{"scale": "ms", "label": "ms (log)", "log": True}]))
        out.append(charts.add(
            "chart-capacity-errors", "rate", "Errors, achieved rate and generator CPU against offered rate", x,
            [{"label": "errors %", "col": charts.column("cap:err", cols["error_pct"]), "points": True,
              "color": "#d62728", "scale": "pct"},
             {"label": "generator CPU %", "col": charts.column("cap:cpu", cols["cpu_pct"]), "points": True,
              "color": "#7f7f7f", "scale": "pct", "dash": [4, 3]},
             {"label": "achieved req/s", "col": charts.column("cap:ach", cols["achieved"]), "points": True,
              "color": "#1f77b4", "scale": "rate"}],
            [{"scale": "pct", "label": "%"}, {"scale": "rate", "label": "achieved req/s", "side": 1}]))
        out.append("</div>")
    rows = []
    for st in cap.get("steps", []):
        cpu = st.get("generator_cpu") or {}
        result = "pass" if st.get("passed") else (
            "stopped" if st.get("verdict") in ("interrupted", "error") else "FAIL")
        rows.append([f"{st['rate']:,.1f}", esc(st.get("phase", "")), result,
                     f"{st.get('achieved_rps', 0):,.1f}", ms(st.get("p50_ms")), ms(st.get("p99_ms")),
                     pct(st.get("error_rate")), pct(cpu.get("utilization")),
                     esc("; ".join(st.get("failed") or []))])
    out.append(table(["offered req/s", "phase", "SLOs", "achieved req/s", "p50 ms", "p99 ms", "errors",
                      "generator CPU", "why it failed"], rows, classes=["", "l", "l", "", "", "", "", "", "l"]))
    return "\n".join(out)


def parameters_section(summary: dict[str, Any]) -> str:
    r = summary["run"]
    rows = [[esc(k), esc("–" if v is None else str(v).lower() if isinstance(v, bool) else v)] for k, v in r.items()]
    plan = orjson.dumps(summary.get("plan") or {}, option=orjson.OPT_INDENT_2).decode()
    return ("<h2>Run parameters</h2>" + table(["parameter", "value"], rows, classes=["l", "l"])
            + "<h3>Effective plan</h3><details open><summary>scenario, overrides and defaults as the run used "
            f"them</summary><pre>{esc(plan)}</pre></details>")


def render(run: RunData) -> str:
    charts = Charts()
    s = run.summary
    body = "\n".join(part for part in (
        header(run),
        checks_section(s),
        cards(s),
        capacity_section(s, charts),
        timeline_section(run, charts),
        endpoints_section(s),
        distribution_section(run, charts),
        codes_section(s),
        correctness_section(run),
        parameters_section(s),
    ) if part)
    return page(f"{run.name} {run.run_id}: {s.get('verdict')}", body, charts)


def write_report(run_dir: RunData | Path) -> Path:
    """Write ``report.html`` into a run directory from what it holds."""
    run = as_run(run_dir)
    path = run.path / REPORT_FILE
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render(run), encoding="utf-8")
    tmp.replace(path)
    return path
