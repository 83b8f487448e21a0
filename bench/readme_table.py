"""The benchmark's results and how they are told: medians, ratios to the peers,
the open-model rounds, the goals, the JSON record, and the README's table."""

from __future__ import annotations

import datetime as dt
import json
import platform
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from machine import (
    BUSY_THRESHOLD,
    LOAD_CORE,
    ROOT,
    SERVER_CORE,
    WORK,
    BenchError,
    Sample,
    tool_version,
    venv_tool,
)

RESULT_JSON = WORK / "transport_bench.json"
OPEN_FRACTION = 0.8
OPEN_TOLERANCE = 0.01
DOC_BEGIN = "<!-- transport-bench:begin -->"
DOC_END = "<!-- transport-bench:end -->"
LABELS: dict[str, str] = {
    "wrk": "wrk (1 thread)",
    "locust": "Locust FastHttpUser (1 process)",
    "fast": "harness, fast transport (library API)",
    "aiohttp": "harness, aiohttp transport (library API)",
}


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


# --------------------------------------------------------------------------- report


def fmt_rate(x: float | None) -> str:
    """Requests/s with thousands separators."""
    return "n/a" if x is None else f"{x:,.0f}"


def fmt_ratio(a: float | None, b: float | None) -> str:
    """a/b as '12.3×', or n/a."""
    return "n/a" if a is None or not b else f"{a / b:.2f}×"


def render_table(results: dict[str, PeerResult], rounds: int) -> str:
    """The markdown table of medians, per-round numbers and ratios."""
    wrk = results["wrk"].median if "wrk" in results else None
    loc = results["locust"].median if "locust" in results else None
    rows = [
        f"| peer | requests/s (median of {rounds}) | runs | vs wrk | vs Locust |",
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


def render_report(cfg: Any, results: dict[str, PeerResult], checks: list[OpenResult],
                  goals: list[Goal]) -> str:  # fmt: skip
    """Table, open-model lines and goals, as markdown."""
    head = (f"{cfg.duration} s per run, {cfg.connections} connections, {cfg.rounds} rounds; "
            f"nginx on core {SERVER_CORE}, each load generator alone on core {LOAD_CORE}.")  # fmt: skip
    samples = [x for r in results.values() for x in r.samples] + [x for c in checks for x in c.samples]
    parts = [head, render_table(results, cfg.rounds), render_open(checks), render_noise(samples),
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


def write_json(cfg: Any, results: dict[str, PeerResult], checks: list[OpenResult],
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


