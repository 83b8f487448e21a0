"""Locust users that speak OPSCOM and measure as the harness does.

``OpscomUser`` (a ``FastHttpUser``) sends ``harness.traffic.call.Call`` objects: the
calls the traffic generators make (``send_next``), or any built with
``harness.opscom.builders``. Each request is named after its endpoint in Locust's
statistics, classified by the OPSCOM model (``classify_answer``: error body first,
status second), recorded in the process's ``Metrics`` (HDR histograms, codes,
contract violations), and reported to Locust as a success or as a failure named by
what came back (``harness.locust.failures``); a deliberately invalid call answered
with its expected code is a success.

Latency basis:

- ``OpscomUser`` measures from the moment the request is sent (``basis`` "sent"):
  an unpaced user sends its next request only after the last is answered, so there
  is no "intended" time to measure from. Its latency hides a stalled target's
  queue exactly as Locust's own numbers do; the summary says so per endpoint.
- ``PacedUser`` keeps its own arrival schedule (the run's ``--rate`` split over
  the users) and measures every request from the time it was *due* (basis
  "intended"). A request held up behind a stalled one counts its wait, and a user
  that fell behind sends what it owes at once, so the arrival rate is kept. When
  the test stops, a user still behind sends what it owes (within Locust's stop
  timeout, as ``harness run`` drains); hits it could not send count as ``unsent``.
"""

from __future__ import annotations

import random
import socket
import time
from typing import Any, ClassVar

import gevent
from locust import FastHttpUser, constant, task
from locust.exception import StopUser

from harness.locust.failures import failure_for
from harness.locust.runtime import JSON_HEADERS, Runtime
from harness.opscom.outcome import (
    CONNECT_ERROR,
    DISCONNECTED,
    TIMEOUT,
    UNSENT,
    Outcome,
    classify_answer,
)
from harness.traffic.call import Call, TrafficSource

_now_ns = time.perf_counter_ns
OWED_AFTER_NS = 10_000_000  # the harness's "late" threshold: a hit overdue by more was owed


def runtime_of(environment: Any) -> Runtime:
    """The current test's runtime of this process (set when the test starts)."""
    rt = getattr(environment, "opscom_runtime", None)
    if rt is None:
        raise StopUser()  # no test running here (a user spawned before the start was set up)
    return rt


def transport_outcome(error: BaseException | None) -> Outcome:
    """The harness's outcome of a request that got no answer."""
    if isinstance(error, gevent.Timeout | socket.timeout | TimeoutError):
        return TIMEOUT
    if isinstance(error, ConnectionRefusedError | socket.gaierror):
        return CONNECT_ERROR
    return DISCONNECTED


def classify_response(call: Call, resp: Any) -> tuple[Outcome, Any]:
    """A FastHttpUser response as an outcome (and the decoded body, for feedback)."""
    if resp.status_code == 0 or resp._response is None:  # no answer at all, or it broke off
        return transport_outcome(getattr(resp, "error", None)), None
    try:
        body = resp.content or b""
    except Exception as exc:  # noqa: BLE001 - the body broke off mid-answer
        return transport_outcome(exc), None
    return classify_answer(call.endpoint is not None, resp.status_code, body)


