"""Typed methods send the reference's request bodies and read its replies; bad arguments fail before sending."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from labelrounds.client import ResponseFormatError
from labelrounds.client.models import JobStatus, ProjectMeta, RejectMode, ReviewStatus

from . import payloads
from .support import error_reply, method_of, reply

EMPTY_PAGE = {"total": 0, "perPage": 500, "pagesCount": 0, "entities": []}


def page_of(*entities: dict[str, Any]) -> dict[str, Any]:
    return {"total": len(entities), "perPage": 500, "pagesCount": 1, "entities": list(entities)}


def routes(table: dict[str, Any]):
    """A handler answering each method from `table` (a payload, or an httpx.Response)."""

    def handler(request: httpx.Request) -> httpx.Response:
        answer = table[method_of(request)]
        return answer if isinstance(answer, httpx.Response) else reply(answer)

    return handler


async def test_add_jobs_sends_the_sdk_body_and_returns_ids(make_client) -> None:
    async with make_client(routes({"jobs.add": [{"id": 1019}, {"id": 1020}]})) as ctx:
        ids = await ctx.client.add_jobs(
            "labeler2_kiwi_task",
            1001,
            [1017, 1016],
            classes=["kiwi"],
            tags=["size", "origin"],
            entity_ids=[1002, 1003, 1004],
            reviewer_id=7,
            readme="annotation manual",
            description="short description",
            objects_limit=10,
            tags_limit=20,
            include_tags=["size"],
            exclude_tags=["origin"],
            custom_data={"labelrounds": {"round": "r1"}},
        )
    assert ids == [1019, 1020]
    assert ctx.recorder.bodies == [
        {
            "name": "labeler2_kiwi_task",
            "datasetId": 1001,
            "userIds": [1017, 1016],
            "meta": {
                "classes": ["kiwi"],
                "projectTags": ["size", "origin"],
                "imageTags": [{"name": "size", "positive": True}, {"name": "origin", "positive": False}],
                "imageFiguresLimit": 10,
                "imageTagsLimit": 20,
                "entityIds": [1002, 1003, 1004],
                "dynamicClasses": False,
                "dynamicTags": False,
                "allowRestore": False,
            },
            "readme": "annotation manual",
            "description": "short description",
            "reviewerId": 7,
            "customData": {"labelrounds": {"round": "r1"}},
        }
    ]


async def test_add_jobs_minimal_body_matches_the_tutorial(make_client) -> None:
    async with make_client(routes({"jobs.add": [{"id": 1018}]})) as ctx:
        await ctx.client.add_jobs(
            "labeler1_lemons_task", 1001, [1016], classes=["lemon"], tags=[], entity_ids=[]
        )
    assert ctx.recorder.bodies[0] == {
        "name": "labeler1_lemons_task",
        "datasetId": 1001,
        "userIds": [1016],
        "meta": {
            "classes": ["lemon"],
            "projectTags": [],
            "imageTags": [],
            "imageFiguresLimit": 0,
            "imageTagsLimit": 0,
            "entityIds": [],
            "dynamicClasses": False,
            "dynamicTags": False,
            "allowRestore": False,
        },
    }


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"name": " "}, "name must be a non-empty string"),
        ({"user_ids": []}, "user_ids must not be empty"),
        ({"user_ids": [3, 3]}, "user_ids has duplicates"),
        ({"entity_ids": [5, 0]}, "entity_ids must be positive integer ids"),
        ({"classes": "kiwi"}, "classes must be a collection of names"),
        ({"objects_limit": 0}, "objects_limit must be a positive integer"),
        ({"include_tags": ["a"], "exclude_tags": ["a"]}, "tags both included and excluded"),
    ],
)
async def test_add_jobs_refuses_bad_arguments_before_sending(make_client, arguments, problem) -> None:
    call = {
        "name": "j",
        "dataset_id": 1,
        "user_ids": [2],
        "classes": [],
        "tags": [],
        "entity_ids": [],
        **arguments,
    }
    async with make_client(routes({})) as ctx:
        with pytest.raises(ValueError, match=problem):
            await ctx.client.add_jobs(**call)
    assert ctx.recorder.requests == []


async def test_add_jobs_reply_must_be_a_list_of_ids(make_client) -> None:
    async with make_client(routes({"jobs.add": "created"})) as ctx:
        with pytest.raises(ResponseFormatError):
            await ctx.client.add_jobs("j", 1, [2], classes=[], tags=[], entity_ids=[])


async def test_info_lookups_return_none_on_404(make_client) -> None:
    not_found = error_reply(404, "not found")
    methods = [
        "users.info",
        "teams.info",
        "workspaces.info",
        "projects.info",
        "datasets.info",
        "images.info",
        "jobs.info",
    ]
    async with make_client(routes(dict.fromkeys(methods, not_found))) as ctx:
        api = ctx.client
        results = [
            await api.get_user(1),
            await api.get_team(1),
            await api.get_workspace(1),
            await api.get_project(1),
            await api.get_dataset(1),
            await api.get_image(1),
            await api.get_job(1),
        ]
    assert results == [None] * 7
    assert ctx.recorder.methods == methods
    assert all(body == {"id": 1} for body in ctx.recorder.bodies)


async def test_get_user_requires_teams(make_client) -> None:
    async with make_client(routes({"users.info": payloads.USER})) as ctx:
        with pytest.raises(ResponseFormatError, match="teams"):
            await ctx.client.get_user(1016)


async def test_user_calls(make_client) -> None:
    table = {
        "users.list": page_of(payloads.USER),
        "users.me": {**payloads.USER, "id": 7, "login": "cxnt"},
        "users.add": {"userId": 1016},
        "members.add": {"userId": 1016},
        "members.list": page_of({**payloads.USER, "role": "annotator", "roleId": 3}),
        "members.editInfo": {},
        "roles.list": page_of(payloads.ROLE),
    }
    async with make_client(routes(table)) as ctx:
        api = ctx.client
        found = await api.get_user_by_login("labeler_1")
        assert found is not None and found.id == 1016
        assert (await api.get_me()).login == "cxnt"
        assert await api.add_user("labeler_1", SecretStr("11111abc")) == 1016
        await api.add_member(8, "labeler_1", 3)
        [member] = await api.list_members(8)
        assert member.role_id == 3
        await api.edit_member_role(8, 1016, 4)
        assert [role.role for role in await api.list_roles()] == ["annotator"]
    bodies = dict(zip(ctx.recorder.methods, ctx.recorder.bodies, strict=True))
    assert bodies["users.list"]["filter"] == [{"field": "login", "operator": "=", "value": "labeler_1"}]
    assert bodies["users.add"] == {
        "login": "labeler_1",
        "password": "11111abc",
        "isRestricted": True,
        "name": "",
        "email": "",
    }
    assert bodies["members.add"] == {"login": "labeler_1", "teamId": 8, "roleId": 3}
    assert bodies["members.editInfo"] == {"id": 1016, "teamId": 8, "roleId": 4}


async def test_get_user_by_login_ignores_other_logins_and_refuses_duplicates(make_client) -> None:
    other = {**payloads.USER, "id": 1, "login": "someone_else"}
    async with make_client(routes({"users.list": page_of(other)})) as ctx:
        assert await ctx.client.get_user_by_login("labeler_1") is None
    async with make_client(routes({"users.list": page_of(payloads.USER, {**payloads.USER, "id": 2})})) as ctx:
        with pytest.raises(ResponseFormatError, match="2 users have the login 'labeler_1'"):
            await ctx.client.get_user_by_login("labeler_1")


async def test_add_user_wants_a_secret_password(make_client) -> None:
    async with make_client(routes({})) as ctx:
        with pytest.raises(TypeError, match="SecretStr"):
            await ctx.client.add_user("labeler_1", "plain")  # type: ignore[arg-type]
    assert ctx.recorder.requests == []


async def test_organization_and_project_calls(make_client) -> None:
    table = {
        "instance.version": {"version": "6.18.3"},
        "teams.list": page_of(payloads.TEAM),
        "workspaces.list": page_of(payloads.WORKSPACE),
        "projects.list": page_of({"id": 13487, "name": "Lemons (Test)", "imagesCount": 6}),
        "projects.meta": payloads.PROJECT_META,
        "datasets.list": page_of(payloads.DATASET),
    }
    async with make_client(routes(table)) as ctx:
        api = ctx.client
        assert await api.instance_version() == "6.18.3"
        assert [team.id for team in await api.list_teams()] == [8]
        assert [workspace.id for workspace in await api.list_workspaces(8)] == [9]
        assert [project.items_count for project in await api.list_projects(9)] == [6]
        assert (await api.get_project_meta(13487)).get_tag("size") is not None
        assert [dataset.name for dataset in await api.list_datasets(13487)] == ["ds1"]
    bodies = dict(zip(ctx.recorder.methods, ctx.recorder.bodies, strict=True))
    assert bodies["workspaces.list"]["teamId"] == 8
    assert bodies["projects.list"]["workspaceId"] == 9
    assert bodies["projects.meta"] == {"id": 13487}
    assert bodies["datasets.list"]["projectId"] == 13487 and bodies["datasets.list"]["recursive"] is False


async def test_update_project_meta_sends_the_whole_meta(make_client) -> None:
    meta = ProjectMeta.model_validate(payloads.SDK_WRITTEN_META)
    stored = {
        **payloads.SDK_WRITTEN_META,
        "classes": [{**c, "id": i} for i, c in enumerate(payloads.SDK_WRITTEN_META["classes"])],
    }
    async with make_client(routes({"projects.meta.update": stored})) as ctx:
        updated = await ctx.client.update_project_meta(13487, meta)
    assert ctx.recorder.bodies == [{"id": 13487, "meta": payloads.SDK_WRITTEN_META}]
    assert [obj_class.id for obj_class in updated.classes] == [0, 1]


async def test_update_project_meta_rereads_when_the_reply_is_not_a_meta(make_client) -> None:
    meta = ProjectMeta.model_validate(payloads.PROJECT_META)
    async with make_client(
        routes({"projects.meta.update": {}, "projects.meta": payloads.PROJECT_META})
    ) as ctx:
        assert await ctx.client.update_project_meta(13487, meta) == meta
    assert ctx.recorder.methods == ["projects.meta.update", "projects.meta"]


async def test_job_action_calls(make_client) -> None:
    table = {
        "jobs.stop": {},
        "jobs.archive": {},
        "jobs.set-status": {},
        "jobs.reject": {},
        "jobs.entities.update-review-status": {},
        "jobs.restart": [{"id": 1020}],
        "jobs.editInfo": {},
        "jobs.stats": payloads.JOB_STATS,
        "jobs.info": payloads.JOB,
    }
    async with make_client(routes(table)) as ctx:
        api = ctx.client
        await api.stop_job(1018)
        await api.archive_job(1018)
        await api.set_job_status(1019, JobStatus.IN_PROGRESS)
        await api.reject_job(1019, RejectMode.UNMARKED)
        await api.set_entity_review_status(1019, 1002, ReviewStatus.ACCEPTED)
        assert await api.restart_job(1019, user_ids=[1017], reviewer_id=7) == [1020]
        await api.edit_job(1019, custom_data={"k": 1})
        await api.edit_job(1019, user_id=1016, reviewer_id=7)
        assert (await api.get_job_stats(1019)).images.total == 3
        job = await api.get_job(1019)
        assert job is not None and job.name == payloads.JOB["name"]
    assert list(zip(ctx.recorder.methods, ctx.recorder.bodies, strict=True)) == [
        ("jobs.stop", {"id": 1018}),
        ("jobs.archive", {"id": 1018}),
        ("jobs.set-status", {"id": 1019, "status": "in_progress"}),
        ("jobs.reject", {"id": 1019, "mode": "unmarked"}),
        ("jobs.entities.update-review-status", {"jobId": 1019, "entityId": 1002, "status": "accepted"}),
        ("jobs.restart", {"id": 1019, "completeExisting": True, "userIds": [1017], "reviewerId": 7}),
        ("jobs.editInfo", {"id": 1019, "customData": {"k": 1}}),
        ("jobs.editInfo", {"id": 1019, "userId": 1016, "reviewerId": 7}),
        ("jobs.stats", {"id": 1019}),
        ("jobs.info", {"id": 1019}),
    ]


async def test_bad_job_arguments_fail_before_sending(make_client) -> None:
    async with make_client(routes({})) as ctx:
        with pytest.raises(ValueError, match="not a valid JobStatus"):
            await ctx.client.set_job_status(1, "finished")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="at least one of"):
            await ctx.client.edit_job(1)
        with pytest.raises(ValueError, match="not a valid RejectMode"):
            await ctx.client.reject_job(1, "some")  # type: ignore[arg-type]
    assert ctx.recorder.requests == []


async def test_remove_jobs_in_batches_of_fifty(make_client) -> None:
    async with make_client(routes({"jobs.bulk.remove": {}})) as ctx:
        await ctx.client.remove_jobs(range(1, 121))
        await ctx.client.remove_jobs([])
    assert [len(body["ids"]) for body in ctx.recorder.bodies] == [50, 50, 20]
    assert ctx.recorder.bodies[2]["ids"] == list(range(101, 121))


async def test_stats_count_calls_and_requests_per_method(make_client) -> None:
    async with make_client(routes({"jobs.info": payloads.JOB, "jobs.stop": {}})) as ctx:
        await ctx.client.get_job(1)
        await ctx.client.get_job(2)
        await ctx.client.stop_job(1)
    stats = ctx.client.stats
    assert stats.calls == {"jobs.info": 2, "jobs.stop": 1}
    assert stats.total_requests == 3
    assert stats.as_dict()["requests"] == {"jobs.info": 2, "jobs.stop": 1}
    stats.reset()
    assert stats.total_requests == 0
