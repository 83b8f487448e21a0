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
    (0-based, the header not counted): the key of its chain when it starts one.
    ``doc`` is the parsed line; the properties read it (replay's hot path reads
    ``doc`` directly: one dict lookup per field it needs, no copy)."""

    __slots__ = ("line", "t_us", "chain", "doc")

    def __init__(self, line: int, doc: dict[str, Any]) -> None:
        self.line = line
        self.t_us: int = doc["t_us"]
        self.chain: int | None = doc.get("chain")
        self.doc = doc

    @property
    def shard_key(self) -> int:
        """Calls with the same key replay in the same process, in order."""
        chain = self.chain
        return self.line if chain is None else chain

    @property
    def endpoint(self) -> str | None:
        return self.doc.get("endpoint")

    @property
    def name(self) -> str:
        return self.doc.get("name") or self.doc.get("endpoint") or ""

    @property
    def method(self) -> str:
        return self.doc.get("method", "POST")

    @property
    def path(self) -> str:
        return self.doc["path"]

    @property
    def query(self) -> str:
        return self.doc.get("query", "")

    @property
    def headers(self) -> list[list[str]]:
        return self.doc.get("headers") or []

    @property
    def body(self) -> Any:
        """The parsed JSON body, or None (no body, or one kept as text or base64)."""
        return self.doc.get("body")

    @property
    def raw_body(self) -> bytes | None:
        return _raw_body(self.doc)

    @property
    def service(self) -> str | None:
        return self.doc.get("service")

    @property
    def answer(self) -> dict[str, Any] | None:
        return self.doc.get("answer")

    @property
    def uses(self) -> list[Any]:
        return self.doc.get("uses") or []

    @property
    def recorded_outcome(self) -> str | None:
        """The outcome key the original server's answer came to, if known."""
        a = self.doc.get("answer")
        return a.get("outcome") if a else None

    @property
    def recorded_ids(self) -> dict[str, Any]:
        a = self.doc.get("answer")
        return (a.get("ids") or {}) if a else {}


def _raw_body(doc: dict[str, Any]) -> bytes | None:
    text = doc.get("body_text")
    if text is not None:
        return str(text).encode()
    b64 = doc.get("body_b64")
    if b64 is not None:
        return base64.b64decode(b64)
    return None


def decode_call(line: int, raw: bytes) -> RecordedCall:
    """Parse one call line; ValueError saying what is wrong with it."""
    try:
        doc = _loads(raw)
    except _JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if type(doc) is not dict:
        raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    t = doc.get("t_us")
    if type(t) is not int or t < 0 or type(doc.get("path")) is not str:
        raise ValueError(_what_is_wrong(doc))
    endpoint = doc.get("endpoint")
    if endpoint is None:
        name = doc.get("name")
        if type(name) is not str or not name:
            raise ValueError("a call with no endpoint needs a \"name\"")
    elif endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint: unknown OPSCOM endpoint {endpoint!r}")
    answer = doc.get("answer")
    if answer is not None:
        if type(answer) is not dict:
            raise ValueError("answer: expected an object or null")
        outcome = answer.get("outcome")
        if outcome is not None and outcome not in _OUTCOME_KEYS:
            try:
                outcome_for_key(outcome)
            except (ValueError, TypeError):
                raise ValueError(f"answer.outcome: not an outcome key: {outcome!r}") from None
            _OUTCOME_KEYS.add(outcome)
    return RecordedCall(line, doc)


_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_OUTCOME_KEYS: set[str] = {"ok"}


def _what_is_wrong(doc: dict[str, Any]) -> str:
    t = doc.get("t_us")
    if type(t) is not int:
        return f"t_us: expected int, got {t!r}"
    if t < 0:
        return f"t_us: expected a non-negative offset, got {t}"
    return f"path: expected str, got {doc.get('path')!r}"


def encode_call(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc)
