"""A scenario file and its overrides, turned into one validated ``Plan``.

Precedence: the defaults of ``harness.options.OPTIONS`` < the scenario file < the
overrides (command-line flags, or a caller of the library API). Every value is
checked here, before anything connects, and a bad one ends the command with one
line naming where it came from: ``scenarios/x.toml:12: [load] rate: expected a
positive rate (requests/s), got 'fast'`` or ``--duration: expected a duration such
as 30s or 200ms, got 'x'``.

Overrides are explicit, never silent: ``--duration`` on a stages or sine plan
scales the whole plan to that length; ``--rate`` on a stages plan, ``--think`` on
an open run and ``--arrival`` on a closed one are refused (exit 2) saying why; a
setting the run cannot honour as given (more processes than users or connections
when the process count was not asked for) is adjusted and said in ``notes``.
``Plan.describe()`` is what summary.json records as the effective plan.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.checks import Check, gate, parse_check
from harness.engine import Model
from harness.errors import ConfigError
from harness.opscom.endpoints import ENDPOINT_NAMES, check_client_code
from harness.options import (
    BY_FLAG,
    BY_KEY,
    FREE_TABLES,
    OPTIONS,
    SECTIONS,
    LoadSettings,
    Option,
    OutputSettings,
    run_name,
)
from harness.pacing import ConstantPacer, Pacer, PoissonPacer, SinePacer, Stage, StagesPacer
from harness.traffic.call import SourceSpec
from harness.units import format_duration, parse_duration

DEFAULT_MIX: Mapping[str, float] = {"enforcement": 80, "meters": 12, "integrations": 5, "invalid": 3}
REPORTS_ROOT = Path("reports")


@dataclass(frozen=True)
class Override:
    """An override's value and where it was given (``--rate``, ``api``)."""

    value: Any
    where: str


@dataclass(frozen=True, kw_only=True)
class TargetSettings:
    url: str | None  # None: start the embedded reference controller
    plate_service: str | None  # None: the same base URL as the controller
    client: str
    token_env: str
    restricted_token_env: str | None
    allow_hosts: tuple[str, ...]
    tls_verify: bool


@dataclass(frozen=True, kw_only=True)
class Plan:
    """Everything a run needs but the target's token; picklable."""

    name: str
    description: str
    scenario: Path | None
    target: TargetSettings
    load: Any  # LoadSettings: procs, drain and model resolved
    model: Model
    pacer: Pacer | None  # open model
    source: SourceSpec
    checks: tuple[Check, ...]
    output: Path  # the reports root of this scenario: runs go in <output>/<time>-<id>/
    overrides: tuple[str, ...] = ()  # "--rate 200", in the order given
    notes: tuple[str, ...] = ()  # adjustments made to honour the settings
    names: tuple[str, ...] = ENDPOINT_NAMES  # request names checks may address
    outputs: Any = field(default_factory=OutputSettings)  # OutputSettings: csv, metrics_port

    @property
    def duration(self) -> float:
        """The schedule's length in seconds (open: the pacer's; closed: duration)."""
        return self.pacer.duration if self.pacer is not None else float(self.load.duration)

    def describe(self) -> dict[str, Any]:
        load = self.load
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "scenario": str(self.scenario) if self.scenario else None,
            "model": self.model.value,
            "arrival": str(self.pacer) if self.pacer is not None else f"closed: {load.users} users",
            "duration_s": self.duration,
            "intended_requests": self.pacer.expected_hits() if self.pacer is not None else None,
            "load": {o.name: _jsonable(getattr(load, o.name)) for o in OPTIONS if o.section == "load"},
            "traffic": self.source.describe(),
            "target": {"client": self.target.client, "token_env": self.target.token_env,
                       "tls_verify": self.target.tls_verify},
            "checks": [c.expr for c in self.checks],
            "overrides": list(self.overrides),
            "notes": list(self.notes),
            "output": dataclasses.asdict(self.outputs),
        }
        if self.pacer is None:
            out["load"]["arrival"] = None
        return out

    def with_load(self, **values: Any) -> Plan:
        """The same plan with some load settings replaced (capacity search steps);
        ``rate``/``duration`` rebuild a constant pacer."""
        load = replace(self.load, **values)
        pacer = self.pacer
        if self.model is Model.OPEN and ("rate" in values or "duration" in values):
            pacer = ConstantPacer(rate=float(load.rate), duration=float(load.duration))
        return replace(self, load=load, pacer=pacer)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


