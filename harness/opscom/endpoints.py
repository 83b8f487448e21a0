"""The nine OPSCOM endpoints: paths, credentials, permissions and every field.

This module is the single statement of the API in code. The reference controller
validates requests from it, the builders write request bodies from it, the invalid
traffic generator derives its error cases from it, and ``/openapi.json`` is rendered
from it. ``../shared/opscom-api.md`` is the source; where it is silent the decision
taken is written next to the field (``note``).

Validation order a server applies (decision of ``opscom-api.md``):

    parse (9003) -> client code (9000) -> token present (9001)
    -> token known for the client (9034) -> permission (9002)
    -> the fields, in table order; the first failing check answers.

Within one field the checks run: presence, type, min length, max length, format,
then the field's own rule (uniqueness, existence, ...). Cross-field rules listed in
``Endpoint.rules`` run at the position of the field they are attached to.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Final
from urllib.parse import quote


class Service(enum.Enum):
    """Which OPSCOM service answers an endpoint; each has its own base URL."""

    CONTROLLER = "controller"
    PLATE = "plate"


class Presence(enum.Enum):
    OPTIONAL = "optional"
    REQUIRED = "required"
    # profile_push: required when the unique_id is new, optional on update.
    ON_CREATE = "on_create"


class Kind(enum.Enum):
    """The format a field's value must have. Values are JSON strings unless noted."""

    TEXT = "text"
    DATETIME = "datetime"  # Y-m-d\TH:i:s, e.g. 2018-07-02T09:30:00, no zone (read as UTC)
    DATE = "date"  # YYYY-MM-DD
    AMOUNT = "amount"  # "14.50": digits, a point, two digits; 0.01..999999.99
    CHOICE = "choice"  # one of Field.choices, exactly
    YEAR = "year"  # four digits; a JSON integer is accepted too
    EMAIL = "email"  # something@something
    DIGITS = "digits"  # an id: digits as a string, or a JSON integer
    # A reference to a catalogue row (plate types, provinces, makes, ...). An alias
    # ending in "ID" carries the row id (DIGITS); any other alias carries its name.
    REF = "ref"
    ZONES = "zones"  # comma-separated zone names


@dataclass(frozen=True, kw_only=True)
class Field:
    """One request field with every name it may be sent under.

    ``name`` is the canonical name used in code (builders, traffic); ``aliases`` are
    the JSON keys a server accepts, in precedence order: when a request carries two
    aliases of one field, the first one listed wins.
    """

    name: str
    aliases: tuple[str, ...]
    presence: Presence = Presence.OPTIONAL
    kind: Kind = Kind.TEXT
    # Answered when a required field is absent, null or ""; on an optional field that
    # has one, answered when the field is sent but empty (null or "").
    missing_code: int | None = None
    min_len: int | None = None
    min_len_code: int = 9032
    max_len: int | None = None
    max_len_code: int = 9030
    invalid_code: int = 9033  # wrong JSON type or malformed value
    choices: tuple[str, ...] = ()
    ref: str | None = None  # catalogue table for Kind.REF
    truncate: bool = False  # over-long names are cut to max_len with a warning, not refused
    note: str = ""

    def __post_init__(self) -> None:
        if not self.aliases:
            raise ValueError(f"field {self.name}: needs at least one alias")
        if self.presence is not Presence.OPTIONAL and self.missing_code is None:
            raise ValueError(f"field {self.name}: a required field needs missing_code")
        if self.kind is Kind.REF and self.ref is None:
            raise ValueError(f"field {self.name}: a REF field names its catalogue table")

    @property
    def codes(self) -> frozenset[int]:
        """Every error code a violation of this field can produce."""
        out: set[int] = set()
        if self.missing_code is not None:
            out.add(self.missing_code)
        if self.min_len is not None:
            out.add(self.min_len_code)
        if self.max_len is not None and not self.truncate:
            out.add(self.max_len_code)
        # Any field can be sent with the wrong JSON type (a list, a number for text).
        out.add(self.invalid_code)
        return frozenset(out)


