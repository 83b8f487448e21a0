"""What one exchange with an OPSCOM service came to: ``classify(status, body)``.

It runs on every response of a load test, so it allocates nothing per call: every
``Outcome`` is an interned instance (one per API code, per HTTP status, per transport
failure), compared by identity and used directly as a dictionary key.

The body is read first and the status second, because the seeds do not say which
HTTP status a real controller pairs with an error:

    JSON object with "ErrorCode"           -> API error with that code (any status)
    JSON object with "error" != 0          -> API error with that code (plate service)
    any other decodable body, 2xx          -> ok
    any body, status outside 2xx           -> HTTP error with that status
    undecodable body, 2xx                  -> undecodable

Transport failures (timeout, refused connection, connection closed before an answer)
are outcomes too, made by the transports, so errors stay data on the hot path.
"""

from __future__ import annotations

import enum
from typing import Any, Final

import orjson


class OutcomeKind(enum.Enum):
    OK = "ok"
    API_ERROR = "api_error"
    HTTP_ERROR = "http_error"
    UNDECODABLE = "undecodable"
    TRANSPORT = "transport"  # the exchange failed (or its answer was refused)
    NOT_SENT = "not_sent"  # the hit was due but never went out


class Outcome:
    """One interned result class. ``key`` is the name used in reports and checks:
    ``ok``, ``"9006"``, ``http_500``, ``undecodable``, ``timeout``, ``connect_error``,
    ``disconnected``, ``body_too_large``, ``dropped``, ``unsent``, ``orphaned``.

    ``answered``: the target sent a response (any status). ``timed``: its latency
    belongs in the latency statistics checks and reports read: answers, and
    timeouts (whose latency is the wait the user saw). Instant local failures
    (refused, reset before any answer) and hits never sent are errors, not fast
    answers."""

    __slots__ = ("kind", "key", "code", "ok", "answered", "timed", "load_failure")

    def __init__(self, kind: OutcomeKind, key: str, code: int = 0, *, answered: bool | None = None) -> None:
        self.kind = kind
        self.key = key
        self.code = code  # the API error code, or the HTTP status, or 0
        self.ok = kind is OutcomeKind.OK
        if answered is None:
            answered = kind not in (OutcomeKind.TRANSPORT, OutcomeKind.NOT_SENT)
        self.answered = answered
        self.timed = answered or key == "timeout"
        # A failure of the target under load rather than of its contract: no usable
        # answer (transport failures, hits never sent, an undecodable body), a server
        # error or a refusal to serve (HTTP 5xx, 429). A deliberately invalid call
        # that meets one of these is a load error, not a contract violation.
        self.load_failure = kind in (OutcomeKind.TRANSPORT, OutcomeKind.NOT_SENT, OutcomeKind.UNDECODABLE) or (
            kind is OutcomeKind.HTTP_ERROR and (code >= 500 or code == 429)
        )

    @property
    def is_api_error(self) -> bool:
        return self.kind is OutcomeKind.API_ERROR

    def __repr__(self) -> str:
        return f"Outcome({self.key})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Unpickle to the interned instance, so identity survives process boundaries.
        return (outcome_for_key, (self.key,))


