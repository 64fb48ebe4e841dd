"""Areas and intersection over union of Supervisely geometries: rectangle, polygon and bitmap.

One model of the plane for all three, the one the official SDK's `.area` properties imply: pixel (x, y) is the unit
square [x, x+1) x [y, y+1).
- A rectangle `points.exterior = [[left, top], [right, bottom]]` includes its right and bottom pixels, as in
  Supervisely (`Rectangle.width == right - left + 1`): it is the box [left, right + 1) x [top, bottom + 1).
- A polygon is the plane figure of its vertices (`points.exterior`, holes in `points.interior`); its area is the
  shoelace area (the SDK's `Polygon.area`), computed by shapely.
- A bitmap is `{"data": base64(zlib(PNG)), "origin": [x, y]}` (the SDK's `Bitmap.data_2_base64`): its set pixels.
Two vector shapes intersect as plane figures (exact); a bitmap and a vector shape intersect in the bitmap's set
pixels whose centres lie inside the shape (exact for rectangles with integer corners).
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import shapely
from PIL import Image

RECTANGLE: Final = "rectangle"
POLYGON: Final = "polygon"
BITMAP: Final = "bitmap"
SUPPORTED_GEOMETRIES: Final = (RECTANGLE, POLYGON, BITMAP)

_NO_BOX: Final = (0.0, 0.0, 0.0, 0.0)


class GeometryError(ValueError):
    """An object whose geometry cannot be read (unknown type, missing or malformed fields)."""


@dataclass(frozen=True, slots=True, eq=False)
class Region:
    """One object's geometry, read once: its kind, bounding box, area and the data its intersections need."""

    kind: str
    box: tuple[float, float, float, float]  # left, top, right, bottom; right and bottom exclusive
    area: float
    polygon: shapely.Geometry | None = None  # polygons only
    mask: np.ndarray | None = None  # bitmaps only (bool, rows x columns, top-left pixel at box[0], box[1])

    def shape(self) -> shapely.Geometry:
        """The region as a plane figure (rectangles and polygons)."""
        if self.polygon is not None:
            return self.polygon
        return shapely.box(*self.box)


@dataclass(frozen=True, slots=True, eq=False)
class RegionBatch:
    """Regions with their boxes and areas as arrays, so that a whole IoU matrix is a few numpy operations."""

    regions: tuple[Region, ...]
    boxes: np.ndarray  # n x 4 float
    areas: np.ndarray  # n float
    rectangular: np.ndarray  # n bool

    @classmethod
    def of(cls, regions: Sequence[Region]) -> RegionBatch:
        """Pack regions into arrays."""
        return cls(
            regions=tuple(regions),
            boxes=np.array([region.box for region in regions], dtype=float).reshape(-1, 4),
            areas=np.array([region.area for region in regions], dtype=float),
            rectangular=np.array([region.kind == RECTANGLE for region in regions], dtype=bool),
        )


def region_from_object(obj: Mapping[str, Any]) -> Region:
    """Read the geometry of one Supervisely object (`geometryType` with `points` or `bitmap`).

    Raises:
        GeometryError: the geometry type is not one of rectangle, polygon, bitmap, or its fields are malformed.
    """
    kind = obj.get("geometryType")
    try:
        if kind == RECTANGLE:
            return rectangle_region(obj["points"]["exterior"])
        if kind == POLYGON:
            return polygon_region(obj["points"]["exterior"], obj["points"].get("interior") or [])
        if kind == BITMAP:
            return bitmap_region(obj["bitmap"]["data"], obj["bitmap"]["origin"])
    except (KeyError, TypeError, AttributeError, IndexError) as error:
        raise GeometryError(f"{kind} geometry is malformed: missing or wrong field {error}") from None
    raise GeometryError(f"geometry type {kind!r} cannot be scored; supported: {', '.join(SUPPORTED_GEOMETRIES)}")


