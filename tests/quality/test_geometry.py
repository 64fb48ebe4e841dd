"""Areas, IoU and bitmap decoding of rectangle, polygon and bitmap geometries, against hand-made oracles."""

from __future__ import annotations

import base64
import io
import zlib

import numpy as np
import pytest
import shapely
import shapely.errors
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from labelrounds.quality import GeometryError, decode_bitmap, encode_bitmap, iou, iou_matrix
from labelrounds.quality.geometry import region_from_object

from .builders import KINDS, Box, box_object, formula_iou, grid_iou

SETTINGS = settings(max_examples=80, deadline=None)

# The SDK's own example (`Bitmap.base64_2_data` docstring, supervisely 6.74.51): a 3x3 ring, centre unset.
SDK_EXAMPLE_DATA = (
    "eJzrDPBz5+WS4mJgYOD19HAJAtLMIMwIInOeqf8BUmwBPiGuQPr///9Lb86/C2QxlgT5BTM4PLuRBuTwebo4hlTMSa44sKHhISMDuxpTYrr03F6gDIOnq5/LOqeEJgDM5ht6"
)
SDK_EXAMPLE_MASK = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=bool)

boxes = st.tuples(
    st.integers(0, 60), st.integers(0, 60), st.integers(1, 60), st.integers(1, 60)
)


def region(box: Box, kind: str = "rectangle"):
    return region_from_object(box_object(box, kind=kind))


@SETTINGS
@given(boxes, boxes)
def test_rectangle_iou_equals_the_area_formula_and_the_pixel_count(first: Box, second: Box) -> None:
    """IoU of two rectangles is in [0, 1] and equals both independent oracles (formula, painted grid)."""
    value = iou(region(first), region(second))
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(formula_iou(first, second), abs=1e-12)
    assert value == pytest.approx(grid_iou(first, second), abs=1e-12)


def test_the_rectangle_oracle_rejects_an_off_by_one_convention() -> None:
    """Mutant: reading Supervisely's right/bottom as exclusive gives another IoU, which the oracle refuses."""
    first, second = (0, 0, 4, 4), (2, 0, 4, 4)

    def exclusive_corner_iou(a: Box, b: Box) -> float:  # the mutant treats (w - 1, h - 1) boxes
        return formula_iou((a[0], a[1], a[2] - 1, a[3] - 1), (b[0], b[1], b[2] - 1, b[3] - 1))

    assert iou(region(first), region(second)) == pytest.approx(grid_iou(first, second))
    assert exclusive_corner_iou(first, second) != pytest.approx(grid_iou(first, second))


@SETTINGS
@given(boxes, boxes, st.sampled_from(KINDS), st.sampled_from(KINDS))
def test_the_same_box_gives_the_same_iou_as_rectangle_polygon_or_bitmap(
    first: Box, second: Box, first_kind: str, second_kind: str
) -> None:
    """A box written as any of the three geometry types has the same area and IoU as the rectangle."""
    assert region(first, first_kind).area == first[2] * first[3]
    assert iou(region(first, first_kind), region(second, second_kind)) == pytest.approx(
        formula_iou(first, second), abs=1e-9
    )


def test_polygon_with_a_hole_and_a_bitmap_ring() -> None:
    """A 10x10 square with a 4x4 hole has area 84 and IoU 0.84 with its outer square; the same for a bitmap."""
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    hole = [[3, 3], [7, 3], [7, 7], [3, 7]]
    holed = region_from_object({"geometryType": "polygon", "points": {"exterior": square, "interior": [hole]}})
    assert holed.area == 84
    assert iou(holed, region((0, 0, 10, 10))) == pytest.approx(0.84)
    mask = np.ones((10, 10), dtype=bool)
    mask[3:7, 3:7] = False
    ring = region_from_object({"geometryType": "bitmap", "bitmap": {"data": encode_bitmap(mask), "origin": [0, 0]}})
    assert ring.area == 84
    assert iou(ring, holed) == pytest.approx(1.0)
    assert iou(ring, region((3, 3, 4, 4))) == 0.0  # the hole's pixels only


