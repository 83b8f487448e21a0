"""Import GoReplay capture files (``gor --output-file``) into a recording.

The format, as GoReplay writes it (``protocol.go``, ``output_file.go``): payloads
one after another, each a meta line, the raw HTTP message, and the separator
``\\n🐵🙈🙉\\n``::

    1 <id> <timestamp ns> <latency ns>\\n        a request, as captured
    POST /api/OC_TOMA/v1/permits/push HTTP/1.1\\r\\n ... \\r\\n\\r\\n{...}
    \\n🐵🙈🙉\\n
    2 <id> <timestamp ns> <latency ns>\\n        the original response to request <id>
    HTTP/1.1 200 OK\\r\\n ... \\r\\n\\r\\n{...}
    \\n🐵🙈🙉\\n

(``3`` is a response GoReplay got when it replayed: skipped; older versions write
three meta fields.) Requests and original responses are paired by id; a request
whose response never comes is written without an answer once ``PAIR_WINDOW``
newer payloads have passed (or at the end). Bodies sent chunked are de-chunked,
compressed answers decompressed for classification. Files ending in ``.gz`` are
read through gzip, as GoReplay writes them. Memory is bounded by the requests
awaiting their response. Non-OPSCOM requests are kept (a GoReplay capture on the
controller is the controller's traffic); ``--opscom-only`` drops them.

Exit status: 0 written, 2 usage error (not a GoReplay file; nothing written).
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from harness.errors import ConfigError
from harness.recording.files import Capture, RecordingWriter
from harness.recording.format import match_path
from harness.recording.redact import PROFILES, Redactor
from harness.transport.answer import inflated
from harness.transport.base import DEFAULT_MAX_BODY
from harness.usage import verb_help

SEPARATOR = "\n🐵🙈🙉\n".encode()
PAIR_WINDOW = 10_000  # payloads after which an unanswered request is written alone
READ_CHUNK = 1 << 20

EXAMPLES = (
    'harness import-gor requests.gor --out recordings/from-gor.jsonl.zst   # from gor --output-file requests.gor',
    'harness import-gor requests_0.gor.gz --out recordings/day.jsonl.zst',
    'harness import-gor requests_0.gor.gz --out /tmp/gor.jsonl --opscom-only --redact none',
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("gor", help="a GoReplay capture file (.gor, .log, or .gz)")
    p.add_argument("--out", dest="recording", required=True, metavar="FILE",
                   help="the recording to write (.jsonl, or .jsonl.zst for zstd)")
    p.add_argument("--opscom-only", action="store_true", help="drop requests that are not OPSCOM calls")
    p.add_argument("--redact", choices=PROFILES, default="personal",
                   help="personal: also mask personal data of profile pushes (default); none: tokens only")
    verb_help(p, exit_codes={0: "the recording was written", 2: "usage error: not a GoReplay file, or a flag is wrong; nothing written", 3: "the recording could not be written (a full disk)"}, examples=EXAMPLES)


def main(args: argparse.Namespace) -> int:
    stats = import_gor(args.gor, args.recording, Redactor(args.redact), opscom_only=args.opscom_only)
    extra = [f"{n} {what}" for what, n in (("without their response", stats.unanswered),
                                             ("non-OPSCOM dropped", stats.dropped),
                                             ("replayed responses skipped", stats.replayed),
                                             ("responses without their request", stats.stray)) if n]
    print(f"harness import-gor: {stats.written} calls written to {args.recording}"
          + (f" ({', '.join(extra)})" if extra else ""), file=sys.stderr)
    return 0


@dataclass
class GorStats:
    written: int = 0
    unanswered: int = 0
    dropped: int = 0
    replayed: int = 0
    stray: int = 0


@dataclass
class _Message:
    start_line: str
    headers: list[tuple[str, str]]
    body: bytes


def payloads(f: IO[bytes]) -> Iterator[bytes]:
    """The payloads of a capture, streamed (at most one payload and a chunk in memory)."""
    buffer = b""
    while True:
        chunk = f.read(READ_CHUNK)
        if not chunk:
            break
        buffer += chunk
        while True:
            i = buffer.find(SEPARATOR)
            if i < 0:
                break
            yield buffer[:i]
            buffer = buffer[i + len(SEPARATOR):]
    if buffer.strip():
        yield buffer.rstrip(b"\n")


def parse_http(raw: bytes) -> _Message:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    lower = {k.lower(): v for k, v in headers}
    if "chunked" in lower.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    elif "content-length" in lower and lower["content-length"].isdigit():
        body = body[: int(lower["content-length"])]
    return _Message(lines[0], headers, body)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            break
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return bytes(out)


def _decoded(message: _Message) -> bytes:
    """The answer as the recording classifies it: uncompressed."""
    encoding = next((v for k, v in message.headers if k.lower() == "content-encoding"), None)
    plain = inflated(message.body, encoding, DEFAULT_MAX_BODY)
    return message.body if plain is None else plain[:DEFAULT_MAX_BODY]


def _open(path: Path) -> IO[bytes]:
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the caller's with
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return gzip.GzipFile(fileobj=raw) if path.name.endswith(".gz") else raw  # type: ignore[return-value]


def import_gor(gor: str | Path, out: str | Path, redactor: Redactor | None = None, *,
               opscom_only: bool = False) -> GorStats:
    path = Path(gor)
    stats = GorStats()
    waiting: OrderedDict[str, tuple[Capture, int]] = OrderedDict()  # id -> (request, its start ns)
    with _open(path) as f, RecordingWriter(out, source="gor", redactor=redactor, origin=path.name) as writer:
        def flush_old(count: int) -> None:
            while waiting and (len(waiting) > PAIR_WINDOW or count < 0):
                _, (capture, _) = waiting.popitem(last=False)
                writer.add(capture)
                stats.unanswered += 1
            writer.advance(next(iter(waiting.values()))[0].started if waiting else float("inf"))

        for number, payload in enumerate(payloads(f)):
            meta_line, _, raw = payload.partition(b"\n")
            meta = meta_line.decode("latin-1").split(" ")
            if len(meta) < 3 or meta[0] not in ("1", "2", "3") or not meta[2].lstrip("-").isdigit():
                raise ConfigError(f"{path}: payload {number + 1}: expected a GoReplay meta line "
                                  f"'<1|2|3> <id> <timestamp>', got {meta_line[:60]!r}")
            kind, pid, ts = meta[0], meta[1], int(meta[2])
            if kind == "3":
                stats.replayed += 1
                continue
            message = parse_http(raw)
            if kind == "1":
                parts = message.start_line.split(" ")
                if len(parts) < 2:
                    raise ConfigError(f"{path}: payload {number + 1}: not an HTTP request line: "
                                      f"{message.start_line[:60]!r}")
                target = parts[1]
                req_path, _, query = target.partition("?")
                if opscom_only and match_path(req_path) is None:
                    stats.dropped += 1
                    continue
                capture = Capture(started=ts / 1e9, method=parts[0].upper(), path=req_path, query=query,
                                  headers=message.headers, body=message.body)
                waiting[pid] = (capture, ts)
                flush_old(0)
                continue
            entry = waiting.pop(pid, None)
            if entry is None:
                stats.stray += 1
                continue
            capture, started_ns = entry
            status_parts = message.start_line.split(" ")
            if len(status_parts) < 2 or not status_parts[1].isdigit():
                capture.error = "undecodable"
            else:
                capture.status = int(status_parts[1])
                capture.answer = _decoded(message)
            capture.latency_us = max(0, (ts - started_ns) // 1000)
            writer.add(capture)
            flush_old(0)
        flush_old(-1)
        stats.written = writer.stats.calls
    return stats
