"""Agreement between replicas of one image's annotation, and their merge into one consensus annotation.

Pure functions over Supervisely annotation dicts (wire JSON, as `annotations.info` returns them), on top of
`labelrounds.quality.scoring`. Conventions:
- Agreement of two replicas is the F1 of their matched objects (same class, IoU >= threshold, optimal matching):
  symmetric, 1 when both are empty. The agreement of an image is the mean over all replica pairs (1 with fewer
  than two replicas: nothing to disagree with).
- Merge: objects of all replicas are clustered per class (each replica gives at most one object to a cluster;
  every two members of a cluster overlap with IoU >= threshold: complete linkage, closest pairs first). A cluster
  supported by `min_support` replicas (default: a strict majority) becomes one consensus object whose geometry is
  fused: rectangles -> median of each edge; bitmaps -> pixel majority vote (a pixel set by more than half of the
  members); polygons or mixed kinds -> the medoid (the member with the highest mean IoU to the others). Object tags
  and image tags are kept when more than half of the members (image tags: the support) carry the same (name, value).
- Deterministic and independent of the order of the replicas: they are put in a canonical order (by content) first.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from labelrounds.quality.geometry import (
    BITMAP,
    RECTANGLE,
    MaskCache,
    RegionBatch,
    encode_bitmap,
    iou_matrices,
)
from labelrounds.quality.scoring import (
    DEFAULT_IOU_THRESHOLD,
    ParsedAnnotation,
    QualityScore,
    _check_threshold,
    _matches,
    _parse_annotations,
    _same_class,
    _score,
    _tag_key,
    score_annotations,
)

_IMAGES_PER_READ = 64  # images whose geometries are read and compared together (as in `score_many`)


@dataclass(frozen=True, slots=True)
class ImageAgreement:
    """How much the replicas of one image agree: mean pairwise F1, per labeler pair and per class."""

    mean_f1: float
    per_pair: dict[tuple[str, str], float]  # (login, login) sorted -> F1 of the two replicas
    per_class: dict[str, float]  # class title -> F1 of that class's objects over all pairs (micro)
    replicas: int


@dataclass(frozen=True, slots=True)
class AgreementTables:
    """Agreement of many images, as pandas frames."""

    per_image: pd.DataFrame  # image_id, replicas, mean_f1
    per_class: pd.DataFrame  # class_title, objects, matched_objects, f1
    per_pair: pd.DataFrame  # labeler_a, labeler_b, images, objects, matched_objects, f1, mean_image_f1


def pairwise_agreement(
    annotations: Sequence[Mapping[str, Any]], iou_threshold: float = DEFAULT_IOU_THRESHOLD
) -> float:
    """Mean F1 over all pairs of replicas of one image (1.0 when there are fewer than two, or all are empty).

    Args:
        annotations: The replicas' annotations of one image.
        iou_threshold: Minimum IoU for two same-class objects to match, in (0, 1].
    """
    replicas = {str(index): annotation for index, annotation in enumerate(annotations)}
    return image_agreement(replicas, iou_threshold).mean_f1


def image_agreement(
    replicas: Mapping[str, Mapping[str, Any]], iou_threshold: float = DEFAULT_IOU_THRESHOLD
) -> ImageAgreement:
    """Agreement of one image's replicas, keyed by labeler login.

    Args:
        replicas: Labeler login -> that labeler's annotation of the image.
        iou_threshold: Minimum IoU for two same-class objects to match, in (0, 1].
    """
    return _agreements({0: replicas}, iou_threshold)[0][0]


def agreement_tables(
    replicas_by_image: Mapping[int, Mapping[str, Mapping[str, Any]]],
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
) -> AgreementTables:
    """Agreement per image, per class and per labeler pair over many images.

    Args:
        replicas_by_image: Image id -> labeler login -> annotation.
        iou_threshold: Minimum IoU for two same-class objects to match, in (0, 1].
    """
    agreements, pair_scores, class_counts = _agreements(replicas_by_image, iou_threshold)
    per_image = pd.DataFrame(
        [
            {"image_id": image_id, "replicas": agreement.replicas, "mean_f1": agreement.mean_f1}
            for image_id, agreement in zip(replicas_by_image, agreements, strict=True)
        ],
        columns=["image_id", "replicas", "mean_f1"],
    )
    per_class = pd.DataFrame(
        [
            {
                "class_title": title,
                "objects": objects,
                "matched_objects": matched,
                "f1": _f1(matched, objects),
            }
            for title, (objects, matched) in sorted(class_counts.items())
        ],
        columns=["class_title", "objects", "matched_objects", "f1"],
    )
    pair_rows = []
    for (first, second), scores in sorted(pair_scores.items()):
        total = sum(scores, QualityScore())
        pair_rows.append(
            {
                "labeler_a": first,
                "labeler_b": second,
                "images": total.images,
                "objects": total.reference_objects + total.candidate_objects,
                "matched_objects": total.matched_objects,
                "f1": total.f1,
                "mean_image_f1": float(np.mean([score.f1 for score in scores])),
            }
        )
    per_pair = pd.DataFrame(
        pair_rows,
        columns=["labeler_a", "labeler_b", "images", "objects", "matched_objects", "f1", "mean_image_f1"],
    )
    return AgreementTables(per_image=per_image, per_class=per_class, per_pair=per_pair)


def _f1(matched: int, objects: int) -> float:
    """F1 from matched objects and the objects of both sides (1 when there are none)."""
    return 2 * matched / objects if objects else 1.0


def _agreements(
    replicas_by_image: Mapping[int, Mapping[str, Mapping[str, Any]]], iou_threshold: float
) -> tuple[list[ImageAgreement], dict[tuple[str, str], list[QualityScore]], dict[str, list[int]]]:
    """Each image's agreement, the scores of each labeler pair, and per class [objects, matched] over all pairs."""
    _check_threshold(iou_threshold)
    images = [(image_id, dict(sorted(replicas.items()))) for image_id, replicas in replicas_by_image.items()]
    agreements: list[ImageAgreement] = []
    pair_scores: dict[tuple[str, str], list[QualityScore]] = {}
    class_counts: dict[str, list[int]] = {}
    masks = MaskCache()
    for start in range(0, len(images), _IMAGES_PER_READ):
        chunk = images[start : start + _IMAGES_PER_READ]
        parsed = _parse_annotations([a for _, replicas in chunk for a in replicas.values()], masks)
        jobs: list[tuple[tuple[str, str], ParsedAnnotation, ParsedAnnotation, np.ndarray]] = []
        offsets = []
        position = 0
        for _, replicas in chunk:
            own = dict(zip(replicas, parsed[position : position + len(replicas)], strict=True))
            position += len(replicas)
            offsets.append(len(jobs))
            for first, second in itertools.combinations(sorted(own), 2):
                a, b = own[first], own[second]
                jobs.append(((first, second), a, b, _same_class(a, b)))
        ious = iou_matrices([(a.regions, b.regions, same) for _, a, b, same in jobs], min_iou=iou_threshold)
        offsets.append(len(jobs))
        for index, (_, replicas) in enumerate(chunk):
            per_pair: dict[tuple[str, str], float] = {}
            image_classes: dict[str, list[int]] = {}
            for (pair, a, b, same), matrix in zip(
                jobs[offsets[index] : offsets[index + 1]],
                ious[offsets[index] : offsets[index + 1]],
                strict=True,
            ):
                matches = _matches(same, matrix, iou_threshold) if a.object_count and b.object_count else []
                score = _score(a, b, matches)
                per_pair[pair] = score.f1
                pair_scores.setdefault(pair, []).append(score)
                for title in itertools.chain(a.classes, b.classes):
                    image_classes.setdefault(title, [0, 0])[0] += 1
                for match in matches:
                    image_classes[a.classes[match.reference_index]][1] += 1
            for title, (objects, matched) in image_classes.items():
                totals = class_counts.setdefault(title, [0, 0])
                totals[0] += objects
                totals[1] += matched
            mean_f1 = float(np.mean(list(per_pair.values()))) if per_pair else 1.0
            agreements.append(
                ImageAgreement(
                    mean_f1=mean_f1,
                    per_pair=per_pair,
                    per_class={title: _f1(m, o) for title, (o, m) in sorted(image_classes.items())},
                    replicas=len(replicas),
                )
            )
    return agreements, pair_scores, class_counts


