"""Areas and intersection over union of Supervisely geometries: rectangle, polygon and bitmap.

One model of the plane for all three, the one the official SDK's `.area` properties imply: pixel (x, y) is the unit
square [x, x+1) x [y, y+1).
- A rectangle `points.exterior = [[left, top], [right, bottom]]` includes its right and bottom pixels, as in
  Supervisely (`Rectangle.width == right - left + 1`): it is the box [left, right + 1) x [top, bottom + 1).
- A polygon is the plane figure of its vertices (`points.exterior`, holes in `points.interior`); its area is the
  shoelace area (the SDK's `Polygon.area`), computed by shapely.
- A bitmap is `{"data": base64(zlib(PNG)), "origin": [x, y]}` (the SDK's `Bitmap.data_2_base64`): its set pixels.
Two vector shapes are compared as plane figures (exact). A bitmap and a vector shape are compared as two masks,
the shape rasterised to the pixels whose centres lie inside it (exact for rectangles with integer corners, which
cover whole pixels; for a polygon, what a raster tool would measure).
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Final

import numpy as np
import shapely
import shapely.errors
from PIL import Image

from labelrounds.quality.clipping import intersection_areas
from labelrounds.quality.png import OneBitImage, decoded_masks, one_bit_rows, unfilter_masks

RECTANGLE: Final = "rectangle"
POLYGON: Final = "polygon"
BITMAP: Final = "bitmap"
SUPPORTED_GEOMETRIES: Final = (RECTANGLE, POLYGON, BITMAP)

_NO_BOX: Final = (0.0, 0.0, 0.0, 0.0)
SNAP_GRID: Final = 1e-3  # pixels; the overlay's fallback precision


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
    bitmaps: np.ndarray  # n bool

    @classmethod
    def of(cls, regions: Sequence[Region]) -> RegionBatch:
        """Pack regions into arrays."""
        return cls(
            regions=tuple(regions),
            boxes=np.array([region.box for region in regions], dtype=float).reshape(-1, 4),
            areas=np.array([region.area for region in regions], dtype=float),
            rectangular=np.array([region.kind == RECTANGLE for region in regions], dtype=bool),
            bitmaps=np.array([region.kind == BITMAP for region in regions], dtype=bool),
        )

    def part(self, start: int, end: int) -> RegionBatch:
        """The regions from `start` to `end`, their arrays views of this batch's (many annotations packed once)."""
        return RegionBatch(
            regions=self.regions[start:end],
            boxes=self.boxes[start:end],
            areas=self.areas[start:end],
            rectangular=self.rectangular[start:end],
            bitmaps=self.bitmaps[start:end],
        )


def region_from_object(obj: Mapping[str, Any]) -> Region:
    """Read the geometry of one Supervisely object (`geometryType` with `points` or `bitmap`).

    Raises:
        GeometryError: the geometry type is not one of rectangle, polygon, bitmap, or its fields are malformed.
    """
    return regions_from_objects([obj])[0]


def regions_from_objects(objects: Sequence[Mapping[str, Any]]) -> list[Region]:
    """Read the geometries of many objects; their polygons are built together (one shapely call, not one each).

    Raises:
        GeometryError: an object's geometry is unknown or malformed (the message names the object's position).
    """
    return read_regions(objects, None)


class MaskCache:
    """Decoded bitmap masks by their `data` string, so that a mask repeated across annotations is decoded once.

    Kept for one scoring call. A mask is kept as the decoder gave it, often a view of a whole batch's array: no copy
    per mask, and the bound counts each array kept alive whole. It forgets everything when what it keeps alive
    would pass `max_pixels` pixels, and keeps nothing from an array larger than that.
    """

    def __init__(self, max_pixels: int = 64_000_000) -> None:
        """An empty cache bounded to `max_pixels` pixels kept alive."""
        self._masks: dict[str, tuple[np.ndarray, int | None]] = {}
        self._owners: dict[int, np.ndarray] = {}  # the arrays kept alive, by id (held, so no id is reused)
        self._pixels = 0
        self._max_pixels = max_pixels

    def get(self, data: object) -> tuple[np.ndarray, int | None] | None:
        """The mask and set-pixel count of a bitmap's `data`, if decoded before."""
        return self._masks.get(data) if isinstance(data, str) else None

    def put(self, data: object, mask: np.ndarray, area: int | None) -> None:
        """Keep a decoded mask (and so the array it is a view of, counted once)."""
        if not isinstance(data, str):
            return
        owner = mask.base if isinstance(mask.base, np.ndarray) else mask
        if id(owner) not in self._owners:
            if owner.size > self._max_pixels:
                return
            if self._pixels + owner.size > self._max_pixels:
                self._masks.clear()
                self._owners.clear()
                self._pixels = 0
            self._owners[id(owner)] = owner
            self._pixels += owner.size
        self._masks[data] = (mask, area)


