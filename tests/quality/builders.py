"""Supervisely annotation JSON for the scoring tests: one axis-aligned box as rectangle, polygon or bitmap."""

from __future__ import annotations

from typing import Any

import numpy as np

from labelrounds.quality import encode_bitmap

# A box is (left, top, width, height) in pixels: it covers columns left .. left + width - 1, rows likewise.
Box = tuple[int, int, int, int]
KINDS = ("rectangle", "polygon", "bitmap")


def box_object(box: Box, title: str = "lemon", kind: str = "rectangle", tags: list[Any] | None = None) -> dict:
    """The object covering exactly the pixels of `box`, written as a `kind` geometry."""
    left, top, width, height = box
    obj: dict[str, Any] = {"classTitle": title, "geometryType": kind, "tags": tags or []}
    if kind == "rectangle":  # Supervisely's right and bottom are the last pixel column and row (inclusive)
        obj["points"] = {"exterior": [[left, top], [left + width - 1, top + height - 1]], "interior": []}
    elif kind == "polygon":  # a polygon's outline runs along the pixel edges: the far edge is left + width
        right, bottom = left + width, top + height
        obj["points"] = {"exterior": [[left, top], [right, top], [right, bottom], [left, bottom]], "interior": []}
    else:
        obj["bitmap"] = {"data": encode_bitmap(np.ones((height, width), dtype=bool)), "origin": [left, top]}
    return obj


def annotation(objects: list[dict], tags: list[dict] | None = None) -> dict:
    """An annotation dict as `api.annotation.download(...).annotation` returns it."""
    return {"description": "", "size": {"height": 1000, "width": 1000}, "tags": tags or [], "objects": objects}


def shifted(obj: dict, dx: int, dy: int = 0) -> dict:
    """The same object moved by (dx, dy) pixels."""
    moved = dict(obj)
    if "points" in obj:
        exterior = [[x + dx, y + dy] for x, y in obj["points"]["exterior"]]
        moved["points"] = {"exterior": exterior, "interior": obj["points"]["interior"]}
    else:
        x, y = obj["bitmap"]["origin"]
        moved["bitmap"] = {"data": obj["bitmap"]["data"], "origin": [x + dx, y + dy]}
    return moved


def grid_iou(first: Box, second: Box, size: int = 128) -> float:
    """Oracle: IoU counted on a pixel grid where each box is painted by slicing."""
    grids = []
    for left, top, width, height in (first, second):
        grid = np.zeros((size, size), dtype=bool)
        grid[top : top + height, left : left + width] = True
        grids.append(grid)
    union = np.count_nonzero(grids[0] | grids[1])
    return np.count_nonzero(grids[0] & grids[1]) / union if union else 0.0


def formula_iou(first: Box, second: Box) -> float:
    """Oracle: IoU of two boxes from the hand-written area formula."""
    (l1, t1, w1, h1), (l2, t2, w2, h2) = first, second
    overlap_w = max(0, min(l1 + w1, l2 + w2) - max(l1, l2))
    overlap_h = max(0, min(t1 + h1, t2 + h2) - max(t1, t2))
    inter = overlap_w * overlap_h
    return inter / (w1 * h1 + w2 * h2 - inter)
