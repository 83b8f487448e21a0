"""One recording line, both ways: ``RecordedCall`` (what a reader yields) and
``encode_call`` (what a writer writes), plus the header and the OPSCOM path matcher.

A line is one JSON object (see the package docstring for an example)::

    t_us        int      offset from the header's "started", in microseconds
    endpoint    str|null OPSCOM endpoint name; null for any other call (then "name")
    name        str      request name of a non-OPSCOM call ("GET /healthz")
    method      str
    path        str      from "/api/..." on (a base path belongs to the target URL)
    query       str      percent-encoded, without "?" (omitted when empty)
    headers     [[k, v]] the headers worth keeping (omitted when none)
    body        any      a JSON request body, parsed (or body_text / body_b64)
    service     "plate"  a non-OPSCOM call that went to the plate service's host
    answer      object   status, outcome, code, ids, latency_us (null: not known)
    uses        [id]     ids this call took from earlier answers of the recording
    chain       int      the line of its chain's first call (a call with "uses")

Decoding is on the replay's read path: one ``orjson.loads`` and a few lookups per
line, no per-field validation beyond what replay relies on.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any, Final

import orjson

from harness.opscom.endpoints import ENDPOINTS, Endpoint, Service
from harness.opscom.outcome import outcome_for_key

FORMAT: Final = "opscom-recording"
VERSION: Final = 1
SOURCES: Final = ("record", "har", "gor", "generate")
NO_BODY: Final = b""

# The controller's path family, after any base path: /api/{client}/v1/<what>.
_CONTROLLER_PATHS: Final = {
    e.path.split("{client}", 1)[1]: e for e in ENDPOINTS.values() if e.service is Service.CONTROLLER
}
_PLATE_PATHS: Final = {e.path: e for e in ENDPOINTS.values() if e.service is Service.PLATE}
_CONTROLLER_RE: Final = re.compile(r"(/api/([^/?#]+)(/v1/[A-Za-z_/]+?))/?$")
_PLATE_RE: Final = re.compile(r"(/api/v1/validate/plate)/?$")


@dataclass(frozen=True, slots=True)
class PathMatch:
    endpoint: Endpoint
    path: str  # from /api on
    client_segment: str | None  # as written in the path (percent-encoded); None on the plate service


def match_path(path: str) -> PathMatch | None:
    """The OPSCOM endpoint a request path names, after any base path, or None."""
    m = _PLATE_RE.search(path)
    if m is not None:
        return PathMatch(_PLATE_PATHS[m.group(1)], m.group(1), None)
    m = _CONTROLLER_RE.search(path)
    if m is not None:
        ep = _CONTROLLER_PATHS.get(m.group(3))
        if ep is not None:
            return PathMatch(ep, m.group(1), m.group(2))
    return None


@dataclass(frozen=True, kw_only=True)
class Header:
    """The first line of a recording."""

    source: str  # record, har, gor, generate
    started: str  # ISO 8601 UTC of t_us = 0
    client: str | None  # the client code of the recorded controller paths
    redaction: dict[str, Any]
    origin: str | None = None  # what was recorded: an upstream URL, an input file
    version: int = VERSION

    def encode(self) -> bytes:
        doc = {"format": FORMAT, "version": self.version, "source": self.source, "started": self.started,
               "client": self.client, "redaction": self.redaction}
        if self.origin:
            doc["origin"] = self.origin
        return orjson.dumps(doc)

    @classmethod
    def decode(cls, doc: Any) -> Header:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f'not a recording header: expected {{"format": "{FORMAT}", ...}} on the first line')
        version = doc.get("version")
        if version != VERSION:
            raise ValueError(f"recording format version {version!r}; this harness reads version {VERSION}")
        started, client = doc.get("started"), doc.get("client")
        if not isinstance(started, str) or not (client is None or isinstance(client, str) and client):
            raise ValueError("header: expected a \"started\" time and a \"client\" code (or null)")
        redaction = doc.get("redaction")
        return cls(source=str(doc.get("source", "?")), started=started, client=client,
                   redaction=redaction if isinstance(redaction, dict) else {}, origin=doc.get("origin"))


class RecordedCall:
    """One call read from a recording. ``line`` is its number among the calls
    (0-based, the header not counted): the key of its chain when it starts one."""

    __slots__ = ("line", "t_us", "endpoint", "name", "method", "path", "query", "headers", "body",
                 "raw_body", "service", "answer", "uses", "chain")

    def __init__(self, line: int, doc: dict[str, Any]) -> None:
        self.line = line
        self.t_us: int = doc["t_us"]
        self.endpoint: str | None = doc.get("endpoint")
        self.name: str = doc.get("name") or self.endpoint or ""
        self.method: str = doc.get("method", "POST")
        self.path: str = doc["path"]
        self.query: str = doc.get("query", "")
        self.headers: list[list[str]] = doc.get("headers") or []
        self.body: Any = doc.get("body")  # a parsed JSON body, or None
        self.raw_body: bytes | None = _raw_body(doc) if self.body is None else None
        self.service: str | None = doc.get("service")
        self.answer: dict[str, Any] | None = doc.get("answer")
        self.uses: list[Any] = doc.get("uses") or []
        self.chain: int | None = doc.get("chain")

    @property
    def shard_key(self) -> int:
        """Calls with the same key replay in the same process, in order."""
        return self.line if self.chain is None else self.chain

    @property
    def recorded_outcome(self) -> str | None:
        """The outcome key the original server's answer came to, if known."""
        a = self.answer
        return a.get("outcome") if a else None

    @property
    def recorded_ids(self) -> dict[str, Any]:
        a = self.answer
        return (a.get("ids") or {}) if a else {}


def _raw_body(doc: dict[str, Any]) -> bytes | None:
    text = doc.get("body_text")
    if text is not None:
        return str(text).encode()
    b64 = doc.get("body_b64")
    if b64 is not None:
        return base64.b64decode(b64)
    return None


_REQUIRED: Final = (("t_us", int), ("path", str))


def decode_call(line: int, raw: bytes) -> RecordedCall:
    """Parse one call line; ValueError saying what is wrong with it."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if type(doc) is not dict:
        raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    for key, kind in _REQUIRED:
        value = doc.get(key)
        if type(value) is not kind:
            raise ValueError(f"{key}: expected {kind.__name__}, got {value!r}")
    if doc["t_us"] < 0:
        raise ValueError(f"t_us: expected a non-negative offset, got {doc['t_us']}")
    endpoint = doc.get("endpoint")
    if endpoint is None:
        if not isinstance(doc.get("name"), str) or not doc["name"]:
            raise ValueError("a call with no endpoint needs a \"name\"")
    elif endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint: unknown OPSCOM endpoint {endpoint!r}")
    answer = doc.get("answer")
    if answer is not None:
        if type(answer) is not dict:
            raise ValueError("answer: expected an object or null")
        outcome = answer.get("outcome")
        if outcome is not None:
            try:
                outcome_for_key(outcome)
            except (ValueError, TypeError):
                raise ValueError(f"answer.outcome: not an outcome key: {outcome!r}") from None
    return RecordedCall(line, doc)


def encode_call(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc)
