"""The ``harness`` command. Thin: it parses, then calls the library.

Each verb's flags and handler live beside the code they drive (``add_arguments`` and
``main`` in the verb's module), so this file only lists the verbs.

Every mistake in the input is one line on stderr, ``harness: error: ...``, and exit
status 2; no usage dump. A bug of the harness's own is one line too, with the
traceback kept in a file, and exit status 3.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from harness import __version__, allocator
from harness.errors import HarnessError
from harness.usage import explain

# verb -> (module holding add_arguments/main, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "serve": ("harness.controller.serve", "run the reference OPSCOM controller"),
    "run": ("harness.run", "drive load at a controller and check thresholds"),
    "init": ("harness.init", "write a starter scenario with every key at its default"),
    "record": ("harness.recording.record", "record real traffic through a reverse proxy"),
    "import-har": ("harness.recording.har", "turn a HAR file into a recording (OPSCOM calls only)"),
    "import-gor": ("harness.recording.gor", "turn a GoReplay capture file into a recording"),
    "generate": ("harness.recording.generate", "write a synthetic recording from the traffic generators"),
    "replay": ("harness.replay.verb", "replay a recording against a controller and check thresholds"),
    "report": ("harness.report.report_verb", "rebuild a run's report.html and junit.xml from its run directory"),
    "compare": ("harness.report.compare_verb", "compare two runs (a release with the last); exit 1 on a regression"),
    "history": ("harness.report.history", "list a scenario's runs and chart p99 and errors across them"),
    "capacity": ("harness.capacity.verb", "find the highest rate that holds every SLO"),
}
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class UsageError(HarnessError):
    pass


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (raised, printed by ``main``), with a
    "did you mean" where a close match exists. Abbreviated flags are refused: a
    script's ``--con`` would otherwise change meaning when a verb gains a flag."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(explain(message, self, verbs=VERBS))


def build_parser(verb: str | None = None) -> Parser:
    """The parser; only ``verb``'s module is imported (all of them for ``--help``),
    so one verb never fails because another's dependencies do."""
    parser = Parser(prog="harness", description="Load and replay harness for the OPSCOM API.")
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True, parser_class=Parser)
    for name, (module_name, help_text) in VERBS.items():
        if verb is not None and name != verb:
            sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).split("\n\n")[0])
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    allocator.settle()  # before any worker or controller starts: they inherit it
    verb = next((a for a in argv if not a.startswith("-")), None)
    try:
        args = build_parser(verb if verb in VERBS else None).parse_args(argv)
        return int(args._module.main(args))
    except HarnessError as exc:
        _say(f"harness: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        # Only reached before a run starts measuring (a run handles signals itself).
        _say("harness: interrupted")
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as cat would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback in a file
        path = _keep_traceback()
        _say(f"harness: internal error: {type(exc).__name__}: {exc} (traceback in {path})")
        return EXIT_INTERNAL


def _keep_traceback() -> str:
    fd, path = tempfile.mkstemp(prefix="harness-crash-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        f.write(traceback.format_exc())
    return path


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        pass
