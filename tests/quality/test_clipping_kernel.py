"""The compiled polygon clipper (`intersection_areas`) on the shapes the random-pair tests rarely make.

Oracle: GEOS's overlay (`shapely.area(shapely.intersection(...))`), to 1e-9 px², on every pair the clipper
computes (it marks the others NaN for the caller's GEOS). Mutants: a ring without its closing edge and touch
detection turned off give areas the oracle refuses.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from labelrounds.quality.clipping import _TOLERANCE, _pair_areas, _rings, intersection_areas

AREA_TOLERANCE = 1e-9


def star(rng: np.random.Generator, vertices: int, clockwise: bool = False) -> shapely.Polygon:
    """A star-shaped polygon of `vertices` vertices (angles strictly increasing), either orientation."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, vertices))
    radii = rng.uniform(0.4, 1.0, vertices) * rng.uniform(5, 60)
    centre = rng.uniform(0, 80, 2)
    points = np.column_stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)])
    return shapely.Polygon(points[::-1] if clockwise else points)


def star_pairs(seed: int, count: int, vertices: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Valid pairs of stars of vertices[0] to vertices[1] vertices, either orientation, many overlapping."""
    rng = np.random.default_rng(seed)
    firsts, seconds = [], []
    while len(firsts) < count:
        first = star(rng, int(rng.integers(*vertices)), bool(rng.random() < 0.5))
        second = star(rng, int(rng.integers(*vertices)), bool(rng.random() < 0.5))
        if shapely.is_valid(first) and shapely.is_valid(second):
            firsts.append(first)
            seconds.append(second)
    return np.array(firsts, dtype=object), np.array(seconds, dtype=object)


def assert_overlay_areas(areas: np.ndarray, firsts: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Assert the computed (non-NaN) areas equal GEOS's; return which were computed."""
    exact = shapely.area(shapely.intersection(firsts, seconds))
    computed = ~np.isnan(areas)
    np.testing.assert_allclose(areas[computed], exact[computed], rtol=0, atol=AREA_TOLERANCE)
    return computed


def test_polygons_of_hundreds_of_vertices_give_the_overlay_area() -> None:
    """Stars of 200 to 600 vertices (rings longer than any other in the batch too): GEOS's areas, nearly all
    computed by the clipper."""
    firsts, seconds = star_pairs(21, 60, (200, 601))
    small_firsts, small_seconds = star_pairs(22, 20, (3, 9))
    firsts, seconds = np.concatenate([firsts, small_firsts]), np.concatenate([seconds, small_seconds])
    computed = assert_overlay_areas(intersection_areas(firsts, seconds), firsts, seconds)
    assert computed.mean() > 0.9


def test_clockwise_and_counter_clockwise_rings_give_the_same_areas() -> None:
    """Every pair in the four orientation combinations: the same areas as GEOS's, the same NaN pairs."""
    firsts, seconds = star_pairs(23, 200, (3, 30))
    flipped_firsts, flipped_seconds = (
        np.array([s.reverse() for s in shapes], dtype=object) for shapes in (firsts, seconds)
    )
    assert (
        shapely.is_ccw(shapely.get_exterior_ring(firsts))
        != shapely.is_ccw(shapely.get_exterior_ring(flipped_firsts))
    ).all()
    reference = intersection_areas(firsts, seconds)
    assert_overlay_areas(reference, firsts, seconds)
    for a, b in [(flipped_firsts, seconds), (firsts, flipped_seconds), (flipped_firsts, flipped_seconds)]:
        areas = intersection_areas(a, b)
        np.testing.assert_array_equal(np.isnan(areas), np.isnan(reference))
        assert_overlay_areas(areas, a, b)
    assert (~np.isnan(reference)).mean() > 0.9


def with_degenerate_vertices(rng: np.random.Generator, polygon: shapely.Polygon) -> shapely.Polygon:
    """The same polygon with a repeated vertex and a vertex in the middle of an edge (straight angle)."""
    points = np.asarray(polygon.exterior.coords)[:-1]
    repeat, split = sorted(rng.choice(len(points), 2, replace=False))
    middle = (points[split] + points[(split + 1) % len(points)]) / 2
    points = np.insert(points, split + 1, middle, axis=0)
    points = np.insert(points, repeat, points[repeat], axis=0)
    return shapely.Polygon(points)


def test_repeated_and_collinear_vertices_give_the_overlay_area() -> None:
    """Zero-length edges and straight-angle vertices: the areas computed are GEOS's and the plain polygons' (a
    degenerate vertex on the other polygon's boundary, within the tolerance, leaves its pair to GEOS)."""
    rng = np.random.default_rng(24)
    firsts, seconds = star_pairs(25, 300, (4, 14))
    degenerate_firsts = np.array([with_degenerate_vertices(rng, shape) for shape in firsts], dtype=object)
    degenerate_seconds = np.array([with_degenerate_vertices(rng, shape) for shape in seconds], dtype=object)
    assert (shapely.get_num_coordinates(degenerate_firsts) == shapely.get_num_coordinates(firsts) + 2).all()
    areas = intersection_areas(degenerate_firsts, degenerate_seconds)
    computed = assert_overlay_areas(areas, degenerate_firsts, degenerate_seconds)
    assert computed.mean() > 0.5
    plain = intersection_areas(firsts, seconds)
    both = computed & ~np.isnan(plain)
    np.testing.assert_allclose(areas[both], plain[both], rtol=0, atol=AREA_TOLERANCE)


def test_empty_batches_and_batches_with_nothing_to_compute() -> None:
    """No pairs: an empty float array. Only empty, holed or multi-part shapes: all NaN, without the kernel."""
    nothing = np.array([], dtype=object)
    areas = intersection_areas(nothing, nothing)
    assert areas.shape == (0,) and areas.dtype == np.float64
    square = shapely.box(0, 0, 4, 4)
    odd = np.array(
        [
            shapely.Polygon(),
            shapely.MultiPolygon([square, shapely.box(5, 5, 6, 6)]),
            square.buffer(1).difference(shapely.box(1, 1, 2, 2)),
        ],
        dtype=object,
    )
    assert np.isnan(intersection_areas(odd, np.array([square] * 3, dtype=object))).all()
    assert np.isnan(intersection_areas(np.array([square] * 3, dtype=object), odd)).all()


def test_simple_pairs_among_left_out_ones_keep_their_places() -> None:
    """Computed pairs interleaved with left-out ones land at their own positions."""
    square, shifted = shapely.box(0, 0, 4, 4), shapely.box(1.5, 1.25, 5.5, 5.25)
    holed = shapely.box(0, 0, 9, 9).difference(shapely.box(3, 3, 4, 4))
    firsts = np.array([square, holed, shifted, square], dtype=object)
    seconds = np.array([shifted, square, square, shapely.box(10, 10, 11, 11)], dtype=object)
    areas = intersection_areas(firsts, seconds)
    np.testing.assert_allclose(areas, [2.5 * 2.75, np.nan, 2.5 * 2.75, 0.0], rtol=0, atol=AREA_TOLERANCE)


def test_the_oracle_refuses_a_kernel_that_skips_each_rings_closing_edge() -> None:
    """Mutant: the kernel given rings without their closing point (an off-by-one in reading the rings) gives
    areas the oracle refuses."""
    firsts, seconds = star_pairs(26, 100, (200, 301))
    points_a, offsets_a = _rings(firsts)
    points_b, offsets_b = _rings(seconds)
    keep = np.ones(len(points_b), dtype=bool)
    keep[offsets_b[1:] - 1] = False
    open_offsets_b = offsets_b - np.arange(len(offsets_b))
    mutant = _pair_areas(points_a, offsets_a, points_b[keep], open_offsets_b, _TOLERANCE)
    np.testing.assert_allclose(
        _pair_areas(points_a, offsets_a, points_b, offsets_b, _TOLERANCE),
        intersection_areas(firsts, seconds),
        rtol=0,
        atol=0,
    )
    with pytest.raises(AssertionError):
        assert_overlay_areas(mutant, firsts, seconds)


def test_the_oracle_refuses_a_kernel_that_ignores_touching_edges() -> None:
    """Mutant: with touch detection off (a negative tolerance), pairs sharing edges and vertices (identical
    polygons, a square and its half) get areas the oracle refuses."""
    firsts, _ = star_pairs(27, 50, (5, 12))
    halves = np.array([shapely.box(0, 0, 4, 4)] * 2 + [shapely.box(0, 0, 4, 2)], dtype=object)
    squares = np.array(
        [shapely.box(0, 0, 4, 4), shapely.box(4, 0, 8, 4), shapely.box(0, 0, 4, 4)], dtype=object
    )
    a, b = np.concatenate([firsts, halves]), np.concatenate([firsts, squares])
    assert np.isnan(intersection_areas(a, b)).all()
    mutant = _pair_areas(*_rings(a), *_rings(b), -np.inf)
    with pytest.raises(AssertionError):
        assert_overlay_areas(mutant, a, b)


def collinear_pairs(seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Triangles A and B with an edge each on the same slanted line, apart along it (their boxes do not meet),
    B reaching back across A: the cross products of those two edges are rounding noise around 0."""
    rng = np.random.default_rng(seed)
    firsts, seconds = [], []
    while len(firsts) < count:
        origin = rng.uniform(0, 50, 2)
        direction = rng.uniform(-1, 1, 2) * rng.uniform(1, 20)
        normal = np.array([-direction[1], direction[0]])
        first = shapely.Polygon(
            [origin, origin + direction, origin + 0.5 * direction + normal * rng.uniform(0.2, 2)]
        )
        apex = origin - 0.5 * direction + rng.choice([-1, 1]) * normal * rng.uniform(0.2, 2)
        second = shapely.Polygon(
            [origin + direction * rng.uniform(1.2, 2), origin + direction * rng.uniform(2.2, 3), apex]
        )
        if shapely.is_valid(first) and shapely.is_valid(second):
            firsts.append(first)
            seconds.append(second)
    return np.array(firsts, dtype=object), np.array(seconds, dtype=object)


def test_collinear_edges_apart_are_not_taken_for_crossings() -> None:
    """Two edges on one line whose boxes do not meet cannot cross, whatever the signs of their (noise) cross
    products: GEOS's areas. Before the rule, the first pair below gave -29.75 px² instead of 0."""
    first = shapely.from_wkt(
        "POLYGON ((32.91265391456554 20.562884724171404, 41.69780256786874 28.581215890453286, "
        "25.410986744938143 37.60377442747637, 32.91265391456554 20.562884724171404))"
    )
    second = shapely.from_wkt(
        "POLYGON ((48.440366878709305 34.73525103406406, 57.03514626369118 42.579829439007156, "
        "42.282448911427096 1.475212426673016, 48.440366878709305 34.73525103406406))"
    )
    firsts, seconds = collinear_pairs(28, 3000)
    firsts, seconds = np.concatenate([[first], firsts]), np.concatenate([[second], seconds])
    areas = intersection_areas(firsts, seconds)
    assert areas[0] == pytest.approx(0.0, abs=AREA_TOLERANCE)
    computed = assert_overlay_areas(areas, firsts, seconds)
    assert computed.mean() > 0.3