class OpscomUser(FastHttpUser):
    """A FastHttpUser that sends ``Call`` objects and records them; see the module
    docstring. Subclasses add tasks calling ``send`` or ``send_next``."""

    abstract = True
    latency_basis: ClassVar[str] = "sent"
    generator: ClassVar[str | None] = None  # the traffic generator ``send_next`` draws from
    # The harness's defaults for a request and a connection (Locust's are 60 s).
    network_timeout = 10.0
    connection_timeout = 5.0
    wait_time = constant(0)

    def on_start(self) -> None:
        self.runtime = runtime_of(self.environment)

    def next_call(self) -> Call | None:
        """The next call of this user's generator (None when it has no more)."""
        rt = self.runtime
        assert self.generator is not None, f"{type(self).__name__} names no generator"
        return rt.source(self.generator).next_call(rt.next_hit(), rt.now())

    def send_next(self) -> Outcome:
        call = self.next_call()
        if call is None:
            raise StopUser()
        return self.send(call)

    def send(self, call: Call, intended_ns: int | None = None, source: TrafficSource | None = None) -> Outcome:
        """Send ``call``, judge and record its answer, report it to Locust.
        ``intended_ns``: when it was due (paced users); ``source``: who hears the
        answer of a feedback call (default: this user's generator)."""
        rt = self.runtime
        url = (rt.plate_base if call.plate_service else rt.controller_base) + call.target
        headers = JSON_HEADERS if not call.headers else {**JSON_HEADERS, **dict(call.headers)}
        start_time = time.time()
        sent = _now_ns()
        resp = self._exchange(call.method, url, call.body, headers)
        done = _now_ns()
        outcome, doc = classify_response(call, resp)
        # Locust's request event, as FastHttpSession.request fires it, with our verdict
        # and our failure's name: its statistics, CSV and HTML count what we count.
        self.environment.events.request.fire(
            request_type=call.method, name=call.name, response_time=(done - sent) / 1e6,
            response_length=len(resp.content or b"") if resp.status_code else 0, response=resp,
            context=self.context(), exception=failure_for(outcome, call.expect), start_time=start_time, url=url)
        rt.recording.record(call, self.latency_basis, outcome, sent if intended_ns is None else intended_ns,
                            sent, done)
        if call.feedback:
            (source or rt.source(self.generator or "")).on_result(call, outcome, doc, rt.now())
        return outcome

    def _exchange(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> Any:
        """One request over the user's FastHttpSession, the body read; transport
        failures come back as a response with status 0 and ``error`` set.

        FastHttpSession's own ``request(catch_response=True)`` would do the same and
        let us set the verdict, but its context manager costs about as much again as
        all of our measuring (bench/locust_bench.py); ``_send_request_safe_mode`` is
        the part of it that sends."""
        session = self.client
        resp = session._send_request_safe_mode(method, url, payload=body, headers=headers)
        if resp.status_code:
            try:
                _ = resp.content  # read the answer now: its time is part of the latency
            except Exception as exc:  # noqa: BLE001 - the body broke off mid-answer
                resp.error = exc
                resp._response = None
        return resp


class GeneratedUser(OpscomUser):
    """Sends what its ``generator`` makes, one call per task run."""

    abstract = True

    @task
    def generated(self) -> None:
        self.send_next()


class PacedUser(OpscomUser):
    """Sends at a fixed rate of its own and measures from each request's due time;
    see the module docstring. The run's rate (``runtime.settings["rate"]``) is split
    evenly over the users the run started with; each user starts at a random phase
    of its interval, so together they arrive evenly."""

    abstract = True
    latency_basis = "intended"
    unsent_name: ClassVar[str] = "plate_validate"  # where owed hits are counted if none was sent

    def on_start(self) -> None:
        super().on_start()
        rt = self.runtime
        rate = float(rt.settings.get("rate") or 0)
        if rate <= 0:
            raise StopUser()
        self.interval_ns = max(1, int(1e9 * max(1, rt.users_total) / rate))
        self.due_ns = _now_ns() + int(random.random() * self.interval_ns)
        self._last_name = self.unsent_name

    def wait_time(self) -> float:
        return max(0.0, (self.due_ns - _now_ns()) / 1e9)

    @task
    def paced(self) -> None:
        self._send_due()

    def _send_due(self) -> None:
        intended = self.due_ns
        self.due_ns += self.interval_ns
        call = self.next_call()
        if call is None:
            raise StopUser()
        self._last_name = call.name
        self.send(call, intended)

    def stop(self, force: bool = False) -> bool:
        # The end of this user's schedule: hits due after it were never owed.
        if getattr(self, "stop_requested_ns", None) is None:
            self.stop_requested_ns = _now_ns()
        return super().stop(force)

    def on_stop(self) -> None:
        """The drain: hits that fell due before the user was asked to stop (by more
        than ``OWED_AFTER_NS``; one due a moment before is the schedule's edge) are
        sent now, each measured from its due time, within the stop timeout; any
        still owed after it count as ``unsent``."""
        rt = getattr(self, "runtime", None)
        if rt is None or not hasattr(self, "due_ns"):
            return
        end = getattr(self, "stop_requested_ns", None) or _now_ns()
        owed_until = end - OWED_AFTER_NS
        deadline = end + int(float(self.environment.stop_timeout or 0) * 1e9)
        try:
            while self.due_ns <= owed_until and _now_ns() < deadline:
                self._send_due()
        except StopUser:  # the source ran dry
            return
        if self.due_ns <= owed_until:
            rt.recording.record_not_sent(self._last_name, self.latency_basis, UNSENT,
                                         (owed_until - self.due_ns) // self.interval_ns + 1)
