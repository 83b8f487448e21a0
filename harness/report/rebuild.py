"""Everything a run directory's reports say, rebuilt from its ``metrics.json``.

``metrics.json`` holds the exact measurement (encoded histograms and counters per
name and outcome, and the timeline with each second's histogram), the run's
information and its effective plan. From it, one gets back the merged
``Metrics`` and ``Timeline`` (``read_stored_run``) and ``rebuild_summary`` the same ``summary.json`` the
run wrote (same counts and percentiles, checks re-evaluated), so a report, a
comparison or a new output format never depends on anything lost at the end of a
run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from harness.checks import evaluate, parse_check
from harness.metrics import Metrics
from harness.report.summary import RunInfo, build_summary
from harness.timeline import Timeline


@dataclass(frozen=True)
class StoredRun:
    directory: Path
    run: RunInfo
    plan: dict[str, Any]
    metrics: Metrics
    timeline: Timeline
    summary: dict[str, Any]  # as the run wrote it


def read_stored_run(directory: Path) -> StoredRun:
    """Read a run directory; OSError/ValueError when it is not one."""
    doc = orjson.loads((directory / "metrics.json").read_bytes())
    summary = orjson.loads((directory / "summary.json").read_bytes())
    known = set(RunInfo.__dataclass_fields__)
    run = RunInfo(**{k: v for k, v in doc["run"].items() if k in known})
    return StoredRun(
        directory=directory,
        run=run,
        plan=doc.get("plan", {}),
        metrics=Metrics.from_encoded([doc["metrics"]]),
        timeline=Timeline.decode(doc.get("timeline", [])),
        summary=summary,
    )


def rebuild_summary(directory: Path) -> dict[str, Any]:
    """summary.json from metrics.json: the measurement, the checks re-evaluated, the
    verdict and errors as the run recorded them (a crash is not in the metrics)."""
    stored = read_stored_run(directory)
    summary = build_summary(stored.metrics, stored.run, [row.brief() for row in stored.timeline.rows],
                            stored.plan)
    names = tuple(summary["endpoints"]) + tuple(stored.summary.get("endpoints", {}))
    checks = [parse_check(c["expr"], names=names or ("all",), source=c.get("source", "flag"), where=c.get("where", ""))
              for c in stored.summary.get("checks", [])]
    summary["checks"] = [r.as_json() for r in evaluate(checks, summary)]
    for key in ("verdict", "exit_code", "errors"):
        if key in stored.summary:
            summary[key] = stored.summary[key]
    return summary
