"""The numpy PNG decoder on every PNG filter type, and `score_many`'s bitmap reading (refusals, the mask cache).

Oracles: PNGs written here row by row with the filter of our choosing (the PNG specification's forward filters,
written out independently of the decoder) and read back by Pillow; the masks they were drawn from.
"""

from __future__ import annotations

import base64
import io
import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import labelrounds.quality.geometry as geometry
from labelrounds.quality import GeometryError, decode_bitmap, encode_bitmap, score_annotations, score_many
from labelrounds.quality.png import decoded_masks, one_bit_rows
from tests.quality.test_mask_cache import images_with_repeated_masks


def _predictor(kind: int, left: int, up: int, upper_left: int) -> int:
    """The PNG specification's predictor of a filter type (section 9.2-9.4), as the spec writes it."""
    if kind == 0:
        return 0
    if kind == 1:
        return left
    if kind == 2:
        return up
    if kind == 3:
        return (left + up) // 2
    estimate = left + up - upper_left
    pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - upper_left)
    if pa <= pb and pa <= pc:
        return left
    return up if pb <= pc else upper_left


def _chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def filtered_png(mask: np.ndarray, filters: list[int]) -> bytes:
    """A 1-bit palette PNG (index 0 transparent, the SDK's layout) whose row y is written with `filters[y]`."""
    height, width = mask.shape
    packed = np.packbits(mask, axis=1).tolist()
    body = bytearray()
    above = [0] * len(packed[0])
    for row, kind in zip(packed, filters, strict=True):
        body.append(kind)
        for x, value in enumerate(row):
            left, upper_left = (row[x - 1], above[x - 1]) if x else (0, 0)
            body.append((value - _predictor(kind, left, above[x], upper_left)) % 256)
        above = row
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 3, 0, 0, 0])
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"PLTE", bytes([0, 0, 0, 255, 255, 255])),
            _chunk(b"tRNS", b"\x00"),
            _chunk(b"IDAT", zlib.compress(bytes(body))),
            _chunk(b"IEND", b""),
        ]
    )


def pillow_reads(png: bytes) -> np.ndarray:
    """Oracle: Pillow's PNG reader, opaque pixels."""
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGBA"))[..., 3] > 0


filtered_masks = st.tuples(
    st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1), st.sampled_from([0.1, 0.5, 0.9])
)


def _mask_and_filters(spec: tuple[int, int, int, float]) -> tuple[np.ndarray, list[int]]:
    rows, columns, seed, density = spec
    rng = np.random.default_rng(seed)
    # Runs of Up rows after Average/Paeth rows (a correction must carry down the run) and every type first.
    filters = rng.choice([0, 1, 2, 2, 2, 3, 4], rows).tolist()
    return rng.random((rows, columns)) < density, filters


@settings(max_examples=40, deadline=None)
@given(st.lists(filtered_masks, min_size=1, max_size=5))
def test_every_filter_type_decodes_by_numpy_as_pillow_reads_it(
    specs: list[tuple[int, int, int, float]],
) -> None:
    """Masks written with random filter types (Average and Paeth included, also as an image's first row) and
    decoded together: each is its mask and Pillow's reading of its PNG, none left to Pillow by the decoder."""
    drawn = [_mask_and_filters(spec) for spec in specs]
    pngs = [filtered_png(mask, filters) for mask, filters in drawn]
    images = [one_bit_rows(png) for png in pngs]
    assert all(image is not None and image.scanlines is not None for image in images)  # the numpy path
    masks, areas = decoded_masks(images)  # type: ignore[arg-type]
    for (mask, _), png, decoded, area in zip(drawn, pngs, masks, areas, strict=True):
        np.testing.assert_array_equal(decoded, mask)
        np.testing.assert_array_equal(decoded, pillow_reads(png))
        assert area == int(np.count_nonzero(mask))


def count_mask_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Spy on `geometry._scanlines` (a bitmap's PNG inflated): the returned list gets a 1 per call."""
    decoded: list[int] = []
    inflate = geometry._scanlines

    def counting(data: object) -> tuple[bytes, int]:
        decoded.append(1)
        return inflate(data)

    monkeypatch.setattr(geometry, "_scanlines", counting)
    return decoded


def test_a_wrong_paeth_predictor_is_caught_by_the_oracle() -> None:
    """Mutant: Paeth rows undone with the Average predictor (their filter bytes rewritten to Average before
    decoding) give a mask the oracle refuses."""
    rng = np.random.default_rng(4)
    mask = rng.random((30, 37)) < 0.5
    png = filtered_png(mask, [4] * 30)
    np.testing.assert_array_equal(decode_bitmap(base64.b64encode(zlib.compress(png)).decode()), mask)
    image = one_bit_rows(png)
    assert image is not None and image.scanlines is not None
    stride = 1 + (37 + 7) // 8
    as_average = bytearray(image.scanlines)
    as_average[::stride] = bytes([3]) * 30
    wrong = decoded_masks([image._replace(scanlines=bytes(as_average))])[0][0]
    assert not np.array_equal(wrong, pillow_reads(png))


def _bitmap(mask: np.ndarray, origin: tuple[int, int], title: str) -> dict[str, Any]:
    return {
        "classTitle": title,
        "geometryType": "bitmap",
        "bitmap": {"data": encode_bitmap(mask), "origin": list(origin)},
        "tags": [],
    }


def _disk(size: int, seed: int) -> np.ndarray:
    ys, xs = np.mgrid[0:size, 0:size]
    disk = (xs + 0.5 - size / 2) ** 2 + (ys + 0.5 - size / 2) ** 2 <= (size / 2) ** 2
    disk.flat[np.random.default_rng(seed).integers(0, size * size, 3)] ^= True  # no two masks alike
    return disk


def test_a_corrupt_bitmap_that_meets_nothing_is_still_refused() -> None:
    """A bitmap whose compressed pixels are damaged is refused by `score_many` (naming it) even though no pair
    would compare its mask (another class, far from every other object)."""
    good = _bitmap(_disk(20, 1), (0, 0), "lemon")
    png = bytearray(zlib.decompress(base64.b64decode(good["bitmap"]["data"])))
    idat = png.index(b"IDAT")
    png[idat + 8 : idat + 12] = b"\xff\xff\xff\xff"  # inside the compressed stream
    damaged = {
        **good,
        "bitmap": {"data": base64.b64encode(zlib.compress(bytes(png))).decode(), "origin": [500, 500]},
    }
    with pytest.raises(GeometryError, match="object 1"):
        score_many([({"objects": [good]}, {"objects": [good, {**damaged, "classTitle": "stem"}]})])


def test_repeated_masks_are_decoded_once_per_string_across_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over 300 images (3 reads of 128 images) reusing 4 `data` strings: one inflate per string against 1,800
    bitmaps read; scores equal image-by-image scoring. Mutant: a cache bounded below one read's pixel data is
    emptied before each read, so each string is inflated again in every read (4 x 3)."""
    pairs = images_with_repeated_masks(3, 300)
    decoded = count_mask_decodes(monkeypatch)
    total = score_many(pairs)
    assert sum(decoded) == 4
    one_by_one = [score_annotations(reference, candidate) for reference, candidate in pairs]
    assert total.matched_objects == sum(score.matched_objects for score in one_by_one)
    monkeypatch.setattr("labelrounds.quality.scoring.MaskCache", lambda: geometry.MaskCache(max_bytes=1))
    decoded.clear()
    assert score_many(pairs) == total
    assert sum(decoded) == 4 * 3
