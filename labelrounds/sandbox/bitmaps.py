"""Supervisely bitmap masks on the wire: `data` = base64 of a zlib-compressed PNG (standard library only)."""

from __future__ import annotations

import base64
import binascii
import math
import struct
import zlib
from collections.abc import Sequence

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IHDR_END = len(PNG_SIGNATURE) + 8 + 13
_MAX_PNG_BYTES = 64 * 1024 * 1024


class BitmapError(ValueError):
    """Bitmap `data` that is not base64 of a zlib-compressed PNG."""


def png_size(data: str) -> tuple[int, int]:
    """The (width, height) of the mask in a bitmap's `data`.

    Raises:
        BitmapError: not base64, not zlib, too large once decompressed, or not a PNG.
    """
    try:
        compressed = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BitmapError("bitmap data is not valid base64") from None
    decompressor = zlib.decompressobj()
    try:
        png = decompressor.decompress(compressed, _MAX_PNG_BYTES)
    except zlib.error:
        raise BitmapError("bitmap data is not zlib-compressed (expected base64 of zlib(PNG))") from None
    if decompressor.unconsumed_tail:
        raise BitmapError(f"bitmap data decompresses to more than {_MAX_PNG_BYTES} bytes")
    if len(png) < _IHDR_END or not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise BitmapError("bitmap data does not hold a PNG image")
    width, height = struct.unpack(">II", png[16:24])
    if width < 1 or height < 1:
        raise BitmapError("bitmap PNG has an empty size")
    return width, height


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def encode_mask(rows: Sequence[Sequence[bool]]) -> str:
    """A boolean mask (rows of equal length) as bitmap `data`: an 8-bit grey PNG (set = 255), zlib, base64."""
    return _encode_rows([bytes(255 if cell else 0 for cell in row) for row in rows])


def _encode_rows(rows: Sequence[bytes]) -> str:
    """Grey PNG scanlines (one byte per pixel) as bitmap `data`."""
    height, width = len(rows), len(rows[0]) if rows else 0
    if width < 1 or height < 1 or any(len(row) != width for row in rows):
        raise ValueError("a mask needs at least one row and column, all rows of equal length")
    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    png = PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")
    return base64.b64encode(zlib.compress(png)).decode()


def _ellipse_spans(width: int, height: int) -> list[tuple[int, int]]:
    """Per row, the [start, end) columns of a filled ellipse inscribed in a width × height box."""
    center_x, center_y = (width - 1) / 2, (height - 1) / 2
    radius_x, radius_y = max(width / 2, 0.5), max(height / 2, 0.5)
    spans = []
    for y in range(height):
        reach = 1.0 - ((y - center_y) / radius_y) ** 2
        half = radius_x * reach**0.5 if reach > 0 else -1.0
        start = max(0, math.ceil(center_x - half))
        end = min(width, math.floor(center_x + half) + 1)
        spans.append((start, max(start, end)))
    return spans


def ellipse_mask(width: int, height: int) -> list[list[bool]]:
    """A filled ellipse inscribed in a width × height box."""
    return [[start <= x < end for x in range(width)] for start, end in _ellipse_spans(width, height)]


def ellipse_bitmap_data(width: int, height: int) -> str:
    """`encode_mask(ellipse_mask(width, height))`, built a row at a time (fast for large masks)."""
    return _encode_rows(
        [
            b"\x00" * start + b"\xff" * (end - start) + b"\x00" * (width - end)
            for start, end in _ellipse_spans(width, height)
        ]
    )
