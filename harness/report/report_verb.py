"""Rebuild a run's report.html and junit.xml (and its CSV files) from its run directory.

Everything is made from summary.json and metrics.json, as at the end of the run,
so a report can be remade after an upgrade of the harness, or for a run directory
kept as a CI artifact.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.report.csvfiles import ENDPOINTS_FILE
from harness.report.rundata import load_run
from harness.usage import verb_help

EXAMPLES = (
    'harness report reports/smoke                       # the latest run of scenarios/smoke.toml',
    'harness report reports/smoke/20261123T201500Z-a1b2c3 --csv',
    'harness report artifacts/summary.json              # a run kept by CI',
)
NOTES = (
    "RUN is a run directory, its summary.json, or a scenario's reports directory (its\nlatest run). The CSV files are rewritten when --csv is given or the run has them.",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="run directory, summary.json, or reports directory (latest run)")
    p.add_argument("--csv", action="store_true", help="also write the per-second and per-endpoint CSV files")
    verb_help(p, exit_codes={0: "the files were written", 2: "usage error: RUN is not a run directory (or cannot be read)", 3: "the harness failed"}, examples=EXAMPLES, notes=NOTES)


def main(args: argparse.Namespace) -> int:
    from harness.extensions import write_reports

    run = load_run(Path(args.run))
    csv = bool(args.csv) or (run.path / ENDPOINTS_FILE).is_file()
    for path in write_reports(run.path, csv=csv):
        print(path)
    error_log = run.path / "report-error.log"
    if error_log.is_file():
        print(f"harness: error: some reports could not be written; see {error_log}", file=sys.stderr)
        return 3
    return 0
