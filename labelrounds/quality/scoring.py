"""Scoring of a candidate annotation against a reference: object matching, precision, recall, F1, IoU, tags.

Annotations are Supervisely annotation JSON dicts: `objects` (each `classTitle`, `geometryType`, `points` or
`bitmap`, `tags`) and image-level `tags`. Conventions:
- Two objects can match only if they have the same class and IoU >= the threshold (default 0.5). The matching is
  optimal: the most matches, then the largest total IoU (a small Kuhn-Munkres assignment, run only where an object
  could match several others; scipy is not a dependency).
- Precision = matched / candidate objects, recall = matched / reference objects, F1 = 2 matched / (both counts).
  Both annotations empty: precision, recall, F1 and mean IoU are 1; one side empty: all four are 0.
- Mean IoU is over matched pairs. Tag accuracy = agreeing tags / all distinct tags, a tag being its (name, value),
  counted over the image tags and the tags of each matched pair; 1 when there is no tag at all.
- `QualityScore` holds counts, so that scores of many images add up (micro-average): `aggregate`, `score_many`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from labelrounds.quality.geometry import (
    GeometryError,
    MaskCache,
    RegionBatch,
    iou_matrices,
    iou_matrix,
    read_batch,
)

DEFAULT_IOU_THRESHOLD = 0.5

TagKey = tuple[str, Any]


@dataclass(frozen=True, slots=True, eq=False)
class ParsedAnnotation:
    """An annotation read once (geometry decoded), to score it against several others cheaply."""

    classes: np.ndarray  # object class titles (object array of str)
    regions: RegionBatch
    object_tags: tuple[frozenset[TagKey], ...]
    image_tags: frozenset[TagKey]

    @property
    def object_count(self) -> int:
        """How many objects the annotation has."""
        return len(self.object_tags)


@dataclass(frozen=True, slots=True)
class ObjectMatch:
    """A reference object matched to a candidate object, with their IoU."""

    reference_index: int
    candidate_index: int
    iou: float


@dataclass(frozen=True, slots=True)
class QualityScore:
    """Counts of one or many image comparisons, and the rates they give (micro-averaged over images)."""

    images: int = 0
    reference_objects: int = 0
    candidate_objects: int = 0
    matched_objects: int = 0
    iou_sum: float = 0.0
    tags_agreed: int = 0
    tags_total: int = 0

    def __add__(self, other: QualityScore) -> QualityScore:
        """The counts of both comparisons together."""
        return QualityScore(  # field by field, not through `fields()`: added once per image in `score_many`
            self.images + other.images,
            self.reference_objects + other.reference_objects,
            self.candidate_objects + other.candidate_objects,
            self.matched_objects + other.matched_objects,
            self.iou_sum + other.iou_sum,
            self.tags_agreed + other.tags_agreed,
            self.tags_total + other.tags_total,
        )

    @property
    def precision(self) -> float:
        """Matched share of the candidate's objects."""
        return _rate(self.matched_objects, self.candidate_objects, self._nothing_on_either_side)

    @property
    def recall(self) -> float:
        """Matched share of the reference's objects."""
        return _rate(self.matched_objects, self.reference_objects, self._nothing_on_either_side)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        total = self.reference_objects + self.candidate_objects
        return _rate(2 * self.matched_objects, total, self._nothing_on_either_side)

    @property
    def mean_iou(self) -> float:
        """Mean IoU of the matched pairs."""
        if self.matched_objects == 0:
            return 1.0 if self._nothing_on_either_side else 0.0
        return self.iou_sum / self.matched_objects

    @property
    def tag_accuracy(self) -> float:
        """Share of tags (image tags and matched objects' tags) on which both annotations agree."""
        return self.tags_agreed / self.tags_total if self.tags_total else 1.0

    @property
    def _nothing_on_either_side(self) -> bool:
        return self.reference_objects == 0 and self.candidate_objects == 0

    def as_row(self) -> dict[str, float | int]:
        """Counts and rates as one flat dict (a table row, e.g. `pandas.DataFrame([score.as_row()])`)."""
        rates = {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "mean_iou": self.mean_iou,
            "tag_accuracy": self.tag_accuracy,
        }
        return asdict(self) | rates


def _rate(numerator: int, denominator: int, both_empty: bool) -> float:
    if denominator:
        return numerator / denominator
    return 1.0 if both_empty else 0.0


def parse_annotation(annotation: Mapping[str, Any] | ParsedAnnotation) -> ParsedAnnotation:
    """Read an annotation's objects and tags once.

    Raises:
        GeometryError: an object has no class or an unreadable geometry (the error names the object).
    """
    if isinstance(annotation, ParsedAnnotation):
        return annotation
    objects = annotation.get("objects") or []
    classes = np.array(_classes(objects), dtype=object)
    return _parsed(annotation, classes, read_batch(objects, None))


