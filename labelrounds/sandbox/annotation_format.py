"""Check an annotation against the project meta and the image, and build the JSON the sandbox stores and serves.

Geometries are kept in wire (subpixel) coordinates, as sent: the SDK converts on its side (reference E.1).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson

from labelrounds.sandbox.bitmaps import BitmapError, png_size
from labelrounds.sandbox.errors import BadRequest
from labelrounds.sandbox.models import AnnotationBody, LabelObjectBody, LabelTagBody, PointsBody

POINTS_GEOMETRIES = {"rectangle": (2, 2), "polygon": (3, None), "line": (2, None), "point": (1, 1)}
"""Geometries carried by `points`, with the (min, max) number of exterior points."""
SUPPORTED_GEOMETRIES = frozenset({*POINTS_GEOMETRIES, "bitmap"})
ANY_SHAPE = "any"


@dataclass(frozen=True)
class ImageTarget:
    """The image an annotation is written to: its id and pixel size."""

    id: int
    width: int
    height: int


@dataclass(frozen=True)
class MetaIndex:
    """A project's classes (title → id, shape) and tags (name → id, definition), for validation."""

    classes: dict[str, tuple[int, str]]
    tags: dict[str, tuple[int, dict[str, Any]]]

    @classmethod
    def load(cls, db: sqlite3.Connection, project_id: int) -> MetaIndex:
        """Read a project's meta."""
        classes = {
            title: (class_id, orjson.loads(definition)["shape"])
            for class_id, title, definition in db.execute(
                "SELECT id, title, definition FROM object_classes WHERE project_id = ?", (project_id,)
            )
        }
        tags = {
            name: (tag_id, orjson.loads(definition))
            for tag_id, name, definition in db.execute(
                "SELECT id, name, definition FROM tag_metas WHERE project_id = ?", (project_id,)
            )
        }
        return cls(classes, tags)


def empty_annotation(width: int, height: int) -> dict[str, Any]:
    """The annotation of an image nobody annotated."""
    return {
        "description": "",
        "size": {"height": height, "width": width},
        "tags": [],
        "objects": [],
        "customBigData": {},
    }


def validate_annotation(
    annotation: AnnotationBody, meta: MetaIndex, image: ImageTarget, *, check_bounds: bool, where: str
) -> None:
    """Refuse (400, naming `where` and the object) anything that does not fit the meta or the image."""
    for index, tag in enumerate(annotation.tags):
        _check_tag(tag, meta, f"{where}.tags[{index}]", object_class=None)
    for index, label in enumerate(annotation.objects):
        _check_object(label, meta, image, check_bounds=check_bounds, where=f"{where}.objects[{index}]")


def _check_object(
    label: LabelObjectBody, meta: MetaIndex, image: ImageTarget, *, check_bounds: bool, where: str
) -> None:
    known = meta.classes.get(label.classTitle)
    if known is None:
        raise BadRequest(f"{where}: class {label.classTitle!r} is not in the project meta")
    shape, geometry = known[1], label.geometryType
    if geometry not in SUPPORTED_GEOMETRIES:
        raise BadRequest(
            f"{where}: geometry type {geometry!r} is not supported; use one of {', '.join(sorted(SUPPORTED_GEOMETRIES))}"
        )
    if shape not in (geometry, ANY_SHAPE):
        raise BadRequest(f"{where}: class {label.classTitle!r} takes {shape} objects, not {geometry}")
    if geometry == "bitmap":
        _check_bitmap(label, image, check_bounds=check_bounds, where=where)
    else:
        _check_points(label.points, geometry, image, check_bounds=check_bounds, where=where)
    for index, tag in enumerate(label.tags):
        _check_tag(tag, meta, f"{where}.tags[{index}]", object_class=label.classTitle)


def _check_points(
    points: PointsBody | None, geometry: str, image: ImageTarget, *, check_bounds: bool, where: str
) -> None:
    if points is None:
        raise BadRequest(f"{where}: a {geometry} needs 'points' with 'exterior' and 'interior'")
    least, most = POINTS_GEOMETRIES[geometry]
    count = len(points.exterior)
    if count < least or (most is not None and count > most):
        expected = f"exactly {least}" if least == most else f"at least {least}"
        raise BadRequest(f"{where}: a {geometry} needs {expected} exterior points, got {count}")
    if geometry != "polygon" and points.interior:
        raise BadRequest(f"{where}: a {geometry} cannot have interior rings")
    for ring_index, ring in enumerate(points.interior):
        if len(ring) < 3:
            raise BadRequest(f"{where}: interior ring {ring_index} needs at least 3 points, got {len(ring)}")
    if check_bounds:
        for x, y in [*points.exterior, *(point for ring in points.interior for point in ring)]:
            if not (0 <= x <= image.width and 0 <= y <= image.height):
                raise BadRequest(
                    f"{where}: point [{x}, {y}] lies outside the {image.width}x{image.height} image {image.id}"
                )


