"""Run the reference OPSCOM controller: aiohttp + SQLite, with optional fault injection.

``harness serve`` serves the eight controller endpoints under /api/{client}/v1/...
and the plate service at /api/v1/validate/plate on one port, from a SQLite database
seeded deterministically from --seed. When it is ready it prints one line,
``harness serve: listening on http://HOST:PORT``, and it stops cleanly (exit 0) on
SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Mapping
from pathlib import Path

import uvloop
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from harness.controller.app import FAULTS_KEY, build_app
from harness.controller.config import (
    DEFAULT_CLIENT,
    DEFAULT_MAX_BODY,
    READY_PREFIX,
    ControllerConfig,
    Faults,
    Latency,
    Stall,
    parse_rate,
    parse_tokens,
    tokens_from_env,
)
from harness.errors import ConfigError
from harness.usage import verb_help

SERVE_EXIT_CODES = {
    0: "stopped cleanly (SIGINT or SIGTERM, or the end of stdin with --exit-on-stdin-eof)",
    2: "usage error: a bad flag, a port it cannot listen on, a --db it cannot use",
    3: "the controller failed (a bug; the traceback is kept in a file)",
}
SERVE_EXAMPLES = (
    "harness serve --port 8080 --token my-token --token reader:plate-validate",
    "OPSCOM_TOKENS=\"my-token\" harness serve --port 0 --token-env OPSCOM_TOKENS --db /tmp/opscom.db --seed 7",
    "harness serve --token t --latency 20ms~10ms --error-rate 0.02 --stall 10s:1s --drop-rate 0.01",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    listen = parser.add_argument_group("listening")
    listen.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    listen.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one (default: 8080)")
    listen.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY, metavar="BYTES",
                        help=f"largest request body accepted (default: {DEFAULT_MAX_BODY})")
    creds = parser.add_argument_group("credentials (tokens are never printed or logged)")
    creds.add_argument("--client", default=DEFAULT_CLIENT, metavar="CODE",
                       help=f"client code served; OC-TOMA is the same as OC_TOMA (default: {DEFAULT_CLIENT})")
    creds.add_argument("--token", action="append", default=[], metavar="TOKEN[:PERM,...]",
                       help="accept TOKEN with every permission, or only the listed ones; repeatable "
                            "(default: none: every API call answers 9034)")
    creds.add_argument("--token-env", metavar="VAR",
                       help="read whitespace-separated --token entries from environment variable VAR "
                            "(default: none)")
    data = parser.add_argument_group("reference data")
    data.add_argument("--db", type=Path, metavar="FILE",
                      help="SQLite file, created and seeded if new (default: a temporary file, deleted at exit)")
    data.add_argument("--seed", type=int, default=1, help="seed of the reference data (default: 1)")
    faults = parser.add_argument_group("fault injection")
    faults.add_argument("--latency", metavar="BASE[~JITTER]",
                        help="added latency, e.g. 40ms or 20ms~10ms (default: none)")
    faults.add_argument("--error-rate", default="0", metavar="P",
                        help="share of requests answered HTTP 500 (default: 0)")
    faults.add_argument("--stall", metavar="EVERY:FOR",
                        help="answer nothing for FOR out of every EVERY, e.g. 10s:1s (default: none)")
    faults.add_argument("--drop-rate", default="0", metavar="P",
                        help="share of connections closed without an answer (default: 0)")
    life = parser.add_argument_group("lifecycle")
    life.add_argument("--exit-on-stdin-eof", action="store_true",
                      help="stop when standard input reaches its end (a parent process's lifeline) (default: off)")
    verb_help(parser, exit_codes=SERVE_EXIT_CODES, examples=SERVE_EXAMPLES,
              notes=("When it is ready it prints one line: harness serve: listening on http://HOST:PORT",))


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> ControllerConfig:
    """The flags as a checked ``ControllerConfig`` (``ConfigError`` names a bad flag)."""
    tokens = parse_tokens(args.token)
    if args.token_env:
        for token, perms in tokens_from_env(args.token_env, environ).items():
            tokens[token] = tokens.get(token, frozenset()) | perms
    faults = Faults(
        latency=Latency.parse(args.latency) if args.latency else None,
        error_rate=parse_rate("--error-rate", args.error_rate),
        stall=Stall.parse(args.stall) if args.stall else None,
        drop_rate=parse_rate("--drop-rate", args.drop_rate),
    )
    return ControllerConfig(
        host=args.host, port=args.port, db=args.db, client=args.client, tokens=tokens,
        seed=args.seed, faults=faults, max_body=args.max_body,
    )


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set ``stop`` when stdin reaches its end: the parent holding its other end died."""
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            stop.set()

    loop.add_reader(fd, readable)


async def serve(config: ControllerConfig, *, exit_on_stdin_eof: bool = False) -> None:
    """Serve until SIGINT or SIGTERM (or the end of stdin, if asked)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if exit_on_stdin_eof:
        _watch_stdin(loop, stop)
    try:
        app = build_app(config)
    except sqlite3.Error as exc:
        raise ConfigError(f"--db: cannot use {config.db}: {exc}") from exc
    # No access log: the hot path must not format a line per request.
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port, backlog=4096, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(f"--host/--port: cannot listen on {config.host}:{config.port}: {exc.strerror}") from exc
        server = site._server  # the only way aiohttp exposes the bound sockets
        assert server is not None
        host, port = server.sockets[0].getsockname()[:2]
        app[FAULTS_KEY].mark_started()
        shown = f"[{host}]" if ":" in host else host
        print(f"{READY_PREFIX}http://{shown}:{port}", flush=True)
        if not config.tokens:
            print("harness serve: warning: no --token given; every API call will answer 9034",
                  file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()  # closes the database (and deletes a temporary one)


class _DropClientErrors(logging.Filter):
    """Malformed HTTP and clients that hang up are the clients' business: aiohttp
    answers them (400, or nothing) and would log a traceback for each, which under
    a load test of bad input means a traceback per request. Errors in the
    controller's own code still get logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, (HttpProcessingError, ConnectionError))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve_until_stopped(config: ControllerConfig, *, exit_on_stdin_eof: bool = False) -> None:
    """Serve in this process until SIGINT or SIGTERM (``harness.api.serve_controller``)."""
    # Until serve() installs the loop's handlers, SIGTERM ends the process the way
    # SIGINT does (cleanly, exit 0) instead of killing it outright.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    quiet = _DropClientErrors()
    logging.getLogger("aiohttp.server").addFilter(quiet)
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(config, exit_on_stdin_eof=exit_on_stdin_eof))
    except KeyboardInterrupt:  # a signal before the loop's handlers were installed
        pass
    finally:  # leave the process as found (main may run inside another program)
        signal.signal(signal.SIGTERM, previous)
        logging.getLogger("aiohttp.server").removeFilter(quiet)


def main(args: argparse.Namespace) -> int:
    from harness.api import serve_controller

    serve_controller(config_from_args(args), exit_on_stdin_eof=bool(getattr(args, "exit_on_stdin_eof", False)))
    return 0
