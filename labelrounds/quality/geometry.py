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
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Final

import numpy as np
import shapely
import shapely.errors
from PIL import Image

from labelrounds.quality.clipping import intersection_areas
from labelrounds.quality.masks import mask_overlaps
from labelrounds.quality.png import (
    PackedMasks,
    inflate,
    one_bit_rows,
    pack_masks,
    scanlines_of,
    sdk_scanlines,
    unfiltered_scanlines,
    unpacked,
)

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
    packed: np.ndarray | None = (
        None  # bitmaps only: packed rows (see `png.PackedMasks`), top-left at box[0:2]
    )

    @property
    def mask(self) -> np.ndarray | None:
        """A bitmap's mask as booleans (rows x columns, top-left pixel at box[0], box[1]); None for other kinds."""
        return None if self.packed is None else unpacked(self.packed, int(self.box[2] - self.box[0]))

    def shape(self) -> shapely.Geometry:
        """The region as a plane figure (rectangles and polygons)."""
        if self.polygon is not None:
            return self.polygon
        return shapely.box(*self.box)


_KIND_NAMES: Final = (RECTANGLE, POLYGON, BITMAP)
_RECTANGLE_CODE, _POLYGON_CODE, _BITMAP_CODE = range(3)


@dataclass(frozen=True, slots=True, eq=False)
class RegionBatch:
    """Regions as arrays (kinds, boxes, areas, polygons, packed masks), so that a whole IoU matrix is a few numpy
    operations and one compiled pass; `regions` gives them as `Region` objects, built when first asked for."""

    kinds: np.ndarray  # n int8: 0 rectangle, 1 polygon, 2 bitmap
    boxes: np.ndarray  # n x 4 float
    areas: np.ndarray  # n float
    polygons: np.ndarray  # n object: shapely polygons, None for other kinds
    masks: PackedMasks  # the bitmaps' masks
    mask_index: np.ndarray  # n int64: a bitmap's mask in `masks`, -1 for other kinds
    _regions: list[tuple[Region, ...]] = field(default_factory=list, repr=False)  # built once, when asked for

    @property
    def regions(self) -> tuple[Region, ...]:
        """The regions as `Region` objects (masks as views of the batch's packed buffer)."""
        if not self._regions:
            self._regions.append(tuple(self.region(index) for index in range(len(self))))
        return self._regions[0]

    def region(self, index: int) -> Region:
        """Region `index` as a `Region` object."""
        mask = int(self.mask_index[index])
        return Region(
            _KIND_NAMES[self.kinds[index]],
            tuple(self.boxes[index].tolist()),
            float(self.areas[index]),
            polygon=self.polygons[index],
            packed=None if mask < 0 else self.masks.rows(mask),
        )

    def shapes(self, indices: np.ndarray) -> np.ndarray:
        """Regions `indices` (rectangles and polygons) as plane figures."""
        shapes = self.polygons[indices]
        boxes = self.kinds[indices] == _RECTANGLE_CODE
        if boxes.any():
            shapes[boxes] = shapely.box(*self.boxes[indices[boxes]].T)
        return shapes

    def __len__(self) -> int:
        """How many regions."""
        return len(self.kinds)

    @classmethod
    def of(cls, regions: Sequence[Region]) -> RegionBatch:
        """Pack regions into arrays (their masks copied into one buffer)."""
        bitmaps = [region for region in regions if region.packed is not None]
        mask_index = np.full(len(regions), -1, dtype=np.int64)
        mask_index[[i for i, region in enumerate(regions) if region.packed is not None]] = np.arange(
            len(bitmaps)
        )
        polygons = np.empty(len(regions), dtype=object)
        polygons[:] = [region.polygon for region in regions]
        return cls(
            kinds=np.array([_KIND_NAMES.index(region.kind) for region in regions], dtype=np.int8),
            boxes=np.array([region.box for region in regions], dtype=float).reshape(-1, 4),
            areas=np.array([region.area for region in regions], dtype=float),
            polygons=polygons,
            masks=_packed_of(bitmaps),
            mask_index=mask_index,
        )

    def part(self, start: int, end: int) -> RegionBatch:
        """The regions from `start` to `end`, their arrays views of this batch's (many annotations packed once)."""
        return RegionBatch(
            kinds=self.kinds[start:end],
            boxes=self.boxes[start:end],
            areas=self.areas[start:end],
            polygons=self.polygons[start:end],
            masks=self.masks,
            mask_index=self.mask_index[start:end],
        )

    @classmethod
    def joined(cls, batches: Sequence[RegionBatch]) -> RegionBatch:
        """The regions of all `batches` laid end to end; when they all use one mask buffer they keep using it,
        otherwise the masks they use are copied into a new one."""
        mask_index = np.concatenate([batch.mask_index for batch in batches])
        sources = {id(batch.masks): batch.masks for batch in batches}
        if len(sources) == 1:
            masks = batches[0].masks
        else:
            # Each source's masks in use gathered in one go (not batch by batch), the indices renumbered to match.
            source_keys = list(sources)
            region_source = np.repeat(
                np.array([source_keys.index(id(batch.masks)) for batch in batches]),
                [len(batch) for batch in batches],
            )
            parts, gathered = [], 0
            for number, source in enumerate(sources.values()):
                used = (region_source == number) & (mask_index >= 0)
                parts.append((source, mask_index[used]))
                mask_index[used] = np.arange(gathered, gathered + len(parts[-1][1]))
                gathered += len(parts[-1][1])
            masks = _gathered(parts)
        return cls(
            kinds=np.concatenate([batch.kinds for batch in batches]),
            boxes=np.concatenate([batch.boxes for batch in batches]).reshape(-1, 4),
            areas=np.concatenate([batch.areas for batch in batches]),
            polygons=np.concatenate([batch.polygons for batch in batches]),
            masks=masks,
            mask_index=mask_index,
        )


