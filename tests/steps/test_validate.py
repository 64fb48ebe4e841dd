"""steps.validate against the sandbox: every problem found before any write, all reported at once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.steps.errors import RoundValidationError
from labelrounds.steps.jobs import create_jobs
from labelrounds.steps.split import split_images
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.users import UsersResult
from labelrounds.steps.validate import validate_round

from .support import PASSWORD, Workers, lemons_spec

WRITE_METHODS = {
    "users.add",
    "members.add",
    "members.editInfo",
    "projects.meta.update",
    "projects.settings.update",
    "jobs.add",
    "jobs.restart",
    "jobs.editInfo",
    "jobs.archive",
    "jobs.stop",
}


def _writes(api: SuperviselyClient) -> dict[str, int]:
    return {method: api.stats.calls[method] for method in WRITE_METHODS}


async def _problems(
    api: SuperviselyClient, passwords: SecretStr | None = PASSWORD, **overrides: Any
) -> list[str]:
    """The problems validation reports for the lemons round with `overrides`; asserts it wrote nothing."""
    writes_before = _writes(api)
    with pytest.raises(RoundValidationError) as raised:
        await validate_round(api, lemons_spec(**overrides), passwords)
    assert _writes(api) == writes_before, "validation must not write"
    return raised.value.problems


async def test_a_valid_round_is_resolved_and_planned_without_writing(api: SuperviselyClient) -> None:
    validated = await validate_round(api, lemons_spec(), PASSWORD)

    assert sum(_writes(api).values()) == 0
    assert validated.target.round_key == "round-1@13487" and validated.target.team.name == "my team"
    assert [dataset.name for dataset in validated.target.datasets] == ["ds1"]
    assert (
        validated.users_to_create == ["labeler_1", "labeler_2", "reviewer_1"]
        and validated.existing_users == {}
    )
    assert len(validated.selected) == 6 and len(validated.plan) == 6


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"team": "no such team"}, "team 'no such team' does not exist visible to this API token"),
        ({"team": 999}, "team 999 does not exist or is not visible to this API token"),
        ({"project": "Oranges"}, "project 'Oranges' does not exist in team 'my team'"),
        ({"project": 424242}, "project 424242 does not exist in team 'my team'"),
        (
            {"datasets": ["ds1", "ds9", 77]},
            "dataset 'ds9' is not in project 'Lemons (Test)'; dataset 77 is not in",
        ),
        (
            {"labelers": [{"login": "ghost", "create_if_missing": False}, "labeler_2"]},
            "user 'ghost' does not exist and create_if_missing is off",
        ),
        (
            {"reviewer": {"login": "ghost_reviewer", "create_if_missing": False}},
            "user 'ghost_reviewer' does not exist and create_if_missing is off",
        ),
        ({"classes": [{"name": "kiwi", "shape": "polygon"}]}, "class 'kiwi' is a bitmap in the project"),
        (
            {"tags": [{"name": "size", "value_type": "any_string", "applicable_type": "objectsOnly"}]},
            "tag 'size' differs from the project's (project vs round): value type oneof_string vs any_string",
        ),
        (
            {"include_images_with_tags": ["night"]},
            "filter tags are neither in the project meta nor in the round: night",
        ),
        (
            {"image_selection": "explicit", "image_ids": [1, 2]},
            "2 image ids are not in the round's datasets: 1, 2",
        ),
        (
            {"include_images_with_tags": ["size"]},
            "nothing to label: none of 6 images passes the include/exclude",
        ),
    ],
)
async def test_each_problem_is_named(api: SuperviselyClient, overrides: dict[str, Any], problem: str) -> None:
    problems = await _problems(api, **overrides)
    assert any(problem in line for line in problems), problems


async def test_missing_password_for_new_accounts(api: SuperviselyClient) -> None:
    problems = await _problems(api, passwords=None)
    assert problems == [
        f"user {login!r} must be created but no password for new accounts was supplied"
        for login in ("labeler_1", "labeler_2", "reviewer_1")
    ]


async def test_members_whose_role_does_not_fit_their_part(
    api: SuperviselyClient, people: UsersResult
) -> None:
    problems = await _problems(api, labelers=["labeler_1", "reviewer_1"], reviewer="labeler_2")
    assert problems == ["'labeler_2' is annotator in team 'my team' and cannot review"]


async def test_a_token_without_management_rights_is_refused(
    api: SuperviselyClient, people: UsersResult, workers: Workers
) -> None:
    labeler = await workers.client("labeler_1")
    problems = await _problems(labeler)
    assert (
        "the API token's user 'labeler_1' is annotator in team 'my team'; running a round needs admin, manager or "
        "developer" in problems
    )


async def test_an_earlier_run_with_other_inputs_is_reported(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult
) -> None:
    plan = await split_images(api, target, lemons_spec())
    await create_jobs(api, target, lemons_spec(), plan, people.user_ids)
    assert (await validate_round(api, lemons_spec(), PASSWORD)).target.round_key == "round-1@13487"

    problems = await _problems(api, labelers=["labeler_2", "labeler_1"])

    assert (
        len(problems) == 1
        and "round 'round-1@13487' already has jobs that do not match this plan" in problems[0]
    )


async def test_every_problem_is_reported_together(api: SuperviselyClient) -> None:
    problems = await _problems(
        api,
        passwords=None,
        labelers=[{"login": "ghost", "create_if_missing": False}],
        classes=[{"name": "lemon", "shape": "point"}],
        image_selection="explicit",
        image_ids=[5],
    )
    assert problems == [
        "user 'ghost' does not exist and create_if_missing is off",
        "user 'reviewer_1' must be created but no password for new accounts was supplied",
        "class 'lemon' is a bitmap in the project, the round wants point",
        "1 image ids are not in the round's datasets: 5",
    ]
    assert str(RoundValidationError(problems)).startswith(
        "the round cannot start (4 problems):\n- user 'ghost' does not exist"
    )


async def test_a_token_that_may_not_list_users_is_refused_clearly() -> None:
    """A real instance answers users.list with 403 for non-admins; the sandbox shows teammates instead (mocked)."""

    def forbid(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/users.list")
        return httpx.Response(403, json={"error": "forbidden", "details": {"message": "admins only"}})

    settings = ConnectionSettings(server_address="http://supervisely.invalid", api_token=SecretStr("t0ken"))
    async with SuperviselyClient(settings, transport=httpx.MockTransport(forbid)) as api:
        with pytest.raises(RoundValidationError) as raised:
            await validate_round(api, lemons_spec(), PASSWORD)
    assert raised.value.problems == [
        "the API token's user may not look accounts up (users.list is forbidden); use an admin's or manager's token"
    ]
