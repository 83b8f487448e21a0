"""The JSON Schema (2020-12) of a request body, derived from the catalogue exactly as
``validation.py`` and ``app.Auth`` read it.

"Exactly" is the point: a body this schema admits is refused only for a reason a
schema cannot state (database state: a row that must exist, a value that must be
unique, whether a ``unique_id`` is new; the order of two dates; a token or client
that is well formed but not this controller's), and a body it does not admit is
always refused. So, per field (``validation.py`` module docstring):

- A key present under an alias is what counts, whatever its value; the first alias
  present is read and the others are ignored. Later aliases are therefore
  constrained only while every earlier one is absent (an ``if``/``else`` chain), and
  their own property says they may hold anything while ignored.
- ``null`` or a blank string (only characters ``str.strip()`` removes,
  ``validation.WHITESPACE``) reads as absent. Where that answers a code (a required
  field, or one with a ``missing_code``) the property refuses them; elsewhere it
  admits them whatever the field's format.
- A sent value has the field's JSON type, lengths and format. Patterns spell digits
  ``[0-9]`` and whitespace as a literal class, so Python and ECMA-262 engines agree,
  and the date patterns admit only real calendar dates (year 0001 onwards), as
  ``datetime.fromisoformat`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from harness.controller.config import CLIENT_CODE
from harness.controller.validation import MAX_DIGITS, WHITESPACE, is_id_alias
from harness.opscom.endpoints import Endpoint, Field, Kind, Presence

JsonSchema = dict[str, Any]

# A string holding at least one character str.strip() keeps (unanchored: "contains").
NOT_BLANK: Final = f"[^{WHITESPACE}]"
BLANK: Final = f"^[{WHITESPACE}]*$"

# Calendar dates as datetime.fromisoformat reads them: years 0001-9999, the days of
# each month, 29 February in leap years (divisible by 4, centuries only by 400).
_YEAR = "(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_DATE = f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
DATE_PATTERN: Final = f"^{_DATE}$"
DATETIME_PATTERN: Final = f"^{_DATE}T{_TIME}$"

_DIGITS: JsonSchema = {"anyOf": [
    {"type": "string", "pattern": f"^[0-9]{{1,{MAX_DIGITS}}}$"},
    {"type": "integer", "minimum": 0, "maximum": 10**MAX_DIGITS - 1},
]}

# The value of a sent, non-blank field, per kind (lengths are added for strings).
_KIND_SCHEMAS: Final[dict[Kind, JsonSchema]] = {
    Kind.TEXT: {"type": "string", "pattern": NOT_BLANK},
    Kind.DATETIME: {"type": "string", "pattern": DATETIME_PATTERN, "examples": ["2018-07-02T09:30:00"]},
    Kind.DATE: {"type": "string", "pattern": DATE_PATTERN, "examples": ["1901-01-31"]},
    # Two penny digits and at least 0.01: "0.00" has the shape but is refused.
    Kind.AMOUNT: {"type": "string", "pattern": "^[0-9]{1,6}\\.[0-9]{2}$", "not": {"pattern": "^0+\\.00$"},
                  "examples": ["14.50"]},
    Kind.CHOICE: {"type": "string"},  # the enum comes from Field.choices
    Kind.YEAR: {"anyOf": [{"type": "string", "pattern": "^[0-9]{4}$"},
                          {"type": "integer", "minimum": 1000, "maximum": 9999}]},
    Kind.EMAIL: {"type": "string", "pattern": f"^[^@{WHITESPACE}]+@[^@{WHITESPACE}]+$"},
    Kind.DIGITS: _DIGITS,
    Kind.REF: {"type": "string", "pattern": NOT_BLANK},  # a name; an id alias is DIGITS
    Kind.ZONES: {"type": "string", "examples": ["Lot 01,Lot 02"]},
}
assert set(_KIND_SCHEMAS) == set(Kind), "every Kind needs a schema"

_NULL: Final[JsonSchema] = {"type": "null"}
_BLANK_STRING: Final[JsonSchema] = {"type": "string", "pattern": BLANK}


def value_schema(f: Field, alias: str) -> JsonSchema:
    """A non-blank value of ``f`` sent under ``alias``: JSON type, lengths, format."""
    if f.kind is Kind.REF and is_id_alias(alias):
        return dict(_DIGITS)
    schema = dict(_KIND_SCHEMAS[f.kind])
    if f.choices:
        schema["enum"] = list(f.choices)
    if schema.get("type") == "string":
        if f.min_len is not None:
            schema["minLength"] = f.min_len
        if f.max_len is not None and not f.truncate:  # a truncated name is cut, not refused
            schema["maxLength"] = f.max_len
    return schema


def reads_blank_as_absent(f: Field) -> bool:
    """True when null or a blank string is simply ignored (no code answers it)."""
    return f.presence is Presence.OPTIONAL and f.missing_code is None


def sent_schema(f: Field, alias: str) -> JsonSchema:
    """What the key ``alias`` may hold when it is the alias read."""
    value = value_schema(f, alias)
    if reads_blank_as_absent(f):
        return {"anyOf": [value, _NULL, _BLANK_STRING]}
    return value


def _precedence(f: Field) -> JsonSchema:
    """If/else chain: each later alias is checked only while every earlier one is absent."""
    *earlier, last = f.aliases[1:]
    chain: JsonSchema = {"properties": {last: sent_schema(f, last)}}
    for alias in reversed(earlier):
        chain = {"if": {"required": [alias]}, "then": {"properties": {alias: sent_schema(f, alias)}},
                 "else": chain}
    return {"if": {"required": [f.aliases[0]]}, "else": chain}


def field_properties(f: Field) -> dict[str, JsonSchema]:
    """One property per alias. The first one is always read when present; a later one
    may hold anything while an earlier alias is present, since it is then ignored."""
    out = {f.aliases[0]: sent_schema(f, f.aliases[0])}
    for i, alias in enumerate(f.aliases[1:], start=1):
        ignored = {"description": f"anything while {' or '.join(f.aliases[:i])} is present (then ignored)"}
        out[alias] = {"anyOf": [sent_schema(f, alias), ignored]}
    return out


def token_schema() -> JsonSchema:
    """An API token: any string that is not blank (blank answers 9001, an unknown one 9034)."""
    return {"type": "string", "pattern": NOT_BLANK}


def client_schema() -> JsonSchema:
    """A client code: letters, digits, '-' and '_' (blank answers 9000, another client 9034)."""
    return {"type": "string", "pattern": f"^{CLIENT_CODE.pattern}$"}


Describe = Callable[[Field, str], str]


def body_schema(ep: Endpoint, describe: Describe | None = None) -> JsonSchema:
    """The request body of ``ep``; ``describe(field, alias)`` adds each property's description."""
    props: dict[str, JsonSchema] = {ep.token_field: token_schema()}
    required = [ep.token_field]
    if ep.client_field:
        props[ep.client_field] = client_schema()
        required.append(ep.client_field)
    all_of: list[JsonSchema] = []
    for f in ep.fields:
        for alias, schema in field_properties(f).items():
            props[alias] = {**schema, "description": describe(f, alias)} if describe else schema
        if f.presence is Presence.REQUIRED:
            all_of.append({"anyOf": [{"required": [a]} for a in f.aliases]})
        if len(f.aliases) > 1:
            all_of.append(_precedence(f))
    schema: JsonSchema = {"type": "object", "properties": props, "required": required}
    if all_of:
        schema["allOf"] = all_of
    return schema
