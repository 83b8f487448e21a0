"""summary.json against its versioned JSON Schema (schemas/summary.v2.json)."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema_rs
import orjson
import pytest

from harness.report.summary import SCHEMA
from tests.support.harness_cli import ROOT

SCHEMA_FILE = ROOT / "schemas" / f"summary.v{SCHEMA}.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema_rs.Validator:
    schema = orjson.loads(SCHEMA_FILE.read_bytes())
    assert schema["properties"]["schema"] == {"const": SCHEMA}, "bump the schema file with SCHEMA"
    return jsonschema_rs.validator_for(schema)


def _errors(validator: jsonschema_rs.Validator, doc: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_a_real_summary_is_valid(validator: jsonschema_rs.Validator, sample_run: Path) -> None:
    summary = orjson.loads((sample_run / "summary.json").read_bytes())
    assert _errors(validator, summary) == []


@pytest.mark.parametrize(("path", "value"), [
    (("verdict",), "passed"),
    (("totals", "error_rate"), 1.5),
    (("endpoints", "plate_validate", "latency_ms", "p99"), "12 ms"),
    (("endpoints", "plate_validate", "outcomes", "weird"), 1),
    (("checks", 0, "unit"), "seconds"),
    (("run", "started"), "yesterday"),
    (("plan", "target", "token"), "secret"),
])
def test_a_wrong_field_is_refused(validator: jsonschema_rs.Validator, sample_run: Path,
                                  path: tuple, value: object) -> None:
    summary = copy.deepcopy(orjson.loads((sample_run / "summary.json").read_bytes()))
    node = summary
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert _errors(validator, summary) != []


def test_a_missing_section_is_refused(validator: jsonschema_rs.Validator, sample_run: Path) -> None:
    summary = orjson.loads((sample_run / "summary.json").read_bytes())
    del summary["totals"]
    assert any("totals" in e for e in _errors(validator, summary))