def read_regions(objects: Sequence[Mapping[str, Any]], masks: MaskCache | None) -> list[Region]:
    """`regions_from_objects`, bitmaps whose `data` is in `masks` not decoded again (and new ones added to it).

    Raises:
        GeometryError: as `regions_from_objects`.
    """
    regions: list[Region | None] = [None] * len(objects)
    polygons: list[tuple[int, Sequence[Sequence[float]], Sequence[Sequence[Sequence[float]]]]] = []
    bitmaps: list[tuple[int, bytes, tuple[int, int]]] = []
    repeated: list[tuple[int, int, tuple[int, int]]] = []  # (position, position of the first with its data, origin)
    first_with_data: dict[str, int] = {}
    for index, obj in enumerate(objects):
        kind = obj.get("geometryType")
        try:
            if kind == RECTANGLE:
                regions[index] = rectangle_region(obj["points"]["exterior"])
            elif kind == POLYGON:
                polygons.append((index, obj["points"]["exterior"], obj["points"].get("interior") or []))
            elif kind == BITMAP:
                bitmap = obj["bitmap"]
                origin = bitmap["origin"]
                origin = int(origin[0]), int(origin[1])  # a malformed origin is refused here, with its index
                data = bitmap["data"]
                known = masks.get(data) if masks is not None else None
                if known is not None:
                    regions[index] = _mask_region(known[0], origin, known[1])
                elif isinstance(data, str) and data in first_with_data:
                    repeated.append((index, first_with_data[data], origin))
                else:
                    if isinstance(data, str):
                        first_with_data[data] = index
                    bitmaps.append((index, _png_bytes(data), origin))
            else:
                raise GeometryError(
                    f"geometry type {kind!r} cannot be scored; supported: {', '.join(SUPPORTED_GEOMETRIES)}"
                )
        except (KeyError, TypeError, AttributeError, IndexError, ValueError) as error:
            detail = (
                error if isinstance(error, GeometryError) else f"{kind} geometry is malformed ({error!r})"
            )
            raise GeometryError(f"object {index}: {detail}") from None
    for (index, _, _), region in zip(polygons, _polygon_regions(polygons), strict=True):
        regions[index] = region
    for (index, _, origin), (mask, area) in zip(bitmaps, _decode_masks(bitmaps), strict=True):
        if masks is not None:
            masks.put(objects[index]["bitmap"]["data"], mask, area)
        regions[index] = _mask_region(mask, origin, area)
    for index, first, origin in repeated:
        decoded = regions[first]
        assert decoded is not None and decoded.mask is not None  # noqa: S101 - the first was decoded above
        regions[index] = _mask_region(decoded.mask, origin, int(decoded.area))
    return [region for region in regions if region is not None]


def rectangle_region(exterior: Sequence[Sequence[float]]) -> Region:
    """A rectangle from its two corners `[[left, top], [right, bottom]]` (in any order, like the SDK)."""
    if len(exterior) != 2:
        raise GeometryError(f"a rectangle needs exactly two exterior points, got {len(exterior)}")
    (x0, y0), (x1, y1) = exterior
    left, right = float(x0), float(x1)
    top, bottom = float(y0), float(y1)
    if right < left:
        left, right = right, left
    if bottom < top:
        top, bottom = bottom, top
    return Region(RECTANGLE, (left, top, right + 1, bottom + 1), (right - left + 1) * (bottom - top + 1))


def polygon_region(
    exterior: Sequence[Sequence[float]], interior: Sequence[Sequence[Sequence[float]]] = ()
) -> Region:
    """A polygon from its exterior ring and its holes; fewer than three vertices make an empty region."""
    return _polygon_regions([(0, exterior, interior)])[0]


