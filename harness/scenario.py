"""Scenario files (TOML) and command-line flags, turned into one ``RunConfig``.

Precedence: built-in defaults < the scenario file < flags. Every value is checked
here, before anything connects, and a bad one ends the command with one line naming
where it came from: ``scenarios/x.toml:12: [load] rate: expected a positive number,
got 'fast'`` or ``--duration: expected a duration such as 30s or 200ms, got 'x'``.
The scenario format is documented in the README and in ``scenarios/*.toml``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from harness.engine import Model
from harness.errors import ConfigError
from harness.pacing import ConstantPacer, Pacer, PoissonPacer, SinePacer, Stage, StagesPacer
from harness.transport import TRANSPORT_NAMES
from harness.units import parse_duration, parse_positive_int, parse_positive_number

T = TypeVar("T")

ARRIVALS = ("constant", "poisson", "sine", "stages")
DEFAULT_MIX: Mapping[str, float] = {"enforcement": 80, "meters": 12, "integrations": 5, "invalid": 3}
_SECTIONS: dict[str, set[str]] = {
    "": {"name", "description", "traffic", "target", "load", "mix", "checks", "output"},
    "target": {"url", "plate_service", "client", "token_env", "restricted_token_env", "allow_hosts", "tls_verify"},
    "load": {
        "model", "arrival", "rate", "duration", "stages", "start_rate", "amplitude", "period",
        "users", "think", "connections", "procs", "transport", "timeout", "connect_timeout",
        "max_backlog", "late_after", "drain", "seed",
    },
    "checks": {"thresholds"},
    "output": {"dir"},
}


@dataclass(frozen=True, kw_only=True)
class TargetConfig:
    url: str | None  # None: start the embedded reference controller
    plate_service: str | None  # None: the same base URL as the controller
    client: str = "OC_TOMA"
    token_env: str = "OPSCOM_API_TOKEN"
    restricted_token_env: str | None = None  # a token lacking permissions, to provoke 9002
    allow_hosts: tuple[str, ...] = ()
    tls_verify: bool = True


@dataclass(frozen=True, kw_only=True)
class LoadConfig:
    model: Model
    pacer: Pacer | None  # open model
    users: int  # closed model
    think: float
    duration: float
    connections: int
    procs: int
    transport: str
    timeout: float
    connect_timeout: float
    max_backlog: int
    late_after: float
    drain: float | None
    seed: int


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    name: str
    scenario: Path | None
    target: TargetConfig
    load: LoadConfig
    mix: Mapping[str, float]
    traffic_options: Mapping[str, Mapping[str, Any]]
    checks: tuple[str, ...]
    out: Path
    quiet: bool = False
    traffic_where: str = ""  # the scenario file, for errors in [traffic.*] options


@dataclass
class _Layer:
    """Settings from one origin (the file or the flags), each with where it came from."""

    values: dict[str, Any] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)

    def put(self, key: str, value: Any, where: str) -> None:
        self.values[key] = value
        self.where[key] = where


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


def load_scenario_file(path: Path) -> tuple[_Layer, dict[str, Any], str]:
    """Read a scenario: settings, the raw document, and its text (for line numbers)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read scenario: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    layer = _Layer()

    def where(section: str, key: str) -> str:
        line = _line_of(text, section, key)
        loc = f"{path}:{line}" if line else str(path)
        return f"{loc}: [{section}] {key}" if section else f"{loc}: {key}"

    for key, value in doc.items():
        if key not in _SECTIONS[""]:
            raise ConfigError(f"{where('', key)}: unknown key; expected one of {', '.join(sorted(_SECTIONS['']))}")
        if key in ("name", "description"):
            layer.put(key, value, where("", key))
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"{where('', key)}: expected a [{key}] table")
        if key in ("mix", "traffic"):
            continue  # free-form tables, checked with the traffic generators
        for sub, sub_value in value.items():
            if sub not in _SECTIONS[key]:
                raise ConfigError(f"{where(key, sub)}: unknown key; expected one of {', '.join(sorted(_SECTIONS[key]))}")
            layer.put(f"{key}.{sub}", sub_value, where(key, sub))
    if "mix" in doc:
        layer.put("mix", doc["mix"], where("", "mix").replace(": mix", ": [mix]"))
    return layer, doc, text


def _get(layers: list[_Layer], key: str, default: T) -> tuple[Any, str]:
    """The value of ``key`` from the highest layer that has it, and where from."""
    for layer in reversed(layers):
        if key in layer.values:
            return layer.values[key], layer.where[key]
    return default, f"default {key}"


def _setting(layers: list[_Layer], key: str, default: Any, parse: Callable[[Any], T]) -> T:
    """The parsed value of ``key``; a bad value is a ConfigError naming its origin."""
    value, where = _get(layers, key, default)
    return _checked(where, parse, value)


