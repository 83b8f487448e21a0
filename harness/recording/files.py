"""Reading and writing recordings as streams: memory does not grow with the file.

``RecordingWriter`` takes ``Capture``s (a request and what the server answered,
from the recording proxy, a HAR or GoReplay file, or the generators), redacts them,
works out their ``uses``/``chain`` (``correlate``), and writes one line each. The
header is written with the first call, whose time is t = 0. Lines go out in the
order of the calls' start: captures handed in out of order (the proxy hands each
over when its answer has come) wait in a small buffer until the caller says that
nothing older is still coming (``advance``), at most ``reorder_limit`` of them.
The file is flushed at least every second (a zstd file ends a block), so a crash
loses at most that second and leaves at most a truncated last line.

``read_calls`` yields ``RecordedCall``s one line at a time. A truncated last line
(no newline, not JSON: a recorder that died mid-write) is skipped with a warning;
any other bad line is a ``ConfigError`` naming the file and line. ``scan`` reads a
whole recording once to check every line and count what a replay will need.
"""

from __future__ import annotations

import base64
import gzip
import heapq
import io
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
import zstandard

from harness.errors import ConfigError, OutputError
from harness.opscom.outcome import decode_and_classify, status_outcome
from harness.recording.correlate import IdIndex, answer_ids
from harness.recording.format import NO_BODY, Header, RecordedCall, decode_call, match_path
from harness.recording.names import request_name
from harness.recording.redact import Redactor

FLUSH_EVERY_S = 1.0
REORDER_LIMIT = 10_000
ZSTD_LEVEL = 3


def is_zstd(path: Path) -> bool:
    return path.name.endswith(".zst")


# --- writing --------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Capture:
    """One request as seen on the wire, and its answer (or why there was none)."""

    started: float  # wall-clock seconds (time.time()) when the request began
    method: str
    path: str  # as sent, base path included
    query: str = ""  # without "?"
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = NO_BODY
    status: int | None = None  # None: no answer (see error)
    answer: bytes | None = None  # the answer's body (possibly cut at a size limit)
    error: str | None = None  # a transport outcome key (timeout, connect_error, disconnected)
    latency_us: int | None = None
    service: str | None = None  # "plate": a non-OPSCOM call seen on the plate service's host
    # Set by the generators, which know their answer: an outcome key and decoded doc.
    outcome: str | None = None
    doc: Any = None


@dataclass
class WriterStats:
    calls: int = 0
    opscom: int = 0
    chained: int = 0  # calls that take an id from an earlier answer
    by_name: dict[str, int] = field(default_factory=dict)


