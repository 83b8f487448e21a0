"""The end of a Locust run: merged metrics judged into the run directory of
``harness run`` (``summary.json``, ``metrics.json``, ``.hgrm`` files, and whatever
``harness.api.EXTRA_WRITERS`` add), the checks printed, and Locust's exit code set
from the verdict (pass 0, fail 1, error 3, interrupted 130; a report that could
not be written is 3).

Locust's own exit-code rule (1 when any request failed) does not apply to these
scenarios: deliberate errors answered as required are successes, and the gate is
the thresholds.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.api import RunResult, Target, judge_measured
from harness.metrics import Metrics
from harness.plan import Plan
from harness.report.summary import RunInfo
from harness.timeline import Timeline
from harness.transport.base import Origin

EXIT_USAGE = 2


def say_error(text: str) -> None:
    """One line on stderr, as every harness command reports a mistake."""
    try:
        print(f"harness: error: {text}", file=sys.stderr, flush=True)
    except OSError:
        pass


def reporting_target(plan: Plan, host: str | None) -> Target:
    """The target as a report names it (the master holds no token)."""
    controller = Origin.parse(host) if host else Origin.parse("http://unknown")
    plate = Origin.parse(plan.target.plate_service) if plan.target.plate_service else controller
    return Target(controller=controller, plate_service=plate, token="")


@dataclass
class Measured:
    """What a Locust run collected, ready to be judged."""

    plan: Plan
    host: str | None
    run_id: str
    started: datetime
    metrics: Metrics
    timeline: Timeline
    model: str  # "open" (paced users, engine) or "closed"
    arrival: str
    duration_s: float
    elapsed_s: float
    users: int | None
    connections: int
    procs: int
    transport: str
    interrupted: bool = False
    reason: str | None = None
    intended_requests: int | None = None  # None: every hit that ended in an outcome
    errors: list[str] = field(default_factory=list)
    log: str = ""
    plan_doc: dict[str, Any] | None = None

    def info(self) -> RunInfo:
        intended = self.metrics.requests if self.intended_requests is None else self.intended_requests
        target = reporting_target(self.plan, self.host)
        return RunInfo(
            started=self.started.isoformat(timespec="seconds").replace("+00:00", "Z"),
            duration_s=round(self.duration_s, 3),
            elapsed_s=round(self.elapsed_s, 3),
            target=target.controller.url,
            plate_service=target.plate_service.url,
            client=self.plan.target.client,
            model=self.model,
            arrival=self.arrival,
            intended_requests=intended,
            intended_rate=intended / self.duration_s if self.model == "open" and self.duration_s > 0 else None,
            users=self.users,
            connections=self.connections,
            procs=self.procs,
            transport=self.transport,
            interrupted=self.interrupted,
            reason=self.reason if self.interrupted else None,
            scenario=str(self.plan.scenario) if self.plan.scenario else None,
            seed=int(self.plan.load.seed),
            run_id=self.run_id,
            embedded_target=False,
        )


def judge(m: Measured) -> RunResult:
    return judge_measured(m.plan, reporting_target(m.plan, m.host), m.run_id, m.started, m.metrics, m.timeline,
                          m.info(), errors=m.errors, log=m.log, plan_doc=m.plan_doc)


def conclude(m: Measured, keep: Callable[[RunResult], int] | None = None) -> tuple[RunResult, int]:
    """Judge, write the run directory, print the tables; returns the result and the
    exit code (``harness.run.keep``'s: the verdict's, or 3 when the report is lost)."""
    if keep is None:
        from harness.run import keep as keep_result

        keep = keep_result
    m.timeline.finish()
    result = judge(m)
    return result, keep(result)


def headline(result: RunResult, code: int) -> dict[str, Any]:
    """What the live document says about a finished run."""
    from harness.report.rundir import latest_run

    path = latest_run(result.plan.output)
    return {
        "verdict": result.verdict,
        "exit_code": code,
        "report": str(path) if path else None,
        "requests": result.summary["totals"]["requests"],
        "checks": [{"expr": c["expr"], "passed": c["passed"], "measured": c["measured"]}
                   for c in result.summary["checks"]],
    }


def utc_now() -> datetime:
    return datetime.now(UTC)
