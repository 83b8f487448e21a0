"""The request schema admits exactly what validation accepts, value by value.

No server here: each probe body goes both through ``EndpointValidator`` (with
look-ups that find every row and rules that never fire, since rows and rules are
state the schema does not claim to know) and through ``jsonschema_rs`` with the
schema ``/openapi.json`` serves, and the two verdicts must agree. The schemathesis
test then checks the same agreement against the running controller with generated
bodies; this one pins the edges (calendar dates, lengths, blank, types, precedence
between aliases) that generation might not happen to reach.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from harness.controller.app import Auth
from harness.controller.request_schema import (
    DATE_PATTERN,
    DATETIME_PATTERN,
    body_schema,
    client_schema,
    token_schema,
)
from harness.controller.validation import (
    WHITESPACE,
    ApiError,
    Checked,
    EndpointValidator,
    is_id_alias,
)
from harness.opscom.endpoints import ENDPOINT_LIST, PERMISSIONS, Endpoint, Field, Kind, Presence

_DATES = [f"{y}-{m:02d}-{d:02d}" for y in ("0000", "0001", "0004", "0100", "0400", "1900", "2000", "2023", "2024",
                                        "9996", "9999") for m in range(0, 14) for d in range(0, 33)]
PROBES: list[Any] = [
    None, "", " ", "\t\n", "\x1c", "\x85", "\u3000", "\ufeff", "\u200b", "a", "ab", " x ", "\x00",
    *("X" * n for n in (1, 2, 3, 19, 20, 21, 25, 26, 50, 51, 100, 101, 200, 201, 255, 256)),
    "2018-07-02T09:30:00", "2018-07-02T24:00:00", "2018-07-02T23:60:00", "2018-07-02T23:59:60",
    "2018-07-02 09:30:00", "2018-07-02T09:30:00Z", "2018-07-02T09:30:00\n", "2018-07-02T09:30",
    "\uff12018-07-02T09:30:00", "2018-07-02T09:30:00.5", "0001-01-01T00:00:00", "9999-12-31T23:59:59",
    "1901-01-31", "1901-1-31", "\u0662\u0660\u0661\u0661",
    "14.50", "0.00", "00.00", "000000.00", "0.01", "999999.99", "1000000.00", "14.5", "14,50", "-1.00", " 1.00",
    "CAD", "USD", "cad", "OPSCOM", "LDAP", "SAML", "opscom", "OPSCOM ",
    "2011", "0000", "20x1", "11", "12345", 999, 1000, 2011, 9999, 10000, 1.5, True, False,
    2011.0, 2319.0, 999.0, 7.0, -1.0, 1e18,  # integral JSON numbers are integers (schemathesis sends them)
    "1", "0", "007", "1" * 18, "1" * 19, 0, 1, -1, 10**18 - 1, 10**18,
    "a@b", "a b@c", "a@b@c", "@b", "a@", "a\xa0@b", "a\u200b@b", "x@" + "y" * 99,
    "Lot 01,Lot 02", ",,", [], {}, ["x"],
]


class AnyRow:
    """Look-ups that find every id and name: which rows exist is not the schema's business."""

    def has_id(self, table: str, row_id: int) -> bool:
        return True

    def id_for_name(self, table: str, name: str) -> int | None:
        return 1

    def grows(self, table: str) -> bool:
        return False


def _validator(ep: Endpoint) -> EndpointValidator:
    return EndpointValidator(
        ep, refs=AnyRow(), rules={r.code: lambda c: False for r in ep.rules},
        creating=(lambda c: False) if any(f.presence is Presence.ON_CREATE for f in ep.fields) else None,
    )


def _valid(f: Field, alias: str) -> Any:
    """A value every field of this kind takes under ``alias``."""
    if f.kind is Kind.REF and is_id_alias(alias):
        return 1
    return {Kind.DATETIME: "2018-07-02T09:30:00", Kind.DATE: "1901-01-31", Kind.AMOUNT: "14.50",
            Kind.YEAR: "2011", Kind.EMAIL: "a@b", Kind.DIGITS: "7"}.get(f.kind, f.choices[0] if f.choices else "AB1")


