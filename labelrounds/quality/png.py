"""A minimal numpy decoder for the PNGs the Supervisely SDK writes for bitmaps, many masks in one pass.

`Bitmap.data_2_base64` saves a 1-bit palette PNG (index 0 transparent) through Pillow, whose adaptive filter
mostly picks None, Sub and Up rows. Those three are undone for all the masks of a batch together: a Sub row is a
cumulative sum along the row, an Up row adds the row above, so after the Sub rows a run of Up rows is a cumulative
sum down the column (all modulo 256, which uint8 arithmetic gives). The rare Average and Paeth rows (about one row
in 700 of the SDK's masks, but in one mask in 12) are sequential along the row: they are undone byte by byte
afterwards, so that no mask of the SDK's layout needs Pillow. Other bit depths, colour types or interlacing are
left to Pillow.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from itertools import accumulate
from typing import Final, NamedTuple

import numpy as np
from PIL import Image

_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_SUB, _UP, _AVERAGE, _PAETH = 1, 2, 3, 4
_FILTERS: Final = bytes(range(5))  # None, Sub, Up, Average, Paeth
# Signature, IHDR type, width, height, bit depth and colour type, interlace (compression and filter skipped).
_HEADER: Final = struct.Struct(">8s4x4sII2s2xB")
# The SDK's chunks after IHDR: PLTE of 2 colours, tRNS = [0], then the IDAT's length and type (72 bytes in all).
_SDK_CHUNKS: Final = struct.Struct(">33x8s6x4x9s4xI4s")
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


def one_bit_rows(png: bytes) -> OneBitImage | None:
    """The size and pixel data of an SDK bitmap PNG.

    Returns None unless the PNG is a non-interlaced 1-bit palette image whose set pixels are exactly its index-1
    pixels (index 0 transparent or no transparency); `scanlines` is None if a row's filter type is not one of
    PNG's five (a corrupt image, left to Pillow to refuse).
    """
    if len(png) >= _SDK_PNG.size:  # the SDK's own layout, read with one unpack
        signature, kind, width, height, depth_and_colour, interlace, palette, transparency, length, idat = (
            _SDK_PNG.unpack_from(png)
        )
        if (signature, kind, depth_and_colour, interlace, palette, transparency, idat) == _SDK_CONSTANTS:
            end = _SDK_PNG.size + length
            if width and height and png[end + 8 : end + 12] == b"IEND":
                return _inflated(width, height, png[_SDK_PNG.size : end])
    if len(png) < _HEADER.size:
        return None
    signature, kind, width, height, depth_and_colour, interlace = _HEADER.unpack_from(png)
    if signature != _SIGNATURE or kind != b"IHDR" or depth_and_colour != b"\x01\x03" or interlace:
        return None  # not bit depth 1, palette, progressive
    if not width or not height:
        return None
    compressed = _sdk_layout_idat(png)
    if compressed is None:
        compressed = _idat_of_any_layout(png)
    if compressed is None:
        return None
    return _inflated(width, height, compressed)


def _inflated(width: int, height: int, compressed: bytes) -> OneBitImage | None:
    """`one_bit_rows`'s result from the image's size and IDAT data (None if it does not inflate to its rows)."""
    try:
        raw = zlib.decompress(compressed)
    except zlib.error:
        return None
    stride = 1 + (width + 7) // 8
    if len(raw) < stride * height:
        return None
    raw = raw[: stride * height]  # no copy when nothing follows the rows (a whole `bytes` slice is itself)
    return OneBitImage(width, height, None if raw[::stride].translate(None, _FILTERS) else raw, compressed)


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


def _sdk_layout_idat(png: bytes) -> bytes | None:
    """The IDAT data when the chunks are exactly the SDK's: a 2-colour PLTE, tRNS = [0], one IDAT, IEND."""
    if len(png) < _SDK_CHUNKS.size:
        return None
    palette, transparency, length, kind = _SDK_CHUNKS.unpack_from(png)
    if (palette, transparency, kind) != (b"\x00\x00\x00\x06PLTE", b"\x00\x00\x00\x01tRNS\x00", b"IDAT"):
        return None
    end = _SDK_CHUNKS.size + length
    return png[_SDK_CHUNKS.size : end] if png[end + 8 : end + 12] == b"IEND" else None


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

    Images of the same row length are unfiltered and counted together; an image whose `scanlines` is None goes
    through Pillow's 1-bit PNG decoder.
    """
    groups: dict[int, list[OneBitImage]] = {}
    positions: dict[int, list[int]] = {}
    masks: list[np.ndarray] = [_EMPTY] * len(images)
    areas = [0] * len(images)
    for i, image in enumerate(images):
        if image.scanlines is None:
            size = (image.width, image.height)
            masks[i] = np.asarray(Image.frombytes("1", size, image.compressed, "zip", "1"))
            areas[i] = int(np.count_nonzero(masks[i]))
        else:
            row_bytes = (image.width + 7) // 8
            groups.setdefault(row_bytes, []).append(image)
            positions.setdefault(row_bytes, []).append(i)
    for row_bytes, group in groups.items():
        heights = [image.height for image in group]
        starts = list(accumulate(heights, initial=0))[:-1]
        scanlines = np.frombuffer(b"".join([image.scanlines or b"" for image in group]), dtype=np.uint8)
        packed = _unfilter(scanlines.reshape(-1, 1 + row_bytes), starts)
        # The padding bits past a row's last pixel are not guaranteed zero: cleared, bit counts are pixel counts.
        last_byte = [(0xFF00 >> (image.width - 8 * row_bytes + 8)) & 0xFF for image in group]
        packed[:, -1] &= np.repeat(np.array(last_byte, dtype=np.uint8), heights)
        counts = np.add.reduceat(
            np.bitwise_count(packed).ravel(), np.array(starts) * (1 + row_bytes), dtype=np.int64
        )
        bits = np.unpackbits(packed, axis=None).view(bool).reshape(len(packed), -1)  # flat: twice as fast
        for i, image, start, area in zip(positions[row_bytes], group, starts, counts.tolist(), strict=True):
            masks[i] = bits[start : start + image.height, 8 : 8 + image.width]
            areas[i] = area
    return masks, areas


_EMPTY: Final = np.zeros((0, 0), dtype=bool)


def _unfilter(scanlines: np.ndarray, image_starts: Sequence[int]) -> np.ndarray:
    """Packed rows from the filtered scanlines of images stacked one under the other.

    The filter byte is kept as a first column of zeros (cheaper than slicing it off a narrow array). None, Sub
    and Up rows are undone for all rows together; the few Average and Paeth rows (sequential along the row) are
    then computed from the finished rows above them.
    """
    rows = np.array(scanlines)
    filters = rows[:, 0].copy()
    rows[:, 0] = 0
    sub = filters == _SUB
    if sub.any():
        rows[sub] = np.cumsum(rows[sub], axis=1, dtype=np.uint8)
    # A run of Up rows continues the row above; a run starts at every other row and at each image's first row.
    run_start = filters != _UP
    run_start[image_starts] = True
    run_starts = np.flatnonzero(run_start)
    if len(run_starts) < len(rows):
        # Row r of the run starting at s is sums[r] - sums[s - 1], sums being the raw cumulative sums down the
        # rows (modulo 256): one cumulative sum, then each run's offset subtracted from all of its rows.
        np.cumsum(rows, axis=0, dtype=np.uint8, out=rows)
        offsets = np.zeros((len(run_starts), rows.shape[1]), dtype=np.uint8)
        offsets[1:] = rows[run_starts[1:] - 1]
        rows -= np.repeat(offsets, np.diff(run_starts, append=len(rows)), axis=0)
    if (filters >= _AVERAGE).any():
        _undo_sequential_rows(rows, scanlines, filters, run_starts, image_starts)
    return rows


def _undo_sequential_rows(
    rows: np.ndarray,
    scanlines: np.ndarray,
    filters: np.ndarray,
    run_starts: np.ndarray,
    image_starts: Sequence[int],
) -> None:
    """Replace the Average and Paeth rows (taken as unfiltered by the vectorised pass) by their true values, and
    shift the run of Up rows each one starts by the same correction.

    A row needs the finished row above it: the rows are done top to bottom, each one's correction applied to its
    run before the next (a later row above which lies in that run then reads finished values). They are few (about
    one row in 700 of the SDK's masks): a Python loop over their bytes costs less than numpy's per-call costs.
    """
    sequential = np.flatnonzero(filters >= _AVERAGE)
    run_ends = np.append(run_starts[1:], len(rows))[np.searchsorted(run_starts, sequential)]
    firsts = set(image_starts)
    for row, end, kind in zip(sequential.tolist(), run_ends.tolist(), filters[sequential].tolist(), strict=True):
        above = [0] * rows.shape[1] if row in firsts else rows[row - 1].tolist()
        decoded = np.array(_sequential_row(scanlines[row].tolist(), above, kind == _PAETH), dtype=np.uint8)
        rows[row:end] += decoded - rows[row]


def _sequential_row(filtered: list[int], above: list[int], paeth: bool) -> list[int]:
    """An Average (or, if `paeth`, Paeth) row undone byte by byte; byte 0 (the filter byte) is 0 in `above` and in
    the result. At bit depth 1 the byte to the left is the left byte."""
    decoded = [0] * len(filtered)
    left = upper_left = 0
    for x in range(1, len(filtered)):
        upper = above[x]
        if paeth:
            distance_left, distance_up = abs(upper - upper_left), abs(left - upper_left)
            distance_corner = abs(left + upper - 2 * upper_left)
            if distance_left <= distance_up and distance_left <= distance_corner:
                predicted = left
            else:
                predicted = upper if distance_up <= distance_corner else upper_left
        else:
            predicted = (left + upper) >> 1
        left = decoded[x] = (filtered[x] + predicted) & 0xFF
        upper_left = upper
    return decoded