class _Sink:
    """A binary file, plain or zstd, flushed at most every second."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.raw: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.zstd: Any = None
        self.out: IO[bytes] = self.raw
        if is_zstd(path):
            self.zstd = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(self.raw, closefd=False)
            self.out = self.zstd
        self.last_flush = time.monotonic()

    def write(self, data: bytes) -> None:
        try:
            self.out.write(data)
        except OSError as exc:
            raise self._lost(exc) from None
        now = time.monotonic()
        if now - self.last_flush >= FLUSH_EVERY_S:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        try:
            if self.zstd is not None:
                self.zstd.flush(zstandard.FLUSH_BLOCK)
            self.raw.flush()
        except OSError as exc:
            raise self._lost(exc) from None
        self.last_flush = time.monotonic() if now is None else now

    def close(self) -> None:
        try:
            if self.zstd is not None:
                self.zstd.close()  # ends the frame
            self.raw.flush()
        except OSError as exc:
            raise self._lost(exc) from None
        finally:
            try:
                self.raw.close()
            except OSError:
                pass  # the same failure, already raised

    def _lost(self, exc: OSError) -> OutputError:
        return OutputError(f"{self.path}: cannot write the recording ({exc.strerror or exc}); "
                           "what was written before is kept")


class RecordingWriter:
    """See the module docstring. Use as a context manager, or call ``close``."""

    def __init__(self, path: str | Path, *, source: str, redactor: Redactor | None = None,
                 client: str | None = None, origin: str | None = None,
                 reorder_limit: int = REORDER_LIMIT, ids: IdIndex | None = None) -> None:
        self.path = Path(path)
        self.source = source
        self.redactor = redactor or Redactor()
        self.client = client
        self.origin = origin
        self.reorder_limit = reorder_limit
        self.ids = ids or IdIndex()
        self.stats = WriterStats()
        self._sink: _Sink | None = None
        self._t0: float | None = None
        self._line = 0
        self._waiting: list[tuple[float, int, Capture]] = []
        self._seq = 0
        try:
            self._sink = _Sink(self.path)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot write the recording: {exc.strerror or exc}") from None

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- taking captures ----------------------------------------------------------------

    def add(self, capture: Capture) -> None:
        """A capture, possibly out of start order; written once ``advance`` passes it."""
        self._seq += 1
        heapq.heappush(self._waiting, (capture.started, self._seq, capture))
        while len(self._waiting) > self.reorder_limit:
            self._write(heapq.heappop(self._waiting)[2])

    def advance(self, horizon: float = float("inf")) -> None:
        """Nothing that started before ``horizon`` is still to come: write it."""
        waiting = self._waiting
        while waiting and waiting[0][0] <= horizon:
            self._write(heapq.heappop(waiting)[2])

    def write(self, capture: Capture) -> None:
        """A capture in start order: written at once."""
        self.add(capture)
        self.advance(capture.started)

    def flush(self) -> None:
        if self._sink is not None:
            self._sink.flush()

    def close(self) -> None:
        """Write what is waiting, end the file (a header even if nothing was recorded)."""
        if self._sink is None:
            return
        try:
            self.advance()
            if self._t0 is None:
                self._header(time.time(), None)
        finally:
            sink, self._sink = self._sink, None
            sink.close()

    # --- one line -------------------------------------------------------------------------

    def _header(self, started: float, client: str | None) -> None:
        self._t0 = started
        if self.client is None:
            self.client = client
        when = datetime.fromtimestamp(started, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        header = Header(source=self.source, started=when, client=self.client,
                        redaction=self.redactor.describe(), origin=self.origin)
        assert self._sink is not None
        self._sink.write(header.encode() + b"\n")

    def _write(self, c: Capture) -> None:
        match = match_path(c.path)
        endpoint = match.endpoint if match is not None else None
        body, raw_text = _parse_body(c.body)
        if self._t0 is None:
            client = match.client_segment if match is not None else None
            if client is None and endpoint is not None and isinstance(body, dict):
                client = body.get("client") if isinstance(body.get("client"), str) else None
            self._header(c.started, client)
        outcome, doc = _classify(c, endpoint is not None)
        red = self.redactor
        body = red.body(body, outcome, endpoint.name if endpoint else None)
        query = red.query(c.query)
        path = match.path if match is not None else c.path
        doc_line: dict[str, Any] = {"t_us": max(0, round((c.started - self._t0) * 1e6))}  # type: ignore[operator]
        if endpoint is not None:
            doc_line["endpoint"] = endpoint.name
            name = endpoint.name
        else:
            doc_line["endpoint"] = None
            name = doc_line["name"] = request_name(c.method, path)
        doc_line["method"] = c.method
        doc_line["path"] = path
        if query:
            doc_line["query"] = query
        headers = red.headers(c.headers)
        if headers:
            doc_line["headers"] = headers
        if body is not None:
            doc_line["body"] = body
        elif raw_text is not None:
            doc_line["body_text"] = red.text(raw_text)
        elif c.body:
            doc_line["body_b64"] = base64.b64encode(c.body).decode("ascii")
        if c.service and endpoint is None:
            doc_line["service"] = c.service
        ids = answer_ids(doc) if outcome == "ok" else {}
        if outcome is not None or c.status is not None:
            answer: dict[str, Any] = {"status": c.status, "outcome": outcome}
            code = _code(outcome)
            if code is not None:
                answer["code"] = code
            if ids:
                answer["ids"] = ids
            if c.latency_us is not None:
                answer["latency_us"] = c.latency_us
            doc_line["answer"] = answer
        line = self._line
        uses, chain = self.ids.uses(body, path, query)
        if uses:
            doc_line["uses"] = uses
            doc_line["chain"] = chain
            self.stats.chained += 1
        if ids:
            self.ids.add(ids, line if chain is None else chain)
        encoded = red.scrub(orjson.dumps(doc_line))
        assert self._sink is not None
        self._sink.write(encoded + b"\n")
        self._line += 1
        st = self.stats
        st.calls += 1
        st.opscom += endpoint is not None
        st.by_name[name] = st.by_name.get(name, 0) + 1


def _parse_body(body: bytes) -> tuple[Any, str | None]:
    """(parsed JSON, None), or (None, text) for a UTF-8 body that is not JSON, or
    (None, None) for no body or a binary one."""
    if not body:
        return None, None
    try:
        return orjson.loads(body), None
    except orjson.JSONDecodeError:
        pass
    try:
        return None, body.decode("utf-8")
    except UnicodeDecodeError:
        return None, None


def _classify(c: Capture, opscom: bool) -> tuple[str | None, Any]:
    if c.outcome is not None:
        return c.outcome, c.doc
    if c.error is not None:
        return c.error, None
    if c.status is None:
        return None, None
    if opscom:
        outcome, doc = decode_and_classify(c.status, c.answer or b"")
        return outcome.key, doc
    return status_outcome(c.status).key, None


def _code(outcome: str | None) -> int | None:
    return int(outcome) if outcome is not None and outcome.isdigit() else None


# --- reading --------------------------------------------------------------------------------

Warn = Callable[[str], None]


def _open_binary(path: Path) -> IO[bytes]:
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, closed there
    if is_zstd(path):
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=True)
        return io.BufferedReader(reader, buffer_size=1 << 20)  # type: ignore[arg-type]
    if path.name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


def _lines(path: Path) -> Iterator[tuple[bytes, bool]]:
    """(line without its newline, whether it had one); a damaged compressed tail
    ends the stream like a truncated line."""
    try:
        f = _open_binary(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the recording: {exc.strerror or exc}") from None
    with f:
        try:
            for raw in f:
                if raw.endswith(b"\n"):
                    yield raw[:-1], True
                else:
                    yield raw, False
        except (zstandard.ZstdError, EOFError):
            yield b"", False  # the compressed stream ends mid-block: a recorder that crashed
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the recording: {exc.strerror or exc}") from None


def read_header(path: str | Path) -> Header:
    path = Path(path)
    for raw, _ in _lines(path):
        return _decode_header(path, raw)
    raise ConfigError(f"{path}:1: empty file; expected a recording header")


def _decode_header(path: Path, raw: bytes) -> Header:
    try:
        return Header.decode(orjson.loads(raw))
    except orjson.JSONDecodeError:
        raise ConfigError(f"{path}:1: not a recording (the first line is not JSON)") from None
    except ValueError as exc:
        raise ConfigError(f"{path}:1: {exc}") from None


def read_calls(path: str | Path, warn: Warn | None = None, *, checked: bool = False) -> Iterator[RecordedCall]:
    """Every call of a recording, in file order, one line in memory at a time.
    ``checked``: every line was already checked (``scan``): skip the checks but for
    the last line's, which may be cut short."""
    path = Path(path)
    lines = _lines(path)
    first = next(lines, None)
    if first is None:
        raise ConfigError(f"{path}:1: empty file; expected a recording header")
    _decode_header(path, first[0])
    number = 0
    pending: tuple[bytes, bool] | None = None
    loads = orjson.loads
    for item in lines:
        if pending is not None:
            yield RecordedCall(number, loads(pending[0])) if checked else _call(path, number, pending[0])
            number += 1
        pending = item
    if pending is None:
        return
    raw, ended = pending
    if not raw.strip():
        return
    try:
        yield decode_call(number, raw)
    except ValueError as exc:
        if ended:
            raise ConfigError(f"{path}:{number + 2}: {exc}") from None
        if warn is not None:
            warn(f"{path}:{number + 2}: the last line is cut short (a recorder that stopped mid-write?); "
                 "it is skipped")


