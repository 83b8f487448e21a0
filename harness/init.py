"""Write a starter scenario: every key with its default, commented, ready to run.

``harness init [NAME]`` writes ``NAME.toml`` (default ``starter.toml``; a NAME with
a directory or a ``.toml`` suffix is taken as the path). The file is generated from
the option table (``harness.options.OPTIONS``), the default mix and the generators'
own defaults, so it shows every key a scenario may hold with the value it has when
left out, and it never falls behind the code. Keys that are unset by default, or
that belong to another model or arrival shape (users, stages, sine), are written
commented out with an example. As written, it runs and passes against the embedded
reference controller: ``harness run NAME.toml``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness import __version__
from harness.checks import DEFAULT_CHECKS, FLOOR_CHECK
from harness.errors import ConfigError
from harness.options import OPTIONS, Option, run_name
from harness.plan import DEFAULT_MIX
from harness.usage import verb_help

DEFAULT_NAME = "starter"
# Keys written commented out although they have a default: they belong to a shape
# the starter does not use (closed model, stages, sine), where they would draw a note.
OTHER_SHAPES = frozenset({"load.users", "load.think", "load.stages", "load.start_rate", "load.amplitude",
                          "load.period", "load.model"})
COMMENT_COLUMN = 40

MIX_COMMENTS = {
    "enforcement": "plate validations (officers, cameras)",
    "meters": "permit push, then extensions (update) and refunds (delete)",
    "integrations": "vehicle/profile sync, user types, stats, overdue pulls",
    "invalid": "deliberately wrong requests, each must get its own error code",
}
CHECK_EXAMPLES = ("plate_validate.p99<200ms", "all.error_rate<0.5%", "codes.9002==0", "achieved_rate>=99%")


def generator_options() -> dict[str, list[tuple[str, Any, str]]]:
    """The generator options worth showing: (key, default, meaning) per generator.
    The defaults are the generators' own (a test checks them against the code)."""
    from harness.traffic.enforcement import DEFAULT_WEIGHTS as POPULATIONS
    from harness.traffic.integrations import DEFAULT_WEIGHTS as ENDPOINT_WEIGHTS

    return {
        "enforcement": [
            ("weights", dict(POPULATIONS), "share of each plate population; keys left out keep their default"),
            ("skew", 1.1, "Zipf exponent within a population; 0 is uniform"),
        ],
        "meters": [
            ("duration", "15m..3h", "how long a permit lasts"),
            ("update_share", 0.3, "share of accepted permits later extended"),
            ("delete_share", 0.1, "share of accepted permits later refunded"),
            ("followup_delay", "2s..20s", "run time between a push's answer and its follow-up"),
        ],
        "integrations": [
            ("weights", dict(ENDPOINT_WEIGHTS), "share of each endpoint"),
            ("update_share", 0.3, "share of profile pushes that update a user made earlier"),
        ],
        "invalid": [
            ("codes", [9001, 9030], "only these codes (default: every code the catalogue can produce)"),
            ("endpoints", ["plate_validate", "permit_push"], "only these endpoints (default: all nine)"),
            ("use_reference", True, "also use recipes relying on the reference seed data"),
        ],
    }


# Options whose shown value is an example, not the default (the generator has none to show).
EXAMPLE_ONLY = {("invalid", "codes"), ("invalid", "endpoints")}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for anything a default holds
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def _line(text: str, comment: str) -> str:
    comment = re.sub(r"\s*\(repeatable[^)]*\)", "", comment)  # said of the flag, not the key
    return f"{text:<{COMMENT_COLUMN - 1}} # {comment}" if comment else text


def _option_line(o: Option, name: str) -> str:
    if o.key == "name":
        return _line(f"name = {toml_value(name)}", o.help)
    if o.key == "output.dir":
        return _line(f"# dir = {toml_value(f'reports/{name}')}", o.help)
    unset = o.default is None
    value = o.example if unset else toml_value(o.default)
    if unset or o.key in OTHER_SHAPES:
        return _line(f"# {o.name} = {value}", o.help)
    return _line(f"{o.name} = {value}", o.help)


