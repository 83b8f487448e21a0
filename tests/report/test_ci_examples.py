"""The example pipelines in docs/ci/ are valid YAML, keep report.html and junit.xml,
and every harness command in them parses with today's flags."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from harness.cli import build_parser
from tests.support.harness_cli import ROOT

PIPELINES = sorted((ROOT / "docs" / "ci").glob("*.yml"))


def _shell_texts(doc: object) -> list[str]:
    """Every string in the document (run: blocks, script: lines)."""
    if isinstance(doc, dict):
        return [t for v in doc.values() for t in _shell_texts(v)]
    if isinstance(doc, list):
        return [t for v in doc for t in _shell_texts(v)]
    return [doc] if isinstance(doc, str) else []


def harness_commands(path: Path) -> list[list[str]]:
    doc = yaml.safe_load(path.read_text())
    commands = []
    for text in _shell_texts(doc):
        text = text.replace("\\\n", " ")
        for m in re.finditer(r"(?:^|[\s;&|])harness (\w+)([^;\n&|]*)", text):
            commands.append([m.group(1), *shlex.split(m.group(2))])
    return commands


def test_there_are_both_pipelines() -> None:
    assert {p.name for p in PIPELINES} == {"github-actions.yml", "gitlab-ci.yml"}


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_each_pipeline_runs_smoke_compares_and_keeps_the_reports(path: Path) -> None:
    text = path.read_text()
    commands = harness_commands(path)
    verbs = [c[0] for c in commands]
    assert "run" in verbs and "compare" in verbs
    assert any("scenarios/smoke.toml" in c for c in commands)
    assert "OPSCOM_API_TOKEN" in text and "junit.xml" in text and "artifacts" in text
    for argv in commands:
        parser = build_parser(argv[0])
        parser.parse_args(argv)  # a flag that no longer exists raises UsageError