def test_a_polygon_meets_a_bitmap_as_its_pixel_centres() -> None:
    """Against a bitmap, a polygon counts as the pixels whose centres it holds: the triangle (0,0) (4,0) (0,4)
    (area 8 as a plane figure) holds 6 centres, so its IoU with the full 4x4 bitmap is 6/16."""
    triangle = region_from_object({"geometryType": "polygon", "points": {"exterior": [[0, 0], [4, 0], [0, 4]]}})
    assert triangle.area == 8
    full = region((0, 0, 4, 4), "bitmap")
    # Pixel centres (x + 0.5, y + 0.5) with x + y + 1 < 4: (0,0) (1,0) (2,0) (0,1) (1,1) (0,2).
    assert iou(triangle, full) == pytest.approx(6 / 16)
    assert iou(full, triangle) == pytest.approx(6 / 16)
    assert iou(triangle, region((0, 0, 4, 4))) == pytest.approx(8 / 16)  # two plane figures: exact


def test_decodes_the_sdk_documented_bitmap() -> None:
    """Oracle from the SDK's documentation: its example string decodes to its 3x3 ring."""
    np.testing.assert_array_equal(decode_bitmap(SDK_EXAMPLE_DATA), SDK_EXAMPLE_MASK)
    flipped = SDK_EXAMPLE_MASK.copy()
    flipped[1, 1] = True  # mutant: a decoder that fills the centre would be caught
    assert not np.array_equal(decode_bitmap(SDK_EXAMPLE_DATA), flipped)


masks = st.tuples(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1)).map(
    lambda spec: np.random.default_rng(spec[2]).random((spec[0], spec[1])) < 0.5
)


@SETTINGS
@given(masks)
def test_encode_decode_round_trip_and_pillow_agree(mask: np.ndarray) -> None:
    """Any mask survives encode/decode; the direct palette path decodes like `Image.open` on the same PNG."""
    data = encode_bitmap(mask)
    np.testing.assert_array_equal(decode_bitmap(data), mask)
    with Image.open(io.BytesIO(zlib.decompress(base64.b64decode(data)))) as image:
        assert image.mode == "P"
        opaque = np.asarray(image.convert("RGBA"))[..., 3] > 0
    np.testing.assert_array_equal(opaque, mask)


@pytest.mark.parametrize("mode", ["L", "RGBA", "1"])
def test_other_png_modes_and_uncompressed_png_are_read(mode: str) -> None:
    """PNGs that are not the SDK's palette form go through Pillow: grey, alpha, 1-bit; also without zlib."""
    mask = np.zeros((5, 7), dtype=bool)
    mask[1:4, 2:6] = True
    if mode == "RGBA":
        pixels = np.zeros((5, 7, 4), dtype=np.uint8)
        pixels[..., 3] = mask * 255
        image = Image.fromarray(pixels, "RGBA")
    else:
        image = Image.fromarray((mask * 255).astype(np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    compressed = base64.b64encode(zlib.compress(buffer.getvalue())).decode()
    plain = base64.b64encode(buffer.getvalue()).decode()
    np.testing.assert_array_equal(decode_bitmap(compressed), mask)
    np.testing.assert_array_equal(decode_bitmap(plain), mask)


TINY_MASK = encode_bitmap(np.ones((2, 3), dtype=bool))


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"geometryType": "point", "points": {"exterior": [[1, 2]]}}, "geometry type 'point' cannot be scored"),
        ({"geometryType": "rectangle", "points": {"exterior": [[1, 2]]}}, "exactly two exterior points"),
        ({"geometryType": "rectangle"}, "rectangle geometry is malformed"),
        ({"geometryType": "bitmap", "bitmap": {"data": "not base64!", "origin": [0, 0]}}, "not base64"),
        ({"geometryType": "bitmap", "bitmap": {"data": "aGVsbG8=", "origin": [0, 0]}}, "not a PNG"),
        ({"geometryType": "polygon", "points": {"exterior": [["a", 1], [2, 2], [3, 0]]}}, "polygon points"),
        ({"geometryType": "bitmap", "bitmap": {"data": TINY_MASK, "origin": [None, 0]}}, "bitmap geometry"),
        ({"geometryType": "bitmap", "bitmap": {"data": TINY_MASK, "origin": [0]}}, "an origin is"),
    ],
)
def test_unreadable_geometry_is_refused_with_the_problem_named(obj: dict, message: str) -> None:
    """Bad input raises GeometryError naming the problem (and the object's position)."""
    with pytest.raises(GeometryError, match=message) as caught:
        region_from_object(obj)
    assert "object 0" in str(caught.value)


