"""Errors that end a command with one clear line instead of a traceback.

    HarnessError                the user's input is wrong: exit code 2
     +-- ConfigError            a scenario file, flag or check expression
     +-- UnsafeTargetError      a target that is not loopback and not allowed
     +-- OutputError            an output cannot be written (a full disk): exit code 3

Raise them with the file, line or key and what was expected, e.g.
``ConfigError("scenarios/x.toml: [load] rate: expected a positive number, got 'abc'")``.
"""

from __future__ import annotations


class HarnessError(Exception):
    """A user mistake; the CLI prints ``harness: error: <message>`` and exits 2."""

    exit_code = 2


class ConfigError(HarnessError):
    pass


class UnsafeTargetError(HarnessError):
    pass


class OutputError(HarnessError):
    """Not the user's mistake, but no traceback either: a file the command writes
    cannot be written (a full disk, a file size limit). What was written before stays."""

    exit_code = 3
