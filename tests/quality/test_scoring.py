"""Property tests of annotation scoring: matching, precision/recall/F1, mean IoU, tag accuracy, aggregation."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrounds.quality import (
    GeometryError,
    QualityScore,
    aggregate,
    match_objects,
    parse_annotation,
    score_annotations,
    score_many,
)

from .builders import KINDS, Box, annotation, box_object, formula_iou, shifted

SETTINGS = settings(max_examples=60, deadline=None)
TITLES = ("lemon", "leaf")
TAGS = (
    {"name": "ripe", "value": True},
    {"name": "ripe", "value": False},
    {"name": "variety", "value": "eureka"},
    {"name": "occluded", "value": None},
)

boxes = st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(1, 40), st.integers(1, 40))
tag_lists = st.lists(st.sampled_from(TAGS), max_size=2, unique_by=lambda tag: (tag["name"], tag["value"]))


@st.composite
def free_objects(draw: st.DrawFn, kinds: tuple[str, ...] = KINDS, max_size: int = 6) -> list[dict]:
    """Objects anywhere in a small image, so that they overlap often (ties and conflicts included)."""
    count = draw(st.integers(0, max_size))
    return [
        box_object(draw(boxes), draw(st.sampled_from(TITLES)), draw(st.sampled_from(kinds)), draw(tag_lists))
        for _ in range(count)
    ]


@st.composite
def spaced_objects(draw: st.DrawFn) -> tuple[list[dict], list[Box]]:
    """1 to 6 objects, one per 100-pixel cell, none within reach of another even when moved by its own width."""
    cells = draw(st.lists(st.integers(0, 24), min_size=1, max_size=6, unique=True))
    placed, placed_boxes = [], []
    for cell in cells:
        left, top, width, height = draw(boxes.map(lambda b: (b[0] % 20, b[1] % 20, b[2], b[3])))
        box = ((cell % 5) * 100 + left, (cell // 5) * 100 + top, width, height)
        placed.append(box_object(box, draw(st.sampled_from(TITLES)), draw(st.sampled_from(KINDS))))
        placed_boxes.append(box)
    return placed, placed_boxes


def renamed(objects: list[dict], suffix: str) -> list[dict]:
    """The same objects with every class renamed."""
    return [{**obj, "classTitle": obj["classTitle"] + suffix} for obj in objects]


def class_ignoring_score(reference: dict, candidate: dict) -> QualityScore:
    """Mutant: a matcher that ignores the class (every object relabelled to one class before matching)."""
    return score_annotations(
        {**reference, "objects": [{**obj, "classTitle": "any"} for obj in reference["objects"]]},
        {**candidate, "objects": [{**obj, "classTitle": "any"} for obj in candidate["objects"]]},
    )


def perfect_rates(score: QualityScore) -> bool:
    return score.precision == score.recall == score.f1 == 1.0 and score.mean_iou == pytest.approx(1.0)


@SETTINGS
@given(free_objects(), tag_lists)
def test_identical_annotations_score_one(objects: list[dict], image_tags: list[dict]) -> None:
    """An annotation scored against itself: precision, recall, F1, mean IoU and tag accuracy are all 1."""
    score = score_annotations(annotation(objects, image_tags), annotation(objects, image_tags))
    assert perfect_rates(score)
    assert score.matched_objects == len(objects)
    assert score.tag_accuracy == 1.0


def different_classes_score_zero(score: Callable[[dict, dict], QualityScore], objects: list[dict]) -> bool:
    """The check: the same geometry under other classes matches nothing."""
    result = score(annotation(objects), annotation(renamed(objects, "-other")))
    return result.matched_objects == 0 and result.precision == result.recall == result.f1 == result.mean_iou == 0


@SETTINGS
@given(free_objects().filter(bool))
def test_same_geometry_of_another_class_scores_zero(objects: list[dict]) -> None:
    """Objects of other classes never match, however well they overlap."""
    assert different_classes_score_zero(score_annotations, objects)


def test_a_class_ignoring_matcher_fails_the_class_check() -> None:
    """Mutant: the check above catches a matcher that ignores the class."""
    objects = [box_object((0, 0, 10, 10), "lemon"), box_object((50, 50, 10, 10), "leaf", "bitmap")]
    assert different_classes_score_zero(score_annotations, objects)
    assert not different_classes_score_zero(class_ignoring_score, objects)


@SETTINGS
@given(free_objects().filter(bool))
def test_objects_moved_away_score_zero(objects: list[dict]) -> None:
    """The same objects moved clear of all the others (no overlap at all) match nothing."""
    score = score_annotations(annotation(objects), annotation([shifted(obj, 1000, 1000) for obj in objects]))
    assert score.matched_objects == 0
    assert score.precision == score.recall == score.f1 == score.mean_iou == 0.0


@SETTINGS
@given(free_objects(), free_objects())
def test_swapping_the_arguments_swaps_precision_and_recall(first: list[dict], second: list[dict]) -> None:
    """score(a, b) and score(b, a): precision and recall swap; matches, F1 and mean IoU are the same."""
    forward = score_annotations(annotation(first), annotation(second))
    backward = score_annotations(annotation(second), annotation(first))
    assert forward.precision == backward.recall
    assert forward.recall == backward.precision
    assert forward.matched_objects == backward.matched_objects
    assert forward.f1 == backward.f1
    assert forward.mean_iou == pytest.approx(backward.mean_iou)
    assert 0.0 <= forward.mean_iou <= 1.0


@SETTINGS
@given(spaced_objects(), st.data())
def test_moving_one_object_by_its_width_drops_recall(layout: tuple[list[dict], list[Box]], data: st.DataObject) -> None:
    """One of n objects moved right by its own width no longer overlaps its original: recall and precision
    become (n - 1) / n, the others still match perfectly."""
    objects, placed_boxes = layout
    moved_index = data.draw(st.integers(0, len(objects) - 1))
    candidate = list(objects)
    candidate[moved_index] = shifted(objects[moved_index], placed_boxes[moved_index][2])
    score = score_annotations(annotation(objects), annotation(candidate))
    expected = (len(objects) - 1) / len(objects)
    assert score.recall == pytest.approx(expected)
    assert score.precision == pytest.approx(expected)
    assert score.mean_iou == pytest.approx(1.0 if len(objects) > 1 else 0.0)


def brute_force_best(reference: list[Box], candidate: list[Box], ref_titles: list[str], cand_titles: list[str]):
    """Oracle: (most matches, largest IoU total) over every one-to-one matching, IoU from the area formula."""
    threshold = 0.5

    def best(row: int, used: frozenset[int]) -> tuple[int, float]:
        if row == len(reference):
            return 0, 0.0
        options = [best(row + 1, used)]
        for column, box in enumerate(candidate):
            value = formula_iou(reference[row], box)
            if column not in used and ref_titles[row] == cand_titles[column] and value >= threshold:
                count, total = best(row + 1, used | {column})
                options.append((count + 1, total + value))
        return max(options, key=lambda option: (option[0], round(option[1], 9)))

    return best(0, frozenset())


@SETTINGS
@given(
    st.lists(st.tuples(boxes, st.sampled_from(TITLES)), max_size=5),
    st.lists(st.tuples(boxes, st.sampled_from(TITLES)), max_size=5),
)
def test_matching_is_optimal(reference: list[tuple[Box, str]], candidate: list[tuple[Box, str]]) -> None:
    """The matching has as many pairs as the best one-to-one matching, then the largest IoU total (brute force
    over all matchings with IoU from the area formula), and every pair is same-class with IoU >= 0.5."""
    ref_annotation = annotation([box_object(box, title) for box, title in reference])
    cand_annotation = annotation([box_object(box, title) for box, title in candidate])
    matches = match_objects(ref_annotation, cand_annotation)
    expected_count, expected_total = brute_force_best(
        [box for box, _ in reference], [box for box, _ in candidate],
        [title for _, title in reference], [title for _, title in candidate],
    )
    assert len(matches) == expected_count
    assert sum(match.iou for match in matches) == pytest.approx(expected_total)
    assert len({m.reference_index for m in matches}) == len({m.candidate_index for m in matches}) == len(matches)
    for match in matches:
        assert reference[match.reference_index][1] == candidate[match.candidate_index][1]
        assert match.iou >= 0.5


def greedy_match_count(ref_boxes: list[Box], cand_boxes: list[Box], threshold: float = 0.5) -> int:
    """Mutant: greedy matching by highest IoU first."""
    pairs = sorted(
        ((formula_iou(a, b), i, j) for i, a in enumerate(ref_boxes) for j, b in enumerate(cand_boxes)), reverse=True
    )
    used_rows, used_columns = set(), set()
    for value, i, j in pairs:
        if value >= threshold and i not in used_rows and j not in used_columns:
            used_rows.add(i)
            used_columns.add(j)
    return len(used_rows)


def test_optimal_matching_beats_greedy_on_a_conflict() -> None:
    """A1-B1 (IoU 0.9) is the best single pair, but A1-B2 (0.6) with A2-B1 (7/9) matches both objects; greedy
    (the mutant) stops at one, so the expected count of 2 catches it."""
    height = 10
    a1, a2 = (0, 0, 10, height), (2, 0, 7, height)  # columns 0-9 and 2-8
    b1, b2 = (0, 0, 9, height), (0, 0, 6, height)  # columns 0-8 and 0-5
    assert formula_iou(a1, b1) == pytest.approx(0.9) and formula_iou(a2, b2) < 0.5
    score = score_annotations(
        annotation([box_object(a1), box_object(a2)]), annotation([box_object(b1), box_object(b2)])
    )
    assert score.matched_objects == 2
    assert score.iou_sum == pytest.approx(0.6 + 7 / 9)
    assert greedy_match_count([a1, a2], [b1, b2]) == 1


@pytest.mark.parametrize(
    ("reference", "candidate", "expected"),
    [
        ([], [], 1.0),
        ([box_object((0, 0, 5, 5))], [], 0.0),
        ([], [box_object((0, 0, 5, 5))], 0.0),
    ],
)
def test_empty_annotations_conventions(reference: list[dict], candidate: list[dict], expected: float) -> None:
    """Both empty: precision, recall, F1 and mean IoU are 1; one side empty: all are 0."""
    score = score_annotations(annotation(reference), annotation(candidate))
    assert score.precision == score.recall == score.f1 == score.mean_iou == expected


def test_tag_accuracy_counts_image_tags_and_matched_objects_tags() -> None:
    """Image tags {ripe=True, occluded} vs {ripe=False, occluded}: 1 agreed of 3 distinct; the matched object
    adds variety (agreed, 1 of 1); the unmatched object's tags are not counted: 2 of 4."""
    reference = annotation(
        [box_object((0, 0, 10, 10), tags=[TAGS[2]]), box_object((50, 50, 5, 5), tags=[TAGS[0]])],
        [TAGS[0], TAGS[3]],
    )
    candidate = annotation([box_object((0, 0, 10, 10), tags=[TAGS[2]])], [TAGS[1], TAGS[3]])
    score = score_annotations(reference, candidate)
    assert (score.tags_agreed, score.tags_total) == (2, 4)
    assert score.tag_accuracy == 0.5


