"""Which ids a call takes from earlier answers: the recording's ``uses`` and ``chain``.

When a recording is written, every answer's ids (``ANSWER_ID_KEYS``: a permit's
``reference_id``, a profile's ``reference_id``, a vehicle's ``vehicle_id_id``, ...)
are remembered with the chain of the call that got them. A later request that
carries one of those values, under a reference key (``referenceid``,
``vehicle_id``, ...), or as a long string anywhere in its body, path or query, takes
it from that answer: its line lists the value under ``uses`` and the chain it
joins under ``chain`` (the line of the chain's first call).

Replay reads both: ``chain`` keeps a chain in one process and in order; ``uses``
says which values to replace with the ids the target returns, and which answers
to wait for.

Memory is bounded: the index keeps the most recent ``capacity`` ids (a dict in
insertion order, the oldest evicted first). A call whose parent's id was evicted,
more than ``capacity`` ids earlier, is written without ``uses``, and replays with
the recorded id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

# Top-level keys of an answer that hold an id a later request may send back.
ANSWER_ID_KEYS: Final = ("reference_id", "InternalReferenceID", "vehicle_id_id", "vehicle_id", "profile_id",
                         "user_id", "id")
# Request keys that carry such an id back (any value, even a short number).
REFERENCE_KEYS: Final = frozenset({"referenceid", "referenceID", "reference_id", "InternalReferenceID",
                                   "vehicle_id", "vehicle_id_id", "profile_id", "user_id"})
# Elsewhere (other keys, path segments, query values) only a long string counts:
# a short number could be anything (a year, a type id).
MIN_FREE_ID_LENGTH: Final = 16
DEFAULT_CAPACITY: Final = 200_000


def answer_ids(doc: Any) -> dict[str, Any]:
    """The ids of a decoded answer (strings and integers, not empty)."""
    if type(doc) is not dict:
        return {}
    out = {}
    for key in ANSWER_ID_KEYS:
        value = doc.get(key)
        if (type(value) is str and value) or (type(value) is int and not isinstance(value, bool)):
            out[key] = value
    return out


def _free(value: Any) -> bool:
    return type(value) is str and len(value) >= MIN_FREE_ID_LENGTH


def candidates(body: Any, path: str, query: str) -> Iterable[Any]:
    """Values of a request that may be ids taken from an earlier answer."""
    if type(body) is dict:
        for key, value in body.items():
            if (key in REFERENCE_KEYS and type(value) in (str, int)) or _free(value):
                yield value
    for segment in path.split("/"):
        if len(segment) >= MIN_FREE_ID_LENGTH:
            yield segment
    if query:
        for item in query.split("&"):
            value = item.partition("=")[2]
            if len(value) >= MIN_FREE_ID_LENGTH:
                yield value


class IdIndex:
    """Recorded answer ids -> the chain of the call that got them (bounded)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._chains: dict[Any, int] = {}

    def uses(self, body: Any, path: str, query: str) -> tuple[list[Any], int | None]:
        """The known ids a request carries, and the chain it joins (the earliest)."""
        used: list[Any] = []
        chain: int | None = None
        chains = self._chains
        for value in candidates(body, path, query):
            key = _key(value)
            found = chains.get(key)
            if found is not None and value not in used:
                used.append(value)
                chain = found if chain is None else min(chain, found)
        return used, chain

    def add(self, ids: dict[str, Any], chain: int) -> None:
        chains = self._chains
        for value in ids.values():
            key = _key(value)
            chains.pop(key, None)  # re-inserted: the newest
            chains[key] = chain
        while len(chains) > self.capacity:
            del chains[next(iter(chains))]

    def __len__(self) -> int:
        return len(self._chains)


def _key(value: Any) -> Any:
    # 44 and "44" are the same id to a server reading JSON loosely; one key for both.
    return str(value) if type(value) is int else value
