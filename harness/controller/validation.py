"""Request-field validation driven by the endpoint catalogue.

``EndpointValidator`` walks ``Endpoint.fields`` in catalogue order and applies each
``Field``'s presence, kind, length limits, choices and codes; after a field it runs
the endpoint's ``Rule``s attached to that field (``Rule.after_field``). The first
failure raises ``ApiError(code)``. Nothing here knows a particular endpoint: what a
rule *means* (a permit exists, an e-mail is taken) is a function the handler
supplies per rule code, and the validator refuses to start if the catalogue has a
rule without one, so a rule added to ``endpoints.py`` cannot be silently skipped.

Per field, in order (``endpoints.py`` module docstring):

    presence -> JSON type -> min length -> max length -> format -> own check

Presence: a required field absent, null or blank answers ``missing_code``; an
optional field that has a ``missing_code`` answers it when sent null or blank; an
optional field without one is then treated as absent. ``ON_CREATE`` fields are
required when the handler says the request creates a record.

When a request carries several aliases of one field, the first alias present in
catalogue order is read and the others are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from harness.opscom.endpoints import Endpoint, Field, Kind, Presence


class ApiError(Exception):
    """An OPSCOM error code answering the request (the message comes from the catalogue)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True, slots=True)
class NewName:
    """A REF name not in its catalogue yet, for a catalogue that grows (makes, ...)."""

    name: str


class Refs(Protocol):
    """Catalogue look-ups for ``Kind.REF`` fields (implemented over the database)."""

    def has_id(self, table: str, row_id: int) -> bool: ...

    def id_for_name(self, table: str, name: str) -> int | None: ...

    def grows(self, table: str) -> bool:
        """True when an unknown name is created on the fly rather than refused."""
        ...


@dataclass(slots=True)
class Checked:
    """What validation accepted: canonical name -> parsed value, for fields sent.

    ``context`` is shared with the rule functions: a handler puts in what they need
    (the current time) and rules leave what they found (the permit row, the user
    id), so the action after validation does not look it up twice."""

    values: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)


# A rule function answers True when the rule is broken.
RuleCheck = Callable[[Checked], bool]
# An extra per-field check (e.g. the user type exists): True when the value is fine.
FieldCheck = Callable[[Any, Checked], bool]

# The characters ``str.strip()`` removes, written out so the OpenAPI document can say
# what "blank" means here in a regular expression that every engine reads alike
# (``\s`` differs between Python and ECMA-262). A test keeps it equal to Python's.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# Limits of the DIGITS kind: 18 digits still fit SQLite's int64.
MAX_DIGITS = 18

_ABSENT: Any = object()
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", re.ASCII)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_AMOUNT = re.compile(r"\d{1,6}\.\d{2}", re.ASCII)
_YEAR = re.compile(r"\d{4}", re.ASCII)
_DIGITS = re.compile(rf"\d{{1,{MAX_DIGITS}}}", re.ASCII)
_EMAIL = re.compile(f"[^@{WHITESPACE}]+@[^@{WHITESPACE}]+")
_MIN_AMOUNT = Decimal("0.01")


def is_id_alias(alias: str) -> bool:
    """A REF alias ending in "ID" (``plateTypeID``) carries a row id, others a name."""
    return alias.endswith("ID")


def _is_blank(raw: Any) -> bool:
    return raw is None or (type(raw) is str and not raw.strip())


