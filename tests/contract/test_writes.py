"""Client ⇄ sandbox: users, members, meta and the whole job lifecycle, each step with the actor's own token."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from labelrounds.client import Filter, InvalidRequestError, NothingToRestartError
from labelrounds.client.models import (
    JobStatus,
    ObjClass,
    RejectMode,
    ReviewStatus,
    Shape,
    TagMeta,
    TagValueType,
)

from .conftest import World


async def _image_ids(world: World) -> list[int]:
    async with world.client("admin") as api:
        return [image.id for image in await api.list_images(world.dataset_id)]


async def _new_job(world: World, entity_ids: list[int], *, name: str, custom_data: dict | None = None) -> int:
    """A job for the annotator, reviewed by the reviewer, created by the manager."""
    async with world.client("manager") as api:
        [job_id] = await api.add_jobs(
            name,
            world.dataset_id,
            [world.user_ids["annotator"]],
            classes=["kiwi"],
            tags=["size"],
            entity_ids=entity_ids,
            reviewer_id=world.user_ids["reviewer"],
            readme="label every kiwi",
            description="contract job",
            objects_limit=10,
            custom_data=custom_data,
        )
    return job_id


async def test_users_and_members(world: World) -> None:
    async with world.client("manager") as api:
        user_id = await api.add_user("contract_newcomer", SecretStr("pw-newcomer-1"), name="New Comer")
        await api.add_member(world.team_id, "contract_newcomer", 3)
        assert (await api.get_user(user_id)).membership(world.team_id).role_id == 3  # type: ignore[union-attr]
        await api.edit_member_role(world.team_id, user_id, 4)
        [member] = await api.list_members(world.team_id, [Filter.eq("id", user_id)])
        with pytest.raises(InvalidRequestError) as duplicate:
            await api.add_user("contract_newcomer", SecretStr("another-pw"))
    assert (member.login, member.role, member.name) == ("contract_newcomer", "viewer", "New Comer")
    assert duplicate.value.status_code == 400
    assert isinstance(duplicate.value.details, dict) and duplicate.value.details.get("type") == "NONUNIQUE"


async def test_meta_update_keeps_existing_and_assigns_ids(world: World) -> None:
    async with world.client("developer") as api:
        before = await api.get_project_meta(world.project_id)
        wanted = before.model_copy(
            update={
                "classes": [*before.classes, ObjClass(title="contract_plum", shape=Shape.POLYGON)],
                "tags": [*before.tags, TagMeta(name="contract_ripe", value_type=TagValueType.ANY_NUMBER)],
            }
        )
        stored = await api.update_project_meta(world.project_id, wanted)
        reread = await api.get_project_meta(world.project_id)
    assert [c.title for c in reread.classes] == ["kiwi", "lemon", "contract_plum"]
    assert [t.name for t in reread.tags] == ["size", "origin", "contract_ripe"]
    assert [c.id for c in reread.classes[:2]] == [c.id for c in before.classes]
    plum = reread.get_class("contract_plum")
    assert (
        plum is not None
        and plum.id is not None
        and plum.shape is Shape.POLYGON
        and plum.color == wanted.classes[-1].color
    )
    assert stored.get_class("contract_plum") == plum


async def test_job_lifecycle_through_each_actor(world: World) -> None:
    images = await _image_ids(world)
    job_id = await _new_job(
        world, images[:3], name="contract lifecycle", custom_data={"labelrounds": {"round": "c1"}}
    )

    async with world.client("manager") as manager:
        created = await manager.get_job(job_id)
    assert created is not None
    assert (created.status, created.user_id, created.reviewer_id) == (
        JobStatus.PENDING,
        world.user_ids["annotator"],
        world.user_ids["reviewer"],
    )
    assert (created.labeler_login, created.manager_login) == ("contract_annotator", "contract_manager")
    assert created.classes_to_label == ["kiwi"] and created.tags_to_label == ["size"]
    assert created.meta.image_figures_limit == 10 and created.custom_data == {"labelrounds": {"round": "c1"}}
    assert created.entity_ids() == images[:3] and created.images_count == 3

    async with world.client("annotator") as labeler:
        await labeler.set_job_status(job_id, JobStatus.IN_PROGRESS)
        for image_id in images[:3]:
            await labeler.set_entity_review_status(job_id, image_id, ReviewStatus.DONE)
        await labeler.set_job_status(job_id, JobStatus.ON_REVIEW)
        submitted = await labeler.get_job(job_id)
    assert submitted is not None and submitted.status is JobStatus.ON_REVIEW
    assert (submitted.finished_images_count, submitted.progress_images_count) == (3, 3)
    assert submitted.started_at is not None

    async with world.client("reviewer") as reviewer:
        await reviewer.set_entity_review_status(job_id, images[0], ReviewStatus.ACCEPTED)
        await reviewer.set_entity_review_status(job_id, images[1], ReviewStatus.REJECTED)
        await reviewer.reject_job(job_id, RejectMode.UNMARKED)
        await reviewer.set_job_status(job_id, JobStatus.COMPLETED)
        reviewed = await reviewer.get_job(job_id)
        stats = await reviewer.get_job_stats(job_id)
    assert (
        reviewed is not None and reviewed.status is JobStatus.COMPLETED and reviewed.finished_at is not None
    )
    assert (reviewed.accepted_images_count, reviewed.rejected_images_count) == (1, 2)
    assert reviewed.entity_ids(ReviewStatus.REJECTED) == images[1:3]
    assert stats.job.id == job_id and stats.images.total == 3
    assert {image.id: image.review_status for image in stats.images.images} == {
        images[0]: ReviewStatus.ACCEPTED,
        images[1]: ReviewStatus.REJECTED,
        images[2]: ReviewStatus.REJECTED,
    }

    async with world.client("manager") as manager:
        [rework_id] = await manager.restart_job(
            job_id,
            user_ids=[world.user_ids["annotator"]],
            reviewer_id=world.user_ids["reviewer"],
            name="contract rework",
        )
        rework = await manager.get_job(rework_id)
        with pytest.raises(NothingToRestartError):
            await manager.restart_job(
                rework_id, user_ids=[world.user_ids["annotator"]], reviewer_id=world.user_ids["reviewer"]
            )
    assert rework is not None and rework.name == "contract rework" and rework.entity_ids() == images[1:3]
    assert rework.status is JobStatus.PENDING


async def test_a_labeler_cannot_skip_the_lifecycle(world: World) -> None:
    images = await _image_ids(world)
    job_id = await _new_job(world, images[3:4], name="contract order")
    async with world.client("annotator") as labeler:
        with pytest.raises(
            InvalidRequestError, match="jobs.entities.update-review-status failed \\(HTTP 400\\)"
        ):
            await labeler.set_entity_review_status(job_id, images[3], ReviewStatus.DONE)
        await labeler.set_job_status(job_id, JobStatus.IN_PROGRESS)
        with pytest.raises(InvalidRequestError, match="not marked done"):
            await labeler.set_job_status(job_id, JobStatus.ON_REVIEW)


async def test_edit_stop_archive_and_remove(world: World) -> None:
    images = await _image_ids(world)
    job_id = await _new_job(world, images[4:], name="contract admin")
    async with world.client("manager") as api:
        await api.edit_job(job_id, custom_data={"k": 1}, reviewer_id=world.user_ids["developer"])
        edited = await api.get_job(job_id)
        await api.stop_job(job_id)
        stopped = await api.get_job(job_id)
        await api.archive_job(job_id)
        visible = [job.id for job in await api.list_jobs(world.team_id)]
        with_archived = {job.id: job for job in await api.list_jobs(world.team_id, show_disabled=True)}
        await api.remove_jobs([job_id])
        removed = await api.get_job(job_id)
    assert (
        edited is not None
        and edited.custom_data == {"k": 1}
        and edited.reviewer_id == world.user_ids["developer"]
    )
    assert stopped is not None and stopped.status is JobStatus.STOPPED
    assert job_id not in visible and with_archived[job_id].disabled
    assert removed is None


async def test_several_labelers_split_a_dataset(world: World) -> None:
    labelers = [world.user_ids["annotator"], world.user_ids["developer"]]
    async with world.client("admin") as api:
        job_ids = await api.add_jobs(
            "contract split", world.dataset_id, labelers, classes=["lemon"], tags=[], entity_ids=[]
        )
        jobs = [await api.get_job(job_id) for job_id in job_ids]
        images = [image.id for image in await api.list_images(world.dataset_id)]
        await api.remove_jobs(job_ids)
    assert len(job_ids) == 2
    assert [job.user_id for job in jobs if job] == labelers
    assert [job.entity_ids() for job in jobs if job] == [images[:3], images[3:]]


async def test_jobs_list_pages_and_filters(world: World) -> None:
    images = await _image_ids(world)
    job_ids = [await _new_job(world, [image_id], name=f"contract page {image_id}") for image_id in images]
    async with world.client("manager") as api:
        mine = await api.list_jobs(world.team_id, [Filter.in_("id", job_ids)], per_page=2)
        requests = api.stats.requests["jobs.list"]
        await api.stop_job(job_ids[0])
        not_stopped = await api.list_jobs(
            world.team_id,
            [
                Filter.in_("id", job_ids),
                Filter.not_in("status", ["stopped"]),
                Filter.eq("projectId", world.project_id),
            ],
        )
        by_labeler = await api.list_jobs(
            world.team_id, [Filter.in_("id", job_ids), Filter.ne("userId", world.user_ids["annotator"])]
        )
        queue_free = await api.list_jobs(
            world.team_id, [Filter.in_("id", job_ids), Filter.is_null("labelingQueueId")]
        )
        by_name = await api.list_jobs(world.team_id, [Filter.eq("name", f"contract page {images[2]}")])
    assert [job.id for job in mine] == sorted(job_ids)
    assert requests == 3  # 6 jobs, 2 per page
    assert all(job.entities is None for job in mine)
    assert [job.id for job in not_stopped] == job_ids[1:]
    assert by_labeler == []
    assert [job.id for job in queue_free] == job_ids
    assert [job.id for job in by_name] == [job_ids[2]]
