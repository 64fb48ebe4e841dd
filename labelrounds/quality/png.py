"""A minimal numpy decoder for the PNGs the Supervisely SDK writes for bitmaps, many masks in one pass.

`Bitmap.data_2_base64` saves a 1-bit palette PNG (index 0 transparent) through Pillow, whose adaptive filter
mostly picks None, Sub and Up rows. Those three are undone for all the masks of a batch together: a Sub row is a
cumulative sum along the row, an Up row adds the row above, so after the Sub rows a run of Up rows is a cumulative
sum down the column (all modulo 256, which uint8 arithmetic gives). Anything else (Average or Paeth rows, other
bit depths or colour types, interlacing) is left to Pillow.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Final, NamedTuple

import numpy as np
from PIL import Image

_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_NONE, _SUB, _UP = 0, 1, 2
_SIMPLE_FILTERS: Final = bytes([_NONE, _SUB, _UP])


class OneBitImage(NamedTuple):
    """An SDK bitmap PNG's size and pixel data: the scanlines if only None/Sub/Up filters occur, else None."""

    width: int
    height: int
    scanlines: bytes | None  # each: filter byte, then the packed row
    compressed: bytes  # the IDAT data


def one_bit_rows(png: bytes) -> OneBitImage | None:
    """The size and pixel data of an SDK bitmap PNG.

    Returns None unless the PNG is a non-interlaced 1-bit palette image whose set pixels are exactly its index-1
    pixels (index 0 transparent or no transparency).
    """
    if not png.startswith(_SIGNATURE) or png[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    if (
        png[24:26] != b"\x01\x03" or png[28] != 0 or not width or not height
    ):  # bit depth 1, palette, progressive
        return None
    compressed = _sdk_layout_idat(png)
    if compressed is None:
        compressed = _idat_of_any_layout(png)
    if compressed is None:
        return None
    try:
        raw = zlib.decompress(compressed)
    except zlib.error:
        return None
    stride = 1 + (width + 7) // 8
    if len(raw) < stride * height:
        return None
    filtered_simply = not raw[: stride * height : stride].translate(None, _SIMPLE_FILTERS)
    return OneBitImage(width, height, raw[: stride * height] if filtered_simply else None, compressed)


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
    if (
        png[33:41] != b"\x00\x00\x00\x06PLTE"
        or png[51:60] != b"\x00\x00\x00\x01tRNS\x00"
        or png[68:72] != b"IDAT"
    ):
        return None
    end = 72 + int.from_bytes(png[64:68], "big")
    return png[72:end] if png[end + 8 : end + 12] == b"IEND" else None


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

    Images of the same row length are unfiltered and counted together; images with Average or Paeth rows
    (sequential along the row) go through Pillow's 1-bit PNG decoder.
    """
    groups: dict[int, list[int]] = {}
    masks: list[np.ndarray] = [_EMPTY] * len(images)
    areas = [0] * len(images)
    for i, image in enumerate(images):
        if image.scanlines is None:
            size = (image.width, image.height)
            masks[i] = np.asarray(Image.frombytes("1", size, image.compressed, "zip", "1"))
            areas[i] = int(np.count_nonzero(masks[i]))
        else:
            groups.setdefault((image.width + 7) // 8, []).append(i)
    for row_bytes, members in groups.items():
        widths = np.array([images[i].width for i in members])
        heights = np.array([images[i].height for i in members])
        scanlines = np.frombuffer(
            b"".join(images[i].scanlines or b"" for i in members), dtype=np.uint8
        ).reshape(-1, 1 + row_bytes)
        starts = np.concatenate([[0], np.cumsum(heights)[:-1]])
        packed = _unfilter(scanlines, starts)
        bits = np.unpackbits(packed, axis=1).view(bool)
        for i, start, height in zip(members, starts.tolist(), heights.tolist(), strict=True):
            masks[i] = bits[start : start + height, 8 : 8 + images[i].width]
        for i, area in zip(members, _set_pixels(packed[:, 1:], widths, heights, starts), strict=True):
            areas[i] = area
    return masks, areas


def _set_pixels(packed: np.ndarray, widths: np.ndarray, heights: np.ndarray, starts: np.ndarray) -> list[int]:
    """Set pixels per image of stacked packed rows, the padding bits past each image's width ignored."""
    bits_in_byte = np.clip(np.repeat(widths, heights)[:, None] - 8 * np.arange(packed.shape[1]), 0, 8)
    kept = ((0xFF00 >> bits_in_byte) & 0xFF).astype(np.uint8)  # the leading bits_in_byte bits of each byte
    row_counts = np.bitwise_count(packed & kept).sum(axis=1, dtype=np.int64)
    return np.add.reduceat(row_counts, starts).tolist()


_EMPTY: Final = np.zeros((0, 0), dtype=bool)


def _unfilter(scanlines: np.ndarray, image_starts: np.ndarray) -> np.ndarray:
    """Packed rows from None/Sub/Up-filtered scanlines of images stacked one under the other.

    The filter byte is kept as a first column of zeros (cheaper than slicing it off a narrow array).
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
    if run_start.all():
        return rows
    totals = np.zeros((len(rows) + 1, rows.shape[1]), dtype=np.uint8)  # totals[i]: sum of the rows before i
    np.cumsum(rows, axis=0, dtype=np.uint8, out=totals[1:])
    first_of_run = np.maximum.accumulate(np.where(run_start, np.arange(len(rows)), 0))
    return totals[1:] - totals[first_of_run]
