"""The recipes of deliberately invalid requests: (endpoint, code) -> how to provoke it.

``RECIPES`` is one table. Most recipes are derived from the endpoint catalogue
(``harness.opscom.endpoints``), so a field added there gets its error cases for free:

- a required field left out, ``null`` or ``""``       -> its ``missing_code``
- an optional field with a ``missing_code`` sent empty -> that code
- a value one character under ``min_len``             -> ``min_len_code``
- a value one character over ``max_len``              -> ``max_len_code``
- the wrong JSON type, or a malformed value for the
  field's ``kind``                                     -> ``invalid_code``

and the rest are written out: credentials (9000 blank client, 9001 no token, 9034
unknown token, 9002 the restricted token, 9003 unparseable bytes), cross-field and
existence rules (9005 end before start, 9009 an unknown reference id), and the
duplicates, which need a first call to succeed: the recipe returns a ``Setup``, a
valid first call whose accepted answer releases the invalid one (9012 vehicle,
9019/9020 user, 9022 permit). Some of those also have a one-shot variant using the
seeded reference data (a seeded vehicle, e-mail or user name).

A recipe only describes a request (a ``Draft``); the generator (``invalid.py``)
turns it into a ``Call`` and supplies what recipes draw on through ``Kit``: fresh
valid values to break one thing in, the run's context, its random stream, and a
permit of its own for errors that need an existing one.

Every (endpoint, code) of ``Endpoint.codes`` has a recipe except ``UNREACHABLE``:
``(plate_validate, 9002)``, since the restricted token holds exactly
``plate-validate`` and the run's main token every permission, so no token the
harness has lacks that one permission.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from harness.opscom.builders import Ref, format_datetime
from harness.opscom.endpoints import (
    ENDPOINT_LIST,
    ENDPOINTS,
    GROWING_REFS,
    Endpoint,
    Field,
    Kind,
    Presence,
    Service,
)
from harness.opscom.reference_data import PROVINCES
from harness.traffic.call import TrafficContext

# Codes some endpoint of the catalogue can answer.
CATALOGUE_CODES: frozenset[int] = frozenset().union(*(e.codes for e in ENDPOINT_LIST))
# (endpoint, code) pairs no token of a run can provoke; see the module docstring.
UNREACHABLE: frozenset[tuple[str, int]] = frozenset({("plate_validate", 9002)})


# --- what recipes draw on ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LivePermit:
    """The permit this generator pushed for itself, to aim field errors at."""

    reference_id: str
    plate: str
    start: datetime
    end: datetime


class Kit(Protocol):
    """What a recipe may use: the generator making the calls."""

    ctx: TrafficContext
    rng: random.Random
    permit: LivePermit | None  # set before a recipe with needs_permit runs

    def valid_values(self, endpoint: str, *, for_credentials: bool = False) -> dict[str, Any]:
        """Fresh valid values for ``endpoint`` (canonical names; unique ones new)."""
        ...

    def wall_now(self) -> datetime: ...

    def random_uuid(self) -> str: ...

    def bogus_token(self) -> str: ...

    def truncated_json(self, ep: Endpoint) -> bytes: ...

    def encode(self, d: Draft) -> bytes:
        """The body bytes of ``d`` (so a duplicate can repeat them exactly)."""
        ...


# --- what a recipe produces -------------------------------------------------------------


CTX = object()  # "the run's own value" for Draft.token / Draft.client


@dataclass(slots=True)
class Draft:
    """A request before it is a Call: the fields by canonical name (or exact key),
    the credentials, and exceptional paths or raw bytes."""

    endpoint: Endpoint
    values: dict[str, Any] = field(default_factory=dict)
    token: Any = CTX  # CTX: the run's token; None: leave it out; a str: send that
    client: Any = CTX  # plate service only: CTX, None (left out) or a str
    raw: bytes | None = None  # the body exactly, instead of encoding values
    path: str | None = None  # None: the endpoint's path for the run's client


@dataclass(frozen=True, slots=True)
class Setup:
    """A valid first call whose successful answer releases the invalid second one."""

    first: Draft
    then: Callable[[Any], Draft]  # the decoded answer -> the invalid call


Maker = Callable[["Kit"], "Draft | Setup"]


@dataclass(frozen=True, slots=True)
class Recipe:
    endpoint: str
    code: int
    label: str
    make: Maker = field(repr=False)
    needs_permit: bool = False  # a live permit of our own (permit_update fields)
    needs_restricted: bool = False  # ctx.restricted_token
    needs_reference: bool = False  # the target holds the reference data of ctx.seed

    def __str__(self) -> str:
        return f"{self.endpoint} {self.code}: {self.label}"


# --- recipes derived from the catalogue -------------------------------------------------

# Strings of the wrong form, per kind; each answers the field's invalid_code.
_MALFORMED: dict[Kind, tuple[str, ...]] = {
    Kind.DATETIME: ("2018-07-02 09:30:00", "2018-02-30T09:00:00", "tomorrow"),
    Kind.DATE: ("31-01-1901", "1901-02-30"),
    Kind.AMOUNT: ("14.5", "0.00", "1000000.00", "14,50"),
    Kind.CHOICE: ("NOSUCH",),
    Kind.YEAR: ("20x1", "11"),
    Kind.EMAIL: ("not-an-email",),
    Kind.DIGITS: ("six",),
}
# Kinds that also take a JSON number (YEAR, DIGITS; a REF by id): for the others a
# number is the wrong JSON type too.
_NUMBER_OK = frozenset({Kind.YEAR, Kind.DIGITS, Kind.REF})


def _wrong_types(f: Field) -> tuple[tuple[str, Any], ...]:
    """Values of the wrong JSON type for ``f`` (every field answers invalid_code)."""
    out: list[tuple[str, Any]] = [
        ("a list", ["X1"]),
        ("an object", {"value": "X1"}),
        ("true", True),
    ]
    if f.kind not in _NUMBER_OK:
        out.append(("a number", 14.5 if f.kind is Kind.AMOUNT else 12345))
    return tuple(out)


# Record not found (9009) is checked right after the field naming the record, so an
# error in any later field only shows with a record that exists (permit_update).
_NOT_FOUND = 9009


def _exists_after(ep: Endpoint) -> str | None:
    return next((r.after_field for r in ep.rules if r.code == _NOT_FOUND), None)


def _id_alias(f: Field) -> str:
    return next(a for a in f.aliases if a.endswith("ID"))


def _name_alias(f: Field) -> str:
    return next(a for a in f.aliases if not a.endswith("ID"))


def _set(values: dict[str, Any], f: Field, value: Any, key: str | None = None) -> dict[str, Any]:
    """``values`` with field ``f`` set to ``value`` (under exact ``key`` if given)."""
    values.pop(f.name, None)
    values[key or f.name] = value
    return values


def _without(values: dict[str, Any], f: Field) -> dict[str, Any]:
    values.pop(f.name, None)
    return values


def _overlong(f: Field, n: int) -> str:
    if f.kind is Kind.EMAIL:
        return "u" * (n - len("@example.edu")) + "@example.edu"
    return ("LONG" * (n // 4 + 1))[:n]


def _field_recipes(ep: Endpoint) -> list[Recipe]:
    out: list[Recipe] = []
    gate = _exists_after(ep)
    past_gate = False
    for f in ep.fields:
        needs = gate is not None and past_gate

        def add(
            code: int,
            label: str,
            change: Callable[[dict[str, Any]], dict[str, Any]],
            f: Field = f,
            needs: bool = needs,
        ) -> None:
            def make(g: Kit) -> Draft:
                return Draft(ep, change(g.valid_values(ep.name)))

            out.append(Recipe(ep.name, code, f"{f.name}: {label}", make, needs_permit=needs))

        if f.presence is not Presence.OPTIONAL:
            assert f.missing_code is not None
            add(f.missing_code, "left out", lambda v, f=f: _without(v, f))
        if f.missing_code is not None:
            add(f.missing_code, "null", lambda v, f=f: _set(v, f, None))
            add(f.missing_code, "empty", lambda v, f=f: _set(v, f, ""))
        if f.min_len is not None:
            short = "AB"[: f.min_len - 1]
            add(f.min_len_code, f"{len(short)} character(s)", lambda v, f=f, s=short: _set(v, f, s))
        if f.max_len is not None and not f.truncate:
            long = _overlong(f, f.max_len + 1)
            add(f.max_len_code, f"{f.max_len + 1} characters", lambda v, f=f, s=long: _set(v, f, s))
        for label, bad in _wrong_types(f):
            add(f.invalid_code, label, lambda v, f=f, b=bad: _set(v, f, b))
        if f.kind is Kind.REF:
            ida, namea = _id_alias(f), _name_alias(f)
            variants = [(ida, "abc", "not a number"), (ida, "99999", "unknown")]
            if f.ref not in GROWING_REFS:  # a growing table adds an unknown name
                variants.append((namea, "No Such Entry", "unknown"))
            for key, bad, label in variants:
                add(f.invalid_code, f"{key} {label}", lambda v, f=f, k=key, b=bad: _set(v, f, b, k))
        for bad in _MALFORMED.get(f.kind, ()):
            add(f.invalid_code, f"malformed {bad!r}", lambda v, f=f, b=bad: _set(v, f, b))
        past_gate = past_gate or f.name == gate
    return out


# --- recipes written out ----------------------------------------------------------------


def _credential_recipes(ep: Endpoint) -> list[Recipe]:
    name = ep.name
    plate = ep.service is Service.PLATE

    def draft(g: Kit, **kw: Any) -> Draft:
        return Draft(ep, g.valid_values(name, for_credentials=True), **kw)

    def other_client_path(g: Kit) -> str:
        return ep.path_for(g.ctx.client + "X")

    recipes = [
        Recipe(name, 9003, "truncated JSON", lambda g: Draft(ep, raw=g.truncated_json(ep))),
        Recipe(name, 9003, "not JSON", lambda g: Draft(ep, raw=b"plate=ABC123&token=x")),
        Recipe(name, 9003, "invalid UTF-8", lambda g: Draft(ep, raw=b'{"plate": "\xff\xfe"}')),
        Recipe(name, 9001, "token left out", lambda g: draft(g, token=None)),
        Recipe(name, 9001, "token empty", lambda g: draft(g, token="")),
        Recipe(name, 9034, "unknown token", lambda g: draft(g, token=g.bogus_token())),
    ]
    if plate:
        recipes += [
            Recipe(name, 9000, "client left out", lambda g: draft(g, client=None)),
            Recipe(name, 9000, "client empty", lambda g: draft(g, client="")),
            Recipe(
                name, 9034, "token of another client", lambda g: draft(g, client=g.ctx.client + "X")
            ),
        ]
    else:
        recipes += [
            Recipe(
                name, 9000, "blank client in the path", lambda g: draft(g, path=ep.path_for(" "))
            ),
            Recipe(
                name, 9034, "token of another client", lambda g: draft(g, path=other_client_path(g))
            ),
            Recipe(
                name,
                9002,
                "restricted token",
                lambda g: draft(g, token=g.ctx.restricted_token),
                needs_restricted=True,
            ),
        ]
    return recipes


def _twice(ep: str, values: Callable[[Kit], dict[str, Any]]) -> Maker:
    """A valid call, then the very same bytes again once the first succeeded."""

    def make(g: Kit) -> Setup:
        first = Draft(ENDPOINTS[ep], raw=g.encode(Draft(ENDPOINTS[ep], values(g))))
        return Setup(first, lambda doc: first)

    return make


def _second_user(same: str) -> Maker:
    """Create a user, then another with the first one's ``same`` (email or user_name)."""

    def make(g: Kit) -> Setup:
        first = g.valid_values("profile_push")

        def then(doc: Any) -> Draft:
            second = g.valid_values("profile_push")
            second[same] = first[same]
            return Draft(ENDPOINTS["profile_push"], second)

        return Setup(Draft(ENDPOINTS["profile_push"], first), then)

    return make


