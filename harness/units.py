"""Parsing of the quantities users write: durations, rates, ratios.

Each parser raises ``ValueError`` with what was expected; callers wrap it in a
``ConfigError`` that names the file and key or the flag.
"""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h)?\s*$")
_SECONDS_PER_UNIT = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str | int | float, *, default_unit: str = "s") -> float:
    """Seconds in ``"30s"``, ``"200ms"``, ``"1.5m"``, ``"2h"``, ``"500us"``; a bare
    number is in ``default_unit``."""
    if isinstance(text, bool):
        raise ValueError(f"expected a duration such as 30s or 200ms, got {text!r}")
    if isinstance(text, int | float):
        value = float(text) * _SECONDS_PER_UNIT[default_unit]
    elif not isinstance(text, str):
        raise ValueError(f"expected a duration such as 30s or 200ms, got {text!r}")
    else:
        m = _DURATION.match(text)
        if m is None:
            raise ValueError(f"expected a duration such as 30s or 200ms, got {text!r}")
        unit = m.group(2) or default_unit
        value = float(m.group(1)) * _SECONDS_PER_UNIT[unit]
    if not 0 <= value < float("inf"):
        raise ValueError(f"expected a non-negative duration, got {text!r}")
    return value


def parse_positive_number(text: str | int | float, what: str = "number") -> float:
    if isinstance(text, bool):
        raise ValueError(f"expected a positive {what}, got {text!r}")
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"expected a positive {what}, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"expected a positive {what}, got {text!r}")
    return value


def parse_positive_int(text: str | int, what: str = "integer") -> int:
    if isinstance(text, bool) or (isinstance(text, float) and not text.is_integer()):
        raise ValueError(f"expected a positive {what}, got {text!r}")
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"expected a positive {what}, got {text!r}") from None
    if value <= 0:
        raise ValueError(f"expected a positive {what}, got {text!r}")
    return value


def parse_ratio(text: str | int | float) -> float:
    """A share in 0..1 from ``"2%"``, ``"0.02"`` or ``0.02``."""
    if isinstance(text, bool):
        raise ValueError(f"expected a share such as 2% or 0.02, got {text!r}")
    try:
        if isinstance(text, str) and text.strip().endswith("%"):
            value = float(text.strip()[:-1]) / 100.0
        else:
            value = float(text)
    except ValueError:
        raise ValueError(f"expected a share such as 2% or 0.02, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"expected a share between 0 and 1 (0%..100%), got {text!r}")
    return value


def format_duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    if seconds >= 1:
        return f"{seconds:.4g}s"
    return f"{seconds * 1000:.4g}ms"
