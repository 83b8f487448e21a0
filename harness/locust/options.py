"""Locust options of the OPSCOM scenarios, made from the one table ``harness.options.OPTIONS``.

A locustfile scenario takes the target settings of ``harness run`` (the target itself
is Locust's ``--host``) and its gate:

    --plate-service URL   --client CODE   --token-env VAR   --allow-host HOST (repeatable)
    --seed N   --check EXPR (repeatable)   --report-dir DIR

and the engine scenario adds every load flag (``--rate``, ``--arrival``, ``--mix``, ...).
Each row of the table becomes a Locust option with the same help and default; a flag
Locust already owns is renamed ``--engine-<flag>`` (``--users`` is Locust's, so the
harness's closed-model users are ``--engine-users``), ``--out`` is ``--report-dir``
and ``--duration`` is Locust's ``-t``. Every option has an environment variable,
``LOCUST_<FLAG>`` (``LOCUST_CLIENT``, ``LOCUST_REPORT_DIR``; a repeatable one takes a
list: ``LOCUST_CHECK='["all.p99<50ms", "codes.9002==0"]'``), and may be written in
``locust.conf``, as Locust's own options can. They are command-line options only: the
web UI's start form does not show them (it shows Locust's own, and the host).

Values stay as the user wrote them (None when not given) and become ``load_plan``
overrides (``Override(value, "--client")``), so a bad one is reported exactly as
``harness run`` reports it: ``--seed: expected a non-negative integer, got 'x'``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.options import BY_KEY, Option, shown_default
from harness.plan import Override

ENV_PREFIX = "LOCUST_"
# Harness flags that have another name on Locust.
RENAMED = {"output.dir": "--report-dir"}
# What every locustfile scenario takes (the target URL is Locust's --host).
COMMON_KEYS = (
    "target.plate_service", "target.client", "target.token_env", "target.allow_hosts", "load.seed",
    "checks.thresholds", "output.dir",
)  # fmt: skip


@dataclass(frozen=True)
class Flag:
    """One harness option as Locust sees it."""

    option: Option
    flag: str  # "--client", "--engine-users"
    dest: str  # its attribute in Locust's parsed_options

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.flag[2:].upper().replace("-", "_")


def _taken(parser: Any) -> tuple[set[str], set[str]]:
    strings = {s for a in parser._actions for s in a.option_strings}
    dests = {a.dest for a in parser._actions}
    return strings, dests


def add_flags(parser: Any, keys: Iterable[str], title: str) -> list[Flag]:
    """Add the options ``keys`` (OPTIONS keys) to Locust's parser, in a group of their
    own; returns how each was named."""
    strings, dests = _taken(parser)
    group = parser.add_argument_group(title)
    flags = []
    for key in keys:
        option = BY_KEY[key]
        flag = RENAMED.get(key, option.flag)
        assert flag is not None, f"{key} has no flag"
        if flag in strings:
            flag = "--engine-" + flag[2:]
        dest = flag[2:].replace("-", "_")
        if dest in dests:
            dest = "opscom_" + dest
        made = Flag(option, flag, dest)
        default = shown_default(option)
        kwargs: dict[str, Any] = {
            "dest": dest,
            "default": None,
            "metavar": option.metavar,
            "help": option.help + (f" (default: {default})" if default else ""),
            "env_var": made.env_var,
        }
        if option.repeat:
            kwargs["action"] = "append"
        if option.choices:
            kwargs["choices"] = option.choices
            kwargs.pop("metavar")
        group.add_argument(flag, **kwargs)
        strings.add(flag)
        dests.add(dest)
        flags.append(made)
    return flags


def add_text_flag(parser: Any, flag: str, *, help: str, metavar: str, title: str) -> Flag:
    """An option of a scenario's own, not in OPTIONS (``--time-scale``, ``--scenario``)."""
    option = Option(key=flag[2:], flag=flag, parse=str, default=None, help=help, group=title, metavar=metavar)
    made = Flag(option, flag, flag[2:].replace("-", "_"))
    parser.add_argument_group(title).add_argument(flag, dest=made.dest, default=None, metavar=metavar, help=help,
                                                  env_var=made.env_var)
    return made


def overrides(parsed: Any, flags: Iterable[Flag]) -> dict[str, Override]:
    """The options the user gave, as ``load_plan`` overrides naming the flag."""
    out: dict[str, Override] = {}
    for f in flags:
        value = getattr(parsed, f.dest, None)
        if value is None or value == []:
            continue
        if f.option.repeat and isinstance(value, str):  # a value from the web UI's form
            value = [value]
        out[f.option.key] = Override(value, f.flag)
    return out
