"""steps.jobs against the sandbox: one job per share with explicit images and lineage, never a duplicate."""

from __future__ import annotations

import pandas as pd
import pytest

from labelrounds.client import Filter, SuperviselyClient
from labelrounds.round_spec import RoundSpec
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.errors import RoundConflictError, RoundError
from labelrounds.steps.jobs import create_jobs
from labelrounds.steps.lineage import JOB_COLUMNS, JobLineage
from labelrounds.steps.split import split_images
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.users import UsersResult, ensure_round_users

from .support import PASSWORD, LoseReplies, admin_client, lemons_spec


async def _round_jobs(api: SuperviselyClient, target: RoundTarget) -> list[tuple[int, JobLineage]]:
    jobs = await api.list_jobs(
        target.team.id, [Filter.eq("projectId", target.project.id)], show_disabled=True
    )
    return [(job.id, lineage) for job in jobs if (lineage := JobLineage.of(job)) is not None]


async def _plan_and_create(
    api: SuperviselyClient, target: RoundTarget, spec: RoundSpec, people: UsersResult
) -> tuple[pd.DataFrame, pd.DataFrame]:
    plan = await split_images(api, target, spec)
    return plan, await create_jobs(api, target, spec, plan, people.user_ids)


async def test_one_job_per_share_with_exactly_its_images(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult
) -> None:
    spec = lemons_spec(readme="read me", description="two labelers", objects_limit_per_image=5)
    plan, jobs = await _plan_and_create(api, target, spec, people)

    assert list(jobs.columns) == list(JOB_COLUMNS)
    assert jobs["outcome"].tolist() == ["created", "created"]
    for row in jobs.itertuples(index=False):
        job = await api.get_job(row.job_id)
        assert job is not None
        planned_ids = sorted(plan.loc[plan["share_key"] == row.share_key, "image_id"])
        assert sorted(job.entity_ids()) == planned_ids and row.images == len(planned_ids)
        assert job.name == row.job_name and job.labeler_login == row.labeler
        assert job.reviewer_login == "reviewer_1" and job.user_id == people.user_ids[row.labeler]
        assert job.classes_to_label == ["kiwi", "lemon"] and job.tags_to_label == ["size", "origin"]
        assert (
            job.readme == "read me"
            and job.description == "two labelers"
            and job.meta.image_figures_limit == 5
        )
        assert JobLineage.of(job) == JobLineage(
            round="round-1@13487", dataset=row.dataset_id, labeler=row.labeler, share=row.share_key, cycle=0
        )


async def test_a_rerun_reuses_every_job_and_creates_nothing(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult
) -> None:
    _, first = await _plan_and_create(api, target, lemons_spec(), people)
    adds = api.stats.calls["jobs.add"]

    _, second = await _plan_and_create(api, target, lemons_spec(), people)

    assert api.stats.calls["jobs.add"] == adds
    assert second["job_id"].tolist() == first["job_id"].tolist()
    assert second["outcome"].tolist() == ["reused", "reused"]
    assert len(await _round_jobs(api, target)) == 2


async def test_a_partly_created_round_creates_only_the_missing_jobs(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult
) -> None:
    spec = lemons_spec()
    plan = await split_images(api, target, spec)
    first_share = plan[plan["labeler"] == "labeler_1"]
    await create_jobs(api, target, spec, first_share, people.user_ids)

    jobs = await create_jobs(api, target, spec, plan, people.user_ids)

    assert jobs["outcome"].tolist() == ["reused", "created"]
    assert len(await _round_jobs(api, target)) == 2


async def test_a_changed_plan_is_a_conflict_and_creates_nothing(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult
) -> None:
    await _plan_and_create(api, target, lemons_spec(), people)
    three = lemons_spec(labelers=["labeler_1", "labeler_2", "labeler_3"])
    more_people = await ensure_round_users(api, three, PASSWORD)

    with pytest.raises(RoundConflictError) as raised:
        await _plan_and_create(api, target, three, more_people)

    assert "round 'round-1@13487' already has jobs that do not match this plan" in str(raised.value)
    assert len(raised.value.conflicts) == 2 and "holds share d1001-c0-n3-" in raised.value.conflicts[0]
    assert len(await _round_jobs(api, target)) == 2


async def test_another_round_on_the_same_images_is_independent(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult
) -> None:
    await _plan_and_create(api, target, lemons_spec(), people)
    other_target = target.model_copy(update={"round_key": "round-2@13487"})
    _, jobs = await _plan_and_create(api, other_target, lemons_spec(round_name="round-2"), people)
    assert jobs["outcome"].tolist() == ["created", "created"]
    assert len(await _round_jobs(api, target)) == 4


async def test_a_lost_jobs_add_reply_is_adopted_never_duplicated(
    sandbox: SandboxServer, target: RoundTarget, people: UsersResult
) -> None:
    losing = LoseReplies("jobs.add", times=2)
    async with admin_client(sandbox, transport=losing) as api:
        _, jobs = await _plan_and_create(api, target, lemons_spec(), people)
        assert losing.lost == 2 and api.stats.calls["jobs.add"] == 2
        assert jobs["outcome"].tolist() == ["adopted", "adopted"]
        round_jobs = await _round_jobs(api, target)
        assert sorted(job_id for job_id, _ in round_jobs) == sorted(jobs["job_id"])
        # and a retry of the whole step afterwards still finds exactly those two jobs
        _, again = await _plan_and_create(api, target, lemons_spec(), people)
        assert again["job_id"].tolist() == jobs["job_id"].tolist()
        assert len(await _round_jobs(api, target)) == 2


async def test_labelers_without_a_user_id_are_refused(api: SuperviselyClient, target: RoundTarget) -> None:
    plan = await split_images(api, target, lemons_spec())
    with pytest.raises(RoundError, match="no user id for the reviewer 'reviewer_1'; ensure the users first"):
        await create_jobs(api, target, lemons_spec(), plan, {"labeler_1": 1, "labeler_2": 2})
    with pytest.raises(RoundError, match="no user id for labelers labeler_2; ensure the users first"):
        await create_jobs(api, target, lemons_spec(), plan, {"labeler_1": 1, "reviewer_1": 3})
    assert api.stats.calls["jobs.add"] == 0
