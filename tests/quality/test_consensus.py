"""Agreement between replicas and their consensus merge, against hand-computed boxes, masks and counts."""

from __future__ import annotations

import base64
import io
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from labelrounds.quality import decode_bitmap, encode_bitmap
from labelrounds.quality.consensus import (
    agreement_tables,
    agreement_with_consensus,
    image_agreement,
    merge_annotations,
    merge_many,
    pairwise_agreement,
)
from labelrounds.quality.png import one_bit_png
from tests.quality.builders import KINDS, annotation, box_object, shifted

SETTINGS = settings(max_examples=40, deadline=None)

boxes = st.tuples(
    st.integers(0, 400), st.integers(0, 400), st.integers(8, 60), st.integers(8, 60)
)  # left, top, width, height


def _geometry(obj: dict) -> tuple:
    """An object's class and geometry in a comparable form (a bitmap as its origin and mask pixels)."""
    if obj["geometryType"] == "bitmap":
        mask = decode_bitmap(obj["bitmap"]["data"])
        return obj["classTitle"], "bitmap", tuple(obj["bitmap"]["origin"]), mask.shape, mask.tobytes()
    return obj["classTitle"], obj["geometryType"], repr(obj["points"])


def _geometries(ann: dict) -> list[tuple]:
    return sorted(_geometry(obj) for obj in ann["objects"])


@SETTINGS
@given(
    st.lists(st.tuples(boxes, st.sampled_from(KINDS), st.sampled_from(["lemon", "kiwi"])), max_size=6),
    st.integers(2, 5),
)
def test_identical_replicas_agree_fully_and_merge_to_their_geometry(objects, replicas) -> None:
    """k copies of one annotation: agreement 1 and the merge has exactly the input's geometry."""
    one = annotation([box_object(box, title, kind) for box, kind, title in objects])
    copies = [annotation([dict(obj) for obj in one["objects"]]) for _ in range(replicas)]
    assert pairwise_agreement(copies) == 1.0
    assert _geometries(merge_annotations(copies)) == _geometries(one)


@SETTINGS
@given(st.lists(boxes, min_size=1, max_size=4), st.sampled_from(KINDS), st.integers(2, 4))
def test_disjoint_replicas_agree_nothing_and_merge_to_nothing(base, kind, replicas) -> None:
    """Each replica draws its objects in its own far-away region: agreement 0 and no object is kept."""
    annotations = [
        annotation([box_object((left + 1000 * r, top, w, h), "lemon", kind) for left, top, w, h in base])
        for r in range(replicas)
    ]
    assert pairwise_agreement(annotations) == 0.0
    assert merge_annotations(annotations)["objects"] == []


def test_no_objects_anywhere_is_full_agreement() -> None:
    """All replicas empty: agreement 1 (nothing to disagree on), an empty merge."""
    assert pairwise_agreement([annotation([]), annotation([]), annotation([])]) == 1.0
    assert merge_annotations([annotation([]), annotation([])])["objects"] == []
    assert (
        pairwise_agreement([annotation([box_object((0, 0, 9, 9))])]) == 1.0
    )  # one replica: nobody to disagree


@st.composite
def jittered_replicas(draw: st.DrawFn) -> list[dict]:
    """2-5 replicas of a scene of objects: each replica finds each object or not, shifted by a few pixels."""
    kind = draw(st.sampled_from(KINDS))
    scene = draw(st.lists(st.tuples(boxes, st.sampled_from(["lemon", "kiwi"])), min_size=1, max_size=5))
    replicas = []
    for _ in range(draw(st.integers(2, 5))):
        objects = []
        for box, title in scene:
            if draw(st.booleans()):
                dx, dy = draw(st.integers(-4, 4)), draw(st.integers(-4, 4))
                objects.append(shifted(box_object(box, title, kind), dx, dy))
        replicas.append(annotation(objects, tags=[{"name": "size", "value": draw(st.sampled_from("SML"))}]))
    return replicas


@SETTINGS
@given(jittered_replicas(), st.randoms(use_true_random=False))
def test_the_merge_ignores_the_order_of_the_replicas(replicas, random) -> None:
    """A permutation of the replicas gives the same consensus, object for object."""
    permuted = list(replicas)
    random.shuffle(permuted)
    assert merge_annotations(permuted) == merge_annotations(replicas)
    assert pairwise_agreement(permuted) == pytest.approx(pairwise_agreement(replicas))


def _assert_majority_only(
    merged: dict, supports: dict[tuple[int, int, int, int], int], replicas: int
) -> None:
    """Oracle: the merge holds exactly the scene objects found by a strict majority (supports counted by hand)."""
    kept = sorted(
        (obj["points"]["exterior"][0][0], obj["points"]["exterior"][0][1]) for obj in merged["objects"]
    )
    expected = sorted((box[0], box[1]) for box, support in supports.items() if 2 * support > replicas)
    assert kept == expected


