"""Image annotations (`annotations.*`): an `Annotation` of `Label`s, each with a typed geometry.

Coordinates are the wire's (subpixel, pixel edges), exactly as stored; the official SDK converts them to pixel
indices on its side (a rectangle's right/bottom and every polygon vertex differ by 1 and 0.5). Geometries other
than rectangle, polygon and bitmap are kept raw (`RawGeometry`), so an annotation read and written back loses
nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from labelrounds.client.models.base import ListOrNull, WireModel

Point = tuple[float, float]
# Keys of a wire object that are not its geometry.
_LABEL_KEYS = frozenset(
    {
        "id",
        "classId",
        "classTitle",
        "description",
        "geometryType",
        "shape",
        "tags",
        "labelerLogin",
        "createdAt",
        "updatedAt",
        "nnCreated",
        "nnUpdated",
        "geometry",
    }
)


class _Geometry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Rectangle(_Geometry):
    """An axis-aligned box: wire `points.exterior` `[[left, top], [right, bottom]]`."""

    kind: Literal["rectangle"] = "rectangle"
    left: float
    top: float
    right: float
    bottom: float

    @model_validator(mode="after")
    def _ordered(self) -> Rectangle:
        if self.left > self.right or self.top > self.bottom:
            raise ValueError("a rectangle needs left <= right and top <= bottom")
        return self

    @property
    def geometry_type(self) -> str:
        """The wire `geometryType`."""
        return self.kind

    def to_wire(self) -> dict[str, Any]:
        """The object's geometry keys."""
        return {"points": {"exterior": [[self.left, self.top], [self.right, self.bottom]], "interior": []}}


class Polygon(_Geometry):
    """A polygon: an `exterior` ring of at least 3 [x, y] points and `interior` holes."""

    kind: Literal["polygon"] = "polygon"
    exterior: tuple[Point, ...] = Field(min_length=3)
    interior: tuple[tuple[Point, ...], ...] = ()

    @property
    def geometry_type(self) -> str:
        """The wire `geometryType`."""
        return self.kind

    def to_wire(self) -> dict[str, Any]:
        """The object's geometry keys."""
        return {
            "points": {
                "exterior": [list(point) for point in self.exterior],
                "interior": [[list(point) for point in ring] for ring in self.interior],
            }
        }


class Bitmap(_Geometry):
    """A mask: `origin` [x, y] of its top-left pixel and `data`, base64 of a zlib-compressed PNG."""

    kind: Literal["bitmap"] = "bitmap"
    origin: tuple[int, int]
    data: str = Field(min_length=1)

    @property
    def geometry_type(self) -> str:
        """The wire `geometryType`."""
        return self.kind

    def to_wire(self) -> dict[str, Any]:
        """The object's geometry keys."""
        return {"bitmap": {"origin": list(self.origin), "data": self.data}}


class RawGeometry(_Geometry):
    """A geometry this client does not model (line, point, graph, …), with its wire keys kept as they came."""

    kind: Literal["raw"] = "raw"
    type_name: str = Field(min_length=1)
    fields: dict[str, Any] = Field(default_factory=dict)

    @property
    def geometry_type(self) -> str:
        """The wire `geometryType`."""
        return self.type_name

    def to_wire(self) -> dict[str, Any]:
        """The object's geometry keys, unchanged."""
        return dict(self.fields)


Geometry = Rectangle | Polygon | Bitmap | RawGeometry


class _WirePoints(BaseModel):
    """The wire's `points` key."""

    exterior: list[Point]
    interior: ListOrNull[list[Point]] = Field(default_factory=list)


def geometry_from_wire(geometry_type: str, item: dict[str, Any]) -> Geometry:
    """The typed geometry of a wire object (`points` or `bitmap` keys), raw for unknown types.

    Raises:
        ValueError: the geometry keys do not fit the type (pydantic reports it as a validation error).
    """
    if geometry_type in ("rectangle", "polygon"):
        points = _WirePoints.model_validate(item.get("points"))
        if geometry_type == "polygon":
            return Polygon(exterior=tuple(points.exterior), interior=tuple(map(tuple, points.interior)))
        if len(points.exterior) != 2:
            raise ValueError(f"a rectangle needs 2 exterior points, got {len(points.exterior)}")
        (x1, y1), (x2, y2) = points.exterior
        return Rectangle(left=min(x1, x2), top=min(y1, y2), right=max(x1, x2), bottom=max(y1, y2))
    if geometry_type == "bitmap":
        return Bitmap.model_validate(item.get("bitmap"))
    fields = {key: value for key, value in item.items() if key not in _LABEL_KEYS}
    return RawGeometry(type_name=geometry_type, fields=fields)


class LabelTag(WireModel):
    """A tag on an image or an object: the tag meta's `name` and its `value` (None for `none` tags)."""

    name: str
    value: Any = None
    id: int | None = None
    tag_id: int | None = None
    labeler_login: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_wire(self) -> dict[str, Any]:
        """`{name, value}` for writing (the server assigns ids, login and dates)."""
        return {"name": self.name} if self.value is None else {"name": self.name, "value": self.value}


class Label(WireModel):
    """One object of an annotation: its class, geometry and tags; ids, login and dates are the server's."""

    class_title: str
    geometry: Geometry = Field(discriminator="kind")
    tags: ListOrNull[LabelTag] = Field(default_factory=list)
    description: str = ""
    id: int | None = None
    class_id: int | None = None
    labeler_login: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _geometry_from_wire(cls, data: Any) -> Any:
        """Build `geometry` from the wire's `geometryType` and `points`/`bitmap` keys."""
        if isinstance(data, dict) and "geometry" not in data:
            geometry_type = data.get("geometryType", data.get("shape"))
            if not isinstance(geometry_type, str) or not geometry_type:
                raise ValueError("an object needs a geometryType")
            return {**data, "geometry": geometry_from_wire(geometry_type, data)}
        return data

    @property
    def geometry_type(self) -> str:
        """The wire `geometryType`."""
        return self.geometry.geometry_type

    def to_wire(self) -> dict[str, Any]:
        """The object as `annotations.bulk.add` takes it."""
        return {
            "classTitle": self.class_title,
            "description": self.description,
            "geometryType": self.geometry_type,
            "tags": [tag.to_wire() for tag in self.tags],
            **self.geometry.to_wire(),
        }


class ImageSize(WireModel):
    """An annotation's image size in pixels."""

    height: int
    width: int


class Annotation(WireModel):
    """An image's annotation: `size`, image `tags`, `objects` and a `description`."""

    size: ImageSize
    objects: ListOrNull[Label] = Field(default_factory=list)
    tags: ListOrNull[LabelTag] = Field(default_factory=list)
    description: str = ""

    @field_validator("description", mode="before")
    @classmethod
    def _no_null_description(cls, value: Any) -> Any:
        return "" if value is None else value

    def to_wire(self) -> dict[str, Any]:
        """The annotation as `annotations.bulk.add` takes it."""
        return {
            "description": self.description,
            "size": {"height": self.size.height, "width": self.size.width},
            "tags": [tag.to_wire() for tag in self.tags],
            "objects": [label.to_wire() for label in self.objects],
        }


class AnnotationInfo(WireModel):
    """An image's annotation with the image's id and name (`annotations.info`, `.bulk.info`, `.list`)."""

    image_id: int
    annotation: Annotation
    image_name: str | None = None
    dataset_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
