"""Intersection areas of many pairs of simple polygons at once, in one compiled loop (faster than GEOS).

Green's theorem: twice the area of A ∩ B is the sum of x dy - y dx along its boundary, which is made of the
parts of A's edges inside B and of B's edges inside A (both rings counter-clockwise). Along an edge P -> Q
that sum is cross(P, Q) times the edge's share inside the other polygon, and that share is "is P inside" plus,
for each proper crossing at parameter t, (1 - t) signed +1 when the edge enters and -1 when it leaves. So no
clipped polygon is built: one numba kernel visits every (edge of A, edge of B) pair of every polygon pair, in
coordinates relative to the pair's origin (the minimum x and y of A's bounds), keeps one share per edge, and
leaves a pair at its first touch.

Pairs where an edge touches the other polygon without crossing it (shared vertices, collinear edges, a vertex
on an edge, within a tolerance) and polygons that are not a single hole-free polygon are left out (NaN): the
caller computes those with GEOS. So a proper crossing is one where no end of either edge is within the
tolerance of the other edge's line: nearer, the edges touch if their boxes meet and cannot cross if they do
not.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import shapely

from labelrounds.quality.compiled import compiled

_POLYGON_TYPE: Final = 3
_TOLERANCE: Final = 1e-7  # of a cross product, px², in coordinates relative to the pair: below it, "touching"


def intersection_areas(shapes_a: np.ndarray, shapes_b: np.ndarray) -> np.ndarray:
    """Areas of the pairwise intersections of two equal-length arrays of polygons; NaN where not computed.

    Args:
        shapes_a: Plane figures (shapely geometries).
        shapes_b: Plane figures, as many as `shapes_a`.
    """
    areas = np.full(len(shapes_a), np.nan)
    chosen = np.flatnonzero(_simple_polygons(shapes_a) & _simple_polygons(shapes_b))
    if len(chosen):
        points_a, offsets_a = _rings(shapes_a[chosen])
        points_b, offsets_b = _rings(shapes_b[chosen])
        areas[chosen] = _pair_areas(points_a, offsets_a, points_b, offsets_b, _TOLERANCE)
    return areas


def _simple_polygons(shapes: np.ndarray) -> np.ndarray:
    return (
        (shapely.get_type_id(shapes) == _POLYGON_TYPE)
        & (shapely.get_num_interior_rings(shapes) == 0)
        & ~shapely.is_empty(shapes)
    )


def _rings(polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closed exterior rings' points of hole-free polygons, one after another (n x 2), and their starts."""
    points, owner = shapely.get_coordinates(polygons, return_index=True)  # no holes: the exterior rings only
    offsets = np.zeros(len(polygons) + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=len(polygons)), out=offsets[1:])
    return np.ascontiguousarray(points, dtype=np.float64), offsets