def _polygon_regions(
    specs: Sequence[tuple[int, Sequence[Sequence[float]], Sequence[Sequence[Sequence[float]]]]],
) -> list[Region]:
    """Polygons from (position, exterior, holes): those without holes are built in one vectorised call."""
    shapes = np.empty(len(specs), dtype=object)
    simple = [i for i, (_, exterior, holes) in enumerate(specs) if len(exterior) >= 3 and not holes]
    if simple:
        try:
            outlines = [specs[i][1] for i in simple]
            points = [point for outline in outlines for point in outline]
            if any(len(point) != 2 for point in points):
                raise ValueError("a point is not [x, y]")
            coordinates = np.fromiter(chain.from_iterable(points), dtype=float, count=2 * len(points))
            ring_ids = np.repeat(np.arange(len(outlines)), [len(outline) for outline in outlines])
            shapes[simple] = shapely.polygons(
                shapely.linearrings(coordinates.reshape(-1, 2), indices=ring_ids)
            )
        except (ValueError, TypeError, shapely.errors.GEOSException):
            pass  # one bad outline spoils the batch: build them one by one below, to name the bad one
    for i, (index, exterior, holes) in enumerate(specs):
        if shapes[i] is None:
            shapes[i] = _single_polygon(index, exterior, holes)
    invalid = ~shapely.is_valid(shapes)
    if invalid.any():  # self-intersecting outline: measure the area it actually covers
        shapes[invalid] = shapely.make_valid(shapes[invalid])
    areas, bounds = shapely.area(shapes).tolist(), shapely.bounds(shapes).tolist()
    return [
        Region(POLYGON, tuple(box), area, polygon=shape)
        if area > 0
        else Region(POLYGON, _NO_BOX, 0.0, polygon=shape)
        for shape, area, box in zip(shapes, areas, bounds, strict=True)
    ]


def _single_polygon(
    index: int, exterior: Sequence[Sequence[float]], holes: Sequence[Sequence[Sequence[float]]]
) -> shapely.Geometry:
    if len(exterior) < 3:
        return shapely.Polygon()
    try:
        return shapely.Polygon(exterior, [hole for hole in holes if len(hole) >= 3])
    except (ValueError, TypeError, shapely.errors.GEOSException) as error:
        raise GeometryError(f"object {index}: polygon points are malformed ({error})") from None


def bitmap_region(data: str, origin: Sequence[int]) -> Region:
    """A bitmap from its encoded mask and the `[x, y]` of its top-left pixel."""
    return _mask_region(decode_bitmap(data), origin)


def _mask_region(mask: np.ndarray, origin: Sequence[int], area: int | None = None) -> Region:
    x, y = int(origin[0]), int(origin[1])
    rows, columns = mask.shape
    area = int(np.count_nonzero(mask)) if area is None else area
    return Region(BITMAP, (x, y, x + columns, y + rows), float(area), mask=mask)


def decode_bitmap(data: str) -> np.ndarray:
    """The boolean mask of a Supervisely bitmap's `data` (base64 of a zlib-compressed PNG; plain PNG accepted).

    Like the SDK's `Bitmap.base64_2_data`: a pixel is set where the PNG is opaque (palette or alpha transparency)
    or, for a PNG without transparency, non-zero.
    """
    png = _png_bytes(data)
    scanlines = one_bit_rows(png)
    return _decode_png(png) if scanlines is None else unfilter_masks([scanlines])[0]


def _png_bytes(data: str) -> bytes:
    """The PNG inside a bitmap's `data`: base64, then zlib (a plain PNG is accepted)."""
    try:
        raw = binascii.a2b_base64(data, strict_mode=True)  # `base64.b64decode(data, validate=True)`, unwrapped
    except (binascii.Error, ValueError, TypeError):
        raise GeometryError("bitmap data is not base64") from None
    try:
        return zlib.decompress(raw)
    except zlib.error:
        return raw


def _decode_masks(bitmaps: Sequence[tuple[int, bytes, Sequence[int]]]) -> list[tuple[np.ndarray, int | None]]:
    """Masks (and set-pixel counts when known) of (position, PNG, origin): the SDK's PNGs decoded together with
    numpy, any other PNG by Pillow."""
    masks: list[tuple[np.ndarray, int | None] | None] = [None] * len(bitmaps)
    fast: list[int] = []
    rows: list[OneBitImage] = []
    for i, (index, png, _) in enumerate(bitmaps):
        scanlines = one_bit_rows(png)
        if scanlines is None:
            try:
                masks[i] = (_decode_png(png), None)
            except GeometryError as error:
                raise GeometryError(f"object {index}: {error}") from None
        else:
            fast.append(i)
            rows.append(scanlines)
    for i, mask, area in zip(fast, *decoded_masks(rows), strict=True):
        masks[i] = (mask, area)
    return [mask for mask in masks if mask is not None]