def agreement_with_consensus(
    replica: Mapping[str, Any], consensus: Mapping[str, Any], iou_threshold: float = DEFAULT_IOU_THRESHOLD
) -> float:
    """F1 of one replica against the consensus annotation (for a labeler's scorecard)."""
    return score_annotations(consensus, replica, iou_threshold).f1


def majority(replicas: int) -> int:
    """The smallest strict majority of `replicas` (2 of 2, 2 of 3, 3 of 4, 3 of 5)."""
    return replicas // 2 + 1


def merge_annotations(
    replicas: Sequence[Mapping[str, Any]],
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
    min_support: int | None = None,
) -> dict[str, Any]:
    """The consensus annotation of one image's replicas (wire JSON, writable with `annotations.bulk.add`).

    Args:
        replicas: The replicas' annotations of one image (at least one).
        iou_threshold: Minimum IoU for two same-class objects to be clustered, in (0, 1].
        min_support: How many replicas a cluster needs to be kept (default: a strict majority).

    Raises:
        ValueError: no replica, or `min_support` outside 1..len(replicas).
        GeometryError: an object cannot be read (named by its position).
    """
    return merge_many([replicas], iou_threshold, min_support)[0]


def merge_many(
    images: Sequence[Sequence[Mapping[str, Any]]],
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
    min_support: int | None = None,
) -> list[dict[str, Any]]:
    """`merge_annotations` of many images, their geometries read and compared together (faster than one by one).

    Raises:
        ValueError, GeometryError: as `merge_annotations`.
    """
    _check_threshold(iou_threshold)
    for replicas in images:
        _check_support(len(replicas), min_support)
    merged: list[dict[str, Any]] = []
    masks = MaskCache()
    for start in range(0, len(images), _IMAGES_PER_READ):
        chunk = [_canonical_order(replicas) for replicas in images[start : start + _IMAGES_PER_READ]]
        parsed = _parse_annotations([a for replicas in chunk for a in replicas], masks)
        pooled = []
        position = 0
        for replicas in chunk:
            pooled.append(_Pool.of(replicas, parsed[position : position + len(replicas)]))
            position += len(replicas)
        ious = iou_matrices(
            [(pool.regions, pool.regions, pool.comparable) for pool in pooled], min_iou=iou_threshold
        )
        for replicas, pool, matrix in zip(chunk, pooled, ious, strict=True):
            support = min_support if min_support is not None else majority(len(replicas))
            merged.append(_merged(replicas, pool, matrix, iou_threshold, support))
    return merged


