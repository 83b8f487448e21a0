"""Find the highest rate the target sustains while every SLO holds.

Steps the open-model rate up (--start-rate, times --factor) until a step breaks an
SLO, then bisects to --resolution. Each step runs the scenario (or --mix) at one
constant rate for --hold against the same target, judged by the SLOs and by
achieving at least --min-achieved of the offered rate.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

import uvloop

from harness.api import RunControl, RunResult, install_signal_handlers, open_target
from harness.capacity.runner import CapacitySettings, run_search
from harness.capacity.search import SearchSettings
from harness.checks import parse_check
from harness.errors import ConfigError
from harness.options import add_option_arguments
from harness.plan import Override, Plan, load_plan, overrides_from_args
from harness.units import parse_duration, parse_positive_number, parse_ratio
from harness.usage import verb_help

EXAMPLES = (
    "harness capacity scenarios/smoke.toml --slo 'plate_validate.p99<200ms' --slo 'error_rate<1%'",
    "harness capacity --mix enforcement=100 --slo 'all.p99<50ms' --slo 'error_rate<0.5%' --hold 20s",
    "OPSCOM_API_TOKEN=... harness capacity scenarios/release.toml --target http://127.0.0.1:8080 --slo 'all.p99<250ms' --start-rate 100 --require 800",
)
NOTES = (
    "SLOs are thresholds as in harness run --check (repeatable); without --slo, the scenario's own\n[checks] thresholds are the SLOs. The result is one run directory under --out (default\nreports/<name>-capacity): the run at the maximum sustainable rate, with report.html (the knee\nchart and every step) and summary.json's capacity section (max_rate, steps, generator CPU).",
)

_LOAD_FLAGS = ("--connections", "--procs", "--transport", "--timeout", "--connect-timeout", "--seed")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", nargs="?", help="scenario file (TOML): the traffic, target and SLOs")
    add_option_arguments(p, ("target",))
    load = add_option_arguments(p, ("load",), only=_LOAD_FLAGS)["load"]
    load.add_argument("--mix", metavar="NAME=W,...", help="traffic mix, e.g. enforcement=100")
    s = p.add_argument_group("capacity search")
    s.add_argument("--slo", action="append", default=[], metavar="EXPR",
                   help="a service-level objective every step must hold, e.g. 'plate_validate.p99<200ms' "
                        "(repeatable)")
    s.add_argument("--start-rate", default="50", metavar="N", help="requests/s of the first step (default 50)")
    s.add_argument("--factor", default="2", metavar="F", help="each ramp step multiplies the rate (default 2)")
    s.add_argument("--max-rate", default="50000", metavar="N", help="never offer more (default 50000)")
    s.add_argument("--resolution", default="5%", metavar="R",
                   help="stop bisecting when the answer is this close (default 5%%)")
    s.add_argument("--hold", default="30s", metavar="DURATION",
                   help="the sustained window: how long each step holds its rate (default 30s)")
    s.add_argument("--max-steps", default="16", metavar="N", help="steps in all (default 16)")
    s.add_argument("--min-achieved", default="95%", metavar="SHARE",
                   help="a step must achieve this share of its offered rate (default 95%%)")
    s.add_argument("--require", metavar="N", help="fail (exit 1) unless the maximum rate is at least N req/s")
    add_option_arguments(p, ("output",), only=("--out", "--metrics-port", "--csv"))
    p.add_argument("--quiet", action="store_true", help="no line per step")
    verb_help(p, exit_codes={0: "a sustainable rate was found (and met --require)", 1: "none was, or it is below --require", 2: "usage error: nothing was sent", 3: "the harness failed", 130: "interrupted; the steps so far are kept"}, examples=EXAMPLES, notes=NOTES)


def _flag(args: argparse.Namespace, dest: str, flag: str, parse: Any) -> Any:
    try:
        return parse(getattr(args, dest))
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from None


def settings_from(args: argparse.Namespace, plan: Plan) -> CapacitySettings:
    exprs = list(args.slo)
    if exprs:
        slos = tuple(parse_check(e, names=plan.names, source="slo", where="--slo") for e in exprs)
    else:
        slos = tuple(c for c in plan.checks if c.source in ("scenario", "flag", "api"))
        if not slos:
            raise ConfigError("name at least one SLO (--slo 'plate_validate.p99<200ms'), or give a scenario "
                              "with [checks] thresholds")
    try:
        search = SearchSettings(
            start=_flag(args, "start_rate", "--start-rate", lambda v: parse_positive_number(v, "rate")),
            factor=_flag(args, "factor", "--factor", lambda v: parse_positive_number(v, "factor")),
            max_rate=_flag(args, "max_rate", "--max-rate", lambda v: parse_positive_number(v, "rate")),
            resolution=_flag(args, "resolution", "--resolution", parse_ratio),
            max_steps=_flag(args, "max_steps", "--max-steps", int),
        )
    except ValueError as exc:
        raise ConfigError(f"capacity search: {exc}") from None
    hold = _flag(args, "hold", "--hold", parse_duration)
    if hold < 1:
        raise ConfigError(f"--hold: expected at least 1s, got {args.hold!r}")
    required = None
    if args.require is not None:
        required = _flag(args, "require", "--require", lambda v: parse_positive_number(v, "rate"))
    return CapacitySettings(slos=slos, hold_s=hold, required=required, search=search,
                            min_achieved=_flag(args, "min_achieved", "--min-achieved", parse_ratio))


def plan_from(args: argparse.Namespace) -> Plan:
    overrides: dict[str, Any] = dict(overrides_from_args(args))
    start = _flag(args, "start_rate", "--start-rate", lambda v: parse_positive_number(v, "rate"))
    overrides |= {"load.model": Override("open", "capacity search"),
                  "load.arrival": Override("constant", "capacity search"),
                  "load.rate": Override(start, "--start-rate"),
                  "load.duration": Override(args.hold, "--hold")}
    plan = load_plan(args.scenario, overrides)
    if args.out is None:
        plan = replace(plan, output=plan.output.with_name(plan.output.name + "-capacity"))
    return plan


def _step_line(d: dict[str, Any], number: int) -> str:
    cpu = d["generator_cpu"]
    p99 = f"{d['p99_ms']:,.3g} ms" if d["p99_ms"] is not None else "-"
    stopped = d["verdict"] in ("interrupted", "error")
    why = "" if d["passed"] or stopped else "  broke: " + ", ".join(d["failed"])
    result = "PASS" if d["passed"] else (d["verdict"].upper() if stopped else "FAIL")
    return (f"step {number:>2} {d['phase']:<6} {d['rate']:>10,.1f} req/s  {result}  "
            f"achieved {d['achieved_rps']:,.1f}/s  p99 {p99}  errors {d['error_rate']:.2%}  "
            f"generator CPU {cpu['utilization']:.0%} of {cpu['procs']} proc(s){why}")


def main(args: argparse.Namespace) -> int:
    plan = plan_from(args)
    settings = settings_from(args, plan)
    try:
        plan.output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"reports directory {plan.output}: cannot create it: {exc.strerror or exc}") from None
    say = (lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    control = RunControl()
    numbered = iter(range(1, 10_000))

    async def go() -> tuple[RunResult | None, dict[str, Any]]:
        remove = install_signal_handlers(control)
        exporter = None
        try:
            with open_target(plan) as target:
                say(f"harness capacity {plan.name}: {target.controller.url}"
                    + (" (embedded reference controller)" if target.embedded else "")
                    + f"; SLOs: {', '.join(c.expr for c in settings.slos)}; each step holds {settings.hold_s:g}s")
                if plan.outputs.metrics_port is not None:
                    from harness.livemetrics import MetricsServer

                    exporter = MetricsServer(plan.outputs.metrics_port, name=plan.name, model="open")
                return await run_search(plan, target, settings, control=control,
                                        on_step=lambda d: say(_step_line(d, next(numbered))),
                                        on_second=exporter.second if exporter else None)
        finally:
            if exporter is not None:
                exporter.close()
            remove()

    result, section = uvloop.run(go())
    print(section["conclusion"], flush=True)
    if result is None:
        print("harness: error: no step ran; nothing to report", file=sys.stderr)
        return 3 if section.get("errors") else 130
    from harness.run import keep

    result.plan = replace(result.plan, output=plan.output, outputs=plan.outputs)
    return keep(result)
