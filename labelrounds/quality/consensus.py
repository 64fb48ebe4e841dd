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

import base64
import itertools
import zlib
from collections import Counter
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
    iou_matrices,
)
from labelrounds.quality.png import one_bit_png
from labelrounds.quality.scoring import (
    DEFAULT_IOU_THRESHOLD,
    ParsedAnnotation,
    QualityScore,
    TagKey,
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
            mean_f1 = sum(per_pair.values()) / len(per_pair) if per_pair else 1.0
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
        chunk = images[start : start + _IMAGES_PER_READ]
        parsed = _parse_annotations([a for replicas in chunk for a in replicas], masks)
        ordered: list[list[tuple[Mapping[str, Any], ParsedAnnotation]]] = []
        position = 0
        for replicas in chunk:
            ordered.append(_canonical_order(replicas, parsed[position : position + len(replicas)]))
            position += len(replicas)
        pooled = [_Pool.of(replicas) for replicas in ordered]
        ious = iou_matrices(
            [(pool.regions, pool.regions, pool.comparable) for pool in pooled], min_iou=iou_threshold
        )
        for replicas, pool, upper in zip(ordered, pooled, ious, strict=True):
            matrix = upper + upper.T
            support = min_support if min_support is not None else majority(len(replicas))
            merged.append(_merged(replicas, pool, matrix, iou_threshold, support))
    return merged


def _check_support(replicas: int, min_support: int | None) -> None:
    if replicas < 1:
        raise ValueError("merging needs at least one replica")
    if min_support is not None and not 1 <= min_support <= replicas:
        raise ValueError(f"min_support must be between 1 and the {replicas} replicas, got {min_support}")


def _canonical_order(
    replicas: Sequence[Mapping[str, Any]], parsed: Sequence[ParsedAnnotation]
) -> list[tuple[Mapping[str, Any], ParsedAnnotation]]:
    """The replicas (with their parsed form) sorted by content, so that the merge ignores their order.

    The key is a function of each replica alone: its classes, boxes and areas, then (only among replicas equal in
    those) its objects' and tags' repr. Replicas with equal keys are equal, so their order changes nothing.
    """
    pairs = sorted(zip(replicas, parsed, strict=True), key=lambda pair: _outline_key(pair[1]))
    result: list[tuple[Mapping[str, Any], ParsedAnnotation]] = []
    for _, group in itertools.groupby(pairs, key=lambda pair: _outline_key(pair[1])):
        tied = list(group)
        result.extend(sorted(tied, key=lambda pair: _content_key(pair[0])) if len(tied) > 1 else tied)
    return result


def _outline_key(parsed: ParsedAnnotation) -> tuple:
    return (
        parsed.object_count,
        tuple(parsed.classes),
        parsed.regions.boxes.tobytes(),
        parsed.regions.areas.tobytes(),
    )


def _content_key(annotation: Mapping[str, Any]) -> str:
    return repr((annotation.get("objects") or [], annotation.get("tags") or []))


@dataclass(frozen=True, slots=True)
class _Pool:
    """All objects of one image's replicas in one batch: their replica, source object, class and tags."""

    objects: list[Mapping[str, Any]]
    replica_of: list[int]  # object -> replica index
    regions: RegionBatch
    object_tags: list[frozenset[TagKey]]
    comparable: np.ndarray  # same class and different replica, upper triangle (IoU is symmetric)

    @classmethod
    def of(cls, replicas: Sequence[tuple[Mapping[str, Any], ParsedAnnotation]]) -> _Pool:
        objects = [obj for replica, _ in replicas for obj in replica.get("objects") or []]
        replica_of = [index for index, (_, p) in enumerate(replicas) for _ in range(p.object_count)]
        classes = np.array([title for _, p in replicas for title in p.classes], dtype=object)
        owners = np.array(replica_of, dtype=int)
        return cls(
            objects=objects,
            replica_of=replica_of,
            regions=RegionBatch.of([region for _, p in replicas for region in p.regions.regions]),
            object_tags=[tags for _, p in replicas for tags in p.object_tags],
            comparable=np.triu((classes[:, None] == classes[None, :]) & (owners[:, None] != owners[None, :])),
        )


def _merged(
    replicas: Sequence[tuple[Mapping[str, Any], ParsedAnnotation]],
    pool: _Pool,
    ious: np.ndarray,
    iou_threshold: float,
    support: int,
) -> dict[str, Any]:
    clusters = [members for members in _clusters(pool, ious, iou_threshold) if len(members) >= support]
    keyed = [_fused_object(pool, members, ious) for members in clusters]
    keyed.sort(key=lambda pair: pair[0])
    merged: dict[str, Any] = {
        "description": "",
        "tags": _majority_tags(
            [p.image_tags for _, p in replicas],
            [replica.get("tags") or [] for replica, _ in replicas],
            support,
        ),
        "objects": [obj for _, obj in keyed],
    }
    size = next((replica["size"] for replica, _ in replicas if replica.get("size")), None)
    if size is not None:
        merged["size"] = dict(size)
    return merged


def _clusters(pool: _Pool, ious: np.ndarray, iou_threshold: float) -> list[list[int]]:
    """Complete-linkage clusters: closest pairs first, two clusters joined when they share no replica and every
    cross pair overlaps with IoU >= threshold."""
    rows, columns = np.nonzero(pool.comparable & (ious >= iou_threshold))
    if rows.size == 0:
        return [[index] for index in range(len(pool.objects))]
    order = np.lexsort((columns, rows, -ious[rows, columns]))
    neighbours: dict[int, set[int]] = {}
    for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
        neighbours.setdefault(row, set()).add(column)
        neighbours.setdefault(column, set()).add(row)
    cluster_of = list(range(len(pool.objects)))
    members: dict[int, list[int]] = {index: [index] for index in range(len(pool.objects))}
    replicas_in: dict[int, set[int]] = {index: {pool.replica_of[index]} for index in range(len(pool.objects))}
    for row, column in zip(rows[order].tolist(), columns[order].tolist(), strict=True):
        first, second = cluster_of[row], cluster_of[column]
        if first == second or replicas_in[first] & replicas_in[second]:
            continue
        a, b = members[first], members[second]
        if not all(neighbours[i].issuperset(b) for i in a):
            continue
        members[first] = a + b
        replicas_in[first] |= replicas_in.pop(second)
        for index in b:
            cluster_of[index] = first
        del members[second]
    return [sorted(group) for _, group in sorted(members.items())]


def _fused_object(pool: _Pool, members: list[int], ious: np.ndarray) -> tuple[tuple, dict[str, Any]]:
    """One consensus object from a cluster's members (see the module docstring for the fusion rules), with a
    key that orders the merged objects by class, kind and place (ties keep the clusters' canonical order)."""
    sources = [pool.objects[index] for index in members]
    kinds = {obj.get("geometryType") for obj in sources}
    title = sources[0]["classTitle"]
    fused: dict[str, Any] = {"classTitle": title, "description": ""}
    if kinds == {RECTANGLE}:
        fused |= {"geometryType": RECTANGLE, "points": _median_rectangle(pool, members)}
    elif kinds == {BITMAP} and (bitmap := _majority_bitmap(pool, members)) is not None:
        fused |= {"geometryType": BITMAP, "bitmap": bitmap}
    else:
        medoid = members[_medoid(members, ious)]
        source = pool.objects[medoid]
        fused["geometryType"] = source["geometryType"]
        for field in ("points", "bitmap"):
            if field in source:
                fused[field] = source[field]
    tag_sources = [obj.get("tags") or [] for obj in sources]
    fused["tags"] = _majority_tags(
        [pool.object_tags[index] for index in members], tag_sources, majority(len(members))
    )
    place = tuple(pool.regions.boxes[members].mean(axis=0).tolist())  # the members' mean box
    return (title, fused["geometryType"], place), fused


def _median_rectangle(pool: _Pool, members: list[int]) -> dict[str, Any]:
    """The rectangle whose every edge is the median of the members' (the mean of the two middle ones if even)."""
    edges = [_median(values) for values in zip(*pool.regions.boxes[members].tolist(), strict=True)]
    left, top, right, bottom = edges  # right and bottom exclusive
    return {
        "exterior": [[_number(left), _number(top)], [_number(right - 1), _number(bottom - 1)]],
        "interior": [],
    }


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


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
    data = base64.b64encode(zlib.compress(one_bit_png(crop))).decode("ascii")
    return {"data": data, "origin": [left + int(set_columns[0]), top + int(set_rows[0])]}


def _medoid(members: list[int], ious: np.ndarray) -> int:
    """Position (in `members`) of the member with the highest mean IoU to the others; the first on a tie."""
    if len(members) == 1:
        return 0
    block = ious[np.ix_(members, members)]
    return int(np.argmax(block.sum(axis=1) - np.diag(block)))


def _majority_tags(
    tag_sets: Sequence[frozenset[TagKey]], tag_lists: Sequence[Sequence[Mapping[str, Any]]], support: int
) -> list[dict[str, Any]]:
    """The (name, value) tags in at least `support` of the sets, as `{"name", "value"}` dicts (the value as the
    first list carrying it wrote it)."""
    if not any(tag_sets):
        return []
    counts = Counter(key for tags in tag_sets for key in tags)
    kept = sorted((key for key, count in counts.items() if count >= support), key=repr)
    if not kept:
        return []
    wanted = set(kept)
    written: dict[TagKey, Any] = {}
    for tags in tag_lists:  # each kept tag's value as the first replica carrying it wrote it
        for tag in tags:
            key = _tag_key(tag)
            if key in wanted and key not in written:
                written[key] = tag.get("value")
        if len(written) == len(wanted):
            break
    return [
        {"name": name} if written[(name, value)] is None else {"name": name, "value": written[(name, value)]}
        for name, value in kept
    ]


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
