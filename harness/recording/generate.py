"""Write a synthetic recording from the traffic generators, e.g. a whole event day
of meter traffic to replay at 60x.

The scenario's (or the flags') plan is followed as ``harness run`` would, from one
process, but nothing is sent: the pacer's schedule gives each call its offset, and
the generators' calls are written as they come, many times faster than real time.

Generators that wait for answers (a meter's extension needs its push's reference
id, a duplicate needs its original accepted) get a simulated one at once: the
outcome the call must get (its ``expect``: a deliberate error's code), else ``ok``
with made-up ids (a permit's reference id, a profile's or vehicle's id). Those ids
go into the recording as the answers' ids, so an update's ``uses`` points at its
push and replay correlates it with the real id the target returns. The written
answers have an outcome but no status or latency (none was measured); the
header's ``source`` is ``generate``.

Exit status: 0 written, 2 usage error (nothing written).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from harness.engine import Model
from harness.errors import ConfigError
from harness.opscom.endpoints import Service
from harness.opscom.outcome import OK, Outcome
from harness.opscom.reference_data import reference_data
from harness.options import add_option_arguments
from harness.plan import Override, Plan, load_plan, overrides_from_args
from harness.recording.files import Capture, RecordingWriter
from harness.recording.redact import RESTRICTED_TOKEN, TOKEN, Redactor
from harness.traffic.call import Call, TrafficContext
from harness.usage import verb_help

EXAMPLES = (
    'harness generate --rate 50 --duration 1h --mix meters=100 --out recordings/meters-day.jsonl.zst',
    'harness generate scenarios/peak_event.toml --duration 10m --out /tmp/peak.jsonl',
    'harness generate --rate 20000 --duration 10s --mix enforcement=100 --seed 7 --out /tmp/20k.jsonl.zst',
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", nargs="?", help="scenario file (TOML): its load and traffic; flags override it")
    p.add_argument("--out", dest="recording", required=True, metavar="FILE",
                   help="the recording to write (.jsonl, or .jsonl.zst for zstd)")
    p.add_argument("--client", metavar="CODE", help="client code in the paths (default: the scenario's, else OC_TOMA)")
    groups = add_option_arguments(p, ("load",))
    groups["load"].add_argument("--mix", metavar="NAME=W,...",
                                help="traffic mix, e.g. meters=100 or enforcement=80,meters=20")
    verb_help(p, exit_codes={0: "the recording was written", 2: "usage error: a flag or scenario is wrong; nothing written", 3: "the recording could not be written (a full disk)"}, examples=EXAMPLES)


def main(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = dict(overrides_from_args(args))
    if args.client:
        overrides["target.client"] = Override(args.client, "--client")
    overrides["load.procs"] = Override(1, "generate")  # one schedule, written in order
    plan = load_plan(args.scenario, overrides)
    if plan.model is not Model.OPEN or plan.pacer is None:
        raise ConfigError("--users: a recording is a schedule of arrivals; give --rate (and --arrival) instead")
    started = time.monotonic()
    written = generate(plan, args.recording)
    print(f"harness generate: {written} calls over {plan.duration:g}s written to {args.recording} "
          f"in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0


class _Answers:
    """Simulated answers: the outcome a call must get, and made-up ids."""

    def __init__(self) -> None:
        self.count = 0

    def answer(self, call: Call) -> tuple[Outcome, Any]:
        self.count += 1
        expect = call.expect
        if expect is not None and not expect.ok:
            plate = call.endpoint is not None and call.endpoint.service is Service.PLATE
            return expect, ({"error": expect.code, "message": ""} if plate else {"ErrorCode": expect.code})
        name = call.endpoint.name if call.endpoint is not None else ""
        if name == "permit_push":
            ref = str(uuid.UUID(int=secrets.randbits(128), version=4))
            return OK, {"status": "success", "reference_id": ref, "InternalReferenceID": ref}
        if name == "profile_push":
            return OK, {"status": "success", "reference_id": self.count}
        if name == "vehicle_push":
            return OK, {"status": "success", "vehicle_id_id": str(self.count)}
        if name == "plate_validate":
            return OK, {"error": 0, "message": ""}
        return OK, {"status": "success"}


def generate(plan: Plan, out: str) -> int:
    """Write ``plan``'s calls to ``out``; returns how many."""
    assert plan.pacer is not None
    wall = datetime.now(UTC)
    seed = int(plan.load.seed)
    ctx = TrafficContext(client=plan.target.client, token=TOKEN, restricted_token=RESTRICTED_TOKEN, seed=seed,
                         worker=0, workers=1, run_id=f"g{secrets.token_hex(3)}",
                         wall_start=wall.replace(tzinfo=None), reference=reference_data(seed))
    source = plan.source.build(ctx)
    answers = _Answers()
    t0 = wall.timestamp()
    with RecordingWriter(out, source="generate", redactor=Redactor("none"), client=plan.target.client,
                         origin=f"harness generate: {plan.pacer}") as writer:
        for hit, offset in plan.pacer.schedule(0, 1):
            call = source.next_call(hit, offset)
            if call is None:
                break
            outcome, doc = answers.answer(call)
            writer.write(Capture(started=t0 + offset, method=call.method, path=call.path, query=call.query,
                                 headers=call.headers, body=call.body, outcome=outcome.key, doc=doc,
                                 service="plate" if call.plate_service and call.endpoint is None else None))
            if call.feedback:
                source.on_result(call, outcome, doc, offset)
        return writer.stats.calls
