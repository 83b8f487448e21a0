"""Valid request bodies for every endpoint, under any alias of each field.

``build_body`` is the one way traffic generators, tests and the controller's own
examples write a body, so a change of alias or credential placement happens here
only. Values are given by canonical field name (``Field.name``); the alias a field
is sent under is chosen by ``alias``: an index (taken modulo the number of aliases,
so ``alias=1`` sends the second alias wherever there is one) or a ``random.Random``
that picks one per field. Keys that are not canonical names are copied unchanged,
which is how a test sends an exact alias or a field the catalogue does not know.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from harness.opscom.endpoints import ENDPOINTS, Endpoint, Field, Kind

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True, slots=True)
class Ref:
    """A catalogue reference (plate type, province, make, ...) known by id and name,
    so it can be sent under either kind of alias (``plateTypeID`` / ``plateType``)."""

    id: int
    name: str


def format_datetime(moment: datetime) -> str:
    """OPSCOM's date format, Y-m-d\\TH:i:s, without zone or fraction."""
    return moment.strftime(DATETIME_FORMAT)


def _is_id_alias(alias: str) -> bool:
    return alias.endswith("ID")


def _alias_for(f: Field, alias: int | random.Random, value: Any) -> tuple[str, Any]:
    """The JSON key (and value, for references) a field is sent under."""
    if f.kind is Kind.REF:
        candidates = f.aliases
        if not isinstance(value, Ref):
            # A plain value goes under the alias that matches what it is: an id or a name.
            want_id = isinstance(value, int) or (isinstance(value, str) and value.isdigit())
            candidates = tuple(a for a in f.aliases if _is_id_alias(a) == want_id) or f.aliases
        key = candidates[alias.randrange(len(candidates)) if isinstance(alias, random.Random) else alias % len(candidates)]
        if isinstance(value, Ref):
            value = str(value.id) if _is_id_alias(key) else value.name
        return key, value
    n = len(f.aliases)
    index = alias.randrange(n) if isinstance(alias, random.Random) else alias % n
    return f.aliases[index], value


def build_body(
    endpoint: Endpoint | str,
    *,
    token: str | None,
    client: str | None = None,
    values: Mapping[str, Any] | None = None,
    alias: int | random.Random = 0,
) -> dict[str, Any]:
    """A request body for ``endpoint``: credentials first, then the given fields.

    ``token=None`` leaves the token out; ``client`` is written only for the plate
    service, where the client code travels in the body."""
    ep = ENDPOINTS[endpoint] if isinstance(endpoint, str) else endpoint
    body: dict[str, Any] = {}
    if token is not None:
        body[ep.token_field] = token
    if ep.client_field is not None and client is not None:
        body[ep.client_field] = client
    by_name = {f.name: f for f in ep.fields}
    for name, value in (values or {}).items():
        f = by_name.get(name)
        if f is None:
            body[name] = value
        else:
            key, sent = _alias_for(f, alias, value)
            body[key] = sent
    return body


def encode_body(body: Mapping[str, Any]) -> bytes:
    """JSON bytes of exactly their length: orjson hands back its whole write buffer
    (4 KiB for a small body), which a long-lived call would keep (see
    harness/traffic/bodies.py)."""
    return bytes(memoryview(orjson.dumps(body)))
