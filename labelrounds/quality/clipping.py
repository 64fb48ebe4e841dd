"""Intersection areas of many pairs of simple polygons at once, with numpy (faster than one GEOS overlay each).

Green's theorem: twice the area of A ∩ B is the sum of x dy - y dx along its boundary, which is made of the parts
of A's edges inside B and of B's edges inside A (both rings counter-clockwise). Along an edge P -> Q that sum is
cross(P, Q) times the edge's share inside the other polygon, and that share is "is P inside" plus, for each proper
crossing at parameter t, (1 - t) signed +1 when the edge enters and -1 when it leaves. So no clipped polygon is
built: every (edge of A, edge of B) pair of every polygon pair is one element of a few numpy arrays.

Pairs where an edge touches the other polygon without crossing it (shared vertices, collinear edges, a vertex on
an edge, within a tolerance) and polygons that are not a single hole-free polygon are left out (NaN): the caller
computes those with GEOS.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import shapely

_POLYGON_TYPE: Final = 3
_TOLERANCE: Final = 1e-7  # of a cross product, px², in coordinates relative to the pair: below it, "touching"
_PAIRS_PER_CHUNK: Final = 64  # bounds the (pairs x edges x edges) work arrays


def intersection_areas(shapes_a: np.ndarray, shapes_b: np.ndarray) -> np.ndarray:
    """Areas of the pairwise intersections of two equal-length arrays of shapely polygons; NaN where not computed.

    Args:
        shapes_a: Plane figures (shapely geometries).
        shapes_b: Plane figures, as many as `shapes_a`.
    """
    areas = np.full(len(shapes_a), np.nan)
    simple = _simple_polygons(shapes_a) & _simple_polygons(shapes_b)
    chosen = np.flatnonzero(simple)
    for start in range(0, len(chosen), _PAIRS_PER_CHUNK):
        part = chosen[start : start + _PAIRS_PER_CHUNK]
        areas[part] = _chunk_areas(shapes_a[part], shapes_b[part])
    return areas


def _simple_polygons(shapes: np.ndarray) -> np.ndarray:
    return (
        (shapely.get_type_id(shapes) == _POLYGON_TYPE)
        & (shapely.get_num_interior_rings(shapes) == 0)
        & ~shapely.is_empty(shapes)
    )


def _edges(shapes: np.ndarray, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counter-clockwise edges of each exterior ring as start and end points (pairs x edges x 2), NaN-padded."""
    coordinates, owner = shapely.get_coordinates(shapes, return_index=True)
    coordinates = coordinates - origins[owner]
    same_ring = owner[:-1] == owner[1:]
    starts, ends, owner = coordinates[:-1][same_ring], coordinates[1:][same_ring], owner[:-1][same_ring]
    counts = np.bincount(owner, minlength=len(shapes))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(len(owner)) - first[owner]
    begin = np.full((len(shapes), max(int(counts.max(initial=0)), 1), 2), np.nan)
    end = begin.copy()
    begin[owner, position], end[owner, position] = starts, ends
    signed_area = np.nansum(_cross(begin, end), axis=1)
    clockwise = signed_area < 0
    begin[clockwise], end[clockwise] = end[clockwise].copy(), begin[clockwise].copy()
    return begin, end


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def _chunk_areas(shapes_a: np.ndarray, shapes_b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):  # NaN padding and parallel edges; masked below
        return _chunk_areas_unchecked(shapes_a, shapes_b)


def _chunk_areas_unchecked(shapes_a: np.ndarray, shapes_b: np.ndarray) -> np.ndarray:
    origins = shapely.bounds(shapes_a)[:, :2]
    p, q = (array[:, :, None, :] for array in _edges(shapes_a, origins))  # A's edges: pairs x N x 1 x 2
    r, s = (array[:, None, :, :] for array in _edges(shapes_b, origins))  # B's edges: pairs x 1 x M x 2
    (px, py), (qx, qy), (rx, ry), (sx, sy) = (np.moveaxis(point, -1, 0) for point in (p, q, r, s))
    ax, ay, bx, by = qx - px, qy - py, sx - rx, sy - ry
    # Sides (cross products): r_side, s_side of B's edge ends from A's edge; p_side, q_side of A's from B's.
    # Written with per-edge terms and `turn` so that each costs one or two passes over the pairs x N x M arrays.
    turn = ax * by - ay * bx
    r_side = ax * ry - ay * rx - (ax * py - ay * px)
    s_side = r_side + turn
    p_side = bx * py - by * px - (bx * ry - by * rx)
    q_side = p_side - turn
    crossing = (r_side * s_side < 0) & (p_side * q_side < 0)
    small = np.minimum(np.minimum(np.abs(r_side), np.abs(s_side)), np.minimum(np.abs(p_side), np.abs(q_side)))
    touching = (small <= _TOLERANCE) & _boxes_meet(px, qx, rx, sx) & _boxes_meet(py, qy, ry, sy)
    # Past a crossing, A's edge is inside B for the share q_side / |turn| of its length when it enters (q_side > 0:
    # it ends on B's inner, left side) and leaves that share outside when it leaves: (1 - t) signed. Likewise B.
    size = np.abs(turn)
    share_a = _inside(py, p_side, low=ry, high=sy, axis=2) + np.sum(
        np.where(crossing, q_side / size, 0.0), axis=2
    )
    share_b = _inside(ry, r_side, low=py, high=qy, axis=1) + np.sum(
        np.where(crossing, s_side / size, 0.0), axis=1
    )
    twice_area = np.nansum((px * qy - py * qx)[:, :, 0] * share_a, axis=1) + np.nansum(
        (rx * sy - ry * sx)[:, 0, :] * share_b, axis=1
    )
    areas = twice_area / 2
    areas[touching.any(axis=(1, 2))] = np.nan
    return areas


def _boxes_meet(p: np.ndarray, q: np.ndarray, r: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Whether the two edges' extents along one axis overlap (within the tolerance)."""
    low_a, high_a = np.minimum(p, q), np.maximum(p, q)
    low_b, high_b = np.minimum(r, s), np.maximum(r, s)
    return (low_a <= high_b + _TOLERANCE) & (low_b <= high_a + _TOLERANCE)


def _inside(y: np.ndarray, side: np.ndarray, low: np.ndarray, high: np.ndarray, axis: int) -> np.ndarray:
    """1 where the point at height `y` is inside the other ring (its edges from `low` to `high` heights), else 0.

    Crossing number of the ray to +x: an edge straddling `y` crosses it right of the point when the point is on the
    edge's left going up or on its right going down.
    """
    straddles = (low <= y) != (high <= y)
    return np.sum(straddles & (side * (high - low) > 0), axis=axis) % 2
