"""The ``harness`` command. Thin: it parses, then calls the library.

Each verb's flags and handler live beside the code they drive (``add_arguments`` and
``main`` in the verb's module), so this file only lists the verbs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from harness import __version__
from harness.errors import HarnessError

# verb -> (module holding add_arguments/main, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "serve": ("harness.controller.serve", "run the reference OPSCOM controller"),
    "run": ("harness.run", "drive load at a controller and check thresholds"),
}


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``verb``'s module is imported (all of them for ``--help``),
    so one verb never fails because another's dependencies do."""
    parser = argparse.ArgumentParser(
        prog="harness", description="Load and replay harness for the OPSCOM API."
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
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
    verb = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(verb if verb in VERBS else None).parse_args(argv)
    try:
        return int(args._module.main(args))
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        # Only reached before a run starts measuring (a run handles Ctrl-C itself).
        print("harness: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as cat would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