def _decode_png(png: bytes) -> np.ndarray:
    """The mask of any PNG Pillow reads (see `decode_bitmap` for which pixels are set)."""
    try:
        image = _palette_png(png)
        if image is not None:
            return _mask_of(image)
        with Image.open(io.BytesIO(png)) as image:
            image.load()
            return _mask_of(image)
    except (OSError, ValueError, SyntaxError, zlib.error):
        raise GeometryError("bitmap data is not a PNG image") from None


_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_PALETTE_RAW_MODES: Final = {1: "P;1", 2: "P;2", 4: "P;4", 8: "P"}


def _palette_png(png: bytes) -> Image.Image | None:
    """A non-interlaced palette PNG (what the SDK writes) decoded by Pillow's PNG (zip) decoder directly.

    `Image.open` costs about twice as much for these small images (format detection, chunk objects); anything
    else returns None and goes through `Image.open`.
    """
    if not png.startswith(_PNG_SIGNATURE):
        return None
    chunks: dict[bytes, list[bytes]] = {}
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(png):
        length = int.from_bytes(png[position : position + 4], "big")
        kind = png[position + 4 : position + 8]
        chunks.setdefault(kind, []).append(png[position + 8 : position + 8 + length])
        position += 12 + length
    header = chunks.get(b"IHDR", [b""])[0]
    if len(header) != 13 or b"IDAT" not in chunks:
        return None
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    bit_depth, colour_type, interlace = header[8], header[9], header[12]
    if colour_type != 3 or interlace != 0 or bit_depth not in _PALETTE_RAW_MODES or not width or not height:
        return None
    image = Image.frombytes(
        "P", (width, height), b"".join(chunks[b"IDAT"]), "zip", _PALETTE_RAW_MODES[bit_depth]
    )
    if b"tRNS" in chunks:
        image.info["transparency"] = chunks[b"tRNS"][0]
    return image


def _mask_of(image: Image.Image) -> np.ndarray:
    if image.mode == "P":
        width, height = image.size
        pixels = np.frombuffer(image.tobytes(), dtype=np.uint8).reshape(height, width)
        transparency = image.info.get("transparency")
        if transparency == b"\x00":  # the SDK's form: index 0 transparent, every other index opaque
            return pixels != 0
        if isinstance(transparency, int):
            return pixels != transparency
        if isinstance(transparency, bytes):
            alpha = np.full(256, 255, dtype=np.uint8)
            alpha[: len(transparency)] = np.frombuffer(transparency, dtype=np.uint8)[:256]
            transparent = np.flatnonzero(alpha == 0)
            if len(transparent) == 1:  # the SDK's form: one transparent index (a comparison, not a lookup)
                return pixels != transparent[0]
            return alpha[pixels] > 0
        return pixels != 0
    pixels = np.asarray(image)
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
    min_iou: float = 0.0,
) -> np.ndarray:
    """The IoU of every region of `first` (rows) with every region of `second` (columns).

    Rectangle pairs are computed together with numpy; a pair involving a polygon or a bitmap is computed exactly
    only when the boxes overlap.

    Args:
        first: Regions of one annotation, or their `RegionBatch`.
        second: Regions of the other annotation, or their `RegionBatch`.
        where: Optional boolean matrix (rows x columns): pairs outside it are not computed and get 0 (e.g. pairs
            of different classes).
        min_iou: Pairs whose boxes and areas prove an IoU below this are not computed exactly and get 0 (for
            matching at a threshold, where only pairs at or above it matter).
    """
    return iou_matrices([(first, second, where)], min_iou)[0]


