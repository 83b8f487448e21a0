"""``ControllerConfig``: everything ``harness serve`` is told, parsed and checked once.

Flags arrive as strings (``--latency 20ms~10ms``, ``--stall 10s:1s``,
``--token T:permit-push,plate-validate``); the parsers here turn them into small
frozen values or raise ``ConfigError`` with one line naming the flag, what was
expected and what was given. Token *values* never appear in a message or a
``repr``: they are credentials, even on a test server.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness import units
from harness.errors import ConfigError
from harness.opscom.endpoints import PERMISSIONS

DEFAULT_CLIENT = "OC_TOMA"
DEFAULT_MAX_BODY = 1024 * 1024
# The one line ``harness serve`` prints when it is ready (``process.py`` waits for it).
READY_PREFIX = "harness serve: listening on "

# The form of a client code, in flags and in requests (path segment or the plate
# service's ``client`` field). Checked with ``fullmatch``: no surrounding spaces.
CLIENT_CODE = re.compile(r"[A-Za-z0-9_-]+")


def normalise_client(code: str) -> str:
    """The form client codes are compared in: ``OC-TOMA``, ``oc_toma`` -> ``OC_TOMA``.

    The seeds write the same client both ways, so '-' and '_' are one character
    here, and case is ignored (decision)."""
    return code.strip().replace("-", "_").upper()


_UNITS = ("us", "ms", "s", "m")


def parse_duration(flag: str, text: str) -> float:
    """``"40ms"`` -> 0.04 seconds (``harness.units``). Here a unit out of us, ms, s, m
    is required: a bare ``--latency 40`` is more likely a mistake than forty seconds."""
    try:
        if text.strip().lstrip("0123456789.").strip() not in _UNITS:
            raise ValueError(text)
        return units.parse_duration(text)
    except ValueError:
        raise ConfigError(f"{flag}: expected a duration such as 40ms, 1.5s or 250us, got {text!r}") from None


@dataclass(frozen=True, kw_only=True)
class Latency:
    """Added latency: ``base`` seconds, plus a uniform draw in [-jitter, +jitter]."""

    base: float
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.base < 0 or self.jitter < 0:
            raise ConfigError("--latency: durations must not be negative")

    @classmethod
    def parse(cls, text: str) -> Latency:
        base, sep, jitter = text.partition("~")
        if sep and not jitter.strip():
            raise ConfigError(f"--latency: expected BASE or BASE~JITTER such as 20ms~10ms, got {text!r}")
        return cls(
            base=parse_duration("--latency", base),
            jitter=parse_duration("--latency", jitter) if sep else 0.0,
        )


@dataclass(frozen=True, kw_only=True)
class Stall:
    """No answers for the last ``duration`` seconds of every ``every`` seconds."""

    every: float
    duration: float

    def __post_init__(self) -> None:
        if not (0 < self.duration < self.every):
            raise ConfigError(
                f"--stall: FOR must be positive and shorter than EVERY, "
                f"got {self.every:g}s:{self.duration:g}s"
            )

    @classmethod
    def parse(cls, text: str) -> Stall:
        every, sep, duration = text.partition(":")
        try:
            if not sep:
                raise ConfigError(text)
            return cls(every=parse_duration("--stall", every), duration=parse_duration("--stall", duration))
        except ConfigError as exc:
            if str(exc).startswith("--stall: FOR"):  # well formed, but FOR >= EVERY
                raise
            raise ConfigError(f"--stall: expected EVERY:FOR such as 10s:1s, got {text!r}") from None


def parse_rate(flag: str, text: str) -> float:
    """A share of requests in [0, 1]: ``"0.02"``."""
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not 0.0 <= rate <= 1.0:  # NaN fails this too
        raise ConfigError(f"{flag}: expected a share between 0 and 1 such as 0.02, got {text!r}")
    return rate


@dataclass(frozen=True, kw_only=True)
class Faults:
    """What the fault-injection middleware does; all off by default."""

    latency: Latency | None = None
    error_rate: float = 0.0
    stall: Stall | None = None
    drop_rate: float = 0.0

    def __post_init__(self) -> None:
        for name, rate in (("--error-rate", self.error_rate), ("--drop-rate", self.drop_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"{name}: expected a share between 0 and 1, got {rate!r}")

    @property
    def active(self) -> bool:
        return bool(self.latency or self.stall or self.error_rate or self.drop_rate)


def parse_tokens(entries: Iterable[str], *, source: str = "--token") -> dict[str, frozenset[str]]:
    """``TOKEN`` (every permission) or ``TOKEN:perm1,perm2`` (only those; ``TOKEN:``
    for none) -> {token: permissions}. A token given twice gets the union."""
    out: dict[str, frozenset[str]] = {}
    for number, entry in enumerate(entries, start=1):
        token, sep, perms_text = entry.partition(":")
        token = token.strip()
        if not token:
            raise ConfigError(f"{source}: entry {number}: expected TOKEN or TOKEN:perm1,perm2, got an empty token")
        if sep:
            perms = frozenset(p.strip() for p in perms_text.split(",") if p.strip())
            unknown = sorted(perms - PERMISSIONS)
            if unknown:
                raise ConfigError(
                    f"{source}: entry {number}: unknown permission {unknown[0]!r}; "
                    f"expected some of {', '.join(sorted(PERMISSIONS))}"
                )
        else:
            perms = PERMISSIONS
        out[token] = out.get(token, frozenset()) | perms
    return out


def tokens_from_env(var: str, environ: Mapping[str, str]) -> dict[str, frozenset[str]]:
    """Whitespace-separated token entries from environment variable ``var``."""
    if var not in environ:
        raise ConfigError(f"--token-env: environment variable {var!r} is not set")
    return parse_tokens(environ[var].split(), source=f"--token-env {var}")


@dataclass(frozen=True, kw_only=True)
class ControllerConfig:
    host: str = "127.0.0.1"
    port: int = 8080  # 0 picks a free port
    db: Path | None = None  # None: a temporary file, deleted on exit
    client: str = DEFAULT_CLIENT  # stored normalised
    # token -> permissions; kept out of repr so a config can be printed safely.
    tokens: Mapping[str, frozenset[str]] = field(default_factory=dict, repr=False)
    seed: int = 1
    faults: Faults = field(default_factory=Faults)
    max_body: int = DEFAULT_MAX_BODY

    def __post_init__(self) -> None:
        if not CLIENT_CODE.fullmatch(self.client.strip()):
            raise ConfigError(f"--client: expected letters, digits, '-' or '_' such as OC_TOMA, got {self.client!r}")
        object.__setattr__(self, "client", normalise_client(self.client))
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port: expected 0..65535, got {self.port}")
        if self.max_body < 1:
            raise ConfigError(f"--max-body: expected a positive number of bytes, got {self.max_body}")
        for perms in self.tokens.values():
            if not perms <= PERMISSIONS:
                raise ConfigError(f"tokens: unknown permission {sorted(perms - PERMISSIONS)[0]!r}")
