"""The project meta: object classes and tag metas, in the JSON format the official SDK reads and writes."""

from __future__ import annotations

import hashlib
from collections import Counter
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from labelrounds.client.models.base import ListOrNull

COLOR_PATTERN = r"^#[0-9A-Fa-f]{6}$"


class Shape(StrEnum):
    """Geometry types of an object class (`shape`)."""

    BITMAP = "bitmap"
    RECTANGLE = "rectangle"
    POLYGON = "polygon"
    LINE = "line"
    POINT = "point"
    GRAPH = "graph"
    ANY = "any"
    ALPHA_MASK = "alpha_mask"
    CUBOID = "cuboid"
    CUBOID_2D = "cuboid_2d"
    CUBOID_3D = "cuboid_3d"
    POINT_3D = "point_3d"
    POLYLINE_3D = "polyline_3d"
    MASK_3D = "mask_3d"
    MESH = "mesh"
    CLOSED_SURFACE_MESH = "closed_surface_mesh"
    POINT_CLOUD = "point_cloud"
    MULTIPOLYGON = "multipolygon"
    ORIENTED_BBOX = "oriented_bbox"
    MULTICHANNEL_BITMAP = "multichannelBitmap"


class TagValueType(StrEnum):
    """Value types of a tag (`value_type`)."""

    NONE = "none"
    ANY_NUMBER = "any_number"
    ANY_STRING = "any_string"
    ONEOF_STRING = "oneof_string"
    DATE = "date"


class TagApplicability(StrEnum):
    """What a tag may be put on (`applicable_type`)."""

    ALL = "all"
    IMAGES_ONLY = "imagesOnly"
    OBJECTS_ONLY = "objectsOnly"


class TagTargetType(StrEnum):
    """Where a (video) tag applies (`target_type`)."""

    ALL = "all"
    FRAMES_ONLY = "framesOnly"
    ENTITIES_ONLY = "entitiesOnly"


def default_color(name: str) -> str:
    """A stable `#RRGGBB` colour derived from a class or tag name, for definitions that give none."""
    return "#" + hashlib.sha256(name.encode()).hexdigest()[:6].upper()


class _MetaModel(BaseModel):
    """Base of the meta models: wire keys are the field names, and unknown keys are kept.

    `projects.meta.update` replaces the whole meta, so keys this client does not model (e.g. a tag's
    `default_value`) must survive a read-modify-write round trip.
    """

    model_config = ConfigDict(populate_by_name=True, extra="allow", frozen=True)
    _omitted_when_none: ClassVar[frozenset[str]] = frozenset({"id"})

    def to_wire(self) -> dict[str, Any]:
        """The JSON object as the official SDK writes it."""
        data = self.model_dump(mode="json", by_alias=True)
        return {
            key: value
            for key, value in data.items()
            if value is not None or key not in self._omitted_when_none
        }


def _fill_default_color(data: Any, name_key: str) -> Any:
    if isinstance(data, dict) and data.get("color") is None and isinstance(data.get(name_key), str):
        return {**data, "color": default_color(data[name_key])}
    return data


class ObjClass(_MetaModel):
    """An object class; note that classes are named by `title`."""

    title: str = Field(min_length=1)
    shape: Shape
    color: str = Field(pattern=COLOR_PATTERN)
    geometry_config: dict[str, Any] = Field(default_factory=dict)
    hotkey: str = ""
    description: str = ""
    id: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _color_from_title(cls, data: Any) -> Any:
        return _fill_default_color(data, "title")


class TagMeta(_MetaModel):
    """A tag definition; `values` is required for (and only kept on) `oneof_string` tags."""

    _omitted_when_none: ClassVar[frozenset[str]] = frozenset({"id", "values"})

    name: str = Field(min_length=1)
    value_type: TagValueType
    values: list[str] | None = None
    color: str = Field(pattern=COLOR_PATTERN)
    hotkey: str = ""
    applicable_type: TagApplicability = TagApplicability.ALL
    classes: ListOrNull[str] = Field(default_factory=list)
    target_type: TagTargetType = TagTargetType.ALL
    id: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        data = _fill_default_color(data, "name")
        if (
            isinstance(data, dict)
            and data.get("value_type") != TagValueType.ONEOF_STRING
            and "values" in data
        ):
            # The SDK ignores the values of other types; drop them so they are never sent back.
            data = {key: value for key, value in data.items() if key != "values"}
        return data

    @model_validator(mode="after")
    def _check_values(self) -> TagMeta:
        if self.value_type is TagValueType.ONEOF_STRING and not self.values:
            raise ValueError(f"tag {self.name!r} is oneof_string but has no values")
        return self


class ProjectMeta(_MetaModel):
    """A project's classes and tags (`projects.meta`), written back whole by `projects.meta.update`."""

    classes: list[ObjClass]
    tags: ListOrNull[TagMeta] = Field(default_factory=list)
    project_type: str | None = Field(None, alias="projectType")
    project_settings: dict[str, Any] | None = Field(None, alias="projectSettings")

    _omitted_when_none: ClassVar[frozenset[str]] = frozenset({"projectType", "projectSettings"})

    @field_validator("classes")
    @classmethod
    def _unique_class_titles(cls, classes: list[ObjClass]) -> list[ObjClass]:
        _reject_duplicates("class", [obj_class.title for obj_class in classes])
        return classes

    @field_validator("tags")
    @classmethod
    def _unique_tag_names(cls, tags: list[TagMeta]) -> list[TagMeta]:
        _reject_duplicates("tag", [tag.name for tag in tags])
        return tags

    def get_class(self, title: str) -> ObjClass | None:
        """The class named `title`, or None."""
        return next((obj_class for obj_class in self.classes if obj_class.title == title), None)

    def get_tag(self, name: str) -> TagMeta | None:
        """The tag named `name`, or None."""
        return next((tag for tag in self.tags if tag.name == name), None)

    def to_wire(self) -> dict[str, Any]:
        """The meta JSON as the SDK writes it (classes and tags included whole)."""
        data = super().to_wire()
        data["classes"] = [obj_class.to_wire() for obj_class in self.classes]
        data["tags"] = [tag.to_wire() for tag in self.tags]
        return data


def _reject_duplicates(kind: str, names: list[str]) -> None:
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise ValueError(f"duplicate {kind} names in the project meta: {', '.join(duplicates)}")