def iou_matrices(
    jobs: Sequence[tuple[Sequence[Region] | RegionBatch, Sequence[Region] | RegionBatch, np.ndarray | None]],
    min_iou: float = 0.0,
) -> list[np.ndarray]:
    """`iou_matrix(first, second, where, min_iou)` of many `(first, second, where)` at once.

    Every pair of every job is one element of the same flat arrays (numpy's per-call costs are paid once, not once
    per job), and the polygon intersections of all of them are computed together.
    """
    if not jobs:
        return []
    batches = [
        (
            first if isinstance(first, RegionBatch) else RegionBatch.of(first),
            second if isinstance(second, RegionBatch) else RegionBatch.of(second),
        )
        for first, second, _ in jobs
    ]
    shapes = [(len(a.regions), len(b.regions)) for a, b in batches]
    sizes = np.array([rows * columns for rows, columns in shapes], dtype=np.intp)
    pairs = _Pairs.of(batches, [where for _, _, where in jobs], shapes, sizes)
    intersection, union, exact = _plan(pairs, min_iou)
    vector_pairs: list[int] = []
    regions_a, regions_b = pairs.regions_a, pairs.regions_b
    for pair, first, second in zip(*_exact_pairs(exact, pairs), strict=True):
        region_a, region_b = regions_a[first], regions_b[second]
        if region_a.mask is None and region_b.mask is None:
            vector_pairs.append(pair)
        else:
            overlap, raster_areas = _raster_intersection(region_a, region_b)
            intersection[pair] = overlap
            union[pair] = raster_areas - overlap
    if vector_pairs:
        chosen = np.array(vector_pairs, dtype=np.intp)
        shapes_a = np.array([regions_a[first].shape() for first in pairs.first[chosen].tolist()], dtype=object)
        shapes_b = np.array([regions_b[second].shape() for second in pairs.second[chosen].tolist()], dtype=object)
        overlaps = _vector_intersection_areas(shapes_a, shapes_b)
        intersection[chosen] = overlaps
        union[chosen] = pairs.areas_a[chosen] + pairs.areas_b[chosen] - overlaps
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.clip(np.where(union > 0, intersection / union, 0.0), 0.0, 1.0)
    return [
        part.reshape(shape) for part, shape in zip(np.split(ratio, np.cumsum(sizes)[:-1]), shapes, strict=True)
    ]


@dataclass(frozen=True, slots=True, eq=False)
class _Pairs:
    """Every (row, column) pair of every job as flat arrays: the two regions (indices into all the jobs' regions
    laid end to end), their boxes, areas and kinds, and whether the job's `where` lets the pair be computed."""

    regions_a: list[Region]
    regions_b: list[Region]
    first: np.ndarray
    second: np.ndarray
    boxes_a: np.ndarray
    boxes_b: np.ndarray
    areas_a: np.ndarray
    areas_b: np.ndarray
    rectangular: np.ndarray  # both rectangles
    mixed: np.ndarray  # a bitmap and a polygon
    allowed: np.ndarray

    @classmethod
    def of(
        cls,
        batches: Sequence[tuple[RegionBatch, RegionBatch]],
        wheres: Sequence[np.ndarray | None],
        shapes: Sequence[tuple[int, int]],
        sizes: np.ndarray,
    ) -> _Pairs:
        """The pairs of the jobs `batches` (their `where` masks, shapes and pair counts)."""
        local = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        columns = np.repeat(np.array([shape[1] for shape in shapes], dtype=np.intp), sizes)
        offsets_a = np.cumsum([0] + [rows for rows, _ in shapes])[:-1]
        offsets_b = np.cumsum([0] + [columns for _, columns in shapes])[:-1]
        first = np.repeat(offsets_a.astype(np.intp), sizes) + local // np.maximum(columns, 1)
        second = np.repeat(offsets_b.astype(np.intp), sizes) + local % np.maximum(columns, 1)
        a_parts, b_parts = [a for a, _ in batches], [b for _, b in batches]
        rectangular_a, rectangular_b = _joined(a_parts, "rectangular")[first], _joined(b_parts, "rectangular")[second]
        bitmaps_a, bitmaps_b = _joined(a_parts, "bitmaps")[first], _joined(b_parts, "bitmaps")[second]
        polygons_a, polygons_b = ~rectangular_a & ~bitmaps_a, ~rectangular_b & ~bitmaps_b
        allowed = [
            np.ones(rows * columns, dtype=bool)
            if where is None
            else np.broadcast_to(np.asarray(where).astype(bool), (rows, columns)).ravel()
            for where, (rows, columns) in zip(wheres, shapes, strict=True)
        ]
        return cls(
            regions_a=[region for a in a_parts for region in a.regions],
            regions_b=[region for b in b_parts for region in b.regions],
            first=first,
            second=second,
            boxes_a=_joined(a_parts, "boxes")[first],
            boxes_b=_joined(b_parts, "boxes")[second],
            areas_a=_joined(a_parts, "areas")[first],
            areas_b=_joined(b_parts, "areas")[second],
            rectangular=rectangular_a & rectangular_b,
            mixed=(bitmaps_a & polygons_b) | (polygons_a & bitmaps_b),
            allowed=np.concatenate(allowed),
        )


def _joined(batches: Sequence[RegionBatch], field: str) -> np.ndarray:
    """One of the batches' array fields, laid end to end (there is at least one batch)."""
    return np.concatenate([getattr(batch, field) for batch in batches])


