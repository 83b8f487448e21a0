"""How the ``harness`` command talks about its own usage: one-line errors with a
"did you mean", and the layout every verb's ``--help`` shares.

Errors: argparse's messages, reworded by ``explain`` into one line that names the
flag and the fix (``unknown flag --rtae for harness run (did you mean --rate?)``).

Help: a verb calls ``verb_help(parser, examples=..., exit_codes=...)`` at the end
of its ``add_arguments``, and its ``--help`` then shows every flag's default (a
flag without one says "none" or "off"), the verb's notes, its exit codes and at
least three examples, in that order::

    def add_arguments(p: argparse.ArgumentParser) -> None:
        g = p.add_argument_group("what")
        g.add_argument("--speed", type=float, default=1.0, help="replay speed factor")
        verb_help(p, exit_codes=RUN_EXIT_CODES, examples=[
            "harness replay recordings/x.jsonl",
            "harness replay recordings/x.jsonl --speed 2",
            "harness replay recordings/x.jsonl --target http://127.0.0.1:8080",
        ])
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence

# The exit codes of a verb that runs load and judges it (harness.api.EXIT_CODES).
RUN_EXIT_CODES: Mapping[int, str] = {
    0: "pass: every check passed",
    1: "fail: a check failed (or a live check stopped the run)",
    2: "usage error: a flag, scenario or check is wrong; nothing was sent",
    3: "the harness failed (a crash, or the report could not be written); the report says what was measured",
    130: "interrupted (SIGINT, SIGTERM or SIGHUP; a second signal ends at once); the report is still written",
}
MIN_EXAMPLES = 3


# --- errors -----------------------------------------------------------------------------------


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'run'?)`` for the closest of ``choices``, or ""."""
    options = sorted(set(choices))
    # An abbreviation (--dur) means the one choice it begins; otherwise the closest spelling.
    begun = [c for c in options if c.startswith(word)] if len(word.lstrip("-")) >= 2 else []
    close = begun if len(begun) == 1 else difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        return ""
    shown = close[0] if close[0].startswith("-") else repr(close[0])  # flags bare, words quoted
    return f" (did you mean {shown}?)"


def _flags(parser: argparse.ArgumentParser) -> tuple[str, list[str]]:
    """The verb a parser serves and its flags (for the top parser: the chosen verb's)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                flags = [f for f in _flags(sub)[1] if f not in ("-h", "--help")]
                if flags:  # only the chosen verb is built in full
                    return name, flags + ["--help"]
    return parser.prog.removeprefix("harness").strip(), [f for a in parser._actions for f in a.option_strings]


_INVALID_CHOICE = re.compile(r"argument (?P<arg>\S+): invalid choice: '(?P<got>.*)' \(choose from (?P<choices>.*)\)$")
_INVALID_TYPE = re.compile(r"argument (?P<arg>\S+): invalid (?P<type>\w+) value: '(?P<got>.*)'$")


def explain(message: str, parser: argparse.ArgumentParser, verbs: Iterable[str] = ()) -> str:
    """argparse's message, said as one line that names the flag and the fix."""
    if message.startswith("unrecognized arguments: "):
        words = message.removeprefix("unrecognized arguments: ").split()
        verb, flags = _flags(parser)
        where = f"harness {verb}" if verb else "harness"
        flag = next((w for w in words if w.startswith("-")), None)
        if flag is not None:
            name = flag.partition("=")[0]
            return f"unknown flag {name} for {where}{suggest(name, flags)}; {where} --help lists them"
        return f"unexpected argument {words[0]!r} for {where}; {where} --help says what it takes"
    m = _INVALID_CHOICE.match(message)
    if m:
        choices = re.findall(r"'([^']*)'", m.group("choices"))
        got = m.group("got")
        if m.group("arg") == "VERB":
            return f"unknown verb {got!r}{suggest(got, choices)}; expected one of {', '.join(choices)}"
        return f"{m.group('arg')}: expected one of {', '.join(choices)}, got {got!r}{suggest(got, choices)}"
    m = _INVALID_TYPE.match(message)
    if m:
        kind = {"int": "an integer", "float": "a number"}.get(m.group("type"), f"a {m.group('type')}")
        return f"{m.group('arg')}: expected {kind}, got {m.group('got')!r}"
    if message == "the following arguments are required: VERB":
        return f"no verb given; expected one of {', '.join(verbs)} (harness --help says what each does)"
    m = re.match(r"argument (?P<arg>\S+): expected one argument$", message)
    if m:
        return f"{m.group('arg')}: expected a value after it"
    return message


# --- help -------------------------------------------------------------------------------------


def show_every_default(parser: argparse.ArgumentParser, unset: Mapping[str, str] | None = None) -> None:
    """Append ``(default: ...)`` to every argument whose help does not say its default;
    ``unset`` says what leaving a flag out means where "none" would say too little."""
    unset = unset or {}
    for action in parser._actions:
        if action.help in (None, argparse.SUPPRESS) or "default" in action.help:
            continue
        if isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        if not action.option_strings and action.nargs not in ("?", "*"):
            continue  # a required positional has no default
        key = action.option_strings[0] if action.option_strings else action.dest
        if key in unset:
            shown = unset[key]
        elif isinstance(action, argparse._StoreTrueAction):
            shown = "off"
        elif action.default in (None, [], ()):
            shown = "none"
        else:
            shown = str(action.default)
        action.help = f"{action.help} (default: {shown})"


def epilog(*, exit_codes: Mapping[int, str], examples: Sequence[str], notes: Sequence[str] = ()) -> str:
    """The text after a verb's flags: notes, exit status, examples."""
    if len(examples) < MIN_EXAMPLES:
        raise ValueError(f"a verb's help shows at least {MIN_EXAMPLES} examples, got {len(examples)}")
    parts = [note.rstrip() for note in notes]
    parts.append("exit status:\n" + "\n".join(f"  {code:<4} {meaning}" for code, meaning in exit_codes.items()))
    parts.append("examples:\n" + "\n".join(f"  {example}" for example in examples))
    return "\n\n".join(parts) + "\n"


def verb_help(parser: argparse.ArgumentParser, *, exit_codes: Mapping[int, str], examples: Sequence[str],
              notes: Sequence[str] = (), unset: Mapping[str, str] | None = None) -> None:
    """Give a verb's ``--help`` the shared layout (see the module docstring)."""
    show_every_default(parser, unset)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = epilog(exit_codes=exit_codes, examples=examples, notes=notes)
