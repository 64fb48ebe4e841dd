"""The fast paths (numpy polygon clipper, numpy PNG decoder, batched scoring) against exact reference oracles.

Oracles: GEOS's overlay (`shapely.intersection`, what the module used per pair before) for polygon areas; Pillow's
own PNG reader for masks; masks painted on a canvas and counted for bitmap IoU. Tolerance: 1e-9 px² on areas
(float rounding; any real error is at least a sliver of a pixel) and 1e-12 on IoU; masks must be identical.
"""

from __future__ import annotations

import base64
import io
import zlib

import numpy as np
import pytest
import shapely
import shapely.affinity
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import labelrounds.quality.geometry as geometry
from bench.scoring import KINDS, make_pair
from labelrounds.quality import decode_bitmap, encode_bitmap, iou_matrix, score_annotations, score_many
from labelrounds.quality.clipping import intersection_areas
from labelrounds.quality.geometry import region_from_object
from labelrounds.quality.png import OneBitImage, PackedMasks, decoded_masks, one_bit_rows, unfilter_masks
from labelrounds.quality.scoring import parse_annotations

AREA_TOLERANCE = 1e-9


def star(
    rng: np.random.Generator, centre: np.ndarray, radius: float, vertices: int, grid: float
) -> shapely.Polygon:
    """A star-shaped polygon around `centre`, vertices rounded to `grid` (0: not rounded), either orientation."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, vertices))
    radii = rng.uniform(0.3, 1.0, vertices) * radius
    points = np.column_stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)])
    if grid:
        points = np.round(points / grid) * grid
    return shapely.Polygon(points[::-1] if rng.random() < 0.5 else points)


def random_pairs(seed: int, count: int, grid: float) -> tuple[np.ndarray, np.ndarray]:
    """Valid polygon pairs: overlapping, nested, disjoint, identical and shifted copies."""
    rng = np.random.default_rng(seed)
    firsts, seconds = [], []
    while len(firsts) < count:
        first = star(rng, rng.uniform(0, 40, 2), rng.uniform(2, 30), int(rng.integers(3, 17)), grid)
        second = star(rng, rng.uniform(0, 40, 2), rng.uniform(2, 30), int(rng.integers(3, 17)), grid)
        kind = rng.integers(0, 4)
        if kind == 1:
            second = first  # identical: every edge touches, must go to GEOS and still be exact
        elif kind == 2:
            second = shapely.affinity.translate(first, *rng.normal(0, 1.5, 2))  # a labeler's jitter
        if shapely.is_valid(first) and shapely.is_valid(second):
            firsts.append(first)
            seconds.append(second)
    return np.array(firsts, dtype=object), np.array(seconds, dtype=object)


@pytest.mark.parametrize(("seed", "grid"), [(1, 0.0), (2, 1.0), (3, 0.1)])
def test_the_numpy_clipper_gives_the_overlay_area(seed: int, grid: float) -> None:
    """On random pairs (free, integer and 0.1 px vertices) the clipper's areas equal GEOS's overlay areas, and
    it computes most pairs itself (touching pairs are left to GEOS, marked NaN)."""
    firsts, seconds = random_pairs(seed, 600, grid)
    fast = intersection_areas(firsts, seconds)
    exact = shapely.area(shapely.intersection(firsts, seconds))
    computed = ~np.isnan(fast)
    np.testing.assert_allclose(fast[computed], exact[computed], rtol=0, atol=AREA_TOLERANCE)
    assert computed.mean() > 0.5


def test_the_clipper_oracle_catches_a_tenth_of_a_pixel() -> None:
    """Mutant: the clipper run on shapes moved by 0.1 px gives areas the oracle refuses."""
    firsts, seconds = random_pairs(4, 200, 0.0)
    moved_seconds = np.array([shapely.affinity.translate(shape, 0.1, 0) for shape in seconds], dtype=object)
    moved = intersection_areas(firsts, moved_seconds)
    exact = shapely.area(shapely.intersection(firsts, seconds))
    computed = ~np.isnan(moved)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(moved[computed], exact[computed], rtol=0, atol=AREA_TOLERANCE)


def test_polygons_with_holes_and_multipolygons_are_left_to_the_overlay() -> None:
    """A holed polygon or a bow-tie made valid (two triangles) is not computed by the clipper (NaN)."""
    holed = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(3, 3), (7, 3), (7, 7), (3, 7)]])
    bow_tie = shapely.make_valid(shapely.Polygon([(0, 0), (2, 1), (2, 0), (0, 1)]))
    square = shapely.box(1, 1, 5, 5)
    areas = intersection_areas(
        np.array([holed, bow_tie], dtype=object), np.array([square, square], dtype=object)
    )
    assert np.isnan(areas).all()


def painted_iou(first: dict, second: dict) -> float:
    """Oracle for bitmaps: both masks painted on a canvas by their origin, pixels counted."""
    canvases = []
    for obj in (first, second):
        mask = decode_bitmap(obj["bitmap"]["data"])
        x, y = obj["bitmap"]["origin"]
        canvas = np.zeros((1200, 1200), dtype=bool)
        canvas[y : y + mask.shape[0], x : x + mask.shape[1]] = mask
        canvases.append(canvas)
    union = np.count_nonzero(canvases[0] | canvases[1])
    return np.count_nonzero(canvases[0] & canvases[1]) / union if union else 0.0


def polygon_iou(first: dict, second: dict) -> float:
    """Oracle for polygons: GEOS's overlay of the two outlines."""
    a, b = (shapely.Polygon(obj["points"]["exterior"]) for obj in (first, second))
    a, b = shapely.make_valid(a), shapely.make_valid(b)
    inter = shapely.area(shapely.intersection(a, b))
    union = a.area + b.area - inter
    return inter / union if union else 0.0