@dataclass(frozen=True, kw_only=True)
class Rule:
    """A check beyond one field's format: existence, uniqueness, cross-field order."""

    code: int
    after_field: str  # the rule runs right after this field's own checks
    text: str


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    name: str
    service: Service
    path: str  # "{client}" stands for the client code on controller paths
    permission: str
    summary: str
    fields: tuple[Field, ...] = ()
    rules: tuple[Rule, ...] = ()
    success: str = ""  # the shape of a successful answer, for the docs
    index: int = field(default=-1, compare=False)  # position in ENDPOINTS

    @property
    def token_field(self) -> str:
        return "apiToken" if self.service is Service.CONTROLLER else "api_token"

    @property
    def client_field(self) -> str | None:
        """Body key of the client code (plate service); None where it is in the path."""
        return "client" if self.service is Service.PLATE else None

    def path_for(self, client: str) -> str:
        """The path with the client code as its (percent-encoded) segment."""
        return self.path.replace("{client}", client_segment(client))

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def codes(self) -> frozenset[int]:
        """Every error code this endpoint can answer, credentials included."""
        out = {9003, 9000, 9001, 9034, 9002}
        for f in self.fields:
            out |= f.codes
        out |= {r.code for r in self.rules}
        return frozenset(out)


# --- the fields shared by several endpoints -----------------------------------------

_REFERENCE_ID = Field(
    name="reference_id",
    aliases=("referenceid", "referenceID", "reference_id"),
    presence=Presence.REQUIRED,
    missing_code=9008,
    max_len=50,
    note="the reference_id permit_push returned; a deleted permit is not found (9009)",
)
_AMOUNT = Field(
    name="amount",
    aliases=("amount", "Amount"),
    kind=Kind.AMOUNT,
    note='a string such as "14.50"; a JSON number is refused (9033)',
)
_CURRENCY = Field(
    name="currency",
    aliases=("currency", "CurrencyID"),
    kind=Kind.CHOICE,
    choices=("CAD", "USD"),
)
_END_OPTIONAL = Field(name="end", aliases=("endTime", "EndDateUtc"), kind=Kind.DATETIME, invalid_code=9005)


def _profile_text(name: str, max_len: int | None, *aliases: str) -> Field:
    return Field(name=name, aliases=aliases or (name,), max_len=max_len)


def _profile_province(name: str, *aliases: str) -> Field:
    return Field(name=name, aliases=aliases, max_len=2, note="2-character postal abbreviation")


