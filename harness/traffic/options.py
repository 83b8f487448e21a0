"""Reading a generator's ``[traffic.<name>]`` table: typed getters, one-line errors.

Every generator reads its options through an ``Options``: each getter takes the key
and its default, checks the value, and remembers the key; ``finish()`` then refuses
any key nobody asked for, so a typo (``update_shar = 0.5``) ends the run with one
line naming it instead of being silently ignored::

    scenarios/smoke.toml: [traffic.meters] followup_delay: expected a range such as '2s..20s', got 'x'

Durations are written ``500ms``, ``2s``, ``1.5m``, ``1h`` or as a bare number of
seconds; ranges as ``"2s..20s"`` (a single duration is a range of one value).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from harness import units
from harness.errors import ConfigError
from harness.usage import suggest


def parse_duration(text: Any) -> float | None:
    """Seconds in ``text`` ("500ms", "2s", "1.5m", "1h", 3), or None if it is not one."""
    try:
        return units.parse_duration(text)
    except ValueError:
        return None


def parse_range(text: Any) -> tuple[float, float] | None:
    """``"2s..20s"`` as (2.0, 20.0); a single duration as (d, d); None if malformed."""
    if isinstance(text, str) and ".." in text:
        lo_text, _, hi_text = text.partition("..")
        lo, hi = parse_duration(lo_text), parse_duration(hi_text)
        if lo is None or hi is None or lo > hi:
            return None
        return lo, hi
    d = parse_duration(text)
    return None if d is None else (d, d)


def _is_number(value: Any) -> bool:
    # TOML booleans are ints in Python; a weight of `true` is a mistake, not 1.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class Options:
    """The options of one generator, read once at construction."""

    def __init__(self, table: Mapping[str, Any] | None, where: str) -> None:
        if table is not None and not isinstance(table, Mapping):
            raise ConfigError(f"{where}: expected a table of options, got {table!r}")
        self._table = dict(table or {})
        self._where = where
        self._read: set[str] = set()

    def error(self, key: str, expected: str, value: Any) -> ConfigError:
        """The one-line error for ``key``; raise it."""
        return ConfigError(f"{self._where} {key}: expected {expected}, got {value!r}")

    def has(self, key: str) -> bool:
        return key in self._table

    def raw(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        return self._table.get(key, default)

    def duration_range(self, key: str, default: str) -> tuple[float, float]:
        value = self.raw(key, default)
        rng = parse_range(value)
        if rng is None:
            raise self.error(key, "a range such as '2s..20s'", value)
        return rng

    def probability(self, key: str, default: float) -> float:
        value = self.raw(key, default)
        if not _is_number(value) or not 0.0 <= value <= 1.0:
            raise self.error(key, "a number between 0 and 1", value)
        return float(value)

    def number(
        self, key: str, default: float, *, minimum: float = 0.0, above: bool = False
    ) -> float:
        value = self.raw(key, default)
        if not _is_number(value) or value < minimum or (above and value == minimum):
            bound = f"above {minimum:g}" if above else f"at least {minimum:g}"
            raise self.error(key, f"a number {bound}", value)
        return float(value)

    def integer(self, key: str, default: int, *, minimum: int = 0) -> int:
        value = self.raw(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.error(key, f"an integer of at least {minimum}", value)
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "true or false", value)
        return value

    def strings(self, key: str, default: Sequence[str], *, min_items: int = 1) -> tuple[str, ...]:
        """A list of non-empty strings; a single string is a list of one."""
        value = self.raw(key, default)
        items = [value] if isinstance(value, str) else value
        if (
            not isinstance(items, list | tuple)
            or len(items) < min_items
            or not all(isinstance(s, str) and s for s in items)
        ):
            raise self.error(key, f"a list of at least {min_items} non-empty string(s)", value)
        return tuple(items)

    def choice_list(self, key: str, choices: Collection[Any], what: str) -> tuple[Any, ...] | None:
        """A list whose every item is one of ``choices``; None when the key is absent."""
        if key not in self._table:
            self._read.add(key)
            return None
        value = self.raw(key)
        items = [value] if not isinstance(value, list | tuple) else value
        bad = [v for v in items if isinstance(v, bool) or v not in choices]
        if not items or bad:
            shown = ", ".join(map(str, sorted(choices)))
            raise self.error(key, f"a list of {what} ({shown})", bad[0] if bad else value)
        return tuple(dict.fromkeys(items))  # keep order, drop repeats

    def weights(self, key: str, defaults: Mapping[str, float]) -> dict[str, float]:
        """A sub-table of non-negative weights over ``defaults``' keys; keys left out
        keep their default, so ``weights = {pushed = 0}`` changes one population."""
        value = self.raw(key, None)
        if value is None:
            return dict(defaults)
        if not isinstance(value, Mapping):
            raise self.error(key, f"a table of weights over {', '.join(defaults)}", value)
        out = dict(defaults)
        for name, w in value.items():
            if name not in defaults:
                raise ConfigError(
                    f"{self._where} {key}.{name}: unknown name (known: {', '.join(defaults)})"
                    f"{suggest(name, defaults)}"
                )
            if not _is_number(w) or w < 0:
                raise self.error(f"{key}.{name}", "a non-negative number", w)
            out[name] = float(w)
        if sum(out.values()) <= 0:
            raise self.error(key, "weights with a positive total", value)
        return out

    def alias(self, key: str = "alias") -> int | None:
        """``"random"`` (None: a random alias per field) or a fixed alias index."""
        value = self.raw(key, "random")
        if value == "random":
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise self.error(key, "'random' or an alias index (0, 1, ...)", value)

    def finish(self) -> None:
        """Refuse the keys no getter asked for."""
        unknown = [k for k in self._table if k not in self._read]
        if unknown:
            known = ", ".join(sorted(self._read))
            raise ConfigError(
                f"{self._where} {unknown[0]}: unknown option (known: {known}){suggest(unknown[0], self._read)}"
            )
