"""``meters``: pay-and-display meters and parking apps selling permits.

Each new call is a ``permit_push`` of a visitor's plate, starting at the wall-clock
time of the call and ending ``duration`` later, in a reference zone, with an amount
priced by the hour and a ticket number unique to the run, worker and push. The
push asks for feedback; when the target accepts it, the permit's ``reference_id`` is
read from the answer and, with probability ``update_share`` / ``delete_share``, an
extension (``permit_update``) and/or a refund (``permit_delete``) is scheduled
``followup_delay`` later (run time). ``next_call`` hands out a due follow-up before
a new push, so the meters' share of the mix is the same whatever the follow-ups.

Accepted plates go to the shared ``PushedPlates`` record, where enforcement finds
them; a refund removes the plate when the delete is sent.

State is bounded: a push's follow-up decisions travel on its call (the engine
reports every feedback call exactly once, answered or not, and an unanswered push
simply schedules nothing); scheduled follow-ups are kept as a few fields, their
bodies made when they are handed out, and leave the queue after at most two
``followup_delay``; the queue holds at most ``MAX_PENDING`` (a push that would pass
that schedules nothing, counted in ``skipped_followups``). Tickets come from a
counter, not a record of the ones used.

Visitor plates are three letters and four digits, a pattern the reference data
never uses (its plates end in exactly three digits), so a pushed plate is known to
have nothing but the pushed permit.
"""

from __future__ import annotations

import heapq
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.opscom.endpoints import ENDPOINTS
from harness.opscom.outcome import Outcome
from harness.traffic.bodies import ABSENT, BodyLayouts, WallClock
from harness.traffic.call import Call, TrafficContext
from harness.traffic.ids import run_tag, worker_code
from harness.traffic.options import Options
from harness.traffic.shared import Shared
from harness.traffic.skew import rng_for

NAME = "meters"

PUSH = ENDPOINTS["permit_push"]
UPDATE = ENDPOINTS["permit_update"]
DELETE = ENDPOINTS["permit_delete"]

# Field order of the bodies (BodyLayouts fills them in this order).
_PUSH_FIELDS = ("plate", "start", "end", "amount", "currency", "ticket", "zone")
_UPDATE_FIELDS = ("reference_id", "end", "amount")
_DELETE_FIELDS = ("reference_id",)
_LETTERS = string.ascii_uppercase
_PLATES = 26**3 * 10_000  # three letters, four digits
# Follow-ups waiting for their time, per generator: far above what a run needs
# (rate x share x delay: 20,000 req/s with 12% meters and followup_delay "1m..5m"
# keeps ~100,000 pending over two workers), ~40 MB at most.
MAX_PENDING = 1 << 17


@dataclass(slots=True)
class PushTag:
    """What a push's answer needs to schedule its follow-ups (drawn when the push is
    made, so the follow-up decisions do not depend on the order answers arrive).
    Times are run-time seconds; whole seconds, as the API writes dates."""

    plate: str
    sent_at: float  # run time of the push
    duration: int  # seconds the permit lasts
    update_delay: float | None  # None: no extension for this permit
    delete_delay: float | None  # None: no refund
    extension: int  # seconds an update adds to the end
    update_amount: str | None  # the new amount an update sends, or None to leave it

    @property
    def until(self) -> float:
        return self.sent_at + self.duration


@dataclass(frozen=True, slots=True)
class FollowUpTag:
    kind: str  # "update" or "delete"
    plate: str
    reference_id: str
    until: float  # run time the permit ends once this follow-up is applied


# A scheduled follow-up: (due, seq, tag, alias layout pick, update amount or ABSENT).
# The body is made from these when it is handed out, not kept for the wait.
_Pending = tuple[float, int, FollowUpTag, int, Any]


def format_amount(cents: int) -> str:
    """Cents as OPSCOM's "x.yy", clamped to its 0.01..999999.99 range."""
    whole, rest = divmod(min(max(cents, 1), 99_999_999), 100)
    return f"{whole}.{rest:02d}"


