"""What a locustfile scenario declares (``ScenarioSpec``), and its options resolved
into a harness ``Plan`` (target settings, checks, output) and settings of its own.

The checks of a run are the scenario's thresholds (labelled ``scenario``, where:
the locustfile), the ``--check`` options (``flag``) and the default gate, exactly as
``harness run`` gates a TOML scenario.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.checks import gate, parse_check
from harness.errors import HarnessError
from harness.locust import options as flags_mod
from harness.opscom.endpoints import ENDPOINT_NAMES
from harness.plan import Override, Plan, load_plan


@dataclass(frozen=True, kw_only=True)
class Extra:
    """A scenario's own option (``--time-scale``): parsed into ``Runtime.settings[key]``."""

    flag: str
    key: str
    help: str
    parse: Callable[[str], Any]
    default: Any
    metavar: str = "N"


@dataclass(frozen=True, kw_only=True)
class ScenarioSpec:
    name: str  # the report directory's name: reports/<name>/
    file: str  # the locustfile (__file__), named in messages and the summary
    description: str
    checks: tuple[str, ...] = ()  # the scenario's thresholds; --check adds to them
    model: str = "closed"  # "open" when the users pace (PacedUser)
    traffic: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # generator -> options
    load_keys: tuple[str, ...] = ()  # OPTIONS rows it takes as flags (plate_sweep: "load.rate")
    extras: tuple[Extra, ...] = ()
    names: tuple[str, ...] = ()  # request names beyond the catalogue endpoints
    # Hooks of a scenario with state of its own (replay): ``check(environment,
    # settings)`` at start-up on every node (raise HarnessError for a usage error);
    # ``prepare(runtime, shard)`` when a test starts on a node that sends load,
    # shard = (k, n): this node's place among the n that do.
    check: Callable[[Any, dict[str, Any]], None] | None = None
    prepare: Callable[[Any, tuple[int, int]], None] | None = None  # (Runtime, shard)
    # Between the master's start and the run's t=0, for workers whose preparation
    # takes a while (reading a recording): their first calls are not late because of it.
    start_lead_s: float = 0.0

    @property
    def shown_file(self) -> str:
        path = Path(self.file)
        try:
            return str(path.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(path)


@dataclass(frozen=True)
class UsersSource:
    """The plan's traffic is Locust's users, not a synthetic mix: nothing to build
    (``load_plan`` builds a plan's source once to check it)."""

    request_names: tuple[str, ...] = ()

    def build(self, ctx: Any) -> Any:
        return None

    def names(self) -> tuple[str, ...]:
        return self.request_names

    def describe(self) -> dict[str, Any]:
        return {"kind": "locust users"}


@dataclass
class Resolved:
    plan: Plan
    settings: dict[str, Any]
    host: str | None



def request_names(spec: ScenarioSpec) -> tuple[str, ...]:
    return ENDPOINT_NAMES + tuple(n for n in spec.names if n not in ENDPOINT_NAMES)


def resolve(spec: ScenarioSpec, parsed: Any, flags: list[flags_mod.Flag], extra_flags: list[flags_mod.Flag],
            host: str | None) -> Resolved:
    """The options as a plan (target settings, checks, output) and settings; a
    mistake is a HarnessError naming the option."""
    names = request_names(spec)
    over = flags_mod.overrides(parsed, flags)
    over["name"] = Override(spec.name, spec.shown_file)
    if host:
        over["target.url"] = Override(host, "--host")
    given_checks = over.pop("checks.thresholds", None)
    plan = load_plan(None, over, source=UsersSource(spec.names))
    checks = [parse_check(e, names=names, source="scenario", where=spec.shown_file) for e in spec.checks]
    if given_checks is not None:
        checks += [parse_check(e, names=names, source="flag", where="--check") for e in given_checks.value]
    plan = replace(plan, checks=gate(checks, names=names), names=names, scenario=Path(spec.shown_file),
                   description=spec.description)
    settings: dict[str, Any] = {k.rpartition(".")[2]: getattr(plan.load, k.rpartition(".")[2]) for k in spec.load_keys}
    for extra, flag in zip(spec.extras, extra_flags, strict=True):
        raw = getattr(parsed, flag.dest, None)
        try:
            settings[extra.key] = extra.default if raw is None else extra.parse(raw)
        except ValueError as exc:
            raise HarnessError(f"{extra.flag}: {exc}") from None
    return Resolved(plan=plan, settings=settings, host=host)


_CLAIMED: list[str] = []


def claim(name: str, file: str) -> None:
    """One OPSCOM scenario per Locust run: a second locustfile declaring one (``-f
    a.py,b.py``) would add the same options twice."""
    if _CLAIMED:
        from harness.locust.verdict import EXIT_USAGE, say_error

        say_error(f"{file}: Locust loads two OPSCOM scenarios ({_CLAIMED[0]} and {name}); run one per Locust run")
        raise SystemExit(EXIT_USAGE)
    _CLAIMED.append(name)
