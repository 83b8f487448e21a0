"""What the schemathesis test tells schemathesis about the reference controller.

The controller's ``/openapi.json`` says exactly what a request must look like
(``harness/controller/request_schema.py``). What no schema can say is handed to
schemathesis through its own extension points, each as narrow as it can be:

- ``Credentials`` (an auth provider): the token the fixture started the controller
  with, in the body (``apiToken``; ``api_token`` and ``client`` on the plate
  service), and the controller's client code in the path. A generated credential
  is replaced only when the schema admits it, so a case negated there (a blank,
  missing or non-string token or client) still goes out as generated and must be
  refused; any other case keeps its nature, positive or negative.
- ``use_existing_rows`` (a ``map_case`` hook): a positive case names rows the
  database has wherever the controller looks a value up (plate types, provinces,
  makes, vehicle types and colours by id, the closed lists by name, user types),
  since which rows exist is state, not format.
- ``keep_failure`` (a ``filter_failure`` hook): drops a "positive data rejected"
  failure only when the answer's code is one the request itself proves is a
  cross-field or state rule (``STATE_RULES``); every other failure stands.

Responses that depend on state but already say so by their status (404 record not
found, 409 duplicates, 401 for another client, 403 for a missing permission) need
nothing here: schemathesis accepts those for schema-valid requests, and the
document lists each status with its codes.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import jsonschema_rs
import orjson
import schemathesis
from schemathesis import AuthContext, Case, HookContext, Response
from schemathesis.core.failures import Failure
from schemathesis.generation import GenerationMode
from schemathesis.openapi.checks import RejectedPositiveData

from harness.controller.validation import is_id_alias
from harness.opscom.endpoints import ENDPOINTS, GROWING_REFS, Endpoint, Kind
from harness.opscom.reference_data import (
    COLOURS,
    MAKES,
    PLATE_TYPES,
    PROVINCES,
    USER_TYPES,
    VEHICLE_TYPES,
)


def _pick(options: Sequence[Any], seed: Any) -> Any:
    """One of ``options``, chosen by the generated value so cases stay varied and
    reproducible (``hash()`` of a str changes between processes, crc32 does not)."""
    return options[zlib.crc32(repr(seed).encode()) % len(options)]


def _endpoint(case: Case) -> Endpoint:
    return ENDPOINTS[case.operation.definition.raw["operationId"]]


def _property_schema(operation: Mapping[str, Any], location: str, name: str) -> dict[str, Any]:
    """The served document's schema of body property or path parameter ``name``."""
    if location == "path":
        return next(p["schema"] for p in operation["parameters"] if p["name"] == name)
    return operation["requestBody"]["content"]["application/json"]["schema"]["properties"][name]


def credentials(token: str, client: str) -> type:
    """An auth-provider class (schemathesis instantiates it) holding ``token`` and ``client``.

    A generated credential the schema admits is swapped for a valid one; any other
    (missing, blank, malformed: a case negated there) goes out as generated."""
    # Spellings of the one client code: '-' and '_' are the same, case is ignored.
    clients = (client, client.lower(), client.replace("_", "-"))
    validators: dict[tuple[str, str, str], Callable[[Any], bool]] = {}  # one compiled schema per property

    def replace(case: Case, location: str, where: Any, name: str, valid: Callable[[Any], Any]) -> None:
        if not isinstance(where, dict) or name not in where:
            return
        key = (case.operation.label, location, name)
        if key not in validators:
            schema = _property_schema(case.operation.definition.raw, location, name)
            validators[key] = jsonschema_rs.validator_for(schema).is_valid
        if validators[key](where[name]):
            where[name] = valid(where[name])

    class Credentials:
        def get(self, case: Case, ctx: AuthContext) -> str:
            return token

        def set(self, case: Case, data: str, ctx: AuthContext) -> None:
            ep = _endpoint(case)
            replace(case, "body", case.body, ep.token_field, lambda generated: data)
            if ep.client_field:
                replace(case, "body", case.body, ep.client_field, lambda generated: _pick(clients, generated))
            replace(case, "path", case.path_parameters, "client", lambda generated: _pick(clients, generated))

    return Credentials