def _checked(where: str, parse: Callable[[Any], T], value: Any) -> T:
    try:
        return parse(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _as_str(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _as_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _as_str_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return tuple(value)


def _as_choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return parse


def _as_seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return int(value)


def _as_stages(value: Any) -> tuple[Stage, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError('expected a list of stages such as [{duration = "30s", target = 100}]')
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"duration", "target"}:
            raise ValueError(f'stage {i + 1}: expected {{duration = "30s", target = 100}}, got {item!r}')
        target = item["target"]
        if isinstance(target, bool) or not isinstance(target, int | float) or target < 0:
            raise ValueError(f"stage {i + 1}: target: expected a non-negative rate, got {target!r}")
        try:
            duration = parse_duration(item["duration"])
        except ValueError as exc:
            raise ValueError(f"stage {i + 1}: duration: {exc}") from None
        if duration <= 0:
            raise ValueError(f"stage {i + 1}: duration must be positive")
        out.append(Stage(duration=duration, target=float(target)))
    return tuple(out)


def parse_mix(text: str) -> dict[str, float]:
    """``enforcement=80,meters=20`` from ``--mix``."""
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, sep, weight = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"expected name=weight[,name=weight...], got {text!r}")
        mix[name.strip()] = parse_positive_number(weight.strip(), "weight")
    return mix


def _mix_from(value: Any, where: str) -> dict[str, float]:
    if isinstance(value, str):
        return _checked(where, parse_mix, value)
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{where}: expected a table of generator = weight")
    out = {}
    for name, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise ConfigError(f"{where} {name}: expected a non-negative weight, got {weight!r}")
        # A zero weight is kept: the generator is off, but its [traffic.*] options
        # are still checked, so a scenario can switch one off without deleting them.
        out[name] = float(weight)
    if not any(out.values()):
        raise ConfigError(f"{where}: every weight is 0; expected at least one positive weight")
    return out


def _pacer(layers: list[_Layer], model_where: str) -> tuple[Pacer, float]:
    arrival, arrival_where = _get(layers, "load.arrival", "constant")
    arrival = _checked(arrival_where, _as_choice(ARRIVALS), arrival)
    seed = _setting(layers, "load.seed", 1, _as_seed)
    if arrival == "stages":
        stages_value, stages_where = _get(layers, "load.stages", None)
        if stages_value is None:
            raise ConfigError(f"{arrival_where}: arrival = \"stages\" needs [load] stages = [...]")
        stages = _checked(stages_where, _as_stages, stages_value)
        start_value, start_where = _get(layers, "load.start_rate", 0)
        start = 0.0 if start_value == 0 else _checked(start_where, parse_positive_number, start_value)
        pacer = _checked(stages_where, lambda _: StagesPacer(stages=stages, start_rate=start), None)
        return pacer, pacer.duration
    rate = _setting(layers, "load.rate", 100, lambda v: parse_positive_number(v, "rate (requests/s)"))
    duration = _setting(layers, "load.duration", "10s", _positive_duration)
    if arrival == "constant":
        return ConstantPacer(rate=rate, duration=duration), duration
    if arrival == "poisson":
        return PoissonPacer(rate=rate, duration=duration, seed=seed), duration
    amplitude_value, amplitude_where = _get(layers, "load.amplitude", rate / 2)
    amplitude = _checked(amplitude_where, lambda v: _bounded(v, 0, rate, "amplitude (at most the rate)"), amplitude_value)
    period = _setting(layers, "load.period", duration, _positive_duration)
    return SinePacer(mean=rate, amplitude=amplitude, period=period, duration=duration), duration


def _bounded(value: Any, low: float, high: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"expected {what} between {low:g} and {high:g}, got {value!r}")
    return float(value)


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"expected a positive duration, got {value!r}")
    return seconds


def _model(layers: list[_Layer]) -> tuple[Model, str]:
    value, where = _get(layers, "load.model", None)
    if value is not None:
        return Model(_checked(where, _as_choice(("open", "closed")), value)), where
    users_value, users_where = _get(layers, "load.users", None)
    return (Model.CLOSED if users_value is not None else Model.OPEN), users_where


