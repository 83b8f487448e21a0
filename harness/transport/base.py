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


@dataclass(frozen=True, kw_only=True)
class TransportConfig:
    controller: Origin
    plate_service: Origin
    connections: int = 64
    connect_timeout: float = 5.0
    request_timeout: float = 10.0
    tls_verify: bool = True

    def __post_init__(self) -> None:
        if self.connections < 1:
            raise ValueError("connections must be at least 1")
        if not self.connect_timeout > 0 or not self.request_timeout > 0:
            raise ValueError("timeouts must be positive")

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if not self.tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


Done = Callable[["Slot", Call, int, int, int, Outcome, Any], None]
"""done(slot, call, intended_ns, sent_ns, done_ns, outcome, decoded_body_or_None)

It must not raise (the engine catches everything in it); a transport must still
never turn an exception raised in it into an outcome."""

Crash = Callable[[BaseException], None]
"""crash(exc): a bug inside the transport (or an exception out of ``done``) that
it cannot turn into an outcome. The engine ends the run with verdict ``error``."""


class Slot(Protocol):
    def send(self, call: Call, intended_ns: int) -> None: ...

    def expire(self, now_ns: int, limit_ns: int) -> None:
        """End the request in flight as a timeout if it was sent over ``limit_ns`` ago."""
        ...


SWEEP_INTERVAL_S = 0.05


async def sweep_timeouts(slots: Sequence[Slot], request_timeout: float) -> None:
    """Enforce the request timeout for every slot: one task waking every 50 ms is far
    cheaper than a timer per request, and 50 ms is fine against timeouts of seconds."""
    limit = int(request_timeout * 1e9)
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_S)
        now = time.perf_counter_ns()
        for slot in slots:
            slot.expire(now, limit)


class Transport(Protocol):
    name: str

    async def open(self, done: Done, crash: Crash) -> list[Slot]:
        """Make ``connections`` slots; connections are opened lazily by ``send``."""
        ...

    async def close(self) -> None:
        """Abort whatever is in flight (each reports once) and release sockets."""
        ...


REQUEST_HEADERS: dict[str, str] = {
    "Content-Type": "application/json",
    "Accept": "application/json",
}
USER_AGENT = "opscom-harness"
# Methods whose request carries a body (and so a Content-Length, even of 0).
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def request_headers(call: Call) -> dict[str, str]:
    """The headers both transports send with ``call``: the defaults (JSON in and
    out), unless the call sets its own, then the call's."""
    out: dict[str, str] = {"Accept": "application/json"}
    if call.body or call.method in _BODY_METHODS:
        out["Content-Type"] = "application/json"
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
    headers = request_headers(call)
    lines.extend(f"{k}: {v}" for k, v in headers.items())
    if not any(k.lower() == "user-agent" for k in headers):
        lines.append(f"User-Agent: {USER_AGENT}")
    if call.body or call.method in _BODY_METHODS:
        lines.append(f"Content-Length: {len(call.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + call.body
