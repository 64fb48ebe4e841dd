"""A minimal decoder for the PNGs the Supervisely SDK writes for bitmaps, many masks in one compiled pass.

`Bitmap.data_2_base64` saves a 1-bit palette PNG (index 0 transparent) through Pillow. `one_bit_rows` recognises
that layout and inflates its pixel data; `pack_masks` undoes the scanline filters (None, Sub, Up, Average, Paeth)
of many images in one numba loop and keeps the masks packed, 8 pixels a byte: that is what overlaps are counted on
(`labelrounds.quality.masks`), unpacked to booleans only where a caller asks for a mask. Other bit depths, colour
types or interlacing are left to Pillow.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Final, NamedTuple

import numpy as np
from isal import isal_zlib
from PIL import Image

from labelrounds.quality.compiled import compiled

_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_SUB, _UP, _AVERAGE, _PAETH = 1, 2, 3, 4
_FILTERS: Final = bytes(range(5))  # None, Sub, Up, Average, Paeth
# Signature, IHDR type, width, height, bit depth and colour type, interlace (compression and filter skipped).
_HEADER: Final = struct.Struct(">8s4x4sII2s2xB")
# Both at once (one unpack per mask for the SDK's layout): the header's fields, then the chunks' length and type.
_SDK_PNG: Final = struct.Struct(">8s4x4sII2s2xB4x8s6x4x9s4xI4s")
_SDK_CONSTANTS: Final = (
    _SIGNATURE,
    b"IHDR",
    b"\x01\x03",
    0,
    b"\x00\x00\x00\x06PLTE",
    b"\x00\x00\x00\x01tRNS\x00",
    b"IDAT",
)


class OneBitImage(NamedTuple):
    """An SDK bitmap PNG's size and pixel data: the inflated scanlines (None if a filter type is unknown)."""

    width: int
    height: int
    scanlines: bytes | None  # each: filter byte, then the packed row
    compressed: bytes  # the IDAT data


