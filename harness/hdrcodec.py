"""HdrHistogram's V2 compressed wire format (the base64 "histoblob" of ``hdrh``),
written from and read into a histogram's non-zero buckets.

The format: an 8-byte big-endian header (cookie ``0x1c849314``, length of what
follows), then zlib of a 40-byte big-endian payload header (cookie ``0x1c849313``,
varint length, normalizing index offset 0, significant figures, lowest and highest
trackable value as u64, integer-to-double conversion ratio as f64 1.0) and the
counts ``[0, index of the last non-zero count]`` as ZigZag LEB128 varints, where a
run of k zero counts is written as -k; all of it in base64.

``encode`` gives exactly the bytes ``hdrh``'s ``HdrHistogram.encode`` gives for the
same counts, and ``decode_counts`` exactly the counts its decoder (``pyhdrh``'s C
code) reads, with its limits; only the exception differs for input it refuses
(always ``ValueError`` here). Both work on the non-zero buckets only, with C-level
iteration (``bytes.translate``, ``itertools``): a second's histogram has a few
hundred of them among its 23,552 counts, and touching every count from Python costs
milliseconds, which the engine's event loop cannot spare once a second.
"""

from __future__ import annotations

import base64
import re
import struct
import zlib
from collections.abc import Callable, Sequence
from itertools import accumulate, chain, compress
from operator import sub
from typing import NamedTuple

COMPRESSION_COOKIE = 0x1C849304 | 0x10  # V2, with the word-size nibble hdrh writes
ENCODING_COOKIE = 0x1C849303 | 0x10
_COOKIE_BASE_MASK = ~0xF0
_EXTERNAL = struct.Struct(">II")  # cookie, length of the compressed payload
_PAYLOAD = struct.Struct(">IIIIQQd")  # see the module docstring
_RUN_MIN = -(2**31)  # pyhdrh refuses a longer zero run (its C int)
_MAX_COUNT = 2**63 - 1  # ZigZag over int64, as pyhdrh encodes it


class Header(NamedTuple):
    """The payload header's layout fields."""

    significant_figures: int
    lowest: int
    highest: int


def encode(header: Header, indices: Sequence[int], counts: Sequence[int]) -> str:
    """The histoblob of the counts ``counts[k]`` at ``indices[k]`` (increasing, every
    count non-zero; all other counts zero)."""
    # Before each count, the zero run since the previous one: an index gap g is g-1 zeros.
    tokens: list[bytes] = [b""] * (2 * len(indices))
    tokens[::2] = map(_RUN_BYTES.__getitem__, map(sub, indices, chain((-1,), indices)))
    tokens[1::2] = map(_COUNT_BYTES.__getitem__, counts)
    varints = b"".join(tokens)
    payload = _PAYLOAD.pack(ENCODING_COOKIE, len(varints), 0, header.significant_figures, header.lowest,
                            header.highest, 1.0)
    compressed = zlib.compress(payload + varints)
    return base64.b64encode(_EXTERNAL.pack(COMPRESSION_COOKIE, len(compressed)) + compressed).decode("ascii")


def decode_header(blob: str | bytes) -> tuple[Header, bytes]:
    """The layout a histoblob declares, and its varints (to ``decode_counts``)."""
    raw = base64.b64decode(blob)  # binascii.Error is a ValueError
    if len(raw) < _EXTERNAL.size:
        raise ValueError("not a histogram: too short")
    cookie, length = _EXTERNAL.unpack_from(raw)
    if cookie & _COOKIE_BASE_MASK != COMPRESSION_COOKIE & _COOKIE_BASE_MASK:
        raise ValueError(f"not a histogram: cookie {cookie:#x}")
    if length != len(raw) - _EXTERNAL.size:
        raise ValueError(f"not a histogram: {length} bytes announced, {len(raw) - _EXTERNAL.size} given")
    try:
        data = zlib.decompress(raw[_EXTERNAL.size:])
    except zlib.error as exc:
        raise ValueError(f"not a histogram: {exc}") from None
    if len(data) < _PAYLOAD.size:
        raise ValueError("not a histogram: payload header cut short")
    cookie, _, _, figures, lowest, highest, _ = _PAYLOAD.unpack_from(data)
    if cookie & _COOKIE_BASE_MASK != ENCODING_COOKIE & _COOKIE_BASE_MASK:
        raise ValueError(f"not a histogram: payload cookie {cookie:#x}")
    # Like pyhdrh, the varints run to the end (the payload's length field is not read).
    return Header(figures, lowest, highest), data[_PAYLOAD.size:]