def _seeded_user(same: str) -> Maker:
    def make(g: Kit) -> Draft:
        values = g.valid_values("profile_push")
        pool = (
            g.ctx.reference.seeded_emails if same == "email" else g.ctx.reference.seeded_user_names
        )
        values[same] = g.rng.choice(pool)
        return Draft(ENDPOINTS["profile_push"], values)

    return make


_ONTARIO = next(p for p in PROVINCES if p[2] == "ON")


def _seeded_vehicle(g: Kit) -> Draft:
    # Seeded vehicles are registered in Ontario; same plate and province is 9012.
    values = g.valid_values("vehicle_push")
    values["plate"] = g.rng.choice(g.ctx.reference.vehicle_plates)
    values["province"] = g.rng.choice((Ref(_ONTARIO[0], _ONTARIO[1]), _ONTARIO[2]))
    return Draft(ENDPOINTS["vehicle_push"], values)


def _end_before_start(g: Kit) -> Draft:
    values = g.valid_values("permit_push")
    values["end"] = format_datetime(g.wall_now() - timedelta(minutes=g.rng.randint(1, 120)))
    return Draft(ENDPOINTS["permit_push"], values)


def _update_end_before_start(g: Kit) -> Draft:
    values = g.valid_values("permit_update")
    assert g.permit is not None
    values["end"] = format_datetime(g.permit.start - timedelta(minutes=g.rng.randint(1, 120)))
    return Draft(ENDPOINTS["permit_update"], values)