ENDPOINT_LIST: Final[tuple[Endpoint, ...]] = (
    Endpoint(
        name="permit_push",
        service=Service.CONTROLLER,
        path="/api/{client}/v1/permits/push",
        permission="permit-push",
        summary="a meter or parking app sells a permit",
        fields=(
            Field(
                name="plate",
                aliases=("plate", "LicencePlate"),
                presence=Presence.REQUIRED,
                missing_code=9006,
                max_len=25,
            ),
            Field(
                name="start",
                aliases=("startTime", "StartDateUtc"),
                presence=Presence.REQUIRED,
                kind=Kind.DATETIME,
                missing_code=9007,
                invalid_code=9007,
            ),
            Field(
                name="end",
                aliases=("endTime", "EndDateUtc"),
                presence=Presence.REQUIRED,
                kind=Kind.DATETIME,
                missing_code=9004,
                invalid_code=9005,
            ),
            _AMOUNT,
            _CURRENCY,
            Field(name="ticket", aliases=("permitNo", "TicketNumber"), max_len=50),
            Field(
                name="zone",
                aliases=("zone", "ParkingZoneName"),
                max_len=200,
                note="an unknown zone is accepted but 'disconnected'",
            ),
        ),
        rules=(
            Rule(code=9005, after_field="end", text="end must be after start"),
            Rule(
                code=9022,
                after_field="zone",
                text="a live pushed permit already has this plate and ticket number (decision)",
            ),
        ),
        success='{"status": "success", "reference_id": "<uuid>", "InternalReferenceID": "<uuid>"}',
    ),
    Endpoint(
        name="permit_update",
        service=Service.CONTROLLER,
        path="/api/{client}/v1/permits/update",
        permission="permit-push",
        summary="extend or correct a pushed permit",
        fields=(
            _REFERENCE_ID,
            _END_OPTIONAL,
            Field(
                name="plate",
                aliases=("plate", "LicencePlate"),
                missing_code=9031,
                max_len=25,
                note='sent but empty ("") answers 9031 (decision)',
            ),
            _AMOUNT,
            _CURRENCY,
        ),
        rules=(
            Rule(code=9009, after_field="reference_id", text="the permit must exist and not be deleted"),
            Rule(code=9005, after_field="end", text="end must be after the permit's start"),
        ),
        success='{"status": "success", "reference_id": "<same>", "InternalReferenceID": "<same>"}',
    ),
    Endpoint(
        name="permit_delete",
        service=Service.CONTROLLER,
        path="/api/{client}/v1/permits/delete",
        permission="permit-push",
        summary="cancel a pushed permit",
        fields=(_REFERENCE_ID,),
        rules=(Rule(code=9009, after_field="reference_id", text="the permit must exist and not be deleted"),),
        success='{"status": "success", "reference_id": "<same>", "InternalReferenceID": "<same>"}',
    ),
    Endpoint(
        name="permit_stats",
        service=Service.CONTROLLER,
        path="/api/{client}/v1/permits/stats",
        permission="permit-stats",
        summary="counts of pushed permits per type and zone",
        fields=(Field(name="zones", aliases=("zones",), kind=Kind.ZONES),),
        success='{"data": [{"type": "temp", "zone": "zone1", "total": "4"}, ...]}',
    ),
    Endpoint(
        name="vehicle_push",
        service=Service.CONTROLLER,
        path="/api/{client}/v1/vehicles/push",
        permission="vehicle-create",
        summary="create a vehicle",
        fields=(
            Field(
                name="plate",
                aliases=("plate",),
                presence=Presence.REQUIRED,
                missing_code=9006,
                max_len=50,
                max_len_code=9021,
            ),
            Field(
                name="plate_type",
                aliases=("plateTypeID", "plateType"),
                presence=Presence.REQUIRED,
                kind=Kind.REF,
                ref="plate_types",
                missing_code=9010,
                max_len=50,
                note="an unknown id or name answers 9033",
            ),
            Field(
                name="province",
                aliases=("provID", "prov"),
                presence=Presence.REQUIRED,
                kind=Kind.REF,
                ref="provinces",
                missing_code=9011,
                max_len=50,
                note="full name or postal abbreviation; unknown answers 9033",
            ),
            Field(name="make", aliases=("makeID", "make"), kind=Kind.REF, ref="makes", max_len=50, truncate=True),
            Field(name="type", aliases=("typeID", "type"), kind=Kind.REF, ref="vehicle_types", max_len=50, truncate=True),
            Field(name="colour", aliases=("colourID", "colour"), kind=Kind.REF, ref="colours", max_len=50, truncate=True),
            Field(name="year", aliases=("year",), kind=Kind.YEAR),
            Field(name="vin", aliases=("vin",), max_len=25),
        ),
        rules=(Rule(code=9012, after_field="vin", text="the same plate and province is already a vehicle"),),
        success='{"status": "success", "vehicle_id_id": "158", "warnings": [...]}',
    ),
    Endpoint(
        name="user_types",
        service=Service.CONTROLLER,
        path="/api/{client}/v1/profiles/types/list",
        permission="user-types",
        summary="list profile user types",
        success='{"status": "success", "user_types": [{"id": "1", "type_name": "...", "ext_info": "..."}]}',
    ),
    Endpoint(
        name="profile_push",
        service=Service.CONTROLLER,
        path="/api/{client}/v1/profiles/push",
        permission="user-create",
        summary="create or update a user",
        fields=(
            Field(name="unique_id", aliases=("unique_id",), presence=Presence.REQUIRED, missing_code=9013, max_len=50),
            Field(
                name="login_source",
                aliases=("login_source",),
                presence=Presence.REQUIRED,
                missing_code=9014,
                max_len=20,
                kind=Kind.CHOICE,
                choices=("OPSCOM", "LDAP", "SAML"),
                invalid_code=9015,
                note="known sources are OPSCOM, LDAP and SAML (decision)",
            ),
            Field(name="first_name", aliases=("first_name",), presence=Presence.ON_CREATE, missing_code=9017, max_len=50),
            Field(name="last_name", aliases=("last_name",), presence=Presence.ON_CREATE, missing_code=9018, max_len=50),
            Field(
                name="user_name",
                aliases=("user_name",),
                min_len=3,
                max_len=50,
                note="unique among users (9020); at least 3 characters (decision)",
            ),
            Field(
                name="email",
                aliases=("email",),
                presence=Presence.ON_CREATE,
                missing_code=9016,
                max_len=100,
                kind=Kind.EMAIL,
                note="unique among users (9019)",
            ),
            _profile_text("street", 255),
            _profile_text("city", 50),
            _profile_province("province", "province", "state"),
            _profile_text("postal_code", 20, "postal_code", "zip"),
            _profile_text("street2", 20),
            _profile_text("city2", 50),
            _profile_province("province2", "province2", "state2"),
            _profile_text("postal_code2", 20, "postal_code2", "zip2"),
            _profile_text("phone_cell", 20),
            Field(name="user_type_id", aliases=("user_type_id",), kind=Kind.DIGITS, note="an unknown user type answers 9033"),
            _profile_text("employ_no", 50),
            _profile_text("employee_phone", 50),
            _profile_text("student_no", 50),
            _profile_text("student_phone", 50),
            _profile_text("driver_licence_num", 255, "driver_licence_num", "driver_license_num"),
            Field(name="date_of_birth", aliases=("date_of_birth",), kind=Kind.DATE),
            Field(name="locker_user_type_id", aliases=("locker_user_type_id",), kind=Kind.DIGITS),
            _profile_province("driver_licence_prov", "driver_licence_prov", "driver_license_state"),
        ),
        rules=(
            Rule(code=9020, after_field="user_name", text="user_name belongs to another user"),
            Rule(code=9019, after_field="email", text="email belongs to another user"),
        ),
        success='{"status": "success", "reference_id": 44}',
    ),
    Endpoint(
        name="overdue_violations",
        service=Service.CONTROLLER,
        path="/api/{client}/v1/violations/send_overdue_to_collections",
        permission="violation_collection",
        summary="hand every overdue, unsent violation to collections, exactly once",
        success='{"records": [...], "state": {"version": "...", "csrf_token": "..."}}',
    ),
    Endpoint(
        name="plate_validate",
        service=Service.PLATE,
        path="/api/v1/validate/plate",
        permission="plate-validate",
        summary="permits, alarm and DNTT status of a plate",
        fields=(
            Field(
                name="plate",
                aliases=("plate",),
                presence=Presence.REQUIRED,
                missing_code=9006,
                min_len=2,
                max_len=50,
                note="at least 2 characters (9032, decision)",
            ),
        ),
        success='{"error": 0, "message": "", "data": {"plate": "...", "response": "...", "responseJSON": {...}}}',
    ),
)

