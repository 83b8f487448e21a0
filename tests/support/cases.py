"""Error cases for every endpoint, most of them derived from the catalogue.

A ``Case`` is a valid request (``values.VALID``) with one thing broken, and the
code it must get back. ``catalogue_cases()`` returns them all:

- credentials, per endpoint: unparseable bodies (9003), no client code (9000), no
  token (9001), an unknown token or another client (9034), a token lacking the
  endpoint's permission (9002);
- per field, from its ``Field``: left out / null / blank when required (or on
  create), null / blank when the field has a missing code, too short, too long,
  the wrong JSON type, and malformed values of its kind;
- per rule, written out: the states a rule refuses (duplicates, unknown or
  deleted records, end before start).

``test_controller_errors`` asserts that together they provoke every code of
``Endpoint.codes``, so a code added to the catalogue fails until it has a case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from harness.opscom.endpoints import (
    ENDPOINT_LIST,
    ENDPOINTS,
    Endpoint,
    Field,
    Kind,
    Presence,
    Service,
)
from harness.opscom.reference_data import reference_data
from support.api import Api, Reply
from support.values import HOUR, at, field_of, valid_body, with_field

Mutation = Callable[[Api, dict[str, Any]], dict[str, Any]]
Setup = Callable[[Api, dict[str, Any]], None]


@dataclass(frozen=True)
class Case:
    endpoint: str
    code: int
    label: str
    mutate: Mutation | None = None
    raw: bytes | None = None  # the body's exact bytes instead of the (mutated) JSON body
    path: Callable[[Api], str] | None = None  # another path than the endpoint's
    setup: Setup | None = None  # runs with the final body, before it is sent

    @property
    def id(self) -> str:
        return f"{self.endpoint}-{self.code}-{self.label}"


def run_case(api: Api, case: Case) -> Reply:
    body = valid_body(api, case.endpoint)
    if case.mutate is not None:
        body = case.mutate(api, body)
    if case.setup is not None:
        case.setup(api, body)
    path = case.path(api) if case.path is not None else api.path(case.endpoint)
    return api.post_raw(path, case.raw if case.raw is not None else orjson.dumps(body))


def _put(f: Field, alias: str | None, value: Any) -> Mutation:
    return lambda api, body: with_field(body, f, alias, value)


# --- credentials ------------------------------------------------------------------------

_UNPARSEABLE: tuple[tuple[str, bytes], ...] = (
    ("not-json", b"plate=ABC123&apiToken=x"),
    ("empty-body", b""),
    ("truncated", b'{"apiToken": "x", "plate": '),
    ("a-list", b'[{"apiToken": "x"}]'),
    ("a-string", b'"apiToken"'),
    ("a-number", b"42"),
    ("null", b"null"),
    ("invalid-utf8", b'{"plate": "\xff\xfe"}'),
)


def _credential_cases(ep: Endpoint) -> list[Case]:
    name, tf = ep.name, ep.token_field
    out = [Case(name, 9003, label, raw=raw) for label, raw in _UNPARSEABLE]

    def token(value: Any) -> Mutation:
        def mutate(api: Api, body: dict[str, Any]) -> dict[str, Any]:
            out = dict(body)
            out[tf] = value(api) if callable(value) else value
            return out

        return mutate

    def drop_token(api: Api, body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k != tf}

    out += [
        Case(name, 9001, "token-absent", drop_token),
        Case(name, 9001, "token-null", token(None)),
        Case(name, 9001, "token-empty", token("")),
        Case(name, 9001, "token-blank", token("  ")),
        Case(name, 9034, "token-unknown", token("no-such-token-0000")),
        Case(name, 9034, "token-a-number", token(12345)),
        Case(name, 9034, "token-a-list", token(["x"])),
        Case(name, 9002, "token-lacks-permission", token(lambda api: api.target.lacking[ep.permission])),
    ]
    if ep.service is Service.PLATE:
        cf = ep.client_field
        assert cf is not None
        for label, value in (("absent", None), ("null", None), ("empty", ""), ("blank", "   ")):
            def mutate(api: Api, body: dict[str, Any], label: str = label, value: Any = value) -> dict[str, Any]:
                out = {k: v for k, v in body.items() if k != cf}
                if label != "absent":
                    out[cf] = value
                return out

            out.append(Case(name, 9000, f"client-{label}", mutate))
        out.append(Case(name, 9034, "client-other", lambda api, body: {**body, cf: "OTHER_CLIENT"}))
        out.append(Case(name, 9034, "client-a-number", lambda api, body: {**body, cf: 7}))
    else:
        sub = ep.path.removeprefix("/api/{client}")
        out += [
            Case(name, 9000, "path-without-client", path=lambda api: "/api" + sub),
            Case(name, 9000, "path-empty-client", path=lambda api: "/api/" + sub),
            Case(name, 9000, "path-blank-client", path=lambda api: ep.path_for(" ")),
            Case(name, 9034, "path-other-client", path=lambda api: ep.path_for("OTHER_CLIENT")),
        ]
    return out


# --- fields -----------------------------------------------------------------------------

# Values of the right JSON type but the wrong form, per kind.
_MALFORMED: dict[Kind, tuple[Any, ...]] = {
    Kind.DATETIME: ("2018-07-02 09:30:00", "2018-02-30T09:00:00", "2018-07-02T09:30", "tomorrow"),
    Kind.DATE: ("31/01/1901", "1901-02-30", "1901-1-31"),
    Kind.AMOUNT: ("14.5", "0.00", "1000000.00", "14,50", "-1.00"),
    Kind.CHOICE: ("NOSUCH",),
    Kind.YEAR: ("11", "20x1", "20111", 11),
    Kind.EMAIL: ("not-an-email", "a@b@c", "a b@c"),
    Kind.DIGITS: ("six", "-1", -1, "1.5"),
    Kind.TEXT: (),
    Kind.ZONES: (),
    Kind.REF: (),
}
_NUMBERS_ACCEPTED = (Kind.YEAR, Kind.DIGITS)


def _name_alias(f: Field) -> str:
    return next(a for a in f.aliases if not a.endswith("ID"))


def _overlong(f: Field) -> str:
    assert f.max_len is not None
    n = f.max_len + 1
    if f.kind is Kind.EMAIL:
        return "u" * (n - len("@example.org")) + "@example.org"
    return "L" * n


def _field_cases(ep: Endpoint) -> list[Case]:
    out: list[Case] = []
    for f in ep.fields:
        first = f.aliases[0]
        text_alias = _name_alias(f) if f.kind is Kind.REF else first

        def case(code: int, label: str, mutate: Mutation, f: Field = f) -> None:
            out.append(Case(ep.name, code, f"{f.name}-{label}", mutate))

        if f.presence is not Presence.OPTIONAL:
            assert f.missing_code is not None
            case(f.missing_code, "absent", _put(f, None, None))
        if f.presence is not Presence.OPTIONAL or f.missing_code is not None:
            assert f.missing_code is not None
            case(f.missing_code, "null", _put(f, first, None))
            case(f.missing_code, "empty", _put(f, first, ""))
            case(f.missing_code, "blank", _put(f, first, "  "))
        for label, wrong in (("a-list", [1]), ("an-object", {"a": 1}), ("true", True)):
            case(f.invalid_code, label, _put(f, first, wrong))
        if f.kind not in _NUMBERS_ACCEPTED:
            case(f.invalid_code, "a-number", _put(f, text_alias, 5))
        if f.min_len is not None:
            case(f.min_len_code, f"{f.min_len - 1}-chars", _put(f, text_alias, "ab"[: f.min_len - 1]))
        if f.max_len is not None and not f.truncate:
            case(f.max_len_code, f"{f.max_len + 1}-chars", _put(f, text_alias, _overlong(f)))
        for bad in _MALFORMED[f.kind]:
            case(f.invalid_code, f"malformed-{bad!r}", _put(f, first, bad))
        if f.kind is Kind.REF:
            for alias in f.aliases:
                if alias.endswith("ID"):
                    case(f.invalid_code, f"{alias}-unknown", _put(f, alias, "99999"))
                    case(f.invalid_code, f"{alias}-not-digits", _put(f, alias, "abc"))
                    case(f.invalid_code, f"{alias}-huge", _put(f, alias, "9" * 40))
                elif f.ref in ("plate_types", "provinces"):  # closed lists; makes etc. grow
                    case(f.invalid_code, f"{alias}-unknown", _put(f, alias, "No Such Thing"))
    return out


# --- rules ------------------------------------------------------------------------------


def _posts_first(api: Api, endpoint: str, body: dict[str, Any]) -> None:
    reply = api.post(api.path(endpoint), body)
    assert reply.status == 200 and reply.code == 0, reply.raw


def _delete_first(api: Api, body: dict[str, Any]) -> None:
    ref = next(body[a] for a in field_of("permit_update", "reference_id").aliases if a in body)
    api.ok("permit_delete", {"reference_id": ref})


def _rule_cases() -> list[Case]:
    push_end = field_of("permit_push", "end")
    update_end = field_of("permit_update", "end")
    update_ref = field_of("permit_update", "reference_id")
    delete_ref = field_of("permit_delete", "reference_id")
    v_plate, v_prov = field_of("vehicle_push", "plate"), field_of("vehicle_push", "province")
    email, user_name = field_of("profile_push", "email"), field_of("profile_push", "user_name")
    user_type = field_of("profile_push", "user_type_id")
    seeded = reference_data(1)
    unknown_ref = "00000000-0000-4000-8000-000000000000"

    def same_end_as_start(api: Api, body: dict[str, Any]) -> dict[str, Any]:
        return with_field(body, push_end, push_end.aliases[0], body["startTime"])

    def seeded_vehicle(prov_alias: str, prov: str) -> Mutation:
        def mutate(api: Api, body: dict[str, Any]) -> dict[str, Any]:
            out = with_field(body, v_plate, "plate", seeded.vehicle_plates[0].lower())
            return with_field(out, v_prov, prov_alias, prov)

        return mutate

    def lower_plate_after_push(api: Api, body: dict[str, Any]) -> None:
        _posts_first(api, "vehicle_push", body)
        body["plate"] = body["plate"].lower()

    return [
        Case("permit_push", 9005, "end-equals-start", same_end_as_start),
        Case("permit_push", 9005, "end-before-start", _put(push_end, "endTime", at(-2 * HOUR))),
        Case("permit_push", 9022, "same-plate-and-ticket-live",
             setup=lambda api, body: _posts_first(api, "permit_push", body)),
        Case("permit_update", 9009, "unknown-reference", _put(update_ref, "referenceID", unknown_ref)),
        Case("permit_update", 9009, "deleted-permit", setup=_delete_first),
        Case("permit_update", 9005, "end-before-permit-start", _put(update_end, "endTime", at(-2 * HOUR))),
        Case("permit_delete", 9009, "unknown-reference", _put(delete_ref, "reference_id", unknown_ref)),
        Case("permit_delete", 9009, "deleted-twice", setup=_delete_first),
        Case("vehicle_push", 9012, "seeded-vehicle-by-prov-code", seeded_vehicle("prov", "on")),
        Case("vehicle_push", 9012, "seeded-vehicle-by-prov-id", seeded_vehicle("provID", "9")),
        Case("vehicle_push", 9012, "same-plate-other-case", setup=lower_plate_after_push),
        Case("profile_push", 9019, "seeded-email-other-case",
             _put(email, "email", seeded.seeded_emails[0].upper())),
        Case("profile_push", 9020, "seeded-user-name", _put(user_name, "user_name", seeded.seeded_user_names[1])),
        Case("profile_push", 9033, "user-type-unknown", _put(user_type, "user_type_id", "99")),
    ]


def catalogue_cases() -> list[Case]:
    out: list[Case] = []
    for ep in ENDPOINT_LIST:
        out += _credential_cases(ep)
        out += _field_cases(ep)
    out += _rule_cases()
    return out


def codes_by_endpoint(cases: list[Case]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {name: set() for name in ENDPOINTS}
    for c in cases:
        out[c.endpoint].add(c.code)
    return out

