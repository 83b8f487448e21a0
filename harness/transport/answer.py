"""What both transports do with an answer beyond ``classify_answer``: the rare paths.

Every transport classifies an answer with ``harness.opscom.outcome.classify_answer``.
Only when an OPSCOM answer's body did not decode as JSON does it look further, here:
a server may compress the body although we asked for ``Accept-Encoding: identity``,
and then the decompressed body is classified instead. Keeping this off the common
path (a JSON body never needs it) costs the fast transport nothing per answer, and
keeping it in one function makes both transports agree on every compressed answer.
"""

from __future__ import annotations

import zlib
from typing import Any

from harness.opscom.outcome import BODY_TOO_LARGE, Outcome, decode_and_classify

# Content-Encoding values we undo. "x-gzip" is gzip's old alias (RFC 9110 8.4.1.3).
# "deflate" is meant to be the zlib format, but some servers send raw deflate, so
# both are accepted. Anything else (br, zstd, stacked codings) stays undecodable.
_GZIP = 16 + zlib.MAX_WBITS
_ZLIB = zlib.MAX_WBITS
_RAW_DEFLATE = -zlib.MAX_WBITS
_WBITS: dict[str, tuple[int, ...]] = {
    "gzip": (_GZIP,),
    "x-gzip": (_GZIP,),
    "deflate": (_ZLIB, _RAW_DEFLATE),
}


def _inflate(body: bytes, wbits: int, max_body: int) -> bytes:
    """``body`` decompressed; past ``max_body``, its first max_body + 1 bytes (a zip
    bomb stops there, whatever its ratio)."""
    d = zlib.decompressobj(wbits)
    out = d.decompress(body, max_body + 1)
    if len(out) <= max_body and not d.eof:
        raise zlib.error("truncated compressed body")
    return out


def inflated(body: bytes, encoding: str | bytes | None, max_body: int) -> bytes | None:
    """``body`` with its Content-Encoding undone, or None when there is nothing to
    undo (no or an unknown coding, or a body that is not validly compressed). One
    that decompresses past ``max_body`` comes back as its first max_body + 1 bytes:
    longer than ``max_body`` says so."""
    if not encoding:
        return None
    if isinstance(encoding, bytes):
        encoding = encoding.decode("latin-1")
    for wbits in _WBITS.get(encoding.strip().lower(), ()):
        try:
            return _inflate(body, wbits, max_body)
        except zlib.error:
            continue
    return None


def classify_compressed(
    status: int, body: bytes, encoding: str | bytes | None, max_body: int
) -> tuple[Outcome, Any] | None:
    """The outcome of an OPSCOM answer whose body is compressed with ``encoding``
    (its Content-Encoding), or None when there is nothing to undo (no or an unknown
    coding, or a body that is not validly compressed): the caller keeps the outcome
    of the body as it came. A body that decompresses past ``max_body`` is
    ``body_too_large``, as if it had come that large."""
    plain = inflated(body, encoding, max_body)
    if plain is None:
        return None
    if len(plain) > max_body:
        return BODY_TOO_LARGE, None
    return decode_and_classify(status, plain)
