"""The transport interface: slots that send a call and report back once.

A transport opens ``connections`` slots. The engine owns scheduling and queueing,
so both transports behave the same when the pool is exhausted: the engine hands a
slot one call at a time (``Slot.send``), and the slot reports exactly once through
the ``Done`` callback, with the outcome as data (``harness.opscom.outcome``) for
answers and for failures alike (timeout, refused, closed). A slot is free again the
moment it reports, so the callback may send the next call on it synchronously.

    engine ──send(call, intended_ns)──▶ Slot ──HTTP──▶ target
       ▲                                  │
       └──done(slot, call, intended_ns, sent_ns, done_ns, outcome, doc)
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from harness.opscom.outcome import Outcome
from harness.traffic.call import Call

_PATH_SAFE = "-._~!$&'()*+,;=:@"


@dataclass(frozen=True, kw_only=True)
class Origin:
    """A parsed base URL: where one OPSCOM service listens."""

    url: str
    scheme: str
    host: str
    port: int
    base_path: str  # prefix before the endpoint path, "" for a bare host

    @classmethod
    def parse(cls, url: str) -> Origin:
        """A checked base URL. Credentials in it are refused (the token has its own
        variable, and a password in a URL ends up on screens and in reports); the
        message never repeats them. The base path is percent-encoded where needed."""
        if any(ord(c) < 32 or ord(c) == 127 for c in url):
            raise ValueError("expected a URL without control characters")
        parts = urlsplit(url.strip())
        if "@" in parts.netloc:
            raise ValueError(
                "credentials in the URL (user:password@host) are refused: give the API token in "
                "the token variable (--token-env, default OPSCOM_API_TOKEN) and the bare URL here"
            )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL with a host, got {url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"expected a base URL without query or fragment, got {url!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            host = parts.hostname.encode("idna").decode("ascii")
        except (ValueError, UnicodeError) as exc:
            raise ValueError(f"expected a URL with a valid host and port, got {url!r} ({exc})") from None
        base_path = quote(parts.path.rstrip("/"), safe="/%" + _PATH_SAFE)
        shown_host = f"[{host}]" if ":" in host else host
        netloc = shown_host if parts.port is None else f"{shown_host}:{port}"
        return cls(
            url=f"{parts.scheme}://{netloc}{base_path}",
            scheme=parts.scheme,
            host=host,
            port=port,
            base_path=base_path,
        )

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return host if self.port == default else f"{host}:{self.port}"

    def url_for(self, path: str) -> str:
        return self.url + path  # url already carries base_path


DEFAULT_MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class TransportConfig:
    controller: Origin
    plate_service: Origin
    connections: int = 64
    connect_timeout: float = 5.0
    request_timeout: float = 10.0
    tls_verify: bool = True
    # The largest answer body read, in bytes (after decompression too). A larger one is
    # the ``body_too_large`` outcome: reading stops there and the connection is dropped,
    # so a runaway answer cannot grow the harness's memory. OPSCOM answers are a few KiB.
    max_body: int = DEFAULT_MAX_BODY

    def __post_init__(self) -> None:
        if self.connections < 1:
            raise ValueError("connections must be at least 1")
        if not self.connect_timeout > 0 or not self.request_timeout > 0:
            raise ValueError("timeouts must be positive")
        if self.max_body < 1:
            raise ValueError("max_body must be at least 1 byte")

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if not self.tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


Done = Callable[["Slot", Call, int, int, int, Outcome, Any], None]
"""done(slot, call, intended_ns, sent_ns, done_ns, outcome, decoded_body_or_None)

It should not raise. If it does, the transport hands the exception to ``crash``
unchanged, never turns it into an outcome, and keeps the slot serving: the call
counts as reported (``done`` was called), and whatever ``done`` sent on the slot
before raising stays in flight."""

Crash = Callable[[BaseException], None]
"""crash(exc): a bug inside the transport (or an exception out of ``done``) that
it cannot turn into an outcome. The engine ends the run with verdict ``error``.

A transport calls it with the original exception, from wherever it surfaced (a
parser callback, a slot task, the timeout sweeper), and carries on: the connection
involved is dropped, the slot takes the next ``send``, ``close`` still finishes. A
call in flight when a transport bug surfaced is not reported at all: it has no
outcome, and the run is ending anyway."""


class Slot(Protocol):
    def send(self, call: Call, intended_ns: int) -> None: ...

    def expire(self, now_ns: int, limit_ns: int) -> None:
        """End the request in flight as a timeout if it was sent over ``limit_ns`` ago."""
        ...


SWEEP_INTERVAL_S = 0.05


async def sweep_timeouts(slots: Sequence[Slot], request_timeout: float, crash: Crash) -> None:
    """Enforce the request timeout for every slot: one task waking every 50 ms is far
    cheaper than a timer per request, and 50 ms is fine against timeouts of seconds.

    A bug in one ``expire`` goes to ``crash`` and the sweep goes on: a sweeper dying
    quietly would leave every later request without a timeout."""
    limit = int(request_timeout * 1e9)
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_S)
        now = time.perf_counter_ns()
        for slot in slots:
            try:
                slot.expire(now, limit)
            except Exception as exc:
                crash(exc)


class Transport(Protocol):
    name: str

    async def open(self, done: Done, crash: Crash) -> list[Slot]:
        """Make ``connections`` slots; connections are opened lazily by ``send``."""
        ...

    async def close(self) -> None:
        """Abort whatever is in flight (each reports once) and release sockets."""
        ...


USER_AGENT = "opscom-harness"
# Methods that carry no request body, so no Content-Length either (aiohttp's rule too,
# so both transports frame the same request alike).
_BODILESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Methods whose request is meant to carry a body, so a Content-Type even when empty.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# RFC 9110 section 9.2.2: a request a client may send again without asking anyone.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


def _default_headers(json_body: bool) -> dict[str, str]:
    out = {"Accept": "application/json"}
    if json_body:
        out["Content-Type"] = "application/json"
    # "identity": no compressed answers, please. Leaving the header out would mean
    # "anything" (RFC 9110 section 12.5.3); a server that compresses anyway is still
    # decoded (gzip, deflate), by both transports alike (``answer``).
    out["Accept-Encoding"] = "identity"
    out["User-Agent"] = USER_AGENT
    return out


# The headers of a plain POST without headers of its own, the common OPSCOM call:
# one shared dictionary, so the aiohttp transport builds none per request.
REQUEST_HEADERS: dict[str, str] = _default_headers(True)


def request_headers(call: Call) -> dict[str, str]:
    """The headers both transports send with ``call`` (besides Host and
    Content-Length): the defaults (JSON in and out, no compression, our User-Agent),
    each replaced by the call's own header of the same name, if any."""
    out = _default_headers(bool(call.body) or call.method in _BODY_METHODS)
    if not call.headers:
        return out
    lower = {k.lower(): k for k in out}
    for name, value in call.headers:
        existing = lower.pop(name.lower(), None)
        if existing is not None:
            del out[existing]
        out[name] = value
    return out


def encode_request(call: Call, origin: Origin) -> bytes:
    """The request's bytes on the wire (HTTP/1.1, keep-alive), built once per call."""
    lines = [f"{call.method} {origin.base_path}{call.target} HTTP/1.1", f"Host: {origin.host_header}"]
    lines.extend(f"{k}: {v}" for k, v in request_headers(call).items())
    if call.body or call.method not in _BODILESS_METHODS:
        lines.append(f"Content-Length: {len(call.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + call.body
