"""Every setting of a run, in one table: ``OPTIONS``.

A row says the setting's key in a scenario file (``load.rate`` is ``rate`` under
``[load]``), its command-line flag, how a value is checked, its default, its help
line and its group. From the table come:

- the keys a scenario file may hold (anything else is a typo, refused);
- the flags of ``harness run`` (and of the other verbs that take load flags),
  with their defaults shown in ``--help``;
- the override layer (a flag beats the scenario, which beats the default);
- ``LoadSettings``, the frozen record of the ``[load]`` section every run carries,
  so a new load option reaches the engine as ``config.load.<name>`` with no
  further plumbing;
- the starter scenario ``harness init`` writes.

Adding an option is one row here (and the code that uses its value).

A parser takes what a user wrote (a TOML value or a flag's string) and returns
the typed value, or raises ``ValueError`` saying what was expected; the caller
adds where the value came from (``scenarios/x.toml:12: [load] rate: ...``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from harness.units import parse_duration, parse_positive_int, parse_positive_number

Parse = Callable[[Any], Any]

ARRIVALS = ("constant", "poisson", "sine", "stages")
MODELS = ("open", "closed")
TRANSPORTS = ("fast", "aiohttp")  # harness.transport.TRANSPORT_NAMES, without importing it
DEFAULT_CLIENT = "OC_TOMA"
DEFAULT_TOKEN_ENV = "OPSCOM_API_TOKEN"


# --- value parsers ---------------------------------------------------------------------


def as_str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.lower() in ("true", "yes", "1")
    raise ValueError(f"expected true or false, got {value!r}")


def as_str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return tuple(value)


_THRESHOLD_KEYS = frozenset({"expr", "abort_on_fail", "delay"})


def as_thresholds(value: Any) -> tuple[str | dict[str, Any], ...]:
    """Threshold expressions, each a string or a table ``{expr = "...", abort_on_fail =
    true, delay = "10s"}`` (a live gate, ``harness.livegates``)."""
    items = [value] if isinstance(value, str | dict) else value
    if not isinstance(items, list | tuple):
        raise ValueError(f"expected a list of thresholds, got {value!r}")
    for item in items:
        if isinstance(item, str) and item.strip():
            continue
        if isinstance(item, dict) and isinstance(item.get("expr"), str) and set(item) <= _THRESHOLD_KEYS \
                and isinstance(item.get("abort_on_fail", False), bool):
            continue
        raise ValueError("expected a threshold such as \"p99<200ms\" or a table "
                         f"{{expr = \"...\", abort_on_fail = true, delay = \"10s\"}}, got {item!r}")
    return tuple(items)


def choice(choices: tuple[str, ...]) -> Parse:
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return parse


def as_seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return int(value)


def positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"expected a positive duration such as 30s or 200ms, got {value!r}")
    return seconds


def duration(value: Any) -> float:
    return parse_duration(value)


def rate(value: Any) -> float:
    return parse_positive_number(value, "rate (requests/s)")


def non_negative_rate(value: Any) -> float:
    if value == 0 or value == "0":
        return 0.0
    return rate(value)


def count(what: str) -> Parse:
    def parse(value: Any) -> int:
        return parse_positive_int(value, what)

    return parse


def amplitude(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a non-negative rate (requests/s), got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a non-negative rate (requests/s), got {value!r}") from None
    if not math.isfinite(out) or out < 0:
        raise ValueError(f"expected a non-negative rate (requests/s), got {value!r}")
    return out


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def port(value: Any) -> int:
    """A TCP port to listen on; 0 takes a free one."""
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit() \
            or not 0 <= int(value) <= 65535:
        raise ValueError(f"expected a TCP port number (0-65535; 0 takes a free one), got {value!r}")
    return int(value)


def run_name(value: Any) -> str:
    """A scenario name becomes a directory under the reports root: nothing that
    could climb out of it (no separators, no leading dot, no ``..``)."""
    if not isinstance(value, str) or not _NAME.match(value) or ".." in value:
        raise ValueError(
            "expected a name of letters, digits, '.', '_' and '-' (at most 64, starting with a "
            f"letter or digit), got {value!r}"
        )
    return value


# --- the table ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Option:
    key: str  # "section.name" in a scenario file ("name" for a top-level key)
    flag: str | None  # "--rate"; None: scenario file only
    parse: Parse
    default: Any  # as a user would write it; None: unset
    help: str
    group: str  # "target", "load", "checks", "output", "scenario": --help groups and verbs
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    repeat: bool = False  # a flag given several times adds to the scenario's list
    example: str | None = None  # for harness init, when the default is unset
    switch: bool = False  # a flag that takes no value (--csv): given means true

    @property
    def section(self) -> str:
        return self.key.rpartition(".")[0]

    @property
    def name(self) -> str:
        return self.key.rpartition(".")[2]

    @property
    def dest(self) -> str:
        """The attribute argparse stores the flag under."""
        return (self.flag or "--" + self.name).lstrip("-").replace("-", "_")


def _o(key: str, flag: str | None, parse: Parse, default: Any, help: str, group: str, **kw: Any) -> Option:
    return Option(key=key, flag=flag, parse=parse, default=default, help=help, group=group, **kw)


OPTIONS: tuple[Option, ...] = (
    _o("name", None, run_name, None, "report directory name (default: the file's stem)", "scenario", example='"smoke"'),
    _o("description", None, as_str, None, "one line saying what the scenario is for", "scenario", example='"..."'),
    # [target]
    _o("target.url", "--target", as_str, None,
       "controller base URL (default: start the embedded reference controller)", "target", metavar="URL",
       example='"https://ctl.example.com"'),
    _o("target.plate_service", "--plate-service", as_str, None, "plate-service base URL (default: the target)",
       "target", metavar="URL", example='"https://plates.example.com"'),
    _o("target.client", "--client", as_str, DEFAULT_CLIENT, "client code", "target", metavar="CODE"),
    _o("target.token_env", "--token-env", as_str, DEFAULT_TOKEN_ENV,
       "environment variable holding the API token (never written anywhere)", "target", metavar="VAR"),
    _o("target.restricted_token_env", None, as_str, None,
       "variable holding a token lacking permissions, so 9002 can be provoked", "target",
       example='"OPSCOM_RESTRICTED_TOKEN"'),
    _o("target.allow_hosts", "--allow-host", as_str_list, (), "non-loopback host you mean to load (repeatable)",
       "target", metavar="HOST", repeat=True),
    _o("target.tls_verify", None, as_bool, True, "verify the target's TLS certificate", "target"),
    # [load]
    _o("load.model", None, choice(MODELS), None,
       "open (arrival rate) or closed (users); default: closed when users is set", "load", example='"open"'),
    _o("load.arrival", "--arrival", choice(ARRIVALS), "constant", "open-model arrival shape", "load",
       choices=ARRIVALS),
    _o("load.rate", "--rate", rate, 100, "open model: requests per second (sine: the mean)", "load", metavar="N"),
    _o("load.duration", "--duration", positive_duration, "10s",
       "how long to send; on a stages or sine plan it scales the plan", "load", metavar="DURATION"),
    _o("load.stages", None, lambda v: v, None, "stages: each ramps linearly to its target", "load",
       example='[{ duration = "1m", target = 300 }, { duration = "3m", target = 300 }]'),
    _o("load.start_rate", None, non_negative_rate, 0, "stages: the rate the first stage ramps from", "load"),
    _o("load.amplitude", None, amplitude, None, "sine: swing around the mean (default rate/2)", "load",
       example="50"),
    _o("load.period", None, positive_duration, None, "sine: length of one cycle (default: the duration)", "load",
       example='"10s"'),
    _o("load.users", "--users", count("number of users"), None, "closed model: concurrent users", "load",
       metavar="N", example="10"),
    _o("load.think", "--think", duration, "0s", "closed model: pause after each answer", "load",
       metavar="DURATION"),
    _o("load.connections", "--connections", count("number of connections"), 64,
       "connection pool, split over the processes", "load", metavar="N"),
    _o("load.procs", "--procs", count("number of processes"), None,
       "worker processes (default: the CPUs this process may use)", "load", metavar="N", example="2"),
    _o("load.transport", "--transport", choice(TRANSPORTS), "fast", "fast (uvloop + httptools) or aiohttp",
       "load", choices=TRANSPORTS),
    _o("load.timeout", "--timeout", positive_duration, "10s", "request timeout", "load", metavar="DURATION"),
    _o("load.connect_timeout", "--connect-timeout", positive_duration, "5s", "connect timeout", "load",
       metavar="DURATION"),
    _o("load.max_body", "--max-body", count("bytes"), 16_777_216,
       "largest response body read before the answer is body_too_large", "load", metavar="BYTES"),
    _o("load.max_backlog", None, count("backlog size"), 100_000,
       "requests waiting for a connection before new ones are dropped", "load"),
    _o("load.late_after", None, positive_duration, "10ms", "a request sent later than this after its time is late",
       "load"),
    _o("load.drain", None, positive_duration, None, "wait for answers after the schedule (default: timeout + 1s)",
       "load", example='"11s"'),
    _o("load.seed", "--seed", as_seed, 1, "traffic seed; also the embedded controller's data seed", "load",
       metavar="N"),
    # [checks]
    _o("checks.thresholds", "--check", as_thresholds, (),
       "threshold such as 'plate_validate.p99<200ms' (repeatable; added to the scenario's)", "checks",
       metavar="EXPR", repeat=True),
    _o("checks.defaults", None, as_bool, True,
       "keep the default gate (all.error_rate<1%, contract_violations==0)", "checks"),
    # [output]
    _o("output.dir", "--out", as_str, None, "reports root of this scenario (default reports/<name>)", "output",
       metavar="DIR", example='"reports/smoke"'),
    _o("output.csv", "--csv", as_bool, False,
       "also write per-second and per-endpoint CSV files into the run directory", "output", switch=True),
    _o("output.metrics_port", "--metrics-port", port, None,
       "serve live Prometheus metrics on 127.0.0.1:PORT while the run goes", "output", metavar="PORT",
       example="9464"),
)
BY_KEY: dict[str, Option] = {o.key: o for o in OPTIONS}
BY_FLAG: dict[str, Option] = {o.flag: o for o in OPTIONS if o.flag}
# Tables a scenario may hold; [mix] and [traffic.*] are free-form (the generators
# check their own keys).
SECTIONS: dict[str, frozenset[str]] = {}
for _opt in OPTIONS:
    SECTIONS.setdefault(_opt.section, frozenset())
    SECTIONS[_opt.section] = SECTIONS[_opt.section] | {_opt.name}
FREE_TABLES = ("mix", "traffic")


def options_in(groups: Iterable[str]) -> tuple[Option, ...]:
    wanted = set(groups)
    return tuple(o for o in OPTIONS if o.group in wanted)


# --- LoadSettings: the [load] section as a frozen record -----------------------------


def _load_field(o: Option) -> tuple[str, Any, dataclasses.Field[Any]]:
    return (o.name, Any, dataclasses.field(default=None))


# Generated from the table, so a new [load] row needs no field written by hand.
# Values are parsed (seconds, counts, ...); None where unset and derived later
# (procs, drain, model).
LoadSettings = dataclasses.make_dataclass(
    "LoadSettings",
    [_load_field(o) for o in OPTIONS if o.section == "load"],
    frozen=True,
    kw_only=True,
    namespace={"__doc__": "The [load] settings of a run, parsed; one attribute per [load] row of OPTIONS."},
)


# Found by pickle under this module's name (worker plans cross to worker processes).
LoadSettings.__module__ = __name__


def default_load(**values: Any) -> Any:
    """``LoadSettings`` with every default parsed, and ``values`` on top (tests, the API)."""
    out: dict[str, Any] = {}
    for o in OPTIONS:
        if o.section == "load":
            out[o.name] = None if o.default is None else o.parse(o.default)
    out.update(values)
    return LoadSettings(**out)


# The [output] settings other than dir (which is Plan.output), as a frozen record.
OutputSettings = dataclasses.make_dataclass(
    "OutputSettings",
    [(o.name, Any, dataclasses.field(default=o.default)) for o in OPTIONS
     if o.section == "output" and o.name != "dir"],
    frozen=True,
    kw_only=True,
    namespace={"__doc__": "The [output] settings of a run but dir, parsed (csv, metrics_port)."},
)
OutputSettings.__module__ = __name__


# --- command-line flags ---------------------------------------------------------------------

GROUP_TITLES = {
    "target": "target (where the load goes)",
    "load": "load (how much, how shaped)",
    "checks": "checks (the gate that sets the exit code)",
    "output": "output",
}


def shown_default(o: Option) -> str:
    if o.default is None or o.default == ():
        return ""
    if isinstance(o.default, bool):
        return "true" if o.default else "false"
    return str(o.default)


def add_option_arguments(parser: Any, groups: Iterable[str], *, only: Iterable[str] | None = None) -> dict[str, Any]:
    """Add the flags of ``groups`` to an argparse parser, one argument group each,
    every default shown (``only``: just these flags of them). Defaults stay None in
    the namespace, so an override is only what the user typed. Returns the argument
    groups by name."""
    made: dict[str, Any] = {}
    wanted = None if only is None else set(only)
    for group in groups:
        g = made[group] = parser.add_argument_group(GROUP_TITLES.get(group, group))
        for o in OPTIONS:
            if o.group != group or o.flag is None or (wanted is not None and o.flag not in wanted):
                continue
            default = shown_default(o)
            help_text = o.help + (f" (default: {default})" if default else "")
            kwargs: dict[str, Any] = {"dest": o.dest, "metavar": o.metavar, "help": help_text, "default": None}
            if o.switch:
                kwargs = {"dest": o.dest, "help": o.help, "default": None, "action": "store_const", "const": True}
            if o.repeat:
                kwargs["action"] = "append"
            if o.choices:
                kwargs["choices"] = o.choices
                kwargs.pop("metavar")
            g.add_argument(o.flag, **kwargs)
    return made