def _check_bitmap(label: LabelObjectBody, image: ImageTarget, *, check_bounds: bool, where: str) -> None:
    if label.bitmap is None:
        raise BadRequest(f"{where}: a bitmap needs 'bitmap' with 'origin' and 'data'")
    try:
        width, height = png_size(label.bitmap.data)
    except BitmapError as error:
        raise BadRequest(f"{where}: {error}") from None
    x, y = label.bitmap.origin
    if check_bounds and (x + width > image.width or y + height > image.height):
        raise BadRequest(
            f"{where}: the {width}x{height} mask at [{x}, {y}] overflows the {image.width}x{image.height}"
            f" image {image.id}"
        )


def _check_tag(tag: LabelTagBody, meta: MetaIndex, where: str, *, object_class: str | None) -> None:
    known = meta.tags.get(tag.name)
    if known is None:
        raise BadRequest(f"{where}: tag {tag.name!r} is not in the project meta")
    definition = known[1]
    applicable = definition.get("applicable_type", "all")
    if object_class is None and applicable == "objectsOnly":
        raise BadRequest(f"{where}: tag {tag.name!r} applies to objects only")
    if object_class is not None and applicable == "imagesOnly":
        raise BadRequest(f"{where}: tag {tag.name!r} applies to images only")
    classes = definition.get("classes") or []
    if object_class is not None and classes and object_class not in classes:
        raise BadRequest(f"{where}: tag {tag.name!r} does not apply to class {object_class!r}")
    problem = _tag_value_problem(definition, tag.value)
    if problem:
        raise BadRequest(f"{where}: tag {tag.name!r} {problem}")


def _tag_value_problem(definition: dict[str, Any], value: Any) -> str | None:
    """Why a value does not fit a tag's `value_type`, or None."""
    value_type = definition.get("value_type")
    if value_type == "none":
        return None if value is None else "takes no value"
    if value_type == "any_number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "needs a number"
    if value_type == "oneof_string":
        values = definition.get("values") or []
        return None if value in values else f"needs one of {values}"
    return None if isinstance(value, str) else "needs a string"


def stored_annotation(
    annotation: AnnotationBody, meta: MetaIndex, image: ImageTarget, *, login: str, now: str, ids: int
) -> tuple[str, int]:
    """The JSON to store for a validated annotation, and its number of objects.

    Objects and tags get fresh ids from `ids` on (see `ids_needed`), the writer's login and the write time;
    ids, class ids and logins in the input are ignored (a copy may carry another project's).
    """
    next_id = ids

    def take_id() -> int:
        nonlocal next_id
        next_id += 1
        return next_id - 1

    def tag_json(tag: LabelTagBody) -> dict[str, Any]:
        stored: dict[str, Any] = {"id": take_id(), "tagId": meta.tags[tag.name][0], "name": tag.name}
        if tag.value is not None:
            stored["value"] = tag.value
        return {**stored, "labelerLogin": login, "createdAt": now, "updatedAt": now}

    objects = []
    for label in annotation.objects:
        stored: dict[str, Any] = {
            "id": take_id(),
            "classId": meta.classes[label.classTitle][0],
            "classTitle": label.classTitle,
            "description": label.description,
            "geometryType": label.geometryType,
            "shape": label.geometryType,
            "labelerLogin": login,
            "createdAt": now,
            "updatedAt": now,
            "nnCreated": False,
            "nnUpdated": False,
            "tags": [tag_json(tag) for tag in label.tags],
        }
        if label.geometryType == "bitmap" and label.bitmap is not None:
            stored["bitmap"] = label.bitmap.model_dump()
        elif label.points is not None:
            stored["points"] = label.points.model_dump()
        objects.append(stored)
    document = {
        **empty_annotation(image.width, image.height),
        "description": annotation.description,
        "tags": [tag_json(tag) for tag in annotation.tags],
        "objects": objects,
    }
    return orjson.dumps(document).decode(), len(objects)


def ids_needed(annotation: AnnotationBody) -> int:
    """How many ids `stored_annotation` hands out: one per object, object tag and image tag."""
    return len(annotation.tags) + sum(1 + len(label.tags) for label in annotation.objects)


def count_ids(document: dict[str, Any]) -> int:
    """How many ids a stored annotation document uses: its objects, their tags and the image tags."""
    objects = document.get("objects", [])
    return len(document.get("tags", [])) + sum(1 + len(label.get("tags", [])) for label in objects)


def renumber_objects(document: dict[str, Any], first_id: int) -> None:
    """Give a stored document's objects and tags consecutive new ids from `first_id` on (in place)."""
    next_id = first_id
    for item in [*document.get("tags", []), *document.get("objects", [])]:
        item["id"] = next_id
        next_id += 1
        for tag in item.get("tags", []) if "classTitle" in item else []:
            tag["id"] = next_id
            next_id += 1
