"""Client ⇄ sandbox: what each role may see and do, and how a refusal reaches the caller (None, 403, 404).

Every case runs the same call with each role's own token and compares the whole row of outcomes at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr

from labelrounds.client import SuperviselyClient, SuperviselyError
from labelrounds.client.models import JobStatus

from .conftest import ROLES, World

Action = Callable[[SuperviselyClient, World, "Fixtures"], Awaitable[Any]]


@dataclass(frozen=True)
class Fixtures:
    """Objects the cases act on: a job labeled by the annotator and reviewed by the reviewer."""

    job_id: int
    image_id: int


@pytest.fixture(scope="module")
async def fixtures(world: World) -> Fixtures:
    async with world.client("admin") as api:
        [image, *_] = await api.list_images(world.dataset_id)
        job_id = await _annotator_job(api, world, "contract permissions")
    return Fixtures(job_id=job_id, image_id=image.id)


async def _annotator_job(api: SuperviselyClient, world: World, name: str) -> int:
    [job_id] = await api.add_jobs(
        name,
        world.dataset_id,
        [world.user_ids["annotator"]],
        classes=["kiwi"],
        tags=[],
        entity_ids=[],
        reviewer_id=world.user_ids["reviewer"],
    )
    return job_id


def outcome(result: Any) -> str:
    """A short label of what a call gave: a label the action chose, "none" for None, else "ok"."""
    if isinstance(result, str):
        return result
    return "none" if result is None else "ok"


async def succeeds(call: Awaitable[None]) -> bool:
    """Await a call that returns nothing; True once it did not raise."""
    await call
    return True


async def observe(world: World, role: str, action: Action, fixtures: Fixtures) -> str:
    async with world.client(role) as api:
        try:
            return outcome(await action(api, world, fixtures))
        except SuperviselyError as error:
            return str(error.status_code)


def row(default: str, **overrides: str) -> dict[str, str]:
    """Expected outcomes per role: `default` unless overridden."""
    return {role: overrides.get(role, default) for role in ROLES}


MEMBERS_ONLY_LIST = row("ok", outsider="403")
MEMBERS_ONLY_OBJECT = row("ok", outsider="none")
JOB_MANAGERS_ONLY = row("403", admin="ok", manager="ok", developer="ok", outsider="404")
# Job administration on a job labeled by the annotator and reviewed by the reviewer: they see it but may not.
JOB_ADMIN_ON_A_JOB = row("403", admin="ok", manager="ok", developer="ok", viewer="404", outsider="404")


def on_fresh_job(call: Callable[[SuperviselyClient, int], Awaitable[Any]]) -> Action:
    """An action on a job the admin creates just for this call, so state changes do not leak between roles."""

    async def action(api: SuperviselyClient, world: World, fixtures: Fixtures) -> Any:
        async with world.client("admin") as admin:
            job_id = await _annotator_job(admin, world, "contract fresh job")
        return await call(api, job_id)

    return action


async def _sees_the_job(api: SuperviselyClient, world: World, fixtures: Fixtures) -> str:
    ids = [job.id for job in await api.list_jobs(world.team_id)]
    return "listed" if fixtures.job_id in ids else "not listed"


async def _same_meta_back(api: SuperviselyClient, world: World, fixtures: Fixtures) -> Any:
    async with world.client("admin") as admin:
        meta = await admin.get_project_meta(world.project_id)
    return await api.update_project_meta(world.project_id, meta)


async def _add_user(api: SuperviselyClient, world: World, fixtures: Fixtures) -> Any:
    me = await api.get_me()
    return await api.add_user(f"contract_made_by_{me.login}", SecretStr("made-pw-1"))


async def _add_member(api: SuperviselyClient, world: World, fixtures: Fixtures) -> Any:
    me = await api.get_me()
    login = f"contract_joiner_for_{me.login}"
    async with world.client("admin") as admin:
        await admin.add_user(login, SecretStr("joiner-pw-1"))
    return await succeeds(api.add_member(world.team_id, login, 3))


async def _remove_fresh_job(api: SuperviselyClient, world: World, fixtures: Fixtures) -> Any:
    async with world.client("admin") as admin:
        job_id = await _annotator_job(admin, world, "contract removable job")
        await api.remove_jobs([job_id])
        return "kept" if await admin.get_job(job_id) else "removed"


CASES: dict[str, tuple[Action, dict[str, str]]] = {
    "get_team": (lambda api, w, f: api.get_team(w.team_id), MEMBERS_ONLY_OBJECT),
    "get_workspace": (lambda api, w, f: api.get_workspace(w.workspace_id), MEMBERS_ONLY_OBJECT),
    "list_workspaces": (lambda api, w, f: api.list_workspaces(w.team_id), MEMBERS_ONLY_LIST),
    "list_members": (lambda api, w, f: api.list_members(w.team_id), MEMBERS_ONLY_LIST),
    "get_project": (lambda api, w, f: api.get_project(w.project_id), MEMBERS_ONLY_OBJECT),
    "get_project_meta": (lambda api, w, f: api.get_project_meta(w.project_id), row("ok", outsider="404")),
    "list_datasets": (lambda api, w, f: api.list_datasets(w.project_id), MEMBERS_ONLY_LIST),
    "get_dataset": (lambda api, w, f: api.get_dataset(w.dataset_id), MEMBERS_ONLY_OBJECT),
    "list_images": (lambda api, w, f: api.list_images(w.dataset_id), MEMBERS_ONLY_LIST),
    "get_image": (lambda api, w, f: api.get_image(f.image_id), MEMBERS_ONLY_OBJECT),
    "list_roles": (lambda api, w, f: api.list_roles(), row("ok")),
    "get_user(admin)": (lambda api, w, f: api.get_user(w.user_ids["admin"]), MEMBERS_ONLY_OBJECT),
    "list_jobs": (_sees_the_job, row("listed", viewer="not listed", outsider="403")),
    "get_job": (lambda api, w, f: api.get_job(f.job_id), row("ok", viewer="none", outsider="none")),
    "get_job_stats": (lambda api, w, f: api.get_job_stats(f.job_id), row("ok", viewer="404", outsider="404")),
    "add_user": (_add_user, row("403", admin="ok", manager="ok")),
    "add_member": (_add_member, row("403", admin="ok", manager="ok")),
    "update_project_meta": (_same_meta_back, JOB_MANAGERS_ONLY),
    "add_jobs": (lambda api, w, f: _annotator_job(api, w, "contract job by role"), JOB_MANAGERS_ONLY),
    "stop_job": (on_fresh_job(lambda api, job_id: succeeds(api.stop_job(job_id))), JOB_ADMIN_ON_A_JOB),
    "archive_job": (on_fresh_job(lambda api, job_id: succeeds(api.archive_job(job_id))), JOB_ADMIN_ON_A_JOB),
    "edit_job": (
        on_fresh_job(lambda api, job_id: succeeds(api.edit_job(job_id, custom_data={"k": 1}))),
        JOB_ADMIN_ON_A_JOB,
    ),
    # The labeler starts its own job; a reviewer may set in_progress only to send a job back from review (400
    # from pending); others cannot see the job.
    "set_job_status(in_progress)": (
        on_fresh_job(lambda api, job_id: succeeds(api.set_job_status(job_id, JobStatus.IN_PROGRESS))),
        row("ok", reviewer="400", viewer="404", outsider="404"),
    ),
    # Only job managers may remove (a retry of a removal still succeeds); everyone else is refused, even for
    # a job it cannot see, so a refusal never looks like a success.
    "remove_jobs": (
        _remove_fresh_job,
        row("403", admin="removed", manager="removed", developer="removed"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_each_role_gets_the_documented_outcome(world: World, fixtures: Fixtures, case: str) -> None:
    action, expected = CASES[case]
    observed = {role: await observe(world, role, action, fixtures) for role in ROLES}
    assert observed == expected


async def test_an_annotator_sees_only_its_own_jobs(world: World, fixtures: Fixtures) -> None:
    async with world.client("admin") as admin:
        [other_job] = await admin.add_jobs(
            "contract someone else's job",
            world.dataset_id,
            [world.user_ids["developer"]],
            classes=["kiwi"],
            tags=[],
            entity_ids=[fixtures.image_id],
        )
        everything = {job.id for job in await admin.list_jobs(world.team_id)}
    async with world.client("annotator") as annotator:
        visible = await annotator.list_jobs(world.team_id)
        hidden = await annotator.get_job(other_job)
    assert {fixtures.job_id, other_job} <= everything
    assert visible and all(job.user_id == world.user_ids["annotator"] for job in visible)
    assert other_job not in {job.id for job in visible}
    assert hidden is None
