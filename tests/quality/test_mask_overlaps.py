"""The packed-mask overlap count (`masks.mask_overlaps`) and unfiltering (`png.pack_masks`) against painted masks.

Oracle: both masks painted as booleans on a canvas at their origins, the common pixels counted by numpy; the
masks packed here with `np.packbits` (not by the module's decoder).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrounds.quality.masks import mask_overlaps
from labelrounds.quality.png import PackedMasks, pack_masks, unfiltered_scanlines

CANVAS = 80

boolean_masks = st.tuples(
    st.integers(1, 30), st.integers(1, 40), st.integers(0, 2**31), st.floats(0.05, 0.95)
)
origins = st.tuples(st.integers(0, CANVAS - 41), st.integers(0, CANVAS - 31))


def drawn(spec: tuple[int, int, int, float]) -> np.ndarray:
    """A random mask of `rows` x `columns` pixels, each set with probability `share`."""
    rows, columns, seed, share = spec
    return np.random.default_rng(seed).random((rows, columns)) < share


def packed(masks: list[np.ndarray]) -> PackedMasks:
    """The masks packed by numpy (rows of whole bytes, padding clear), laid end to end."""
    rows = [np.packbits(mask, axis=1) for mask in masks]
    sizes = np.array([part.size for part in rows], dtype=np.int64)
    return PackedMasks(
        buffer=np.concatenate([part.ravel() for part in rows]),
        offsets=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
        widths=np.array([mask.shape[1] for mask in masks], dtype=np.int64),
        heights=np.array([mask.shape[0] for mask in masks], dtype=np.int64),
        areas=np.array([np.count_nonzero(mask) for mask in masks], dtype=np.int64),
    )


def painted_overlap(
    first: np.ndarray, first_at: tuple[int, int], second: np.ndarray, second_at: tuple[int, int]
) -> int:
    """Oracle: the two masks painted on canvases at their origins, common pixels counted."""
    canvases = []
    for mask, (x, y) in ((first, first_at), (second, second_at)):
        canvas = np.zeros((CANVAS, CANVAS), dtype=bool)
        canvas[y : y + mask.shape[0], x : x + mask.shape[1]] = mask
        canvases.append(canvas)
    return int(np.count_nonzero(canvases[0] & canvases[1]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(boolean_masks, origins, boolean_masks, origins), min_size=1, max_size=8))
def test_overlap_counts_equal_the_painted_masks(pairs: list) -> None:
    """Random masks of any width (not whole bytes), at origins left or right of each other by any number of
    pixels: every pair's count is the painted oracle's."""
    masks = [drawn(spec) for first, _, second, _ in pairs for spec in (first, second)]
    counts = mask_overlaps(
        packed(masks),
        np.arange(0, len(masks), 2),
        np.array([first_at for _, first_at, _, _ in pairs]),
        np.arange(1, len(masks), 2),
        np.array([second_at for _, _, _, second_at in pairs]),
    )
    expected = [
        painted_overlap(masks[2 * k], first_at, masks[2 * k + 1], second_at)
        for k, (_, first_at, _, second_at) in enumerate(pairs)
    ]
    assert counts.tolist() == expected


def test_the_overlap_oracle_catches_a_one_pixel_shift() -> None:
    """Mutant: the second masks counted one pixel to the right of where they are give counts the oracle refuses."""
    rng = np.random.default_rng(3)
    masks = [rng.random((20, 13)) < 0.5 for _ in range(40)]
    first_at = rng.integers(0, 30, (20, 2))
    second_at = first_at + rng.integers(-9, 10, (20, 2)).clip(-first_at, None)
    expected = [
        painted_overlap(masks[2 * k], tuple(first_at[k]), masks[2 * k + 1], tuple(second_at[k]))
        for k in range(20)
    ]
    args = (packed(masks), np.arange(0, 40, 2), first_at, np.arange(1, 40, 2))
    assert mask_overlaps(*args, second_at).tolist() == expected
    assert mask_overlaps(*args, second_at + [1, 0]).tolist() != expected


@settings(max_examples=40, deadline=None)
@given(st.lists(boolean_masks, min_size=1, max_size=6))
def test_pack_masks_gives_numpys_packed_rows_and_pixel_counts(specs: list) -> None:
    """Unfiltered (filter None) scanlines of random masks come out as numpy's `packbits` rows and pixel counts."""
    masks = [drawn(spec) for spec in specs]
    result = pack_masks([unfiltered_scanlines(mask) for mask in masks], [mask.shape[1] for mask in masks])
    oracle = packed(masks)
    np.testing.assert_array_equal(result.buffer, oracle.buffer)
    assert result.areas.tolist() == oracle.areas.tolist()
    for index, mask in enumerate(masks):
        np.testing.assert_array_equal(result.mask(index), mask)
