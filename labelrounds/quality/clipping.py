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
_PAIRS_PER_CHUNK: Final = 1024  # bounds the (pairs x edges x edges) work arrays


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
    along_a, along_b = q - p, s - r
    # Sides: r_side, s_side of B's edge ends from A's edge line; p_side, q_side of A's edge ends from B's.
    r_side, s_side = _cross(along_a, r - p), _cross(along_a, s - p)
    p_side, q_side = _cross(along_b, p - r), _cross(along_b, q - r)
    signs = [np.sign(side) * (np.abs(side) > _TOLERANCE) for side in (r_side, s_side, p_side, q_side)]
    meet = (signs[0] * signs[1] <= 0) & (signs[2] * signs[3] <= 0)
    near = _boxes_meet(p, q, r, s, 0) & _boxes_meet(p, q, r, s, 1)
    touching = meet & near & ((signs[0] == 0) | (signs[1] == 0) | (signs[2] == 0) | (signs[3] == 0))
    crossing = (signs[0] * signs[1] < 0) & (signs[2] * signs[3] < 0)
    t = np.where(crossing, p_side / (p_side - q_side), 0.0)  # where along A's edge
    u = np.where(crossing, r_side / (r_side - s_side), 0.0)  # where along B's edge
    # B is on the left of its (counter-clockwise) edges: A's edge enters B where it ends on the left.
    share_a = _inside(p[..., 0, :], r, s, p_side[..., :], axis=2) + np.sum(
        np.where(crossing, signs[3] * (1 - t), 0.0), axis=2
    )
    share_b = _inside_of_a(r[:, 0], p, q, r_side) + np.sum(np.where(crossing, signs[1] * (1 - u), 0.0), axis=1)
    twice_area = np.nansum(_cross(p[:, :, 0], q[:, :, 0]) * share_a, axis=1) + np.nansum(
        _cross(r[:, 0], s[:, 0]) * share_b, axis=1
    )
    areas = twice_area / 2
    areas[touching.any(axis=(1, 2))] = np.nan
    return areas


def _boxes_meet(p: np.ndarray, q: np.ndarray, r: np.ndarray, s: np.ndarray, axis: int) -> np.ndarray:
    """Whether the two edges' extents along one axis overlap (within the tolerance)."""
    low = np.maximum(np.minimum(p[..., axis], q[..., axis]), np.minimum(r[..., axis], s[..., axis]))
    high = np.minimum(np.maximum(p[..., axis], q[..., axis]), np.maximum(r[..., axis], s[..., axis]))
    return low <= high + _TOLERANCE


def _inside(points: np.ndarray, r: np.ndarray, s: np.ndarray, sides: np.ndarray, axis: int) -> np.ndarray:
    """Winding number of A's edge starts (pairs x N) in B, `sides[..., i, j]` = side of point i from B's edge j."""
    y = points[..., 1][..., None]
    upward = (r[..., 1] <= y) & (y < s[..., 1]) & (sides > 0)
    downward = (s[..., 1] <= y) & (y < r[..., 1]) & (sides < 0)
    return np.sum(upward.astype(np.int8) - downward.astype(np.int8), axis=axis)


def _inside_of_a(points: np.ndarray, p: np.ndarray, q: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """Winding number of B's edge starts (pairs x M) in A, `sides[..., i, j]` = side of point j from A's edge i."""
    y = points[:, None, :, 1]
    upward = (p[..., 1] <= y) & (y < q[..., 1]) & (sides > 0)
    downward = (q[..., 1] <= y) & (y < p[..., 1]) & (sides < 0)
    return np.sum(upward.astype(np.int8) - downward.astype(np.int8), axis=1)
