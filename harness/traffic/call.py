"""``Call``: one request to make, and ``TrafficSource``: what makes them.

A source decides *what* is sent; a pacer (``harness.pacing``) decides *when*. The
engine asks ``next_call(hit, now)`` once per arrival and hands back the decoded answer
through ``on_result`` for calls that asked for it (``feedback=True``), which is how
a permit push's reference id reaches the later update or delete (correlation).
Recordings will implement the same protocol, so replay and synthetic load share the
engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from harness.names import name_number
from harness.opscom.endpoints import Endpoint, Service
from harness.opscom.outcome import Outcome
from harness.opscom.reference_data import ReferenceData

Header = tuple[str, str]

# ``Call.hold``: the engine parks the call until the source releases it (replay: a
# call waiting for its parent's answer). See ``HoldingSource``.
HOLD: Final = "hold"


class Call:
    """One request: what to send (method, path, query, headers, body), under which
    name it is measured, and what it must answer.

    An OPSCOM call has its ``endpoint``; its answer is classified by the OPSCOM model
    (error body first, status second). A call that is not one (``endpoint=None``: a
    recorded health check, another API) is classified by its HTTP status alone and
    must be given a ``name``.

    Immutable by convention once made, except ``wire``: a transport may cache the
    request's encoded bytes there (a source may hand out the same Call many times,
    e.g. a plate lookup, and the transport then encodes it once); ``hold``, which
    the engine clears when it releases a held call; and ``owner``: a source that
    combines others (the mix) notes there which one made a feedback call, so its
    answer finds the way back without a table of calls in flight.

    ``hold`` (None for almost every call): ``HOLD`` parks the call in the engine
    until its source releases it; an ``Outcome`` of the not-sent kind (``orphaned``)
    ends the hit at once without sending it.
    """

    __slots__ = (
        "endpoint", "name", "key", "plate_service", "method", "path", "query", "headers",
        "body", "expect", "feedback", "tag", "wire", "hold", "owner",
    )

    def __init__(
        self,
        endpoint: Endpoint | None,
        path: str,
        body: bytes = b"",
        *,
        method: str = "POST",
        query: str = "",
        headers: tuple[Header, ...] = (),
        name: str | None = None,
        plate_service: bool | None = None,
        expect: Outcome | None = None,
        feedback: bool = False,
        tag: Any = None,
    ) -> None:
        self.endpoint = endpoint
        if name is None:
            if endpoint is None:
                raise ValueError("a call that is not an OPSCOM endpoint needs a name")
            name = endpoint.name
        self.name = name
        self.key = name_number(name)  # the metrics slot of this name, in this process
        # Which base URL answers: the plate service may live on another host.
        if plate_service is None:
            plate_service = endpoint is not None and endpoint.service is Service.PLATE
        self.plate_service = plate_service
        self.method = method
        self.path = path
        self.query = query  # already percent-encoded, without the "?"
        self.headers = headers  # extra request headers, beyond the transport's own
        self.body = body
        # Deliberately invalid calls carry the outcome they must get back; any other
        # answer is a contract violation, counted apart from load errors.
        self.expect = expect
        self.feedback = feedback
        self.tag = tag
        self.wire: bytes | None = None
        self.hold: Any = None
        self.owner: Any = None

    @property
    def target(self) -> str:
        """Path and query, as on the request line (without any base path)."""
        return f"{self.path}?{self.query}" if self.query else self.path

    def __repr__(self) -> str:
        exp = f" expect={self.expect.key}" if self.expect is not None else ""
        return f"Call({self.name}: {self.method} {self.target}{exp})"


class TrafficSource(Protocol):
    """Makes calls. ``hit`` is the number of the hit in the run's one schedule (the
    same numbering on every worker: worker k of N gets k, k+N, ... for the shaped
    arrivals; a recording's own call numbers for replay); ``now`` is its intended
    time in seconds since the run's start."""

    def next_call(self, hit: int, now: float) -> Call | None:
        """The next call to send; None when the source is exhausted (ends the run)."""
        ...

    def on_result(self, call: Call, outcome: Outcome, doc: Any, now: float) -> None:
        """The answer to a call made with ``feedback=True``; ``doc`` is the decoded
        body (None if undecodable or never answered).

        The engine calls it exactly once for every such call, including calls that
        were never answered (a transport failure) or never sent (``dropped`` from a
        full backlog, ``unsent`` at the end of the run): a source forgets the call
        here, so what it keeps per call is bounded by the calls in flight."""
        ...


class HoldingSource(TrafficSource, Protocol):
    """A source that hands out calls with ``hold`` set. The engine gives it, before
    the run, the function that ends a hold: ``release(call)`` sends the parked call
    now (its latency still runs from its intended time), ``release(call, outcome)``
    ends it unsent with that outcome. Releasing a call the engine already ended
    (interrupted, drain over) does nothing; a call still parked when the run ends
    is ``unsent``, and its source hears it through ``on_result`` as usual."""

    def bind_release(self, release: Any) -> None: ...


@dataclass(frozen=True, kw_only=True)
class TrafficContext:
    """What every generator needs to know about the run it feeds."""

    client: str
    token: str
    seed: int = 1
    worker: int = 0  # this process's index, so ids made by different workers differ
    workers: int = 1
    run_id: str = "run"  # short, unique per run: vehicles and profiles are unique per run
    wall_start: datetime  # UTC wall-clock time of the run's t=0, for date fields
    reference: ReferenceData  # which plates the target knows, and how
    restricted_token: str | None = None  # a token lacking permissions, to provoke 9002
    # This worker's Metrics, for sources that count something of their own
    # (Metrics.count / Metrics.example: replay's behaviour diff). None in unit tests.
    metrics: Any = None

    def __post_init__(self) -> None:
        if not self.client:
            raise ValueError("client code must not be empty")
        if not 0 <= self.worker < self.workers:
            raise ValueError(f"worker {self.worker} outside 0..{self.workers - 1}")


class SourceSpec(Protocol):
    """What a run sends, as a small picklable description: each worker process
    builds its own source from it (``build``), so nothing big crosses a pipe."""

    def build(self, ctx: TrafficContext) -> TrafficSource:
        """This worker's source (``ctx`` says which worker of how many)."""
        ...

    def names(self) -> tuple[str, ...]:
        """Request names the source may use beyond the catalogue endpoints (for
        validating checks before anything is sent)."""
        ...

    def describe(self) -> dict[str, Any]:
        """What summary.json's plan says about the traffic."""
        ...
