"""``build_app(config)``: the aiohttp application of the reference controller.

The HTTP side of one API request, in the order of ``opscom-api.md``:

    read the body (over --max-body: 413 with code 9003)
    -> JSON object?                          9003
    -> client code (path segment or body)    9000
    -> token present                         9001
    -> token known, for this client          9034
    -> token has the endpoint's permission   9002
    -> handlers.py: fields, rules, the database

A refusal is ``{"ErrorCode": code, "ErrorMessage": message}`` on controller paths
and ``{"error": code, "message": message, "data": null}`` on the plate service,
with ``http_status_for(code)``. Routes:

    POST /api/{client}/v1/...    the eight controller endpoints (catalogue paths)
    POST /api/v1/... , /api//v1/...   the same without a client code: 9000
    POST /api/v1/validate/plate  the plate service, client in the body
    any other method on those    405 with ``Allow: POST``
    GET  /healthz, /openapi.json
    anything else                404 with a JSON body (no OPSCOM code)
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from harness.controller import db
from harness.controller.config import CLIENT_CODE, ControllerConfig, normalise_client
from harness.controller.faults import FaultInjector
from harness.controller.handlers import Handler, Handlers
from harness.controller.openapi import openapi_document
from harness.controller.seed import seed_database
from harness.controller.validation import ApiError
from harness.opscom.endpoints import ENDPOINT_LIST, Endpoint, Service
from harness.opscom.errors import ERROR_MESSAGES, http_status_for

JSON = "application/json"
CONNECTION_KEY = web.AppKey("db", sqlite3.Connection)
FAULTS_KEY = web.AppKey("faults", FaultInjector)
_PARSE_ERROR = 9003
_TOO_LARGE = 413
# Every API path takes POST only; a 405 names it in ``Allow`` (RFC 9110 §15.5.6).
_ALLOWED_METHODS = "POST"
_RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error_bodies(service: Service) -> dict[int, bytes]:
    """Every refusal body, encoded once."""
    if service is Service.PLATE:
        return {c: orjson.dumps({"error": c, "message": m, "data": None}) for c, m in ERROR_MESSAGES.items()}
    return {c: orjson.dumps({"ErrorCode": c, "ErrorMessage": m}) for c, m in ERROR_MESSAGES.items()}


class Auth:
    """Client code and token checks (9000, 9001, 9034, 9002), from memory."""

    def __init__(self, client: str, tokens: Mapping[str, frozenset[str]]) -> None:
        self._client = client
        self._tokens = dict(tokens)

    def check(self, client: Any, token: Any, permission: str) -> int:
        """0 when allowed, else the code answering the request."""
        if client is None or (type(client) is str and not client.strip()):
            return 9000
        if token is None or (type(token) is str and not token.strip()):  # blank = missing, as for fields
            return 9001
        # A client code of the wrong form (spaces, other characters) names no client.
        if type(token) is not str or type(client) is not str or not CLIENT_CODE.fullmatch(client):
            return 9034
        if normalise_client(client) != self._client:
            return 9034
        perms = self._tokens.get(token)
        if perms is None:
            return 9034
        return 0 if permission in perms else 9002


def _json(doc: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(doc), status=status, content_type=JSON, headers=headers)


async def _not_found(request: web.Request) -> web.Response:
    # No "error" or "ErrorCode" key: classify() must see an HTTP 404, not an API code.
    return _json({"status": 404, "detail": "not found", "path": request.path}, status=404)


def _api_route(endpoint: Endpoint, handler: Handler, auth: Auth, *, client_in_path: bool) -> _RouteHandler:
    """The request pipeline of one endpoint; ``client_in_path=False`` for the routes
    of a controller path that lacks its client segment (they always answer 9000)."""
    errors = _error_bodies(endpoint.service)
    permission = endpoint.permission
    token_field = endpoint.token_field
    client_field = endpoint.client_field

    def refuse(code: int, status: int | None = None) -> web.Response:
        return web.Response(body=errors[code], status=status or http_status_for(code), content_type=JSON)

    async def handle(request: web.Request) -> web.Response:
        if request.method != "POST":
            return _json({"status": 405, "detail": "method not allowed", "allowed": [_ALLOWED_METHODS]},
                         status=405, headers={"Allow": _ALLOWED_METHODS})
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return refuse(_PARSE_ERROR, _TOO_LARGE)
        except ConnectionError:
            # The client left mid-body. Nobody is there to answer; aiohttp finds the
            # transport closed when it writes this and drops it without a log line.
            return web.Response(status=400)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return refuse(_PARSE_ERROR)
        if type(body) is not dict:
            return refuse(_PARSE_ERROR)
        if client_field is not None:
            client = body.get(client_field)
        elif client_in_path:
            client = request.match_info["client"]
        else:
            client = None
        code = auth.check(client, body.get(token_field), permission)
        if code:
            return refuse(code)
        try:
            answer = handler(body)
        except ApiError as exc:
            return refuse(exc.code)
        return web.Response(body=orjson.dumps(answer), content_type=JSON)

    return handle


def _open_database(config: ControllerConfig) -> tuple[sqlite3.Connection, Path | None]:
    """Open and seed the database; the second value is a temporary directory to delete."""
    tmpdir = None
    path = config.db
    if path is None:
        tmpdir = Path(tempfile.mkdtemp(prefix="harness-controller-"))
        path = tmpdir / "controller.db"
    try:
        conn = db.connect(path)
        try:
            seed_database(conn, config.seed)
        except BaseException:
            conn.close()
            raise
    except BaseException:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    return conn, tmpdir


def build_app(config: ControllerConfig) -> web.Application:
    """The controller application; its database is open (and seeded) on return and
    closed by the application's cleanup, which also deletes a temporary one."""
    conn, tmpdir = _open_database(config)
    handlers = Handlers(conn)
    auth = Auth(config.client, config.tokens)
    middlewares = []
    injector = FaultInjector(config.faults, seed=config.seed)
    if config.faults.active:
        middlewares.append(injector.middleware)
    app = web.Application(client_max_size=config.max_body, middlewares=middlewares)
    app[CONNECTION_KEY] = conn
    app[FAULTS_KEY] = injector

    openapi_body = orjson.dumps(openapi_document())

    async def healthz(request: web.Request) -> web.Response:
        conn.execute("SELECT 1").fetchone()
        return _json({"status": "ok", "client": config.client, "seed": config.seed})

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(body=openapi_body, content_type=JSON)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/openapi.json", openapi)
    for ep in ENDPOINT_LIST:
        handler = handlers.by_name[ep.name]
        if ep.service is Service.PLATE:
            app.router.add_route("*", ep.path, _api_route(ep, handler, auth, client_in_path=False))
            continue
        app.router.add_route("*", ep.path, _api_route(ep, handler, auth, client_in_path=True))
        missing = _api_route(ep, handler, auth, client_in_path=False)
        sub_path = ep.path.removeprefix("/api/{client}")
        app.router.add_route("*", "/api" + sub_path, missing)  # /api/v1/permits/push
        app.router.add_route("*", "/api/" + sub_path, missing)  # /api//v1/permits/push
    app.router.add_route("*", "/{tail:.*}", _not_found)

    async def close_database(app: web.Application) -> None:
        db.close(conn)
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)

    app.on_cleanup.append(close_database)
    return app
