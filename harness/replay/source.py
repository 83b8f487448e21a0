"""``ReplaySource``: one worker's recorded calls as a ``TrafficSource``.

Each recorded call becomes a ``Call``: the real token put back for its placeholder
(``<rejected-token>`` becomes a token no target knows, ``<restricted-token>`` the
restricted one), the recorded client code replaced by the target's in the path
and the plate service's ``client`` field, a copy's own identities (``variants``),
and every id it ``uses`` replaced by the one the target returned for the same
answer of the same copy.

Correlation. A call whose recorded answer had ids (a push's reference id) is a
*parent*: from its send until its answer, its recorded ids are pending. A call
that uses an id

- that was answered: takes the replayed id, and goes now;
- that is pending: is held (the engine parks it) until the parent's answer, then
  goes with the new id, its latency still counted from its intended time; or is
  ``orphaned`` if the parent failed or no answer came within ``wait_s``;
- that failed, or whose parent was never replayed (before ``--from``, evicted
  from the bounded memory of ids): is ``orphaned`` at once, not sent blindly.

Behaviour diff. Every answer is compared with the recorded one (outcome keys:
``ok``, an API code, ``http_<status>``, a transport failure); each comparison and
each difference is counted in the worker's ``Metrics`` (``diff|...`` counters,
merged across workers) with a few examples, which ``harness.replay.diff`` turns
into summary.json's ``diff`` section.

Expected answers. A recorded API error (or a 4xx without one) is the answer the
replayed call must get (``Call.expect``): reproduced, it counts as ``expected``,
not as a load error; answered otherwise it is a contract violation, as for the
``invalid`` generator's deliberate errors.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from harness.opscom.endpoints import ENDPOINTS, Service, client_segment
from harness.opscom.outcome import ORPHANED, Outcome, OutcomeKind, outcome_for_key
from harness.recording.correlate import answer_ids
from harness.recording.format import RecordedCall, _raw_body
from harness.recording.names import OTHER
from harness.recording.redact import (
    CREDENTIAL_FIELDS,
    REDACTED,
    REJECTED_TOKEN,
    RESTRICTED_TOKEN,
    TOKEN,
)
from harness.replay import variants
from harness.replay.schedule import Cursor, ReplayOptions
from harness.traffic.call import HOLD, Call, TrafficContext

PRODUCED_KEPT = 200_000  # replayed ids remembered per worker (oldest forgotten first)
SWEEP_S = 0.25
WIRES_KEPT = 4096
_ENDPOINTS = dict(ENDPOINTS)
_PLATE = Service.PLATE
_NONE: list[Any] = []  # shared, never mutated
# A token no target knows, for calls recorded with one the server refused (9034).
UNKNOWN_TOKEN = "replay-unknown-token-0000000000"


def _key(value: Any) -> Any:
    return str(value) if type(value) is int else value


class ReplayTag:
    __slots__ = ("line", "variant", "recorded", "produces", "chain")

    def __init__(self, line: int, variant: int, recorded: str | None, produces: list[tuple[str, Any]],
                 chain: tuple[int, int] | None) -> None:
        self.line = line
        self.variant = variant
        self.recorded = recorded  # the recorded outcome key, if known
        self.produces = produces  # (answer key, recorded id) of ids later calls may use
        self.chain = chain  # (variant, chain key) of a call in a chain (it may have followers)


class _Waiting:
    """A held call: what it still needs before it can go."""

    __slots__ = ("call", "body", "raw", "path", "query", "needs", "found", "deadline", "done")

    def __init__(self, call: Call, body: Any, raw: bytes | None, path: str, query: str, needs: set[Any],
                 found: dict[Any, Any], deadline: float) -> None:
        self.call, self.body, self.raw, self.path, self.query = call, body, raw, path, query
        self.needs, self.found, self.deadline = needs, found, deadline
        self.done = False


class ReplaySource:
    def __init__(self, options: ReplayOptions, names: frozenset[str], ctx: TrafficContext) -> None:
        self.options = options
        self.names = names
        self.metrics = ctx.metrics
        self.cursor = Cursor(options, ctx.worker, ctx.workers)
        self.cursor.register()
        self._units: Iterator[tuple[int, int, RecordedCall, int]] | None = None
        self._tokens = {TOKEN: ctx.token, REJECTED_TOKEN: UNKNOWN_TOKEN,
                        RESTRICTED_TOKEN: ctx.restricted_token or ctx.token}
        self._copy_bodies = options.multiplier > 1
        rc = options.recorded_client
        self._client = (f"/api/{rc}/", f"/api/{client_segment(options.client)}/") if rc and rc != options.client \
            else None
        self._plate_client = (rc, options.client) if rc and rc != options.client else None
        self._expect: dict[str | None, Outcome | None] = {}
        self.produced: dict[tuple[int, Any], Any] = {}  # (variant, recorded id) -> replayed id
        self.failed: dict[tuple[int, Any], None] = {}  # parents that failed (bounded like produced)
        # What held calls wait for -> who waits: (variant, recorded id) of a parent in
        # flight, or ("after", id(call)) of the previous call of a chain.
        self.pending: dict[tuple[Any, Any], list[_Waiting]] = {}
        self.chain_tail: dict[tuple[int, int], Call] = {}  # the last call of a chain, until answered
        self._held: deque[_Waiting] = deque()
        self._release: Callable[..., None] | None = None
        self._sweeping = False
        self._diff_keys: dict[str, tuple[str, str]] = {}
        self._wires: dict[tuple[Any, ...], Call] = {}  # request -> a call that carried it (see _share_wire)

    # --- TrafficSource -------------------------------------------------------------------

    def bind_release(self, release: Callable[..., None]) -> None:
        self._release = release

    def next_call(self, hit: int, now: float) -> Call | None:
        if self.options.speed is None:  # the closed model: the next unit in order
            if self._units is None:
                self._units = self.cursor.units()
            unit = next(self._units, None)
            if unit is None:
                return None
            call, variant = unit[2], unit[3]
        else:
            call, variant = self.cursor.current.pop(hit)
        return self._make(call, variant)

    def on_result(self, call: Call, outcome: Outcome, doc: Any, now: float) -> None:
        tag: ReplayTag = call.tag
        if tag.recorded is not None and outcome.kind is not OutcomeKind.NOT_SENT:
            self._compare(call, tag, outcome)
        if tag.produces:
            self._answered(tag, outcome, doc)
        if tag.chain is not None:
            if self.chain_tail.get(tag.chain) is call:
                del self.chain_tail[tag.chain]
            after = ("after", id(call))
            for w in self.pending.pop(after, ()):
                if not w.done:
                    w.needs.discard(after)
                    if not w.needs:
                        self._go(w)

    # --- one call ----------------------------------------------------------------------------

    def _make(self, rec: RecordedCall, variant: int) -> Call:
        doc = rec.doc
        get = doc.get
        endpoint_name = get("endpoint")
        endpoint = _ENDPOINTS[endpoint_name] if endpoint_name is not None else None
        body = get("body")
        if type(body) is dict:
            if self._copy_bodies:
                body = dict(body)
            tokens = self._tokens
            for field in CREDENTIAL_FIELDS:
                value = body.get(field)
                if value is not None and value in tokens:
                    body[field] = tokens[value]
            if self._plate_client is not None and body.get("client") == self._plate_client[0]:
                body["client"] = self._plate_client[1]
            if variant:
                variants.apply(body, variant)
        raw = _raw_body(doc) if body is None else None
        path = doc["path"]
        if self._client is not None and path.startswith(self._client[0]):
            path = self._client[1] + path[len(self._client[0]):]
        if endpoint is not None:
            name, plate = endpoint_name, endpoint.service is _PLATE
        else:
            name = get("name")
            name, plate = (name if name in self.names else OTHER), get("service") == "plate"
        answer = get("answer")
        uses = get("uses")
        if answer:
            ids = answer.get("ids")
            produces = [(k, v) for k, v in ids.items() if not uses or v not in uses] if ids else _NONE
            recorded = answer.get("outcome")
        else:
            produces, recorded = _NONE, None
        chain = (variant, rec.shard_key) if produces or rec.chain is not None else None
        headers = get("headers")
        headers = tuple((k, v) for k, v in headers if v != REDACTED) if headers else ()
        call = Call(endpoint, path, b"", method=get("method", "POST"), query=get("query", ""), headers=headers,
                    name=name, plate_service=plate, expect=self._expected(recorded), feedback=True,
                    tag=ReplayTag(rec.line, variant, recorded, produces, chain))
        if chain is None:
            call.body = encoded = _encode(body, raw)
            self._share_wire(call, (encoded, path, call.query, call.method, headers, plate))
            return call
        self._made_parent(call)
        self._correlate(call, uses or _NONE, body, raw, path, variant)
        self.chain_tail[chain] = call
        return call

    def _share_wire(self, call: Call, key: tuple[Any, ...]) -> None:
        """A request sent before, byte for byte (a hot plate's lookup), reuses the
        bytes the transport encoded for it then (``Call.wire``): encoding a request
        costs more than the rest of making it."""
        wires = self._wires
        seen = wires.get(key)
        if seen is None:
            wires[key] = call
            if len(wires) > WIRES_KEPT:
                del wires[next(iter(wires))]
        elif seen.wire is not None:
            call.wire = seen.wire

    def _expected(self, recorded: str | None) -> Outcome | None:
        try:
            return self._expect[recorded]
        except KeyError:
            outcome = outcome_for_key(recorded) if recorded is not None else None
            if outcome is not None and not (outcome.kind is OutcomeKind.API_ERROR or (
                    outcome.kind is OutcomeKind.HTTP_ERROR and not outcome.load_failure)):
                outcome = None
            self._expect[recorded] = outcome
            return outcome

    def _made_parent(self, call: Call) -> None:
        """Its ids are pending from now until its answer (held or sent, it will have one)."""
        tag: ReplayTag = call.tag
        for _, recorded in tag.produces:
            self.pending.setdefault((tag.variant, _key(recorded)), [])

    # --- correlation -------------------------------------------------------------------------

    def _correlate(self, call: Call, uses: list[Any], body: Any, raw: bytes | None, path: str,
                   variant: int) -> None:
        """A call of a chain: it goes now with the replayed ids, is held until its
        parents have answered and the call before it in its chain has, or is orphaned."""
        found: dict[Any, Any] = {}
        needs: set[Any] = set()
        for used in uses:
            k = (variant, _key(used))
            new = self.produced.get(k)
            if new is not None:
                found[_key(used)] = new
            elif k in self.pending:
                needs.add(k)
            else:
                self._orphan(call, "its parent failed" if k in self.failed else "its parent was not replayed")
                return
        previous = self.chain_tail.get(call.tag.chain)
        if previous is not None:  # keep the chain's order: after the previous call's answer
            after = ("after", id(previous))
            needs.add(after)
            self.pending.setdefault(after, [])
        if not needs:
            call.body, call.path, call.query = _substitute(body, raw, path, call.query, found)
            return
        waiting = _Waiting(call, body, raw, path, call.query, needs, found,
                           time.monotonic() + self.options.wait_s)
        for k in needs:
            self.pending[k].append(waiting)
        self._held.append(waiting)
        call.hold = HOLD
        self._arm_sweep()

    def _answered(self, tag: ReplayTag, outcome: Outcome, doc: Any) -> None:
        new_ids = answer_ids(doc) if outcome.ok else {}
        for answer_key, recorded in tag.produces:
            k = (tag.variant, _key(recorded))
            waiters = self.pending.pop(k, None)
            new = new_ids.get(answer_key)
            if new is not None:
                _remember(self.produced, k, new)
                self.failed.pop(k, None)
            else:
                _remember(self.failed, k, None)
            for w in waiters or ():
                if w.done:
                    continue
                if new is None:
                    self._end(w, "its parent failed")
                    continue
                w.needs.discard(k)
                w.found[k[1]] = new
                if not w.needs:
                    self._go(w)

    def _go(self, w: _Waiting) -> None:
        w.done = True
        call = w.call
        call.body, call.path, call.query = _substitute(w.body, w.raw, w.path, w.query, w.found)
        if self._release is not None:
            self._release(call)

    def _end(self, w: _Waiting, why: str) -> None:
        w.done = True
        self._count_orphan(w.call, why)
        if self._release is not None:
            self._release(w.call, ORPHANED)

    def _orphan(self, call: Call, why: str) -> None:
        call.hold = ORPHANED
        self._count_orphan(call, why)

    def _count_orphan(self, call: Call, why: str) -> None:
        m = self.metrics
        if m is not None:
            m.count(f"replay|orphaned|{why}")
            m.example(f"replay|orphaned|{why}", {"line": call.tag.line + 2, "name": call.name, "path": call.path})

    def _arm_sweep(self) -> None:
        if not self._sweeping:
            self._sweeping = True
            asyncio.get_running_loop().call_later(SWEEP_S, self._sweep)

    def _sweep(self) -> None:
        """Held calls waiting past ``wait_s`` are orphaned (parents answer within their
        timeout, but a parent may itself be held, or stuck behind a full backlog)."""
        self._sweeping = False
        now = time.monotonic()
        held = self._held
        while held and (held[0].done or held[0].deadline <= now):
            w = held.popleft()
            if not w.done:
                self._end(w, "its parent did not answer in time")
        if held:
            self._arm_sweep()

    # --- the diff -----------------------------------------------------------------------------

    def _compare(self, call: Call, tag: ReplayTag, outcome: Outcome) -> None:
        m = self.metrics
        if m is None:
            return
        keys = self._diff_keys.get(call.name)
        if keys is None:
            keys = self._diff_keys[call.name] = (f"diff|compared|{call.name}", f"diff|changed|{call.name}")
        counters = m.counters
        counters[keys[0]] = counters.get(keys[0], 0) + 1
        if outcome.key != tag.recorded:
            counters[keys[1]] = counters.get(keys[1], 0) + 1
            change = f"diff|change|{tag.recorded}|{outcome.key}|{call.name}"
            counters[change] = counters.get(change, 0) + 1
            m.example(f"diff|example|{call.name}", {"line": tag.line + 2, "copy": tag.variant, "method": call.method,
                                                    "path": call.path, "recorded": tag.recorded,
                                                    "replayed": outcome.key})


def _remember(store: dict[Any, Any], key: Any, value: Any) -> None:
    store[key] = value
    if len(store) > PRODUCED_KEPT:
        del store[next(iter(store))]


def _encode(body: Any, raw: bytes | None) -> bytes:
    if body is not None:
        return orjson.dumps(body)
    return raw or b""


def _substitute(body: Any, raw: bytes | None, path: str, query: str,
                found: dict[Any, Any]) -> tuple[bytes, str, str]:
    """The request with each used recorded id (keys of ``found``) replaced by its replayed id."""
    if type(body) is dict:
        for k, v in body.items():
            if type(v) in (str, int):
                new = found.get(_key(v))
                if new is not None:
                    body[k] = new
    if any(s in found for s in path.split("/")):
        path = "/".join(str(found.get(s, s)) for s in path.split("/"))
    if query:
        parts = []
        for item in query.split("&"):
            name, sep, value = item.partition("=")
            parts.append(f"{name}={found[value]}" if sep and value in found else item)
        query = "&".join(parts)
    if body is None and raw:  # a text body: the id as it is written there
        text = raw.decode("utf-8", "replace")
        for old, new in found.items():
            text = text.replace(str(old), str(new))
        raw = text.encode()
    return _encode(body, raw), path, query