# --- layers ---------------------------------------------------------------------------------


@dataclass
class _Layer:
    """Settings from one origin (the file or the overrides), each with where it came from."""

    values: dict[str, Any] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)

    def put(self, key: str, value: Any, where: str) -> None:
        self.values[key] = value
        self.where[key] = where

    def has(self, key: str) -> bool:
        return key in self.values


@dataclass
class _Scenario:
    path: Path | None
    layer: _Layer
    doc: dict[str, Any]
    text: str


def _line_of(text: str, section: str, key: str) -> int | None:
    """The line defining ``key`` in ``[section]`` (1-based), for error messages."""
    current = ""
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(r"^\s*\[+\s*([^\]]+?)\s*\]+", line)
        if header:
            current = header.group(1)
            continue
        if current == section and pattern.match(line):
            return number
    return None


def _line_of_item(text: str, after: int | None, item: str) -> int | None:
    """The line, at or after ``after``, where the string ``item`` of a list is written."""
    lines = text.splitlines()
    for number in range(after or 1, len(lines) + 1):
        line = lines[number - 1]
        if f'"{item}"' in line or f"'{item}'" in line:
            return number
    return after


def read_scenario(path: Path) -> _Scenario:
    """Read a scenario: its settings (each with file:line), the raw document, its text."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read scenario: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (expected UTF-8 TOML)") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    layer = _Layer()

    def where(section: str, key: str) -> str:
        line = _line_of(text, section, key) or (_line_of_table(text, key) if not section else None)
        loc = f"{path}:{line}" if line else str(path)
        return f"{loc}: [{section}] {key}" if section else f"{loc}: {key}"

    top = set(SECTIONS[""]) | set(FREE_TABLES) | {s for s in SECTIONS if s}
    for key, value in doc.items():
        if key not in top:
            raise ConfigError(f"{where('', key)}: unknown key; expected one of {', '.join(sorted(top))}"
                              + _hint(key, top))
        if key in SECTIONS[""]:
            layer.put(key, value, where("", key))
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"{where('', key)}: expected a [{key}] table")
        if key in FREE_TABLES:
            continue  # checked with the traffic generators
        for sub, sub_value in value.items():
            if sub not in SECTIONS[key]:
                raise ConfigError(f"{where(key, sub)}: unknown key; expected one of {', '.join(sorted(SECTIONS[key]))}"
                                  + _hint(sub, SECTIONS[key]))
            layer.put(f"{key}.{sub}", sub_value, where(key, sub))
    if "mix" in doc:
        line = _line_of_table(text, "mix")
        layer.put("mix", doc["mix"], f"{path}:{line}: [mix]" if line else f"{path}: [mix]")
    return _Scenario(path=path, layer=layer, doc=doc, text=text)


def _line_of_table(text: str, table: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"^\s*\[\s*{re.escape(table)}\s*\]", line):
            return number
    return None


def _hint(word: str, choices: Any) -> str:
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def override_layer(overrides: Mapping[str, Any], file: _Layer) -> _Layer:
    """Overrides keyed by option key (``load.rate``) or ``mix``; a value may be an
    ``Override`` saying where it was given. List options add to the scenario's."""
    layer = _Layer()
    for key, raw in overrides.items():
        given = raw if isinstance(raw, Override) else Override(raw, f"override {key}")
        if given.value is None:
            continue
        if key != "mix" and key not in BY_KEY:
            raise ConfigError(f"{given.where}: unknown setting {key!r}" + _hint(key, BY_KEY))
        option = BY_KEY.get(key)
        value = given.value
        if option is not None and option.repeat:
            value = list(file.values.get(key, [])) + list(value if isinstance(value, list | tuple) else [value])
        layer.put(key, value, given.where)
    if layer.has("load.rate") and not layer.has("load.model"):
        layer.put("load.model", "open", layer.where["load.rate"])
    if layer.has("load.users") and not layer.has("load.model"):
        layer.put("load.model", "closed", layer.where["load.users"])
    return layer


