"""The OPSCOM error catalogue (codes 9000-9034) and the HTTP status the reference
controller pairs with each.

The messages are the vendor's, word for word (``../shared/seeds``). The seeds do not
say which HTTP status accompanies an error; the statuses here are this project's
decision (``opscom-api.md``) and only the reference controller relies on them. The
harness itself classifies by body first, so it works with any status a real
controller chooses.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

ERROR_MESSAGES: Final = MappingProxyType(
    {
        9000: "Client Code is missing from the request.",
        9001: "API Token is missing from the request.",
        9002: "The supplied API token does not have permission to perform that request.",
        9003: "Could not parse the request.",
        9004: "End Time is a required field.",
        9005: "The end time value is invalid.",
        9006: "Plate is a required field.",
        9007: "The start time value is invalid.",
        9008: "Reference ID is required. On a new permit push, a reference id is returned. "
        "This is required for updates and deletes.",
        9009: "Record not found.",
        9010: "The Plate Type is required.",
        9011: "The province or state is required.",
        9012: "The vehicle is already in the database.",
        9013: "A unique id is required.",
        9014: "The login source is required.",
        9015: "The login source is invalid.",
        9016: "The user e-mail is required.",
        9017: "The user's first name is required.",
        9018: "The user's last name is required.",
        9019: "The user's email address must be unique.",
        9020: "The user's username must be unique.",
        9021: "The vehicle's plate length exceeds 50 characters.",
        9022: "A record already exists with the supplied details.",
        9030: "The field's maximum number of characters was exceeded.",
        9031: "The field is required.",
        9032: "The field has a minimum number of characters.",
        9033: "The field's value is invalid.",
        9034: "The API Token does not exist for the specified client.",
    }
)

# Codes that describe the caller's credentials rather than the request's fields.
AUTH_CODES: Final = frozenset({9000, 9001, 9002, 9034})

_STATUS_BY_CODE: Final = MappingProxyType(
    {
        9001: 401,
        9034: 401,
        9002: 403,
        9009: 404,
        9012: 409,
        9019: 409,
        9020: 409,
        9022: 409,
    }
)


def http_status_for(code: int) -> int:
    """The HTTP status the reference controller sends with ``code`` (400 by default)."""
    return _STATUS_BY_CODE.get(code, 400)


def message_for(code: int) -> str:
    """The vendor's message for ``code``; raises KeyError for a code outside the catalogue."""
    return ERROR_MESSAGES[code]