def rectangle_region(exterior: Sequence[Sequence[float]]) -> Region:
    """A rectangle from its two corners `[[left, top], [right, bottom]]` (in any order, like the SDK)."""
    if len(exterior) != 2:
        raise GeometryError(f"a rectangle needs exactly two exterior points, got {len(exterior)}")
    (x0, y0), (x1, y1) = exterior
    left, right = sorted((float(x0), float(x1)))
    top, bottom = sorted((float(y0), float(y1)))
    return Region(RECTANGLE, (left, top, right + 1, bottom + 1), (right - left + 1) * (bottom - top + 1))


def polygon_region(exterior: Sequence[Sequence[float]], interior: Sequence[Sequence[Sequence[float]]] = ()) -> Region:
    """A polygon from its exterior ring and its holes; fewer than three vertices make an empty region."""
    if len(exterior) < 3:
        return Region(POLYGON, _NO_BOX, 0.0, polygon=shapely.Polygon())
    holes = [hole for hole in interior if len(hole) >= 3]
    polygon = shapely.Polygon(exterior, holes)
    if not polygon.is_valid:  # self-intersecting outline: measure the area it actually covers
        polygon = shapely.make_valid(polygon)
    area = polygon.area
    if area == 0:
        return Region(POLYGON, _NO_BOX, 0.0, polygon=polygon)
    return Region(POLYGON, tuple(polygon.bounds), area, polygon=polygon)


def bitmap_region(data: str, origin: Sequence[int]) -> Region:
    """A bitmap from its encoded mask and the `[x, y]` of its top-left pixel."""
    mask = decode_bitmap(data)
    x, y = int(origin[0]), int(origin[1])
    rows, columns = mask.shape
    return Region(BITMAP, (x, y, x + columns, y + rows), float(np.count_nonzero(mask)), mask=mask)


def decode_bitmap(data: str) -> np.ndarray:
    """The boolean mask of a Supervisely bitmap's `data` (base64 of a zlib-compressed PNG; plain PNG accepted).

    Like the SDK's `Bitmap.base64_2_data`: a pixel is set where the PNG is opaque (palette or alpha transparency)
    or, for a PNG without transparency, non-zero.
    """
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise GeometryError("bitmap data is not base64") from None
    try:
        png = zlib.decompress(raw)
    except zlib.error:
        png = raw
    try:
        with Image.open(io.BytesIO(png)) as image:
            image.load()
            return _mask_of(image)
    except (OSError, ValueError, SyntaxError):
        raise GeometryError("bitmap data is not a PNG image") from None


def _mask_of(image: Image.Image) -> np.ndarray:
    pixels = np.asarray(image)
    if image.mode == "P":
        transparency = image.info.get("transparency")
        if isinstance(transparency, int):
            return pixels != transparency
        if isinstance(transparency, bytes):
            alpha = np.full(256, 255, dtype=np.uint8)
            alpha[: len(transparency)] = np.frombuffer(transparency, dtype=np.uint8)[:256]
            return alpha[pixels] > 0
        return pixels != 0
    if image.mode in ("RGBA", "LA", "PA"):
        return pixels[..., -1] > 0
    if pixels.ndim == 3:
        return np.any(pixels != 0, axis=-1)
    return pixels != 0


def encode_bitmap(mask: np.ndarray) -> str:
    """Encode a boolean mask as Supervisely does (`Bitmap.data_2_base64`): a two-colour palette PNG, index 0
    transparent, zlib-compressed, base64."""
    image = Image.fromarray(np.asarray(mask, dtype=np.uint8))
    image.putpalette([0, 0, 0, 255, 255, 255])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=0, optimize=False)
    return base64.b64encode(zlib.compress(buffer.getvalue())).decode("ascii")


def iou(first: Region, second: Region) -> float:
    """Intersection over union of two regions, in [0, 1]; 0 when both are empty."""
    return float(iou_matrix([first], [second])[0, 0])


