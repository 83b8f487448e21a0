"""Request names for calls that are not OPSCOM endpoints: ``GET /healthz``.

A recorded name becomes a metrics key and a summary section, so ids in a path
must not make a name each: segments that look like ids (digits, uuids, long hex
or mixed runs) are written ``{id}``, and only ``MAX_NAMES`` distinct names are
kept per replay (the rest are measured as ``other``).
"""

from __future__ import annotations

import re
from typing import Final

MAX_NAMES: Final = 100
OTHER: Final = "other"
_ID_SEGMENT: Final = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,}|[0-9a-fA-F]{16,}|(?=.*\d)[A-Za-z0-9_-]{20,})$"
)


def request_name(method: str, path: str) -> str:
    """``GET /vehicles/{id}`` for ``GET /vehicles/158``."""
    segments = ["{id}" if _ID_SEGMENT.match(s) else s for s in path.split("/")]
    name = f"{method.upper()} {'/'.join(segments) or '/'}"
    return name[:120]
