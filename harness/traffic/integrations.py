"""``integrations``: nightly syncs, dashboards and collections.

Five kinds of call, chosen by weight from a pre-drawn sequence:

- ``profile_push``: a student/staff system syncing users. Creates carry a user id,
  user name and e-mail unique to the run and worker, and ask for feedback; a share
  of the pushes (``update_share``) update a user this generator created earlier in
  the run (same ``unique_id``, a few changed fields);
- ``vehicle_push``: vehicles with a plate unique to the run and worker (so 9012,
  "already in the database", never answers by accident), random plate type,
  province, make, type, colour, year and VIN under varied aliases;
- ``permit_stats``: dashboard polls, some for a few zones, some for all;
- ``user_types``: the user-type list a sync reads first;
- ``overdue_violations``: the collections pull, rare (a few times a day).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from harness.opscom.builders import Ref, build_body
from harness.opscom.endpoints import ENDPOINTS
from harness.opscom.outcome import Outcome
from harness.opscom.reference_data import (
    COLOURS,
    LOGIN_SOURCES,
    MAKES,
    PLATE_TYPES,
    PROVINCES,
    USER_TYPES,
    VEHICLE_TYPES,
)
from harness.traffic.bodies import ABSENT, BodyLayouts, encode_compact
from harness.traffic.call import Call, TrafficContext
from harness.traffic.ids import base36, run_tag, worker_code
from harness.traffic.options import Options
from harness.traffic.skew import SEQUENCE_LENGTH, rng_for, stratified_sequence

NAME = "integrations"

VEHICLE = ENDPOINTS["vehicle_push"]
PROFILE = ENDPOINTS["profile_push"]
T = TypeVar("T")

DEFAULT_WEIGHTS: Mapping[str, float] = {
    "profile_push": 0.35,
    "vehicle_push": 0.30,
    "permit_stats": 0.20,
    "user_types": 0.14,
    "overdue_violations": 0.01,
}

_MASK = SEQUENCE_LENGTH - 1
_MAX_USERS = 1024  # users remembered for updates: a window is enough (and a bounded one)
_VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"  # VINs never use I, O or Q
_FIRST_NAMES = ("Ava", "Liam", "Noah", "Emma", "Olivia", "Ethan", "Maya", "Lucas", "Zoe", "Amir")
_LAST_NAMES = ("Tremblay", "Gagnon", "Roy", "Smith", "Brown", "Wilson", "Singh", "Nguyen", "Li")
_CITIES = ("Ottawa", "Toronto", "Kingston", "Montreal", "Halifax", "Calgary")
_STREETS = ("Main", "King", "Queen", "Bank", "Elgin")
_LETTERS = string.ascii_uppercase
# The fields an update changes (a user moved, changed phone or status).
_UPDATABLE = ("street", "city", "postal_code", "phone_cell", "user_type_id")


class IntegrationTraffic:
    """Syncs, polls and pulls; see the module docstring."""

    def __init__(
        self, ctx: TrafficContext, options: Mapping[str, Any] | None, where: str, **_: Any
    ) -> None:
        opts = Options(options, where)
        self.weights = opts.weights("weights", DEFAULT_WEIGHTS)
        self.update_share = opts.probability("update_share", 0.3)
        self.stats_zones_share = opts.probability("stats_zones_share", 0.5)
        self.zones = opts.strings("zones", ctx.reference.zones)
        self.long_name_share = opts.probability("long_name_share", 0.02)
        fixed_alias = opts.alias()
        opts.finish()

        self.ctx = ctx
        self._rng = rng_for(ctx, NAME)
        self._random = self._rng.random
        layout_rng = rng_for(ctx, NAME + ":aliases")
        alias: int | random.Random = layout_rng if fixed_alias is None else fixed_alias
        token = ctx.token
        self._vehicle_body = BodyLayouts(VEHICLE, _VEHICLE_FIELDS, token=token, alias=alias)
        self._profile_body = BodyLayouts(PROFILE, _PROFILE_FIELDS, token=token, alias=alias)
        tag, worker = run_tag(ctx.run_id), worker_code(ctx.worker)
        # The dash keeps these plates apart from the reference data's and the meters'
        # (letters then digits): V + tag + "-" + worker is <= 14 chars, plates <= 25.
        self._plate_prefix = f"V{tag}-{worker}"
        self._id_prefix = f"lt-{tag.lower()}-{worker.lower()}-"
        self._name_prefix = f"lt{tag.lower()}{worker.lower()}n"
        self._vehicles = 0
        self._profiles = 0
        self._users: list[tuple[str, str]] = []  # (unique_id, login_source) created OK
        self._users_next = 0
        self._paths = {name: ENDPOINTS[name].path_for(ctx.client) for name in DEFAULT_WEIGHTS}
        self._static = {
            name: self._call(name, build_body(name, token=ctx.token))
            for name in ("user_types", "overdue_violations", "permit_stats")
        }
        makers: dict[str, Callable[[], Call]] = {
            "profile_push": self._profile,
            "vehicle_push": self._vehicle,
            "permit_stats": self._stats,
            "user_types": lambda: self._static["user_types"],
            "overdue_violations": lambda: self._static["overdue_violations"],
        }
        names = [n for n in DEFAULT_WEIGHTS if self.weights[n] > 0]
        self._seq = stratified_sequence(
            [makers[n] for n in names], [self.weights[n] for n in names], self._rng
        )
        self._i = 0

    # --- TrafficSource ----------------------------------------------------------------

    def next_call(self, hit: int, now: float) -> Call | None:
        i = self._i
        self._i = (i + 1) & _MASK
        return self._seq[i]()

    def on_result(self, call: Call, outcome: Outcome, doc: Any, now: float) -> None:
        # Only profile creates ask for feedback: remember the user for later updates.
        if outcome.ok and isinstance(call.tag, tuple):
            users = self._users
            if len(users) < _MAX_USERS:
                users.append(call.tag)
            else:  # a ring: the oldest user makes room (no draw, the stream stays put)
                users[self._users_next] = call.tag
                self._users_next = (self._users_next + 1) % _MAX_USERS

    # --- unique ids -------------------------------------------------------------------

    def vehicle_plate(self, n: int) -> str:
        """The n-th vehicle plate of this run and worker (<= 25 characters)."""
        return f"{self._plate_prefix}{base36(n)}"

    def user_ids(self, n: int) -> tuple[str, str, str]:
        """(unique_id, user_name, email) of the n-th user this run and worker create."""
        name = f"{self._name_prefix}{n}"
        return f"{self._id_prefix}{n}", name, f"{name}@loadtest.example"

    # --- the calls --------------------------------------------------------------------

    def _call(self, name: str, body: dict[str, Any], **kw: Any) -> Call:
        return Call(ENDPOINTS[name], self._paths[name], encode_compact(body), **kw)

    def _pick(self, seq: Sequence[T]) -> T:
        return seq[int(self._random() * len(seq))]

    def _vehicle(self) -> Call:
        random, pick = self._random, self._pick
        self._vehicles += 1
        prov = pick(PROVINCES)
        colour = Ref(*pick(COLOURS))
        if random() < self.long_name_share:
            # Over-long names are truncated with a warning, not refused: exercise that
            # (when the layout sends the colour by name rather than by id).
            colour = Ref(
                colour.id,
                colour.name + " metallic pearl two-tone with gold racing stripes and chrome trim",
            )
        year: Any = ABSENT
        if random() < 0.7:
            year = 1995 + int(random() * 32)
            if random() < 0.7:
                year = str(year)  # a string or a number: both are accepted
        values = (
            self.vehicle_plate(self._vehicles),
            Ref(*pick(PLATE_TYPES)[:2]),
            # By id, full name or postal abbreviation: all three occur.
            Ref(prov[0], prov[1] if random() < 0.5 else prov[2]),
            Ref(*pick(MAKES)) if random() < 0.8 else ABSENT,
            Ref(*pick(VEHICLE_TYPES)) if random() < 0.8 else ABSENT,
            colour if random() < 0.8 else ABSENT,
            year,
            "".join(self._rng.choices(_VIN_ALPHABET, k=17)) if random() < 0.5 else ABSENT,
        )
        body = self._vehicle_body.encode(values, self._rng.getrandbits(16))
        return Call(VEHICLE, self._paths["vehicle_push"], body)

    def _profile(self) -> Call:
        random = self._random
        if self._users and random() < self.update_share:
            return self._profile_update(self._pick(self._users))
        self._profiles += 1
        unique_id, user_name, email = self.user_ids(self._profiles)
        login_source = LOGIN_SOURCES[0] if random() < 0.8 else self._pick(LOGIN_SOURCES[1:])
        values: list[Any] = [
            unique_id,
            login_source,
            self._pick(_FIRST_NAMES),
            self._pick(_LAST_NAMES),
            user_name,
            email,
        ]
        student = random() < 0.6
        for name, make in _OPTIONAL_PROFILE_FIELDS:
            wanted = (
                random() < 0.6
                and (name != "student_no" or student)
                and (name != "employ_no" or not student)
            )
            values.append(make(self) if wanted else ABSENT)
        body = self._profile_body.encode(values, self._rng.getrandbits(16))
        return Call(
            PROFILE, self._paths["profile_push"], body, feedback=True, tag=(unique_id, login_source)
        )

    def _profile_update(self, user: tuple[str, str]) -> Call:
        values: list[Any] = [user[0], user[1]] + [ABSENT] * (len(_PROFILE_FIELDS) - 2)
        for name in self._rng.sample(_UPDATABLE, k=1 + int(self._random() * 3)):
            values[_PROFILE_INDEX[name]] = _PROFILE_MAKERS[name](self)
        body = self._profile_body.encode(values, self._rng.getrandbits(16))
        return Call(PROFILE, self._paths["profile_push"], body)

    def _stats(self) -> Call:
        rng = self._rng
        if self._random() >= self.stats_zones_share:
            return self._static["permit_stats"]
        zones = rng.sample(self.zones, k=1 + int(self._random() * min(3, len(self.zones))))
        body = build_body("permit_stats", token=self.ctx.token, values={"zones": ",".join(zones)})
        return self._call("permit_stats", body)


# --- profile fields: how each optional one is made up --------------------------------


def _digits(g: IntegrationTraffic, n: int) -> str:
    return f"{int(g._random() * 10**n):0{n}d}"


def _province(g: IntegrationTraffic) -> str:
    return g._pick(PROVINCES)[2]


def _street(g: IntegrationTraffic) -> str:
    return f"{1 + int(g._random() * 9999)} {g._pick(_STREETS)} Street"


def _postal_code(g: IntegrationTraffic) -> str:
    letter = g._pick
    return f"K{_digits(g, 1)}{letter(_LETTERS)} {_digits(g, 1)}{letter(_LETTERS)}{_digits(g, 1)}"


def _date_of_birth(g: IntegrationTraffic) -> str:
    r = g._random
    return f"{1950 + int(r() * 58)}-{1 + int(r() * 12):02d}-{1 + int(r() * 28):02d}"


_OPTIONAL_PROFILE_FIELDS: tuple[tuple[str, Callable[[IntegrationTraffic], Any]], ...] = (
    ("street", _street),
    ("city", lambda g: g._pick(_CITIES)),
    ("province", _province),
    ("postal_code", _postal_code),
    ("phone_cell", lambda g: f"613-555-{_digits(g, 4)}"),
    ("user_type_id", lambda g: str(g._pick(USER_TYPES)[0])),
    ("student_no", lambda g: f"SN {_digits(g, 8)}"),
    ("employ_no", lambda g: f"EMP {_digits(g, 8)}"),
    ("date_of_birth", _date_of_birth),
    ("driver_licence_num", lambda g: f"{_province(g)} {_digits(g, 8)}"),
    ("driver_licence_prov", _province),
)
_PROFILE_FIELDS = (
    "unique_id", "login_source", "first_name", "last_name", "user_name", "email",
    *(name for name, _ in _OPTIONAL_PROFILE_FIELDS),
)  # fmt: skip
_PROFILE_INDEX = {name: i for i, name in enumerate(_PROFILE_FIELDS)}
_PROFILE_MAKERS = dict(_OPTIONAL_PROFILE_FIELDS)
_VEHICLE_FIELDS = ("plate", "plate_type", "province", "make", "type", "colour", "year", "vin")