class EndpointValidator:
    """Validates request bodies for one endpoint; build once, call per request."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        refs: Refs,
        rules: Mapping[int, RuleCheck] | None = None,
        field_checks: Mapping[str, FieldCheck] | None = None,
        creating: Callable[[Checked], bool] | None = None,
    ) -> None:
        rules = dict(rules or {})
        wanted = {r.code for r in endpoint.rules}
        if set(rules) != wanted:
            raise ValueError(f"{endpoint.name}: rule functions {sorted(rules)} do not match the catalogue's {sorted(wanted)}")
        names = {f.name for f in endpoint.fields}
        if not set(field_checks or {}) <= names:
            raise ValueError(f"{endpoint.name}: field checks for unknown fields")
        if creating is None and any(f.presence is Presence.ON_CREATE for f in endpoint.fields):
            raise ValueError(f"{endpoint.name}: ON_CREATE fields need a creating() function")
        self.endpoint = endpoint
        self._refs = refs
        self._creating = creating
        self._field_checks = dict(field_checks or {})
        # (field, the rule checks that run right after it), in catalogue order.
        self._steps: tuple[tuple[Field, tuple[tuple[int, RuleCheck], ...]], ...] = tuple(
            (f, tuple((r.code, rules[r.code]) for r in endpoint.rules if r.after_field == f.name))
            for f in endpoint.fields
        )
        missing = [r.after_field for r in endpoint.rules if r.after_field not in names]
        if missing:
            raise ValueError(f"{endpoint.name}: rules after unknown fields {missing}")

    def validate(self, body: Mapping[str, Any], context: dict[str, Any] | None = None) -> Checked:
        checked = Checked(context=context if context is not None else {})
        for f, rules in self._steps:
            self._check_field(f, body, checked)
            for code, broken in rules:
                if broken(checked):
                    raise ApiError(code)
        return checked

    def _is_creating(self, checked: Checked) -> bool:
        creating = checked.context.get("_creating")
        if creating is None:
            assert self._creating is not None
            creating = checked.context["_creating"] = self._creating(checked)
        return creating

    def _check_field(self, f: Field, body: Mapping[str, Any], checked: Checked) -> None:
        alias, raw = f.aliases[0], _ABSENT
        for name in f.aliases:
            if name in body:
                alias, raw = name, body[name]
                break
        if raw is _ABSENT or _is_blank(raw):
            required = f.presence is Presence.REQUIRED or (
                f.presence is Presence.ON_CREATE and self._is_creating(checked)
            )
            if required or (raw is not _ABSENT and f.missing_code is not None):
                assert f.missing_code is not None
                raise ApiError(f.missing_code)
            return
        value = _PARSERS[f.kind](f, alias, raw, checked, self._refs)
        extra = self._field_checks.get(f.name)
        if extra is not None and not extra(value, checked):
            raise ApiError(f.invalid_code)
        checked.values[f.name] = value


# --- one parser per Kind: JSON type, lengths, format; each returns the parsed value ---


def _text(f: Field, raw: Any, checked: Checked) -> str:
    if type(raw) is not str:
        raise ApiError(f.invalid_code)
    if f.min_len is not None and len(raw) < f.min_len:
        raise ApiError(f.min_len_code)
    if f.max_len is not None and len(raw) > f.max_len:
        if not f.truncate:
            raise ApiError(f.max_len_code)
        checked.warnings.append(f"The vehicle {f.name} name was too long and has been truncated.")
        raw = raw[: f.max_len]
    return raw


def _parse_text(f: Field, alias: str, raw: Any, checked: Checked, refs: Refs) -> str:
    return _text(f, raw, checked)


def _parse_datetime(f: Field, alias: str, raw: Any, checked: Checked, refs: Refs) -> datetime:
    text = _text(f, raw, checked)
    if _DATETIME.fullmatch(text) is None:
        raise ApiError(f.invalid_code)
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # 2018-02-30T25:00:00 has the shape but is no moment
        raise ApiError(f.invalid_code) from None


def _parse_date(f: Field, alias: str, raw: Any, checked: Checked, refs: Refs) -> str:
    text = _text(f, raw, checked)
    if _DATE.fullmatch(text) is None:
        raise ApiError(f.invalid_code)
    try:
        date.fromisoformat(text)
    except ValueError:
        raise ApiError(f.invalid_code) from None
    return text


def _parse_amount(f: Field, alias: str, raw: Any, checked: Checked, refs: Refs) -> str:
    # A JSON number is refused: the seeds describe a string with two penny digits.
    text = _text(f, raw, checked)
    if _AMOUNT.fullmatch(text) is None or Decimal(text) < _MIN_AMOUNT:
        raise ApiError(f.invalid_code)
    return text


def _parse_choice(f: Field, alias: str, raw: Any, checked: Checked, refs: Refs) -> str:
    text = _text(f, raw, checked)
    if text not in f.choices:
        raise ApiError(f.invalid_code)
    return text


def _integral(raw: Any) -> Any:
    """An integral JSON number as an int (2011.0 is the integer 2011 in JSON, and in
    JSON Schema); anything else unchanged."""
    if type(raw) is float and raw.is_integer():
        return int(raw)
    return raw


def _parse_year(f: Field, alias: str, raw: Any, checked: Checked, refs: Refs) -> int:
    raw = _integral(raw)
    if type(raw) is int and 1000 <= raw <= 9999:
        return raw
    if type(raw) is str and _YEAR.fullmatch(raw):
        return int(raw)
    raise ApiError(f.invalid_code)


def _parse_email(f: Field, alias: str, raw: Any, checked: Checked, refs: Refs) -> str:
    text = _text(f, raw, checked)
    if _EMAIL.fullmatch(text) is None:
        raise ApiError(f.invalid_code)
    return text


def _digits(f: Field, raw: Any) -> int:
    raw = _integral(raw)
    if type(raw) is int and 0 <= raw < 10**MAX_DIGITS:
        return raw
    if type(raw) is str and _DIGITS.fullmatch(raw):
        return int(raw)
    raise ApiError(f.invalid_code)


def _parse_digits(f: Field, alias: str, raw: Any, checked: Checked, refs: Refs) -> int:
    return _digits(f, raw)


def _parse_ref(f: Field, alias: str, raw: Any, checked: Checked, refs: Refs) -> int | NewName:
    assert f.ref is not None
    if is_id_alias(alias):
        row_id = _digits(f, raw)
        if not refs.has_id(f.ref, row_id):
            raise ApiError(f.invalid_code)
        return row_id
    name = _text(f, raw, checked).strip()
    row_id = refs.id_for_name(f.ref, name)
    if row_id is not None:
        return row_id
    if refs.grows(f.ref):
        return NewName(name)
    raise ApiError(f.invalid_code)


def _parse_zones(f: Field, alias: str, raw: Any, checked: Checked, refs: Refs) -> tuple[str, ...]:
    text = _text(f, raw, checked)
    return tuple(z for z in (part.strip() for part in text.split(",")) if z)


_Parser = Callable[[Field, str, Any, Checked, Refs], Any]
_PARSERS: Mapping[Kind, _Parser] = {
    Kind.TEXT: _parse_text,
    Kind.DATETIME: _parse_datetime,
    Kind.DATE: _parse_date,
    Kind.AMOUNT: _parse_amount,
    Kind.CHOICE: _parse_choice,
    Kind.YEAR: _parse_year,
    Kind.EMAIL: _parse_email,
    Kind.DIGITS: _parse_digits,
    Kind.REF: _parse_ref,
    Kind.ZONES: _parse_zones,
}
assert set(_PARSERS) == set(Kind), "every Kind needs a parser"
