"""``invalid``: deliberately wrong requests, each carrying the error it must get back.

A contract test under load: every call has ``expect=api_error(code)``, so a target
that answers anything else (a 500, ``ok``, another code) shows up as a contract
violation, counted apart from load errors. What to send comes from the recipe
table (``harness.traffic.recipes``); this module picks recipes, turns them into
calls and runs the ones that take two steps:

- a recipe returning a ``Setup`` (a duplicate) first sends a valid call with
  ``expect=OK`` and ``feedback=True``; its accepted answer queues the invalid one,
  which ``next_call`` hands out before drawing a new recipe;
- errors on ``permit_update`` fields after the reference id need a permit that
  exists, or the target answers 9009 first: the generator pushes one long-lived
  permit of its own, parks those recipes until it is accepted, and aims them at it
  from then on (a refused update changes nothing).

Each call picks an (endpoint, code) pair uniformly among those enabled, then one of
its recipes, so every code is exercised whatever the number of ways to cause it.

State is bounded: a setup's follow-on travels on its call and is forgotten when
the engine reports the call (an unanswered or refused setup releases nothing); at
most ``_MAX_PARKED`` recipes wait for our permit and ``_MAX_READY`` released calls
for their turn; unique values come from a counter.
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from harness.errors import ConfigError
from harness.opscom.builders import Ref, build_body, format_datetime
from harness.opscom.endpoints import ENDPOINTS, Endpoint
from harness.opscom.outcome import OK, Outcome, api_error
from harness.opscom.reference_data import PLATE_TYPES, PROVINCES
from harness.traffic.bodies import encode_compact
from harness.traffic.call import Call, TrafficContext
from harness.traffic.ids import base36, run_tag, worker_code
from harness.traffic.options import Options
from harness.traffic.recipes import (
    CATALOGUE_CODES,
    CTX,
    RECIPES,
    Draft,
    LivePermit,
    Recipe,
    Setup,
)
from harness.traffic.skew import rng_for

NAME = "invalid"


@dataclass(frozen=True, slots=True)
class _PermitSetup:
    plate: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class _Then:
    recipe: Recipe
    then: Callable[[Any], Draft]


_MAX_PARKED = 64
# Released calls waiting for an invalid pick. They come from answered setups, each
# made while nothing was waiting, so the queue stays near the setups in flight; the
# cap only matters if answers arrive in a burst (a stalled target recovering).
_MAX_READY = 1024


class InvalidTraffic:
    """Deliberately invalid requests across the error codes; see the module docstring."""

    def __init__(
        self, ctx: TrafficContext, options: Mapping[str, Any] | None, where: str, **_: Any
    ) -> None:
        opts = Options(options, where)
        codes = opts.choice_list("codes", CATALOGUE_CODES, "error codes the catalogue can produce")
        endpoints = opts.choice_list("endpoints", tuple(ENDPOINTS), "endpoint names")
        self.use_reference = opts.boolean("use_reference", True)
        fixed_alias = opts.alias()
        opts.finish()
        if codes is not None and 9002 in codes and ctx.restricted_token is None:
            raise ConfigError(
                f"{where} codes: 9002 needs a restricted token (a token lacking permissions), "
                "and this run has none"
            )

        self.ctx = ctx
        self.rng = rng_for(ctx, NAME)
        self._alias: int | random.Random = self.rng if fixed_alias is None else fixed_alias
        self.entries: list[tuple[Recipe, ...]] = []
        for (ep, code), recipes in RECIPES.items():
            if (codes is not None and code not in codes) or (
                endpoints is not None and ep not in endpoints
            ):
                continue
            usable = tuple(r for r in recipes if self._usable(r))
            if usable:
                self.entries.append(usable)
        if not self.entries:
            raise ConfigError(
                f"{where} codes: no recipe provokes {list(codes or ['any code'])} "
                f"on {list(endpoints or ['any endpoint'])}"
            )
        self.recipes: tuple[Recipe, ...] = tuple(r for rs in self.entries for r in rs)

        tag, worker = run_tag(ctx.run_id), worker_code(ctx.worker)
        # Apart from the reference data, the meters (letters then digits, no dash) and
        # the integrations ("V..."): a duplicate must only ever meet its own original.
        self._plate_prefix = f"Q{tag}-{worker}"
        self._ticket_prefix = f"INV-{tag}-{worker}-"
        self._user_prefix = f"li{tag.lower()}{worker.lower()}n"
        self._n = 0
        self.permit: LivePermit | None = None
        self._permit_in_flight = False
        self._parked: list[Recipe] = []
        self._ready: deque[Call] = deque()
        self._token = ctx.token
        self._now = 0.0  # run time of the latest next_call: dates are "now"

    # --- TrafficSource ----------------------------------------------------------------

    def next_call(self, hit: int, now: float) -> Call | None:
        self._now = now
        if self._ready:
            return self._ready.popleft()
        rng = self.rng
        return self.start(rng.choice(rng.choice(self.entries)))

    def on_result(self, call: Call, outcome: Outcome, doc: Any, now: float) -> None:
        tag = call.tag
        if isinstance(tag, _Then):
            if outcome.ok and len(self._ready) < _MAX_READY:
                self._ready.append(self._final(tag.recipe, tag.then(doc)))
        elif isinstance(tag, _PermitSetup):
            self._permit_in_flight = False
            ref = doc.get("reference_id") if outcome.ok and isinstance(doc, dict) else None
            parked, self._parked = self._parked, []
            if isinstance(ref, str) and ref:
                self.permit = LivePermit(ref, tag.plate, tag.start, tag.end)
                # Parked recipes go out first; never more than the queue's bound.
                room = max(0, _MAX_READY - len(self._ready))
                self._ready.extend(self.start(r) for r in parked[:room])

    # --- recipes to calls -------------------------------------------------------------

    def start(self, recipe: Recipe) -> Call:
        """The first call of ``recipe``: the invalid call itself, or the setup call
        it waits on (a duplicate's original, or our own permit)."""
        if recipe.needs_permit and self.permit is None:
            if len(self._parked) < _MAX_PARKED:
                self._parked.append(recipe)
            if not self._permit_in_flight:
                self._permit_in_flight = True
                return self._permit_setup()
            # Our permit is on its way: meanwhile send a recipe that needs none.
            return self.start(self._independent_recipe())
        made = recipe.make(self)
        if isinstance(made, Setup):
            return self._call(made.first, expect=OK, feedback=True, tag=_Then(recipe, made.then))
        return self._final(recipe, made)

    def take_ready(self) -> Call | None:
        """A released call waiting to be sent (tests drive sequenced recipes with it)."""
        return self._ready.popleft() if self._ready else None

    def _independent_recipe(self) -> Recipe:
        free = [r for rs in self.entries for r in rs if not r.needs_permit]
        if not free:  # only permit-bound recipes enabled: another setup push it is
            self._permit_in_flight = False
            return self.rng.choice(self.recipes)
        return self.rng.choice(free)

    def _final(self, recipe: Recipe, draft: Draft) -> Call:
        return self._call(draft, expect=api_error(recipe.code), tag=recipe)

    def _call(self, d: Draft, **kw: Any) -> Call:
        return Call(
            d.endpoint, d.path or d.endpoint.path_for(self.ctx.client), self.encode(d), **kw
        )

    def encode(self, d: Draft) -> bytes:
        """The body bytes of ``d``, aliases drawn as for any other call."""
        if d.raw is not None:
            return d.raw
        token = self._token if d.token is CTX else d.token
        client = self.ctx.client if d.client is CTX else d.client
        return encode_compact(
            build_body(d.endpoint, token=token, client=client, values=d.values, alias=self._alias)
        )

    def _permit_setup(self) -> Call:
        values = self.valid_values("permit_push")
        start = self.wall_now()
        # Long-lived, so the parked field errors can keep aiming at it for a whole soak.
        end = start + timedelta(days=30)
        values["end"] = format_datetime(end)
        tag = _PermitSetup(values["plate"], start, end)
        return self._call(
            Draft(ENDPOINTS["permit_push"], values), expect=OK, feedback=True, tag=tag
        )

    def _usable(self, r: Recipe) -> bool:
        if r.needs_restricted and self.ctx.restricted_token is None:
            return False
        return not (r.needs_reference and not self.use_reference)

    # --- values the recipes start from --------------------------------------------------

    def valid_values(self, endpoint: str, *, for_credentials: bool = False) -> dict[str, Any]:
        """A fresh, valid set of field values for ``endpoint`` (canonical names); a
        recipe breaks exactly one thing in it. Unique values are new on every call."""
        self._n += 1
        n, rng = self._n, self.rng
        now = self.wall_now()
        if endpoint == "permit_push":
            return {
                "plate": f"{self._plate_prefix}{base36(n)}",
                "start": format_datetime(now),
                "end": format_datetime(now + timedelta(hours=1)),
                "amount": "4.50",
                "currency": "CAD",
                "ticket": f"{self._ticket_prefix}{n}",
                "zone": rng.choice(self.ctx.reference.zones),
            }
        if endpoint in ("permit_update", "permit_delete"):
            permit = self.permit
            if permit is None or for_credentials or endpoint == "permit_delete":
                # Checks before the existence rule never reach it; never risk
                # deleting our own permit.
                return {"reference_id": self.random_uuid()}
            return {
                "reference_id": permit.reference_id,
                "end": format_datetime(permit.end + timedelta(hours=1)),
                "plate": permit.plate,
                "amount": "6.00",
                "currency": "USD",
            }
        if endpoint == "permit_stats":
            return {"zones": rng.choice(self.ctx.reference.zones)}
        if endpoint == "vehicle_push":
            prov = rng.choice(PROVINCES)
            return {
                "plate": f"W{self._plate_prefix[1:]}{base36(n)}",
                "plate_type": Ref(*rng.choice(PLATE_TYPES)[:2]),
                "province": Ref(prov[0], prov[1]),
            }
        if endpoint == "profile_push":
            name = f"{self._user_prefix}{n}"
            return {
                "unique_id": f"li-{name}",
                "login_source": "OPSCOM",
                "first_name": "Invalid",
                "last_name": "Traffic",
                "user_name": name,
                "email": f"{name}@loadtest.example",
            }
        if endpoint == "plate_validate":
            plates = self.ctx.reference.permit_plates
            return {"plate": rng.choice(plates) if plates else "ABC123"}
        return {}

    def wall_now(self) -> datetime:
        """Wall-clock time of the call being made, whole seconds (as the API writes it)."""
        return (self.ctx.wall_start + timedelta(seconds=self._now)).replace(microsecond=0)

    def random_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def bogus_token(self) -> str:
        return f"bogus-{self.random_uuid()}"

    def truncated_json(self, ep: Endpoint) -> bytes:
        body = encode_compact(
            build_body(
                ep,
                token=self._token,
                client=self.ctx.client,
                values=self.valid_values(ep.name, for_credentials=True),
            )
        )
        return body[: max(1, len(body) - self.rng.randint(1, min(12, len(body) - 1)))]
