"""Import a HAR 1.2 file (browsers, mitmproxy, Charles, Fiddler, Postman, Insomnia)
into a recording.

Kept: the OPSCOM calls of both host families, whatever the host: controller paths
(``/api/{client}/v1/...`` naming a catalogue endpoint, after any base path) and the
plate service's ``/api/v1/validate/plate``. Everything else is skipped and counted
by kind: page and asset loads (scripts, styles, images, fonts, documents), health
checks, preflight requests, other APIs, and entries that are not HTTP(S) or were
never answered by anything.

Each entry's request (method, URL, headers, ``postData.text``) and answer
(``response.status``, ``content.text``, base64 or not; ``time`` as the latency)
become one call at ``startedDateTime``; the entries are sorted by it (exporters do
not all write them in order). A HAR is one JSON document: it is read whole, so
very large captures are better recorded with ``harness record``.

Exit status: 0 written, 2 usage error (the file is not HAR; nothing written).
"""

from __future__ import annotations

import argparse
import base64
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from harness.errors import ConfigError
from harness.recording.files import Capture, RecordingWriter
from harness.recording.format import match_path
from harness.recording.redact import PROFILES, Redactor
from harness.usage import verb_help

EXAMPLES = (
    'harness import-har capture.har --out recordings/from-browser.jsonl',
    'harness import-har flows.har --out /tmp/flows.jsonl.zst   # from mitmdump --set hardump=flows.har',
    'harness import-har postman-export.har --out /tmp/p.jsonl --redact none',
)

_ASSET_EXT = (".js", ".mjs", ".css", ".map", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".woff",
              ".woff2", ".ttf", ".eot", ".html", ".htm", ".txt", ".json.map")
_HEALTH = ("/health", "/healthz", "/healthcheck", "/ping", "/status", "/ready", "/readyz", "/livez", "/metrics")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("har", help="the HAR file (HAR 1.2)")
    p.add_argument("--out", dest="recording", required=True, metavar="FILE",
                   help="the recording to write (.jsonl, or .jsonl.zst for zstd)")
    p.add_argument("--redact", choices=PROFILES, default="personal",
                   help="personal: also mask personal data of profile pushes (default); none: tokens only")
    verb_help(p, exit_codes={0: "the recording was written", 2: "usage error: not a HAR file, or a flag is wrong; nothing written", 3: "the recording could not be written (a full disk)"}, examples=EXAMPLES)


def main(args: argparse.Namespace) -> int:
    kept, skipped = import_har(args.har, args.recording, Redactor(args.redact))
    said = ", ".join(f"{n} {why}" for why, n in skipped.most_common())
    print(f"harness import-har: {kept} OPSCOM calls written to {args.recording}"
          + (f"; skipped {sum(skipped.values())}: {said}" if skipped else ""), file=sys.stderr)
    return 0


def _entries(path: Path) -> list[dict[str, Any]]:
    try:
        doc = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not a HAR file (not JSON: {exc})") from None
    log = doc.get("log") if isinstance(doc, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f'{path}: not a HAR file: expected {{"log": {{"entries": [...]}}}}')
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict) \
                or not isinstance(entry.get("startedDateTime"), str):
            raise ConfigError(f"{path}: log.entries[{i}]: expected an entry with startedDateTime and request")
    return entries


def _started(path: Path, i: int, text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ConfigError(f"{path}: log.entries[{i}].startedDateTime: expected an ISO 8601 time, "
                          f"got {text!r}") from None


def skip_reason(method: str, path: str, mime: str) -> str:
    lower = path.lower()
    if method == "OPTIONS":
        return "preflight requests"
    if lower.rstrip("/") in _HEALTH or lower.endswith(_HEALTH):
        return "health checks"
    if lower.endswith(_ASSET_EXT) or lower in ("", "/") or mime.startswith(("text/html", "image/", "font/",
                                                                             "text/css", "application/javascript")):
        return "pages and assets"
    return "other API calls"


def _text(content: dict[str, Any] | None) -> bytes:
    if not isinstance(content, dict):
        return b""
    text = content.get("text")
    if not isinstance(text, str):
        return b""
    if content.get("encoding") == "base64":
        try:
            return base64.b64decode(text)
        except ValueError:
            return b""
    return text.encode()


def import_har(har: str | Path, out: str | Path, redactor: Redactor | None = None) -> tuple[int, Counter[str]]:
    """Write the OPSCOM calls of a HAR file to a recording; (kept, skipped by kind)."""
    path = Path(har)
    entries = _entries(path)
    order = sorted(range(len(entries)), key=lambda i: _started(path, i, entries[i]["startedDateTime"]))
    skipped: Counter[str] = Counter()
    with RecordingWriter(out, source="har", redactor=redactor, origin=path.name) as writer:
        for i in order:
            e = entries[i]
            req = e["request"]
            url = urlsplit(str(req.get("url", "")))
            method = str(req.get("method", "GET")).upper()
            if url.scheme not in ("http", "https"):
                skipped["not HTTP"] += 1
                continue
            resp = e.get("response") if isinstance(e.get("response"), dict) else {}
            status = resp.get("status")
            mime = str((resp.get("content") or {}).get("mimeType", "")).lower()
            if match_path(url.path) is None:
                skipped[skip_reason(method, url.path, mime)] += 1
                continue
            if not isinstance(status, int) or status <= 0:
                skipped["never answered"] += 1
                continue
            post = req.get("postData") if isinstance(req.get("postData"), dict) else {}
            body = post.get("text") if isinstance(post.get("text"), str) else ""
            headers = [(str(h.get("name", "")), str(h.get("value", ""))) for h in req.get("headers") or []
                       if isinstance(h, dict)]
            elapsed = e.get("time")
            writer.write(Capture(
                started=_started(path, i, e["startedDateTime"]), method=method, path=url.path, query=url.query,
                headers=headers, body=body.encode(), status=status, answer=_text(resp.get("content")),
                latency_us=round(elapsed * 1000) if isinstance(elapsed, int | float) and elapsed >= 0 else None,
            ))
        return writer.stats.calls, skipped
