"""A valid value for every field of every endpoint, and helpers to send them.

``VALID[endpoint][field]`` is a constant or a function of the ``Api`` (for values
that must be fresh, such as plates, or that need a record first, such as a permit
to update). ``test_catalogue_cases`` checks the table names every catalogue field,
so a field added to ``endpoints.py`` fails the tests until it has a sample here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.opscom.builders import Ref, format_datetime
from harness.opscom.endpoints import ENDPOINTS, Field, Kind
from harness.opscom.reference_data import reference_data
from support.api import Api, fresh


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def at(delta: timedelta) -> str:
    """An API date ``delta`` from now (UTC)."""
    return format_datetime(utc_now() + delta)


HOUR = timedelta(hours=1)


def push_permit(api: Api, **values: Any) -> str:
    """Push a live permit (started an hour ago, ends in an hour); its reference id."""
    body = {"plate": fresh(), "start": at(-HOUR), "end": at(HOUR), **values}
    return api.ok("permit_push", body)["reference_id"]


Sample = Any  # a value, or a function Api -> value
VALID: dict[str, dict[str, Sample]] = {
    "permit_push": {
        "plate": lambda a: fresh(), "start": lambda a: at(-HOUR), "end": lambda a: at(HOUR),
        "amount": "14.50", "currency": "CAD", "ticket": lambda a: fresh("T"), "zone": "Lot 04",
    },
    "permit_update": {
        "reference_id": push_permit, "end": lambda a: at(2 * HOUR), "plate": lambda a: fresh(),
        "amount": "9.99", "currency": "USD",
    },
    "permit_delete": {"reference_id": push_permit},
    "permit_stats": {"zones": "Lot 04, Lot 05"},
    "vehicle_push": {
        "plate": lambda a: fresh(), "plate_type": Ref(2, "Motorcycle"), "province": Ref(60, "MA"),
        "make": Ref(8, "Kia"), "type": Ref(3, "Truck"), "colour": Ref(14, "Red"), "year": "2011",
        "vin": "8GKS1AKC7FR518845",
    },
    "user_types": {},
    "profile_push": {
        "unique_id": lambda a: fresh("U"), "login_source": "OPSCOM", "first_name": "Firstname",
        "last_name": "Lastname", "user_name": lambda a: fresh("N").lower(),
        "email": lambda a: f"{fresh('E').lower()}@example.org", "street": "123 Main Street",
        "city": "Everywhere", "province": "BC", "postal_code": "H0H0H0", "street2": "123 General Street",
        "city2": "Somewhere", "province2": "AB", "postal_code2": "A9A9A9", "phone_cell": "613-555-1212",
        "user_type_id": "6", "employ_no": "employee number: default", "employee_phone": "emp ph. 555",
        "student_no": "SN 543209854", "student_phone": "999", "driver_licence_num": "QC 99999999",
        "date_of_birth": "1901-01-31", "locker_user_type_id": "3", "driver_licence_prov": "BC",
    },
    "overdue_violations": {},
    "plate_validate": {"plate": lambda a: reference_data(a.target.seed).permit_plates[0]},
}


def valid_values(api: Api, endpoint: str) -> dict[str, Any]:
    """Canonical name -> a valid value, for every field of ``endpoint``."""
    return {name: (sample(api) if callable(sample) else sample) for name, sample in VALID[endpoint].items()}


def as_sent(f: Field, alias: str, value: Any) -> Any:
    """``value`` as it goes under ``alias`` (a Ref is an id or a name)."""
    if isinstance(value, Ref):
        return str(value.id) if alias.endswith("ID") else value.name
    return value


def valid_body(api: Api, endpoint: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A valid JSON body with every field under its first alias."""
    values = valid_values(api, endpoint)
    values.update(overrides or {})
    return api.body(endpoint, values)


def with_field(body: dict[str, Any], f: Field, alias: str | None, value: Any) -> dict[str, Any]:
    """``body`` with every alias of ``f`` removed, then ``value`` under ``alias``
    (``alias=None``: the field is left out)."""
    out = {k: v for k, v in body.items() if k not in f.aliases}
    if alias is not None:
        out[alias] = value
    return out


def field_of(endpoint: str, name: str) -> Field:
    return ENDPOINTS[endpoint].field(name)


Mutation = Callable[[dict[str, Any]], dict[str, Any]]


def set_field(endpoint: str, name: str, value: Any, alias: str | None = None) -> Mutation:
    """A mutation putting ``value`` under ``alias`` (default: the field's first name alias
    for REF fields, else its first alias)."""
    f = field_of(endpoint, name)
    if alias is None:
        alias = f.aliases[0]
        if f.kind is Kind.REF and not isinstance(value, int):
            alias = next(a for a in f.aliases if not a.endswith("ID"))
    return lambda body: with_field(body, f, alias, value)


def drop_field(endpoint: str, name: str) -> Mutation:
    f = field_of(endpoint, name)
    return lambda body: with_field(body, f, None, None)
