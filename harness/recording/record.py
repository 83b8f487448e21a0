"""Record real traffic: a reverse proxy in front of a controller that writes what
passes through it to a recording (see ``harness.recording.proxy``).

Exit status: 0 the recording was closed cleanly (Ctrl-C or SIGTERM end it), 2 usage
error (nothing recorded).
"""

from __future__ import annotations

import argparse
import sys

import uvloop

from harness.errors import ConfigError
from harness.options import positive_duration
from harness.recording.files import RecordingWriter
from harness.recording.proxy import ProxySettings, serve
from harness.recording.redact import PROFILES, Redactor
from harness.transport.base import Origin
from harness.usage import verb_help

EXAMPLES = (
    'harness record --upstream http://127.0.0.1:8080 --listen 127.0.0.1:8081 --out recordings/today.jsonl.zst',
    'harness record --upstream https://ctl.example.com --listen 0.0.0.0:8081 --out /var/tmp/meters.jsonl',
    'harness record --upstream http://127.0.0.1:8080 --out /tmp/dev.jsonl --redact none --timeout 30s',
)
NOTES = (
    'Tokens (apiToken, api_token, Authorization, cookies) are always replaced by a placeholder;\n--redact personal (the default) also masks personal data in profile pushes, consistently.',
    'An https upstream is verified against the system CAs; for a private CA set SSL_CERT_FILE=ca.pem.',
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--upstream", required=True, metavar="URL", help="the controller to forward to")
    p.add_argument("--listen", default="127.0.0.1:8081", metavar="HOST:PORT",
                   help="where clients connect (default: 127.0.0.1:8081; port 0 picks a free one)")
    p.add_argument("--out", dest="recording", required=True, metavar="FILE",
                   help="the recording to write (.jsonl, or .jsonl.zst for zstd)")
    p.add_argument("--redact", choices=PROFILES, default="personal",
                   help="personal: also mask personal data of profile pushes (default); none: tokens only")
    p.add_argument("--timeout", default="60s", metavar="DURATION", help="upstream read timeout (default: 60s)")
    verb_help(p, exit_codes={0: "the recording was closed cleanly (Ctrl-C, SIGTERM or SIGHUP ends it)", 2: "usage error: a flag is wrong; nothing was recorded", 3: "the recording could not be written (a full disk): forwarding went on, the file keeps what was written before"}, examples=EXAMPLES, notes=NOTES)


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"--listen: expected HOST:PORT such as 127.0.0.1:8081, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def main(args: argparse.Namespace) -> int:
    try:
        upstream = Origin.parse(args.upstream)
    except ValueError as exc:
        raise ConfigError(f"--upstream: {exc}") from None
    try:
        timeout = positive_duration(args.timeout)
    except ValueError as exc:
        raise ConfigError(f"--timeout: {exc}") from None
    host, port = parse_listen(args.listen)
    settings = ProxySettings(upstream=upstream.url, host=host, port=port, timeout=timeout)
    writer = RecordingWriter(args.recording, source="record", redactor=Redactor(args.redact), origin=upstream.url)
    try:
        proxy = uvloop.run(serve(settings, writer))
    except OSError as exc:
        writer.close()
        raise ConfigError(f"--listen {args.listen}: cannot listen there: {exc.strerror or exc}") from None
    print(f"harness record: {proxy.exchanges} calls recorded to {args.recording}", file=sys.stderr, flush=True)
    if proxy.lost is not None:
        print(f"harness: error: {proxy.lost}", file=sys.stderr, flush=True)
        return proxy.lost.exit_code
    return 0
