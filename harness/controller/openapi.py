"""``/openapi.json``: an OpenAPI 3.1 description of the nine endpoints, from the catalogue.

The request bodies are ``request_schema.py``'s, which admit exactly what the
controller's validation accepts; this module adds the descriptions, the client path
parameter, and the responses. Error responses are grouped by the HTTP status the
reference controller pairs with each code (``http_status_for``), and each lists its
codes and messages. What a schema-valid body can still be refused for (a rule,
a row that must exist, a field required only when a record is created) is listed
in each operation's description. Nothing here is written by hand per endpoint, so
the document cannot drift from what the controller validates.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from harness import __version__
from harness.controller.request_schema import (
    body_schema,
    client_schema,
    reads_blank_as_absent,
)
from harness.controller.validation import is_id_alias
from harness.opscom.endpoints import (
    ENDPOINT_LIST,
    GROWING_REFS,
    Endpoint,
    Field,
    Kind,
    Presence,
    Service,
)
from harness.opscom.errors import ERROR_MESSAGES, http_status_for


def _describe(f: Field, alias: str) -> str:
    """One property's description: the field, its alias siblings, notes and codes."""
    if f.kind is Kind.REF and is_id_alias(alias):
        what = f"id of a row of {f.ref}"
    else:
        what = f"name in {f.ref}" if f.kind is Kind.REF else f.kind.value
    others = [a for a in f.aliases if a != alias]
    text = [f"{f.name} ({f.presence.value}, {what})"]
    if others:
        text.append(f"same field as {', '.join(others)}; the first alias present is read, the others ignored")
    if reads_blank_as_absent(f):
        text.append("null or blank reads as absent")
    if f.truncate and f.max_len:
        text.append(f"longer than {f.max_len} characters is truncated with a warning")
    if f.note:
        text.append(f.note)
    text.append("error codes: " + ", ".join(str(c) for c in sorted(f.codes)))
    return "; ".join(text) + "."


def _request_schema(ep: Endpoint) -> dict[str, Any]:
    schema = body_schema(ep, _describe)
    props = schema["properties"]
    props[ep.token_field] = {**props[ep.token_field],
                             "description": "API token (9001 missing or blank, 9034 unknown, 9002 lacks permission)"}
    if ep.client_field:
        props[ep.client_field] = {**props[ep.client_field], "description": _CLIENT_TEXT}
    return schema


_CLIENT_TEXT = ("client code, e.g. OC_TOMA; '-' and '_' are the same and case is ignored "
                "(9000 missing or blank, 9034 another client's or malformed)")


def _beyond_schema(ep: Endpoint) -> list[str]:
    """Why a body the schema admits may still be refused: state and cross-field rules."""
    out = [f"{r.code}: {r.text}" for r in ep.rules]
    for f in ep.fields:
        if f.presence is Presence.ON_CREATE:
            out.append(f"{f.missing_code}: {f.name} is required when the request creates a record")
        if f.kind is Kind.REF:
            names = "" if f.ref in GROWING_REFS else " or name"
            out.append(f"{f.invalid_code}: {f.name} must be the id{names} of an existing row of {f.ref}")
    return out


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
    description = (f"Needs the token permission `{ep.permission}`. Checks run: 9003 -> 9000 -> 9001 -> 9034 "
                   "-> 9002 -> the fields in the order of the request schema.")
    beyond = _beyond_schema(ep)
    if beyond:
        description += " A body the schema admits can still be refused by: " + "; ".join(beyond) + "."
    op: dict[str, Any] = {
        "operationId": ep.name,
        "summary": ep.summary,
        "description": description,
        "requestBody": {"required": True, "content": {"application/json": {"schema": _request_schema(ep)}}},
        "responses": _responses(ep),
        "x-permission": ep.permission,
    }
    if "{client}" in ep.path:
        op["parameters"] = [{"name": "client", "in": "path", "required": True, "schema": client_schema(),
                             "description": _CLIENT_TEXT}]
    return op


def openapi_document() -> dict[str, Any]:
    """The whole document (build once; it depends on the catalogue only)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OPSCOM reference controller",
            "version": __version__,
            "description": "The nine OPSCOM endpoints as the harness's reference controller serves them. "
                           "Every path takes POST only: any other method answers 405 with `Allow: POST`. "
                           "The body is read as JSON whatever its Content-Type.",
        },
        "paths": {ep.path: {"post": _operation(ep)} for ep in ENDPOINT_LIST},
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["ErrorCode", "ErrorMessage"], "properties": {
                "ErrorCode": {"type": "integer"}, "ErrorMessage": {"type": "string"}}},
            "PlateError": {"type": "object", "required": ["error", "message", "data"], "properties": {
                "error": {"type": "integer"}, "message": {"type": "string"},
                "data": {"type": ["object", "null"]}}},
        }},
    }
