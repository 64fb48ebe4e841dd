"""steps.users against the sandbox: accounts created restricted, team roles, idempotency, no password leaks."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from labelrounds.client import Filter, SuperviselyClient
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.targets import resolve_team
from labelrounds.steps.users import (
    TeamRole,
    UsersError,
    ensure_round_users,
    ensure_users,
    participants,
)

from .support import PASSWORD, LoseReplies, SpecFactory, Workers, admin_client


async def test_creates_missing_people_and_adds_them_with_their_role(
    api: SuperviselyClient, make_spec: SpecFactory
) -> None:
    result = await ensure_round_users(api, make_spec(), PASSWORD)

    assert result.created == ["labeler_1", "labeler_2", "reviewer_1"]
    assert result.added_to_team == {
        "labeler_1": TeamRole.ANNOTATOR,
        "labeler_2": TeamRole.ANNOTATOR,
        "reviewer_1": TeamRole.REVIEWER,
    }
    members = await api.list_members(result.team_id, [Filter.in_("login", list(result.user_ids))])
    assert {member.login: member.role for member in members} == {
        "labeler_1": "annotator",
        "labeler_2": "annotator",
        "reviewer_1": "reviewer",
    }
    for login, user_id in result.user_ids.items():
        user = await api.get_user(user_id)
        assert user is not None and user.login == login


async def test_a_second_run_changes_nothing_and_says_so(
    api: SuperviselyClient, make_spec: SpecFactory
) -> None:
    first = await ensure_round_users(api, make_spec(), PASSWORD)
    writes_before = api.stats.calls["users.add"] + api.stats.calls["members.add"]

    second = await ensure_round_users(api, make_spec(), PASSWORD)

    assert second.user_ids == first.user_ids
    assert not second.changed and second.created == [] and second.added_to_team == {}
    assert second.summary() == "nothing to do: all 3 users exist and are members of team 8"
    assert api.stats.calls["users.add"] + api.stats.calls["members.add"] == writes_before


async def test_created_accounts_log_in_with_the_supplied_password(
    api: SuperviselyClient, make_spec: SpecFactory, workers: Workers
) -> None:
    await ensure_round_users(api, make_spec(), PASSWORD)
    labeler = await workers.client("labeler_1")
    assert (await labeler.get_me()).login == "labeler_1"


async def test_per_login_passwords_and_existing_members_keep_their_role(
    api: SuperviselyClient, make_spec: SpecFactory
) -> None:
    team = await resolve_team(api, "my team")
    # reviewer_1 already exists and is a manager of the team: a role good enough to review, left as it is
    reviewer_id = await api.add_user("reviewer_1", SecretStr("Other-pass-1"))
    await api.add_member(team.id, "reviewer_1", 5)
    passwords = {"labeler_1": SecretStr("First-pass-1"), "labeler_2": SecretStr("Second-pass-2")}

    result = await ensure_users(api, team, participants(make_spec()), passwords)

    assert result.created == ["labeler_1", "labeler_2"]
    assert result.user_ids["reviewer_1"] == reviewer_id
    assert "reviewer_1" not in result.added_to_team
    manager = await api.list_members(team.id, [Filter.eq("login", "reviewer_1")])
    assert manager[0].role == "manager"


async def test_refuses_before_writing_when_a_person_cannot_take_part(
    api: SuperviselyClient, make_spec: SpecFactory
) -> None:
    team = await resolve_team(api, "my team")
    await api.add_user("labeler_2", SecretStr("Other-pass-1"))
    await api.add_member(team.id, "labeler_2", 4)  # viewer: cannot label
    spec = make_spec(labelers=[{"login": "labeler_1", "create_if_missing": False}, "labeler_2"])

    with pytest.raises(UsersError) as raised:
        await ensure_round_users(api, spec, None)

    message = str(raised.value)
    assert "user 'labeler_1' does not exist and create_if_missing is off" in message
    assert "user 'reviewer_1' must be created but no password for new accounts was supplied" in message
    assert "'labeler_2' is viewer in team 'my team' and cannot label" in message
    assert await api.get_user_by_login("reviewer_1") is None
    assert (
        api.stats.calls["users.add"] == 1 and api.stats.calls["members.add"] == 1
    )  # the test's own two writes


async def test_a_lost_users_add_reply_is_adopted(sandbox: SandboxServer, make_spec: SpecFactory) -> None:
    losing = LoseReplies("users.add")
    async with admin_client(sandbox, transport=losing) as api:
        result = await ensure_round_users(api, make_spec(), PASSWORD)
        assert losing.lost == 1
        users = await api.list_users([Filter.in_("login", ["labeler_1", "labeler_2", "reviewer_1"])])
    assert sorted(user.login for user in users) == ["labeler_1", "labeler_2", "reviewer_1"]
    assert result.user_ids == {user.login: user.id for user in users}


async def test_the_password_never_shows(
    api: SuperviselyClient, make_spec: SpecFactory, caplog: pytest.LogCaptureFixture
) -> None:
    secret = PASSWORD.get_secret_value()
    caplog.set_level(logging.DEBUG)
    result = await ensure_round_users(api, make_spec(), PASSWORD)
    again = await ensure_round_users(api, make_spec(), PASSWORD)
    with pytest.raises(UsersError) as raised:
        await ensure_round_users(
            api, make_spec(reviewer={"login": "reviewer_2", "create_if_missing": False}), PASSWORD
        )

    shown = [
        caplog.text,
        repr(result),
        result.summary(),
        result.model_dump_json(),
        again.summary(),
        str(raised.value),
    ]
    assert all(secret not in text for text in shown)