def _call(path: Path, number: int, raw: bytes) -> RecordedCall:
    try:
        return decode_call(number, raw)
    except ValueError as exc:
        raise ConfigError(f"{path}:{number + 2}: {exc}") from None


@dataclass
class Scan:
    """What ``scan`` found: the header, and about the calls in a window."""

    header: Header
    calls: int = 0  # in the window
    total: int = 0  # in the file
    first_us: int | None = None  # of the calls in the window
    last_us: int | None = None
    names: dict[str, int] = field(default_factory=dict)  # non-OPSCOM request names
    chained: int = 0
    answered: int = 0  # calls with a recorded outcome
    warnings: list[str] = field(default_factory=list)


def scan(path: str | Path, *, start_us: int = 0, end_us: int | None = None) -> Scan:
    """Read every line once (checking each), counting the calls in [start, end)."""
    path = Path(path)
    result = Scan(header=read_header(path))
    names = result.names
    for call in read_calls(path, result.warnings.append):
        result.total += 1
        t = call.t_us
        if t < start_us or (end_us is not None and t >= end_us):
            continue
        result.calls += 1
        if result.first_us is None:
            result.first_us = t
        if result.last_us is None or t > result.last_us:
            result.last_us = t
        if call.endpoint is None:
            names[call.name] = names.get(call.name, 0) + 1
        if call.uses:
            result.chained += 1
        if call.answer is not None and call.answer.get("outcome") is not None:
            result.answered += 1
    return result