OK: Final = Outcome(OutcomeKind.OK, "ok")
UNDECODABLE: Final = Outcome(OutcomeKind.UNDECODABLE, "undecodable")
TIMEOUT: Final = Outcome(OutcomeKind.TRANSPORT, "timeout")
CONNECT_ERROR: Final = Outcome(OutcomeKind.TRANSPORT, "connect_error")
DISCONNECTED: Final = Outcome(OutcomeKind.TRANSPORT, "disconnected")
# An answer whose body exceeded the transport's limit: read no further, connection
# dropped. The target did answer (its latency counts), but the exchange failed.
BODY_TOO_LARGE: Final = Outcome(OutcomeKind.TRANSPORT, "body_too_large", answered=True)
TRANSPORT_OUTCOMES: Final = (TIMEOUT, CONNECT_ERROR, DISCONNECTED, BODY_TOO_LARGE)
# Hits that never went out: the backlog was full (``dropped``), or they were still
# waiting for a connection when the run ended or was interrupted (``unsent``).
DROPPED: Final = Outcome(OutcomeKind.NOT_SENT, "dropped")
UNSENT: Final = Outcome(OutcomeKind.NOT_SENT, "unsent")
# Replay: a call that takes an id from an earlier answer whose parent failed, never
# came or did not answer in time; it is not sent blindly with the recorded id.
ORPHANED: Final = Outcome(OutcomeKind.NOT_SENT, "orphaned")
NOT_SENT_OUTCOMES: Final = (DROPPED, UNSENT, ORPHANED)

_API_ERRORS: dict[int, Outcome] = {}
_HTTP_ERRORS: dict[int, Outcome] = {}
_BY_KEY: dict[str, Outcome] = {
    o.key: o for o in (OK, UNDECODABLE, *TRANSPORT_OUTCOMES, *NOT_SENT_OUTCOMES)
}
FIXED_KEYS: Final = tuple(_BY_KEY)  # every outcome key that is not a code or a status


def api_error(code: int) -> Outcome:
    """The interned outcome for API error ``code``."""
    out = _API_ERRORS.get(code)
    if out is None:
        out = _API_ERRORS[code] = Outcome(OutcomeKind.API_ERROR, str(code), code)
        _BY_KEY[out.key] = out
    return out


def http_error(status: int) -> Outcome:
    """The interned outcome for an HTTP failure status without an API error body."""
    out = _HTTP_ERRORS.get(status)
    if out is None:
        out = _HTTP_ERRORS[status] = Outcome(OutcomeKind.HTTP_ERROR, f"http_{status}", status)
        _BY_KEY[out.key] = out
    return out


def outcome_for_key(key: str) -> Outcome:
    """The outcome a report key names (``"9006"``, ``"http_500"``, ``"ok"``, ...)."""
    out = _BY_KEY.get(key)
    if out is not None:
        return out
    if key.isdigit():
        return api_error(int(key))
    if key.startswith("http_") and key[5:].isdigit():
        return http_error(int(key[5:]))
    raise ValueError(f"not an outcome key: {key!r}")


def _as_code(value: Any) -> int:
    """An error code as an int; codes sent as strings ("9001") are accepted."""
    if type(value) is int:
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


def decode_and_classify(status: int, body: bytes) -> tuple[Outcome, Any]:
    """Classify a response and return the decoded body too (None when undecodable).

    Callers that need a field of the answer (a permit push's reference id) use this,
    so the body is decoded once."""
    try:
        doc = _loads(body)
    except _JSONDecodeError:
        return (UNDECODABLE if 200 <= status < 300 else http_error(status)), None
    if type(doc) is dict:
        code = doc.get("ErrorCode")
        if code is not None:
            return api_error(_as_code(code)), doc
        err = doc.get("error")
        if err is not None and err != 0 and err != "0":
            return api_error(_as_code(err)), doc
    if 200 <= status < 300:
        return OK, doc
    return http_error(status), doc


def status_outcome(status: int) -> Outcome:
    """The outcome of an answer to a call that is not an OPSCOM endpoint (a recorded
    health check, another API): its HTTP status alone."""
    return OK if 200 <= status < 300 else http_error(status)


def classify_answer(opscom: bool, status: int, body: bytes) -> tuple[Outcome, Any]:
    """``decode_and_classify`` for an OPSCOM call, ``status_outcome`` for any other
    (whose body is not decoded: nothing reads it)."""
    if opscom:
        return decode_and_classify(status, body)
    return status_outcome(status), None


def classify(status: int, body: bytes) -> Outcome:
    """The outcome of one response: ok, API error, HTTP error or undecodable."""
    return decode_and_classify(status, body)[0]