def _sections() -> list[str]:
    order: list[str] = []
    for o in OPTIONS:
        if o.section not in order:
            order.append(o.section)
    return order


def _mix_block() -> list[str]:
    lines = [_line("[mix]", "relative weights of the traffic generators; 0 turns one off")]
    lines += [_line(f"{name} = {toml_value(weight)}", MIX_COMMENTS.get(name, "")) for name, weight in DEFAULT_MIX.items()]
    lines += ["", "# Each generator's options, at their defaults (docs/traffic.md has them all):"]
    for generator, options in generator_options().items():
        lines.append("#")
        lines.append(f"# [traffic.{generator}]")
        for key, value, meaning in options:
            lines.append(_line(f"# {key} = {toml_value(value)}", meaning))
    return lines


def _checks_block(section: list[Option]) -> list[str]:
    lines = ["[checks]",
             f"# Every run is gated by {', '.join(DEFAULT_CHECKS)} (the default gate; a threshold of",
             f"# yours on the same metric replaces it) and by {FLOOR_CHECK}. Add your own, e.g.:"]
    lines += [f"#   {json.dumps(example)}," for example in CHECK_EXAMPLES]
    return lines + [_option_line(o, "") for o in section]


def starter(name: str) -> str:
    """The starter scenario's text."""
    lines = [
        f"# {name}.toml: a starter scenario written by `harness init` (harness {__version__}).",
        "#",
        "# Every key is shown with its default; a key commented out is unset by default or",
        "# belongs to another shape of load (closed model, stages, sine). As written, it sends",
        "# 100 requests/s for 10 s to the reference controller the harness starts itself:",
        "#",
        f"#   harness run {name}.toml --dry-run    # check it, send nothing",
        f"#   harness run {name}.toml              # run it against the embedded controller",
        f"#   OPSCOM_API_TOKEN=... harness run {name}.toml --target http://127.0.0.1:8080",
        "#",
        "# Any key can be overridden by a flag (harness run --help); a typo is refused, by name.",
        "",
    ]
    for section in _sections():
        options = [o for o in OPTIONS if o.section == section]
        if section == "checks":
            lines += _mix_block() + [""] + _checks_block(options) + [""]
            continue
        if section:
            lines.append(f"[{section}]")
        lines += [_option_line(o, name) for o in options] + [""]
    return "\n".join(lines).rstrip() + "\n"


def target_path(given: str) -> tuple[Path, str]:
    """Where NAME goes, and the scenario name (the file's stem)."""
    path = Path(given)
    if path.suffix != ".toml":
        path = path.with_name(path.name + ".toml")
    try:
        name = run_name(path.stem)
    except ValueError as exc:
        raise ConfigError(f"NAME {given!r}: {exc}") from None
    return path, name


INIT_EXIT_CODES = {
    0: "the scenario was written (or printed)",
    2: "usage error: a bad name, a file that exists (use --force), a directory it cannot write",
    3: "the harness failed (a bug; the traceback is kept in a file)",
}
INIT_EXAMPLES = (
    "harness init                        # writes starter.toml",
    "harness init scenarios/nightly      # writes scenarios/nightly.toml, name \"nightly\"",
    "harness init --stdout | less        # read it without writing anything",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", default=DEFAULT_NAME, metavar="NAME",
                   help="scenario name or path; .toml is added when missing")
    p.add_argument("--force", action="store_true", help="overwrite NAME.toml if it exists")
    p.add_argument("--stdout", action="store_true", help="print the scenario instead of writing a file")
    verb_help(p, exit_codes=INIT_EXIT_CODES, examples=INIT_EXAMPLES)


def main(args: argparse.Namespace) -> int:
    path, name = target_path(args.name)
    text = starter(name)
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if path.exists() and not args.force:
        raise ConfigError(f"{path} exists; choose another NAME or add --force to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write it: {exc.strerror or exc}") from None
    print(f"wrote {path}: a scenario with every key at its default")
    print(f"next: harness run {path} --dry-run   # check it, send nothing")
    print(f"      harness run {path}             # 100 req/s for 10 s against the embedded controller")
    return 0