# Index each endpoint by its position, so metrics can keep per-endpoint arrays.
ENDPOINT_LIST = tuple(replace(e, index=i) for i, e in enumerate(ENDPOINT_LIST))

# Characters a client code may not contain at all: they would change the path's
# shape (separators, query, fragment) or cannot be written safely (controls).
_CLIENT_FORBIDDEN = frozenset("/?#\\") | frozenset(chr(c) for c in range(32)) | {"\x7f"}
_SEGMENT_SAFE = "-._~!$&'()*+,;=:@"  # RFC 3986 pchar, besides unreserved letters and digits


def check_client_code(client: str) -> str:
    """``client`` if it can be a path segment, else ValueError saying why. Characters
    outside RFC 3986's path characters (a space, accented letters) are allowed and
    percent-encoded (UTF-8) in paths; the body's ``client`` field keeps them as is."""
    if not client or not client.strip():
        raise ValueError("expected a client code such as OC_TOMA, got an empty one")
    bad = sorted({c for c in client if c in _CLIENT_FORBIDDEN})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise ValueError(f"a client code is a path segment and cannot contain {shown}; got {client!r}")
    return client


def client_segment(client: str) -> str:
    """The client code as it appears in a controller path (percent-encoded)."""
    return quote(client, safe=_SEGMENT_SAFE)
ENDPOINTS: Final = MappingProxyType({e.name: e for e in ENDPOINT_LIST})
ENDPOINT_NAMES: Final[tuple[str, ...]] = tuple(ENDPOINTS)

# Permission names other than violation_collection are this project's choice.
PERMISSIONS: Final[frozenset[str]] = frozenset(e.permission for e in ENDPOINT_LIST)

# Reference tables that grow: vehicle_push may name a make, type or colour nobody has
# seen yet, and it is created (decision; plate types and provinces are closed lists,
# an unknown one answers 9033). The controller and the invalid recipes both read this.
GROWING_REFS: Final[frozenset[str]] = frozenset({"makes", "vehicle_types", "colours"})

# Plate-service failures carry the code in "error" (the seeds only say "non-zero").
PLATE_ERROR_KEY: Final = "error"