def overrides_from_args(args: Any) -> dict[str, Override]:
    """The flags a user gave (argparse leaves the others None), keyed by option key."""
    out: dict[str, Override] = {}
    for flag, option in BY_FLAG.items():
        value = getattr(args, option.dest, None)
        if value is not None and value != []:
            out[option.key] = Override(value, flag)
    mix = getattr(args, "mix", None)
    if mix is not None:
        out["mix"] = Override(mix, "--mix")
    return out


# --- building the plan ------------------------------------------------------------------------


class _Settings:
    """Reads settings from the layers, highest first, parsing each with its option."""

    def __init__(self, file: _Layer, over: _Layer) -> None:
        self.file = file
        self.over = over

    def raw(self, key: str) -> tuple[Any, str]:
        for layer in (self.over, self.file):
            if key in layer.values:
                return layer.values[key], layer.where[key]
        option = BY_KEY.get(key)
        return (None if option is None else option.default), f"default {key}"

    def given(self, key: str) -> bool:
        return self.over.has(key) or self.file.has(key)

    def get(self, key: str) -> Any:
        value, where = self.raw(key)
        if value is None:
            return None
        return _checked(where, BY_KEY[key], value)


def _checked(where: str, option: Option, value: Any) -> Any:
    try:
        return option.parse(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def available_cpus() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup CPU quota (a
    container's ``cpu.max``), so a 2-CPU container on a 64-core host gets 2."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def _model(s: _Settings) -> Model:
    model = s.get("load.model")
    if model is not None:
        return Model(model)
    return Model.CLOSED if s.raw("load.users")[0] is not None else Model.OPEN


def _refuse_ignored_flags(s: _Settings, model: Model) -> None:
    """A flag that would have no effect is a mistake, not something to drop quietly."""
    over = s.over
    if over.has("load.rate") and over.has("load.users"):
        raise ConfigError(f"{over.where['load.rate']} and {over.where['load.users']}: choose one; "
                          "a rate is the open model, users the closed one")
    if model is Model.OPEN and over.has("load.think"):
        raise ConfigError(f"{over.where['load.think']}: think time belongs to the closed model (--users); "
                          "this run is open (an arrival rate); drop --think or use --users")
    if model is Model.CLOSED and over.has("load.arrival"):
        raise ConfigError(f"{over.where['load.arrival']}: an arrival shape belongs to the open model (--rate); "
                          "this run is closed (users); drop --arrival or use --rate")
    if (model is Model.OPEN and over.has("load.rate") and not over.has("load.arrival")
            and s.file.values.get("load.arrival") == "stages"):
        raise ConfigError(f"{over.where['load.rate']}: the scenario's arrival is \"stages\" (its rates are its "
                          "[load] stages); add --arrival constant to replace them with one rate, or drop --rate")


def _stages(s: _Settings) -> tuple[tuple[Stage, ...], float]:
    value, where = s.raw("load.stages")
    arrival_where = s.raw("load.arrival")[1]
    if value is None:
        raise ConfigError(f"{arrival_where}: arrival = \"stages\" needs [load] stages = [...]")
    if not isinstance(value, list) or not value:
        raise ConfigError(f'{where}: expected a list of stages such as [{{duration = "30s", target = 100}}]')
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"duration", "target"}:
            raise ConfigError(f'{where}: stage {i + 1}: expected {{duration = "30s", target = 100}}, got {item!r}')
        target = item["target"]
        if isinstance(target, bool) or not isinstance(target, int | float) or target < 0 or not math.isfinite(target):
            raise ConfigError(f"{where}: stage {i + 1}: target: expected a non-negative rate, got {target!r}")
        try:
            seconds = parse_duration(item["duration"])
        except ValueError as exc:
            raise ConfigError(f"{where}: stage {i + 1}: duration: {exc}") from None
        if seconds <= 0:
            raise ConfigError(f"{where}: stage {i + 1}: duration must be positive")
        out.append(Stage(duration=seconds, target=float(target)))
    return tuple(out), float(s.get("load.start_rate") or 0.0)


def _pacer(s: _Settings, notes: list[str]) -> Pacer:
    arrival = s.get("load.arrival")
    seed = s.get("load.seed")
    duration_given = s.given("load.duration")
    if arrival == "stages":
        stages, start = _stages(s)
        try:
            pacer = StagesPacer(stages=stages, start_rate=start)
        except ValueError as exc:
            raise ConfigError(f"{s.raw('load.stages')[1]}: {exc}") from None
        if duration_given:
            wanted = s.get("load.duration")
            factor = wanted / pacer.duration
            if abs(factor - 1) > 1e-9:
                pacer = StagesPacer(stages=tuple(Stage(duration=st.duration * factor, target=st.target)
                                                 for st in stages), start_rate=start)
                notes.append(f"{s.raw('load.duration')[1]}: the stages plan ({format_duration(wanted / factor)}) "
                             f"is scaled to {format_duration(wanted)} (every stage x{factor:.4g}, rates kept)")
        return pacer
    rate = s.get("load.rate")
    duration = s.get("load.duration")
    if arrival == "constant":
        return ConstantPacer(rate=rate, duration=duration)
    if arrival == "poisson":
        return PoissonPacer(rate=rate, duration=duration, seed=seed)
    amplitude = s.get("load.amplitude")
    if amplitude is None:
        amplitude = rate / 2
    elif amplitude > rate:
        raise ConfigError(f"{s.raw('load.amplitude')[1]}: expected an amplitude of at most the mean rate "
                          f"({rate:g}), got {amplitude:g}")
    period = s.get("load.period")
    if period is None:
        period = duration
    elif s.over.has("load.duration") and s.file.has("load.duration"):
        # The file's period is a fraction of its own duration; keep the shape.
        factor = duration / _checked(s.file.where["load.duration"], BY_KEY["load.duration"],
                                     s.file.values["load.duration"])
        if abs(factor - 1) > 1e-9:
            notes.append(f"{s.over.where['load.duration']}: the sine plan is scaled to {format_duration(duration)}: "
                         f"period {format_duration(period)} -> {format_duration(period * factor)}")
            period *= factor
    return SinePacer(mean=rate, amplitude=amplitude, period=period, duration=duration)


def _target(s: _Settings) -> TargetSettings:
    from harness.transport.base import Origin

    for key in ("target.url", "target.plate_service"):
        value, where = s.raw(key)
        if value is not None:
            try:
                Origin.parse(_checked(where, BY_KEY[key], value))
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
    client_value, client_where = s.raw("target.client")
    client = _checked(client_where, BY_KEY["target.client"], client_value)
    try:
        check_client_code(client)
    except ValueError as exc:
        raise ConfigError(f"{client_where}: {exc}") from None
    if s.raw("target.url")[0] is None:
        from harness.controller.config import CLIENT_CODE

        if not CLIENT_CODE.fullmatch(client):
            raise ConfigError(f"{client_where}: the embedded reference controller serves client codes of letters, "
                              f"digits, '-' and '_' (such as OC_TOMA), got {client!r}; name a --target to use "
                              "another")
    return TargetSettings(
        url=s.get("target.url"),
        plate_service=s.get("target.plate_service"),
        client=client,
        token_env=s.get("target.token_env"),
        restricted_token_env=s.get("target.restricted_token_env"),
        allow_hosts=tuple(s.get("target.allow_hosts") or ()),
        tls_verify=bool(s.get("target.tls_verify")),
    )


def parse_mix(text: str) -> dict[str, float]:
    """``enforcement=80,meters=20`` from ``--mix``; a weight of 0 switches a generator off."""
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, sep, weight = part.partition("=")
        try:
            value = float(weight.strip())
        except ValueError:
            value = -1.0
        if not sep or not name.strip() or not math.isfinite(value) or value < 0:
            raise ValueError(f"expected name=weight[,name=weight...] with non-negative weights, got {text!r}")
        mix[name.strip()] = value
    if not any(mix.values()):
        raise ValueError(f"every weight is 0; expected at least one positive weight, got {text!r}")
    return mix


def _mix(s: _Settings) -> dict[str, float]:
    value, where = s.raw("mix")
    if value is None:
        return dict(DEFAULT_MIX)
    if isinstance(value, str):
        try:
            return parse_mix(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{where}: expected a table of generator = weight")
    out = {}
    for name, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0 or not math.isfinite(weight):
            raise ConfigError(f"{where} {name}: expected a non-negative weight, got {weight!r}")
        out[name] = float(weight)  # 0 is kept: off, but its [traffic.*] options still checked
    if not any(out.values()):
        raise ConfigError(f"{where}: every weight is 0; expected at least one positive weight")
    return out


def _checks(s: _Settings, sc: _Scenario | None, names: tuple[str, ...]) -> tuple[Check, ...]:
    user: list[Check] = []
    file_items = sc.layer.values.get("checks.thresholds") if sc else None
    if file_items is not None:
        where = sc.layer.where["checks.thresholds"]  # type: ignore[union-attr]
        items = _checked(where, BY_KEY["checks.thresholds"], file_items)
        first = _line_of(sc.text, "checks", "thresholds")  # type: ignore[union-attr]
        for item in items:
            expr = item["expr"] if isinstance(item, dict) else item
            line = _line_of_item(sc.text, first, expr)  # type: ignore[union-attr]
            user.append(_threshold(item, names, "scenario", f"{sc.path}:{line}"))  # type: ignore[union-attr]
    if s.over.has("checks.thresholds"):
        given = s.over.values["checks.thresholds"]
        where = s.over.where["checks.thresholds"]
        for item in given[len(file_items or ()):]:
            if not isinstance(item, str | dict):
                raise ConfigError(f"{where}: expected a threshold expression, got {item!r}")
            user.append(_threshold(_checked(where, BY_KEY["checks.thresholds"], item)[0], names, "flag", where))
    return gate(user, defaults=bool(s.get("checks.defaults")), names=names)


def _threshold(item: str | dict[str, Any], names: tuple[str, ...], source: str, where: str) -> Check:
    """A threshold: an expression, or a table {expr, abort_on_fail, delay} (a live gate)."""
    if isinstance(item, str):
        return parse_check(item, names=names, source=source, where=where)
    check = parse_check(item["expr"], names=names, source=source, where=where)
    if not item.get("abort_on_fail", False):
        if "delay" in item:
            raise ConfigError(f"{where}: check {check.expr!r}: delay only applies with abort_on_fail = true")
        return check
    from harness.livegates import DEFAULT_DELAY_S, live_problem

    problem = live_problem(check)
    if problem is not None:
        raise ConfigError(f"{where}: check {check.expr!r}: abort_on_fail: {problem}")
    delay = DEFAULT_DELAY_S
    if "delay" in item:
        try:
            delay = parse_duration(item["delay"])
        except ValueError as exc:
            raise ConfigError(f"{where}: check {check.expr!r}: delay: {exc}") from None
    return replace(check, abort_on_fail=True, abort_delay_s=delay)


def _output(s: _Settings, name: str) -> Path:
    value, where = s.raw("output.dir")
    if value is None:
        return REPORTS_ROOT / name
    path = Path(_checked(where, BY_KEY["output.dir"], value))
    if not s.over.has("output.dir"):
        # A scenario may come from elsewhere: its own dir stays inside the working
        # directory. A flag is the user's explicit choice and may point anywhere.
        if path.is_absolute() or ".." in path.parts:
            raise ConfigError(f"{where}: expected a relative directory inside the working directory, got {value!r} "
                              "(use --out to write elsewhere)")
    return path


def _name(s: _Settings, scenario: Path | None) -> str:
    value, where = s.raw("name")
    if value is not None:
        return _checked(where, BY_KEY["name"], value)
    if scenario is None:
        return "adhoc"
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", scenario.stem).lstrip("._-") or "scenario"
    return run_name(stem[:64].replace("..", "_"))


def _procs(s: _Settings, model: Model, users: int | None, connections: int, notes: list[str]) -> int:
    procs_value, procs_where = s.raw("load.procs")
    explicit = procs_value is not None
    procs = _checked(procs_where, BY_KEY["load.procs"], procs_value) if explicit else available_cpus()
    if model is Model.CLOSED and users is not None and users < procs:
        if explicit:
            raise ConfigError(f"{procs_where}: {users} user(s) cannot be split over {procs} processes "
                              f"(each needs a user); use {users} process(es) or more users")
        notes.append(f"{users} user(s): {users} process(es) instead of the {procs} CPUs available")
        procs = users
    if connections < procs:
        conn_where = s.raw("load.connections")[1]
        if explicit:
            raise ConfigError(f"{conn_where}: {connections} connection(s) cannot be split over {procs} processes "
                              f"({procs_where}); each needs at least one")
        notes.append(f"{connections} connection(s): {connections} process(es) instead of the {procs} CPUs available")
        procs = connections
    return procs


def build_plan(sc: _Scenario | None, over: _Layer, *, source: SourceSpec | None = None,
               pacer: Pacer | None = None) -> Plan:
    file = sc.layer if sc else _Layer()
    s = _Settings(file, over)
    notes: list[str] = []
    model = Model.OPEN if pacer is not None else _model(s)
    _refuse_ignored_flags(s, model)
    if pacer is not None:
        users = None  # the caller's own schedule (a recording's offsets)
    elif model is Model.OPEN:
        pacer = _pacer(s, notes)
        users = None
        if s.file.has("load.users") or s.file.has("load.think"):
            notes.append("the scenario's users/think are not used: this run is open (an arrival rate)")
    else:
        pacer = None
        users = s.get("load.users") or BY_KEY["load.users"].parse(10)
    connections = s.get("load.connections")
    procs = _procs(s, model, users, connections, notes)
    timeout = s.get("load.timeout")
    values = {o.name: s.get(o.key) for o in OPTIONS if o.section == "load" and o.key != "load.stages"}
    values.update(model=model.value, users=users, procs=procs, stages=_jsonable(s.raw("load.stages")[0]),
                  drain=s.get("load.drain") or timeout + 1.0)
    if pacer is not None:
        values["duration"] = pacer.duration
    load = LoadSettings(**values)
    name = _name(s, sc.path if sc else None)
    if source is None:
        from harness.traffic.mix import MixSpec

        source = MixSpec(mix=_mix(s), options=sc.doc.get("traffic", {}) if sc else {},
                         where=str(sc.path) if sc else "")
    names = ENDPOINT_NAMES + tuple(n for n in source.names() if n not in ENDPOINT_NAMES)
    overrides = tuple(f"{over.where[k]} {_shown(over.values[k])}" for k in over.values
                      if not (k == "load.model" and over.where[k] in ("--rate", "--users")))
    return Plan(
        name=name,
        description=str(s.get("description") or ""),
        scenario=sc.path if sc else None,
        target=_target(s),
        load=load,
        model=model,
        pacer=pacer,
        source=source,
        checks=_checks(s, sc, names),
        output=_output(s, name),
        overrides=overrides,
        notes=tuple(notes),
        names=names,
        outputs=OutputSettings(**{o.name: s.get(o.key) for o in OPTIONS
                                  if o.section == "output" and o.name != "dir"}),
    )


def check_source(plan: Plan) -> None:
    """Build the plan's traffic once, as worker 0 would, so a bad [traffic.*] option
    is a usage error now rather than a worker failing after the start."""
    from datetime import UTC, datetime

    from harness.opscom.reference_data import reference_data
    from harness.traffic.call import TrafficContext

    ctx = TrafficContext(client=plan.target.client, token="check", seed=int(plan.load.seed), worker=0,
                         workers=int(plan.load.procs), run_id="check",
                         wall_start=datetime.now(UTC).replace(tzinfo=None),
                         reference=reference_data(int(plan.load.seed)), restricted_token="check")
    plan.source.build(ctx)


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def load_plan(scenario: str | Path | None = None, overrides: Mapping[str, Any] | None = None, *,
              source: SourceSpec | None = None, pacer: Pacer | None = None) -> Plan:
    """The plan of a scenario file (or none: the defaults) with ``overrides`` on top.

    ``overrides`` maps option keys (``"load.rate"``, ``"load.duration"``,
    ``"checks.thresholds"``, ``"mix"``) to values as a user would write them, or
    to ``Override(value, where)``. ``source`` replaces the synthetic mix and
    ``pacer`` the arrival shape (replay: the recording's calls at their offsets)."""
    sc = read_scenario(Path(scenario)) if scenario is not None else None
    over = override_layer(overrides or {}, sc.layer if sc else _Layer())
    plan = build_plan(sc, over, source=source, pacer=pacer)
    check_source(plan)
    return plan
