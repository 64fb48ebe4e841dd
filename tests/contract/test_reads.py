"""Client ⇄ sandbox: every read endpoint, 404 → None, pagination over several pages, filters."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from labelrounds.client import ConnectionSettings, Filter, NotFoundError, SuperviselyClient, UnauthorizedError
from labelrounds.client.models import Shape, TagValueType

from .conftest import ROLES, World

LEMON_IMAGES = [
    "IMG_8144.jpeg",
    "IMG_4451.jpeg",
    "IMG_3861.jpeg",
    "IMG_2084.jpeg",
    "IMG_1836.jpeg",
    "IMG_0748.jpeg",
]
UNKNOWN_ID = 987_654_321


async def test_instance_and_identity(world: World) -> None:
    async with world.client("admin") as api:
        version = await api.instance_version()
        me = await api.get_me()
    assert tuple(int(part) for part in version.split(".")[:3]) >= (6, 18, 3)
    assert (me.id, me.login) == (7, "cxnt")
    assert me.teams is not None and me.membership(world.team_id) is not None


@pytest.mark.parametrize("role", ROLES)
async def test_every_role_knows_itself(world: World, role: str) -> None:
    async with world.client(role) as api:
        me = await api.get_me()
    assert (me.id, me.login) == (world.user_ids[role], world.logins[role])


async def test_a_wrong_token_is_unauthorized(world: World) -> None:
    settings = ConnectionSettings(server_address=world.server.url, api_token=SecretStr("not-a-token"))
    async with SuperviselyClient(settings) as api:
        with pytest.raises(UnauthorizedError) as caught:
            await api.get_me()
    assert caught.value.status_code == 401 and caught.value.method == "users.me"
    assert "not-a-token" not in str(caught.value)


async def test_users_roles_and_members(world: World) -> None:
    async with world.client("admin") as api:
        users = await api.list_users()
        annotator = await api.get_user_by_login("contract_annotator")
        nobody = await api.get_user_by_login("no_such_login")
        detailed = await api.get_user(world.user_ids["annotator"])
        outsider = await api.get_user(world.user_ids["outsider"])
        roles = await api.list_roles()
        members = await api.list_members(world.team_id)
        reviewers = await api.list_members(world.team_id, [Filter.eq("login", "contract_reviewer")])
    assert {world.logins[role] for role in ROLES} <= {user.login for user in users}
    assert annotator is not None and annotator.id == world.user_ids["annotator"]
    assert nobody is None
    assert detailed is not None and detailed.membership(world.team_id) is not None
    assert detailed.membership(world.team_id).role == "annotator"
    assert outsider is not None and outsider.teams == []
    assert {(role.id, role.role) for role in roles} >= {
        (1, "admin"),
        (2, "developer"),
        (3, "annotator"),
        (4, "viewer"),
    }
    by_login = {member.login: member for member in members}
    assert "contract_outsider" not in by_login
    assert (by_login["contract_manager"].role, by_login["contract_manager"].role_id) == ("manager", 5)
    assert [member.login for member in reviewers] == ["contract_reviewer"]


async def test_team_workspace_project_dataset_and_meta(world: World) -> None:
    async with world.client("admin") as api:
        teams = await api.list_teams()
        team = await api.get_team(world.team_id)
        workspaces = await api.list_workspaces(world.team_id)
        workspace = await api.get_workspace(world.workspace_id)
        projects = await api.list_projects(world.workspace_id)
        project = await api.get_project(world.project_id)
        meta = await api.get_project_meta(world.project_id)
        datasets = await api.list_datasets(world.project_id)
        dataset = await api.get_dataset(world.dataset_id)
    assert [t.id for t in teams] == [world.team_id] and team is not None and team.name == "my team"
    assert [w.name for w in workspaces] == ["Testing Workspace"] and workspace is not None
    assert [p.name for p in projects] == ["Lemons (Test)"]
    assert project is not None and (project.id, project.images_count, project.workspace_id) == (13487, 6, 9)
    assert [(c.title, c.shape) for c in meta.classes] == [("kiwi", Shape.BITMAP), ("lemon", Shape.BITMAP)]
    assert all(c.id is not None for c in meta.classes)
    size = meta.get_tag("size")
    assert (
        size is not None
        and size.value_type is TagValueType.ONEOF_STRING
        and size.values == ["small", "medium", "large"]
    )
    assert [d.name for d in datasets] == ["ds1"]
    assert dataset is not None and (dataset.images_count, dataset.project_id) == (6, world.project_id)


async def test_images_over_several_pages(world: World) -> None:
    async with world.client("admin") as api:
        images = await api.list_images(world.dataset_id, per_page=4)
        streamed = [image.id async for image in api.iter_images(world.dataset_id, per_page=1)]
        image = await api.get_image(images[0].id)
        requests = dict(api.stats.requests)
    assert sorted(image.name for image in images) == sorted(LEMON_IMAGES)
    assert [i.id for i in images] == sorted(i.id for i in images) == streamed
    assert all(
        i.mime == "image/jpeg" and i.ext == "jpeg" and i.dataset_id == world.dataset_id for i in images
    )
    assert image is not None and image.name == images[0].name and image.width == 1067
    assert requests["images.list"] == 2 + 6


async def test_image_filters(world: World) -> None:
    async with world.client("admin") as api:
        ids = [image.id for image in await api.list_images(world.dataset_id)]
        picked = await api.list_images(world.dataset_id, [Filter.in_("id", ids[1:4])], per_page=2)
        others = await api.list_images(world.dataset_id, [Filter.not_in("id", ids[1:4])])
        by_name = await api.list_images(world.dataset_id, [Filter.eq("name", "IMG_2084.jpeg")])
    assert [image.id for image in picked] == ids[1:4]
    assert [image.id for image in others] == [ids[0], *ids[4:]]
    assert [image.name for image in by_name] == ["IMG_2084.jpeg"]


async def test_generic_collect_walks_pages(world: World) -> None:
    async with world.client("admin") as api:
        users = await api.collect(
            "users.list", {"filter": [Filter.in_("login", world.logins.values()).to_wire()]}, per_page=2
        )
        requests = api.stats.requests["users.list"]
    assert sorted(user["login"] for user in users) == sorted(world.logins.values())
    assert requests == 4  # 7 users, 2 per page


async def test_unknown_ids_read_as_none_or_not_found(world: World) -> None:
    async with world.client("admin") as api:
        found = [
            await api.get_user(UNKNOWN_ID),
            await api.get_team(UNKNOWN_ID),
            await api.get_workspace(UNKNOWN_ID),
            await api.get_project(UNKNOWN_ID),
            await api.get_dataset(UNKNOWN_ID),
            await api.get_image(UNKNOWN_ID),
            await api.get_job(UNKNOWN_ID),
        ]
        with pytest.raises(NotFoundError) as meta_error:
            await api.get_project_meta(UNKNOWN_ID)
        with pytest.raises(NotFoundError):
            await api.get_job_stats(UNKNOWN_ID)
        with pytest.raises(NotFoundError):
            await api.list_images(UNKNOWN_ID)
        with pytest.raises(NotFoundError) as unknown_method:
            await api.call("jobs.doesNotExist", {}, idempotent=True)
    assert found == [None] * 7
    assert meta_error.value.method == "projects.meta" and meta_error.value.message
    assert unknown_method.value.status_code == 404