@compiled
def _pair_areas(
    points_a: np.ndarray, offsets_a: np.ndarray, points_b: np.ndarray, offsets_b: np.ndarray, tolerance: float
) -> np.ndarray:  # pragma: no cover - compiled; its results are tested against GEOS
    """Intersection area of each pair (ring i of A, ring i of B), NaN where an edge touches the other ring."""
    pairs = len(offsets_a) - 1
    areas = np.full(pairs, np.nan)
    longest = 1
    for i in range(pairs):
        longest = max(longest, offsets_a[i + 1] - offsets_a[i], offsets_b[i + 1] - offsets_b[i])
    # Per-edge scratch (A's edges: start, end, direction, cross term; B's alike), reused from pair to pair.
    edges_a = np.empty((longest, 8))
    edges_b = np.empty((longest, 8))
    share_b = np.empty(longest)
    crossings_b = np.empty(longest, dtype=np.int64)
    for pair in range(pairs):
        start_a, start_b = offsets_a[pair], offsets_b[pair]
        count_a = offsets_a[pair + 1] - start_a - 1
        count_b = offsets_b[pair + 1] - start_b - 1
        origin_x, origin_y = np.inf, np.inf
        for k in range(start_a, start_a + count_a + 1):
            origin_x, origin_y = min(origin_x, points_a[k, 0]), min(origin_y, points_a[k, 1])
        _load_edges(points_a, start_a, count_a, origin_x, origin_y, edges_a)
        _load_edges(points_b, start_b, count_b, origin_x, origin_y, edges_b)
        share_b[:count_b] = 0.0
        crossings_b[:count_b] = 0
        twice_area = 0.0
        touching = False
        for i in range(count_a):
            px, py, qx, qy = edges_a[i, 0], edges_a[i, 1], edges_a[i, 2], edges_a[i, 3]
            ax, ay, term_a, cross_a = edges_a[i, 4], edges_a[i, 5], edges_a[i, 6], edges_a[i, 7]
            crossings_a = 0
            share_a = 0.0
            for j in range(count_b):
                rx, ry, sx, sy = edges_b[j, 0], edges_b[j, 1], edges_b[j, 2], edges_b[j, 3]
                bx, by, term_b = edges_b[j, 4], edges_b[j, 5], edges_b[j, 6]
                # Sides (cross products): r_side, s_side of B's edge ends from A's edge; p_side, q_side of A's
                # from B's.
                turn = ax * by - ay * bx
                r_side = ax * ry - ay * rx - term_a
                s_side = r_side + turn
                p_side = bx * py - by * px - term_b
                q_side = p_side - turn
                small = min(min(abs(r_side), abs(s_side)), min(abs(p_side), abs(q_side)))
                if small <= tolerance:
                    if _boxes_meet(px, qx, rx, sx, tolerance) and _boxes_meet(py, qy, ry, sy, tolerance):
                        touching = True
                        break
                    # Apart (their boxes do not meet), the edges cannot cross: a side this small is rounding
                    # noise, as when both lie on one line, and its sign must not make a crossing.
                elif r_side * s_side < 0 and p_side * q_side < 0:
                    # Past a crossing, A's edge is inside B for the share q_side / |turn| of its length when
                    # it enters (q_side > 0: it ends on B's inner, left side) and leaves that share outside
                    # when it leaves: (1 - t) signed. Likewise B's edge.
                    size = abs(turn)
                    share_a += q_side / size
                    share_b[j] += s_side / size
                # Crossing numbers of the rays to +x from P (across B's edge) and from R (across A's edge): an
                # edge straddling the point's height crosses the ray right of it when the point is on the
                # edge's left going up or on its right going down.
                if (ry <= py) != (sy <= py) and p_side * (sy - ry) > 0:
                    crossings_a += 1
                if (py <= ry) != (qy <= ry) and r_side * (qy - py) > 0:
                    crossings_b[j] += 1
            if touching:
                break
            twice_area += cross_a * (crossings_a % 2 + share_a)
        if touching:
            continue
        for j in range(count_b):
            twice_area += edges_b[j, 7] * (crossings_b[j] % 2 + share_b[j])
        areas[pair] = twice_area / 2
    return areas


@compiled
def _load_edges(
    points: np.ndarray, start: int, count: int, origin_x: float, origin_y: float, edges: np.ndarray
) -> None:  # pragma: no cover - compiled
    """The ring's `count` edges, relative to the origin and counter-clockwise, into the rows of `edges`."""
    signed_area = 0.0
    for k in range(count):
        px, py = points[start + k, 0] - origin_x, points[start + k, 1] - origin_y
        qx, qy = points[start + k + 1, 0] - origin_x, points[start + k + 1, 1] - origin_y
        signed_area += px * qy - py * qx
        edges[k, 0], edges[k, 1], edges[k, 2], edges[k, 3] = px, py, qx, qy
    for k in range(count):
        px, py, qx, qy = edges[k, 0], edges[k, 1], edges[k, 2], edges[k, 3]
        if signed_area < 0:  # clockwise: every edge reversed
            px, py, qx, qy = qx, qy, px, py
            edges[k, 0], edges[k, 1], edges[k, 2], edges[k, 3] = px, py, qx, qy
        ax, ay = qx - px, qy - py
        # The edge's own part of the side of a point X from it, ax * xy - ay * xx - (ax * py - ay * px), the
        # edge's direction, and its cross(P, Q), Green's term.
        edges[k, 4], edges[k, 5], edges[k, 6], edges[k, 7] = ax, ay, ax * py - ay * px, px * qy - py * qx
    return


@compiled
def _boxes_meet(
    p: float, q: float, r: float, s: float, tolerance: float
) -> bool:  # pragma: no cover - compiled
    """Whether the two edges' extents along one axis overlap (within the tolerance)."""
    return min(p, q) <= max(r, s) + tolerance and min(r, s) <= max(p, q) + tolerance
