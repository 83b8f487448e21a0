"""Making request bodies quickly: alias layouts drawn once, dates without strftime.

``build_body`` draws an alias per field per call, which costs more than the rest of
a permit push put together (it stays the one place that knows how a body is laid
out: it is asked, not copied). ``BodyLayouts`` calls it a few hundred times at start-up
with placeholder values, keeps the key layouts it chose (credentials included, so
their placement still comes from ``build_body`` alone), and per call only fills a
layout in. ``WallClock`` writes OPSCOM's ``Y-m-d\\TH:i:s`` from run time with a
cached date part, ~5x cheaper than ``strftime``.

Every body a generator makes goes through ``compact``: ``orjson.dumps`` hands back
its write buffer, at least 4 KiB, as the bytes object (3.13 does not shrink it), so a
100-byte body held for a while (a pre-built plate call, a follow-up waiting for its
time, a call in the engine's backlog) costs 4 KiB of memory; an exact-size copy
costs ~0.15 us.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from harness.opscom.builders import Ref, build_body, encode_body, format_datetime
from harness.opscom.endpoints import Endpoint, Kind

ABSENT: Final = object()  # a value that leaves its field out of the body
_DAYS_CACHED = 16  # date prefixes WallClock keeps: today, and the days permits end on
_EPOCH = datetime(1970, 1, 1)


class _Slot:
    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


# How a layout entry is filled in.
_CONST, _PLAIN, _REF_ID, _REF_NAME = range(4)


def compact(data: bytes) -> bytes:
    """``data`` in a bytes object of its own exact size (see the module docstring).
    ``bytes(data)`` or a full slice would hand back the same object."""
    return bytes(memoryview(data))


def encode_compact(body: Mapping[str, Any]) -> bytes:
    """A body as JSON bytes: ``encode_body``, without the slack."""
    return compact(encode_body(body))


def _placeholders(
    endpoint: Endpoint, names: Sequence[str]
) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
    """Placeholder values for ``build_body``, and how to read back which alias it
    chose: a REF field gets a ``Ref`` whose id and name both identify the slot, so
    the value build_body writes tells an id alias from a name alias."""
    values: dict[str, Any] = {}
    refs: dict[str, tuple[int, int]] = {}
    for i, name in enumerate(names):
        if endpoint.field(name).kind is Kind.REF:
            ref = Ref(-(i + 1), f"\x00slot{i}")
            values[name] = ref
            refs[str(ref.id)] = (i, _REF_ID)
            refs[ref.name] = (i, _REF_NAME)
        else:
            values[name] = _Slot(i)
    return values, refs


class BodyLayouts:
    """Alias layouts of ``endpoint`` for the canonical fields ``names``.

    ``encode(values, pick)`` writes ``values`` (in ``names`` order; ``ABSENT`` leaves
    a field out) under layout ``pick`` (any int: taken modulo the number of
    layouts, a power of two). A REF field takes a ``Ref``, written as its id or its
    name as the layout's alias wants. With a fixed alias index there is one layout."""

    def __init__(
        self,
        endpoint: Endpoint,
        names: Sequence[str],
        *,
        token: str | None,
        client: str | None = None,
        alias: int | random.Random = 0,
        count: int = 256,
    ) -> None:
        n = 1 if isinstance(alias, int) else count
        if n & (n - 1):
            raise ValueError("count must be a power of two")
        placeholders, refs = _placeholders(endpoint, names)
        layouts = []
        for _ in range(n):
            body = build_body(
                endpoint, token=token, client=client, values=placeholders, alias=alias
            )
            entries = []
            for key, value in body.items():
                if isinstance(value, _Slot):
                    entries.append((key, value.index, _PLAIN, None))
                elif isinstance(value, str) and value in refs:
                    entries.append((key, *refs[value], None))
                else:
                    entries.append((key, -1, _CONST, value))
            layouts.append(tuple(entries))
        self._layouts = layouts
        self._mask = n - 1

    def encode(self, values: Sequence[Any], pick: int = 0) -> bytes:
        body = {}
        for key, index, mode, constant in self._layouts[pick & self._mask]:
            if mode == _CONST:
                body[key] = constant
                continue
            value = values[index]
            if value is ABSENT:
                continue
            if mode != _PLAIN and type(value) is Ref:
                value = str(value.id) if mode == _REF_ID else value.name
            body[key] = value
        return compact(orjson.dumps(body))


class WallClock:
    """Run time (seconds since t=0) as wall-clock datetimes and OPSCOM date strings."""

    def __init__(self, wall_start: datetime) -> None:
        if wall_start.tzinfo is not None:
            wall_start = wall_start.astimezone(UTC).replace(tzinfo=None)
        self.start = wall_start
        self._start_us = (wall_start - _EPOCH) // timedelta(microseconds=1)
        self._days: dict[int, str] = {}

    def at(self, now: float) -> datetime:
        return self.start + timedelta(seconds=now)

    def format(self, now: float) -> str:
        """``format_datetime(self.at(now))``, whole seconds, without strftime."""
        seconds = (self._start_us + round(now * 1_000_000)) // 1_000_000
        day, second = divmod(seconds, 86_400)
        prefix = self._days.get(day)
        if prefix is None:
            if len(self._days) >= _DAYS_CACHED:  # a long soak crosses many days: bound it
                self._days.clear()
            prefix = self._days[day] = format_datetime(_EPOCH + timedelta(days=day))[:10] + "T"
        minute, second = divmod(second, 60)
        return prefix + _HOUR_MINUTES[minute] + _SECONDS[second]


# "HH:MM:" for every minute of a day, and "SS": a time of day is two lookups.
_HOUR_MINUTES: Final = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SECONDS: Final = tuple(f"{s:02d}" for s in range(60))
