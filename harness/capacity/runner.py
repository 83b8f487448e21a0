"""Running the capacity search: each step a run through ``harness.api.execute``.

Every step is the scenario at one constant open-model rate for the sustained
window (``hold``), against the one target (the embedded controller is started
once for all steps), judged by the SLOs plus a floor on the achieved rate (a step
whose load was not really applied proves nothing). Each step also measures the
generator's own CPU (this process and its worker processes, from ``getrusage``)
against the processes it had, so a limit of the generator is not mistaken for the
target's.

The result is one run directory: the run at the maximum sustainable rate (its full
report), whose summary.json gains a ``capacity`` section (``max_rate``, where and
why it breaks, every step) and the check ``capacity.max_rate>0`` (or the rate
asked for with ``--require``).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from harness.api import RunControl, RunResult, Target, execute
from harness.capacity.search import Outcome, SearchSettings, Step, searcher
from harness.checks import Check, CheckResult, gate, parse_check
from harness.plan import Plan

GENERATOR_BOUND = 0.8  # share of its processes' CPU above which the generator may be the limit


@dataclass(frozen=True, kw_only=True)
class CapacitySettings:
    slos: tuple[Check, ...]
    hold_s: float = 30.0
    min_achieved: float = 0.95  # the achieved share of the offered rate a step needs
    required: float | None = None  # --require: the max rate CI expects at least
    search: SearchSettings = SearchSettings()


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (the worker
    processes of finished steps; the embedded controller runs until the end, so it
    is never counted)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def step_checks(plan: Plan, settings: CapacitySettings) -> tuple[Check, ...]:
    floor = parse_check(f"achieved_rate>={settings.min_achieved * 100:g}%", names=plan.names, source="capacity",
                        where="capacity floor")
    return gate([*settings.slos, floor], defaults=False, names=plan.names)


def _step_detail(result: RunResult, rate: float, phase: str, cpu_s: float, wall_s: float) -> dict[str, Any]:
    s = result.summary
    lat = s["all"]["latency_ms"]
    procs = int(s["run"]["procs"])
    cores = cpu_s / wall_s if wall_s > 0 else 0.0
    return {
        "rate": rate,
        "phase": phase,
        "passed": result.verdict == "pass",
        "verdict": result.verdict,
        "run_id": result.run_id,
        "requests": s["totals"]["requests"],
        "achieved_rps": s["totals"]["achieved_rps"],
        "error_rate": s["totals"]["error_rate"],
        "p50_ms": lat["p50"] if lat.get("count") else None,
        "p99_ms": lat["p99"] if lat.get("count") else None,
        "slos": [{k: c[k] for k in ("expr", "value", "measured", "passed")} for c in s["checks"]],
        "failed": [c["expr"] for c in s["checks"] if not c["passed"]],
        "generator_cpu": {"seconds": round(cpu_s, 3), "cores": round(cores, 3), "procs": procs,
                          "utilization": round(cores / procs, 3) if procs else 0.0},
        "elapsed_s": round(wall_s, 3),
    }


def _excess(check: dict[str, Any], op: str, threshold: float) -> float:
    """How far a failed SLO is past its threshold, relative (for "which broke first")."""
    value = check.get("value")
    if value is None:
        return float("inf")
    if op in ("<", "<="):
        return value / threshold if threshold > 0 else float("inf")
    if op in (">", ">="):
        return threshold / value if value > 0 else float("inf")
    return float("inf")


def conclusion(outcome: Outcome, settings: CapacitySettings, checks: tuple[Check, ...]) -> dict[str, Any]:
    """The capacity section's verdict in words and figures."""
    hold = f"{settings.hold_s:g} s"
    by_expr = {c.expr: c for c in checks}
    out: dict[str, Any] = {"max_rate": outcome.max_rate, "breaks_at": outcome.breaks_at, "first_broken": None,
                           "broken": [], "generator_bound": False}
    words = []
    if outcome.max_rate is not None:
        words.append(f"Maximum sustainable rate: {outcome.max_rate:,.1f} req/s (the highest offered rate that held "
                     f"every SLO for {hold}).")
    else:
        words.append("No rate held every SLO" + (f" (down to {min(s.rate for s in outcome.steps):,.1f} req/s)."
                                                  if outcome.steps else "."))
    breaking = outcome.breaking
    if breaking is not None:
        failed = [c for c in breaking.detail.get("slos", []) if not c["passed"]]
        failed.sort(key=lambda c: -_excess(c, by_expr[c["expr"]].op, by_expr[c["expr"]].threshold)
                    if c["expr"] in by_expr else 0)
        out["broken"] = [{"expr": c["expr"], "measured": c["measured"]} for c in failed]
        if failed:
            out["first_broken"] = out["broken"][0]
            others = "; also " + ", ".join(f"{c['expr']} ({c['measured']})" for c in failed[1:]) if failed[1:] else ""
            where = (f"It breaks at {breaking.rate:,.1f} req/s: {failed[0]['expr']} failed first"
                     if outcome.max_rate is not None else
                     f"At {breaking.rate:,.1f} req/s {failed[0]['expr']} still failed")
            words.append(f"{where} (measured {failed[0]['measured']}){others}.")
        cpu = breaking.detail.get("generator_cpu", {})
        util = float(cpu.get("utilization", 0.0))
        out["generator_bound"] = util >= GENERATOR_BOUND
        if out["generator_bound"]:
            words.append(f"Careful: the generator itself used {util:.0%} of its {cpu.get('procs')} process(es)' CPU "
                         "at that rate, so the limit may be the generator's own; add --procs or another machine "
                         "before blaming the target.")
        else:
            words.append(f"The generator used {util:.0%} of its {cpu.get('procs')} process(es)' CPU at that rate: "
                         "the limit is the target's, not the generator's.")
    if outcome.reached_limit:
        words.append(f"The search stopped at --max-rate {settings.search.max_rate:,.0f} req/s, which still held: the "
                     "target's limit is higher.")
    if outcome.exhausted:
        words.append(f"The search used its {settings.search.max_steps} steps before narrowing the answer to "
                     f"{settings.search.resolution:.0%}.")
    if outcome.stopped:
        words.append("The search was interrupted: the figures cover the steps made.")
    out["conclusion"] = " ".join(words)
    return out