_SCENE = [(10, 10, 30, 30), (200, 10, 30, 30), (10, 200, 30, 30)]
# Replica r finds the objects marked 1: the first by all three, the second by two, the third by one only.
_FOUND = [(1, 1, 1), (1, 1, 0), (1, 0, 0)]


def _scene_replicas() -> tuple[list[dict], dict[tuple[int, int, int, int], int]]:
    replicas = [
        annotation([box_object(box) for box, found in zip(_SCENE, row, strict=True) if found])
        for row in zip(*_FOUND, strict=True)
    ]
    return replicas, {box: sum(found) for box, found in zip(_SCENE, _FOUND, strict=True)}


def test_an_object_found_by_a_minority_is_dropped() -> None:
    """3 replicas: objects found by 3 and by 2 are kept, the one found by 1 is dropped."""
    replicas, supports = _scene_replicas()
    merged = merge_annotations(replicas)
    assert len(merged["objects"]) == 2
    _assert_majority_only(merged, supports, replicas=3)


def test_mutant_a_merge_keeping_minority_objects_fails_the_majority_oracle() -> None:
    """The oracle catches a merge that keeps everything (min_support=1, as a buggy support rule would)."""
    replicas, supports = _scene_replicas()
    with pytest.raises(AssertionError):
        _assert_majority_only(merge_annotations(replicas, min_support=1), supports, replicas=3)


def test_min_support_overrides_the_majority() -> None:
    """min_support=3 keeps only the object all three found."""
    replicas, supports = _scene_replicas()
    merged = merge_annotations(replicas, min_support=3)
    assert [obj["points"]["exterior"][0] for obj in merged["objects"]] == [[10, 10]]


def test_the_median_box_of_three_known_boxes() -> None:
    """Corners (10,20)-(50,60), (14,18)-(52,66), (12,25)-(47,61): the median of each edge is (12,20)-(50,61)."""
    corners = [[[10, 20], [50, 60]], [[14, 18], [52, 66]], [[12, 25], [47, 61]]]
    replicas = [
        annotation(
            [
                {
                    "classTitle": "lemon",
                    "geometryType": "rectangle",
                    "tags": [],
                    "points": {"exterior": exterior, "interior": []},
                }
            ]
        )
        for exterior in corners
    ]
    (merged,) = merge_annotations(replicas)["objects"]
    assert merged["points"]["exterior"] == [[12, 20], [50, 61]]


def test_the_majority_mask_of_three_painted_grids() -> None:
    """Three 4x4 masks at one origin; the pixels set in at least two of them were counted by hand."""
    grids = [
        ["1110", "1110", "0000", "0000"],
        ["0111", "0111", "0110", "0000"],
        ["1100", "1111", "0100", "0001"],
    ]
    expected = ["1110", "1111", "0100", "0000"]  # votes per pixel: 2 2 2 0 / 2 3 2 1 / 0 2 1 0 / 0 0 0 1

    def mask(rows: list[str]) -> np.ndarray:
        return np.array([[c == "1" for c in row] for row in rows])

    replicas = [
        annotation(
            [
                {
                    "classTitle": "lemon",
                    "geometryType": "bitmap",
                    "tags": [],
                    "bitmap": {"data": encode_bitmap(mask(grid)), "origin": [100, 50]},
                }
            ]
        )
        for grid in grids
    ]
    (merged,) = merge_annotations(replicas, iou_threshold=0.3)["objects"]
    # The merged mask is cropped to its set pixels: rows 0-2, columns 0-3 of the grid.
    assert merged["bitmap"]["origin"] == [100, 50]
    assert decode_bitmap(merged["bitmap"]["data"]).tolist() == mask(expected[:3]).tolist()


def test_polygons_merge_to_the_medoid() -> None:
    """Three polygons: the middle one overlaps both others most, so it is the consensus."""
    replicas = [annotation([box_object((left, 10, 40, 40), kind="polygon")]) for left in (10, 16, 22)]
    (merged,) = merge_annotations(replicas)["objects"]
    assert merged["points"]["exterior"][0] == [16, 10]


def test_tags_are_kept_by_majority() -> None:
    """Image tag size=L on 2 of 3 replicas is kept, origin=x on 1 of 3 is not; object tags likewise."""
    tagged = [{"name": "ripe"}]
    replicas = [
        annotation([box_object((10, 10, 30, 30), tags=tagged)], tags=[{"name": "size", "value": "L"}]),
        annotation([box_object((11, 10, 30, 30), tags=tagged)], tags=[{"name": "size", "value": "L"}]),
        annotation([box_object((12, 10, 30, 30))], tags=[{"name": "origin", "value": "x"}]),
    ]
    merged = merge_annotations(replicas)
    assert merged["tags"] == [{"name": "size", "value": "L"}]
    assert merged["objects"][0]["tags"] == [{"name": "ripe"}]


