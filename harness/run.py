"""Drive load at an OPSCOM controller, measure it, and gate on thresholds.

Exit status: 0 every check passed, 1 a check failed, 2 a usage or configuration
error (nothing was sent), 3 the harness failed (a crash; the report says what was
measured), 130 interrupted (the report is still written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvloop

from harness.api import (
    Plan,
    RunControl,
    RunResult,
    execute,
    external_target,
    install_signal_handlers,
    open_target,
    write_result,
)
from harness.checks import DEFAULT_CHECKS, FLOOR_CHECK
from harness.errors import ConfigError
from harness.options import add_option_arguments
from harness.plan import load_plan, overrides_from_args
from harness.report.terminal import live_feed, print_end_of_run
from harness.usage import RUN_EXIT_CODES, verb_help

EXIT_REPORT_LOST = 3

NOTES = (
    f"default gate (unless the scenario sets [checks] defaults = false; a check of yours on the\n"
    f"same metric replaces the default one): {', '.join(DEFAULT_CHECKS)}; and always {FLOOR_CHECK}.",
    "while it runs: a live view on a terminal (progress, rates, a table per endpoint, the checks\n"
    "so far); a plain line every 5 s elsewhere (CI logs, pipes); nothing with --quiet. NO_COLOR\n"
    "turns colour off.",
)
EXAMPLES = (
    "harness run scenarios/smoke.toml",
    "harness run --rate 500 --duration 1m --mix enforcement=90,meters=10 --check 'plate_validate.p99<50ms'",
    "OPSCOM_API_TOKEN=... harness run scenarios/release.toml --target http://127.0.0.1:8080",
)

# What leaving out a flag without a default value means.
UNSET = {
    "--users": "none: the open model, at --rate",
    "--allow-host": "none: loopback targets only",
    "--check": "none: the default gate below",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", nargs="?",
                   help="scenario file (TOML); flags override it (default: none: every setting at its default; "
                        "harness init writes a starter)")
    groups = add_option_arguments(p, ("target", "load", "checks", "output"))
    groups["load"].add_argument("--mix", metavar="NAME=W,...",
                                help="traffic mix, e.g. enforcement=80,meters=15,invalid=5 "
                                     "(default: enforcement=80,meters=12,integrations=5,invalid=3)")
    groups["output"].add_argument("--quiet", action="store_true",
                                  help="no live view (the tables and the verdict still print at the end)")
    groups["output"].add_argument("--dry-run", action="store_true",
                                  help="check the scenario and flags, print the effective plan, send nothing")
    verb_help(p, exit_codes=RUN_EXIT_CODES, examples=EXAMPLES, notes=NOTES, unset=UNSET)


def main(args: argparse.Namespace) -> int:
    plan = load_plan(args.scenario, overrides_from_args(args))
    if args.dry_run:
        return dry_run(plan)
    return run_with_console(plan, quiet=args.quiet)


def describe(plan: Plan, where: str) -> str:
    load = plan.load
    shape = str(plan.pacer) if plan.pacer is not None else f"closed: {load.users} users"
    return (f"harness run {plan.name}: {where}, {shape}, {load.transport} transport, "
            f"{load.procs} proc(s), {load.connections} connections")


def dry_run(plan: Plan) -> int:
    """Everything that can be checked without a target, then the effective plan."""
    if plan.target.url is not None:
        external_target(plan, environ={plan.target.token_env: "dry-run"})  # loopback rule, URLs
    print(describe(plan, plan.target.url or "embedded reference controller"))
    d = plan.describe()
    print(f"traffic: {d['traffic']}")
    for o in plan.overrides:
        print(f"override: {o}")
    for n in plan.notes:
        print(f"note: {n}")
    for c in plan.checks:
        live = f"  (live: stops the run when it fails, armed after {c.abort_delay_s:g}s)" if c.abort_on_fail else ""
        print(f"check: {c.expr}  [{c.source}{': ' + c.where if c.where and c.source != 'default' else ''}]{live}")
    print(f"reports: {plan.output}/<time>-<run id>/")
    print("dry run: configuration is valid; nothing was sent")
    return 0


def _prepare(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"reports directory {root}: cannot create it: {exc.strerror or exc}") from None


def run_with_console(plan: Plan, *, quiet: bool = False) -> int:
    """Run a plan with the live view, signals handled, the report kept and printed."""
    _prepare(plan.output)
    feed = live_feed(plan, quiet=quiet)
    control = RunControl()

    def say(text: str) -> None:
        if feed is not None:
            feed.message(text)

    async def go() -> RunResult:
        remove = install_signal_handlers(control)
        try:
            with open_target(plan) as target:
                where = target.controller.url + (" (embedded reference controller)" if target.embedded else "")
                say(describe(plan, where))
                for note in plan.notes:
                    say(f"note: {note}")
                return await execute(plan, target, control=control,
                                     on_second=feed.on_second if feed is not None else None)
        finally:
            remove()

    if feed is not None:
        if plan.target.url is not None:
            external_target(plan)  # a usage error (token, host) is one line, before any frame is drawn
        control.listen(feed.stopping, lambda: None)
        feed.start()  # "connecting" while the target starts and the workers connect
    try:
        result = uvloop.run(go())
    finally:
        if feed is not None:
            feed.close()
    return keep(result)


def keep(result: RunResult) -> int:
    """Write the run directory, then print the tables; the report comes first, so
    a closed stdout (``| head``) cannot lose it."""
    code = result.exit_code
    written = None
    try:
        written = write_result(result)
    except OSError as exc:
        _err(f"cannot write the report ({exc.strerror or exc}); the figures are only in the table below")
        code = EXIT_REPORT_LOST if code != 130 else code
    for line in result.errors:
        _err(line)
    if result.log:
        _err("details: " + (str(written.path / "run.log") if written else "(not written)"))
    try:
        print_end_of_run(result.summary, str(written.path) if written is not None else None)
    except BrokenPipeError:
        from harness.api import ignore_sigpipe_output

        ignore_sigpipe_output()
    if written is not None and written.fallback:
        _err(f"cannot write the report under {result.plan.output} ({written.problem}); "
             f"it was written to {written.path}")
        code = EXIT_REPORT_LOST if code != 130 else code
    return code


def _err(text: str) -> None:
    try:
        print(f"harness: error: {text}", file=sys.stderr, flush=True)
    except OSError:
        pass