def iou_matrix(
    first: Sequence[Region] | RegionBatch,
    second: Sequence[Region] | RegionBatch,
    where: np.ndarray | None = None,
) -> np.ndarray:
    """The IoU of every region of `first` (rows) with every region of `second` (columns).

    Rectangle pairs are computed together with numpy; a pair involving a polygon or a bitmap is computed exactly
    only when the boxes overlap.

    Args:
        first: Regions of one annotation, or their `RegionBatch`.
        second: Regions of the other annotation, or their `RegionBatch`.
        where: Optional boolean matrix (rows x columns): pairs outside it are not computed and get 0 (e.g. pairs
            of different classes).
    """
    a = first if isinstance(first, RegionBatch) else RegionBatch.of(first)
    b = second if isinstance(second, RegionBatch) else RegionBatch.of(second)
    overlap_width = np.minimum(a.boxes[:, None, 2], b.boxes[None, :, 2]) - np.maximum(
        a.boxes[:, None, 0], b.boxes[None, :, 0]
    )
    overlap_height = np.minimum(a.boxes[:, None, 3], b.boxes[None, :, 3]) - np.maximum(
        a.boxes[:, None, 1], b.boxes[None, :, 1]
    )
    intersection = np.clip(overlap_width, 0, None) * np.clip(overlap_height, 0, None)
    if where is not None:
        intersection = np.where(where, intersection, 0.0)
    exact = (intersection > 0) & ~(a.rectangular[:, None] & b.rectangular[None, :])
    if exact.any():
        _fill_exact_intersections(intersection, exact, a.regions, b.regions)
    union = a.areas[:, None] + b.areas[None, :] - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(union > 0, intersection / union, 0.0)
    return np.clip(ratio, 0.0, 1.0)


def _fill_exact_intersections(
    intersection: np.ndarray, exact: np.ndarray, first: Sequence[Region], second: Sequence[Region]
) -> None:
    vector_rows, vector_columns = [], []
    for row, column in zip(*np.nonzero(exact), strict=True):
        a, b = first[row], second[column]
        if a.mask is None and b.mask is None:
            vector_rows.append(row)
            vector_columns.append(column)
        else:
            intersection[row, column] = _raster_intersection(a, b)
    if vector_rows:
        shapes_a = np.array([first[row].shape() for row in vector_rows], dtype=object)
        shapes_b = np.array([second[column].shape() for column in vector_columns], dtype=object)
        intersection[vector_rows, vector_columns] = shapely.area(shapely.intersection(shapes_a, shapes_b))


def _raster_intersection(a: Region, b: Region) -> float:
    """Set pixels of the bitmap `a` (or `b`) inside the other region (pixel centres for vector shapes)."""
    if a.mask is None:
        a, b = b, a
    assert a.mask is not None  # noqa: S101 - one of the two is a bitmap by construction
    if b.mask is not None:
        window = _pixel_window(a.box, b.box)
        if window is None:
            return 0.0
        return float(np.count_nonzero(_crop(a, window) & _crop(b, window)))
    # Pixel x is inside [left, right) when its centre x + 0.5 is: x >= left - 0.5 and x < right - 0.5.
    centres_box = tuple(math.ceil(edge - 0.5) for edge in b.box)
    window = _pixel_window(a.box, centres_box)
    if window is None:
        return 0.0
    crop = _crop(a, window)
    if b.kind == RECTANGLE:
        return float(np.count_nonzero(crop))
    left, top, right, bottom = window
    xs, ys = np.meshgrid(np.arange(left, right) + 0.5, np.arange(top, bottom) + 0.5)
    inside = shapely.contains_xy(b.shape(), xs, ys)
    return float(np.count_nonzero(crop & inside))


def _pixel_window(
    first: tuple[float, ...], second: tuple[float, ...]
) -> tuple[int, int, int, int] | None:
    left, top = int(max(first[0], second[0])), int(max(first[1], second[1]))
    right, bottom = int(min(first[2], second[2])), int(min(first[3], second[3]))
    if right <= left or bottom <= top:
        return None
    return left, top, right, bottom


def _crop(bitmap: Region, window: tuple[int, int, int, int]) -> np.ndarray:
    assert bitmap.mask is not None  # noqa: S101 - callers pass bitmaps only
    x, y = int(bitmap.box[0]), int(bitmap.box[1])
    left, top, right, bottom = window
    return bitmap.mask[top - y : bottom - y, left - x : right - x]