def _plan(pairs: _Pairs, min_iou: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The box-overlap intersections and unions of the pairs, and which pairs to compute exactly."""
    a, b = pairs.boxes_a, pairs.boxes_b
    overlap_width = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    overlap_height = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    intersection = np.clip(overlap_width, 0, None) * np.clip(overlap_height, 0, None)
    intersection = np.where(pairs.allowed, intersection, 0.0)
    exact = (intersection > 0) & ~pairs.rectangular
    if min_iou > 0 and exact.any():
        exact &= _may_reach(intersection, pairs, min_iou)
        intersection = np.where(exact | pairs.rectangular, intersection, 0.0)
    union = pairs.areas_a + pairs.areas_b - intersection
    return intersection, union, exact


def _may_reach(box_overlap: np.ndarray, pairs: _Pairs, min_iou: float) -> np.ndarray:
    """Pairs whose IoU may reach `min_iou`: the intersection is at most the boxes' overlap and the smaller area.

    A bitmap-polygon pair is always kept: it is compared with the polygon's pixel count, not its plane area.
    """
    areas_a, areas_b = pairs.areas_a, pairs.areas_b
    most = np.minimum(box_overlap, np.minimum(areas_a, areas_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(areas_a + areas_b - most > 0, most / (areas_a + areas_b - most), 0.0)
    return pairs.mixed | (bound >= min_iou - 1e-9)


def _exact_pairs(exact: np.ndarray, pairs: _Pairs) -> tuple[list[int], list[int], list[int]]:
    """The flat positions of the pairs to compute exactly, and their two regions' indices."""
    chosen = np.flatnonzero(exact)
    return chosen.tolist(), pairs.first[chosen].tolist(), pairs.second[chosen].tolist()


def _vector_intersection_areas(shapes_a: np.ndarray, shapes_b: np.ndarray) -> np.ndarray:
    """Areas of the pairwise intersections of two arrays of plane figures."""
    areas = intersection_areas(shapes_a, shapes_b)
    left_out = np.isnan(areas)
    if left_out.any():  # touching edges, holes, multi-part shapes: GEOS's overlay
        areas[left_out] = _overlay_areas(shapes_a[left_out], shapes_b[left_out])
    return areas


def _overlay_areas(shapes_a: np.ndarray, shapes_b: np.ndarray) -> np.ndarray:
    try:
        return shapely.area(shapely.intersection(shapes_a, shapes_b))
    except shapely.errors.GEOSException:
        # GEOS's floating-point overlay can fail on nearly coincident edges (TopologyException); snap rounding
        # to a 1/1000 pixel grid is robust and changes areas by far less than a pixel.
        return shapely.area(shapely.intersection(shapes_a, shapes_b, grid_size=SNAP_GRID))


def _raster_intersection(a: Region, b: Region) -> tuple[float, float]:
    """Common set pixels of a bitmap and another region, and the sum of both regions' pixel counts."""
    if a.mask is None:
        a, b = b, a
    assert a.mask is not None  # noqa: S101 - one of the two is a bitmap by construction
    if b.mask is not None:
        window = _pixel_window(a.box, b.box)
        overlap = 0.0 if window is None else float(np.count_nonzero(_crop(a, window) & _crop(b, window)))
        return overlap, a.area + b.area
    # Pixel x is inside [left, right) when its centre x + 0.5 is: x >= left - 0.5 and x < right - 0.5.
    shape_window = tuple(math.ceil(edge - 0.5) for edge in b.box)
    shape_left, shape_top, shape_right, shape_bottom = shape_window
    inside = None  # rectangles: every pixel of their window
    if b.kind == RECTANGLE:
        shape_pixels = max(shape_right - shape_left, 0) * max(shape_bottom - shape_top, 0)
    else:
        xs, ys = np.meshgrid(
            np.arange(shape_left, shape_right) + 0.5, np.arange(shape_top, shape_bottom) + 0.5
        )
        inside = shapely.contains_xy(b.shape(), xs, ys)
        shape_pixels = int(np.count_nonzero(inside))
    window = _pixel_window(a.box, shape_window)
    if window is None:
        return 0.0, a.area + shape_pixels
    crop = _crop(a, window)
    if inside is not None:
        left, top, right, bottom = window
        crop = crop & inside[top - shape_top : bottom - shape_top, left - shape_left : right - shape_left]
    return float(np.count_nonzero(crop)), a.area + shape_pixels


def _pixel_window(first: tuple[float, ...], second: tuple[float, ...]) -> tuple[int, int, int, int] | None:
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
