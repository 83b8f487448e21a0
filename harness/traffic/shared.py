"""State the generators of one mix share: the plates the meters pushed.

Enforcement looks up plates that were paid for a moment ago (an officer checks the
car whose driver just used the app), so the meters record every permit the target
accepted and enforcement samples from that record. The record is bounded: a soak
run pushes millions of permits and only needs a window of recent ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_CAPACITY = 4096


class PushedPlates:
    """A bounded ring of recently pushed plates and the run time their permit ends.

    ``pick`` is O(1) and allocation-free: enforcement calls it on its hot path. A
    plate whose permit was deleted or has ended stays in its slot until overwritten,
    but is never handed out (``pick`` answers None, and the caller falls back)."""

    __slots__ = ("capacity", "_ring", "_live", "_next")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("PushedPlates needs a capacity of at least 1")
        self.capacity = capacity
        self._ring: list[str] = []
        # plate -> (run time its permit ends, its slot in the ring). The slot lets an
        # overwrite tell a live entry from a stale one of a plate pushed again since.
        self._live: dict[str, tuple[float, int]] = {}
        self._next = 0

    def add(self, plate: str, until: float) -> None:
        """Record that ``plate`` has a valid pushed permit until run time ``until``."""
        entry = self._live.get(plate)
        if entry is not None:
            self._live[plate] = (until, entry[1])
            return
        ring = self._ring
        if len(ring) < self.capacity:
            slot = len(ring)
            ring.append(plate)
        else:
            slot = self._next
            old = ring[slot]
            old_entry = self._live.get(old)
            if old_entry is not None and old_entry[1] == slot:
                del self._live[old]
            ring[slot] = plate
            self._next = (slot + 1) % self.capacity
        self._live[plate] = (until, slot)

    def discard(self, plate: str) -> None:
        """The plate's permit was deleted (refunded)."""
        self._live.pop(plate, None)

    def pick(self, k: int, now: float) -> str | None:
        """The plate in slot ``k`` (modulo the fill), if its permit is still valid."""
        slot = self.pick_slot(k, now)
        return None if slot < 0 else self._ring[slot]

    def pick_slot(self, k: int, now: float) -> int:
        """``pick``, as the ring slot holding the plate (``plate_at``), or -1: a caller
        can keep something per slot (enforcement keeps the slot's call), which is
        then bounded by the capacity and replaced when the slot is."""
        ring = self._ring
        if not ring:
            return -1
        slot = k % len(ring)
        entry = self._live.get(ring[slot])
        if entry is None or entry[0] <= now:
            return -1
        return slot

    def plate_at(self, slot: int) -> str:
        return self._ring[slot]

    def live(self, now: float) -> list[str]:
        """Every plate with a valid pushed permit at ``now`` (for tests and reports)."""
        return [p for p, (until, _) in self._live.items() if until > now]

    def __len__(self) -> int:
        return len(self._live)


@dataclass(slots=True)
class Shared:
    """Everything the generators of one mix (one worker) share."""

    pushed: PushedPlates = field(default_factory=PushedPlates)