def _base(ep: Endpoint, without: Field | None = None) -> dict[str, Any]:
    """Credentials and every required field but ``without``, each under its first alias."""
    body: dict[str, Any] = {ep.token_field: "t"}
    if ep.client_field:
        body[ep.client_field] = "OC_TOMA"
    for f in ep.fields:
        if f.presence is Presence.REQUIRED and f is not without:
            body[f.aliases[0]] = _valid(f, f.aliases[0])
    return body


def _accepted(validator: EndpointValidator, body: dict[str, Any]) -> bool:
    try:
        validator.validate(body, Checked().context)
    except ApiError:
        return False
    return True


def _bodies(ep: Endpoint) -> Iterator[dict[str, Any]]:
    for f in ep.fields:
        for i, alias in enumerate(f.aliases):
            for probe in PROBES:
                yield {**_base(ep, without=f), alias: probe}
                if i > 0:  # an earlier alias present: this one is ignored, whatever it holds
                    yield {**_base(ep, without=f), f.aliases[0]: _valid(f, f.aliases[0]), alias: probe}
                    yield {**_base(ep, without=f), f.aliases[0]: probe, alias: _valid(f, alias)}
            if f.kind in (Kind.DATETIME, Kind.DATE):
                for day in _DATES:
                    value = day + "T23:59:59" if f.kind is Kind.DATETIME else day
                    yield {**_base(ep, without=f), alias: value}
        if f.presence is Presence.REQUIRED:
            yield _base(ep, without=f)


@pytest.mark.parametrize("ep", ENDPOINT_LIST, ids=lambda e: e.name)
def test_the_schema_admits_exactly_what_validation_accepts(ep: Endpoint) -> None:
    schema = jsonschema_rs.validator_for(body_schema(ep))
    validator = _validator(ep)
    disagree = [(body, accepted) for body in _bodies(ep)
                if (accepted := _accepted(validator, body)) != schema.is_valid(body)]
    assert disagree == [], f"{len(disagree)} disagreements, first: {disagree[:3]}"


def test_the_date_patterns_are_the_calendar() -> None:
    from datetime import date

    def real(day: str) -> bool:
        try:
            return date.fromisoformat(day).isoformat() == day
        except ValueError:
            return False

    assert [d for d in _DATES if (re.fullmatch(DATE_PATTERN[1:-1], d) is not None) != real(d)] == []
    assert re.fullmatch(DATETIME_PATTERN[1:-1], "2024-02-29T23:59:59")
    assert not re.fullmatch(DATETIME_PATTERN[1:-1], "2023-02-29T23:59:59")


CREDENTIAL_PROBES: list[Any] = [None, "", " ", "\u3000", "OC_TOMA", "oc-toma", " OC_TOMA", "OC_TOMA\n", "OC TOMA",
                                "OTHER", "t", "x y", 7, [], {}]


def test_credentials_the_schema_refuses_are_refused() -> None:
    """Client and token: a value the schema refuses never passes; a well-formed value
    may still be refused (another client, an unknown token: 9034, a documented 401)."""
    auth = Auth("OC_TOMA", {"t": PERMISSIONS, "OC_TOMA": PERMISSIONS})
    client_ok = jsonschema_rs.validator_for(client_schema()).is_valid
    token_ok = jsonschema_rs.validator_for(token_schema()).is_valid
    for value in CREDENTIAL_PROBES:
        if not client_ok(value):
            assert auth.check(value, "t", "plate-validate") in (9000, 9034), repr(value)
        if not token_ok(value):
            assert auth.check("OC_TOMA", value, "plate-validate") in (9001, 9034), repr(value)
    assert auth.check("oc-toma", "t", "plate-validate") == 0


def test_whitespace_is_what_str_strip_removes() -> None:
    assert WHITESPACE == "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