def sdk_scanlines(png: bytes) -> tuple[bytes, int] | None:
    """The filtered scanlines and width of a PNG laid out exactly as the SDK writes bitmaps (1-bit palette, a
    2-colour PLTE, tRNS = [0], one IDAT, IEND), read with one unpack; None for any other PNG, or one whose pixel
    data does not inflate to its rows or has an unknown filter type (`one_bit_rows` then tells)."""
    if len(png) < _SDK_PNG.size:
        return None
    signature, kind, width, height, depth_and_colour, interlace, palette, transparency, length, idat = (
        _SDK_PNG.unpack_from(png)
    )
    if (signature, kind, depth_and_colour, interlace, palette, transparency, idat) != _SDK_CONSTANTS:
        return None
    end = _SDK_PNG.size + length
    if not width or not height or png[end + 8 : end + 12] != b"IEND":
        return None
    scanlines = _inflated_rows(width, height, png[_SDK_PNG.size : end])
    if scanlines is None or scanlines[:: 1 + (width + 7) // 8].translate(None, _FILTERS):
        return None
    return scanlines, width


def one_bit_rows(png: bytes) -> OneBitImage | None:
    """The size and pixel data of a 1-bit palette PNG, chunk by chunk (see `sdk_scanlines` for the SDK's layout).

    Returns None unless the PNG is a non-interlaced 1-bit palette image whose set pixels are exactly its index-1
    pixels (index 0 transparent or no transparency); `scanlines` is None if a row's filter type is not one of
    PNG's five (a corrupt image, left to Pillow to refuse).
    """
    if len(png) < _HEADER.size:
        return None
    signature, kind, width, height, depth_and_colour, interlace = _HEADER.unpack_from(png)
    if signature != _SIGNATURE or kind != b"IHDR" or depth_and_colour != b"\x01\x03" or interlace:
        return None  # not bit depth 1, palette, progressive
    if not width or not height:
        return None
    compressed = _idat_of_any_layout(png)
    if compressed is None:
        return None
    return _inflated(width, height, compressed)


def _inflated(width: int, height: int, compressed: bytes) -> OneBitImage | None:
    """`one_bit_rows`'s result from the image's size and IDAT data (None if it does not inflate to its rows)."""
    scanlines = _inflated_rows(width, height, compressed)
    if scanlines is None:
        return None
    unknown_filter = scanlines[:: 1 + (width + 7) // 8].translate(None, _FILTERS)
    return OneBitImage(width, height, None if unknown_filter else scanlines, compressed)


def _inflated_rows(width: int, height: int, compressed: bytes) -> bytes | None:
    """The scanlines of an image's IDAT data (None if it does not inflate to at least its rows)."""
    raw = inflate(compressed)
    if raw is None:
        return None
    size = (1 + (width + 7) // 8) * height
    # No copy when nothing follows the rows (a whole `bytes` slice is itself).
    return raw[:size] if len(raw) >= size else None


def inflate(data: bytes) -> bytes | None:
    """A zlib stream inflated, or None if `data` is not one. ISA-L's inflate: on a bitmap's small streams it takes
    ~3.9 µs where zlib's takes ~5.3 (the inner stream of every mask of every annotation read)."""
    try:
        return isal_zlib.decompress(data)
    except isal_zlib.error:
        return None


def one_bit_png(mask: np.ndarray) -> bytes:
    """A boolean mask as the SDK's PNG layout (1-bit palette, black and white, index 0 transparent), each row
    unfiltered: several times cheaper than Pillow's encoder, decoded alike by Pillow, OpenCV and `one_bit_rows`.

    Raises:
        ValueError: the mask is not two-dimensional or has no pixel.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2 or not mask.size:
        raise ValueError(f"a mask needs rows and columns, got shape {mask.shape}")
    height, width = mask.shape
    rows = np.zeros(
        (height, 1 + (width + 7) // 8), dtype=np.uint8
    )  # filter byte 0 (None), then the packed row
    rows[:, 1:] = np.packbits(mask, axis=1)
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 3, 0, 0, 0])
    return b"".join(
        [
            _SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"PLTE", bytes([0, 0, 0, 255, 255, 255])),
            _chunk(b"tRNS", b"\x00"),
            _chunk(b"IDAT", zlib.compress(rows.tobytes())),
            _chunk(b"IEND", b""),
        ]
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def _idat_of_any_layout(png: bytes) -> bytes | None:
    """The IDAT data of a PNG walked chunk by chunk; None if its transparency is not "index 0 transparent"."""
    idat: list[bytes] = []
    position = 33  # signature (8) + IHDR chunk (4 length + 4 type + 13 data + 4 CRC)
    while position + 8 <= len(png):
        length = int.from_bytes(png[position : position + 4], "big")
        kind = png[position + 4 : position + 8]
        if kind == b"IDAT":
            idat.append(png[position + 8 : position + 8 + length])
        elif kind == b"tRNS" and not _index_zero_transparent(png[position + 8 : position + 8 + length]):
            return None
        position += 12 + length
    return b"".join(idat)


def _index_zero_transparent(alphas: bytes) -> bool:
    return alphas[:1] == b"\x00" and (len(alphas) < 2 or alphas[1] != 0)


def unfilter_masks(images: Sequence[OneBitImage]) -> list[np.ndarray]:
    """The boolean masks of `one_bit_rows` results (see `decoded_masks`)."""
    return decoded_masks(images)[0]


def decoded_masks(images: Sequence[OneBitImage]) -> tuple[list[np.ndarray], list[int]]:
    """The boolean masks of `one_bit_rows` results and their set-pixel counts.

    An image whose `scanlines` is None goes through Pillow's 1-bit PNG decoder.
    """
    packed = pack_masks([scanlines_of(image) for image in images], [image.width for image in images])
    return [packed.mask(i) for i in range(len(images))], packed.areas.tolist()


def scanlines_of(image: OneBitImage) -> bytes:
    """An image's filtered scanlines; one whose filters are unknown is decoded by Pillow and given as None rows."""
    if image.scanlines is not None:
        return image.scanlines
    mask = np.asarray(Image.frombytes("1", (image.width, image.height), image.compressed, "zip", "1"))
    return unfiltered_scanlines(mask)


def unfiltered_scanlines(mask: np.ndarray) -> bytes:
    """A boolean mask as PNG scanlines of bit depth 1, each row filtered with None (filter byte 0)."""
    rows = np.zeros((mask.shape[0], 1 + (mask.shape[1] + 7) // 8), dtype=np.uint8)
    rows[:, 1:] = np.packbits(mask, axis=1)
    return rows.tobytes()


class PackedMasks(NamedTuple):
    """Masks packed 8 pixels a byte, most significant bit first, each row whole bytes with its padding bits clear,
    laid end to end in one buffer."""

    buffer: np.ndarray  # uint8
    offsets: np.ndarray  # int64: where each mask's first row starts
    widths: np.ndarray  # int64 pixels
    heights: np.ndarray  # int64 rows
    areas: np.ndarray  # int64 set pixels

    @classmethod
    def laid_end_to_end(
        cls, buffer: np.ndarray, widths: np.ndarray, heights: np.ndarray, areas: np.ndarray
    ) -> PackedMasks:
        """Masks whose rows lie one mask after the other in `buffer`, in order (their offsets follow)."""
        return cls(buffer, starts_of(heights * ((widths + 7) // 8)), widths, heights, areas)

    def rows(self, index: int) -> np.ndarray:
        """Mask `index` as packed rows (rows x bytes), a view of the buffer."""
        height, row_bytes = int(self.heights[index]), (int(self.widths[index]) + 7) // 8
        start = int(self.offsets[index])
        return self.buffer[start : start + height * row_bytes].reshape(height, row_bytes)

    def mask(self, index: int) -> np.ndarray:
        """Mask `index` as a boolean array (rows x pixels)."""
        return unpacked(self.rows(index), int(self.widths[index]))


def starts_of(sizes: np.ndarray) -> np.ndarray:
    """Where each of consecutive pieces of these sizes starts (int64, the first at 0)."""
    starts = np.zeros(len(sizes), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    return starts


def unpacked(rows: np.ndarray, width: int) -> np.ndarray:
    """Packed rows (see `PackedMasks`) as a boolean mask `width` pixels wide."""
    return np.unpackbits(rows, axis=1, count=width).view(bool)


def pack_masks(scanlines: Sequence[bytes], widths: Sequence[int]) -> PackedMasks:
    """Unfilter the 1-bit scanlines of many images (one compiled pass over all of them) into `PackedMasks`.

    Every filter type is undone (None, Sub, Up, Average, Paeth); the scanlines must hold at least their rows
    (`one_bit_rows` checks it).
    """
    width_array = np.array(widths, dtype=np.int64)
    row_bytes = (width_array + 7) // 8
    heights = np.array([len(lines) for lines in scanlines], dtype=np.int64) // (row_bytes + 1)
    sizes = heights * row_bytes
    offsets, starts = starts_of(sizes), starts_of(heights * (row_bytes + 1))
    buffer = np.empty(int(sizes.sum()), dtype=np.uint8)
    if not scanlines:  # nothing to unfilter: no call (the first call of a process loads numba's machinery)
        return PackedMasks(buffer, offsets, width_array, heights, np.zeros(0, dtype=np.int64))
    source = np.frombuffer(b"".join(scanlines), dtype=np.uint8)
    areas = _unfilter(source, starts, width_array, heights, buffer, offsets, BIT_COUNTS)
    return PackedMasks(buffer, offsets, width_array, heights, areas)


BIT_COUNTS: Final = np.array(
    [bin(value).count("1") for value in range(256)], dtype=np.int64
)  # per byte value


@compiled
def _unfilter(
    source: np.ndarray,
    starts: np.ndarray,
    widths: np.ndarray,
    heights: np.ndarray,
    out: np.ndarray,
    offsets: np.ndarray,
    bit_counts: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; exercised through `pack_masks`
    """Undo the filters of each image's scanlines (from `starts` in `source`) into packed rows (from `offsets`
    in `out`, no filter byte), clear the padding bits past each row's last pixel, count the set pixels. At bit
    depth 1 the byte to the left is the left byte; a first row's row above is zeros."""
    areas = np.zeros(len(widths), dtype=np.int64)
    for image in range(len(widths)):
        width, height = widths[image], heights[image]
        row_bytes = (width + 7) // 8
        last_byte = (0xFF00 >> (width - 8 * row_bytes + 8)) & 0xFF
        position, row = starts[image], offsets[image]
        count = 0
        for y in range(height):
            kind = source[position]
            line = position + 1
            above = row - row_bytes  # the row above (only read when y > 0)
            if kind == 0 or (kind == _UP and y == 0):
                for x in range(row_bytes):
                    out[row + x] = source[line + x]
            elif kind == _SUB:
                left = np.uint8(0)
                for x in range(row_bytes):
                    left = np.uint8(source[line + x] + left)
                    out[row + x] = left
            elif kind == _UP:
                for x in range(row_bytes):
                    out[row + x] = np.uint8(source[line + x] + out[above + x])
            else:  # Average or Paeth, byte by byte from the left byte and the finished row above
                left, upper_left = np.int32(0), np.int32(0)
                for x in range(row_bytes):
                    up = np.int32(out[above + x]) if y > 0 else np.int32(0)
                    if kind == _AVERAGE:
                        predicted = (left + up) >> 1
                    else:
                        estimate = left + up - upper_left
                        distance_left = abs(estimate - left)
                        distance_up = abs(estimate - up)
                        distance_corner = abs(estimate - upper_left)
                        if distance_left <= distance_up and distance_left <= distance_corner:
                            predicted = left
                        elif distance_up <= distance_corner:
                            predicted = up
                        else:
                            predicted = upper_left
                    left = (np.int32(source[line + x]) + predicted) & 0xFF
                    out[row + x] = left
                    upper_left = up
            out[row + row_bytes - 1] &= last_byte
            for x in range(row_bytes):
                count += bit_counts[out[row + x]]
            position += row_bytes + 1
            row += row_bytes
        areas[image] = count
    return areas
