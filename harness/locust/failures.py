"""How an answer shows in Locust's own statistics (its UI, CSV, HTML and JSON).

A request is a Locust *success* when the harness would count it as ok or as a
deliberate error answered as required (an invalid call that got its expected code);
otherwise a *failure* named by what came back, so Locust's failures table is the code
distribution:

    9006 Plate is a required field            an API error nobody asked for
    HTTP 500                                  an HTTP error without an OPSCOM body
    timeout / connection refused / ...        no answer
    contract violation: expected 9006, got ok a deliberate error answered otherwise

Locust files a failure under ``repr(exception)``; ``Failure.__repr__`` is its bare
text, so the table reads as above rather than ``CatchResponseError('...')``. One
instance per distinct text, made once: a failure costs a dictionary lookup.
"""

from __future__ import annotations

from harness.opscom.errors import ERROR_MESSAGES
from harness.opscom.outcome import Outcome, OutcomeKind

_TRANSPORT_TEXT = {
    "timeout": "timeout (no answer in time)",
    "connect_error": "connection refused or unreachable",
    "disconnected": "connection closed before an answer",
    "body_too_large": "answer too large",
    "undecodable": "undecodable answer (2xx body is not JSON)",
    "dropped": "dropped (never sent)",
    "unsent": "unsent (still due at the end)",
}


class Failure(Exception):
    """A failed request as Locust shows it: its text, nothing else."""

    def __repr__(self) -> str:
        return str(self.args[0])

    __str__ = __repr__


def describe(outcome: Outcome) -> str:
    """``9006 Plate is a required field``, ``HTTP 500``, ``timeout (no answer in time)``."""
    if outcome.kind is OutcomeKind.API_ERROR:
        message = ERROR_MESSAGES.get(outcome.code)
        return f"{outcome.code} {message.rstrip('.')}" if message else f"{outcome.code} (not an OPSCOM code)"
    if outcome.kind is OutcomeKind.HTTP_ERROR:
        return f"HTTP {outcome.code}"
    return _TRANSPORT_TEXT.get(outcome.key, outcome.key)


_CACHE: dict[tuple[Outcome, Outcome | None], Failure | None] = {}


def failure_for(outcome: Outcome, expect: Outcome | None) -> Failure | None:
    """None when Locust should count the request as a success, else its failure."""
    key = (outcome, expect)
    try:
        return _CACHE[key]
    except KeyError:
        pass
    if expect is None:
        made = None if outcome.ok else Failure(describe(outcome))
    elif outcome is expect:
        made = None
    elif outcome.load_failure:
        made = Failure(describe(outcome))  # no usable answer: a load error, as the harness counts it
    else:
        made = Failure(f"contract violation: expected {describe(expect)}, got {describe(outcome)}")
    _CACHE[key] = made
    return made
