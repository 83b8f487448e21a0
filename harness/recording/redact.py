"""Redaction on the way in: what a recording may never hold, and what it masks.

Always, whatever the profile:

- the credential fields of a body (``apiToken``, ``api_token``) become a
  placeholder saying how the original server took the token: ``<token>`` (accepted,
  or not tested), ``<rejected-token>`` (answered 9034: unknown for the client) or
  ``<restricted-token>`` (answered 9002: lacks a permission). Replay puts the real
  token, a token no target knows, or the restricted token back in;
- ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie`` and any
  header or query parameter whose name says token, key, secret, password or auth
  become ``<redacted>`` (replay leaves such headers out);
- every other header is dropped but ``Content-Type``, ``Accept`` and ``User-Agent``;
- a token seen in a credential field is scrubbed from the rest of the line too
  (``scrub``): a token pasted into a wrong field is still never written.

The ``personal`` profile (the default) also masks personal data in profile pushes:
e-mail, names, user name, phones, licence numbers, birth date, addresses, student
and employee numbers, the unique id. Masking is an HMAC of the value under a key
drawn for the recording and never stored, so one value always masks to the same
mask within a recording (an update still finds its user; two users with two
e-mails still have two), and the mask keeps the field's form (an e-mail stays an
e-mail, a birth date a date, a phone its digits).

A value the API refuses stays refused: one outside its field's length limits, or
an e-mail that is not one, is masked character by character instead (same length,
digits for digits, letters for letters, every other character kept), so a replay of
a deliberately invalid push still gets 9030, 9032 or 9033 rather than a spurious
change in the behaviour diff. What masking cannot keep is a clash with data outside
the recording: a push answered 9019 or 9020 because the target already had that
e-mail or user name is replayed with a fresh mask, and succeeds.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from datetime import date, timedelta
from typing import Any, Final

import orjson

from harness.opscom import ENDPOINTS
from harness.opscom.endpoints import Field, Kind

TOKEN: Final = "<token>"
REJECTED_TOKEN: Final = "<rejected-token>"
RESTRICTED_TOKEN: Final = "<restricted-token>"
REDACTED: Final = "<redacted>"
PLACEHOLDERS: Final = frozenset({TOKEN, REJECTED_TOKEN, RESTRICTED_TOKEN, REDACTED})
PROFILES: Final = ("personal", "none")

CREDENTIAL_FIELDS: Final = ("apiToken", "api_token")
KEPT_HEADERS: Final = frozenset({"content-type", "accept", "user-agent"})
_SECRET_NAME: Final = re.compile(r"token|key|secret|passw|auth|cookie|session|signature", re.IGNORECASE)
_SECRETS_KEPT: Final = 64  # distinct tokens remembered for scrubbing (a few per integration)

_B36: Final = "0123456789abcdefghijklmnopqrstuvwxyz"


@functools.lru_cache(maxsize=4096)  # header and query names repeat on every call
def _name_is_secret(name: str) -> bool:
    return _SECRET_NAME.search(name) is not None


class Redactor:
    """Redacts one recording's calls (see the module docstring)."""

    def __init__(self, profile: str = "personal", *, key: bytes | None = None) -> None:
        if profile not in PROFILES:
            raise ValueError(f"expected a redaction profile of {', '.join(PROFILES)}, got {profile!r}")
        self.profile = profile
        self._key = key if key is not None else secrets.token_bytes(32)
        # secret -> its forms in a line: as written in a JSON string (escaped), and as is
        # (a query, a text body)
        self._secrets: OrderedDict[str, tuple[bytes, bytes]] = OrderedDict()

    def describe(self) -> dict[str, Any]:
        return {"credentials": "placeholder", "personal": "masked" if self.profile == "personal" else "kept"}

    # --- credentials ---------------------------------------------------------------

    def _remember(self, secret: str) -> None:
        if len(secret) >= 4:  # shorter strings are not worth a scrub (and would hit everything)
            if secret not in self._secrets:
                self._secrets[secret] = (orjson.dumps(secret)[1:-1], secret.encode())
            self._secrets.move_to_end(secret)
            if len(self._secrets) > _SECRETS_KEPT:
                self._secrets.popitem(last=False)

    def body(self, body: Any, outcome_key: str | None, endpoint: str | None) -> Any:
        """A parsed JSON body with its credentials replaced (and, for a profile push
        under the personal profile, its personal fields masked). Mutates ``body``."""
        if type(body) is not dict:
            return body
        for name in CREDENTIAL_FIELDS:
            value = body.get(name)
            if isinstance(value, str) and value and value not in PLACEHOLDERS:
                self._remember(value)
                body[name] = _placeholder(outcome_key)
            elif value is not None and not isinstance(value, str):
                body[name] = REDACTED  # a token of the wrong JSON type is still a token
        if self.profile == "personal" and endpoint == "profile_push":
            for name, value in body.items():
                masker = _PERSONAL.get(name)
                if masker is not None and isinstance(value, str) and value:
                    refused = _refused(_PROFILE_FIELDS.get(name), value)
                    body[name] = (_same_shape if refused else masker)(self, name, value)
        return body

    def headers(self, headers: Any) -> list[list[str]]:
        out: list[list[str]] = []
        for name, value in headers:
            lower = name.lower()
            if lower in ("authorization", "proxy-authorization", "cookie", "set-cookie") or _name_is_secret(lower):
                token = value.split(None, 1)[-1] if value else ""
                self._remember(token)
                out.append([lower, REDACTED])
            elif lower in KEPT_HEADERS:
                out.append([lower, value])
        return out

    def query(self, query: str) -> str:
        if not query:
            return query
        parts = []
        for item in query.split("&"):
            name, sep, value = item.partition("=")
            if sep and _name_is_secret(name):
                self._remember(value)
                parts.append(f"{name}={REDACTED}")
            else:
                parts.append(item)
        return "&".join(parts)

    def scrub(self, line: bytes) -> bytes:
        """Remove any token seen so far from an encoded line, wherever it is."""
        for forms in self._secrets.values():
            for raw in forms:
                if raw in line:
                    line = line.replace(raw, REDACTED.encode())
        return line

    def text(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    # --- personal data ---------------------------------------------------------------

    def digest(self, kind: str, value: str) -> bytes:
        return hmac.new(self._key, f"{kind}\x00{value}".encode(), hashlib.sha256).digest()


def _placeholder(outcome_key: str | None) -> str:
    if outcome_key == "9034":
        return REJECTED_TOKEN
    if outcome_key == "9002":
        return RESTRICTED_TOKEN
    return TOKEN


def _b36(digest: bytes, n: int) -> str:
    x = int.from_bytes(digest[:16], "big")
    out = []
    for _ in range(n):
        x, r = divmod(x, 36)
        out.append(_B36[r])
    return "".join(out)


def _digits(digest: bytes, n: int) -> str:
    x = int.from_bytes(digest[:16], "big")
    return "".join(str((x >> (4 * i)) % 10) for i in range(n))


def _email(r: Redactor, name: str, value: str) -> str:
    # E-mails compare case-insensitively in practice: the same address, any case,
    # masks to one mask (its uniqueness is what the controller checks).
    return f"u{_b36(r.digest('email', value.strip().lower()), 12)}@masked.invalid"


def _person_name(r: Redactor, name: str, value: str) -> str:
    return f"N{_b36(r.digest(name, value), 9)}"


def _user_name(r: Redactor, name: str, value: str) -> str:
    return f"user{_b36(r.digest('user_name', value.strip().lower()), 12)}"


def _same_shape(r: Redactor, name: str, value: str) -> str:
    """Digits stay digits and letters letters, at the same positions and length."""
    d = r.digest(name, value)
    letters, digits = _b36(d, len(value)), _digits(d[16:] + d[:16], len(value))
    out = []
    for i, c in enumerate(value):
        if c.isdigit():
            out.append(digits[i])
        elif c.isalpha():
            ch = letters[i] if letters[i].isalpha() else "abcdefghij"[int(letters[i])]
            out.append(ch.upper() if c.isupper() else ch)
        else:
            out.append(c)
    return "".join(out)


def _birth_date(r: Redactor, name: str, value: str) -> str:
    days = int.from_bytes(r.digest(name, value)[:4], "big") % (365 * 60)
    return (date(1945, 1, 1) + timedelta(days=days)).isoformat()


def _street(r: Redactor, name: str, value: str) -> str:
    return f"{_digits(r.digest(name, value), 3)} Masked St"


def _plain_id(r: Redactor, name: str, value: str) -> str:
    return f"m{_b36(r.digest(name, value), min(15, max(len(value), 6)))}"


_PERSONAL: Final = {
    "email": _email,
    "first_name": _person_name,
    "last_name": _person_name,
    "user_name": _user_name,
    "phone_cell": _same_shape,
    "employee_phone": _same_shape,
    "student_phone": _same_shape,
    "driver_licence_num": _same_shape,
    "driver_license_num": _same_shape,
    "postal_code": _same_shape,
    "postal_code2": _same_shape,
    "zip": _same_shape,
    "zip2": _same_shape,
    "date_of_birth": _birth_date,
    "street": _street,
    "street2": _street,
    "employ_no": _plain_id,
    "student_no": _plain_id,
    "unique_id": _plain_id,
}
PERSONAL_FIELDS: Final = frozenset(_PERSONAL)
_PROFILE_FIELDS: Final = {alias: f for f in ENDPOINTS["profile_push"].fields for alias in f.aliases}
_EMAIL_FORM: Final = re.compile(r"[^@\s]+@[^@\s]+")  # what the API calls an e-mail (else 9033)


def _refused(field: Field | None, value: str) -> bool:
    """Whether the API refuses ``value`` for ``field`` by its form alone (length,
    e-mail syntax): then the mask must keep that form."""
    if field is None:
        return False
    n = len(value)
    if (field.max_len is not None and n > field.max_len) or (field.min_len is not None and n < field.min_len):
        return True
    return field.kind is Kind.EMAIL and _EMAIL_FORM.fullmatch(value) is None
