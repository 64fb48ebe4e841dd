"""The consensus parameters (`round_spec.ConsensusSpec`) and the pure planning of `steps.consensus`."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrounds.round_spec import ConsensusSpec, RoundSpecError, parse_round_spec
from labelrounds.steps.consensus import (
    ConsensusFigures,
    agreement_frame,
    disagreement_summary,
    images_for_next_replica,
    replica_labelers,
)

LABELERS = ["labeler_1", "labeler_2", "labeler_3"]


def spec_data(**overrides: Any) -> dict[str, Any]:
    """A valid consensus round's fields with overrides (`consensus` merged into the default one)."""
    consensus = {"overlap": 2, "max_overlap": 3, "adjudicator": "expert", **overrides.pop("consensus", {})}
    return {
        "round_name": "cons",
        "team": "t",
        "project": "p",
        "labelers": LABELERS,
        "reviewer": "reviewer_1",
        "classes": [{"name": "crate", "shape": "rectangle"}],
        "consensus": consensus,
        **overrides,
    }


def refusal(**overrides: Any) -> str:
    """The message of the spec error these overrides cause."""
    with pytest.raises(RoundSpecError) as refused:
        parse_round_spec(spec_data(**overrides))
    return str(refused.value)


def test_a_valid_consensus_spec_parses_with_its_defaults() -> None:
    spec = parse_round_spec(spec_data(consensus={"max_overlap": None}))
    assert spec.consensus == ConsensusSpec(overlap=2, adjudicator="expert")
    assert (spec.consensus.agreement_threshold, spec.consensus.iou, spec.consensus.keep_replicas) == (0.8, 0.5, False)
    assert spec.consensus.most_replicas == 2
    assert parse_round_spec(spec_data()).consensus.most_replicas == 3  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"labelers": LABELERS[:2]}, "consensus.max_overlap 3 needs at least 3 labelers"),
        ({"consensus": {"max_overlap": None, "overlap": 3}, "labelers": LABELERS[:2]}, "consensus.overlap 3 needs"),
        ({"consensus": {"overlap": 1}}, "consensus.overlap"),
        ({"consensus": {"overlap": 6, "max_overlap": None}}, "consensus.overlap"),
        ({"consensus": {"overlap": 3, "max_overlap": 2}}, "max_overlap 2 is below consensus.overlap 3"),
        ({"consensus": {"agreement_threshold": 1.5}}, "consensus.agreement_threshold"),
        ({"consensus": {"agreement_threshold": -0.1}}, "consensus.agreement_threshold"),
        ({"consensus": {"iou": 0}}, "consensus.iou"),
        ({"consensus": {"adjudicator": ""}}, "consensus.adjudicator"),
        ({"consensus": {"replicas": 2}}, "consensus.replicas"),
        ({"assignment": "queue"}, "assignment 'queue' cannot carry it"),
        ({"gold": {"source": "gold", "per_job": 1}}, "gold checks and consensus do not combine"),
        ({"split_strategy": "weighted"}, "split_strategy 'weighted' has no effect with consensus"),
        ({"rework_labeler": "labeler_1"}, "rework_labeler has no effect with consensus"),
        ({"approve_rework_cap": True}, "approve_rework_cap has no effect with consensus"),
        ({"approve_plan": True}, "approve_plan is not available for consensus rounds"),
    ],
)
def test_bad_consensus_parameters_are_refused_with_the_field_named(overrides: dict[str, Any], complaint: str) -> None:
    assert complaint in refusal(**overrides)


@settings(max_examples=30, deadline=None)
@given(
    images=st.lists(st.integers(1, 10_000), min_size=1, max_size=60, unique=True),
    labelers=st.integers(2, 5),
    data=st.data(),
)
def test_no_labeler_gets_two_replicas_of_one_image(images: list[int], labelers: int, data: st.DataObject) -> None:
    """Up to as many replicas as labelers, each image's replicas go to distinct labelers, shares differ by one."""
    logins = [f"l{index}" for index in range(labelers)]
    replicas = data.draw(st.integers(2, labelers))
    selected = pd.DataFrame({"dataset_id": [1] * len(images), "image_id": images})
    plans = [replica_labelers(selected, logins, replica) for replica in range(replicas)]
    for image_id in images:
        assert len({plan[image_id] for plan in plans}) == replicas
    for plan in plans:
        counts = pd.Series(list(plan.values())).value_counts().reindex(logins, fill_value=0)
        assert counts.max() - counts.min() <= 1


def agreement(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    """An agreement frame of (image id, replicas, agreement) rows."""
    return pd.DataFrame(
        [(1, image_id, f"i{image_id}.jpeg", replicas, value) for image_id, replicas, value in rows],
        columns=["dataset_id", "image_id", "image_name", "replicas", "agreement"],
    )


def test_only_images_under_the_threshold_with_every_replica_so_far_get_another() -> None:
    frame = agreement([(1, 2, 0.5), (2, 2, 0.9), (3, 2, 0.79), (4, 3, 0.1)])
    dynamic = ConsensusSpec(overlap=2, max_overlap=4, agreement_threshold=0.8, adjudicator="e")
    assert images_for_next_replica(frame, dynamic, 2) == [1, 3]
    assert images_for_next_replica(frame, dynamic, 3) == [4]
    assert images_for_next_replica(frame, dynamic, 4) == []
    assert images_for_next_replica(frame, ConsensusSpec(overlap=2, adjudicator="e"), 2) == []


def test_the_disagreement_summary_lists_the_worst_images_first_and_fits_its_limit() -> None:
    frame = agreement([(image_id, 3, image_id / 1000) for image_id in range(1, 400)])
    text = disagreement_summary(frame, limit=500)
    assert len(text) <= 500 and text.endswith("(more images)")
    assert text.splitlines()[1].startswith("- i1.jpeg (id 1): agreement 0.00 over 3")
    assert "399 images" in text.splitlines()[0]


def test_labels_per_image_counts_the_cost_against_a_single_pass() -> None:
    figures = ConsensusFigures(
        images=10, labels=23, first_pass_labels=20, replicas=3, mean_agreement=0.9, merged=9, adjudicated=1
    )
    assert figures.labels_per_image == 2.3
    assert "2.30 labels per image" in figures.summary()


def box(left: int, top: int) -> dict[str, Any]:
    """A 100x80 annotation with one 20x20 crate at (left, top)."""
    crate = {
        "classTitle": "crate",
        "geometryType": "rectangle",
        "tags": [],
        "points": {"exterior": [[left, top], [left + 20, top + 20]], "interior": []},
    }
    return {"size": {"width": 100, "height": 80}, "tags": [], "objects": [crate]}


def test_agreement_per_image_and_an_image_missing_a_replica_goes_to_the_adjudicator() -> None:
    selected = pd.DataFrame(
        {"dataset_id": [1, 1, 1], "image_id": [7, 8, 9], "image_name": ["a.jpeg", "b.jpeg", "c.jpeg"]}
    )
    replicas = {7: {"l1": box(10, 10), "l2": box(10, 10)}, 8: {"l1": box(10, 10), "l2": box(60, 50)}, 9: {"l1": box(1, 1)}}
    frame = agreement_frame(replicas, selected, 0.5).set_index("image_id")
    assert frame["agreement"].to_dict() == {7: 1.0, 8: 0.0, 9: 0.0}
    assert frame["replicas"].to_dict() == {7: 2, 8: 2, 9: 1}