@pytest.mark.parametrize("kind", ["polygon", "bitmap"])
def test_iou_matrix_of_benchmark_annotations_equals_the_exact_oracle(kind: str) -> None:
    """Every pair of objects of the benchmark's annotations: the module's IoU equals the exact oracle's."""
    rng = np.random.default_rng(5)
    oracle = painted_iou if kind == "bitmap" else polygon_iou
    for _ in range(4):
        reference, candidate = make_pair(kind, 6, rng)
        regions_a = [region_from_object(obj) for obj in reference["objects"]]
        regions_b = [region_from_object(obj) for obj in candidate["objects"]]
        expected = np.array([[oracle(a, b) for b in candidate["objects"]] for a in reference["objects"]])
        np.testing.assert_allclose(iou_matrix(regions_a, regions_b), expected, rtol=0, atol=1e-12)


def test_batched_scoring_equals_image_by_image_scoring() -> None:
    """`score_many` (geometries read and overlaps computed per batch of images) adds up exactly to the scores
    of the images one by one, for every geometry kind, across more images than one batch holds."""
    rng = np.random.default_rng(6)
    for kind in KINDS:
        pairs = [make_pair(kind, 5, rng) for _ in range(150)]
        one_by_one = [score_annotations(reference, candidate) for reference, candidate in pairs]
        batched = score_many(pairs)
        assert batched.matched_objects == sum(score.matched_objects for score in one_by_one)
        assert batched.iou_sum == pytest.approx(sum(score.iou_sum for score in one_by_one), abs=1e-9)
        assert batched.tags_agreed == sum(score.tags_agreed for score in one_by_one)


def _with_references_parsed_beforehand(pairs: list) -> list:
    """The pairs with every reference parsed at once beforehand (their masks in one buffer of their own)."""
    references = parse_annotations([reference for reference, _ in pairs])
    return [(parsed, candidate) for parsed, (_, candidate) in zip(references, pairs, strict=True)]


@pytest.mark.parametrize("kind", ["bitmap", "mix"])
def test_references_parsed_beforehand_score_as_their_json(kind: str) -> None:
    """References parsed all at once (as gold checks do) and candidates read batch by batch keep their masks in
    different buffers, gathered into one per batch: over more images than a batch, every mask distinct, the
    scores equal those of the JSON pairs read together (one buffer, nothing gathered), to the last bit."""
    rng = np.random.default_rng(8)
    pairs = [make_pair(kind, 6, rng, distinct_masks=True) for _ in range(150)]
    assert score_many(_with_references_parsed_beforehand(pairs)) == score_many(pairs)