def test_degenerate_and_self_intersecting_polygons() -> None:
    """Fewer than three vertices is an empty region (IoU 0); a bow-tie counts the area it covers (its two
    triangles of area 0.5 each), not the shoelace sum where they cancel."""
    line = region_from_object({"geometryType": "polygon", "points": {"exterior": [[0, 0], [5, 5]]}})
    assert line.area == 0 and iou(line, line) == 0.0
    bow_tie = region_from_object(
        {"geometryType": "polygon", "points": {"exterior": [[0, 0], [2, 1], [2, 0], [0, 1]]}}
    )
    assert bow_tie.area == pytest.approx(1.0)


@SETTINGS
@given(
    st.lists(st.tuples(boxes, st.sampled_from(KINDS)), min_size=1, max_size=4),
    st.lists(st.tuples(boxes, st.sampled_from(KINDS)), min_size=1, max_size=4),
    st.floats(0.05, 1.0),
)
def test_skipping_pairs_below_min_iou_never_hides_a_pair_at_or_above_it(
    first: list[tuple[Box, str]], second: list[tuple[Box, str]], threshold: float
) -> None:
    """With `min_iou`, every pair at or above it keeps its exact IoU; only pairs below it may read 0."""
    regions_a = [region(box, kind) for box, kind in first]
    regions_b = [region(box, kind) for box, kind in second]
    full = iou_matrix(regions_a, regions_b)
    pruned = iou_matrix(regions_a, regions_b, min_iou=threshold)
    at_or_above = full >= threshold
    np.testing.assert_allclose(pruned[at_or_above], full[at_or_above])
    assert np.all((pruned[~at_or_above] == 0) | np.isclose(pruned[~at_or_above], full[~at_or_above]))


def test_a_palette_png_with_several_transparent_entries() -> None:
    """A 4-colour palette PNG whose entries 0 and 2 are transparent: set pixels are those of entries 1 and 3."""
    indices = np.array([[0, 1, 2, 3], [3, 2, 1, 0]], dtype=np.uint8)
    image = Image.fromarray(indices, "L").convert("P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=b"\x00\xff\x00\xff")
    data = base64.b64encode(zlib.compress(buffer.getvalue())).decode()
    np.testing.assert_array_equal(decode_bitmap(data), np.isin(indices, [1, 3]))


def test_a_failing_overlay_falls_back_to_snap_rounding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mock (GEOS's TopologyException cannot be produced on demand): when the plain overlay raises, the
    snap-rounded one gives the same IoU for a polygon pair (here 50/150 for two 10x10 squares 5 apart)."""
    real_intersection = shapely.intersection

    def fragile_intersection(a, b, grid_size=None, **kwargs):
        if grid_size is None:
            raise shapely.errors.GEOSException("TopologyException: side location conflict")
        return real_intersection(a, b, grid_size=grid_size, **kwargs)

    monkeypatch.setattr(shapely, "intersection", fragile_intersection)
    assert iou(region((0, 0, 10, 10), "polygon"), region((5, 0, 10, 10), "polygon")) == pytest.approx(50 / 150)