class MeterTraffic:
    """Permit pushes with their extensions and refunds; see the module docstring."""

    def __init__(
        self,
        ctx: TrafficContext,
        options: Mapping[str, Any] | None,
        where: str,
        *,
        shared: Shared | None = None,
    ) -> None:
        opts = Options(options, where)
        self.duration = opts.duration_range("duration", "15m..3h")
        if self.duration[0] <= 0:
            raise opts.error(
                "duration", "a range of positive durations such as '15m..3h'", opts.raw("duration")
            )
        self.hourly_rate = opts.number("hourly_rate", 3.0, above=True)
        currencies = opts.choice_list("currency", PUSH.field("currency").choices, "currency codes")
        self.currencies = currencies or ("CAD",)
        self.zones = opts.strings("zones", ctx.reference.zones)
        self.update_share = opts.probability("update_share", 0.3)
        self.delete_share = opts.probability("delete_share", 0.1)
        self.followup_delay = opts.duration_range("followup_delay", "2s..20s")
        self.extension = opts.duration_range("extension", "15m..2h")
        fixed_alias = opts.alias()
        opts.finish()

        self.ctx = ctx
        self.pushed = (shared or Shared()).pushed
        self._rng = rng_for(ctx, NAME)
        # Follow-up bodies are built when answers arrive, in an order the network
        # decides; their own stream keeps the push sequence reproducible regardless.
        self._follow_rng = rng_for(ctx, NAME + ":followups")
        layout_rng = rng_for(ctx, NAME + ":aliases")
        alias = layout_rng if fixed_alias is None else fixed_alias
        self._push_body = BodyLayouts(PUSH, _PUSH_FIELDS, token=ctx.token, alias=alias)
        self._update_body = BodyLayouts(UPDATE, _UPDATE_FIELDS, token=ctx.token, alias=alias)
        self._delete_body = BodyLayouts(DELETE, _DELETE_FIELDS, token=ctx.token, alias=alias)
        self.clock = WallClock(ctx.wall_start)
        self._ticket_prefix = f"{run_tag(ctx.run_id)}-{worker_code(ctx.worker)}-"
        self._count = 0
        self._due: list[_Pending] = []  # a heap: the earliest due first
        self._seq = 0
        self.skipped_followups = 0  # pushes whose follow-ups found the queue full
        self._path_push = PUSH.path_for(ctx.client)
        self._path_update = UPDATE.path_for(ctx.client)
        self._path_delete = DELETE.path_for(ctx.client)

    # --- TrafficSource ----------------------------------------------------------------

    def next_call(self, hit: int, now: float) -> Call | None:
        due = self._due
        if due and due[0][0] <= now:
            return self._follow_up(*heapq.heappop(due))
        return self._push(now)

    def on_result(self, call: Call, outcome: Outcome, doc: Any, now: float) -> None:
        tag = call.tag
        if not outcome.ok:
            return
        if isinstance(tag, PushTag):
            ref = doc.get("reference_id") if isinstance(doc, dict) else None
            if isinstance(ref, str) and ref:
                self.pushed.add(tag.plate, tag.until)
                self._schedule(tag, ref, now)
        elif isinstance(tag, FollowUpTag) and tag.kind == "update":
            self.pushed.add(tag.plate, tag.until)

    def pending(self) -> int:
        """Follow-ups scheduled and not yet handed out."""
        return len(self._due)

    # --- pushes -----------------------------------------------------------------------

    def _plate(self) -> str:
        n, digits = divmod(int(self._rng.random() * _PLATES), 10_000)
        n, c = divmod(n, 26)
        a, b = divmod(n, 26)
        return f"{_LETTERS[a]}{_LETTERS[b]}{_LETTERS[c]}{digits:04d}"

    def _push(self, now: float) -> Call:
        rng = self._rng
        random = rng.random
        self._count += 1
        plate = self._plate()
        lo, hi = self.duration
        duration = max(1, int(lo + (hi - lo) * random()))
        lo, hi = self.followup_delay
        update_delay = lo + (hi - lo) * random() if random() < self.update_share else None
        delete_delay = lo + (hi - lo) * random() if random() < self.delete_share else None
        lo, hi = self.extension
        extension = int(lo + (hi - lo) * random())
        # Half the extensions also correct the amount, so both update paths are used.
        update_amount = self._price(duration + extension) if random() < 0.5 else None
        tag = PushTag(plate, now, duration, update_delay, delete_delay, extension, update_amount)
        currencies, zones = self.currencies, self.zones
        values = (
            plate,
            self.clock.format(now),
            self.clock.format(now + duration),
            self._price(duration),
            currencies[int(random() * len(currencies))],
            f"{self._ticket_prefix}{self._count}",
            zones[int(random() * len(zones))],
        )
        body = self._push_body.encode(values, rng.getrandbits(16))
        return Call(PUSH, self._path_push, body, feedback=True, tag=tag)

    def _price(self, seconds: float) -> str:
        return format_amount(round(seconds / 3600.0 * self.hourly_rate * 100))

    # --- follow-ups -------------------------------------------------------------------

    def _schedule(self, tag: PushTag, reference_id: str, now: float) -> None:
        """Queue the extension and/or refund of an accepted push. A refund of an
        extended permit waits another delay after the extension, so the two reach
        the target in that order."""
        at = now
        # Drawn here, in answer order, whether or not the queue has room: the
        # follow-ups of later pushes do not depend on this one being skipped.
        pick = self._follow_rng.getrandbits(16)
        wanted = (tag.update_delay is not None) + (tag.delete_delay is not None)
        if len(self._due) + wanted > MAX_PENDING:
            self.skipped_followups += 1
            return
        if tag.update_delay is not None:
            at += tag.update_delay
            until = tag.until + tag.extension
            amount = ABSENT if tag.update_amount is None else tag.update_amount
            self._enqueue(at, FollowUpTag("update", tag.plate, reference_id, until), pick, amount)
        if tag.delete_delay is not None:
            at += tag.delete_delay
            self._enqueue(at, FollowUpTag("delete", tag.plate, reference_id, at), pick, ABSENT)

    def _enqueue(self, at: float, tag: FollowUpTag, pick: int, amount: Any) -> None:
        self._seq += 1  # ties on due time keep scheduling order (update before delete)
        heapq.heappush(self._due, (at, self._seq, tag, pick, amount))

    def _follow_up(self, at: float, seq: int, tag: FollowUpTag, pick: int, amount: Any) -> Call:
        """The call of a follow-up that is due (its body is the same whenever made)."""
        if tag.kind == "update":
            values = (tag.reference_id, self.clock.format(tag.until), amount)
            body = self._update_body.encode(values, pick)
            return Call(UPDATE, self._path_update, body, feedback=True, tag=tag)
        # A refunded permit must stop being looked up as paid from now on.
        self.pushed.discard(tag.plate)
        body = self._delete_body.encode((tag.reference_id,), pick)
        return Call(DELETE, self._path_delete, body, tag=tag)