def test_the_gathering_oracle_catches_shifted_masks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutant: gathered masks each taking the place of the next give scores the JSON pairs' scores refuse."""
    rng = np.random.default_rng(9)
    pairs = [make_pair("bitmap", 6, rng, distinct_masks=True) for _ in range(20)]
    gather = geometry._gathered

    def shifted(parts: list) -> PackedMasks:
        masks = gather(parts)
        order = np.roll(np.arange(len(masks.offsets)), 1)
        return PackedMasks(masks.buffer, *(field[order] for field in masks[1:]))

    monkeypatch.setattr(geometry, "_gathered", shifted)
    assert score_many(_with_references_parsed_beforehand(pairs)) != score_many(pairs)


masks = st.tuples(
    st.integers(1, 140),
    st.integers(1, 140),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["noise", "ellipse", "stripes"]),
)


def make_mask(spec: tuple[int, int, int, str]) -> np.ndarray:
    """A random mask: noise (Paeth rows likely), an ellipse (Up and Sub rows) or vertical stripes."""
    rows, columns, seed, shape = spec
    rng = np.random.default_rng(seed)
    if shape == "noise":
        return rng.random((rows, columns)) < 0.5
    ys, xs = np.mgrid[0:rows, 0:columns]
    if shape == "ellipse":
        return ((xs + 0.5 - columns / 2) / (columns / 2)) ** 2 + (
            (ys + 0.5 - rows / 2) / (rows / 2)
        ) ** 2 <= 1
    return (xs // max(int(rng.integers(1, 9)), 1)) % 2 == 0


def pillow_mask(data: str) -> np.ndarray:
    """Oracle: Pillow's own PNG reader, opaque pixels of the RGBA conversion."""
    with Image.open(io.BytesIO(zlib.decompress(base64.b64decode(data)))) as image:
        return np.asarray(image.convert("RGBA"))[..., 3] > 0


@settings(max_examples=60, deadline=None)
@given(st.lists(masks, min_size=1, max_size=6))
def test_the_numpy_png_decoder_reads_masks_as_pillow_does(specs: list[tuple[int, int, int, str]]) -> None:
    """SDK-encoded masks of many sizes, decoded together: each equals its mask and Pillow's reading of it."""
    originals = [make_mask(spec) for spec in specs]
    datas = [encode_bitmap(mask) for mask in originals]
    images = [one_bit_rows(zlib.decompress(base64.b64decode(data))) for data in datas]
    assert all(image is not None for image in images)
    for mask, data, decoded in zip(originals, datas, unfilter_masks(images), strict=True):  # type: ignore[arg-type]
        np.testing.assert_array_equal(decoded, mask)
        np.testing.assert_array_equal(decoded, pillow_mask(data))


def test_the_numpy_decoder_takes_the_sdk_masks_and_its_oracle_sees_a_flipped_byte() -> None:
    """An ellipse is decoded by numpy (no Average/Paeth rows); mutant: one changed filtered byte changes the
    decoded mask, which the oracle comparison refuses."""
    mask = make_mask((40, 50, 1, "ellipse"))
    png = zlib.decompress(base64.b64decode(encode_bitmap(mask)))
    image = one_bit_rows(png)
    assert image is not None and image.scanlines is not None
    np.testing.assert_array_equal(unfilter_masks([image])[0], mask)
    corrupted = bytearray(image.scanlines)
    stride = 1 + (50 + 7) // 8
    corrupted[20 * stride + 3] ^= 0x10  # row 20, a pixel byte (not the filter byte)
    wrong = unfilter_masks([image._replace(scanlines=bytes(corrupted))])[0]
    assert not np.array_equal(wrong, mask)


def test_set_pixel_counts_ignore_the_padding_bits_of_the_last_byte() -> None:
    """Oracle: `np.count_nonzero` of each decoded mask. A 3-pixel-wide row with all 8 bits of its byte set (the
    padding is not guaranteed zero) counts 3 pixels, not 8; mutant: counting whole bytes gives 8."""
    rows = [make_mask((rows, columns, seed, "ellipse")) for rows, columns, seed in [(9, 3, 1), (20, 13, 2)]]
    images = [one_bit_rows(zlib.decompress(base64.b64decode(encode_bitmap(mask)))) for mask in rows]
    padded = OneBitImage(3, 1, b"\x00\xff", b"")  # filter None, one byte: 3 pixels and 5 set padding bits
    masks, areas = decoded_masks([*images, padded])  # type: ignore[list-item]
    assert areas == [int(np.count_nonzero(mask)) for mask in masks]
    assert areas[-1] == 3 and np.count_nonzero(np.unpackbits(np.frombuffer(b"\xff", np.uint8))) == 8
