"""Gold checks without a server: where `run_round` puts the gold steps, and the gold plan's pure parts.

The gold steps against a sandbox are tested in tests/steps/test_gold.py and tests/flows/test_flow_gold.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pandas as pd
import pytest
from unit.test_round_sequence import RecordingSteps, spec_with

from labelrounds.client.models import DatasetInfo
from labelrounds.planning import plan_split
from labelrounds.round_spec import GoldSpec, LabelerSpec, RoundSpec, RoundSpecError, parse_round_spec
from labelrounds.steps.errors import RoundError
from labelrounds.steps.gold import GoldSet, plan_gold, without_gold_copies
from labelrounds.steps.sequence import GoldSteps, run_round
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.validate import ValidatedRound


class Suspended(BaseException):  # noqa: N818 - stands for Prefect's Pause, which is no Exception either
    """A flow suspended at the gate."""


def gold_round(max_rework_cycles: int = 3) -> RoundSpec:
    """The minimal round of test_round_sequence with gold checks."""
    data = spec_with(max_rework_cycles).model_dump(mode="json")
    return parse_round_spec({**data, "gold": {"source": "gold", "per_job": 1}})


@dataclass
class RecordingGoldSteps(RecordingSteps):
    """RecordingSteps with the gold steps; `suspend_gate_at` raises a BaseException at that gate."""

    suspend_gate_at: int | None = None

    async def validate(self, spec: RoundSpec) -> ValidatedRound:
        fake = await super().validate(spec)
        nothing = cast(Any, None)
        return ValidatedRound(
            target=fake.target,
            meta=nothing,
            selected=nothing,
            plan=fake.plan,
            existing_users={},
            users_to_create=[],
            gold_plan=cast(pd.DataFrame, "gold plan"),
        )

    async def wait_for_review(
        self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, cycle: int
    ) -> None:
        await super().wait_for_review(spec, target, jobs, cycle)
        if cycle == self.suspend_gate_at:
            raise Suspended

    async def create_jobs(
        self, spec: RoundSpec, validated: ValidatedRound, user_ids: dict[str, int]
    ) -> pd.DataFrame:
        self.calls.append(f"jobs see {validated.gold_plan}")
        return await super().create_jobs(spec, validated, user_ids)

    async def copy_gold(self, spec: RoundSpec, validated: ValidatedRound) -> pd.DataFrame:
        self.calls.append("copy_gold")
        return cast(pd.DataFrame, "gold copies")

    async def score_gold(self, spec: RoundSpec, validated: ValidatedRound) -> pd.DataFrame:
        self.calls.append(f"score_gold {validated.gold_plan}")
        return cast(pd.DataFrame, "scores")

    async def remove_gold(self, spec: RoundSpec, validated: ValidatedRound) -> int:
        self.calls.append("remove_gold")
        return 0

    async def report_with_gold(self, spec: RoundSpec, target: RoundTarget, gold: pd.DataFrame) -> str:
        self.calls.append(f"report with {gold}")
        return "the gold report"


async def test_gold_is_copied_before_the_jobs_scored_and_removed_after_the_first_gate() -> None:
    steps = RecordingGoldSteps(rework_cycles=1)
    run = await run_round(steps, gold_round())

    assert isinstance(steps, GoldSteps)
    assert steps.calls == [
        "<setup>", "validate", "ensure_users", "prepare_meta", "copy_gold", "jobs see gold copies",
        "create_jobs ['a', 'b']", "</setup>",
        "<gate>", "gate 0 [1, 2]", "</gate>", "score_gold gold copies", "remove_gold",
        "<rework>", "rework 0 [1, 2]", "</rework>", "<gate>", "gate 1 [11]", "</gate>",
        "<rework>", "rework 1 [11]", "</rework>",
        "<finish>", "finish [1, 2, 11]", "report with scores", "</finish>",
    ]  # fmt: skip
    assert run.report == "the gold report" and cast(Any, run.gold) == "scores"


async def test_a_failing_round_removes_its_gold_and_raises_its_own_error() -> None:
    steps = RecordingGoldSteps(fail_gate_at=0)
    with pytest.raises(RoundError, match="too slow"):
        await run_round(steps, gold_round())
    assert steps.calls[-2:] == ["gate 0 [1, 2]", "remove_gold"]


async def test_a_suspended_round_keeps_its_gold() -> None:
    steps = RecordingGoldSteps(suspend_gate_at=0)
    with pytest.raises(Suspended):
        await run_round(steps, gold_round())
    assert "remove_gold" not in steps.calls and "score_gold gold copies" not in steps.calls


async def test_steps_without_gold_support_refuse_a_gold_round_before_anything() -> None:
    steps = RecordingSteps()
    with pytest.raises(RoundError, match="cannot run gold checks"):
        await run_round(steps, gold_round())
    assert steps.calls == []


def test_gold_amount_is_a_count_or_a_share() -> None:
    assert GoldSpec(source="g", per_job=3).count_for(100) == 3
    assert [GoldSpec(source="g", share=0.05).count_for(n) for n in (1, 20, 21, 100)] == [1, 1, 2, 5]
    for amounts in ({}, {"per_job": 1, "share": 0.1}):
        with pytest.raises(RoundSpecError, match="exactly one of gold.per_job and gold.share"):
            parse_round_spec({**spec_with(0).model_dump(mode="json"), "gold": {"source": "g", **amounts}})


def images(dataset_id: int, names: list[str], first_id: int) -> pd.DataFrame:
    """IMAGE_COLUMNS rows of one dataset."""
    return pd.DataFrame(
        {
            "dataset_id": dataset_id,
            "dataset_name": f"ds{dataset_id}",
            "image_id": range(first_id, first_id + len(names)),
            "image_name": names,
        }
    )


GOLD_SET = GoldSet(
    dataset=DatasetInfo.model_validate({"id": 900, "name": "gold", "projectId": 1}),
    image_names={901 + i: f"IMG_{i:04d}.jpeg" for i in range(12)},
)
LABELERS = [LabelerSpec(login="a"), LabelerSpec(login="b")]


def a_plan(selected: pd.DataFrame) -> pd.DataFrame:
    return plan_split(selected, LABELERS, "even", "r@1", round_name="r")


def test_the_gold_plan_is_deterministic_per_job_with_neutral_names() -> None:
    plan = a_plan(images(1, [f"IMG_{i:04d}.jpeg" for i in range(40)], 1))
    gold = plan_gold(GoldSpec(source="gold", share=0.1), GOLD_SET, plan, "r@1")

    assert gold.equals(plan_gold(GoldSpec(source="gold", share=0.1), GOLD_SET, plan, "r@1"))
    assert gold.groupby("labeler").size().to_dict() == {"a": 2, "b": 2}
    assert gold["copy_name"].is_unique and gold["copy_name"].str.fullmatch(r"[0-9a-f]{16}\.jpeg").all()
    for name in gold["copy_name"]:  # nothing of the gold image's name or id in a copy's name
        assert not any(str(i) in name or source in name for i, source in GOLD_SET.image_names.items())
    assert (
        not plan_gold(GoldSpec(source="gold", share=0.1), GOLD_SET, plan, "other@1")["copy_name"]
        .isin(gold["copy_name"])
        .any()
    )


def test_copies_left_by_a_killed_run_are_not_selected_again() -> None:
    seeded = images(1, [f"IMG_{i:04d}.jpeg" for i in range(40)], 1)
    gold = plan_gold(GoldSpec(source="gold", per_job=2), GOLD_SET, a_plan(seeded), "r@1")
    left_behind = images(1, list(gold["copy_name"]), 500)
    with_leftovers = pd.concat([seeded, left_behind], ignore_index=True)

    kept = without_gold_copies(with_leftovers, GOLD_SET, "r@1", ["a", "b"])
    assert kept["image_id"].tolist() == seeded["image_id"].tolist()
    assert (
        len(without_gold_copies(with_leftovers, GOLD_SET, "another@1", ["a", "b"])) == 44
    )  # mutant: other key


def _scores(f1: dict[str, float], images: int = 5) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"labeler": login, "gold_images": images, "gold_precision": v, "gold_recall": v, "gold_f1": v}
            for login, v in f1.items()
        ]
    )


@pytest.mark.parametrize(
    ("f1", "rework_labeler", "expected"),
    [
        ({"a": 0.9, "b": 0.95, "c": 0.5}, None, {"c": "b"}),  # the best passing labeler
        ({"a": 0.9, "b": 0.95, "c": 0.5}, "a", {"c": "a"}),  # the rework labeler, who passed
        ({"a": 0.9, "b": 0.95, "c": 0.5}, "c", {"c": "b"}),  # the rework labeler failed: the best passing one
        (
            {"a": 0.9, "b": 0.9, "c": 0.5, "d": 0.1},
            None,
            {"c": "a", "d": "a"},
        ),  # a tie goes to the first login
        ({"a": 0.5, "b": 0.6}, None, {}),  # nobody passed: nobody better to relabel
        ({"a": 0.9, "b": 0.8}, None, {}),  # nobody failed
    ],
)
def test_who_relabels_a_labeler_under_the_gold_minimum(
    f1: dict[str, float], rework_labeler: str | None, expected: dict[str, str]
) -> None:
    """Hand-picked answers for `gold.min_f1` 0.7."""
    from labelrounds.steps.gold import relabelers

    assert relabelers(_scores(f1), 0.7, rework_labeler) == expected


def test_a_labeler_without_gold_images_neither_fails_nor_relabels() -> None:
    from labelrounds.steps.gold import relabelers

    scores = pd.concat([_scores({"a": 0.9, "c": 0.5}), _scores({"z": 0.0}, images=0)], ignore_index=True)
    assert relabelers(scores, 0.7, None) == {"c": "a"}
