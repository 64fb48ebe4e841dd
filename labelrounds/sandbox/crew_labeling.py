"""What a simulated labeler draws: the image's ground truth, degraded by the labeler's skill, deterministically.

One skill number `s` in [0, 1] maps to three behaviours (`Skill.from_level`):
- recall `s`: each truth object is drawn with probability `s` (the rest are missed);
- jitter `0.25 * (1 - s)`: each drawn object is shifted by up to that share of its width and height (polygon
  vertices also move on their own by half as much; bitmaps are shifted whole), so a match keeps an IoU above 0.5;
- wrong-class rate `(1 - s) / 2`: a drawn object gets another class of the project (a rectangle becomes the
  polygon of its corners and a polygon its bounding box when the other class takes that shape).
With these, the expected F1 against the truth is `s` itself: `2 s (1 - (1 - s) / 2) / (1 + s) = s`.
A labeler may also have a gross error rate `g`: on a share `g` of images (`makes_gross_error`, deterministic per
crew seed, login and image) it ignores its skill and botches the image: each truth object is either dropped or
moved clear of where it is (by its own size plus a gap, towards the side with more room), so the image's F1 against
the truth is about 0. Consensus rounds are tested on such labelers.
Every draw comes from `stable_fraction(seed, job, image, object, purpose)`: the same crew seed, job and image give
the same annotation in every run. The sandbox also keeps, per job and image, the time the labeler spent
(`annotation_time`, simulated seconds), which `jobs.stats` reports as the annotation duration.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labelrounds.sandbox.annotation_format import (
    ANY_SHAPE,
    ImageTarget,
    MetaIndex,
    ids_needed,
    stored_annotation,
)
from labelrounds.sandbox.bitmaps import png_size
from labelrounds.sandbox.models import AnnotationBody
from labelrounds.sandbox.spec_parsing import stable_fraction
from labelrounds.sandbox.store import Store, allocate_ids
from labelrounds.sandbox.truth import read_truth

MAX_JITTER = 0.25
"""Jitter of a labeler of skill 0 (share of an object's size); skill `s` jitters by `MAX_JITTER * (1 - s)`."""
PACE_SPREAD = 0.25
"""The time spent on one image varies by up to ±25% around the labeler's pace (deterministically)."""
_CONVERTIBLE = {"rectangle": {"rectangle", "polygon"}, "polygon": {"polygon", "rectangle"}, "bitmap": {"bitmap"}}

Draw = Callable[[str], float]


@dataclass(frozen=True)
class Skill:
    """How well a labeler draws: share of objects found, geometric jitter, share of objects given a wrong class."""

    recall: float
    jitter: float
    wrong_class_rate: float
    gross_error_rate: float = 0.0

    @classmethod
    def from_level(cls, level: float, gross_error_rate: float = 0.0) -> Skill:
        """The skill of one number in [0, 1] (see the module docstring: expected F1 = `level`), and the share of
        images the labeler botches."""
        return cls(
            recall=level,
            jitter=MAX_JITTER * (1 - level),
            wrong_class_rate=(1 - level) / 2,
            gross_error_rate=gross_error_rate,
        )


def makes_gross_error(gross_error_rate: float, *, seed: int, login: str, image_id: int) -> bool:
    """Whether a labeler with this gross error rate botches this image (the same answer in every run)."""
    return gross_error_rate > 0 and stable_fraction(seed, login, image_id, "gross") < gross_error_rate


@dataclass(frozen=True)
class LabelingContext:
    """What a labeler needs from the sandbox to label some images of a job: their truth and the class shapes."""

    dataset_id: int | None
    truth: dict[int, dict[str, Any]]
    meta: MetaIndex

    @property
    def class_shapes(self) -> dict[str, str]:
        """Class title → shape of the project's classes."""
        return {title: shape for title, (_, shape) in self.meta.classes.items()}


def read_labeling_context(store: Store, job_id: int, image_ids: Sequence[int]) -> LabelingContext:
    """The truth of these images and the shapes of the job's project classes (in-process, sandbox-only)."""
    with store.transaction(write=False) as db:
        return labeling_context(db, job_id, image_ids)


def labeling_context(db: sqlite3.Connection, job_id: int, image_ids: Sequence[int]) -> LabelingContext:
    """`read_labeling_context` inside the caller's transaction."""
    row = db.execute("SELECT project_id, dataset_id FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        return LabelingContext(dataset_id=None, truth={}, meta=MetaIndex({}, {}))
    return LabelingContext(dataset_id=row[1], truth=read_truth(db, image_ids), meta=MetaIndex.load(db, row[0]))


def simulate_annotation(
    truth: Mapping[str, Any],
    skill: Skill,
    class_shapes: Mapping[str, str],
    *,
    seed: int,
    job_id: int,
    image_id: int,
    login: str = "",
) -> dict[str, Any]:
    """The annotation a labeler of this skill draws for an image whose truth is `truth` (wire JSON).

    Args:
        truth: the image's ground-truth annotation (wire JSON with `size` and `objects`).
        skill: the labeler's skill.
        class_shapes: class title → shape of the project's classes (for wrong classes).
        seed: the crew's seed.
        job_id: the job being labeled (a rework job draws anew).
        image_id: the image being labeled.
        login: the labeler (whether it botches the image depends on it, not on the job).
    """
    width, height = truth["size"]["width"], truth["size"]["height"]
    if makes_gross_error(skill.gross_error_rate, seed=seed, login=login, image_id=image_id):
        return _botched(truth, seed=seed, login=login, image_id=image_id)
    objects = []
    for index, truth_object in enumerate(truth.get("objects") or ()):

        def draw(purpose: str, index: int = index) -> float:
            return stable_fraction(seed, job_id, image_id, index, purpose)

        if draw("found") >= skill.recall:
            continue
        drawn = _jittered(truth_object, skill.jitter, draw, width, height)
        if draw("class") < skill.wrong_class_rate:
            drawn = _with_wrong_class(drawn, class_shapes, draw)
        objects.append(drawn)
    return {"description": "", "size": {"width": width, "height": height}, "tags": [], "objects": objects}


def _botched(truth: Mapping[str, Any], *, seed: int, login: str, image_id: int) -> dict[str, Any]:
    """A grossly wrong annotation of `truth`: each object dropped (one in two) or moved clear of its place."""
    width, height = truth["size"]["width"], truth["size"]["height"]
    objects = []
    for index, truth_object in enumerate(truth.get("objects") or ()):
        if stable_fraction(seed, login, image_id, index, "gross drop") < 0.5:
            continue
        moved = _moved_clear(truth_object, width, height)
        if moved is not None:
            objects.append(moved)
    return {"description": "", "size": {"width": width, "height": height}, "tags": [], "objects": objects}


def _moved_clear(obj: Mapping[str, Any], width: int, height: int) -> dict[str, Any] | None:
    """The object moved by its own width (or height) plus a gap, towards the side with more room, so that it no
    longer overlaps where it was; None when the image has no room for that."""
    left, top, right, bottom = _extent(obj)
    gap = 8
    dx = dy = 0
    if max(left, width - right) >= right - left + gap:
        dx = right - left + gap if width - right >= left else -(right - left + gap)
    elif max(top, height - bottom) >= bottom - top + gap:
        dy = bottom - top + gap if height - bottom >= top else -(bottom - top + gap)
    else:
        return None
    moved: dict[str, Any] = {
        "classTitle": obj["classTitle"],
        "description": "",
        "geometryType": obj["geometryType"],
        "tags": [{"name": tag["name"], "value": tag.get("value")} for tag in obj.get("tags") or ()],
    }
    if obj["geometryType"] == "bitmap":
        x, y = obj["bitmap"]["origin"]
        moved["bitmap"] = {"origin": [x + dx, y + dy], "data": obj["bitmap"]["data"]}
    else:
        exterior = [[x + dx, y + dy] for x, y in obj["points"]["exterior"]]
        moved["points"] = {"exterior": exterior, "interior": []}
    return moved


def _extent(obj: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """Left, top, right and bottom (exclusive) pixel bounds of a rectangle, polygon or bitmap object."""
    if obj["geometryType"] == "bitmap":
        mask_width, mask_height = png_size(obj["bitmap"]["data"])
        x, y = obj["bitmap"]["origin"]
        return x, y, x + mask_width, y + mask_height
    xs = [point[0] for point in obj["points"]["exterior"]]
    ys = [point[1] for point in obj["points"]["exterior"]]
    return math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)) + 1, math.ceil(max(ys)) + 1


def _jittered(obj: Mapping[str, Any], jitter: float, draw: Draw, width: int, height: int) -> dict[str, Any]:
    """A copy of a truth object (class, geometry, tags) shifted by up to `jitter` of its size, inside the image."""
    drawn: dict[str, Any] = {
        "classTitle": obj["classTitle"],
        "description": "",
        "geometryType": obj["geometryType"],
        "tags": [{"name": tag["name"], "value": tag.get("value")} for tag in obj.get("tags") or ()],
    }
    if obj["geometryType"] == "bitmap":
        mask_width, mask_height = png_size(obj["bitmap"]["data"])
        left, top = obj["bitmap"]["origin"]
        left = _clamp(round(left + _shift(draw, "dx", jitter * mask_width)), 0, width - mask_width)
        top = _clamp(round(top + _shift(draw, "dy", jitter * mask_height)), 0, height - mask_height)
        drawn["bitmap"] = {"origin": [left, top], "data": obj["bitmap"]["data"]}
        return drawn
    exterior = obj["points"]["exterior"]
    xs, ys = [point[0] for point in exterior], [point[1] for point in exterior]
    box_width, box_height = max(xs) - min(xs), max(ys) - min(ys)
    dx, dy = _shift(draw, "dx", jitter * box_width), _shift(draw, "dy", jitter * box_height)
    if obj["geometryType"] == "rectangle":
        moved = [[_clamp(round(x + dx), 0, width), _clamp(round(y + dy), 0, height)] for x, y in exterior]
    else:
        moved = [
            [
                _clamp(round(x + dx + _shift(draw, f"x{i}", jitter * box_width / 2), 1), 0, width),
                _clamp(round(y + dy + _shift(draw, f"y{i}", jitter * box_height / 2), 1), 0, height),
            ]
            for i, (x, y) in enumerate(exterior)
        ]
    drawn["points"] = {"exterior": moved, "interior": []}
    return drawn


def _shift(draw: Draw, purpose: str, most: float) -> float:
    """A deterministic offset in [-most, most]."""
    return (2 * draw(purpose) - 1) * most


def _clamp(value: float, low: float, high: float) -> Any:
    return min(max(value, low), high)


def _with_wrong_class(obj: dict[str, Any], class_shapes: Mapping[str, str], draw: Draw) -> dict[str, Any]:
    """The object given another class whose shape it can take; unchanged when the project has none."""
    geometry = obj["geometryType"]
    others = sorted(
        title
        for title, shape in class_shapes.items()
        if title != obj["classTitle"] and (shape == ANY_SHAPE or shape in _CONVERTIBLE.get(geometry, {geometry}))
    )
    if not others:
        return obj
    title = others[int(draw("which class") * len(others))]
    shape = class_shapes[title]
    swapped = {**obj, "classTitle": title, "tags": []}  # tags may not apply to the other class
    if shape not in (geometry, ANY_SHAPE):
        swapped["geometryType"] = shape
        swapped["points"] = _converted(obj["points"]["exterior"], shape)
    return swapped


def _converted(exterior: Sequence[Sequence[float]], shape: str) -> dict[str, Any]:
    """Rectangle points as a polygon of its corners, or a polygon's points as its bounding rectangle."""
    xs, ys = [point[0] for point in exterior], [point[1] for point in exterior]
    left, top, right, bottom = min(xs), min(ys), max(xs), max(ys)
    if shape == "polygon":
        return {"exterior": [[left, top], [right, top], [right, bottom], [left, bottom]], "interior": []}
    return {"exterior": [[left, top], [right, bottom]], "interior": []}


def annotation_seconds(pace: float, *, seed: int, job_id: int, image_id: int) -> int:
    """The simulated time a labeler of this pace (seconds per image) spends on one image: pace ±25%, in whole
    seconds (as the real `jobs.stats` reports durations)."""
    return round(pace * (1 + PACE_SPREAD * (2 * stable_fraction(seed, job_id, image_id, "pace") - 1)))


def record_annotation_time(store: Store, job_id: int, image_id: int, seconds: int) -> None:
    """Keep the time spent on an image of a job (the latest labeling pass counts), for `jobs.stats`.

    Nothing is kept for a job removed meanwhile.
    """
    with store.transaction(write=True) as db:
        db.execute(
            "INSERT INTO annotation_time(job_id, image_id, seconds) SELECT ?, ?, ?"
            " WHERE EXISTS (SELECT 1 FROM jobs WHERE id = ?)"
            " ON CONFLICT(job_id, image_id) DO UPDATE SET seconds = excluded.seconds",
            (job_id, image_id, seconds, job_id),
        )


def label_job_in_store(
    db: sqlite3.Connection,
    job_id: int,
    image_ids: Sequence[int],
    *,
    skill: Skill,
    login: str,
    seed: int,
    now: str,
) -> dict[int, tuple[dict[str, Any], dict[str, Any]]]:
    """Instant mode: draw and store the annotations of these images of a job, inside the caller's transaction.

    Images without truth are left as they are. Returns image id → (truth, drawn annotation) of the images drawn.

    Args:
        db: the store's connection, in a write transaction.
        job_id: the job being labeled.
        image_ids: its images to label.
        skill: the labeler's skill.
        login: the labeler's login (written as the objects' `labelerLogin`).
        seed: the crew's seed.
        now: the write time.
    """
    context = labeling_context(db, job_id, image_ids)
    shapes = context.class_shapes
    drawn = {
        image_id: simulate_annotation(
            truth, skill, shapes, seed=seed, job_id=job_id, image_id=image_id, login=login
        )
        for image_id, truth in context.truth.items()
    }
    if not drawn:
        return {}
    bodies = {image_id: AnnotationBody.model_validate(annotation) for image_id, annotation in drawn.items()}
    next_id = allocate_ids(db, max(1, sum(ids_needed(body) for body in bodies.values())))
    rows = []
    for image_id, body in bodies.items():
        size = drawn[image_id]["size"]
        target = ImageTarget(image_id, size["width"], size["height"])
        document, objects = stored_annotation(body, context.meta, target, login=login, now=now, ids=next_id)
        next_id += ids_needed(body)
        rows.append((image_id, document, objects, now, now))
    db.executemany(
        "INSERT INTO annotations(image_id, annotation, objects_count, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT(image_id) DO UPDATE SET annotation = excluded.annotation,"
        " objects_count = excluded.objects_count, updated_at = excluded.updated_at",
        rows,
    )
    return {image_id: (context.truth[image_id], drawn[image_id]) for image_id in drawn}


def record_times_in_store(
    db: sqlite3.Connection, job_id: int, image_ids: Sequence[int], *, pace: float, seed: int
) -> None:
    """Instant mode: record the simulated annotation time of these images of a job (caller's transaction)."""
    db.executemany(
        "INSERT INTO annotation_time(job_id, image_id, seconds) VALUES (?, ?, ?)"
        " ON CONFLICT(job_id, image_id) DO UPDATE SET seconds = excluded.seconds",
        [
            (job_id, image_id, annotation_seconds(pace, seed=seed, job_id=job_id, image_id=image_id))
            for image_id in image_ids
        ],
    )
