"""``Call``: one request to make, and ``TrafficSource``: what makes them.

A source decides *what* is sent; a pacer (``harness.pacing``) decides *when*. The
engine asks ``next_call(now)`` once per arrival and hands back the decoded answer
through ``on_result`` for calls that asked for it (``feedback=True``), which is how
a permit push's reference id reaches the later update or delete (correlation).
Recordings will implement the same protocol, so replay and synthetic load share the
engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from harness.opscom.endpoints import Endpoint, Service
from harness.opscom.outcome import Outcome
from harness.opscom.reference_data import ReferenceData


class Call:
    """One request: endpoint, path, pre-encoded JSON body, and what it must answer.

    Immutable by convention once made, except ``wire``: a transport may cache the
    request's encoded bytes there (a source may hand out the same Call many times,
    e.g. a plate lookup, and the transport then encodes it once).
    """

    __slots__ = ("endpoint", "plate_service", "path", "body", "expect", "feedback", "tag", "wire")

    def __init__(
        self,
        endpoint: Endpoint,
        path: str,
        body: bytes,
        *,
        expect: Outcome | None = None,
        feedback: bool = False,
        tag: Any = None,
    ) -> None:
        self.endpoint = endpoint
        # Which base URL answers: the plate service may live on another host.
        self.plate_service = endpoint.service is Service.PLATE
        self.path = path
        self.body = body
        # Deliberately invalid calls carry the outcome they must get back; any other
        # answer is a contract violation, counted apart from load errors.
        self.expect = expect
        self.feedback = feedback
        self.tag = tag
        self.wire: bytes | None = None

    def __repr__(self) -> str:
        exp = f" expect={self.expect.key}" if self.expect is not None else ""
        return f"Call({self.endpoint.name} {self.path}{exp})"


class TrafficSource(Protocol):
    """Makes calls. ``now`` is seconds since the run's start (its intended time)."""

    def next_call(self, now: float) -> Call | None:
        """The next call to send; None when the source is exhausted (ends the run)."""
        ...

    def on_result(self, call: Call, outcome: Outcome, doc: Any, now: float) -> None:
        """The answer to a call made with ``feedback=True``; ``doc`` is the decoded
        body (None if undecodable or never answered)."""
        ...


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

    def __post_init__(self) -> None:
        if not self.client:
            raise ValueError("client code must not be empty")
        if not 0 <= self.worker < self.workers:
            raise ValueError(f"worker {self.worker} outside 0..{self.workers - 1}")
