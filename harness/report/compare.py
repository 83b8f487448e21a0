"""Release comparison: two runs' summaries side by side, and what got worse.

Per endpoint (and ``all``): throughput, p50, p99, p99.9, error rate, the error codes
and outcomes seen, contract violations, each with its change. A change beyond a
tolerance is a *regression*:

- a latency statistic: worse by more than BOTH its relative and its absolute
  tolerance (default p50 and p99 +10% and +5 ms, p99.9 +20% and +10 ms), so noise
  on a 1 ms answer is not a regression and a large relative jump on a tiny value
  needs a real absolute change too;
- the error rate: up by more than 0.1 percentage point;
- throughput (requests/s): down by more than 10%, judged only when both runs asked
  for the same intended rate (else it says why not);
- any error code or failure outcome (``9006``, ``http_503``, ``timeout``) NEW has and
  BASE did not;
- any contract violation on an endpoint that had none.

Latency is judged only for endpoints with at least ``min_requests`` timed requests
in both runs (default 30): the p99 of four requests is noise, said as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from harness.errors import ConfigError

LATENCY_STATS = ("p50", "p99", "p999")
STAT_LABELS = {"p50": "p50", "p99": "p99", "p999": "p99.9"}


@dataclass(frozen=True, kw_only=True)
class Tolerances:
    latency: dict[str, tuple[float, float] | None] = field(default_factory=lambda: {
        "p50": (0.10, 5.0), "p99": (0.10, 5.0), "p999": (0.20, 10.0)})  # relative, absolute ms; None: off
    error_rate: float | None = 0.001  # a fraction: 0.001 = 0.1 percentage point
    throughput: float | None = 0.10  # a drop of this fraction of BASE's requests/s
    new_codes: bool = True
    violations: bool = True
    min_requests: int = 30

    def describe(self) -> dict[str, str]:
        out = {}
        for stat, tol in self.latency.items():
            out[STAT_LABELS[stat]] = "off" if tol is None else f"+{tol[0] * 100:g}% and +{tol[1]:g} ms"
        out["error rate"] = "off" if self.error_rate is None else f"+{self.error_rate * 100:g} points"
        out["throughput"] = "off" if self.throughput is None else f"-{self.throughput * 100:g}%"
        out["new error codes"] = "flagged" if self.new_codes else "off"
        out["new contract violations"] = "flagged" if self.violations else "off"
        out["judged from"] = f"{self.min_requests} timed requests"
        return out


_LATENCY_TOL = re.compile(r"^\s*(?:\+?(\d+(?:\.\d+)?)%)?\s*(?:\+|and)?\s*(?:\+?(\d+(?:\.\d+)?)\s*ms)?\s*$")


def parse_tolerance(text: str, base: Tolerances) -> Tolerances:
    """``KEY=VALUE`` from ``--tolerance``: ``p99=10%+5ms``, ``p50=off``, ``error_rate=0.1``
    (percentage points), ``throughput=10%``, ``new_codes=off``, ``violations=off``."""
    key, sep, value = text.partition("=")
    key, value = key.strip().lower().replace("p99.9", "p999"), value.strip().lower()
    where = f"--tolerance {text!r}"
    if not sep or not value:
        raise ConfigError(f"{where}: expected KEY=VALUE such as p99=10%+5ms, error_rate=0.1 or new_codes=off")
    off = value in ("off", "none", "no", "false")
    if key in LATENCY_STATS:
        if off:
            return replace(base, latency=base.latency | {key: None})
        m = _LATENCY_TOL.match(value)
        if m is None or (m.group(1) is None and m.group(2) is None):
            raise ConfigError(f"{where}: expected a relative and/or absolute tolerance such as 10%+5ms, 20% or "
                              "5ms, or off")
        return replace(base, latency=base.latency | {key: (float(m.group(1) or 0) / 100, float(m.group(2) or 0))})
    if key == "error_rate":
        if off:
            return replace(base, error_rate=None)
        return replace(base, error_rate=_number(value.removesuffix("points").removesuffix("%"), where) / 100)
    if key == "throughput":
        if off:
            return replace(base, throughput=None)
        return replace(base, throughput=_number(value.removesuffix("%"), where) / 100)
    if key in ("new_codes", "violations"):
        if value not in ("on", "off", "true", "false", "yes", "no"):
            raise ConfigError(f"{where}: expected on or off")
        return replace(base, **{key: value in ("on", "true", "yes")})
    raise ConfigError(f"{where}: unknown tolerance {key!r}; expected one of p50, p99, p999, error_rate, "
                      "throughput, new_codes, violations")


def _number(text: str, where: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ConfigError(f"{where}: expected a number, got {text!r}") from None
    if value < 0:
        raise ConfigError(f"{where}: expected a non-negative number, got {text!r}")
    return value


@dataclass(frozen=True)
class Regression:
    endpoint: str
    metric: str  # "p99", "error rate", "throughput", "codes", "contract violations"
    text: str  # one line: what changed, against which tolerance


@dataclass
class Row:
    endpoint: str
    base: dict[str, Any] | None
    new: dict[str, Any] | None
    regressed: set[str] = field(default_factory=set)  # metrics flagged
    notes: list[str] = field(default_factory=list)
    new_codes: list[str] = field(default_factory=list)
    gone_codes: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    base: dict[str, Any]  # summary.json documents
    new: dict[str, Any]
    tolerances: Tolerances
    rows: list[Row]
    regressions: list[Regression]
    notes: list[str]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)


def failure_keys(section: dict[str, Any]) -> set[str]:
    """Error codes and failure outcomes of a section (deliberate codes excluded)."""
    keys = set(section.get("codes", {}))
    keys |= {k for k in section.get("outcomes", {}) if k != "ok" and not k.isdigit()}
    return keys


def _timed(section: dict[str, Any] | None) -> int:
    return int((section or {}).get("latency_ms", {}).get("count", 0))


def _judge_row(row: Row, tol: Tolerances, out: list[Regression], throughput: bool) -> None:
    b, n = row.base, row.new
    if b is None or n is None:
        row.notes.append("only in NEW" if b is None else "only in BASE")
        return
    if min(_timed(b), _timed(n)) >= tol.min_requests:
        for stat in LATENCY_STATS:
            limit = tol.latency.get(stat)
            if limit is None:
                continue
            old, now = b["latency_ms"][stat], n["latency_ms"][stat]
            if now > old * (1 + limit[0]) and now - old > limit[1]:
                row.regressed.add(stat)
                out.append(Regression(row.endpoint, STAT_LABELS[stat], (
                    f"{STAT_LABELS[stat]} {old:,.3g} ms -> {now:,.3g} ms ({now - old:+,.3g} ms, "
                    f"{_rel(old, now)}); tolerance +{limit[0] * 100:g}% and +{limit[1]:g} ms")))
    elif _timed(b) or _timed(n):
        row.notes.append(f"latency not judged: fewer than {tol.min_requests} timed requests")
    judged = (b.get("ok", 0) + b.get("errors", 0)) and (n.get("ok", 0) + n.get("errors", 0))
    if tol.error_rate is not None and judged and n["error_rate"] - b["error_rate"] > tol.error_rate:
        row.regressed.add("error_rate")
        out.append(Regression(row.endpoint, "error rate", (
            f"error rate {b['error_rate'] * 100:.3g}% -> {n['error_rate'] * 100:.3g}% "
            f"({(n['error_rate'] - b['error_rate']) * 100:+.3g} points); tolerance +{tol.error_rate * 100:g} points")))
    if throughput and tol.throughput is not None and b["rps"] > 0 and n["rps"] < b["rps"] * (1 - tol.throughput):
        row.regressed.add("rps")
        out.append(Regression(row.endpoint, "throughput", (
            f"throughput {b['rps']:,.1f} -> {n['rps']:,.1f} req/s ({_rel(b['rps'], n['rps'])}); "
            f"tolerance -{tol.throughput * 100:g}%")))
    row.new_codes = sorted(failure_keys(n) - failure_keys(b))
    row.gone_codes = sorted(failure_keys(b) - failure_keys(n))
    if tol.new_codes and row.new_codes:
        row.regressed.add("codes")
        counts = {**n.get("codes", {}), **n.get("outcomes", {})}
        out.append(Regression(row.endpoint, "codes", "new error codes/outcomes: "
                              + ", ".join(f"{k} ×{counts.get(k, 0):,}" for k in row.new_codes)))
    if tol.violations and n["contract_violations"] and not b["contract_violations"]:
        row.regressed.add("contract_violations")
        out.append(Regression(row.endpoint, "contract violations",
                              f"{n['contract_violations']:,} contract violation(s), none in BASE"))


def _rel(old: float, new: float) -> str:
    return f"{(new - old) / old * 100:+.1f}%" if old else "new"


def compare(base: dict[str, Any], new: dict[str, Any], tolerances: Tolerances | None = None) -> Comparison:
    tol = tolerances or Tolerances()
    notes: list[str] = []
    rate_b, rate_n = base["run"].get("intended_rate"), new["run"].get("intended_rate")
    same_rate = bool(rate_b and rate_n and abs(rate_b - rate_n) <= 0.01 * rate_b)
    if not same_rate and tol.throughput is not None:
        shown = (lambda r: f"{r:,.1f}/s" if r else "a closed model")  # noqa: E731
        notes.append(f"throughput not judged: BASE asked for {shown(rate_b)}, NEW for {shown(rate_n)}")
    names = list(base["endpoints"]) + [n for n in new["endpoints"] if n not in base["endpoints"]]
    rows = [Row(name, base["endpoints"].get(name), new["endpoints"].get(name)) for name in names]
    rows.append(Row("all", base["all"], new["all"]))
    regressions: list[Regression] = []
    for row in rows:
        _judge_row(row, tol, regressions, same_rate)
    for which, doc in (("BASE", base), ("NEW", new)):
        if doc.get("verdict") not in ("pass", "fail") or doc["run"].get("interrupted"):
            notes.append(f"{which} did not complete (verdict {doc.get('verdict')}): its figures cover only part "
                         "of a run")
    return Comparison(base=base, new=new, tolerances=tol, rows=rows, regressions=regressions, notes=notes)


# --- the terminal table -------------------------------------------------------------------------


def _arrow(old: float, new: float, fmt: str, flagged: bool) -> str:
    return f"{format(old, fmt)}→{format(new, fmt)}" + ("!" if flagged else "")


def render_table(c: Comparison, base_label: str, new_label: str) -> str:
    head = f"{'endpoint':<19}{'req/s':>18}{'p50 ms':>18}{'p99 ms':>18}{'p99.9 ms':>18}{'errors %':>16}  codes"
    lines = [f"BASE {base_label}", f"NEW  {new_label}", "", head, "-" * len(head)]
    for r in c.rows:
        if r.base is None or r.new is None:
            lines.append(f"{r.endpoint[:18]:<19}  {'; '.join(r.notes)}")
            continue
        b, n = r.base, r.new
        cells = [f"{_arrow(b['rps'], n['rps'], ',.1f', 'rps' in r.regressed):>18}"]
        timed = _timed(b) and _timed(n)
        for stat in LATENCY_STATS:
            cell = _arrow(b["latency_ms"][stat], n["latency_ms"][stat], ".3g", stat in r.regressed) if timed else "-"
            cells.append(f"{cell:>18}")
        cells.append(f"{_arrow(b['error_rate'] * 100, n['error_rate'] * 100, '.3g', 'error_rate' in r.regressed):>16}")
        codes = " ".join([f"+{k}" for k in r.new_codes] + [f"-{k}" for k in r.gone_codes])
        lines.append(f"{r.endpoint[:18]:<19}{''.join(cells)}  {codes}")
    lines.append("(base→new; ! marks a regression; +code: new in NEW, -code: gone)")
    for note in c.notes:
        lines.append(f"note: {note}")
    if c.regressions:
        lines.append(f"regressions ({len(c.regressions)}):")
        lines += [f"  {g.endpoint}: {g.text}" for g in c.regressions]
        lines.append("verdict: REGRESSION")
    else:
        lines.append("verdict: no regression beyond the tolerances ("
                     + ", ".join(f"{k} {v}" for k, v in c.tolerances.describe().items()) + ")")
    return "\n".join(lines)
