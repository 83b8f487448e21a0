"""/healthz and /openapi.json."""

from __future__ import annotations

from typing import Any

import orjson
from support.api import Api

from harness.controller.openapi import openapi_document
from harness.controller.request_schema import client_schema
from harness.opscom.endpoints import ENDPOINT_LIST, Presence
from harness.opscom.errors import http_status_for


def get(api: Api, path: str) -> Any:
    reply = api.post_raw(path, b"", method="GET")
    assert reply.status == 200 and reply.content_type.startswith("application/json")
    return reply.json


def test_healthz(api: Api) -> None:
    assert get(api, "/healthz") == {"status": "ok", "client": "OC_TOMA", "seed": 1}


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/")
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_openapi_describes_the_nine_endpoints_from_the_catalogue(api: Api) -> None:
    doc = get(api, "/openapi.json")
    assert doc == orjson.loads(orjson.dumps(openapi_document())), "served as generated from the catalogue"
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] and doc["info"]["version"]
    assert set(doc["paths"]) == {ep.path for ep in ENDPOINT_LIST} and len(doc["paths"]) == 9
    for ref in _refs(doc):
        assert _resolve(doc, ref)["type"] == "object"
    for ep in ENDPOINT_LIST:
        op = doc["paths"][ep.path]["post"]
        assert set(doc["paths"][ep.path]) == {"post"} and op["operationId"] == ep.name
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        assert schema["type"] == "object" and ep.token_field in schema["required"]
        aliases = {a for f in ep.fields for a in f.aliases}
        assert set(schema["properties"]) == aliases | {ep.token_field} | ({"client"} if ep.client_field else set())
        required = [f for f in ep.fields if f.presence is Presence.REQUIRED]
        assert [c["anyOf"] for c in schema.get("allOf", []) if "anyOf" in c] == [
            [{"required": [a]} for a in f.aliases] for f in required]
        for f in ep.fields:
            for alias in f.aliases:
                assert schema["properties"][alias]["description"].startswith(f.name)
        if "{client}" in ep.path:
            param = op["parameters"][0]
            assert param["name"] == "client" and param["in"] == "path" and param["schema"] == client_schema()
        responses = op["responses"]
        assert "200" in responses
        for code in ep.codes:
            assert code in responses[str(http_status_for(code))]["x-error-codes"], (ep.name, code)