def decode_counts(varints: bytes, counts_len: int) -> tuple[list[int], list[int]]:
    """(indices, counts) of the non-zero counts the varints give, for a layout of
    ``counts_len`` counts; ValueError where pyhdrh refuses them (more counts than
    that, a zero run beyond a C int, a varint cut short)."""
    # Each token becomes one code byte: a one-byte varint stands for itself; a longer
    # one (a count over 63 or a run over 64 zeros, a few per histogram) becomes _BIG
    # and its value is kept aside, with its position among the tokens.
    big: list[tuple[int, int]] = []
    if not varints.isascii():
        try:
            if varints[-1] & 0x80:  # cut short, or a 9-byte varint last
                raise _Unusual
            codes = _LONG_VARINT.sub(_Shortener(big), varints)
        except _Unusual:  # never written by an encoder: read byte by byte, as pyhdrh does
            return _decode_slowly(varints, counts_len)
    else:
        codes = varints
    advance = list(codes.translate(_ADVANCE))  # where the next token writes, relative to this one
    values = list(codes.translate(_VALUE))
    for position, value in big:
        if value < 0:
            if value < _RUN_MIN:
                raise ValueError(f"histogram counts: a run of {-value} zeros")
            advance[position] = -value
        else:
            values[position] = value
    starts = list(accumulate(advance, initial=0))  # the counts index each token writes at
    if len(codes) > 1 and starts[len(codes) - 1] >= counts_len:
        raise ValueError(f"histogram counts: more than {counts_len}")
    indices = list(compress(starts, values))  # a token writes a count where its value is non-zero
    return indices, list(filter(None, values))


class _Shortener:
    """``re.sub``'s replacement for a multi-byte varint: the code ``_BIG``, its value
    and token position noted."""

    __slots__ = ("big", "removed")

    def __init__(self, big: list[tuple[int, int]]) -> None:
        self.big = big
        self.removed = 0  # bytes taken out so far: a token's position is its offset less these

    def __call__(self, match: re.Match[bytes]) -> bytes:
        raw = match.group()
        if len(raw) > 9:  # pyhdrh ends a varint at its 9th byte, whatever its high bit
            raise _Unusual
        zigzag = 0
        for shift, byte in enumerate(raw):
            zigzag |= (byte & 0x7F) << (7 * shift)
        self.big.append((match.start() - self.removed, (zigzag >> 1) ^ -(zigzag & 1)))
        self.removed += len(raw) - 1
        return _BIG


class _Unusual(Exception):
    """A stream ``decode_counts`` leaves to ``_decode_slowly``: a varint of more than
    9 bytes (pyhdrh ends one at its 9th), or one cut short at the end."""


def _decode_slowly(varints: bytes, counts_len: int) -> tuple[list[int], list[int]]:
    """``decode_counts`` one byte at a time, as pyhdrh reads: a varint ends at a byte
    below 0x80 or at its 9th byte, whose high bit is dropped."""
    indices: list[int] = []
    counts: list[int] = []
    at = 0
    zigzag = shift = size = 0
    left = len(varints)
    for byte in varints:
        left -= 1
        size += 1
        zigzag |= (byte & 0x7F) << shift
        if byte & 0x80 and size < 9:
            shift += 7
            continue
        value = (zigzag >> 1) ^ -(zigzag & 1)
        zigzag = shift = size = 0
        if value < 0:
            if value < _RUN_MIN:
                raise ValueError(f"histogram counts: a run of {-value} zeros")
            at -= value
        else:
            if value:
                indices.append(at)
                counts.append(value)
            at += 1
        if left and at >= counts_len:
            raise ValueError(f"histogram counts: more than {counts_len}")
    if size:
        raise ValueError("histogram counts: the last varint is cut short")
    return indices, counts


def varint(value: int) -> bytes:
    """The ZigZag LEB128 bytes of ``value`` as pyhdrh writes them (at most 9, the
    9th holding 8 bits)."""
    if not -_MAX_COUNT - 1 <= value <= _MAX_COUNT:
        raise OverflowError(f"histogram count {value} does not fit 63 bits")
    zigzag = (value << 1) ^ (value >> 63)
    out = bytearray()
    for _ in range(8):
        if zigzag < 0x80:
            out.append(zigzag)
            return bytes(out)
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)
    return bytes(out)


class _Varints(dict[int, bytes]):
    """A varint per key, made when first asked for; ``map(d.__getitem__, ...)`` reads
    it at C speed. Only small keys are kept, so the cache stays small over a soak."""

    def __init__(self, of_key: Callable[[int], bytes], keep_below: int) -> None:
        super().__init__()
        self._of_key = of_key
        self._keep_below = keep_below

    def __missing__(self, key: int) -> bytes:
        made = self._of_key(key)
        if key < self._keep_below:
            self[key] = made
        return made


def _run_bytes(gap: int) -> bytes:
    """Before a count whose index is ``gap`` past the previous one: gap-1 zeros."""
    return varint(1 - gap) if gap > 1 else b""


_RUN_BYTES = _Varints(_run_bytes, keep_below=1 << 12)
_COUNT_BYTES = _Varints(varint, keep_below=1 << 12)

# Decoding: the varints of more than one byte.
_LONG_VARINT = re.compile(rb"[\x80-\xff]+[\x00-\x7f]")
_BIG = b"\x80"  # the code of a varint of more than one byte (its value kept aside)
# Per one-byte varint z (0..127), as ZigZag: even z is the count z/2 (one index on),
# odd z a run of (z+1)/2 zeros. _BIG is a count until its value says otherwise.
_ADVANCE = bytes([1 if z % 2 == 0 else (z + 1) // 2 for z in range(128)] + [1] * 128)
_VALUE = bytes([z // 2 if z % 2 == 0 else 0 for z in range(128)] + [0] * 128)