def build_config(layers: list[_Layer], *, scenario: Path | None, doc: Mapping[str, Any], quiet: bool) -> RunConfig:
    """Validate every setting and assemble the run's configuration."""
    url, url_where = _get(layers, "target.url", None)
    plate, plate_where = _get(layers, "target.plate_service", None)
    target = TargetConfig(
        url=None if url is None else _checked(url_where, _as_str, url),
        plate_service=None if plate is None else _checked(plate_where, _as_str, plate),
        client=_setting(layers, "target.client", "OC_TOMA", _as_str),
        token_env=_setting(layers, "target.token_env", "OPSCOM_API_TOKEN", _as_str),
        restricted_token_env=_optional(_get(layers, "target.restricted_token_env", None), _as_str),
        allow_hosts=_setting(layers, "target.allow_hosts", [], _as_str_list),
        tls_verify=_setting(layers, "target.tls_verify", True, _as_bool),
    )
    model, model_where = _model(layers)
    if model is Model.OPEN:
        pacer, duration = _pacer(layers, model_where)
        users = 0
    else:
        pacer = None
        users = _setting(layers, "load.users", 10, lambda v: parse_positive_int(v, "number of users"))
        duration = _setting(layers, "load.duration", "10s", _positive_duration)
    procs_default = os.cpu_count() or 1
    load = LoadConfig(
        model=model,
        pacer=pacer,
        users=users,
        think=_setting(layers, "load.think", 0, parse_duration),
        duration=duration,
        connections=_setting(layers, "load.connections", 64, lambda v: parse_positive_int(v, "number of connections")),
        procs=_setting(layers, "load.procs", procs_default, lambda v: parse_positive_int(v, "number of processes")),
        transport=_setting(layers, "load.transport", "fast", _as_choice(TRANSPORT_NAMES)),
        timeout=_setting(layers, "load.timeout", "10s", _positive_duration),
        connect_timeout=_setting(layers, "load.connect_timeout", "5s", _positive_duration),
        max_backlog=_setting(layers, "load.max_backlog", 100_000, lambda v: parse_positive_int(v, "backlog size")),
        late_after=_setting(layers, "load.late_after", "10ms", _positive_duration),
        drain=_optional(_get(layers, "load.drain", None), _positive_duration),
        seed=_setting(layers, "load.seed", 1, _as_seed),
    )
    if load.procs > 1 and model is Model.CLOSED and users < load.procs:
        raise ConfigError(f"{model_where}: {users} users cannot be split over {load.procs} processes; use --procs {users} or more users")
    mix_value, mix_where = _get(layers, "mix", None)
    mix = dict(DEFAULT_MIX) if mix_value is None else _mix_from(mix_value, mix_where)
    traffic = doc.get("traffic", {})
    if not isinstance(traffic, dict) or not all(isinstance(v, dict) for v in traffic.values()):
        raise ConfigError(f"{scenario}: [traffic]: expected tables such as [traffic.meters]")
    checks_value, checks_where = _get(layers, "checks.thresholds", [])
    checks = _checked(checks_where, _as_str_list, checks_value) if checks_value else ()
    extra_checks = tuple(layers[-1].values.get("extra_checks", ()))
    name, _ = _get(layers, "name", scenario.stem if scenario else "adhoc")
    out_value, out_where = _get(layers, "output.dir", f"reports/{name}")
    return RunConfig(
        name=str(name),
        scenario=scenario,
        target=target,
        load=load,
        mix=mix,
        traffic_options=traffic,
        checks=checks + extra_checks,
        out=Path(_checked(out_where, _as_str, out_value)),
        quiet=quiet,
        traffic_where=str(scenario) if scenario else "",
    )


def _optional(pair: tuple[Any, str], parse: Callable[[Any], T]) -> T | None:
    value, where = pair
    return None if value is None else _checked(where, parse, value)


# flag name on the command line -> setting key
FLAG_KEYS: dict[str, str] = {
    "target": "target.url",
    "plate_service": "target.plate_service",
    "client": "target.client",
    "token_env": "target.token_env",
    "rate": "load.rate",
    "users": "load.users",
    "think": "load.think",
    "duration": "load.duration",
    "arrival": "load.arrival",
    "connections": "load.connections",
    "procs": "load.procs",
    "transport": "load.transport",
    "timeout": "load.timeout",
    "connect_timeout": "load.connect_timeout",
    "seed": "load.seed",
    "out": "output.dir",
    "mix": "mix",
}


def flag_layer(args: Any, file_layer: _Layer) -> _Layer:
    """Settings given on the command line; they override the scenario."""
    layer = _Layer()
    for attr, key in FLAG_KEYS.items():
        value = getattr(args, attr, None)
        if value is not None:
            layer.put(key, value, f"--{attr.replace('_', '-')}")
    if args.rate is not None and args.users is not None:
        raise ConfigError("--rate and --users: choose one; --rate is the open model, --users the closed one")
    if args.rate is not None:
        layer.put("load.model", "open", "--rate")
        if file_layer.values.get("load.arrival") == "stages" and args.arrival is None:
            layer.put("load.arrival", "constant", "--rate")
    if args.users is not None:
        layer.put("load.model", "closed", "--users")
    if args.allow_host:
        hosts = list(file_layer.values.get("target.allow_hosts", [])) + list(args.allow_host)
        layer.put("target.allow_hosts", hosts, "--allow-host")
    if args.check:
        layer.values["extra_checks"] = list(args.check)
    return layer


def load_run_config(args: Any) -> RunConfig:
    """The whole configuration of ``harness run`` from its parsed arguments."""
    scenario = Path(args.scenario) if args.scenario else None
    if scenario is not None:
        file_layer, doc, _ = load_scenario_file(scenario)
    else:
        file_layer, doc = _Layer(), {}
    layers = [file_layer, flag_layer(args, file_layer)]
    return build_config(layers, scenario=scenario, doc=doc, quiet=bool(getattr(args, "quiet", False)))