def _gathered(parts: Sequence[tuple[PackedMasks, np.ndarray]]) -> PackedMasks:
    """The masks `indices` of each `(masks, indices)` part, in that order, copied into one buffer."""
    return PackedMasks.laid_end_to_end(
        np.concatenate([_bytes_of(masks, chosen) for masks, chosen in parts]),
        *(np.concatenate([getattr(masks, name)[chosen] for masks, chosen in parts]) for name in _MASK_SIZES),
    )


_MASK_SIZES: Final = ("widths", "heights", "areas")


def _bytes_of(masks: PackedMasks, chosen: np.ndarray) -> np.ndarray:
    """The bytes of masks `chosen`, laid end to end."""
    sizes = masks.heights[chosen] * ((masks.widths[chosen] + 7) // 8)
    ends = np.cumsum(sizes)
    # Byte k of the result belongs to mask i = the first whose end passes k, at offsets[i] + k - (end - size).
    return masks.buffer[
        np.repeat(masks.offsets[chosen] - (ends - sizes), sizes)
        + np.arange(int(ends[-1]) if len(ends) else 0)
    ]


def _packed_of(bitmaps: Sequence[Region]) -> PackedMasks:
    """The packed masks of bitmap regions, copied into one buffer."""
    rows = [region.packed for region in bitmaps if region.packed is not None]
    return PackedMasks.laid_end_to_end(
        np.concatenate([part.ravel() for part in rows]) if rows else np.empty(0, dtype=np.uint8),
        np.array([int(region.box[2] - region.box[0]) for region in bitmaps], dtype=np.int64),
        np.array([part.shape[0] for part in rows], dtype=np.int64),
        np.array([int(region.area) for region in bitmaps], dtype=np.int64),
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
    return list(read_batch(objects, None).regions)


class MaskCache(dict[str, tuple[bytes, int]]):
    """Inflated bitmap pixel data (filtered scanlines, width) by the bitmap's `data` string, so that a mask
    repeated across annotations is inflated once (base64, zlib and the PNG's own zlib skipped; unfiltering it
    again costs little). A dict, so that a lookup is a plain `get` and a new entry a plain assignment.

    Kept for one scoring call and bounded between reads: a read that finds it holding more than `max_bytes` bytes
    of pixel data empties it first (so it holds at most `max_bytes` plus one read's worth).
    """

    def __init__(self, max_bytes: int = 16_000_000) -> None:
        """An empty cache bounded to `max_bytes` bytes of pixel data."""
        super().__init__()
        self._bytes = 0
        self._max_bytes = max_bytes

    def make_room(self) -> None:
        """Forget everything if the pixel data kept passes the bound (before a read)."""
        if self._bytes > self._max_bytes:
            self.clear()
            self._bytes = 0

    def added(self, size: int) -> None:
        """Count `size` bytes of pixel data added by a read."""
        self._bytes += size


def read_batch(objects: Sequence[Mapping[str, Any]], cache: MaskCache | None) -> RegionBatch:
    """The geometries of many objects as a `RegionBatch`: rectangles and polygons read together, every bitmap's
    PNG inflated (or found in `cache`) and all of them unfiltered in one compiled pass.

    Raises:
        GeometryError: an object's geometry is unknown or malformed (the message names the object's position).
    """
    cache = MaskCache() if cache is None else cache
    cache.make_room()
    added = 0
    count = len(objects)
    kinds = np.zeros(count, dtype=np.int8)
    rectangles: list[int] = []
    corners: list[float] = []
    polygons: list[tuple[int, Sequence[Sequence[float]], Sequence[Sequence[Sequence[float]]]]] = []
    bitmaps: list[int] = []
    scanlines: list[bytes] = []
    widths: list[int] = []
    origins: list[Any] = []
    for index, obj in enumerate(objects):
        kind = obj.get("geometryType")
        try:
            if kind == RECTANGLE:
                exterior = obj["points"]["exterior"]
                if len(exterior) != 2:
                    raise GeometryError(f"a rectangle needs exactly two exterior points, got {len(exterior)}")
                (x0, y0), (x1, y1) = exterior
                corners += (float(x0), float(y0), float(x1), float(y1))
                rectangles.append(index)
            elif kind == POLYGON:
                polygons.append((index, obj["points"]["exterior"], obj["points"].get("interior") or []))
            elif kind == BITMAP:
                bitmap = obj["bitmap"]
                origins.append(bitmap["origin"])  # checked together below (one malformed: named then)
                data = bitmap["data"]
                known = cache.get(data) if type(data) is str else None  # noqa: E721 - exactly str, as JSON gives
                if known is None:
                    known = _scanlines(data)
                    if type(data) is str:  # noqa: E721
                        cache[data] = known
                        added += len(known[0])
                scanlines.append(known[0])
                widths.append(known[1])
                bitmaps.append(index)
            else:
                raise GeometryError(
                    f"geometry type {kind!r} cannot be scored; supported: {', '.join(SUPPORTED_GEOMETRIES)}"
                )
        except (KeyError, TypeError, AttributeError, IndexError, ValueError) as error:
            detail = (
                error if isinstance(error, GeometryError) else f"{kind} geometry is malformed ({error!r})"
            )
            raise GeometryError(f"object {index}: {detail}") from None
    boxes = np.zeros((count, 4))
    areas = np.zeros(count)
    shapes = np.empty(count, dtype=object)
    if rectangles:
        kinds[rectangles] = _RECTANGLE_CODE
        boxes[rectangles], areas[rectangles] = _rectangle_boxes(np.array(corners).reshape(-1, 4))
    if polygons:
        chosen = [index for index, _, _ in polygons]
        kinds[chosen] = _POLYGON_CODE
        shapes[chosen], areas[chosen], boxes[chosen] = _polygon_shapes(polygons)
    cache.added(added)
    masks = pack_masks(scanlines, widths)
    mask_index = np.full(count, -1, dtype=np.int64)
    if bitmaps:
        kinds[bitmaps] = _BITMAP_CODE
        mask_index[bitmaps] = np.arange(len(bitmaps))
        corner = _origins(origins, bitmaps).astype(float)
        boxes[bitmaps] = np.column_stack([corner, corner + np.column_stack([masks.widths, masks.heights])])
        areas[bitmaps] = masks.areas
    return RegionBatch(kinds, boxes, areas, shapes, masks, mask_index)


def _origins(origins: list[Any], positions: list[int]) -> np.ndarray:
    """Bitmap origins `[x, y]` as integers (n x 2), truncated as `int` does.

    Raises:
        GeometryError: an origin is not two numbers (named by its object's position).
    """
    try:
        return np.array(origins, dtype=np.int64).reshape(len(origins), 2)
    except (TypeError, ValueError, OverflowError):
        for origin, position in zip(origins, positions, strict=True):
            try:
                if len(origin) != 2:
                    raise ValueError(f"an origin is [x, y], got {len(origin)} values")
                int(origin[0]), int(origin[1])
            except (TypeError, ValueError, OverflowError, KeyError) as error:
                raise GeometryError(f"object {position}: bitmap geometry is malformed ({error!r})") from None
        raise GeometryError("bitmap origins are out of range") from None


def _rectangle_boxes(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and areas of rectangles from their corners `x0, y0, x1, y1` (in any order, like the SDK): a rectangle
    includes its right and bottom pixels."""
    low = np.minimum(corners[:, :2], corners[:, 2:])
    high = np.maximum(corners[:, :2], corners[:, 2:]) + 1
    return np.column_stack([low, high]), np.prod(high - low, axis=1)


def _scanlines(data: object) -> tuple[bytes, int]:
    """A bitmap `data`'s PNG pixel data as filtered 1-bit scanlines, and its width (any PNG Pillow reads)."""
    png = _png_bytes(data)
    found = sdk_scanlines(png)
    if found is not None:
        return found
    image = one_bit_rows(png)
    if image is not None:
        return scanlines_of(image), image.width
    mask = _decode_png(png)
    return unfiltered_scanlines(mask), mask.shape[1]


def rectangle_region(exterior: Sequence[Sequence[float]]) -> Region:
    """A rectangle from its two corners `[[left, top], [right, bottom]]` (in any order, like the SDK)."""
    return region_from_object({"geometryType": RECTANGLE, "points": {"exterior": exterior}})


def polygon_region(
    exterior: Sequence[Sequence[float]], interior: Sequence[Sequence[Sequence[float]]] = ()
) -> Region:
    """A polygon from its exterior ring and its holes; fewer than three vertices make an empty region."""
    shapes, areas, boxes = _polygon_shapes([(0, exterior, interior)])
    return Region(POLYGON, tuple(boxes[0].tolist()), float(areas[0]), polygon=shapes[0])


def _polygon_shapes(
    specs: Sequence[tuple[int, Sequence[Sequence[float]], Sequence[Sequence[Sequence[float]]]]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Polygons from (position, exterior, holes), their areas and boxes (an empty one's box is all zeros); those
    without holes are built in one vectorised call."""
    shapes = np.empty(len(specs), dtype=object)
    simple = [i for i, (_, exterior, holes) in enumerate(specs) if len(exterior) >= 3 and not holes]
    if simple:
        try:
            outlines = [specs[i][1] for i in simple]
            points = [point for outline in outlines for point in outline]
            if set(map(len, points)) != {2}:
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
    areas = shapely.area(shapes)
    boxes = shapely.bounds(shapes)
    boxes[~(areas > 0)] = _NO_BOX
    return shapes, np.where(areas > 0, areas, 0.0), boxes


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
    return region_from_object({"geometryType": BITMAP, "bitmap": {"data": data, "origin": origin}})


def decode_bitmap(data: str) -> np.ndarray:
    """The boolean mask of a Supervisely bitmap's `data` (base64 of a zlib-compressed PNG; plain PNG accepted).

    Like the SDK's `Bitmap.base64_2_data`: a pixel is set where the PNG is opaque (palette or alpha transparency)
    or, for a PNG without transparency, non-zero.
    """
    scanlines, width = _scanlines(data)
    return pack_masks([scanlines], [width]).mask(0)


def _png_bytes(data: str) -> bytes:
    """The PNG inside a bitmap's `data`: base64, then zlib (a plain PNG is accepted)."""
    try:
        raw = binascii.a2b_base64(
            data, strict_mode=True
        )  # `base64.b64decode(data, validate=True)`, unwrapped
    except (binascii.Error, ValueError, TypeError):
        raise GeometryError("bitmap data is not base64") from None
    png = inflate(raw)
    return raw if png is None else png


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
    per job): the polygon intersections of all of them are computed together, and so are the bitmap overlaps.
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
    shapes = [(len(a), len(b)) for a, b in batches]
    sizes = np.array([rows * columns for rows, columns in shapes], dtype=np.intp)
    pairs = _Pairs.of(batches, [where for _, _, where in jobs], shapes, sizes)
    intersection, union, exact = _plan(pairs, min_iou)
    chosen = np.flatnonzero(exact)
    regions = pairs.regions
    first, second = pairs.first[chosen], pairs.second[chosen]
    kinds_a, kinds_b = regions.kinds[first], regions.kinds[second]
    masks = (kinds_a == _BITMAP_CODE) & (kinds_b == _BITMAP_CODE)
    vectors = (kinds_a != _BITMAP_CODE) & (kinds_b != _BITMAP_CODE)
    if masks.any():
        a, b = first[masks], second[masks]
        overlaps = mask_overlaps(
            regions.masks,
            regions.mask_index[a],
            regions.boxes[a, :2],
            regions.mask_index[b],
            regions.boxes[b, :2],
        )
        intersection[chosen[masks]] = overlaps
        union[chosen[masks]] = regions.areas[a] + regions.areas[b] - overlaps
    if vectors.any():
        a, b = first[vectors], second[vectors]
        overlaps = _vector_intersection_areas(regions.shapes(a), regions.shapes(b))
        intersection[chosen[vectors]] = overlaps
        union[chosen[vectors]] = regions.areas[a] + regions.areas[b] - overlaps
    rasters = ~masks & ~vectors
    for pair, a, b in zip(
        chosen[rasters].tolist(), first[rasters].tolist(), second[rasters].tolist(), strict=True
    ):
        overlap, raster_areas = _raster_intersection(regions.region(a), regions.region(b))
        intersection[pair] = overlap
        union[pair] = raster_areas - overlap
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.clip(np.where(union > 0, intersection / union, 0.0), 0.0, 1.0)
    return [
        part.reshape(shape)
        for part, shape in zip(np.split(ratio, np.cumsum(sizes)[:-1]), shapes, strict=True)
    ]


@dataclass(frozen=True, slots=True, eq=False)
class _Pairs:
    """Every (row, column) pair of every job as flat arrays: the two regions (indices into `regions`, all the
    jobs' regions laid end to end, first sides then second sides), their boxes and areas, whether both are
    rectangles or one a bitmap and the other a polygon, and whether the job's `where` lets the pair be computed."""

    regions: RegionBatch
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
        offsets_b = np.cumsum([0] + [columns for _, columns in shapes])[:-1] + sum(rows for rows, _ in shapes)
        first = np.repeat(offsets_a.astype(np.intp), sizes) + local // np.maximum(columns, 1)
        second = np.repeat(offsets_b.astype(np.intp), sizes) + local % np.maximum(columns, 1)
        regions = RegionBatch.joined([a for a, _ in batches] + [b for _, b in batches])
        kinds_a, kinds_b = regions.kinds[first], regions.kinds[second]
        allowed = [
            _allowed(where, rows, columns) for where, (rows, columns) in zip(wheres, shapes, strict=True)
        ]
        return cls(
            regions=regions,
            first=first,
            second=second,
            boxes_a=regions.boxes[first],
            boxes_b=regions.boxes[second],
            areas_a=regions.areas[first],
            areas_b=regions.areas[second],
            rectangular=(kinds_a == _RECTANGLE_CODE) & (kinds_b == _RECTANGLE_CODE),
            mixed=kinds_a + kinds_b == _POLYGON_CODE + _BITMAP_CODE,  # the only kinds adding up to 3
            allowed=np.concatenate(allowed),
        )


def _allowed(where: np.ndarray | None, rows: int, columns: int) -> np.ndarray:
    """A job's `where` as a flat boolean array of its rows x columns pairs (all of them when None)."""
    if where is None:
        return np.ones(rows * columns, dtype=bool)
    if isinstance(where, np.ndarray) and where.dtype == bool and where.shape == (rows, columns):
        return where.ravel()  # the usual same-class matrix, as it is
    return np.broadcast_to(np.asarray(where).astype(bool), (rows, columns)).ravel()


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
    """Common set pixels of a bitmap and a rectangle or polygon, and the sum of both regions' pixel counts."""
    if a.packed is None:
        a, b = b, a
    mask = a.mask
    assert mask is not None  # noqa: S101 - one of the two is a bitmap by construction
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
    left, top, right, bottom = window
    x, y = int(a.box[0]), int(a.box[1])
    crop = mask[top - y : bottom - y, left - x : right - x]
    if inside is not None:
        crop = crop & inside[top - shape_top : bottom - shape_top, left - shape_left : right - shape_left]
    return float(np.count_nonzero(crop)), a.area + shape_pixels


def _pixel_window(first: tuple[float, ...], second: tuple[float, ...]) -> tuple[int, int, int, int] | None:
    left, top = int(max(first[0], second[0])), int(max(first[1], second[1]))
    right, bottom = int(min(first[2], second[2])), int(min(first[3], second[3]))
    if right <= left or bottom <= top:
        return None
    return left, top, right, bottom
