"""A recording played by Locust users: sharded by correlated chain, each call at its
recorded time divided by a speed, the ids of earlier answers carried into later calls.

The recording is the format of ``harness record`` (docs/recording.md), read by its
own reader (``harness.recording.files``).

**Chains.** A call that uses an id an earlier answer gave (the push's
``reference_id`` in the update and the delete that follow) belongs to that call's
chain; chains are the connected groups. Worker k of N plays the chains k, k+N, ...
(whole chains, so an id never has to cross workers) and within a worker any user
may play any call, in recorded order of due time.

**Correlation.** A call that needs ids waits (up to the request timeout) for the
answers of the calls that give them, then is sent with the replayed ids in place of
the recorded ones, wherever they appear (body, path, query). A call whose parent
failed or never answered is not sent: it counts as ``unsent`` and as the counter
``replay.orphaned``.

**Credentials.** The token in a recording is a placeholder: each OPSCOM call's
token field is replaced by the run's token, and the recorded client code by the
run's (in the controller paths and the plate service's ``client`` field).

"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from harness.errors import ConfigError
from harness.opscom.endpoints import ENDPOINTS, Service
from harness.traffic.call import Call

_now_ns = time.perf_counter_ns


@dataclass(slots=True)
class Recorded:
    """One recorded call."""

    index: int  # its place in the recording
    offset_us: int
    endpoint: str | None
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: Any  # a JSON value, or bytes to send as they are
    gives: dict[str, str]  # ids its answer gave: field -> recorded value
    needs: tuple[int, ...] = ()  # indexes of the calls whose ids it uses
    chain: int = -1

    @property
    def name(self) -> str:
        return self.endpoint or f"{self.method} {self.path}"


def read_recording(path: Path) -> tuple[dict[str, Any], list[Recorded]]:
    """The header and the calls, read by the recording format's own reader
    (``harness.recording``): a bad line is a ConfigError naming file and line, a
    truncated last line (a crashed recorder) is skipped with a warning."""
    import sys

    from harness.recording.files import read_calls, read_header

    def warn(text: str) -> None:
        print(f"harness: warning: {text}", file=sys.stderr)

    header = read_header(path)
    calls = [_recorded(c, index) for index, c in enumerate(read_calls(path, warn))]
    if not calls:
        raise ConfigError(f"{path}: no calls after the header")
    link(calls)
    return {"client": header.client, "format": "opscom-recording"}, calls


def _recorded(c: Any, index: int) -> Recorded:
    """A ``harness.recording.format.RecordedCall`` as this scenario plays it."""
    body: Any = c.body
    if body is None:
        raw = c.raw_body
        body = raw if raw is not None else b""
    return Recorded(index=index, offset_us=c.t_us, endpoint=c.endpoint, method=c.method, path=c.path,
                    query=c.query, headers=tuple((str(k), str(v)) for k, v in c.headers),
                    body=body, gives={str(k): str(v) for k, v in c.recorded_ids.items()
                                      if isinstance(v, str | int) and str(v)})


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _segments(path: str, query: str) -> Iterator[str]:
    yield from path.split("/")
    for pair in query.split("&"):
        yield pair.partition("=")[2]


def link(calls: list[Recorded]) -> None:
    """Which earlier answers each call uses, and the chains (connected groups, by
    the index of their first call, numbered in recorded order)."""
    giver: dict[str, int] = {}
    parent = list(range(len(calls)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for call in sorted(calls, key=lambda c: (c.offset_us, c.index)):
        used = {giver[s] for s in _strings(call.body) if s in giver}
        used |= {giver[s] for s in _segments(call.path, call.query) if s in giver}
        call.needs = tuple(sorted(used))
        for i in used:
            parent[root(call.index)] = root(i)
        for value in call.gives.values():
            giver.setdefault(value, call.index)
    numbers: dict[int, int] = {}
    for call in sorted(calls, key=lambda c: (c.offset_us, c.index)):
        call.chain = numbers.setdefault(root(call.index), len(numbers))


# --- playing -----------------------------------------------------------------------------


@dataclass
class _Played:
    """A call's replay: done when answered (or given up), with the ids it gave."""

    done: Any  # gevent.event.Event
    ok: bool = False
    ids: dict[str, str] = field(default_factory=dict)  # recorded value -> replayed value


class ReplayQueue:
    """One process's share of a recording, handed out in order of due time."""

    def __init__(self, calls: list[Recorded], *, shard: tuple[int, int], speed: float, client: str,
                 recorded_client: str, token: str) -> None:
        from gevent.event import Event

        k, n = shard
        self.mine = [c for c in calls if c.chain % n == k]
        self.by_index = {c.index: c for c in self.mine}
        self._heap = [(c.offset_us, c.index) for c in self.mine]
        heapq.heapify(self._heap)
        self.speed = speed
        self.client = client
        self.recorded_client = recorded_client
        self.token = token
        self.played: dict[int, _Played] = {c.index: _Played(Event()) for c in self.mine}

    def __len__(self) -> int:
        return len(self._heap)

    def pop(self) -> Recorded | None:
        """The next call in order of due time, or None when all are out."""
        if not self._heap:
            return None
        return self.by_index[heapq.heappop(self._heap)[1]]

    def due_ns(self, call: Recorded, t0_ns: int) -> int:
        """When ``call`` is due (perf_counter_ns): its offset divided by the speed."""
        return t0_ns + int(call.offset_us * 1000 / self.speed)

    def wait_parents(self, call: Recorded, timeout: float) -> bool:
        """Wait for the answers this call's ids come from; False if one failed or never came."""
        deadline = time.monotonic() + timeout
        for i in call.needs:
            played = self.played.get(i)
            if played is None:
                return False  # another shard's chain: cannot happen when chains are whole
            if not played.done.wait(timeout=max(0.0, deadline - time.monotonic())) or not played.ok:
                return False
        return True

    def build(self, call: Recorded) -> Call:
        """The call as it is sent now: replayed ids, the run's token and client."""
        mapping: dict[str, str] = {}
        for i in call.needs:
            mapping.update(self.played[i].ids)
        endpoint = ENDPOINTS.get(call.endpoint) if call.endpoint else None
        path, query = call.path, call.query
        if self.client != self.recorded_client:
            path = path.replace(f"/api/{self.recorded_client}/", f"/api/{self.client}/", 1)
        for old, new in mapping.items():
            path, query = path.replace(old, new), query.replace(old, new)
        body = call.body
        if not isinstance(body, bytes):
            body = _substituted(body, mapping)
            if endpoint is not None and isinstance(body, dict):
                if endpoint.token_field in body:
                    body[endpoint.token_field] = self.token
                if endpoint.service is Service.PLATE and body.get("client") == self.recorded_client:
                    body["client"] = self.client
            body = orjson.dumps(body)
        headers = tuple((k, v) for k, v in call.headers if k.lower() not in ("content-length", "host", "content-type"))
        return Call(endpoint, path, body, method=call.method, query=query, headers=headers, name=call.name,
                    feedback=True, tag=call)

    def answered(self, call: Recorded, ok: bool, doc: Any) -> None:
        played = self.played[call.index]
        played.ok = ok
        if ok and isinstance(doc, dict):
            for key, recorded in call.gives.items():
                value = doc.get(key)
                if value is not None:
                    played.ids[recorded] = str(value)
        played.done.set()


def _substituted(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, dict):
        return {k: _substituted(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [_substituted(v, mapping) for v in value]
    return value


def recording_seconds(calls: list[Recorded]) -> float:
    return max(c.offset_us for c in calls) / 1e6
