"""Completed seconds of the timeline, stored in columns.

A soak keeps one timeline row per second for its whole length: 7,200 of them for a
2-hour run, each with nine endpoints. As Python objects (a ``Second``, a dict, nine
``NameSecond`` with their floats and ints) a row costs some 4 KB, allocated in small
pieces between the engine's short-lived ones, so the resident set grows by more
than the objects' size. Here a row is a few slots in typed arrays and its encoded
histogram a slice of one bytearray: about 1 KB a second, in a handful of large
blocks. ``Timeline`` keeps the last minute as objects (late ticks and the live
view's per-name histograms need them) and moves older seconds here.

Rows are appended in increasing ``t``. A row rewritten later (a tick more than a
minute late, which folds into its second) is kept whole in a small override map.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.timeline import Second


class _NameColumns:
    """One request name's values, for the rows that had it."""

    __slots__ = ("rows", "counts", "pcts", "outcomes")

    def __init__(self) -> None:
        self.rows = array("q")  # row indices, increasing
        self.counts = array("q")  # requests, errors per entry
        self.pcts = array("d")  # p50, p99, max per entry
        self.outcomes: dict[int, dict[str, int]] = {}  # entry -> non-ok outcomes, when any


class ColdSeconds:
    def __init__(self) -> None:
        self._t = array("q")
        self._counts = array("q")  # requests, errors per row
        self._pcts = array("d")  # p50, p99, max per row
        self._latency = bytearray()  # the rows' encoded histograms, end to end
        self._latency_end = array("q")  # row i's histogram ends here
        self._names: dict[str, _NameColumns] = {}
        self._replaced: dict[int, Second] = {}  # row index -> a row rewritten after it was stored

    def __len__(self) -> int:
        return len(self._t)

    @property
    def last_t(self) -> int | None:
        return self._t[-1] if self._t else None

    def append(self, row: Second) -> None:
        """Store ``row``, whose ``t`` must be above every stored one."""
        if self._t and row.t <= self._t[-1]:
            raise ValueError(f"second {row.t} is not after {self._t[-1]}")
        i = len(self._t)
        self._t.append(row.t)
        self._counts.extend((row.requests, row.errors))
        self._pcts.extend((row.p50_ms, row.p99_ms, row.max_ms))
        self._latency += row.latency.encode("ascii")
        self._latency_end.append(len(self._latency))
        for name, ns in row.names.items():
            col = self._names.get(name)
            if col is None:
                col = self._names[name] = _NameColumns()
            if ns.outcomes:
                col.outcomes[len(col.rows)] = dict(ns.outcomes)
            col.rows.append(i)
            col.counts.extend((ns.requests, ns.errors))
            col.pcts.extend((ns.p50_ms, ns.p99_ms, ns.max_ms))

    def index(self, t: int) -> int | None:
        i = bisect_left(self._t, t)
        return i if i < len(self._t) and self._t[i] == t else None

    def get(self, t: int) -> Second | None:
        i = self.index(t)
        return None if i is None else self._row(i)

    def replace(self, row: Second) -> None:
        """Rewrite a stored second (rare: kept whole rather than re-packed)."""
        i = self.index(row.t)
        if i is None:
            raise KeyError(row.t)
        self._replaced[i] = row

    def __iter__(self) -> Iterator[Second]:
        for i in range(len(self._t)):
            yield self._row(i)

    def _row(self, i: int) -> Second:
        from harness.timeline import NameSecond, Second

        replaced = self._replaced.get(i)
        if replaced is not None:
            return replaced
        names = {}
        for name, col in self._names.items():
            k = bisect_left(col.rows, i)
            if k < len(col.rows) and col.rows[k] == i:
                names[name] = NameSecond(col.counts[2 * k], col.counts[2 * k + 1], col.pcts[3 * k],
                                         col.pcts[3 * k + 1], col.pcts[3 * k + 2], col.outcomes.get(k, {}))
        start = self._latency_end[i - 1] if i else 0
        latency = self._latency[start:self._latency_end[i]].decode("ascii")
        return Second(self._t[i], self._counts[2 * i], self._counts[2 * i + 1], self._pcts[3 * i],
                      self._pcts[3 * i + 1], self._pcts[3 * i + 2], latency, names)
