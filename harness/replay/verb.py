"""Replay a recording against a controller, faster than life, and judge it like a run.

Exit status: 0 every check passed, 1 a check failed, 2 a usage error (a bad flag or
recording line: nothing was sent), 3 harness error, 130 interrupted (the report is
still written).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TypeVar

from harness.checks import DEFAULT_CHECKS, FLOOR_CHECK
from harness.errors import ConfigError
from harness.options import BY_KEY, add_option_arguments, count, rate
from harness.plan import overrides_from_args
from harness.replay.plan import ReplaySettings, parse_speed, replay_plan
from harness.run import dry_run, run_with_console
from harness.units import parse_duration
from harness.usage import RUN_EXIT_CODES, verb_help

T = TypeVar("T")

EXAMPLES = (
    "harness replay recordings/meters-morning.jsonl --speed 60 --check 'diff.changed<0.1%'",
    'OPSCOM_API_TOKEN=... harness replay day.jsonl.zst --target http://127.0.0.1:8080 --speed max --procs 2',
    'harness replay recordings/meters-morning.jsonl --rate-multiplier 5 --loop 2 --max-rate 500 --from 10s --to 50s',
)
NOTES = (
    'timing: the recorded offsets divided by --speed are the intended send times (latency is\nmeasured from them, as in harness run); --speed max sends as fast as the target answers\nover the pool, keeping each correlated chain in its recorded order.',
    f"default gate: {', '.join(DEFAULT_CHECKS)}; and always {FLOOR_CHECK}. Add --check 'diff.changed<0.1%'\nto fail when answers differ from the recorded ones.",
)

_LOAD_FLAGS = ("load.connections", "load.procs", "load.transport", "load.timeout", "load.connect_timeout",
               "load.seed")


def _positive_int(what: str):  # type: ignore[no-untyped-def]
    parse = count(what)

    def checked(text: str) -> int:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return checked


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("recording", help="the recording (.jsonl or .jsonl.zst)")
    groups = add_option_arguments(p, ("target", "checks", "output"))
    for action in p._actions:  # noqa: SLF001 - one help line differs for replay
        if "--client" in action.option_strings:
            action.help = "client code of the target (default: the recording's)"
    g = p.add_argument_group("replay (when and how much)")
    g.add_argument("--speed", default="1", metavar="FACTOR|max",
                   help="2 = twice as fast as recorded; max = as fast as the target answers (default: 1)")
    g.add_argument("--rate-multiplier", type=_positive_int("rate multiplier"), default=1, metavar="N",
                   help="play N copies at once, each with its own plates, ids, e-mails and user names")
    g.add_argument("--loop", type=_positive_int("number of loops"), default=1, metavar="N",
                   help="play the recording N times in a row (each loop with its own identities)")
    g.add_argument("--max-rate", metavar="N", help="never send faster than N calls/s (all processes together)")
    g.add_argument("--from", dest="start", metavar="OFFSET|TIME",
                   help="start at this offset (90s, 1h30m) or ISO time of the recording")
    g.add_argument("--to", dest="end", metavar="OFFSET|TIME", help="stop before this offset or time")
    g.add_argument("--wait-parent", metavar="DURATION",
                   help="longest wait of a dependent call for its parent's answer (default: twice --timeout)")
    g.add_argument("--duration", metavar="DURATION",
                   help="--speed max only: stop after this long (default: the recording's span, at least 1m)")
    for key in _LOAD_FLAGS:
        o = BY_KEY[key]
        kwargs = {"dest": o.dest, "help": o.help + (f" (default: {o.default})" if o.default else ""),
                  "default": None}
        if o.choices:
            kwargs["choices"] = o.choices
        else:
            kwargs["metavar"] = o.metavar
        g.add_argument(o.flag, **kwargs)
    groups["output"].add_argument("--quiet", action="store_true", help="no live view")
    groups["output"].add_argument("--dry-run", action="store_true",
                                  help="check the recording and flags, print the plan, send nothing")
    verb_help(p, exit_codes=RUN_EXIT_CODES, examples=EXAMPLES, notes=NOTES)


def _parsed(flag: str, parse: Callable[[str], T], text: str) -> T:
    """``parse(text)``, a bad value said as one line naming the flag."""
    try:
        return parse(text)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from None


def settings_from_args(args: argparse.Namespace) -> ReplaySettings:
    speed = _parsed("--speed", parse_speed, args.speed)
    max_rate = None if args.max_rate is None else _parsed("--max-rate", rate, args.max_rate)
    wait = None if args.wait_parent is None else _parsed("--wait-parent", parse_duration, args.wait_parent)
    if args.duration is not None and speed is not None:
        raise ConfigError("--duration: a paced replay lasts as long as its recording (divided by --speed); "
                          "--duration bounds --speed max only")
    return ReplaySettings(speed=speed, multiplier=args.rate_multiplier, loops=args.loop, max_rate=max_rate,
                          start=args.start, end=args.end, wait_s=wait)


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    overrides = dict(overrides_from_args(args))
    plan, found = replay_plan(args.recording, overrides, settings)
    for warning in found.warnings:
        print(f"harness: warning: {warning}", file=sys.stderr, flush=True)
    if args.dry_run:
        return dry_run(plan)
    return run_with_console(plan, quiet=args.quiet)
