"""Common set pixels of pairs of packed bitmap masks, all pairs counted in one compiled pass.

Masks are `png.PackedMasks`: rows of whole bytes, 8 pixels a byte, most significant bit first, padding bits clear.
For each row the two masks share, each byte of the first mask is ANDed with the 8 pixels of the second mask that
lie under it (two bytes of the second mask shifted together, zeros past its edges) and the set bits counted.
"""

from __future__ import annotations

import numpy as np

from labelrounds.quality.compiled import compiled
from labelrounds.quality.png import BIT_COUNTS, PackedMasks


def mask_overlaps(
    masks: PackedMasks,
    first: np.ndarray,
    first_origins: np.ndarray,
    second: np.ndarray,
    second_origins: np.ndarray,
) -> np.ndarray:
    """Set pixels common to mask `first[k]` placed at `first_origins[k]` and mask `second[k]` at
    `second_origins[k]`, for every k.

    Args:
        masks: The masks (both sides index into it).
        first: Mask indices of the pairs' first masks.
        first_origins: Their top-left pixels (k x 2 integers: x, y).
        second: Mask indices of the pairs' second masks.
        second_origins: Their top-left pixels.
    """
    return _overlaps(
        masks.buffer,
        masks.offsets,
        masks.widths,
        masks.heights,
        np.asarray(first, dtype=np.int64),
        np.asarray(first_origins, dtype=np.int64).reshape(-1, 2),
        np.asarray(second, dtype=np.int64),
        np.asarray(second_origins, dtype=np.int64).reshape(-1, 2),
        BIT_COUNTS,
    )


@compiled
def _overlaps(
    buffer: np.ndarray,
    offsets: np.ndarray,
    widths: np.ndarray,
    heights: np.ndarray,
    first: np.ndarray,
    first_origins: np.ndarray,
    second: np.ndarray,
    second_origins: np.ndarray,
    bit_counts: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; exercised through `mask_overlaps`
    counts = np.zeros(len(first), dtype=np.int64)
    for pair in range(len(first)):
        a, b = first[pair], second[pair]
        ax, ay = first_origins[pair, 0], first_origins[pair, 1]
        bx, by = second_origins[pair, 0], second_origins[pair, 1]
        left, right = max(ax, bx), min(ax + widths[a], bx + widths[b])
        top, bottom = max(ay, by), min(ay + heights[a], by + heights[b])
        if right <= left or bottom <= top:
            continue
        bytes_a, bytes_b = (widths[a] + 7) // 8, (widths[b] + 7) // 8
        first_byte, end_byte = (left - ax) // 8, (right - ax - 1) // 8 + 1
        total = 0
        for y in range(top, bottom):
            row_a = offsets[a] + (y - ay) * bytes_a
            row_b = offsets[b] + (y - by) * bytes_b
            for column in range(first_byte, end_byte):
                value_a = buffer[row_a + column]
                if value_a == 0:
                    continue
                pixel = 8 * column + ax - bx  # the second mask's pixel under this byte's first pixel
                byte = pixel // 8  # floor division: a pixel left of the mask gives a negative byte
                shift = pixel - 8 * byte
                high = np.int64(buffer[row_b + byte]) if 0 <= byte < bytes_b else np.int64(0)
                low = np.int64(buffer[row_b + byte + 1]) if 0 <= byte + 1 < bytes_b else np.int64(0)
                value_b = (((high << 8) | low) >> (8 - shift)) & 0xFF
                total += bit_counts[value_a & value_b]
        counts[pair] = total
    return counts