# Rows the seeded database has, per REF table: (ids, names).
_ROWS: Mapping[str, tuple[Sequence[int], Sequence[str]]] = {
    table: (tuple(r[0] for r in rows), tuple(r[1] for r in rows))
    for table, rows in (("plate_types", PLATE_TYPES), ("provinces", PROVINCES), ("makes", MAKES),
                        ("vehicle_types", VEHICLE_TYPES), ("colours", COLOURS))
}
# Ids the handlers look up beyond the catalogue's REF fields (handlers.py field_checks).
_LOOKED_UP_IDS: Mapping[tuple[str, str], Sequence[int]] = {
    ("profile_push", "user_type_id"): tuple(r[0] for r in USER_TYPES),
}


def _existing(endpoint: str, alias: str, ref: str | None, value: Any) -> Any:
    """An existing row's id or name in place of ``value``, or ``value`` if any will do."""
    if ref is not None:
        ids, names = _ROWS[ref]
        if is_id_alias(alias):
            return _pick(ids, value)
        return value if ref in GROWING_REFS else _pick(names, value)  # a new make is created
    ids = _LOOKED_UP_IDS.get((endpoint, alias))
    return value if ids is None else _pick(ids, value)


def use_existing_rows(ctx: HookContext, case: Case) -> Case:
    """map_case: a positive case refers to rows that exist (null or blank stays: read as absent)."""
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return case
    ep = _endpoint(case)
    body = case.body
    if not isinstance(body, dict):
        return case
    for f in ep.fields:
        for alias in f.aliases:
            value = body.get(alias)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            if f.kind is Kind.REF or (ep.name, alias) in _LOOKED_UP_IDS:
                body[alias] = _existing(ep.name, alias, f.ref, value)
    return case


# --- refusals of schema-valid requests that the request itself explains ------------------


def _read(ep: Endpoint, body: Mapping[str, Any], field: str) -> Any:
    """The value the controller reads for ``field``: its first alias present."""
    return next((body[a] for a in ep.field(field).aliases if a in body), None)


def _end_not_after_start(ep: Endpoint, body: Mapping[str, Any]) -> bool:
    # JSON Schema compares no two values, so "end after start" cannot be in the schema.
    start, end = _read(ep, body, "start"), _read(ep, body, "end")
    return datetime.fromisoformat(end) <= datetime.fromisoformat(start)


def _absent(field: str) -> Callable[[Endpoint, Mapping[str, Any]], bool]:
    # Required only when the unique_id names no user yet: which users exist is state.
    def check(ep: Endpoint, body: Mapping[str, Any]) -> bool:
        return all(a not in body for a in ep.field(field).aliases)

    return check


# (endpoint, code) -> the proof, from the request alone, that this refusal is that rule.
STATE_RULES: Mapping[tuple[str, int], Callable[[Endpoint, Mapping[str, Any]], bool]] = {
    ("permit_push", 9005): _end_not_after_start,
    ("profile_push", 9016): _absent("email"),
    ("profile_push", 9017): _absent("first_name"),
    ("profile_push", 9018): _absent("last_name"),
}


def keep_failure(ctx: HookContext, failure: Failure, case: Case, response: Response) -> bool:
    """filter_failure: False only for a rejected positive case that ``STATE_RULES`` explains."""
    if not isinstance(failure, RejectedPositiveData) or not isinstance(case.body, dict):
        return True
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return True
    code = answer.get("ErrorCode", answer.get("error")) if isinstance(answer, dict) else None
    ep = _endpoint(case)
    proof = STATE_RULES.get((ep.name, code))
    return proof is None or not proof(ep, case.body)


def register(schema: schemathesis.BaseSchema, *, token: str, client: str) -> None:
    """Attach the credentials and both hooks to ``schema`` (and to it only)."""
    schema.auth(refresh_interval=None)(credentials(token, client))
    schema.hook("map_case")(use_existing_rows)
    schema.hook("filter_failure")(keep_failure)
