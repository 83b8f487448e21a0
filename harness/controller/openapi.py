"""``/openapi.json``: an OpenAPI 3 description of the nine endpoints, from the catalogue.

Every alias of every field is a property of its request body; a required field,
which may come under any of its aliases, is an ``anyOf`` of one-alias ``required``
lists. Error responses are grouped by the HTTP status the reference controller
pairs with each code (``http_status_for``), and each lists its codes and messages.
Nothing here is written by hand per endpoint, so the document cannot drift from
what the controller validates.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from harness import __version__
from harness.controller.validation import is_id_alias
from harness.opscom.endpoints import ENDPOINT_LIST, Endpoint, Field, Kind, Presence, Service
from harness.opscom.errors import ERROR_MESSAGES, http_status_for

_FORMATS: dict[Kind, dict[str, Any]] = {
    Kind.DATETIME: {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$", "example": "2018-07-02T09:30:00"},
    Kind.DATE: {"type": "string", "format": "date", "example": "1901-01-31"},
    Kind.AMOUNT: {"type": "string", "pattern": r"^\d{1,6}\.\d{2}$", "example": "14.50"},
    Kind.YEAR: {"oneOf": [{"type": "string", "pattern": r"^\d{4}$"}, {"type": "integer", "minimum": 1000, "maximum": 9999}]},
    Kind.EMAIL: {"type": "string", "format": "email"},
    Kind.DIGITS: {"oneOf": [{"type": "string", "pattern": r"^\d+$"}, {"type": "integer", "minimum": 0}]},
    Kind.ZONES: {"type": "string", "example": "Lot 01,Lot 02"},
}


def _property(f: Field, alias: str) -> dict[str, Any]:
    if f.kind is Kind.REF and is_id_alias(alias):
        schema: dict[str, Any] = dict(_FORMATS[Kind.DIGITS])
        what = f"id of a row of {f.ref}"
    else:
        schema = dict(_FORMATS.get(f.kind, {"type": "string"}))
        what = f"name in {f.ref}" if f.kind is Kind.REF else f.kind.value
        if f.choices:
            schema["enum"] = list(f.choices)
        if f.min_len is not None:
            schema["minLength"] = f.min_len
        if f.max_len is not None and not f.truncate:
            schema["maxLength"] = f.max_len
    others = [a for a in f.aliases if a != alias]
    text = [f"{f.name} ({f.presence.value}, {what})"]
    if others:
        text.append(f"same field as {', '.join(others)}; the first alias listed wins")
    if f.truncate and f.max_len:
        text.append(f"longer than {f.max_len} characters is truncated with a warning")
    if f.note:
        text.append(f.note)
    text.append("error codes: " + ", ".join(str(c) for c in sorted(f.codes)))
    schema["description"] = "; ".join(text) + "."
    schema["nullable"] = True  # null is read as absent or missing, never as a wrong type
    return schema


def _request_schema(ep: Endpoint) -> dict[str, Any]:
    props: dict[str, Any] = {ep.token_field: {"type": "string", "description": "API token (9001 missing, 9034 unknown)"}}
    required = [ep.token_field]
    if ep.client_field:
        props[ep.client_field] = {"type": "string", "description": "client code, e.g. OC_TOMA (9000 missing)"}
        required.append(ep.client_field)
    any_of: list[dict[str, Any]] = []
    for f in ep.fields:
        for alias in f.aliases:
            props[alias] = _property(f, alias)
        if f.presence is Presence.REQUIRED:
            any_of.append({"anyOf": [{"required": [a]} for a in f.aliases]})
    schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
    if any_of:
        schema["allOf"] = any_of
    return schema


def _responses(ep: Endpoint) -> dict[str, Any]:
    error_ref = "#/components/schemas/" + ("PlateError" if ep.service is Service.PLATE else "Error")
    by_status: dict[int, list[int]] = defaultdict(list)
    for code in sorted(ep.codes):
        by_status[http_status_for(code)].append(code)
    out: dict[str, Any] = {"200": {"description": f"success: {ep.success}",
                                   "content": {"application/json": {"schema": {"type": "object"}}}}}
    for status, codes in sorted(by_status.items()):
        out[str(status)] = {
            "description": "; ".join(f"{c}: {ERROR_MESSAGES[c]}" for c in codes),
            "content": {"application/json": {"schema": {"$ref": error_ref}}},
            "x-error-codes": codes,
        }
    out["413"] = {"description": "body larger than --max-body (error code 9003)",
                  "content": {"application/json": {"schema": {"$ref": error_ref}}}}
    return out


def _operation(ep: Endpoint) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": ep.name,
        "summary": ep.summary,
        "description": f"Needs the token permission `{ep.permission}`. Checks run: 9003 -> 9000 -> 9001 -> 9034 "
                       "-> 9002 -> the fields in the order of the request schema.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": _request_schema(ep)}}},
        "responses": _responses(ep),
        "x-permission": ep.permission,
    }
    if "{client}" in ep.path:
        op["parameters"] = [{"name": "client", "in": "path", "required": True, "schema": {"type": "string"},
                             "description": "client code; OC_TOMA and OC-TOMA are the same client"}]
    return op


def openapi_document() -> dict[str, Any]:
    """The whole document (build once; it depends on the catalogue only)."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "OPSCOM reference controller",
            "version": __version__,
            "description": "The nine OPSCOM endpoints as the harness's reference controller serves them.",
        },
        "paths": {ep.path: {"post": _operation(ep)} for ep in ENDPOINT_LIST},
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["ErrorCode", "ErrorMessage"], "properties": {
                "ErrorCode": {"type": "integer"}, "ErrorMessage": {"type": "string"}}},
            "PlateError": {"type": "object", "required": ["error", "message", "data"], "properties": {
                "error": {"type": "integer"}, "message": {"type": "string"},
                "data": {"type": "object", "nullable": True}}},
        }},
    }