def _classes(objects: Sequence[Mapping[str, Any]]) -> list[str]:
    classes = [obj.get("classTitle") for obj in objects]
    for index, title in enumerate(classes):
        if not isinstance(title, str):
            raise GeometryError(f"object {index} has no classTitle")
    return classes  # type: ignore[return-value] - checked above


def _parsed(annotation: Mapping[str, Any], classes: np.ndarray, regions: RegionBatch) -> ParsedAnnotation:
    return ParsedAnnotation(
        classes=classes,
        regions=regions,
        object_tags=tuple(_tag_set(obj.get("tags")) for obj in annotation.get("objects") or []),
        image_tags=_tag_set(annotation.get("tags")),
    )


_OBJECTS_PER_READ = 4000  # geometries read together: amortises per-call costs, bounds the bitmap work arrays
_PAIRS_PER_READ = 128


def parse_annotations(annotations: Sequence[Mapping[str, Any] | ParsedAnnotation]) -> list[ParsedAnnotation]:
    """`parse_annotation` of each annotation, their geometries read together (one annotation read once even if
    it appears several times, e.g. a reference scored against several labelers).

    Raises:
        GeometryError: as `parse_annotation`, naming the object within its annotation.
    """
    return _parse_annotations(annotations, None)


def _parse_annotations(
    annotations: Sequence[Mapping[str, Any] | ParsedAnnotation], masks: MaskCache | None
) -> list[ParsedAnnotation]:
    """`parse_annotations`, bitmap masks looked up in and added to `masks`."""
    unread: dict[int, Mapping[str, Any]] = {}
    for annotation in annotations:
        if not isinstance(annotation, ParsedAnnotation):
            unread.setdefault(id(annotation), annotation)
    objects: list[Mapping[str, Any]] = []
    classes: list[list[str]] = []
    for annotation in unread.values():
        own = annotation.get("objects") or []
        classes.append(_classes(own))
        objects.extend(own)
    try:
        batches = [
            read_batch(objects[start : start + _OBJECTS_PER_READ], masks)
            for start in range(0, max(len(objects), 1), _OBJECTS_PER_READ)  # no object: one empty read
        ]
    except GeometryError:
        for annotation in unread.values():
            parse_annotation(annotation)  # raises the error with the object's position in its own annotation
        raise
    # Read as arrays for all the annotations together, each annotation's part a view (not a dozen small arrays each).
    every_region = batches[0] if len(batches) == 1 else RegionBatch.joined(batches)
    every_class = np.array([title for titles in classes for title in titles], dtype=object)
    parsed: dict[int, ParsedAnnotation] = {}
    start = 0
    for (key, annotation), titles in zip(unread.items(), classes, strict=True):
        end = start + len(titles)
        parsed[key] = _parsed(annotation, every_class[start:end], every_region.part(start, end))
        start = end
    return [
        annotation if isinstance(annotation, ParsedAnnotation) else parsed[id(annotation)]
        for annotation in annotations
    ]


_NO_TAGS: frozenset[TagKey] = frozenset()


def _tag_set(tags: Iterable[Mapping[str, Any]] | None) -> frozenset[TagKey]:
    if not tags:
        return _NO_TAGS
    try:  # the usual tag (a name, as JSON gives it a string, and a scalar value) is its own key
        return frozenset([(tag["name"], tag["value"]) for tag in tags])
    except (KeyError, TypeError):  # no name or value, or a list or dict value (unhashable)
        return frozenset([_tag_key(tag) for tag in tags])


def _tag_key(tag: Mapping[str, Any]) -> TagKey:
    name = tag["name"] if "name" in tag else tag.get("tagId")
    value = tag.get("value")
    if isinstance(value, (list, dict)):  # noqa: UP038 - the tuple form is the faster check
        value = json.dumps(value, sort_keys=True)
    return str(name), value


def match_objects(
    reference: Mapping[str, Any] | ParsedAnnotation,
    candidate: Mapping[str, Any] | ParsedAnnotation,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
) -> list[ObjectMatch]:
    """The optimal one-to-one matching of same-class objects with IoU >= `iou_threshold`.

    Args:
        reference: The reference annotation (e.g. the gold or the ground truth).
        candidate: The annotation under test.
        iou_threshold: Minimum IoU of a match, in (0, 1].
    """
    _check_threshold(iou_threshold)
    ref, cand = parse_annotation(reference), parse_annotation(candidate)
    if not ref.object_count or not cand.object_count:
        return []
    same_class = _same_class(ref, cand)
    ious = iou_matrix(ref.regions, cand.regions, where=same_class, min_iou=iou_threshold)
    return _matches(same_class, ious, iou_threshold)


