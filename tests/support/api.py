"""A small synchronous client for the reference controller, and who may call it.

Tests talk real HTTP to a real ``harness serve`` child. Most send one request at a
time, for which ``http.client`` over one keep-alive connection is the simplest and
fastest thing; the concurrency and fault tests use aiohttp or raw sockets instead.
"""

from __future__ import annotations

import http.client
import itertools
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from harness.controller.process import ControllerProcess
from harness.opscom.builders import build_body
from harness.opscom.endpoints import ENDPOINTS, PERMISSIONS, Endpoint


def tokens_for_session() -> tuple[str, dict[str, str]]:
    """A full token, and per permission a token holding every *other* permission
    (so 9002 can be provoked on each endpoint, including plate_validate)."""
    full = f"full-{secrets.token_hex(8)}"
    lacking = {perm: f"lacks-{perm}-{secrets.token_hex(4)}" for perm in sorted(PERMISSIONS)}
    return full, lacking


def token_entries(full: str, lacking: Mapping[str, str]) -> list[str]:
    entries = [full]
    for perm, token in lacking.items():
        entries.append(f"{token}:{','.join(sorted(PERMISSIONS - {perm}))}")
    return entries


@dataclass
class Target:
    """A started controller and the credentials it accepts."""

    process: ControllerProcess
    client: str
    token: str  # every permission
    lacking: dict[str, str] = field(default_factory=dict)  # permission -> token without it
    seed: int = 1

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def port(self) -> int:
        return self.process.port


@dataclass(frozen=True)
class Reply:
    status: int
    raw: bytes
    content_type: str
    allow: str | None = None  # the Allow header, sent with a 405

    @property
    def json(self) -> Any:
        return orjson.loads(self.raw)

    @property
    def code(self) -> int:
        """The OPSCOM error code of the answer, 0 for success (either service)."""
        doc = self.json
        if "ErrorCode" in doc:
            return int(doc["ErrorCode"])
        error = doc.get("error")
        return error if type(error) is int else 0


_counter = itertools.count(1)
_RUN = secrets.token_hex(2).upper()


def fresh(prefix: str = "") -> str:
    """A value no other test (and no seeded row) uses: letters+digits+hex, uppercase.

    Seeded plates are 3-4 letters then 3 digits; these start with ``Z9``."""
    return f"Z9{prefix}{_RUN}{next(_counter):05d}"


class Api:
    """One keep-alive connection to a target; reconnects when the server closes it."""

    def __init__(self, target: Target, timeout: float = 30.0) -> None:
        self.target = target
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post_raw(self, path: str, body: bytes, *, method: str = "POST") -> Reply:
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.target.port, timeout=self._timeout)
            try:
                self._conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
                resp = self._conn.getresponse()
                raw = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()  # the server closed a kept-alive connection: once more on a new one
                if attempt == 2:
                    raise
                continue
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
            return Reply(resp.status, raw, resp.getheader("Content-Type", ""), resp.getheader("Allow"))
        raise AssertionError("unreachable")

    def post(self, path: str, body: Any) -> Reply:
        return self.post_raw(path, orjson.dumps(body))

    def path(self, endpoint: Endpoint | str, client: str | None = None) -> str:
        ep = ENDPOINTS[endpoint] if isinstance(endpoint, str) else endpoint
        return ep.path_for(client or self.target.client)

    def body(self, endpoint: str, values: Mapping[str, Any] | None = None, *, alias: int = 0,
             token: str | None = None) -> dict[str, Any]:
        return build_body(endpoint, token=token or self.target.token, client=self.target.client,
                          values=values, alias=alias)

    def call(self, endpoint: str, values: Mapping[str, Any] | None = None, *, alias: int = 0,
             token: str | None = None) -> Reply:
        """``endpoint`` with ``values`` by canonical field name, as the full token."""
        return self.post(self.path(endpoint), self.body(endpoint, values, alias=alias, token=token))

    def ok(self, endpoint: str, values: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        """Like ``call``, asserting success; returns the decoded answer."""
        reply = self.call(endpoint, values, **kw)
        assert reply.status == 200 and reply.code == 0, (endpoint, reply.status, reply.raw[:300])
        return reply.json
