"""Property tests of the round planner: coverage, balance, weights, determinism, keys and job names."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrounds.planning import (
    JOB_NAME_MAX_LENGTH,
    PLAN_COLUMNS,
    PlanningError,
    apportion,
    job_name,
    plan_split,
    round_key,
    share_key,
    summarize_plan,
)
from labelrounds.round_spec import LabelerSpec, SplitStrategy

# Plans are built with pandas, so keep the example count moderate; no deadline on a shared machine.
FRAME_SETTINGS = settings(max_examples=60, deadline=None)
ROUND = "round-1"
KEY = round_key(ROUND, 13487)


@st.composite
def image_frames(draw: st.DrawFn, min_size: int = 1, max_size: int = 60) -> pd.DataFrame:
    """A shuffled frame of distinct images spread over a few datasets."""
    ids = draw(st.lists(st.integers(1, 10_000), min_size=min_size, max_size=max_size, unique=True))
    datasets = draw(st.lists(st.integers(1, 4), min_size=len(ids), max_size=len(ids)))
    frame = pd.DataFrame(
        {
            "dataset_id": datasets,
            "dataset_name": [f"ds{d}" for d in datasets],
            "image_id": ids,
            "image_name": [f"IMG_{i}.jpeg" for i in ids],
        }
    )
    return frame.sample(frac=1, random_state=draw(st.integers(0, 1000)))


@st.composite
def labeler_lists(draw: st.DrawFn, max_size: int = 6) -> list[LabelerSpec]:
    """Distinct labelers with positive weights."""
    count = draw(st.integers(1, max_size))
    weights = draw(st.lists(st.floats(0.01, 100, allow_nan=False), min_size=count, max_size=count))
    return [LabelerSpec(login=f"labeler_{i}", weight=w) for i, w in enumerate(weights)]


def _sizes_by_labeler(plan: pd.DataFrame) -> dict[str, int]:
    return plan.groupby("labeler").size().to_dict()


@FRAME_SETTINGS
@given(images=image_frames(), labelers=labeler_lists(), strategy=st.sampled_from(list(SplitStrategy)))
def test_every_image_lands_in_exactly_one_share(
    images: pd.DataFrame, labelers: list[LabelerSpec], strategy: SplitStrategy
) -> None:
    plan = plan_split(images, labelers, strategy, KEY, round_name=ROUND)
    assert list(plan.columns) == list(PLAN_COLUMNS)
    assert sorted(plan["image_id"]) == sorted(images["image_id"])
    assert not plan["image_id"].duplicated().any()
    # each share is one labeler in one dataset, and its key is unique to it
    per_share = plan.groupby("share_key")[["labeler", "dataset_id", "job_name"]].nunique()
    assert (per_share == 1).all().all()
    assert plan.groupby(["labeler", "dataset_id"])["share_key"].nunique().eq(1).all()
    assert set(plan["round_key"]) == {KEY}
    assert set(plan["cycle"]) == {0}


@FRAME_SETTINGS
@given(images=image_frames(), labelers=labeler_lists())
def test_even_split_sizes_differ_by_at_most_one(images: pd.DataFrame, labelers: list[LabelerSpec]) -> None:
    plan = plan_split(images, labelers, SplitStrategy.EVEN, KEY, round_name=ROUND)
    sizes = _sizes_by_labeler(plan)
    counted = [sizes.get(labeler.login, 0) for labeler in labelers]
    assert max(counted) - min(counted) <= 1
    assert sum(counted) == len(images)


@FRAME_SETTINGS
@given(images=image_frames(), labelers=labeler_lists())
def test_weighted_split_follows_the_weights(images: pd.DataFrame, labelers: list[LabelerSpec]) -> None:
    plan = plan_split(images, labelers, SplitStrategy.WEIGHTED, KEY, round_name=ROUND)
    sizes = _sizes_by_labeler(plan)
    total_weight = sum(Fraction(labeler.weight) for labeler in labelers)
    for labeler in labelers:
        exact = len(images) * Fraction(labeler.weight) / total_weight
        assert int(exact) <= sizes.get(labeler.login, 0) <= int(exact) + 1


@FRAME_SETTINGS
@given(images=image_frames(), labelers=labeler_lists(), strategy=st.sampled_from(list(SplitStrategy)))
def test_no_empty_share_and_zero_quota_labelers_get_no_job(
    images: pd.DataFrame, labelers: list[LabelerSpec], strategy: SplitStrategy
) -> None:
    plan = plan_split(images, labelers, strategy, KEY, round_name=ROUND)
    summary = summarize_plan(plan)
    assert (summary["images"] > 0).all()
    assert summary["images"].sum() == len(images)
    assert len(summary) <= len(labelers) + plan["dataset_id"].nunique() - 1
    if len(images) < len(labelers) and strategy is SplitStrategy.EVEN:
        assert plan["labeler"].nunique() == len(images)


@FRAME_SETTINGS
@given(images=image_frames(), labelers=labeler_lists(), strategy=st.sampled_from(list(SplitStrategy)))
def test_the_plan_is_deterministic_whatever_the_row_order(
    images: pd.DataFrame, labelers: list[LabelerSpec], strategy: SplitStrategy
) -> None:
    first = plan_split(images, labelers, strategy, KEY, round_name=ROUND)
    reshuffled = images.sample(frac=1, random_state=7).reset_index(drop=True)
    second = plan_split(reshuffled, labelers, strategy, KEY, round_name=ROUND)
    pd.testing.assert_frame_equal(first, second)


@FRAME_SETTINGS
@given(images=image_frames(), labelers=labeler_lists(), strategy=st.sampled_from(list(SplitStrategy)))
def test_shares_are_contiguous_runs_in_labeler_order(
    images: pd.DataFrame, labelers: list[LabelerSpec], strategy: SplitStrategy
) -> None:
    plan = plan_split(images, labelers, strategy, KEY, round_name=ROUND)
    order = {labeler.login: index for index, labeler in enumerate(labelers)}
    ranks = plan.sort_values(["dataset_id", "image_id"])["labeler"].map(order)
    assert ranks.is_monotonic_increasing


@settings(deadline=None)
@given(total=st.integers(0, 10_000), weights=st.lists(st.floats(0.001, 1000), min_size=1, max_size=12))
def test_apportion_sums_up_and_stays_within_floor_and_ceiling(total: int, weights: list[float]) -> None:
    quotas = apportion(total, weights)
    assert sum(quotas) == total
    weight_sum = sum(Fraction(w) for w in weights)
    for quota, weight in zip(quotas, weights, strict=True):
        exact = total * Fraction(weight) / weight_sum
        assert int(exact) <= quota <= int(exact) + 1


@settings(deadline=None)
@given(total=st.integers(0, 500), count=st.integers(1, 20))
def test_apportion_with_equal_weights_gives_the_remainder_to_the_first(total: int, count: int) -> None:
    assert apportion(total, [1.0] * count) == [total // count + (i < total % count) for i in range(count)]


@settings(max_examples=200, deadline=None)
@given(
    round_name=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,47}", fullmatch=True),
    dataset=st.text(min_size=1, max_size=300),
    labeler=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}", fullmatch=True),
    cycle=st.integers(0, 20),
    parent=st.one_of(st.none(), st.integers(1, 10**12)),
)
def test_job_names_are_deterministic_and_bounded(
    round_name: str, dataset: str, labeler: str, cycle: int, parent: int | None
) -> None:
    name = job_name(round_name, dataset, labeler, cycle, parent)
    assert name == job_name(round_name, dataset, labeler, cycle, parent)
    assert 0 < len(name) <= JOB_NAME_MAX_LENGTH
    if cycle:
        assert name != job_name(round_name, dataset, labeler, 0)


def test_job_names_read_well_and_long_ones_stay_distinct() -> None:
    assert job_name("round-1", "ds1", "labeler_1") == "round-1 / ds1 / labeler_1"
    assert job_name("round-1", "ds1", "labeler_1", 2, 1234) == "round-1 / ds1 / labeler_1 / rework 2 of #1234"
    long_a, long_b = job_name("r", "x" * 200, "a"), job_name("r", "x" * 200, "b")
    assert len(long_a) == JOB_NAME_MAX_LENGTH and long_a != long_b


@given(
    ids=st.lists(st.integers(1, 10**9), min_size=1, max_size=50, unique=True), dataset=st.integers(1, 10**6)
)
def test_share_key_depends_on_content_not_order(ids: list[int], dataset: int) -> None:
    assert share_key(dataset, ids) == share_key(dataset, list(reversed(ids)))
    assert share_key(dataset, ids) != share_key(dataset, ids[:-1] or [ids[0] + 1])
    assert share_key(dataset, ids) != share_key(dataset, ids, cycle=1)
    assert share_key(dataset, ids) != share_key(dataset + 1, ids)


def test_round_key_is_deterministic_and_refuses_unsafe_names() -> None:
    assert round_key("round-1", 13487) == "round-1@13487"
    for bad_name in ("", "has space", "slash/name", "x" * 49):
        with pytest.raises(PlanningError, match="slug-safe"):
            round_key(bad_name, 1)
    with pytest.raises(PlanningError, match="project id"):
        round_key("ok", 0)


def test_plan_refuses_inconsistent_inputs() -> None:
    images = pd.DataFrame(
        {"dataset_id": [1, 1], "dataset_name": ["a", "a"], "image_id": [5, 5], "image_name": ["x", "y"]}
    )
    labelers = [LabelerSpec(login="a")]
    with pytest.raises(PlanningError, match="image ids listed twice: 5"):
        plan_split(images, labelers, SplitStrategy.EVEN, KEY, round_name=ROUND)
    with pytest.raises(PlanningError, match="no images"):
        plan_split(images.iloc[0:0], labelers, SplitStrategy.EVEN, KEY, round_name=ROUND)
    with pytest.raises(PlanningError, match="lacks columns: dataset_name"):
        plan_split(images.drop(columns="dataset_name"), labelers, SplitStrategy.EVEN, KEY, round_name=ROUND)
    single = images.iloc[:1]
    with pytest.raises(PlanningError, match="no labelers"):
        plan_split(single, [], SplitStrategy.EVEN, KEY, round_name=ROUND)
    with pytest.raises(PlanningError, match="duplicate labelers"):
        plan_split(
            single,
            [LabelerSpec(login="a"), LabelerSpec(login="A")],
            SplitStrategy.EVEN,
            KEY,
            round_name=ROUND,
        )
    with pytest.raises(PlanningError, match="positive"):
        apportion(3, [1.0, 0.0])


@FRAME_SETTINGS
@given(images=image_frames(), labelers=labeler_lists(), strategy=st.sampled_from(list(SplitStrategy)))
def test_the_plan_needs_no_image_names_and_summarizes_each_share(
    images: pd.DataFrame, labelers: list[LabelerSpec], strategy: SplitStrategy
) -> None:
    plan = plan_split(images, labelers, strategy, KEY, round_name=ROUND)
    nameless = plan_split(images.drop(columns="image_name"), labelers, strategy, KEY, round_name=ROUND)
    pd.testing.assert_frame_equal(plan, nameless)
    # The oracle: each share's ids and first row read off the plan's rows one by one.
    expected: dict[str, list[int]] = {}
    firsts: dict[str, tuple[str, str, int, str]] = {}
    for row in plan.itertuples(index=False):
        expected.setdefault(row.share_key, []).append(int(row.image_id))
        firsts.setdefault(row.share_key, (row.job_name, row.labeler, int(row.dataset_id), row.dataset_name))
    summary = summarize_plan(plan)
    assert list(summary["share_key"]) == list(expected)
    for share in summary.itertuples(index=False):
        assert share.image_ids.tolist() == sorted(expected[share.share_key])
        assert share.images == len(expected[share.share_key])
        first = firsts[share.share_key]
        assert (share.job_name, share.labeler, share.dataset_id, share.dataset_name) == first
        assert (share.round_key, share.cycle) == (KEY, 0)


def test_a_large_plan_costs_a_few_bytes_per_image() -> None:
    count = 200_000  # issue 14: a round of 1,000,000 images under 300 MB, the plan included
    images = pd.DataFrame(
        {
            "dataset_id": np.repeat([11, 12, 13, 14], count // 4),
            "dataset_name": np.repeat(["ds11", "ds12", "ds13", "ds14"], count // 4),
            "image_id": np.arange(1, count + 1),
            "image_name": [f"IMG_{index:07d}.jpeg" for index in range(count)],
        }
    )
    labelers = [LabelerSpec(login=f"labeler_{index:03d}") for index in range(50)]

    plan = plan_split(images, labelers, SplitStrategy.EVEN, KEY, round_name=ROUND)

    assert len(plan) == count and plan["share_key"].nunique() == 52
    # Three int64 columns and a one-byte code for each text column; an object column of shared strings alone
    # would count 8 bytes of pointer plus the string's size per row.
    assert plan.memory_usage(deep=True, index=False).sum() / count <= 32