def _check_threshold(iou_threshold: float) -> None:
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")


def _same_class(ref: ParsedAnnotation, cand: ParsedAnnotation) -> np.ndarray:
    return ref.classes[:, None] == cand.classes[None, :]


def _matches(same_class: np.ndarray, ious: np.ndarray, iou_threshold: float) -> list[ObjectMatch]:
    """The optimal matching given the same-class mask and the IoU matrix (pairs below the threshold excluded)."""
    return [ObjectMatch(*match) for match in zip(*_matched(same_class, ious, iou_threshold), strict=True)]


def _matched(
    same_class: np.ndarray, ious: np.ndarray, iou_threshold: float
) -> tuple[list[int], list[int], list[float]]:
    """`_matches` as its rows, columns and IoUs, by row then column (no object per match)."""
    rows, columns = _assign(same_class & (ious >= iou_threshold), ious)
    return rows.tolist(), columns.tolist(), ious[rows, columns].tolist()


def _assign(eligible: np.ndarray, ious: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the optimal matching on the eligible pairs."""
    rows, columns = np.nonzero(eligible)  # by row, then column
    row_list, column_list = rows.tolist(), columns.tolist()
    if len(set(row_list)) == len(row_list) and len(set(column_list)) == len(column_list):
        return rows, columns  # no row or column has two eligible pairs (the usual case): all of them match
    row_degree, column_degree = eligible.sum(axis=1), eligible.sum(axis=0)
    # Pairs whose row and column have no other eligible pair match on their own; the rest is contested.
    alone = eligible & (row_degree[:, None] == 1) & (column_degree[None, :] == 1)
    rows, columns = np.nonzero(alone)
    contested_rows = np.nonzero((row_degree > 0) & ~alone.any(axis=1))[0]
    if contested_rows.size == 0:
        return rows, columns
    contested_columns = np.nonzero((column_degree > 0) & ~alone.any(axis=0))[0]
    sub_eligible = eligible[np.ix_(contested_rows, contested_columns)]
    # Weight = big + IoU: any matching with more pairs outweighs one with fewer, then the IoU total decides.
    big = min(sub_eligible.shape) + 1.0
    weights = np.where(sub_eligible, big + ious[np.ix_(contested_rows, contested_columns)], 0.0)
    pairs = [(r, c) for r, c in _max_weight_assignment(weights) if sub_eligible[r, c]]
    extra_rows = np.array([contested_rows[r] for r, _ in pairs], dtype=int)
    extra_columns = np.array([contested_columns[c] for _, c in pairs], dtype=int)
    rows, columns = np.concatenate([rows, extra_rows]), np.concatenate([columns, extra_columns])
    order = np.lexsort((columns, rows))  # by row, then column, as the usual case gives them
    return rows[order], columns[order]


def _max_weight_assignment(weights: np.ndarray) -> list[tuple[int, int]]:
    """Kuhn-Munkres (Hungarian) assignment maximising the total weight; every row of the smaller side is paired."""
    transposed = weights.shape[0] > weights.shape[1]
    cost = (-weights.T if transposed else -weights).tolist()
    rows, columns = len(cost), len(cost[0])
    infinity = float("inf")
    row_potential = [0.0] * (rows + 1)
    column_potential = [0.0] * (columns + 1)
    owner = [0] * (
        columns + 1
    )  # owner[j]: 1-based row assigned to column j (0: none); column 0 is a sentinel
    previous = [0] * (columns + 1)
    for row in range(1, rows + 1):
        owner[0] = row
        column = 0
        slack = [infinity] * (columns + 1)
        used = [False] * (columns + 1)
        while True:
            used[column] = True
            current_row, delta, next_column = owner[column], infinity, 0
            for j in range(1, columns + 1):
                if used[j]:
                    continue
                reduced = cost[current_row - 1][j - 1] - row_potential[current_row] - column_potential[j]
                if reduced < slack[j]:
                    slack[j], previous[j] = reduced, column
                if slack[j] < delta:
                    delta, next_column = slack[j], j
            for j in range(columns + 1):
                if used[j]:
                    row_potential[owner[j]] += delta
                    column_potential[j] -= delta
                else:
                    slack[j] -= delta
            column = next_column
            if owner[column] == 0:
                break
        while column:
            prior = previous[column]
            owner[column] = owner[prior]
            column = prior
    pairs = [(owner[j] - 1, j - 1) for j in range(1, columns + 1) if owner[j]]
    return [(c, r) for r, c in pairs] if transposed else pairs


def score_annotations(
    reference: Mapping[str, Any] | ParsedAnnotation,
    candidate: Mapping[str, Any] | ParsedAnnotation,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
) -> QualityScore:
    """Score one image's candidate annotation against its reference (see the module docstring for conventions).

    Args:
        reference: The reference annotation (gold or ground truth): recall is measured on its objects.
        candidate: The annotation under test: precision is measured on its objects.
        iou_threshold: Minimum IoU for two same-class objects to match, in (0, 1].
    """
    ref, cand = parse_annotation(reference), parse_annotation(candidate)
    return _score(ref, cand, match_objects(ref, cand, iou_threshold))


def _score(ref: ParsedAnnotation, cand: ParsedAnnotation, matches: Sequence[ObjectMatch]) -> QualityScore:
    agreed, total = _tag_counts(
        ref, cand, [match.reference_index for match in matches], [match.candidate_index for match in matches]
    )
    return QualityScore(
        images=1,
        reference_objects=ref.object_count,
        candidate_objects=cand.object_count,
        matched_objects=len(matches),
        iou_sum=sum(match.iou for match in matches),
        tags_agreed=agreed,
        tags_total=total,
    )


def _tag_counts(
    ref: ParsedAnnotation, cand: ParsedAnnotation, rows: Sequence[int], columns: Sequence[int]
) -> tuple[int, int]:
    """Agreeing and all distinct tags over the image tags and the tags of the matched pairs (`rows[k]` of the
    reference with `columns[k]` of the candidate)."""
    agreed = len(ref.image_tags & cand.image_tags)
    total = len(ref.image_tags | cand.image_tags)
    for row, column in zip(rows, columns, strict=True):
        ref_tags, cand_tags = ref.object_tags[row], cand.object_tags[column]
        agreed += len(ref_tags & cand_tags)
        total += len(ref_tags | cand_tags)
    return agreed, total


def aggregate(scores: Iterable[QualityScore]) -> QualityScore:
    """The micro-averaged score of many comparisons: counts add up, rates come from the totals."""
    total = QualityScore()
    for score in scores:
        total = total + score
    return total


def score_many(
    pairs: Iterable[tuple[Mapping[str, Any] | ParsedAnnotation, Mapping[str, Any] | ParsedAnnotation]],
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
) -> QualityScore:
    """One labeler's score over a set of images: `(reference, candidate)` pairs scored and aggregated.

    Args:
        pairs: `(reference, candidate)` annotations (JSON dicts or `ParsedAnnotation`).
        iou_threshold: Minimum IoU for two same-class objects to match, in (0, 1].

    Raises:
        ValueError: `iou_threshold` is outside (0, 1].
    """
    _check_threshold(iou_threshold)
    pairs = list(pairs)
    # The counts of `QualityScore`, added image by image in the same order as `aggregate` would (no object each).
    images = reference_objects = candidate_objects = matched_objects = tags_agreed = tags_total = 0
    iou_sum = 0.0
    # A mask repeated across the images (e.g. one reference, several labelers) is decoded once.
    masks = MaskCache()
    # Some dozens of images at a time: their geometries are read together, their polygon overlaps computed
    # together, and all of it dropped before the next ones.
    for start in range(0, len(pairs), _PAIRS_PER_READ):
        parsed = _parse_annotations(
            [annotation for pair in pairs[start : start + _PAIRS_PER_READ] for annotation in pair], masks
        )
        refs, cands = parsed[::2], parsed[1::2]
        same_classes = [_same_class(ref, cand) for ref, cand in zip(refs, cands, strict=True)]
        ious = iou_matrices(
            [
                (ref.regions, cand.regions, same)
                for ref, cand, same in zip(refs, cands, same_classes, strict=True)
            ],
            min_iou=iou_threshold,
        )
        for ref, cand, same, matrix in zip(refs, cands, same_classes, ious, strict=True):
            rows, columns, values = (
                _matched(same, matrix, iou_threshold) if ref.object_count and cand.object_count else ([], [], [])
            )
            agreed, total = _tag_counts(ref, cand, rows, columns)
            images += 1
            reference_objects += ref.object_count
            candidate_objects += cand.object_count
            matched_objects += len(values)
            iou_sum += sum(values)
            tags_agreed += agreed
            tags_total += total
    return QualityScore(
        images, reference_objects, candidate_objects, matched_objects, iou_sum, tags_agreed, tags_total
    )


__all__: Sequence[str] = [
    "DEFAULT_IOU_THRESHOLD",
    "ObjectMatch",
    "ParsedAnnotation",
    "QualityScore",
    "aggregate",
    "match_objects",
    "parse_annotation",
    "parse_annotations",
    "score_annotations",
    "score_many",
]