def test_one_replica_gives_at_most_one_object_per_cluster() -> None:
    """A replica that drew the same lemon twice does not make it a majority on its own."""
    twice = annotation([box_object((10, 10, 30, 30)), box_object((11, 10, 30, 30))])
    other = annotation([box_object((300, 300, 30, 30))])
    assert merge_annotations([twice, other, annotation([])])["objects"] == []


def test_agreement_per_pair_and_class_counted_by_hand() -> None:
    """a and b agree on both objects, c only on the lemon: pair F1s 1, 1/2, 1/2; kiwi found in 4 of 6 slots."""
    a = annotation([box_object((10, 10, 20, 20)), box_object((100, 100, 30, 30), "kiwi")])
    b = annotation([box_object((12, 10, 20, 20)), box_object((100, 100, 30, 30), "kiwi")])
    c = annotation([box_object((11, 14, 20, 20)), box_object((500, 500, 30, 30), "kiwi")])
    agreement = image_agreement({"zoe": c, "amy": a, "bob": b})
    assert agreement.per_pair == {("amy", "bob"): 1.0, ("amy", "zoe"): 0.5, ("bob", "zoe"): 0.5}
    assert agreement.mean_f1 == pytest.approx(2 / 3)
    # kiwi: 6 objects over the three pairs, 1 matched pair (amy-bob) -> F1 = 2 * 1 / 6
    assert agreement.per_class == pytest.approx({"kiwi": 1 / 3, "lemon": 1.0})
    tables = agreement_tables({7: {"amy": a, "bob": b, "zoe": c}, 8: {"amy": a, "bob": a}})
    assert tables.per_image.to_dict("records") == [
        {"image_id": 7, "replicas": 3, "mean_f1": pytest.approx(2 / 3)},
        {"image_id": 8, "replicas": 2, "mean_f1": 1.0},
    ]
    amy_bob = tables.per_pair.set_index(["labeler_a", "labeler_b"]).loc[("amy", "bob")]
    assert (amy_bob["images"], amy_bob["objects"], amy_bob["matched_objects"]) == (2, 8, 4)
    kiwi = tables.per_class.set_index("class_title").loc["kiwi"]
    assert (kiwi["objects"], kiwi["matched_objects"]) == (8, 2)


def test_agreement_with_the_consensus() -> None:
    """c's kiwi is not in the consensus: c matches 1 of its 2 objects against the consensus's 2 -> F1 1/2."""
    a = annotation([box_object((10, 10, 20, 20)), box_object((100, 100, 30, 30), "kiwi")])
    c = annotation([box_object((11, 14, 20, 20)), box_object((500, 500, 30, 30), "kiwi")])
    consensus = merge_annotations([a, a, c])
    assert agreement_with_consensus(a, consensus) == 1.0
    assert agreement_with_consensus(c, consensus) == 0.5


def test_merge_many_equals_merging_one_by_one() -> None:
    """The batched merge gives each image the same consensus as merging it alone."""
    replicas, _ = _scene_replicas()
    images = [replicas, replicas[::-1], [annotation([])] * 2]
    assert merge_many(images) == [merge_annotations(one) for one in images]


@pytest.mark.parametrize("min_support", [0, 4])
def test_a_support_outside_the_replicas_is_refused(min_support: int) -> None:
    """min_support must be between 1 and the number of replicas."""
    replicas, _ = _scene_replicas()
    with pytest.raises(ValueError, match="min_support"):
        merge_annotations(replicas, min_support=min_support)


def test_no_replica_is_refused() -> None:
    """Merging nothing is an error, not an empty annotation."""
    with pytest.raises(ValueError, match="at least one replica"):
        merge_annotations([])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_the_merged_mask_png_reads_alike_in_pillow(rows: int, columns: int, seed: int) -> None:
    """The consensus's own PNG encoder: Pillow (an independent decoder) sees exactly the mask's pixels opaque."""
    mask = np.random.default_rng(seed).random((rows, columns)) < 0.5
    with Image.open(io.BytesIO(one_bit_png(mask))) as image:
        assert (image.mode, image.size) == ("P", (columns, rows))
        opaque = np.asarray(image.convert("RGBA"))[..., 3] > 0
    np.testing.assert_array_equal(opaque, mask)
    np.testing.assert_array_equal(
        decode_bitmap(base64.b64encode(zlib.compress(one_bit_png(mask))).decode()), mask
    )