async def run_search(plan: Plan, target: Target, settings: CapacitySettings, *, control: RunControl,
                     on_step: Callable[[dict[str, Any]], None] = lambda d: None,
                     on_second: Callable[[Any], None] | None = None) -> tuple[RunResult | None, dict[str, Any]]:
    """Search; returns the run to keep (at the maximum sustainable rate, else the
    lowest rate tried) and the capacity section."""
    checks = step_checks(plan, settings)
    base = replace(plan, checks=checks, outputs=replace(plan.outputs, metrics_port=None))
    kept: dict[float, RunResult] = {}
    errors: list[str] = []

    async def measure(rate: float, phase: str) -> Step:
        step_plan = base.with_load(rate=rate, duration=settings.hold_s)
        cpu0, t0 = _cpu_seconds(), time.monotonic()
        result = await execute(step_plan, target, control=control, on_second=on_second)
        detail = _step_detail(result, rate, phase, _cpu_seconds() - cpu0, time.monotonic() - t0)
        stopped = result.verdict in ("error", "interrupted") or control.interrupted
        if result.verdict == "error":
            errors.extend(result.errors)
        kept[rate] = result
        on_step(detail)
        return Step(rate=rate, phase=phase, passed=detail["passed"], detail=detail, stopped=stopped)

    outcome = await _search_async(measure, settings.search)
    section = {
        "slos": [c.expr for c in settings.slos],
        "hold_s": settings.hold_s,
        "min_achieved": settings.min_achieved,
        "search": {"start": settings.search.start, "factor": settings.search.factor,
                   "max_rate": settings.search.max_rate, "resolution": settings.search.resolution,
                   "max_steps": settings.search.max_steps},
        **conclusion(outcome, settings, checks),
        "interrupted": outcome.stopped,
        "errors": errors,
        "steps": [s.detail for s in outcome.steps],
    }
    keep_rate = outcome.max_rate if outcome.max_rate is not None else (
        min(kept) if kept else None)
    result = kept.get(keep_rate) if keep_rate is not None else None
    if result is not None:
        _attach(result, section, settings, plan)
    return result, section


async def _search_async(measure: Any, settings: SearchSettings) -> Outcome:
    """``searcher`` driven by awaited runs."""
    gen = searcher(settings)
    try:
        request = next(gen)
        while True:
            request = gen.send(await measure(*request))
    except StopIteration as stop:
        return stop.value


def _attach(result: RunResult, section: dict[str, Any], settings: CapacitySettings, plan: Plan) -> None:
    """The capacity section and its check in the kept run's summary, and its verdict."""
    summary = result.summary
    summary["capacity"] = section
    required = settings.required
    expr = f"capacity.max_rate>={required:g}" if required is not None else "capacity.max_rate>0"
    check = parse_check(expr, names=plan.names, source="capacity", where="--require" if required else "capacity")
    res: CheckResult = check.evaluate(summary)
    result.checks.append(res)
    summary["checks"].append(res.as_json())
    if result.verdict == "pass" and not res.passed:
        result.verdict = "fail"
    if section["interrupted"] and result.verdict in ("pass", "fail"):
        result.verdict = "interrupted"
    summary["verdict"] = result.verdict
    summary["exit_code"] = result.exit_code