def _unknown_reference(ep: str) -> Maker:
    def make(g: Kit) -> Draft:
        return Draft(ENDPOINTS[ep], {"reference_id": g.random_uuid()})

    return make


def _special_recipes() -> list[Recipe]:
    return [
        Recipe("permit_push", 9005, "end before start", _end_before_start),
        Recipe(
            "permit_update",
            9005,
            "end before the permit's start",
            _update_end_before_start,
            needs_permit=True,
        ),
        Recipe("permit_update", 9009, "unknown reference id", _unknown_reference("permit_update")),
        Recipe("permit_delete", 9009, "unknown reference id", _unknown_reference("permit_delete")),
        Recipe(
            "permit_push",
            9022,
            "same plate and ticket pushed twice",
            _twice("permit_push", lambda g: g.valid_values("permit_push")),
        ),
        Recipe(
            "vehicle_push",
            9012,
            "same vehicle pushed twice",
            _twice("vehicle_push", lambda g: g.valid_values("vehicle_push")),
        ),
        Recipe("vehicle_push", 9012, "a seeded vehicle", _seeded_vehicle, needs_reference=True),
        Recipe("profile_push", 9019, "another user's e-mail", _second_user("email")),
        Recipe("profile_push", 9020, "another user's user name", _second_user("user_name")),
        Recipe(
            "profile_push",
            9019,
            "a seeded user's e-mail",
            _seeded_user("email"),
            needs_reference=True,
        ),
        Recipe(
            "profile_push",
            9020,
            "a seeded user's user name",
            _seeded_user("user_name"),
            needs_reference=True,
        ),
    ]


def _build_table() -> dict[tuple[str, int], tuple[Recipe, ...]]:
    table: dict[tuple[str, int], list[Recipe]] = {}
    recipes = [r for ep in ENDPOINT_LIST for r in (*_credential_recipes(ep), *_field_recipes(ep))]
    for r in recipes + _special_recipes():
        table.setdefault((r.endpoint, r.code), []).append(r)
    return {
        key: tuple(rs)
        for key, rs in sorted(table.items(), key=lambda kv: (ENDPOINTS[kv[0][0]].index, kv[0][1]))
    }


RECIPES: Mapping[tuple[str, int], tuple[Recipe, ...]] = _build_table()