def _check_support(replicas: int, min_support: int | None) -> None:
    if replicas < 1:
        raise ValueError("merging needs at least one replica")
    if min_support is not None and not 1 <= min_support <= replicas:
        raise ValueError(f"min_support must be between 1 and the {replicas} replicas, got {min_support}")


def _canonical_order(replicas: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The replicas sorted by their content (objects and tags), so that the merge ignores their order."""
    return sorted(replicas, key=_content_key)


def _content_key(annotation: Mapping[str, Any]) -> str:
    content = {
        "objects": [_object_content(obj) for obj in annotation.get("objects") or []],
        "tags": sorted(_tag_key(tag) for tag in annotation.get("tags") or []),
    }
    return json.dumps(content, sort_keys=True, default=str)


def _object_content(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "class": obj.get("classTitle"),
        "kind": obj.get("geometryType"),
        "points": obj.get("points"),
        "bitmap": obj.get("bitmap"),
        "tags": sorted((_tag_key(tag) for tag in obj.get("tags") or []), key=str),
    }


@dataclass(frozen=True, slots=True)
class _Pool:
    """All objects of one image's replicas in one batch: their replica, source object and class."""

    objects: list[Mapping[str, Any]]
    replica_of: np.ndarray  # object -> replica index
    classes: np.ndarray
    regions: RegionBatch
    comparable: np.ndarray  # same class and different replica

    @classmethod
    def of(cls, replicas: Sequence[Mapping[str, Any]], parsed: Sequence[ParsedAnnotation]) -> _Pool:
        objects = [obj for replica in replicas for obj in replica.get("objects") or []]
        replica_of = np.repeat(np.arange(len(parsed)), [p.object_count for p in parsed])
        classes = np.array([title for p in parsed for title in p.classes], dtype=object)
        regions = RegionBatch.of([region for p in parsed for region in p.regions.regions])
        comparable = (classes[:, None] == classes[None, :]) & (replica_of[:, None] != replica_of[None, :])
        return cls(objects, replica_of, classes, regions, comparable)


def _merged(
    replicas: Sequence[Mapping[str, Any]], pool: _Pool, ious: np.ndarray, iou_threshold: float, support: int
) -> dict[str, Any]:
    clusters = [members for members in _clusters(pool, ious, iou_threshold) if len(members) >= support]
    objects = [_fused_object(pool, members, ious) for members in clusters]
    objects.sort(key=lambda obj: json.dumps(_object_content(obj), sort_keys=True, default=str))
    size = next((replica["size"] for replica in replicas if replica.get("size")), None)
    merged: dict[str, Any] = {
        "description": "",
        "tags": _majority_tags(replicas, support),
        "objects": objects,
    }
    if size is not None:
        merged["size"] = dict(size)
    return merged


def _clusters(pool: _Pool, ious: np.ndarray, iou_threshold: float) -> list[list[int]]:
    """Complete-linkage clusters: closest pairs first, two clusters joined when they share no replica and every
    cross pair overlaps with IoU >= threshold."""
    count = len(pool.objects)
    cluster_of = list(range(count))
    members: dict[int, list[int]] = {index: [index] for index in range(count)}
    eligible = np.triu(pool.comparable & (ious >= iou_threshold), k=1)
    rows, columns = np.nonzero(eligible)
    order = np.lexsort((columns, rows, -ious[rows, columns]))
    for row, column in zip(rows[order].tolist(), columns[order].tolist(), strict=True):
        first, second = cluster_of[row], cluster_of[column]
        if first == second:
            continue
        a, b = members[first], members[second]
        if set(pool.replica_of[a].tolist()) & set(pool.replica_of[b].tolist()):
            continue
        if not (ious[np.ix_(a, b)] >= iou_threshold).all():
            continue
        members[first] = a + b
        for index in b:
            cluster_of[index] = first
        del members[second]
    return [sorted(group) for _, group in sorted(members.items())]


def _fused_object(pool: _Pool, members: list[int], ious: np.ndarray) -> dict[str, Any]:
    """One consensus object from a cluster's members (see the module docstring for the fusion rules)."""
    sources = [pool.objects[index] for index in members]
    kinds = {obj.get("geometryType") for obj in sources}
    fused: dict[str, Any] = {"classTitle": sources[0]["classTitle"], "description": ""}
    if kinds == {RECTANGLE}:
        fused |= {"geometryType": RECTANGLE, "points": _median_rectangle(pool, members)}
    elif kinds == {BITMAP} and (bitmap := _majority_bitmap(pool, members)) is not None:
        fused |= {"geometryType": BITMAP, "bitmap": bitmap}
    else:
        medoid = sources[_medoid(members, ious)]
        fused["geometryType"] = medoid["geometryType"]
        for field in ("points", "bitmap"):
            if field in medoid:
                fused[field] = medoid[field]
    fused["tags"] = _majority_tags_of([obj.get("tags") or [] for obj in sources], majority(len(sources)))
    return fused


def _median_rectangle(pool: _Pool, members: list[int]) -> dict[str, Any]:
    boxes = pool.regions.boxes[members]  # left, top, right + 1, bottom + 1
    left, top, right, bottom = np.median(boxes, axis=0).tolist()
    corners = [[_number(left), _number(top)], [_number(right - 1), _number(bottom - 1)]]
    return {"exterior": corners, "interior": []}


def _number(value: float) -> int | float:
    """Whole numbers as int (what Supervisely writes), others as they are."""
    return int(value) if float(value).is_integer() else value


def _majority_bitmap(pool: _Pool, members: list[int]) -> dict[str, Any] | None:
    """Pixels set by more than half of the members' masks, cropped to their bounds; None if there are none."""
    regions = [pool.regions.regions[index] for index in members]
    left = int(min(region.box[0] for region in regions))
    top = int(min(region.box[1] for region in regions))
    right = int(max(region.box[2] for region in regions))
    bottom = int(max(region.box[3] for region in regions))
    votes = np.zeros((bottom - top, right - left), dtype=np.int16)
    for region in regions:
        assert region.mask is not None  # noqa: S101 - bitmaps carry their mask
        x, y = int(region.box[0]) - left, int(region.box[1]) - top
        rows, columns = region.mask.shape
        votes[y : y + rows, x : x + columns] += region.mask
    kept = votes * 2 > len(regions)
    set_rows, set_columns = np.nonzero(kept.any(axis=1))[0], np.nonzero(kept.any(axis=0))[0]
    if set_rows.size == 0:
        return None
    crop = kept[set_rows[0] : set_rows[-1] + 1, set_columns[0] : set_columns[-1] + 1]
    return {"data": encode_bitmap(crop), "origin": [left + int(set_columns[0]), top + int(set_rows[0])]}


def _medoid(members: list[int], ious: np.ndarray) -> int:
    """Position (in `members`) of the member with the highest mean IoU to the others; the first on a tie."""
    if len(members) == 1:
        return 0
    block = ious[np.ix_(members, members)]
    return int(np.argmax(block.sum(axis=1) - np.diag(block)))


def _majority_tags(replicas: Sequence[Mapping[str, Any]], support: int) -> list[dict[str, Any]]:
    return _majority_tags_of([replica.get("tags") or [] for replica in replicas], support)


def _majority_tags_of(tag_lists: Sequence[Sequence[Mapping[str, Any]]], support: int) -> list[dict[str, Any]]:
    """The (name, value) tags carried by at least `support` of the lists, as `{"name", "value"}` dicts."""
    counts: dict[tuple[str, Any], int] = {}
    values: dict[tuple[str, Any], Any] = {}
    for tags in tag_lists:
        for tag in tags:
            values.setdefault(_tag_key(tag), tag.get("value"))
        for key in {_tag_key(tag) for tag in tags}:
            counts[key] = counts.get(key, 0) + 1
    kept = sorted((key for key, count in counts.items() if count >= support), key=str)
    return [_tag_dict(name, values[(name, value)]) for name, value in kept]


def _tag_dict(name: str, value: Any) -> dict[str, Any]:
    return {"name": name} if value is None else {"name": name, "value": value}


__all__ = [
    "AgreementTables",
    "ImageAgreement",
    "agreement_tables",
    "agreement_with_consensus",
    "image_agreement",
    "majority",
    "merge_annotations",
    "merge_many",
    "pairwise_agreement",
]