def test_aggregate_is_micro_averaged() -> None:
    """Image 1: 3 objects found exactly; image 2: its one object missed, one extra drawn elsewhere.
    Over both: 3 matched of 4 reference and 4 candidate objects: precision = recall = F1 = 0.75, mean IoU 1."""
    three = [box_object((i * 20, 0, 10, 10)) for i in range(3)]
    pairs = [
        (annotation(three), annotation(three)),
        (annotation([box_object((0, 0, 10, 10))]), annotation([box_object((500, 500, 10, 10))])),
    ]
    total = score_many(pairs)
    assert (total.images, total.reference_objects, total.candidate_objects, total.matched_objects) == (2, 4, 4, 3)
    assert total.precision == total.recall == total.f1 == 0.75
    assert total.mean_iou == 1.0
    assert aggregate(score_annotations(ref, cand) for ref, cand in pairs) == total
    # Macro-averaging would give (1 + 0) / 2 = 0.5: the micro average is not that.
    assert total.f1 != (score_annotations(*pairs[0]).f1 + score_annotations(*pairs[1]).f1) / 2
    row = total.as_row()
    assert row["f1"] == 0.75 and row["matched_objects"] == 3 and set(row) >= {"precision", "recall", "tag_accuracy"}


def test_a_parsed_reference_scores_like_its_json() -> None:
    """A gold annotation parsed once and scored against several labelers gives the same scores as its JSON."""
    gold = annotation([box_object((0, 0, 10, 10), kind="bitmap"), box_object((30, 0, 10, 10), "leaf", "polygon")])
    parsed = parse_annotation(gold)
    for candidate in (gold, annotation([box_object((1, 0, 10, 10))]), annotation([])):
        assert score_annotations(parsed, candidate) == score_annotations(gold, candidate)


def test_bad_input_is_refused() -> None:
    """A threshold outside (0, 1] and an object without class are refused with the problem named."""
    one = annotation([box_object((0, 0, 5, 5))])
    for threshold in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match="iou_threshold"):
            score_annotations(one, one, iou_threshold=threshold)
    with pytest.raises(GeometryError, match="object 0 has no classTitle"):
        score_annotations(annotation([{"geometryType": "rectangle"}]), one)
    with pytest.raises(GeometryError, match="object 1: geometry type 'line'"):
        score_annotations(annotation([box_object((0, 0, 5, 5)), {"classTitle": "x", "geometryType": "line"}]), one)
